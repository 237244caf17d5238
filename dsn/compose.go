package dsn

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/requiretls/go-requiretls/header"
)

// Ret is the RFC 3461 Section 4.3 RET parameter the original message was
// received with. It is the twin of go-smtp's smtp.DSNReturn, with the same
// values, so dsn.Ret(mailOptions.Return) converts one; package dsn keeps
// its own type so that it does not import go-smtp.
type Ret string

const (
	RetUnset Ret = ""     // no RET parameter: the MTA chooses; this package returns headers
	RetFull  Ret = "FULL" // return the full message (disregarded with REQUIRETLS, RFC 8689 Section 5)
	RetHdrs  Ret = "HDRS" // return only the header section
)

// Action is the RFC 3464 Section 2.3.3 Action field of one recipient.
type Action string

const (
	ActionFailed    Action = "failed"    // the message could not be delivered to this recipient
	ActionDelayed   Action = "delayed"   // delivery has not succeeded yet and will be retried
	ActionDelivered Action = "delivered" // final delivery to this recipient succeeded
	ActionRelayed   Action = "relayed"   // relayed to a system that does not send DSNs
	ActionExpanded  Action = "expanded"  // delivered to an alias or list, which resent it to several recipients
)

// Recipient is one per-recipient block of the message/delivery-status part
// (RFC 3464 Section 2.3). Typed address fields are written as given:
// "rfc822;bob@example.org".
type Recipient struct {
	OriginalRecipient string    // ORCPT value (RFC 3461 Section 4.2), decoded; empty when none was given
	FinalRecipient    string    // required
	Action            Action    // required
	Status            string    // required, e.g. "5.7.30" (RFC 8689 Section 4.2.1: REQUIRETLS not supported) or "5.7.10"
	RemoteMTA         string    // e.g. "dns; mx.example.org"; optional
	DiagnosticCode    string    // e.g. "smtp; 550 5.7.30 REQUIRETLS needed"; optional
	LastAttemptDate   time.Time // zero: omitted
	WillRetryUntil    time.Time // zero: omitted; only meaningful with ActionDelayed
}

// Report describes a DSN to compose: who reports what about which
// original message, and how the original was received.
type Report struct {
	From    string    // required: the DSN's From field, e.g. "MAILER-DAEMON@mx.example.org (Mail Delivery System)"
	To      string    // required: the original envelope sender, who receives the DSN; never "<>" (RFC 5321 Section 6.1)
	Date    time.Time // zero: time.Now()
	MsgID   string    // the DSN's Message-ID, "<...>"; empty: a random one at the ReportingMTA host name (see Compose)
	Subject string    // empty: chosen from the actions, as Postfix does
	Text    string    // human-readable part; empty: generated from the recipients. It must not quote the original body.

	ReportingMTA string      // required, e.g. "dns; mx.example.org"
	EnvID        string      // the original ENVID (RFC 3461 Section 4.4); empty: none
	ArrivalDate  time.Time   // zero: omitted
	Recipients   []Recipient // required: one block per recipient reported on

	// How the original was received.
	RequireTLS bool // MAIL FROM had REQUIRETLS (RFC 8689 Section 4.1)
	Ret        Ret  // MAIL FROM RET parameter
	// SMTPUTF8: MAIL FROM had SMTPUTF8 (RFC 6531). The delivery report is
	// then message/global-delivery-status (RFC 6533 Section 6), as Postfix
	// writes it for such a message, even when every field is ASCII.
	SMTPUTF8 bool

	// KeepRequireTLS sends the DSN of a REQUIRETLS message with REQUIRETLS
	// itself, the literal reading of RFC 8689 Section 5 ("MUST also specify
	// the REQUIRETLS SMTP option unless redacted"), which mox follows. The
	// default (false) is Postfix's requiretls_redact_dsn=yes: the DSN is
	// redacted, so it is sent without REQUIRETLS and is not lost when the
	// return path lacks REQUIRETLS (RFC 8689 Section 5: the return path may
	// not support REQUIRETLS, and with an empty return path REQUIRETLS SHOULD
	// NOT cause a bounce to be discarded). Either way the returned content is
	// headers only.
	KeepRequireTLS bool

	Boundary string   // the multipart boundary; empty: random (use random ones outside tests)
	Options  *Options // redaction of the returned header section; nil: defaults
}

// Envelope is how to send a composed DSN. The reverse path is always
// empty, "MAIL FROM:<>" (RFC 5321 Section 6.1, RFC 3464 Section 2, RFC 8689
// Section 5), the RET parameter must not be used (RFC 3461 Section 6.1) and
// NOTIFY, if used, must be NEVER. The recipient is Report.To.
type Envelope struct {
	// RequireTLS: send the DSN with the REQUIRETLS MAIL parameter. Even
	// then, with an empty reverse path REQUIRETLS must not cause the DSN to
	// be discarded when the next hop lacks it (RFC 8689 Section 5, SHOULD NOT).
	RequireTLS bool
	// Full: the original message was returned whole (RET=FULL without
	// REQUIRETLS); false means headers only.
	Full bool
}

var (
	hostRE   = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$`)    // a domain name, as the id-right of a msg-id
	statusRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)      // RFC 3464 Section 2.3.4
	typedRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+-]*[ \t]*;.+`) // address-type ";" ..., RFC 3464 Section 2.3.2
)

func (rep *Report) validate() error {
	bad := func(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidReport, msg) }
	if rep.From == "" || rep.To == "" || rep.ReportingMTA == "" {
		return bad("From, To and ReportingMTA are required")
	}
	if strings.TrimSpace(rep.To) == "<>" {
		// RFC 5321 Section 6.1: no notification to a null reverse path,
		// so no DSN about a DSN.
		return bad("To is the null reverse path: a bounce is never bounced")
	}
	if len(rep.Recipients) == 0 {
		return bad("no recipients") // RFC 3464 Section 2.1: 1* per-recipient-fields
	}
	if len(rep.EnvID) > 100 {
		return bad("EnvID longer than 100 characters") // RFC 3461 Section 4.4
	}
	vals := []string{rep.From, rep.To, rep.MsgID, rep.Subject, rep.ReportingMTA, rep.EnvID, rep.Boundary}
	for i, rc := range rep.Recipients {
		if !typedRE.MatchString(rc.FinalRecipient) || rc.OriginalRecipient != "" && !typedRE.MatchString(rc.OriginalRecipient) {
			return bad(fmt.Sprintf("recipient %d: addresses must be \"type;address\"", i))
		}
		switch rc.Action {
		case ActionFailed, ActionDelayed, ActionDelivered, ActionRelayed, ActionExpanded:
		default:
			return bad(fmt.Sprintf("recipient %d: unknown action %q", i, rc.Action))
		}
		if !statusRE.MatchString(rc.Status) {
			return bad(fmt.Sprintf("recipient %d: status %q is not a status-code", i, rc.Status))
		}
		vals = append(vals, rc.OriginalRecipient, rc.FinalRecipient, rc.RemoteMTA, rc.DiagnosticCode)
	}
	for _, v := range vals {
		if strings.ContainsAny(v, "\r\n\x00") {
			return bad("a field value contains a line break") // header injection
		}
	}
	if rep.Boundary != "" && (len(rep.Boundary) > 70 || strings.ContainsAny(rep.Boundary, "\" ")) {
		return bad("invalid boundary")
	}
	return nil
}

// Compose writes an RFC 3464 delivery status notification about the
// message read from original: a multipart/report with report-type
// delivery-status (RFC 6522 Section 3) holding a human-readable part, a
// message/delivery-status part (RFC 3464 Section 2) and the returned
// content. It returns how the DSN must be sent.
//
// The returned content is the original's header section (text/rfc822-headers,
// or message/global-headers for 8-bit headers, RFC 6533 Section 4.3),
// filtered by rep.Options.Fields. Only when the original asked for RET=FULL,
// did not ask for REQUIRETLS, and some recipient failed (RFC 3461 Section
// 6.2) is the whole original returned as message/rfc822, streamed. With
// REQUIRETLS, RET=FULL is disregarded (RFC 8689 Section 5: a bounce of a
// REQUIRETLS message MUST behave as if RET=HDRS was present) and
// the body is not read, apart from what fills the last 4 KiB read buffer.
//
// Without rep.MsgID the DSN gets a random Message-ID at the reporting
// MTA's host name; set MsgID, Boundary and Date for a reproducible DSN.
//
// The DSN's own header gets "TLS-Required: No" only when the original
// carried a valid one and did not request REQUIRETLS (Postfix 3.11; RFC
// 8689 Section 4.1 makes REQUIRETLS win). It never gets Require-TLS-ESMTP:
// whether the DSN needs REQUIRETLS is in the returned Envelope, for the
// sending code.
//
// The original's header section is read as [RedactMessage] reads it, with
// the same errors (ErrMalformed, ErrHeaderTooLarge), which come before
// anything is written to w. When it cannot be read, compose again with an
// empty original (strings.NewReader("")) into the same w: the DSN then
// returns no header field at all, and the sender still gets the bounce.
func Compose(w io.Writer, rep *Report, original io.Reader) (Envelope, error) {
	if err := rep.validate(); err != nil {
		return Envelope{}, err
	}
	s := newScanner(original, 4<<10)
	mboxFrom(s)
	orig, err := readSection(s, nil, rep.Options.maxHeader(), nil)
	if err != nil {
		return Envelope{}, err
	}
	oh, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(orig.raw), strings.NewReader("\r\n"))))
	if err != nil {
		return Envelope{}, &ParseError{Msg: "original header: " + err.Error(), Err: ErrMalformed}
	}
	facts := header.Inspect(oh)

	failed := false
	for _, rc := range rep.Recipients {
		failed = failed || rc.Action == ActionFailed
	}
	env := Envelope{
		RequireTLS: rep.RequireTLS && rep.KeepRequireTLS,
		Full:       !rep.RequireTLS && strings.EqualFold(string(rep.Ret), string(RetFull)) && failed,
	}
	boundary := rep.Boundary
	if boundary == "" {
		var b [18]byte
		rand.Read(b[:])
		boundary = "dsn-" + hex.EncodeToString(b[:])
	}
	date := rep.Date
	if date.IsZero() {
		date = time.Now()
	}

	var b bytes.Buffer
	field := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	field("From", rep.From)
	field("To", rep.To)
	field("Date", date.Format(time.RFC1123Z))
	field("Subject", orDefault(rep.Subject, subject(rep.Recipients)))
	field("Message-ID", orDefault(rep.MsgID, messageID(rep.ReportingMTA)))
	if id := oh.Get("Message-Id"); id != "" && !strings.ContainsAny(id, "\r\n") {
		field("In-Reply-To", id)
		field("References", id)
	}
	field("Auto-Submitted", "auto-replied") // RFC 3834 Section 5
	if facts.TLSRequiredNo && !rep.RequireTLS && !facts.RequireTLSESMTP {
		b.WriteString(header.LineTLSRequiredNo + "\r\n") // Postfix 3.11 bounce.c
	}
	field("MIME-Version", "1.0")
	field("Content-Type", `multipart/report; report-type=delivery-status;`+"\r\n\t"+`boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")

	delim := "\r\n--" + boundary + "\r\n"
	b.WriteString(delim)
	field("Content-Description", "Notification")
	field("Content-Type", "text/plain; charset=utf-8")
	field("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(crlf(orDefault(rep.Text, humanText(rep))))

	b.WriteString(delim)
	global := rep.SMTPUTF8 || !isASCII(rep.ReportingMTA+rep.EnvID)
	for _, rc := range rep.Recipients {
		global = global || !isASCII(rc.OriginalRecipient+rc.FinalRecipient+rc.RemoteMTA+rc.DiagnosticCode)
	}
	field("Content-Description", "Delivery report")
	if global {
		field("Content-Type", "message/global-delivery-status") // RFC 6533 Section 6
		field("Content-Transfer-Encoding", "8bit")
	} else {
		field("Content-Type", "message/delivery-status") // 7bit, RFC 3464 Section 2.1
	}
	b.WriteString("\r\n")
	writeStatus(&b, rep)

	b.WriteString(delim)
	desc := descHeaders
	if failed {
		desc = descUndelivered
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return env, err
	}
	if env.Full {
		mt := "message/rfc822"
		if orig.eightBit {
			mt = "message/global" // RFC 6533 Section 3
		}
		if _, err := io.WriteString(w, "Content-Description: Undelivered Message\r\nContent-Type: "+mt+"\r\n\r\n"); err != nil {
			return env, err
		}
		if err := writeSection(w, orig.raw, eolOf(orig.raw)); err != nil {
			return env, err
		}
		if _, err := io.WriteString(w, orig.blank); err != nil {
			return env, err
		}
		if _, err := io.Copy(w, io.MultiReader(bytes.NewReader(s.buf[s.pos:s.end]), original)); err != nil {
			return env, err
		}
	} else if err := writeHeadersPart(w, orig, desc, rep.Options); err != nil {
		return env, err
	}
	_, err = io.WriteString(w, "\r\n--"+boundary+"--\r\n")
	return env, err
}

// writeStatus writes the message/delivery-status content (RFC 3464 Section 2.2, 2.3).
func writeStatus(b *bytes.Buffer, rep *Report) {
	field := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		// RFC 5322 date-time without its optional day name, which
		// mox's DSN parser rejects; Postfix writes it.
		return t.Format("02 Jan 2006 15:04:05 -0700")
	}
	field("Original-Envelope-Id", rep.EnvID) // RFC 3461 Section 6.3(a)
	field("Reporting-MTA", rep.ReportingMTA)
	field("Arrival-Date", date(rep.ArrivalDate))
	for _, rc := range rep.Recipients {
		b.WriteString("\r\n")
		field("Original-Recipient", rc.OriginalRecipient) // RFC 3461 Section 6.3(d)
		field("Final-Recipient", rc.FinalRecipient)
		field("Action", string(rc.Action))
		field("Status", rc.Status)
		field("Remote-MTA", rc.RemoteMTA)
		field("Diagnostic-Code", rc.DiagnosticCode)
		field("Last-Attempt-Date", date(rc.LastAttemptDate))
		field("Will-Retry-Until", date(rc.WillRetryUntil))
	}
}

// messageID returns a new Message-ID for a DSN (RFC 5322 Section 3.6.4):
// 26 random characters (130 bits, so it is unique without a counter) at
// the host name of the reporting MTA, "dns; mx.example.net", or at
// "invalid" (RFC 6761) when it has no domain name.
func messageID(reportingMTA string) string {
	typ, host, _ := strings.Cut(reportingMTA, ";")
	host = strings.TrimSpace(host)
	if !strings.EqualFold(strings.TrimSpace(typ), "dns") || !hostRE.MatchString(host) {
		host = "invalid"
	}
	return "<" + rand.Text() + "@" + host + ">"
}

func subject(rcs []Recipient) string {
	for _, rc := range rcs {
		if rc.Action == ActionFailed {
			return "Undelivered Mail Returned to Sender"
		}
	}
	for _, rc := range rcs {
		if rc.Action == ActionDelayed {
			return "Delayed Mail (still being retried)"
		}
	}
	return "Successful Mail Delivery Report"
}

// humanText is the default human-readable part. It names recipients and
// the remote diagnostics only: nothing from the original message.
func humanText(rep *Report) string {
	var b strings.Builder
	_, mta, _ := strings.Cut(rep.ReportingMTA, ";")
	b.WriteString("This is the mail system at " + strings.TrimSpace(orDefault(mta, rep.ReportingMTA)) + ".\n\n")
	b.WriteString("This is a report on the delivery of your message.\n")
	if rep.RequireTLS {
		b.WriteString("Your message requested REQUIRETLS (RFC 8689); only its header\nis returned below, not its body.\n")
	}
	b.WriteString("\n")
	for _, rc := range rep.Recipients {
		_, addr, _ := strings.Cut(rc.FinalRecipient, ";")
		fmt.Fprintf(&b, "<%s>: %s", strings.TrimSpace(addr), rc.Action)
		if rc.DiagnosticCode != "" {
			b.WriteString(": " + rc.DiagnosticCode)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func crlf(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
