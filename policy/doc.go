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
// lmtp_requiretls_policy parameter verbatim (atoms, inline:, static:, cidr:,
// regexp: and pcre: tables, texthash: and other table files through a
// caller-supplied ReadFile, $name expansion through a caller-supplied
// lookup, continuation lines), and [Policy.Lookup] maps a next-hop name to a [Level]
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
//   - Next hops are normalised before matching (case, trailing dot,
//     U-labels, IP address text, IPv4-mapped IPv6), and a next hop that does
//     not normalise (not exactly one host name or IP address) looks up as
//     [Enforce] whatever the policy says, also where an atom comes first;
//     see [Policy.Lookup]. Postfix looks up such spellings as written.
//   - [Parse] refuses, with an error naming the construct, every policy it
//     cannot read exactly as Postfix would, where Postfix accepts it, warns
//     and drops a rule, or silently means something else: regexp: and pcre:
//     patterns that RE2 reads differently or cannot express, the flags "i"
//     and "x", rules starting with "#" (comments for Postfix), inline and
//     texthash keys not in the form Postfix compares (U-labels, a trailing
//     dot, non-canonical or IPv4-mapped addresses), IPv4-mapped cidr
//     prefixes, cidr IF/ENDIF, duplicate keys, undefined $name (Postfix:
//     empty) and ${name?...}. The list, with its reason for each, is in
//     [Parse]; interop/postfixpolicy runs thousands of policies through
//     Postfix 3.11.6's own parser and this one, and prints how many fall in
//     each class.
//   - A table type this package cannot read (hash:, lmdb:, ...) parses and
//     gives [ConfigError] at every lookup; Postfix stops at start-up when
//     the table's file is missing.
//
// Every RFC 8689 statement this package covers, and the tests for it, are
// listed in CHECKLIST.md at the repository root.
//
// [RFC 8689]: https://www.rfc-editor.org/rfc/rfc8689.html
package policy
