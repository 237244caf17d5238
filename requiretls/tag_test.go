package requiretls

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

func TestServerTagsFromHeader(t *testing.T) {
	pki := newTestPKI(t)
	const mimeBody = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nTLS-Required: No\r\n\r\nx\r\n--b--\r\n"
	for _, tc := range []struct {
		name    string
		mail    string
		msg     string
		trusted bool
		want    policy.Tag
		data    string // what the wrapped session sees, if not msg
	}{
		{"R24 TLS-Required: No", "MAIL FROM:<a@example.org>", "TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n", false, policy.NotRequired, ""},
		{"R24 folded value", "MAIL FROM:<a@example.org>", "Subject: x\r\nTLS-Required:\r\n no\r\n\r\nbody\r\n", false, policy.NotRequired, ""},
		{"R25 E1 REQUIRETLS wins over TLS-Required: No", "MAIL FROM:<a@example.org> REQUIRETLS", "TLS-Required: No\r\n\r\nbody\r\n", false, policy.Required, ""},
		{"E2 TLS-Required: Yes never relaxes", "MAIL FROM:<a@example.org>", "TLS-Required: Yes\r\n\r\nbody\r\n", false, policy.Default, ""},
		{"E2 comment never relaxes", "MAIL FROM:<a@example.org>", "TLS-Required: No (test)\r\n\r\nbody\r\n", false, policy.Default, ""},
		{"E3 one bad copy keeps the default", "MAIL FROM:<a@example.org>", "TLS-Required: No\r\nTLS-Required: maybe\r\n\r\nbody\r\n", false, policy.Default, ""},
		{"E20 a header inside a MIME part does not count", "MAIL FROM:<a@example.org>", mimeBody, false, policy.Default, ""},
		{"E20 in the body does not count", "MAIL FROM:<a@example.org>", "Subject: x\r\n\r\nTLS-Required: No\r\n", false, policy.Default, ""},
		{"Require-TLS-ESMTP from an untrusted client is removed", "MAIL FROM:<a@example.org>", "Require-TLS-ESMTP: yes\r\n\r\nbody\r\n", false, policy.Default, "\r\nbody\r\n"},
		{"Require-TLS-ESMTP on a trusted listener", "MAIL FROM:<a@example.org>", "Require-TLS-ESMTP: yes\r\n\r\nbody\r\n", true, policy.Required, ""},
		{"Require-TLS-ESMTP wins over TLS-Required: No", "MAIL FROM:<a@example.org>", "Require-TLS-ESMTP: YES\r\nTLS-Required: No\r\n\r\nbody\r\n", true, policy.Required, ""},
		{"header only, no body", "MAIL FROM:<a@example.org>", "TLS-Required: No\r\n", false, policy.NotRequired, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, rec := startServer(t, pki, &ServerOptions{TrustRequireTLSESMTP: tc.trusted}, true)
			c := dialRaw(t, addr, pki.ClientConfig())
			c.cmd("EHLO client.test")
			code, _ := c.cmd(tc.mail)
			require.Equal(t, 250, code)
			code, _ = c.cmd("RCPT TO:<b@example.org>")
			require.Equal(t, 250, code)
			code, _ = c.cmd("DATA")
			require.Equal(t, 354, code)
			require.NoError(t, c.text.PrintfLine("%s.", tc.msg))
			c.expect(250)
			_, msgs := rec.snapshot()
			require.Len(t, msgs, 1)
			assert.Equal(t, tc.want, msgs[0].tag)
			if tc.data == "" {
				tc.data = tc.msg // every byte unchanged
			}
			assert.Equal(t, tc.data, msgs[0].data)
		})
	}
}

// A header section too long to read to its end might hide a field that
// changes the tag or must be removed: it is refused, never tagged from the
// part read (fail closed; issue 12 item 4).
func TestServerHugeHeaderRefused(t *testing.T) {
	pki := newTestPKI(t)
	addr, rec := startServer(t, pki, nil, true)
	c := dialRaw(t, addr, pki.ClientConfig())
	c.cmd("EHLO client.test")
	c.cmd("MAIL FROM:<a@example.org>")
	c.cmd("RCPT TO:<b@example.org>")
	c.cmd("DATA")
	// 2 MiB of header fields, then TLS-Required: No.
	var b strings.Builder
	for b.Len() < 2<<20 {
		b.WriteString("X-Filler: 0123456789012345678901234567890123456789\r\n")
	}
	b.WriteString("TLS-Required: No\r\n\r\nbody\r\n")
	require.NoError(t, c.text.PrintfLine("%s.", b.String()))
	lines := c.expect(ErrHeaderTooLarge.Code)
	assert.True(t, strings.HasPrefix(lines[0], "5.3.4 "), lines[0])
	_, msgs := rec.snapshot()
	assert.Zero(t, len(msgs))
}

func TestServerFilterHeader(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name    string
		mail    string
		msg     string
		want    string // what the wrapped session receives; "" means refused
		wantTag policy.Tag
	}{
		{"REQUIRETLS gets the field once",
			"MAIL FROM:<a@example.org> REQUIRETLS", "Subject: x\r\n\r\nbody\r\n",
			"Subject: x\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n", policy.Required},
		{"an existing field is kept, not doubled",
			"MAIL FROM:<a@example.org> REQUIRETLS", "Require-TLS-ESMTP: yes\r\nSubject: x\r\n\r\nbody\r\n",
			"Require-TLS-ESMTP: yes\r\nSubject: x\r\n\r\nbody\r\n", policy.Required},
		{"a forged field from an untrusted client is removed",
			"MAIL FROM:<a@example.org>", "Subject: x\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n",
			"Subject: x\r\n\r\nbody\r\n", policy.Default},
		{"a malformed forged field is removed too",
			"MAIL FROM:<a@example.org>", "Subject: x\r\nRequire-TLS-ESMTP: yes\x00\r\n\r\nbody\r\n",
			"Subject: x\r\n\r\nbody\r\n", policy.Default},
		{"a plain message is untouched",
			"MAIL FROM:<a@example.org>", "TLS-Required: No\r\n\r\nbody\r\n",
			"TLS-Required: No\r\n\r\nbody\r\n", policy.NotRequired},
		{"bare LF in the header: refused, never smuggled",
			"MAIL FROM:<a@example.org> REQUIRETLS", "Subject: x\n.\r\nMAIL FROM:<evil@example.org>\r\n\r\nbody\r\n",
			"", policy.Required},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, rec := startServer(t, pki, &ServerOptions{FilterHeader: true}, true)
			c := dialRaw(t, addr, pki.ClientConfig())
			c.cmd("EHLO client.test")
			code, _ := c.cmd(tc.mail)
			require.Equal(t, 250, code)
			code, _ = c.cmd("RCPT TO:<b@example.org>")
			require.Equal(t, 250, code)
			code, _ = c.cmd("DATA")
			require.Equal(t, 354, code)
			require.NoError(t, c.text.PrintfLine("%s.", tc.msg))
			code, lines := c.read()
			_, msgs := rec.snapshot()
			if tc.want == "" {
				assert.Equal(t, 554, code, lines)
				assert.Empty(t, msgs)
				return
			}
			require.Equal(t, 250, code, lines)
			require.Len(t, msgs, 1)
			assert.Equal(t, tc.want, msgs[0].data)
			assert.Equal(t, tc.wantTag, msgs[0].tag)
		})
	}
}
