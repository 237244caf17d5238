package requiretls

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sendData runs one transaction with the given MAIL command and message
// content over an implicit-TLS session to addr, and returns the DATA reply.
func sendData(t *testing.T, c *rawClient, mail, msg string) (int, []string) {
	t.Helper()
	code, lines := c.cmd(mail)
	require.Equal(t, 250, code, lines)
	code, lines = c.cmd("RCPT TO:<b@example.org>")
	require.Equal(t, 250, code, lines)
	code, lines = c.cmd("DATA")
	require.Equal(t, 354, code, lines)
	require.NoError(t, c.text.PrintfLine("%s.", msg))
	return c.read()
}

// TestFilterHeaderRefusesAmbiguousBoundary (issue 12, R23, R24): a header
// section in which a line has an empty name (": x") ends there for
// Postfix's is_header_buf, while go-message skips the line. FilterHeader
// used to insert "Require-TLS-ESMTP: yes" after it, where Postfix sees
// body, so the REQUIRETLS request vanished on the content filter's return
// trip; and a "TLS-Required: No" after it relaxed the message. Through a
// real go-smtp server, every such message is refused with 554 5.6.0 and
// nothing reaches the wrapped session.
func TestFilterHeaderRefusesAmbiguousBoundary(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct{ name, mail, msg string }{
		{"REQUIRETLS, empty name", "MAIL FROM:<a@example.org> REQUIRETLS",
			"Subject: x\r\n: x\r\nTo: b@example.org\r\n\r\nbody\r\n"},
		{"REQUIRETLS, empty name first", "MAIL FROM:<a@example.org> REQUIRETLS", ": x\r\n\r\nbody\r\n"},
		{"TLS-Required: No after an empty name", "MAIL FROM:<a@example.org>",
			": x\r\nTLS-Required: No\r\n\r\nbody\r\n"},
		{"forged Require-TLS-ESMTP after an empty name", "MAIL FROM:<a@example.org>",
			": x\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n"},
		{"REQUIRETLS, WSP before the colon", "MAIL FROM:<a@example.org> REQUIRETLS",
			"Subject : x\r\n\r\nbody\r\n"},
		{"REQUIRETLS, mbox From line", "MAIL FROM:<a@example.org> REQUIRETLS",
			"From a@example.org Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nbody\r\n"},
		{"REQUIRETLS, line of 999 octets", "MAIL FROM:<a@example.org> REQUIRETLS",
			"Subject: " + strings.Repeat("x", 990) + "\r\n\r\nbody\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, rec := startServer(t, pki, &ServerOptions{FilterHeader: true}, true)
			c := dialRaw(t, addr, pki.ClientConfig())
			c.cmd("EHLO client.test")
			code, lines := sendData(t, c, tc.mail, tc.msg)
			assert.Equal(t, 554, code, lines)
			assert.True(t, strings.HasPrefix(lines[0], "5.6.0 "), "enhanced code: %q", lines)
			_, msgs := rec.snapshot()
			assert.Empty(t, msgs, "nothing reaches the wrapped session")
		})
	}
}

// TestAmbiguousHeaderRefusedOnEveryListener (issue 12 items 1 and 4, R24,
// E3): a "TLS-Required: No" that Postfix would read as body never relaxes
// the tag. Whatever the options, the glue cannot know where such a header
// section ends, so it refuses the message before the wrapped session sees
// it: on a trusted listener a field past the ambiguous line could raise
// the requirement, and on any listener a Require-TLS-ESMTP field past it
// could not be removed.
func TestAmbiguousHeaderRefusedOnEveryListener(t *testing.T) {
	pki := newTestPKI(t)
	const msg = ": x\r\nTLS-Required: No\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name string
		opts ServerOptions
	}{
		{"default", ServerOptions{}},
		{"trusted", ServerOptions{TrustRequireTLSESMTP: true}},
		{"trusted, filtering", ServerOptions{TrustRequireTLSESMTP: true, FilterHeader: true}},
		{"filtering", ServerOptions{FilterHeader: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, rec := startServer(t, pki, &tc.opts, true)
			c := dialRaw(t, addr, pki.ClientConfig())
			c.cmd("EHLO client.test")
			code, lines := sendData(t, c, "MAIL FROM:<a@example.org>", msg)
			assert.Equal(t, 554, code, lines)
			assert.True(t, strings.HasPrefix(lines[0], "5.6.0 "), "enhanced code: %q", lines)
			_, msgs := rec.snapshot()
			assert.Empty(t, msgs, "nothing reaches the wrapped session")
		})
	}
}
