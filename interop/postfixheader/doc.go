// Package postfixheader is the differential test of the header package
// against Postfix's own header parser: is_header_buf() of Postfix 3.11.6
// (src/global/is_header.c), compiled at test time from the release tarball
// next to a small harness (testdata/harness.c) that walks a message the way
// smtpd and cleanup do. Over a generated corpus of at least 100 000 hostile
// header sections, every one that header.Scan accepts must have the same
// end and the same field names for Postfix as for this module, and every
// "Require-TLS-ESMTP: yes" that header.SetRaw inserts must land in
// Postfix's header section (issue 12).
//
// The test carries the build tag "interop" and runs in interop/run. It
// needs gcc and the tarball, found at $REQUIRETLS_POSTFIX_SRC or else at
// ../shared/peers/postfix-3.11.6/postfix-3.11.6-src.tar.gz relative to the
// repository root; without the tarball it says so in one line and skips.
//
// This package has no API; it holds only a test.
package postfixheader
