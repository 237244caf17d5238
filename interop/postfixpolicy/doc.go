// Package postfixpolicy is the differential test of the policy package
// against Postfix's own REQUIRETLS policy parser and evaluator,
// smtp_reqtls_policy_parse() and smtp_reqtls_policy_eval() of Postfix 3.11.6
// (src/smtp/smtp_reqtls_policy.c), linked with a small harness
// (testdata/harness.c) against the Postfix tree that interop/run builds.
// The harness first applies what main.cf does to a parameter value
// (continuation lines, comments, $name expansion), so a policy string goes
// through both sides exactly as an operator writes it.
//
// Hand-written cases and a generated corpus of policy strings, each with
// its next-hop queries, go through Postfix and through policy.Parse and
// Policy.Lookup. Every disagreement must fall in a class that the policy
// package documents as a deliberate divergence; the test prints the corpus
// size and the number of divergences in each class, and fails on any other.
//
// The test carries the build tag "interop" and runs in interop/run. It
// needs gcc, the PCRE2 headers (libpcre2-dev), the tarball (found at
// $REQUIRETLS_POSTFIX_SRC or else at
// ../shared/peers/postfix-3.11.6/postfix-3.11.6-src.tar.gz relative to the
// repository root) and the tree built from it (found from
// $INTEROP_POSTFIX_SBIN, which interop/run exports, or else at interop/run's
// build root); without the tarball it says so in one line and skips.
//
// This package has no API; it holds only a test.
package postfixpolicy
