// Package dane verifies an SMTP server's TLS certificates against the
// server's TLSA records, as DANE for SMTP requires ([RFC 7672] Section 3,
// with the updates of [RFC 7671]), and parses TLSA records in their
// presentation and wire forms ([RFC 6698] Section 2).
//
// [Verify] takes a tls.ConnectionState and the records and returns a
// [Result]: the [policy.Cert] fact for [policy.Attempt.Cert] (with
// [policy.AuthDANE]), a reason fit for SMTP TLS Reporting and the tlsstatus
// package, and a one-line detail for a log. [VerifyConnection] wraps the
// same check as a tls.Config.VerifyConnection callback for a dialer.
//
// What counts, in short ([RFC 7672] Section 3.1): a DANE-EE(3) record that
// matches the end-entity certificate or its public key authenticates the
// server with no name or expiry check; a DANE-TA(2) record that matches a
// certificate of the chain (or, as "2 1 0", gives the trust anchor's public
// key) authenticates it only if the end-entity certificate chains to that
// trust anchor, is valid, and carries the TLSA base domain or another name
// the caller accepts ([RFC 7672] Section 3.2.2). PKIX-TA(0) and PKIX-EE(1)
// records, unknown parameters and digests of the wrong length are unusable
// for SMTP and ignored ([RFC 7672] Section 3.1.3); when no record is usable
// the server is not authenticated, which [Result] tells apart from usable
// records that did not match ([RFC 7672] Section 2.2).
//
// Fail closed: whatever goes wrong (no certificate, a record that does not
// parse, an invalid chain, a key crypto/x509 cannot use) leaves the server
// unauthenticated. Nothing here ever reports a server authenticated that
// the rules above do not authenticate.
//
// Out of scope: DNS lookups and DNSSEC validation. The caller's validating
// resolver looks up the TLSA RRset of _25._tcp.<TLSA base domain> and must
// pass only records from a "secure" answer ([RFC 7672] Section 2.1, 2.2);
// "insecure" or "bogus" answers are not DANE. Also out of scope: digest
// algorithm agility ([RFC 7671] Section 9, a SHOULD; every usable digest
// record counts), a trust anchor certificate that the server does not send
// (only a "2 1 0" record, which holds the whole public key, can stand for
// one), and the subject common name as a reference identifier (only
// subjectAltName DNS names count, as in crypto/x509).
//
// The package is pure: no I/O, no goroutines, standard library and package
// policy only.
//
// The RFC 8689 statements this package serves (Section 2 and Section 4.2.1
// step 4: the certificate MUST verify by a trusted chain or by DANE; a
// DANE-EE(3) match counts as authentication and name match), and the tests
// for them, are listed in CHECKLIST.md at the repository root.
//
// [RFC 6698]: https://www.rfc-editor.org/rfc/rfc6698.html
// [RFC 7671]: https://www.rfc-editor.org/rfc/rfc7671.html
// [RFC 7672]: https://www.rfc-editor.org/rfc/rfc7672.html
package dane
