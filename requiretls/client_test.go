package requiretls

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
)

// plainServer runs an unwrapped go-smtp server with STARTTLS and without
// REQUIRETLS, as most of today's Internet is.
func plainServer(t *testing.T, pki *testpki.Localhost) string {
	t.Helper()
	s := smtp.NewServer(&recorder{})
	s.Domain = "mx.test"
	s.TLSConfig = pki.ServerConfig()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

func TestCheckMail(t *testing.T) {
	pki := newTestPKI(t)
	withREQUIRETLS, _ := startServer(t, pki, nil, false)
	without := plainServer(t, pki)

	t.Run("R13 plaintext session gives 5.7.10", func(t *testing.T) {
		c, err := smtp.Dial(withREQUIRETLS)
		require.NoError(t, err)
		defer c.Close()
		assertRefused(t, CheckMail(c), ErrEncryptionNeeded) // 5.7.10, pinned in mail_test.go
	})
	t.Run("R16 STARTTLS and keyword after TLS", func(t *testing.T) {
		c, err := smtp.DialStartTLS(withREQUIRETLS, pki.ClientConfig())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, CheckMail(c))
		require.NoError(t, c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true}))
	})
	t.Run("R16 STARTTLS without keyword gives 5.7.30", func(t *testing.T) {
		c, err := smtp.DialStartTLS(without, pki.ClientConfig())
		require.NoError(t, err)
		defer c.Close()
		err = CheckMail(c)
		assert.ErrorIs(t, err, ErrSupportRequired)
		var se *smtp.SMTPError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 550, se.Code)
		// go-smtp's own refusal cannot be matched; ours can.
		goErr := c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true})
		require.Error(t, goErr)
		assert.False(t, errors.As(goErr, &se))
	})
}

func TestCheckMailImplicitTLSE22(t *testing.T) {
	pki := newTestPKI(t)
	addr, rec := startServer(t, pki, nil, true)
	c, err := smtp.DialTLS(addr, pki.ClientConfig())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, CheckMail(c))
	require.NoError(t, c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader(body)))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 1)
}

// R15 (RFC 8689 Section 4.2.1 steps 3 and 4): CheckMail says yes only when
// the handshake completed and the server's chain was verified for its name.
func TestCheckMailNeedsAnAuthenticatedServer(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t) // a CA the client does not trust
	addr, rec := startServer(t, other, nil, false)

	t.Run("InsecureSkipVerify: 5.7.10", func(t *testing.T) {
		c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
		require.NoError(t, err)
		defer c.Close()
		assertRefused(t, CheckMail(c), ErrEncryptionNeeded) // 5.7.10, pinned in mail_test.go
	})
	t.Run("failed handshake: 5.7.10, not 5.7.30", func(t *testing.T) {
		// go-smtp starts the handshake lazily, at the first command after
		// STARTTLS, and its Extension hides the error.
		c, err := smtp.DialStartTLS(addr, pki.ClientConfig())
		require.NoError(t, err)
		defer c.Close()
		err = CheckMail(c)
		assert.ErrorIs(t, err, ErrEncryptionNeeded)
		assert.NotErrorIs(t, err, ErrSupportRequired)
	})
	mails, _ := rec.snapshot()
	assert.Empty(t, mails)
}
