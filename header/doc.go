// Package header reads and writes the TLS-Required header field of
// [RFC 8689] Section 3 and the Postfix 3.11 "Require-TLS-ESMTP: yes" field
// that carries a REQUIRETLS request across hops that lose the envelope
// (content filters, re-injection).
//
// [Inspect] reads a go-message textproto.Header; [Scan] is the fast path over
// raw message bytes (no allocation in the common case, bounded by
// [MaxHeaderBytes], usable on a prefix of a message still being received)
// and [ScanReader] its streaming form. All look at the top-level header
// section only: headers of attached message/rfc822 parts never count.
// RFC 5321 Section 3.6.3 forbids a relay to inspect message content, and
// RFC 8689 Section 4.1 makes an exception for the message's own header
// only. [SetTLSRequiredNo], [SetRequireTLSESMTP] and their Remove
// counterparts edit a textproto.Header; [SetRaw] and [RemoveRaw]
// edit raw bytes for proxies that stream messages without parsing them.
//
// Rules this package applies:
//
//   - The only valid TLS-Required value is "No" (case-insensitive, optional
//     leading folding white space, nothing after it). Anything else, "Yes"
//     included, is malformed and never relaxes TLS: the field exists only to
//     relax, so a value the RFC 8689 Section 3 ABNF does not define must not
//     (Postfix ignores it the same way). The draft-era names Require-TLS and RequireTLS are
//     reported as malformed too.
//   - Several TLS-Required fields relax only if every copy is a valid "No".
//     RFC 8689 Section 3 forbids sending more than one and says nothing
//     about receiving them, so one malformed copy keeps the default.
//     Postfix relaxes if any copy is "no".
//   - Require-TLS-ESMTP is recognised as Postfix does: value "yes",
//     case-insensitive, after leading white space, nothing after it.
//   - Generated fields are spelled exactly "TLS-Required: No" and
//     "Require-TLS-ESMTP: yes", and never appear twice (RFC 8689 Section 3:
//     more than one TLS-Required field MUST NOT appear in a message).
//
// Unknown, ambiguous, oversized or unparseable input never lowers a
// requirement: it is refused with a typed error ([ErrAmbiguous],
// [ErrHeaderTooLong], [ErrMalformed] in a *[ParseError]) or treated as the
// strictest value, so the Facts of such a header never relax TLS. Where two
// parsers could disagree (go-message's textproto.ReadHeader, Postfix's
// header parser, RFC 5322), we refuse: a header section is read and edited
// only when it means the same to all of them, as [Scan] describes.
//
// Beyond Postfix, which honours Require-TLS-ESMTP from anyone: the caller
// says whether a message comes from a trusted path, and the field is
// stripped from untrusted ones ([Receive], [RemoveRaw]).
//
// Out of scope: deciding the message's tag (REQUIRETLS on MAIL FROM wins over
// TLS-Required, RFC 8689 Section 4.1) is the caller's job; this package only
// reports what the header says.
//
// Every RFC 8689 statement this package covers, and the tests for it, are
// listed in CHECKLIST.md at the repository root.
//
// [RFC 8689]: https://www.rfc-editor.org/rfc/rfc8689.html
package header
