// Package tlsstatus formats, parses and tallies the TLS feature status field
// that Postfix 3.11 writes into delivery log lines, for example
// "tls=dane/requiretls" or "tls=may?/!requiretls:nocertmatch".
//
// The rule every package of this module follows: unknown, ambiguous,
// oversized or unparseable input never lowers a requirement; it is refused
// with a typed error or treated as the strictest value. Here a line or
// field that does not parse is counted as malformed, never as a success,
// and a value that would not read back the same is not written.
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
// Beyond the field itself ([ParseFeature], [ParseField], [Feature.String],
// [Field.String]) the package
//
//   - parses and writes the Postfix delivery status lines that carry the
//     field ([ParseLine], [Delivery.String]), with the syslog and
//     maillog_file prefixes;
//   - counts outcomes for the experiment Postfix's REQUIRETLS_README proposes
//     (how much of the world supports REQUIRETLS) in a concurrency-safe
//     [Tally], reported as a text table or JSON ([Report]);
//   - maps crypto/tls and crypto/x509 handshake errors to the feature Postfix
//     would log ([ClassifyTLSError]), so Go delivery code can log the same;
//   - logs features, fields, deliveries and tallies with log/slog
//     (slog.LogValuer);
//   - stores features and fields as their log text, for example in JSON
//     ([Field.MarshalText], [Field.UnmarshalText]).
//
// Names Postfix does not log (for example "requiretls:nomatch", which
// Postfix's documentation mentions but its code never writes) parse, for
// forward compatibility, and are reported as unknown ([Feature.Known]).
//
// The package uses only the standard library and does no network or file
// I/O of its own; [Tally.ReadLog] reads from an io.Reader the caller opens.
//
// Every RFC 8689 statement this package covers, and the tests for it, are
// listed in CHECKLIST.md at the repository root.
//
// [RFC 8689]: https://www.rfc-editor.org/rfc/rfc8689.html
package tlsstatus
