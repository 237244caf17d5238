package requiretls

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// peer is a next hop of a given kind, on loopback.
type peer struct {
	addr string
	rec  *recorder
}

// startPeer runs a go-smtp server: wrapped (announces REQUIRETLS after TLS)
// or not, with STARTTLS (cert from pki) or without (pki nil), with DSN.
func startPeer(t *testing.T, pki *testpki.Localhost, wrapped bool) peer {
	t.Helper()
	rec := &recorder{}
	var s *smtp.Server
	if wrapped {
		s = NewServer(rec, nil)
	} else {
		s = smtp.NewServer(rec)
	}
	s.Domain = "mx.test"
	s.EnableDSN = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	if pki != nil {
		s.TLSConfig = pki.ServerConfig()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return peer{addr: l.Addr().String(), rec: rec}
}

// deliver dials p under a and, when allowed, sends one message.
func deliver(t *testing.T, d *Dialer, p peer, a policy.Attempt) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, p.addr, a)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	from := "a@example.org"
	if a.NullSender {
		from = ""
	}
	require.NoError(t, c.Mail(from, &smtp.MailOptions{Return: smtp.DSNReturnFull}))
	require.NoError(t, c.Rcpt("b@example.org", nil))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, body)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Quit())
	return c, nil
}

func TestDialer(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t) // a CA the client does not trust
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}

	reqtls := startPeer(t, pki, true)
	starttlsOnly := startPeer(t, pki, false)
	plaintext := startPeer(t, nil, false)
	untrusted := startPeer(t, other, true)

	required := func(level policy.Level) policy.Attempt {
		return policy.Attempt{Tag: policy.Required, Level: level, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.test"}
	}

	t.Run("R12-R16 all requirements met: sent with REQUIRETLS", func(t *testing.T) {
		c, err := deliver(t, d, reqtls, required(policy.Enforce))
		require.NoError(t, err)
		assert.Equal(t, policy.SendRequireTLS, c.Decision.Action)
		assert.Equal(t, "verify/requiretls", c.Field().String())
		assert.False(t, Offered(c.EHLO, handshakeDone), "not announced before TLS")
		assert.True(t, Offered(c.TLSEHLO, c.TLS))
		_, msgs := reqtls.rec.snapshot()
		require.Len(t, msgs, 1)
		assert.True(t, msgs[0].requireTLS, "the peer saw REQUIRETLS")
		assert.Equal(t, policy.Required, msgs[0].tag)
		assert.Equal(t, smtp.DSNReturnFull, msgs[0].ret, "no downgrade, the sender's RET stays")
	})
	t.Run("R16 enforce, no REQUIRETLS after TLS: bounce 5.7.30", func(t *testing.T) {
		_, err := deliver(t, d, starttlsOnly, required(policy.Enforce))
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.Bounce, pe.Decision.Action)
		assert.ErrorIs(t, err, ErrSupportRequired)
		assert.Equal(t, "verify/!requiretls:none", pe.Field().String())
		assert.Equal(t, "Sender requested REQUIRETLS, but no server was found that supports REQUIRETLS. The last attempted server was mx.test", pe.Decision.Reason())
		assert.Equal(t, 550, pe.Reply().Code)
		mails, _ := starttlsOnly.rec.snapshot()
		assert.Empty(t, mails, "nothing was sent")
	})
	t.Run("E19 enforce with more hosts: skip", func(t *testing.T) {
		a := required(policy.Enforce)
		a.MoreHosts = true
		_, err := deliver(t, d, starttlsOnly, a)
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.Skip, pe.Decision.Action)
	})
	t.Run("opportunistic+starttls downgrades with RET=HDRS", func(t *testing.T) {
		before := len(mustMessages(starttlsOnly))
		c, err := deliver(t, d, starttlsOnly, required(policy.OpportunisticSTARTTLS))
		require.NoError(t, err)
		assert.Equal(t, policy.SendWithout, c.Decision.Action)
		assert.Equal(t, "verify/requiretls:none", c.Field().String())
		msgs := mustMessages(starttlsOnly)
		require.Len(t, msgs, before+1)
		assert.False(t, msgs[before].requireTLS)
		assert.Equal(t, smtp.DSNReturnHeaders, msgs[before].ret, "Postfix Fix 20250825")
	})
	t.Run("R13 enforce without STARTTLS: bounce 5.7.30 nostarttls", func(t *testing.T) {
		_, err := deliver(t, d, plaintext, required(policy.Enforce))
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.CodeSupportRequired, pe.Decision.Code, "E18: Postfix uses 5.7.30 here")
		assert.Equal(t, "!verify/!requiretls:nostarttls", pe.Field().String(), "Postfix: the TLS level was violated too")
	})
	t.Run("opportunistic without STARTTLS: delivered, requiretls:none", func(t *testing.T) {
		a := required(policy.Opportunistic)
		a.Auth, a.TLSLevel = policy.AuthNone, tlsstatus.May
		c, err := deliver(t, d, plaintext, a)
		require.NoError(t, err)
		assert.Nil(t, c.TLS)
		assert.Equal(t, "may:none/requiretls:none", c.Field().String())
		msgs := mustMessages(plaintext)
		require.NotEmpty(t, msgs)
		assert.False(t, msgs[len(msgs)-1].requireTLS, "R13: never REQUIRETLS in the clear")
	})
	t.Run("R15 enforce, untrusted certificate: bounce 5.7.10 nocertmatch", func(t *testing.T) {
		_, err := deliver(t, d, untrusted, required(policy.Enforce))
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.ErrorIs(t, err, ErrEncryptionNeeded)
		assert.Equal(t, "!requiretls:nocertmatch", pe.Decision.Feature.String())
		assert.Error(t, pe.CertErr)
		mails, _ := untrusted.rec.snapshot()
		assert.Empty(t, mails)
	})
	t.Run("opportunistic, untrusted certificate: REQUIRETLS sent, nocertmatch", func(t *testing.T) {
		a := required(policy.Opportunistic)
		a.Auth, a.TLSLevel = policy.AuthNone, tlsstatus.May
		c, err := deliver(t, d, untrusted, a)
		require.NoError(t, err)
		assert.Equal(t, "may/requiretls:nocertmatch", c.Field().String())
	})
	// Postfix 3.11.6 (interop/MATRIX.md): the TLS security level holds
	// whatever the REQUIRETLS policy.
	t.Run("opportunistic at level verify, untrusted certificate: deferred 4.7.5", func(t *testing.T) {
		before := len(mustMessages(untrusted))
		_, err := deliver(t, d, untrusted, required(policy.Opportunistic))
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.Defer, pe.Decision.Action)
		assert.Equal(t, policy.CodeCryptoFailure, pe.Decision.Code)
		assert.Equal(t, "Server certificate not verified", pe.Decision.Reason())
		assert.Equal(t, "!verify/requiretls:nocertmatch", pe.Field().String())
		assert.Equal(t, 451, pe.Reply().Code)
		assert.Len(t, mustMessages(untrusted), before, "nothing was sent")
	})
	t.Run("untagged message at level verify, no STARTTLS: deferred 4.7.4", func(t *testing.T) {
		before := len(mustMessages(plaintext))
		_, err := deliver(t, d, plaintext, policy.Attempt{Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.test"})
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.CodeSecurityNotSupported, pe.Decision.Code)
		assert.Equal(t, "TLS is required, but was not offered by host mx.test", pe.Decision.Reason())
		assert.Equal(t, "!verify", pe.Field().String())
		assert.Len(t, mustMessages(plaintext), before, "nothing was sent")
	})
	t.Run("disable keeps the sender's RET", func(t *testing.T) {
		before := len(mustMessages(starttlsOnly))
		c, err := deliver(t, d, starttlsOnly, required(policy.Disable))
		require.NoError(t, err)
		assert.Equal(t, "verify", c.Field().String())
		msgs := mustMessages(starttlsOnly)
		require.Len(t, msgs, before+1)
		assert.Equal(t, smtp.DSNReturnFull, msgs[before].ret, "Postfix: RET=HDRS only above disable")
	})
	t.Run("E12 TLS-Required: No to an untrusted certificate: delivered", func(t *testing.T) {
		c, err := deliver(t, d, untrusted, policy.Attempt{Tag: policy.NotRequired, Host: "mx.test"})
		require.NoError(t, err)
		assert.True(t, c.Decision.CapTLS)
		assert.NotNil(t, c.TLS)
	})
	t.Run("E9 bounce to a server without REQUIRETLS under enforce: delivered", func(t *testing.T) {
		a := required(policy.Enforce)
		a.NullSender, a.TLSLevel = true, tlsstatus.May
		c, err := deliver(t, d, plaintext, a)
		require.NoError(t, err)
		assert.Equal(t, policy.SendWithout, c.Decision.Action)
	})
	t.Run("enforce without an authenticating TLS policy: bounce before connecting", func(t *testing.T) {
		a := required(policy.Enforce)
		a.Auth, a.TLSLevel = policy.AuthNone, tlsstatus.May
		_, err := deliver(t, d, reqtls, a)
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "may?/!requiretls:nocertmatch", pe.Field().String())
	})
}

func TestDialerImplicitTLSE22(t *testing.T) {
	pki := newTestPKI(t)
	addr, rec := startServer(t, pki, nil, true)
	d := &Dialer{TLSConfig: pki.ClientConfig(), ImplicitTLS: true}
	c, err := deliver(t, d, peer{addr: addr, rec: rec}, policy.Attempt{Tag: policy.Required, Auth: policy.AuthStaticPKIX, Host: "localhost"})
	require.NoError(t, err)
	assert.Equal(t, policy.SendRequireTLS, c.Decision.Action)
	assert.Nil(t, c.EHLO)
	assert.True(t, Offered(c.TLSEHLO, c.TLS))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 1)
	assert.Equal(t, policy.Required, msgs[0].tag)
}

func TestDialerUnexpectedData(t *testing.T) {
	// A server (or a man in the middle) that sends more than asked before
	// TLS: the session is abandoned, nothing is sent.
	addr := oneShotServer(t, func(c net.Conn) {
		io.WriteString(c, "220 mx.test\r\n250 injected\r\n")
		io.Copy(io.Discard, c)
	})
	d := &Dialer{}
	_, err := d.Dial(context.Background(), addr, policy.Attempt{Tag: policy.Required, Level: policy.Opportunistic})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "unexpected data"), err.Error())
}

func mustMessages(p peer) []message {
	_, msgs := p.rec.snapshot()
	return msgs
}

func TestDialerEndlessReply(t *testing.T) {
	// A server whose greeting never ends: the Dialer gives up after
	// maxReply bytes instead of buffering until the timeout.
	addr := oneShotServer(t, func(c net.Conn) {
		line := []byte("220-" + strings.Repeat("x", 70) + "\r\nno reply code here\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	_, err := (&Dialer{}).Dial(context.Background(), addr, policy.Attempt{Tag: policy.Required, Level: policy.Opportunistic})
	require.ErrorIs(t, err, errReplyTooLong)
}

// stallServer accepts one connection, plays script on it (TLS after a
// "STARTTLS" line when cfg is set), then signals stalled and reads until the
// client goes away, never answering again.
func stallServer(t *testing.T, cfg *tls.Config, implicit bool, script func(c net.Conn, r *bufio.Reader) net.Conn) (string, <-chan struct{}) {
	t.Helper()
	stalled := make(chan struct{})
	addr := oneShotServer(t, func(c net.Conn) {
		if implicit {
			c = tls.Server(c, cfg)
		}
		if script != nil {
			c = script(c, bufio.NewReader(c))
		}
		close(stalled)
		io.Copy(io.Discard, c)
	})
	return addr, stalled
}

// upToTLSEHLO greets, offers STARTTLS, starts TLS and reads the EHLO after it.
func upToTLSEHLO(cfg *tls.Config) func(c net.Conn, r *bufio.Reader) net.Conn {
	return func(c net.Conn, r *bufio.Reader) net.Conn {
		io.WriteString(c, "220 mx.test\r\n")
		r.ReadString('\n') // EHLO
		io.WriteString(c, "250-mx.test\r\n250 STARTTLS\r\n")
		r.ReadString('\n') // STARTTLS
		io.WriteString(c, "220 go ahead\r\n")
		tc := tls.Server(c, cfg)
		if tc.Handshake() != nil {
			return tc
		}
		bufio.NewReader(tc).ReadString('\n') // EHLO under TLS
		return tc
	}
}

func TestDialerCancelAfterTLS(t *testing.T) {
	// Cancelling ctx while the Dialer waits for the EHLO reply under TLS
	// ends Dial with the context's error, with no data race on the
	// connection the cancellation interrupts.
	pki := newTestPKI(t)
	addr, stalled := stallServer(t, pki.ServerConfig(), false, upToTLSEHLO(pki.ServerConfig()))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stalled; cancel() }()
	d := &Dialer{TLSConfig: pki.ClientConfig()}
	_, err := d.Dial(ctx, addr, policy.Attempt{Tag: policy.Required, Auth: policy.AuthStaticPKIX, Host: "localhost"})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestDialerImplicitTLSHandshakeTimeoutE22(t *testing.T) {
	// Timeout bounds the implicit TLS handshake too: a port 465 peer that
	// accepts and says nothing must not hold the Dialer until ctx ends.
	addr, _ := stallServer(t, nil, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &Dialer{ImplicitTLS: true, Timeout: 50 * time.Millisecond}
	_, err := d.Dial(ctx, addr, policy.Attempt{Tag: policy.Required, Level: policy.Opportunistic})
	require.Error(t, err)
	assert.NoError(t, ctx.Err(), "Dial returned only when ctx ended: %v", err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

func TestDialerHandOverSendsNothing(t *testing.T) {
	// The smtp.Client's EHLO at the hand-over is answered from the reply
	// the Dialer read and never sent: a server that stops answering after
	// the Dialer's EHLO does not hold Dial up.
	addr, _ := stallServer(t, nil, false, func(c net.Conn, r *bufio.Reader) net.Conn {
		io.WriteString(c, "220 mx.test\r\n")
		r.ReadString('\n') // EHLO
		io.WriteString(c, "250-mx.test\r\n250 8bitmime\r\n")
		return c
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := (&Dialer{Timeout: 50 * time.Millisecond}).Dial(ctx, addr, policy.Attempt{Level: policy.Opportunistic})
	require.NoError(t, err)
	defer c.Close()
	ok, _ := c.Client.Extension("8BITMIME")
	assert.True(t, ok, "the smtp.Client sees the Dialer's EHLO reply, keyword in upper case")
}

func TestDialerRepliesAreSMTPErrors(t *testing.T) {
	// A refusal read by the Dialer itself is an *smtp.SMTPError, like one
	// read by the smtp.Client after the hand-over.
	addr := oneShotServer(t, func(c net.Conn) {
		io.WriteString(c, "554 5.3.2 not accepting mail\r\n")
		io.Copy(io.Discard, c)
	})
	_, err := (&Dialer{}).Dial(context.Background(), addr, policy.Attempt{})
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 554, se.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 3, 2}, se.EnhancedCode)
	assert.Equal(t, "not accepting mail", se.Message)
}

func TestDialerCancelledErrorKeepsTheStage(t *testing.T) {
	// However the cancellation races with the read, the message starts
	// with the stage that was cut short, and the error wraps ctx.Err().
	addr := oneShotServer(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // never greets
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := (&Dialer{Timeout: 100 * time.Millisecond}).Dial(ctx, addr, policy.Attempt{})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "requiretls: greeting: "), err.Error())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
