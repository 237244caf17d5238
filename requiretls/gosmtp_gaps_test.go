package requiretls

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The gaps in go-smtp (v0.26.0) that this package's docs describe and its
// glue closes, each pinned on go-smtp alone: when an upgrade closes one,
// its subtest fails, and the doc (and the glue's workaround) can go.
func TestGoSMTPGaps(t *testing.T) {
	pki := newTestPKI(t)

	// An unwrapped go-smtp server with REQUIRETLS enabled, as NewServer
	// sets it up but without the glue.
	rec := &recorder{}
	s := smtp.NewServer(rec)
	s.Domain = "mx.test"
	s.EnableREQUIRETLS = true
	s.TLSConfig = pki.ServerConfig()
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	addr := l.Addr().String()

	t.Run("E5 server: REQUIRETLS accepted on a session without TLS", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		c.cmd("EHLO client.test")
		code, _ := c.cmd("MAIL FROM:<a@example.org> REQUIRETLS")
		assert.Equal(t, 250, code, "the glue answers 523 5.7.10 (ErrEncryptionNeeded)")
	})
	t.Run("E4 server: the value of REQUIRETLS=YES is dropped", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		c.cmd("EHLO client.test")
		c.startTLS(pki.ClientConfig())
		c.cmd("EHLO client.test")
		code, _ := c.cmd("MAIL FROM:<e4@example.org> REQUIRETLS=YES")
		assert.Equal(t, 250, code, "RFC 8689 Section 2 gives the parameter no value; ParseMail refuses it")
	})
	t.Run("R5 client: EHLO keywords are looked up as sent", func(t *testing.T) {
		addr := oneShotServer(t, func(c net.Conn) {
			r := bufio.NewReader(c)
			io.WriteString(c, "220 mx.test\r\n")
			r.ReadString('\n')
			io.WriteString(c, "250-mx.test\r\n250 requiretls\r\n")
			r.ReadString('\n')
		})
		c, err := smtp.Dial(addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Hello("client.test"))
		ok, _ := c.Extension("REQUIRETLS")
		assert.False(t, ok, "the Dialer hands go-smtp the keywords in upper case (canonicalEHLO)")
	})
	t.Run("client: a missing REQUIRETLS is a plain error", func(t *testing.T) {
		c, err := smtp.Dial(addr)
		require.NoError(t, err)
		defer c.Close()
		err = c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true})
		require.Error(t, err)
		var se *smtp.SMTPError
		assert.False(t, errors.As(err, &se), "CheckMail and Conn.Mail return 5.7.30 or 5.7.10 replies")
	})
	// go-smtp also has no way to start a client on a greeted session, and
	// runs the Data of BDAT on a goroutine that may outlive its transaction
	// (conn.go handleBdat, unchanged in v0.26.0): see the server glue's
	// session.mu and TestServerBDATResetRace.
	t.Run("client: TLS only seen through a *tls.Conn", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		wrapped := struct{ net.Conn }{tls.Client(a, pki.ClientConfig())}
		_, ok := smtp.NewClient(wrapped).TLSConnectionState()
		assert.False(t, ok, "why Conn.Client cannot report the Dialer's TLS session (Conn.TLSConnectionState does)")
	})
}
