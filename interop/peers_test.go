//go:build interop

package interop

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raw is a bare SMTP client that sends exactly what it is told. Unlike go-smtp's
// client it sends REQUIRETLS whether or not the server announced it, which is
// how this file checks what each peer does on its own.
type raw struct {
	t    *testing.T
	conn net.Conn
	text *textproto.Conn
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	r := &raw{t: t, conn: conn, text: textproto.NewConn(conn)}
	t.Cleanup(func() { r.text.Close() })
	code, _ := r.reply()
	require.Equal(t, 220, code, "greeting")
	return r
}

// reply reads one (possibly multi-line) reply; the lines exclude the code.
func (r *raw) reply() (int, []string) {
	r.t.Helper()
	var lines []string
	for {
		l, err := r.text.ReadLine()
		require.NoError(r.t, err)
		require.GreaterOrEqual(r.t, len(l), 3, "reply line %q", l)
		lines = append(lines, strings.TrimPrefix(l[3:], "-"))
		if len(l) == 3 || l[3] != '-' {
			var code int
			for _, c := range l[:3] {
				code = code*10 + int(c-'0')
			}
			return code, lines
		}
	}
}

func (r *raw) cmd(line string) (int, []string) {
	r.t.Helper()
	require.NoError(r.t, r.text.PrintfLine("%s", line))
	return r.reply()
}

func (r *raw) startTLS() {
	r.t.Helper()
	code, _ := r.cmd("STARTTLS")
	require.Equal(r.t, 220, code, "STARTTLS")
	tc := tls.Client(r.conn, clientTLS(r.t))
	require.NoError(r.t, tc.Handshake())
	r.conn, r.text = tc, textproto.NewConn(tc)
}

// quit ends the session and closes the connection, so the peer logs the end.
func (r *raw) quit() {
	r.t.Helper()
	code, _ := r.cmd("QUIT")
	assert.Equal(r.t, 221, code, "QUIT")
	r.text.Close()
}

func hasKeyword(ehlo []string, kw string) bool {
	for _, l := range ehlo[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], kw) {
			return true
		}
	}
	return false
}

// TestPeerBaseline pins down, without any of our code involved, the behaviour of
// each server peer that the other tests rely on (spec/interop-peers.md §3): who
// offers STARTTLS, who announces REQUIRETLS after it (RFC 8689 Section 2), and
// what each answers to "MAIL FROM:<..> REQUIRETLS". It is what makes the
// "lenient peer" tests meaningful: Haraka and smtp-server in default mode accept
// the parameter, so when our sender does not deliver there, our own check did it.
func TestPeerBaseline(t *testing.T) {
	tests := []struct {
		peer          peer
		starttls      bool
		announces     bool // REQUIRETLS in the EHLO after STARTTLS
		mailCode      int  // reply to MAIL FROM:<..> REQUIRETLS
		mailReplyText string
	}{
		{smtpServerRequireTLS(), true, true, 250, "Accepted"},
		{smtpServerStartTLS(), true, false, 250, "Accepted"},
		{smtpServerPlain(), false, false, 530, "REQUIRETLS not permitted on non-TLS connections"},
		{aiosmtpdStartTLS(), true, false, 555, "MAIL FROM parameters not recognized"},
		{aiosmtpdPlain(), false, false, 555, "MAIL FROM parameters not recognized"},
		{haraka(), true, false, 250, "OK"},
		{exim(), true, false, 501, "REQUIRETLS may not follow"},
	}
	for _, tc := range tests {
		t.Run(tc.peer.Name, func(t *testing.T) {
			announced := "not announced"
			if tc.announces {
				announced = "announced after STARTTLS"
			}
			steps := "EHLO; MAIL REQUIRETLS"
			if tc.starttls {
				steps = "EHLO; STARTTLS; EHLO; MAIL REQUIRETLS"
			}
			expect(t, tc.peer, probe, steps, fmt.Sprintf("REQUIRETLS %s; MAIL ... REQUIRETLS answered %d %s",
				announced, tc.mailCode, tc.mailReplyText))
			helo := heloName(t)
			r := dialRaw(t, tc.peer.Addr)
			code, ehlo := r.cmd("EHLO " + helo)
			require.Equal(t, 250, code)
			assert.Equal(t, tc.starttls, hasKeyword(ehlo, "STARTTLS"), "STARTTLS offered")
			assert.False(t, hasKeyword(ehlo, "REQUIRETLS"), "REQUIRETLS announced before TLS (RFC 8689 Section 2)")
			if tc.starttls {
				r.startTLS()
				code, ehlo = r.cmd("EHLO " + helo)
				require.Equal(t, 250, code)
				assert.Equal(t, tc.announces, hasKeyword(ehlo, "REQUIRETLS"), "REQUIRETLS announced after STARTTLS")
			}
			code, reply := r.cmd("MAIL FROM:<baseline@example.org> REQUIRETLS")
			assert.Equal(t, tc.mailCode, code, "reply to MAIL ... REQUIRETLS: %q", reply)
			assert.Contains(t, strings.Join(reply, " "), tc.mailReplyText)
			r.quit()

			s := tc.peer.session(t, helo)
			assert.Equal(t, []string{"MAIL FROM:<baseline@example.org> REQUIRETLS"}, s.Mail,
				"the peer's own log shows the MAIL command it received")
		})
	}
}
