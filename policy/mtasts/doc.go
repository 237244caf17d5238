// Package mtasts parses MTA-STS records and policies ([RFC 8461] Section 3)
// that the caller fetched, matches MX host names against a policy's mx
// patterns (Section 4.1), and turns the result into the facts
// [policy.Evaluate] takes: [policy.Auth] before connecting and
// [policy.Cert] after STARTTLS.
//
// A sender that delivers to example.com with MTA-STS:
//
//  1. looks up the TXT records of _mta-sts.example.com and picks the
//     MTA-STS record with [FindRecord] (Section 3.1);
//  2. fetches https://mta-sts.example.com/.well-known/mta-sts.txt and parses
//     it with [ReadPolicy] or [ParsePolicy] (Section 3.2, Section 3.3);
//  3. for each MX host, asks [Policy.Auth] (Section 4.1, Section 5): an MX
//     that an enforce policy does not list is not used at all;
//  4. after STARTTLS, turns the PKIX verification of the certificate for
//     the MX name into [policy.Cert] with [Cert] (Section 4.2).
//
// Out of scope: DNS lookups, the HTTPS fetch (its certificate check for
// mta-sts.<domain>, the refusal of redirects, timeouts, the media type:
// Section 3.3), policy caching and refresh (Section 5.1), and TLSRPT
// reporting. They need a resolver, an HTTP client and storage, which the
// caller has. The package does no I/O.
//
// The package fails closed. Input that RFC 8461 leaves ambiguous, or that
// two parsers could read differently (a duplicated mode, a field named
// "Mode", a malformed mx pattern), is refused with a *[ParseError], never
// half-read; malformed MX names and patterns never match; an unknown mode
// never authenticates. A refused policy is, to the caller, a failed fetch:
// keep a cached policy if there is one (Section 5.1).
//
// Choices RFC 8461 leaves to the implementation:
//   - Only mode enforce authenticates by default; mode testing does only
//     with [Options.Testing]; mode none never (RFC 8689 Section 2 does not
//     say which modes validate an MX name).
//   - mx may be absent from a policy in mode none, which validates nothing
//     (Section 5); policies that withdraw MTA-STS (Section 8.3) often omit it.
//   - A policy file may be at most [MaxPolicySize] bytes; a max_age above
//     [MaxMaxAge] is read as MaxMaxAge.
//
// Notable divergences from RFC 8461:
//   - A duplicated version, mode or max_age refuses the policy; Section 3.2
//     keeps the first, but implementations differ on first or last.
//   - A TXT record with spaces before its first ";" counts as an MTA-STS
//     record in [FindRecord], as its grammar allows (erratum 6285), though
//     the text of Section 3.1 would discard it.
//
// The RFC 8689 statements this package serves (Section 2 and Section 4.2.1
// step 2: a server name found through an MX lookup without DNSSEC MUST be
// validated by MTA-STS; a policy in mode none validates nothing), and the
// tests for them, are listed in CHECKLIST.md at the repository root.
//
// [RFC 8461]: https://www.rfc-editor.org/rfc/rfc8461.html
package mtasts
