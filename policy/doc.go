// Package policy decides, stage by stage, what an SMTP client must do with a
// message that requested REQUIRETLS ([RFC 8689] Section 4.2.1), and looks up
// the per-destination enforcement level in Postfix-compatible policy tables.
//
// [Evaluate] is the decision engine. The caller fills an [Attempt] with what
// it knows about one delivery attempt, in four stages (before connecting,
// after the first EHLO, after STARTTLS, after the post-TLS EHLO), and gets a
// [Decision]: continue, send with REQUIRETLS, send without it, skip this host,
// bounce, or defer. Evaluate is a pure function: no I/O, no goroutines, and
// it does not allocate. A decision formats its Postfix-worded reason text on
// demand ([Outcome.Reason], [Outcome.AppendReason]).
//
// [Parse] reads the value of Postfix 3.11's smtp_requiretls_policy or
// lmtp_requiretls_policy parameter verbatim (atoms, inline:, cidr: and
// regexp: tables, $name expansion through a caller-supplied lookup,
// continuation lines), and [Policy.Lookup] maps a next-hop name to a [Level]
// as Postfix does, after normalising the name so that every spelling of one
// destination (case, trailing dot, brackets, port, U-label or A-label,
// "[IPv6:...]", IPv4-mapped IPv6) selects the same level. The same tables can be built from Go values
// ([New], [Atom], [Inline], [CIDR], [Regexp]) and print back in Postfix syntax.
//
// Unknown, ambiguous, oversized or unparseable input never lowers a
// requirement: it is refused with a typed error or treated as the strictest
// value. So [Parse] refuses what it cannot read exactly; [Policy.Lookup]
// gives [Enforce] for a next hop it cannot normalise; and [Evaluate] treats
// an out-of-range [Tag] as [Required], an out-of-range [Level] as
// [ConfigError], and defers (4.7.10) an attempt whose [Stage], [Auth],
// [Handshake] or [Cert] is out of range.
//
// Evaluate also enforces the TLS security level in effect for the host
// ([Attempt.TLSLevel], Postfix's smtp_tls_security_level) for every message,
// and [Field] builds the tls= log field Postfix writes for an attempt and
// its decision, byte for byte.
//
// Out of scope: DNS, DNSSEC validation, MTA-STS fetching, DANE TLSA lookups
// and certificate verification. The caller supplies their results as facts
// ([Auth], [Cert], [Attempt.TLSLevel]); the package never raises or lowers
// the TLS security level itself, it only vetoes connections (as Postfix
// does).
//
// Notable divergences from Postfix 3.11:
//   - The level [Monitor] is ours: it delivers like [Opportunistic] and reports
//     in [Decision.WouldEnforce] what [Enforce] would have decided (the
//     "log-only mode" on Postfix's TODO list). Postfix rejects the atom.
//   - A message with an empty reverse path (a bounce) is never skipped,
//     bounced or deferred for lack of REQUIRETLS at the next hop ([RFC 8689]
//     Section 5: "SHOULD NOT cause a bounce message to be discarded").
//   - Certificate authentication is a fact ([Auth] plus [Cert]) rather than a
//     TLS security level, so Postfix's "halfdane" (TLSA records behind an
//     insecure MX) is acceptable only if the caller reports the MX as
//     validated another way ([RFC 8689] Section 2 requires a secure MX).
//   - A server that refuses STARTTLS when the TLS security level requires TLS
//     defers the message with 4.7.4; Postfix takes the code of the server's
//     reply, so a 5xx reply there bounces it.
//   - Regular expressions are Go's RE2, not POSIX, and always
//     case-insensitive; see [Parse].
//   - Next hops and inline keys are normalised before matching, and a next
//     hop that does not normalise (not exactly one host name or IP address)
//     looks up as [Enforce] whatever the policy says; see [Policy.Lookup].
//
// [RFC 8689]: https://www.rfc-editor.org/rfc/rfc8689.html
package policy
