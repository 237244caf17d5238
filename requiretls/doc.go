// Package requiretls implements the SMTP REQUIRETLS service extension of
// [RFC 8689] Section 2: the EHLO keyword and MAIL FROM parameter
// "REQUIRETLS", the reply codes of Section 4.2.1 and Section 5, and glue that
// makes github.com/emersion/go-smtp servers and clients honour them.
//
// The rule every package of this module follows: unknown, ambiguous,
// oversized or unparseable input never lowers a requirement; it is refused
// with a typed error or treated as the strictest value. On the receiving
// side a header section two parsers could read differently is refused; on
// the sending side a caller's explicit request is never dropped.
//
// # Receiving
//
// [NewServer] (or [NewBackend] for a hand-built smtp.Server) wraps any
// smtp.Backend so that
//
//   - REQUIRETLS is announced only on a TLS session (after STARTTLS, or with
//     implicit TLS, where the first EHLO already counts as the one after
//     TLS), RFC 8689 Section 2 item 2;
//   - "MAIL FROM:<...> REQUIRETLS" on a session without TLS is refused with
//     [ErrEncryptionNeeded] (523 5.7.10); go-smtp v0.26.0 accepts it;
//   - each message's tag (RFC 8689 Section 4.1) is worked out and handed to a
//     session that implements [Tagger];
//   - the Postfix header field "Require-TLS-ESMTP" is honoured only on
//     listeners the caller trusts ([ServerOptions.TrustRequireTLSESMTP]);
//     from anyone else every such field, valid or malformed, is removed
//     before the wrapped session sees the message, so that no later hop
//     that honours it can be made to by an untrusted client;
//   - a header section that cannot be read to its end or edited safely is
//     refused: longer than 1 MiB with [ErrHeaderTooLarge] (552 5.3.4),
//     ambiguous (a bare CR or LF where a field must be added or removed)
//     with [ErrUnsafeHeader] (554 5.6.0);
//   - optionally a Received: trace field records "with ESMTPS (requiretls)";
//   - optionally ([ServerOptions.FilterHeader]) "Require-TLS-ESMTP: yes"
//     carries the tag through a content filter, inserted without ever
//     splitting a line or creating a bare CR or LF;
//   - optionally ([ServerOptions.Request], a [RequestPolicy]) messages are
//     tagged Required by their client's network, AUTH identity, sender or
//     recipient domain, as if MAIL had carried REQUIRETLS, with tables in
//     Postfix's policy syntax; on a session without TLS their MAIL or RCPT
//     is refused with [ErrEncryptionNeeded];
//   - optionally ([ServerOptions.Logger]) one log record per message.
//
// Everything else reaches the wrapped backend unchanged.
//
// # Sending
//
// [Dialer] runs a client session up to MAIL FROM and asks [policy.Evaluate]
// at every stage of RFC 8689 Section 4.2.1 (before connecting, after EHLO,
// after STARTTLS, after the EHLO under TLS) whether to go on, send with or
// without REQUIRETLS, skip the host, bounce or defer; a refusal is a
// [*PolicyError] carrying the 5.7.30 or 5.7.10 reply and the tls= log field.
// The certificate is checked against the MX host name given in the
// attempt, not the address dialled.
//
// The [Conn] it returns sends the message: [Conn.Mail], [Conn.Rcpt],
// [Conn.Data], [Conn.Quit]. A caller's explicit request (REQUIRETLS on MAIL,
// a Tag) is never silently dropped: it is honoured or refused with a typed
// error. [Conn.Mail] with MailOptions.RequireTLS on a session the policy did
// not decide SendRequireTLS sends nothing and returns the 5.7.10 or 5.7.30
// error. errors.As with an *smtp.SMTPError target on a [*PolicyError]
// gives the reply to report, with the decision's specific reason.
//
// [Dialer.DialContext] chooses how to connect (source address, proxy) and
// [Dialer.Logger] gets one log record per decision.
//
// What the caller's lookups found reaches the Dialer as facts, so that
// "enforce" needs no hand-written crypto: [Dialer.TLSA] (TLSA records from a
// DNSSEC-validated lookup, verified with package policy/dane, RFC 7672) or
// [Dialer.MTASTS] (a fetched MTA-STS policy, matched and verified with
// package policy/mtasts, RFC 8461). Either sets the attempt's Auth and TLS
// level; neither ever falls back to a weaker check.
//
// Delivery code that runs its own session calls [policy.Evaluate] at each
// stage itself; [VerifyCertificate] gives it the certificate fact the
// Dialer would have found, with the reason, and [policy.Field] the tls= log
// field.
//
// [CheckMail] is the smaller check for a go-smtp client made by
// smtp.DialStartTLS or smtp.DialTLS: before Client.Mail with REQUIRETLS, is
// the session under TLS, was the server's certificate verified in the
// handshake, and did the post-TLS EHLO announce REQUIRETLS? It
// returns a typed error carrying the reply code otherwise (go-smtp returns
// an unmatchable plain error).
//
// # Parsing without go-smtp
//
// [ParseMail] and [Mail.String] parse and format a whole MAIL FROM command
// line for tools that are not built on go-smtp (milters, proxies, log
// processors), and [Offered] reads an EHLO reply.
//
// # Reply codes chosen
//
// RFC 8689 names no reply for a REQUIRETLS request on a session without TLS:
// it only forbids a client to send one there (Section 2). This package answers 523 5.7.10 "Encryption needed", as
// mox does, because the enhanced code says exactly what is missing; Postfix
// answers 555 5.5.4 and smtp-server 530. A malformed MAIL line is answered
// with 501 and 5.5.2 (path) or 5.5.4 (parameters), see [ReplyFor].
//
// # Known gap in go-smtp
//
// RFC 8689 Section 2 gives the parameter no value, and [ParseMail] refuses
// "REQUIRETLS=YES" (501 5.5.4). go-smtp v0.26.0 drops the value before a
// Session sees the command, so the server glue cannot tell it from a plain
// "REQUIRETLS": on a TLS session such a message is accepted and tagged
// Required (stricter than asked, never a relaxation); without TLS it is
// refused with 523 5.7.10 like any REQUIRETLS request. Closing the gap needs
// go-smtp to refuse a value for REQUIRETLS.
//
// Every RFC 8689 statement this package covers, and the tests for it, are
// listed in CHECKLIST.md at the repository root.
//
// [RFC 8689]: https://www.rfc-editor.org/rfc/rfc8689.html
package requiretls
