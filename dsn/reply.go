package dsn

import (
	"fmt"
	"strings"
)

// SMTPReply is a remote MTA's reply about one recipient, field for field
// what go-smtp's *smtp.SMTPError holds. Package dsn does not import
// go-smtp (redaction needs nothing of it), so copy the fields:
//
//	var se *smtp.SMTPError
//	if errors.As(err, &se) {
//		rc, err := dsn.RecipientFromReply(rcpt, mx, dsn.SMTPReply{
//			Code: se.Code, EnhancedCode: se.EnhancedCode, Message: se.Message})
//		...
//	}
type SMTPReply struct {
	// Code is the three-digit reply code, e.g. 550.
	Code int
	// EnhancedCode is the RFC 3463 status code, e.g. {5, 7, 30}. Zeros or
	// -1s (go-smtp's EnhancedCodeNotSet and NoEnhancedCode) mean the reply
	// had none.
	EnhancedCode [3]int
	// Message is the reply text without the codes; lines are separated by
	// line breaks.
	Message string
}

// RecipientFromReply returns the delivery-status block of a recipient that
// the remote MTA refused with reply: Action failed for a 5xx reply and
// delayed for a 4xx one (RFC 3464 Section 2.3.3), Status the reply's
// enhanced status code, or 5.0.0 / 4.0.0 when it has none or an invalid
// one (RFC 3463 Section 3.1; the class always follows the reply code,
// which decided the outcome), and a Diagnostic-Code "smtp; 550 5.7.30
// text" with the reply's lines joined by spaces (RFC 3464 Section 2.3.6).
//
// recipient is the address, without angle brackets, written as an
// "rfc822" address, or "utf-8" when it is not ASCII (RFC 6533 Section 3).
// remoteMTA, the host name of the MTA that replied, becomes Remote-MTA
// "dns; " + remoteMTA; empty leaves the field out. Set OriginalRecipient
// and the dates on the result as needed.
//
// A reply that is not 4xx or 5xx, an empty recipient, or a line break in
// recipient or remoteMTA fails with ErrInvalidReport.
func RecipientFromReply(recipient, remoteMTA string, reply SMTPReply) (Recipient, error) {
	class := reply.Code / 100
	if reply.Code < 400 || reply.Code > 599 {
		return Recipient{}, fmt.Errorf("%w: reply code %d is not a failure", ErrInvalidReport, reply.Code)
	}
	if recipient == "" || strings.ContainsAny(recipient+remoteMTA, "\r\n\x00") {
		return Recipient{}, fmt.Errorf("%w: empty recipient, or a line break in it or in the MTA name", ErrInvalidReport)
	}
	rc := Recipient{FinalRecipient: "rfc822; " + recipient, Action: ActionFailed}
	if !isASCII(recipient) {
		rc.FinalRecipient = "utf-8; " + recipient
	}
	if class == 4 {
		rc.Action = ActionDelayed
	}
	if remoteMTA != "" {
		rc.RemoteMTA = "dns; " + remoteMTA
	}
	diag := fmt.Sprintf("smtp; %d", reply.Code)
	rc.Status = fmt.Sprintf("%d.0.0", class)
	if e := reply.EnhancedCode; (e[0] == 2 || e[0] == 4 || e[0] == 5) && e[1] >= 0 && e[1] <= 999 && e[2] >= 0 && e[2] <= 999 {
		rc.Status = fmt.Sprintf("%d.%d.%d", class, e[1], e[2])
		diag += " " + rc.Status
	}
	text := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, reply.Message)), " ")
	if text != "" {
		diag += " " + text
	}
	rc.DiagnosticCode = diag
	return rc, nil
}
