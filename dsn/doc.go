// Package dsn redacts bounces and composes delivery status notifications
// for REQUIRETLS messages, as RFC 8689 Section 5 requires: the returned
// content is the header section only ("as if RET=HDRS was present"), and
// RET=FULL is disregarded.
//
// The rule every package of this module follows: unknown, ambiguous,
// oversized or unparseable input never lowers a requirement; it is refused
// with a typed error or treated as the strictest value, and where two
// parsers could read the same bytes differently, this package refuses. For
// a bounce that means: no byte of the returned body ever reaches the
// output, and an error is never a reason to pass the input on.
//
// Three entry points:
//
//   - [RedactMessage] turns a message into a text/rfc822-headers part
//     (RFC 6522 Section 4), or message/global-headers (RFC 6533 Section 4.3)
//     when its header section is UTF-8. The body is never read.
//   - [RedactDSN] rewrites an RFC 3464 DSN made by another bounce
//     generator: each returned-message part becomes headers only, the
//     preambles and epilogues (where some bounces put the original) are
//     dropped, the human-readable part is written anew from the
//     delivery-status fields when the bounce returned body bytes (it may
//     quote them), every other byte is copied. Structures it cannot follow
//     with certainty, or that other readers would follow differently, are
//     refused with an error rather than guessed at, so that no body byte
//     leaks. After an error, compose a fresh DSN with [Compose]; never send
//     the input as it is.
//   - [Compose] writes a new RFC 3464 DSN (failed, delayed, delivered,
//     relayed or expanded recipients) and returns the [Envelope] advice for
//     sending it: "MAIL FROM:<>", no RET, and REQUIRETLS only when
//     [Report].KeepRequireTLS asks for mox's behaviour instead of Postfix's
//     default (requiretls_redact_dsn=yes: redacted, sent without REQUIRETLS).
//
// All three stream their input: memory is bounded by [Options].MaxHeaderBytes
// plus a fixed buffer (RedactDSN also holds its output, which has no
// returned body), never by the size of the message. Redaction levels beyond
// the RFC: [Options].Fields restricts the returned header fields to an
// allow-list.
//
// Not done here: sending the DSN (see package requiretls), decoding a
// base64 or quoted-printable returned part (refused with [ErrEncoded]),
// comments in Content-Type (refused with [ErrMalformed]: go-message does not
// strip them and Postfix does, so the two read different types), and
// bounces that are not RFC 3464 DSNs (multipart/mixed or plain-text
// bounces, refused with [ErrNotDSN]: in those the original cannot be told
// apart from the explanation).
//
// Every RFC 8689 statement this package covers, and the tests for it, are
// listed in CHECKLIST.md at the repository root.
//
// [RFC 8689]: https://www.rfc-editor.org/rfc/rfc8689.html
package dsn
