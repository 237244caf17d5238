package dsn

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// E10: no notification about a notification. A message whose reverse path
// was empty (a bounce) gets no DSN (RFC 5321 Section 6.1: "if this address
// is null ("<>"), the receiver-SMTP MUST NOT send a notification"); RFC 8689
// Section 5 accepts that such a REQUIRETLS bounce is lost.
func TestE10NoBounceOfABounce(t *testing.T) {
	for _, to := range []string{"<>", " <> "} {
		rep := testReport()
		rep.To = to
		var out strings.Builder
		_, err := Compose(&out, rep, strings.NewReader(original))
		assert.ErrorIs(t, err, ErrInvalidReport, "E10 To %q", to)
		assert.Empty(t, out.String(), "nothing is written")
	}
}

// R37: a TLS-Required: No message that a server refused because STARTTLS
// could not be negotiated is an ordinary delivery failure, and a
// non-delivery notification MUST be returned. The DSN carries the server's
// reply and, like the original, TLS-Required: No (Postfix 3.11), and is not
// sent with REQUIRETLS.
func TestR37BounceForServerRequiringSTARTTLS(t *testing.T) {
	rep := testReport()
	rep.RequireTLS, rep.Ret = false, RetUnset
	rep.Recipients[0].Status = "5.7.0"
	rep.Recipients[0].DiagnosticCode = "smtp; 530 5.7.0 Must issue a STARTTLS command first"
	orig := "From: Roger Reporter <roger@example.org>\r\nTLS-Required: No\r\nSubject: s\r\n\r\n" + marker + "\r\n"
	out, env := compose(t, rep, orig)
	top, _, _ := strings.Cut(out, "\r\n\r\n")
	assert.Contains(t, top, "\r\nTLS-Required: No")
	assert.Contains(t, out, "\r\nStatus: 5.7.0\r\n")
	assert.Contains(t, out, "\r\nAction: failed\r\n")
	assert.Contains(t, out, "Diagnostic-Code: smtp; 530 5.7.0 Must issue a STARTTLS command first\r\n")
	assert.Equal(t, Envelope{}, env, "R37: no REQUIRETLS, headers only")
}

// R45 R50: the return path may lack REQUIRETLS, so by default the DSN of a
// REQUIRETLS message is redacted and sent without REQUIRETLS, so it is not
// lost; what could leak in plaintext is limited to the header section, or
// less with an allow-list. Only KeepRequireTLS asks for REQUIRETLS, and the
// content is the same redacted one either way.
func TestR45R50BounceNotLostAndLeaksLittle(t *testing.T) {
	for _, keep := range []bool{false, true} {
		rep := testReport()
		rep.KeepRequireTLS = keep
		rep.Options = &Options{Fields: []string{"Message-ID", "Date"}}
		out, env := compose(t, rep, original)
		assert.Equal(t, keep, env.RequireTLS, "R45 REQUIRETLS on the DSN only when asked")
		assert.False(t, env.Full)
		assert.NotContains(t, out, marker, "R50 no body byte")
		_, ret, ok := strings.Cut(out, "Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n")
		require.True(t, ok)
		assert.NotContains(t, ret, "Subject: plans", "R50 allow-list limits the leak")
		assert.Contains(t, ret, "Message-ID: <p1@example.org>\r\n")
	}
}
