package requiretls

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// R11: the ABNF of RFC 8689 Section 2: requiretls-param = "REQUIRETLS", an
// esmtp-param of Mail-parameters (RFC 5321 Section 4.1.2) with no
// esmtp-value.
func TestR11RequireTLSParamABNF(t *testing.T) {
	for _, tc := range []struct {
		name       string
		line       string
		requireTLS bool
		err        error
	}{
		{"R11 among other Mail-parameters", "MAIL FROM:<a@example.org> SIZE=10 REQUIRETLS BODY=8BITMIME", true, nil},
		{"R11 case-insensitive literal", "MAIL FROM:<a@example.org> rEqUiReTlS", true, nil},
		{"R11 a longer keyword is another parameter", "MAIL FROM:<a@example.org> REQUIRETLSX", false, nil},
		{"R11 a prefixed keyword is another parameter", "MAIL FROM:<a@example.org> X-REQUIRETLS", false, nil},
		{"R11 no esmtp-value, not even an empty one", "MAIL FROM:<a@example.org> REQUIRETLS=", false, ErrParam},
		{"R11 no esmtp-value", "MAIL FROM:<a@example.org> REQUIRETLS=NO", false, ErrValue},
		{"R11 not spelled with a space", "MAIL FROM:<a@example.org> REQUIRE TLS", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMail(tc.line)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.requireTLS, m.RequireTLS())
		})
	}
}

// R6 R53: the registry entry of RFC 8689 Section 7. The EHLO keyword is
// REQUIRETLS with no parameters, there is no new verb, the parameter is
// defined on MAIL only, and it adds 11 characters to the command length.
func TestR53RegistryEntryOnTheWire(t *testing.T) {
	assert.Equal(t, "Require TLS", ExtensionName, "R53 description")
	assert.Equal(t, 11, LineIncrement, "R53 command length increment")

	pki := newTestPKI(t)
	addr, rec := startServer(t, pki, nil, false)
	c := dialRaw(t, addr, nil)
	c.cmd("EHLO client.test")
	c.startTLS(pki.ClientConfig())
	_, lines := c.cmd("EHLO client.test")
	var kw []string
	for _, l := range lines[1:] {
		if strings.EqualFold(strings.Fields(l)[0], Keyword) {
			kw = append(kw, l)
		}
	}
	assert.Equal(t, []string{"REQUIRETLS"}, kw, "R53 one EHLO line, no parameters")

	code, _ := c.cmd("REQUIRETLS")
	assert.GreaterOrEqual(t, code, 500, "R6 no REQUIRETLS verb")
	assert.Less(t, code, 503, "R6 answered as an unknown command")

	code, lines = c.cmd("MAIL FROM:<a@example.org> REQUIRETLS")
	require.Equal(t, 250, code, lines)
	code, _ = c.cmd("RCPT TO:<b@example.org> REQUIRETLS")
	assert.GreaterOrEqual(t, code, 500, "R53 the parameter is not defined on RCPT")
	mails, _ := rec.snapshot()
	assert.Len(t, mails, 1)
}

// R26: the tag belongs to the message, not to a recipient: a message for
// several recipients is tagged once, and every recipient's copy has that tag.
func TestR26OneTagPerMessage(t *testing.T) {
	pki := newTestPKI(t)
	addr, rec := startServer(t, pki, nil, false)
	c, err := smtp.DialStartTLS(addr, pki.ClientConfig())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, CheckMail(c))
	require.NoError(t, c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true}))
	for _, to := range []string{"b@example.org", "list@example.org", "c@example.net"} {
		require.NoError(t, c.Rcpt(to, nil))
	}
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, header.LineTLSRequiredNo+"\r\n"+body)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].tagged)
	assert.Equal(t, policy.Required, msgs[0].tag, "R26 R25 one tag, REQUIRETLS wins over the header")
}

// R39 R40: an agent making the initial submission that requires TLS does so
// by STARTTLS, REQUIRETLS in the EHLO after it, and the MAIL parameter, and
// sends nothing when it cannot; one that does not require TLS adds
// TLS-Required: No, which the receiving server interprets (Section 4.1).
func TestR39R40Submission(t *testing.T) {
	pki := newTestPKI(t)
	addr, rec := startServer(t, pki, nil, false)
	noTLS := startPeer(t, nil, true)

	t.Run("R39 TLS required: STARTTLS, REQUIRETLS, MAIL parameter", func(t *testing.T) {
		c, err := smtp.DialStartTLS(addr, pki.ClientConfig())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, CheckMail(c))
		require.NoError(t, c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true}))
		require.NoError(t, c.Rcpt("b@example.org", nil))
		w, err := c.Data()
		require.NoError(t, err)
		_, err = io.WriteString(w, body)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		_, msgs := rec.snapshot()
		require.NotEmpty(t, msgs)
		assert.True(t, msgs[len(msgs)-1].requireTLS)
		assert.Equal(t, policy.Required, msgs[len(msgs)-1].tag)
	})
	t.Run("R39 TLS required, server without STARTTLS: nothing sent", func(t *testing.T) {
		c, err := smtp.Dial(noTLS.addr)
		require.NoError(t, err)
		defer c.Close()
		assert.ErrorIs(t, CheckMail(c), ErrEncryptionNeeded)
		mails, _ := noTLS.rec.snapshot()
		assert.Empty(t, mails)
	})
	t.Run("R40 TLS not required: the header field, read by the server", func(t *testing.T) {
		msg, err := header.SetRaw([]byte(body), header.LineTLSRequiredNo)
		require.NoError(t, err)
		c, err := smtp.Dial(noTLS.addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SendMail("a@example.org", []string{"b@example.org"}, bytes.NewReader(msg)))
		msgs := mustMessages(noTLS)
		require.Len(t, msgs, 1)
		assert.Equal(t, policy.NotRequired, msgs[0].tag)
	})
}

// R28: TLS negotiation follows RFC 7525 and its successor (RFC 9325: no TLS
// 1.0 or 1.1). With the Dialer's defaults a server that speaks only TLS 1.1
// gets no REQUIRETLS message; the server does speak TLS 1.1, as the control
// handshake shows. A TLSConfig that lowers MinVersion is the caller's choice.
func TestR28NoLegacyTLS(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	s := NewServer(rec, nil)
	s.Domain = "mx.test"
	s.ErrorLog = log.New(io.Discard, "", 0)
	s.TLSConfig = pki.ServerConfig()
	s.TLSConfig.MinVersion, s.TLSConfig.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })

	legacy := pki.ClientConfig()
	legacy.MinVersion = tls.VersionTLS10
	c := dialRaw(t, l.Addr().String(), nil)
	c.cmd("EHLO client.test")
	c.startTLS(legacy) // control: the server completes a TLS 1.1 handshake
	require.Equal(t, uint16(tls.VersionTLS11), c.conn.(*tls.Conn).ConnectionState().Version)

	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	_, err = d.Dial(context.Background(), l.Addr().String(), policy.Attempt{
		Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, Host: "mx.test",
	})
	var pe *PolicyError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, policy.Defer, pe.Decision.Action, "R28 no TLS 1.1 session for REQUIRETLS")
	assert.Equal(t, policy.CodeCryptoFailure, pe.Decision.Code)
	mails, _ := rec.snapshot()
	assert.Empty(t, mails)
}

// E15: a DANE-EE(3) match authenticates the server whatever names the
// certificate holds and whatever its validity dates (RFC 7671 Section 5.1),
// and counts as the name match of RFC 8689 Section 4.2.1 step 4. The caller
// expresses DANE through TLSConfig.VerifyConnection.
func TestE15DANEEEIgnoresNameAndDates(t *testing.T) {
	ca, err := testpki.NewCA("e15 CA")
	require.NoError(t, err)
	expired, err := ca.Issue(time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "localhost")
	require.NoError(t, err)
	p := startPeer(t, &testpki.Localhost{Roots: ca.Pool, Server: expired}, true)

	leaf, err := x509.ParseCertificate(expired.Certificate[0])
	require.NoError(t, err)
	pin := sha256.Sum256(leaf.RawSubjectPublicKeyInfo) // TLSA 3 1 1
	daneEE := func(pin [32]byte) func(tls.ConnectionState) error {
		return func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 && sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo) == pin {
				return nil
			}
			return errors.New("no TLSA record matches")
		}
	}
	a := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthDANE, TLSLevel: tlsstatus.DANE, Host: "mx.dane.example"}

	t.Run("E15 DANE-EE match: sent with REQUIRETLS", func(t *testing.T) {
		d := &Dialer{TLSConfig: &tls.Config{ServerName: "mx.dane.example", VerifyConnection: daneEE(pin)}}
		c, err := deliver(t, d, p, a)
		require.NoError(t, err)
		assert.Equal(t, policy.SendRequireTLS, c.Decision.Action)
		assert.Equal(t, policy.CertAuthenticated, c.Attempt.Cert)
	})
	t.Run("E15 control: PKIX rejects the same certificate", func(t *testing.T) {
		d := &Dialer{TLSConfig: &tls.Config{ServerName: "mx.dane.example", RootCAs: ca.Pool}}
		_, err := deliver(t, d, p, a)
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.CodeEncryptionNeeded, pe.Decision.Code)
	})
	t.Run("E15 control: no TLSA match", func(t *testing.T) {
		d := &Dialer{TLSConfig: &tls.Config{ServerName: "mx.dane.example", VerifyConnection: daneEE([32]byte{1})}}
		_, err := deliver(t, d, p, a)
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "!requiretls:nocertmatch", pe.Decision.Feature.String())
	})
	assert.Len(t, mustMessages(p), 1)
}

// E24: RFC 8689 Appendix A.1 shows "S: TLS go ahead" with no reply code.
// That is not a valid reply (RFC 3207 Section 4: "220 Ready to start TLS");
// the Dialer must not start TLS on it, let alone send the message.
func TestE24TLSGoAheadIsNotAReply(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	after := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			after <- nil
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		io.WriteString(c, "220 mail.example.net ESMTP\r\n")
		r.ReadString('\n') // EHLO
		io.WriteString(c, "250-mail.example.net Hello\r\n250-STARTTLS\r\n250 REQUIRETLS\r\n")
		r.ReadString('\n') // STARTTLS
		io.WriteString(c, "TLS go ahead\r\n")
		rest, _ := io.ReadAll(r) // until the Dialer closes the connection
		after <- rest
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // only bounds a regression
	defer cancel()
	d := &Dialer{TLSConfig: &tls.Config{ServerName: "mail.example.net"}}
	conn, err := d.Dial(ctx, l.Addr().String(), policy.Attempt{
		Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, Host: "mail.example.net",
	})
	require.Error(t, err)
	assert.Nil(t, conn)
	rest := <-after
	assert.False(t, len(rest) > 0 && rest[0] == 0x16, "E24 no TLS ClientHello after a reply without a code: %q", rest)
	assert.NotContains(t, string(rest), "MAIL FROM")
}

// R48 R44 R49: a DSN composed by package dsn goes out with MAIL FROM:<>.
// With Postfix's default it carries no REQUIRETLS; with KeepRequireTLS it
// does where the next hop offers it, and is still delivered where it does
// not, because the reverse path is empty.
func TestR48DSNSentWithEmptyReversePath(t *testing.T) {
	pki := newTestPKI(t)
	withRT := startPeer(t, pki, true)
	withoutRT := startPeer(t, pki, false)
	when := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	const secret = "the body nobody may see"

	for _, tc := range []struct {
		name       string
		keep       bool
		p          peer
		requireTLS bool
	}{
		{"R48 redacted DSN, no REQUIRETLS", false, withRT, false},
		{"R48 R44 kept REQUIRETLS where offered", true, withRT, true},
		{"R48 R49 kept REQUIRETLS, next hop without it: still delivered", true, withoutRT, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			env, err := dsn.Compose(&out, &dsn.Report{
				From: "MAILER-DAEMON@mx.test", To: "a@example.org", Date: when, ReportingMTA: "dns; mx.test",
				Recipients: []dsn.Recipient{{FinalRecipient: "rfc822;b@example.org", Action: dsn.ActionFailed, Status: "5.7.30"}},
				RequireTLS: true, Ret: dsn.RetFull, KeepRequireTLS: tc.keep, Boundary: "b",
			}, strings.NewReader("Subject: s\r\n\r\n"+secret+"\r\n"))
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d := &Dialer{LocalName: "mx.test", TLSConfig: pki.ClientConfig()}
			c, err := d.Dial(ctx, tc.p.addr, policy.Attempt{
				Tag: policy.Signals{RequireTLS: env.RequireTLS}.Tag(), NullSender: true, Level: policy.Enforce,
				Auth: policy.AuthStaticPKIX, Host: "mx.test",
			})
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.Mail("", nil))
			require.NoError(t, c.Rcpt("a@example.org", nil))
			w, err := c.Data()
			require.NoError(t, err)
			_, err = w.Write(out.Bytes())
			require.NoError(t, err)
			require.NoError(t, w.Close())

			msgs := mustMessages(tc.p)
			require.NotEmpty(t, msgs)
			got := msgs[len(msgs)-1]
			assert.Equal(t, "", got.from, "R48 empty reverse path")
			assert.Equal(t, tc.requireTLS, got.requireTLS)
			assert.Equal(t, smtp.DSNReturn(""), got.ret, "RFC 3461 Section 6.1: no RET on a DSN")
			assert.NotContains(t, got.data, secret)
		})
	}
}
