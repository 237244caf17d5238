// Package interop tests go-requiretls against SMTP implementations that nobody
// here wrote: nodemailer and Python smtplib as clients of our receiving side
// (RFC 8689 Section 4.1), and smtp-server, aiosmtpd, Haraka and Exim as next
// hops of our sending side (RFC 8689 Section 4.2.1). Postfix 3.11.6, the
// reference implementation, is built from its source (beside the repository,
// in ../shared/peers/postfix-3.11.6) and runs both as a receiver of our Dialer
// and as a sender whose outcomes and tls= log fields are compared with ours.
//
// The tests carry the build tag "interop" and need the peers that the script
// interop/run installs and starts on loopback; run the suite with
//
//	interop/run
//
// Every expectation is checked on what the peer itself did or replied (its
// own log, or the reply it gave), not only on what our side reports. The
// suite writes the results matrix MATRIX.md from its own outcomes.
//
// This package has no API; it holds only tests.
package interop
