package dsn

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecipientFromReply (issue 15 item 7): the Status, Action and
// Diagnostic-Code fields come from the remote MTA's reply, so a caller does
// not format them by hand (RFC 3464 Sections 2.3.3, 2.3.4, 2.3.6; RFC 3463).
func TestRecipientFromReply(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rcpt, mta string
		reply     SMTPReply
		want      Recipient
	}{
		{"RFC 8689 Section 4.2.1 refusal", "bob@example.com", "mx.example.com", SMTPReply{550, [3]int{5, 7, 30}, "REQUIRETLS support required"},
			Recipient{FinalRecipient: "rfc822; bob@example.com", Action: ActionFailed, Status: "5.7.30", RemoteMTA: "dns; mx.example.com", DiagnosticCode: "smtp; 550 5.7.30 REQUIRETLS support required"}},
		{"temporary, go-smtp's NoEnhancedCode", "bob@example.com", "", SMTPReply{451, [3]int{-1, -1, -1}, "try later"},
			Recipient{FinalRecipient: "rfc822; bob@example.com", Action: ActionDelayed, Status: "4.0.0", DiagnosticCode: "smtp; 451 try later"}},
		{"no enhanced code (EnhancedCodeNotSet)", "bob@example.com", "", SMTPReply{554, [3]int{}, "no"},
			Recipient{FinalRecipient: "rfc822; bob@example.com", Action: ActionFailed, Status: "5.0.0", DiagnosticCode: "smtp; 554 no"}},
		{"class follows the reply code", "bob@example.com", "", SMTPReply{550, [3]int{4, 7, 0}, "TLS"},
			Recipient{FinalRecipient: "rfc822; bob@example.com", Action: ActionFailed, Status: "5.7.0", DiagnosticCode: "smtp; 550 5.7.0 TLS"}},
		{"enhanced code out of range", "bob@example.com", "", SMTPReply{550, [3]int{5, 1000, 1}, "x"},
			Recipient{FinalRecipient: "rfc822; bob@example.com", Action: ActionFailed, Status: "5.0.0", DiagnosticCode: "smtp; 550 x"}},
		{"multi-line reply, control bytes", "bob@example.com", "", SMTPReply{550, [3]int{5, 1, 1}, "no such user\r\nreally\x00 "},
			Recipient{FinalRecipient: "rfc822; bob@example.com", Action: ActionFailed, Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 no such user really"}},
		{"UTF-8 address (RFC 6533 Section 3)", "jos\u00e9@example.com", "", SMTPReply{550, [3]int{5, 1, 1}, "no"},
			Recipient{FinalRecipient: "utf-8; jos\u00e9@example.com", Action: ActionFailed, Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 no"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RecipientFromReply(tc.rcpt, tc.mta, tc.reply)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			rep := testReport()
			rep.Recipients = []Recipient{got}
			assert.NoError(t, rep.validate(), "Compose takes it")
		})
	}
}

// TestRecipientFromReplyRefuses: a reply that is not a failure, or an
// address that would inject a line, is refused.
func TestRecipientFromReplyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, rcpt, mta string
		code            int
	}{
		{"success", "bob@example.com", "", 250},
		{"intermediate", "bob@example.com", "", 354},
		{"not a reply code", "bob@example.com", "", 5},
		{"line break in the address", "bob@example.com\r\nX: y", "", 550},
		{"line break in the MTA", "bob@example.com", "mx\nX: y", 550},
		{"empty address", "", "", 550},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RecipientFromReply(tc.rcpt, tc.mta, SMTPReply{Code: tc.code, Message: "x"})
			assert.ErrorIs(t, err, ErrInvalidReport)
		})
	}
}
