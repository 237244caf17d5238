// Package tlsstatus formats, parses and tallies the TLS feature status field
// that Postfix 3.11 writes into delivery log lines, for example
// "tls=dane/requiretls" or "tls=may?/!requiretls:nocertmatch".
//
// The field records the outcome of the TLS security level (slot 0) and of
// REQUIRETLS ([RFC 8689] Section 4.2.1) (slot 1) for one delivery attempt.
// Its grammar, from Postfix's pol_stats_format, is
//
//	field   = feature *("/" feature)
//	feature = ["!"] name [":" final] ["?"]
//
// where "!" marks a policy violation (the connection was not used), ":final"
// the outcome when it differs from the initial name, and "?" an undecided
// outcome (lost connection, failed handshake, configuration error).
//
// The package uses only the standard library and does no I/O of its own.
//
// [RFC 8689]: https://www.rfc-editor.org/rfc/rfc8689.html
package tlsstatus
