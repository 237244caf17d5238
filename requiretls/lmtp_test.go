package requiretls

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"maps"
	"net"
	"net/textproto"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// lmtpStore is an LMTP message store: it delivers to every recipient but
// full@ ones, which it refuses after DATA (RFC 2033 Section 4.2).
type lmtpStore struct {
	mu    sync.Mutex
	mails []message // MAIL FROM and its REQUIRETLS, RET, and the data
}

func (s *lmtpStore) NewSession(*smtp.Conn) (smtp.Session, error) { return &storeSession{s: s}, nil }

type storeSession struct {
	s     *lmtpStore
	cur   message
	rcpts []string
}

var errMailboxFull = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}

func (s *storeSession) Mail(from string, opts *smtp.MailOptions) error {
	s.cur, s.rcpts = message{from: from, requireTLS: opts.RequireTLS, ret: opts.Return}, nil
	return nil
}
func (s *storeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *storeSession) Data(io.Reader) error { return errors.New("LMTPData is used") }
func (s *storeSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = string(b)
	s.s.mu.Lock()
	s.s.mails = append(s.s.mails, s.cur)
	s.s.mu.Unlock()
	for _, rcpt := range s.rcpts {
		if strings.HasPrefix(rcpt, "full@") {
			status.SetStatus(rcpt, errMailboxFull)
		} else {
			status.SetStatus(rcpt, nil)
		}
	}
	return nil
}
func (s *storeSession) Reset()        {}
func (s *storeSession) Logout() error { return nil }

func (s *lmtpStore) snapshot() []message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message(nil), s.mails...)
}

// startLMTP runs an LMTP server (go-smtp with LMTP set, wrapped by
// NewServer) on l, with STARTTLS when pki is not nil.
func startLMTP(t *testing.T, l net.Listener, pki *testpki.Localhost) *lmtpStore {
	t.Helper()
	store := &lmtpStore{}
	s := NewServer(store, nil)
	s.LMTP = true
	s.Domain = "store.test"
	s.EnableDSN = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	if pki != nil {
		s.TLSConfig = pki.ServerConfig()
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return store
}

// unixLMTP runs an LMTP server without TLS on a UNIX-domain socket and
// returns the address to dial, "unix:/path".
func unixLMTP(t *testing.T) (string, *lmtpStore) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	return "unix:" + path, startLMTP(t, l, nil)
}

// tcpLMTP runs an LMTP server on loopback TCP, with STARTTLS when pki is
// not nil.
func tcpLMTP(t *testing.T, pki *testpki.Localhost) (string, *lmtpStore) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l.Addr().String(), startLMTP(t, l, pki)
}

// deliverLMTP dials addr under a and, when allowed, sends one message to
// ok@store.test and full@store.test, returning the per-recipient replies.
func deliverLMTP(t *testing.T, d *Dialer, addr string, a policy.Attempt) (*Conn, map[string]LMTPReply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr, a)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	require.NoError(t, c.Mail("a@example.org", &smtp.MailOptions{Return: smtp.DSNReturnFull}))
	require.NoError(t, c.Rcpt("ok@store.test", nil))
	require.NoError(t, c.Rcpt("full@store.test", nil))
	replies, err := c.LMTPData(strings.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, c.Quit())
	return c, replies, nil
}

// assertPerRecipient checks that the store delivered to ok@ and refused
// full@ after DATA, and that the caller can tell which.
func assertPerRecipient(t *testing.T, replies map[string]LMTPReply) {
	t.Helper()
	require.Len(t, replies, 2)
	assert.NoError(t, replies["ok@store.test"].Err)
	assert.NotEmpty(t, replies["ok@store.test"].Text, "the 250 reply's text, for the log")
	assert.Empty(t, replies["full@store.test"].Text)
	var se *smtp.SMTPError
	require.ErrorAs(t, replies["full@store.test"].Err, &se)
	assert.Equal(t, 552, se.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 2, 2}, se.EnhancedCode)
}

// TestDialerLMTPUnixSocket: LMTP (RFC 2033) over a UNIX-domain socket,
// which offers no STARTTLS. A message that did not ask for REQUIRETLS goes
// in plaintext; a Required one (R12-R16) is refused under enforce and goes
// without REQUIRETLS, with RET=HDRS, under opportunistic, Postfix's
// default lmtp_requiretls_policy.
func TestDialerLMTPUnixSocket(t *testing.T) {
	d := &Dialer{LocalName: "client.test", LMTP: true}

	t.Run("untagged message, per-recipient replies", func(t *testing.T) {
		addr, store := unixLMTP(t)
		c, replies, err := deliverLMTP(t, d, addr, policy.Attempt{Host: "store.test"})
		require.NoError(t, err)
		assertPerRecipient(t, replies)
		assert.Equal(t, policy.SendWithout, c.Decision.Action)
		assert.Equal(t, "may:none", c.Field().String())
		assert.Nil(t, c.TLS)
		msgs := store.snapshot()
		require.Len(t, msgs, 1)
		assert.Equal(t, "a@example.org", msgs[0].from)
		assert.Contains(t, msgs[0].data, "Subject:")
	})
	t.Run("R12 enforce, server cannot be authenticated: 5.7.10 before connecting", func(t *testing.T) {
		addr, store := unixLMTP(t)
		_, _, err := deliverLMTP(t, d, addr, policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Host: "store.test"})
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.BeforeConnect, pe.Attempt.Stage)
		assert.ErrorIs(t, err, ErrEncryptionNeeded)
		assert.Empty(t, store.snapshot())
	})
	t.Run("R13 enforce, no STARTTLS on the socket: 5.7.30", func(t *testing.T) {
		addr, store := unixLMTP(t)
		_, _, err := deliverLMTP(t, d, addr, policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, Host: "store.test"})
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.Bounce, pe.Decision.Action)
		assert.ErrorIs(t, err, ErrSupportRequired)
		assert.Equal(t, "may?/!requiretls:nostarttls", pe.Field().String())
		assert.Empty(t, store.snapshot())
	})
	t.Run("opportunistic: sent without REQUIRETLS, RET=HDRS", func(t *testing.T) {
		addr, store := unixLMTP(t)
		c, replies, err := deliverLMTP(t, d, addr, policy.Attempt{Tag: policy.Required, Level: policy.Opportunistic, Host: "store.test"})
		require.NoError(t, err)
		assertPerRecipient(t, replies)
		assert.Equal(t, policy.SendWithout, c.Decision.Action)
		assert.Equal(t, "may:none/requiretls:none", c.Field().String())
		msgs := store.snapshot()
		require.Len(t, msgs, 1)
		assert.False(t, msgs[0].requireTLS)
		assert.Equal(t, smtp.DSNReturnHeaders, msgs[0].ret)
	})
	t.Run("an explicit REQUIRETLS request is refused, not dropped", func(t *testing.T) {
		addr, store := unixLMTP(t)
		c, err := dialPeer(t, d, addr, policy.Attempt{Tag: policy.Required, Level: policy.Opportunistic, Host: "store.test"})
		require.NoError(t, err)
		err = c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true})
		assert.ErrorIs(t, err, ErrEncryptionNeeded, "5.7.10: no TLS on the socket")
		assert.Empty(t, store.snapshot())
	})
}

// TestDialerLMTPSTARTTLS: LMTP over TCP with STARTTLS: a Required message
// under enforce goes with REQUIRETLS (R12-R16), the server's per-recipient
// replies reach the caller, and the tls= field is that of SMTP.
func TestDialerLMTPSTARTTLS(t *testing.T) {
	pki := newTestPKI(t)
	d := &Dialer{LocalName: "client.test", LMTP: true, TLSConfig: pki.ClientConfig()}
	addr, store := tcpLMTP(t, pki)

	a := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "store.test"}
	c, replies, err := deliverLMTP(t, d, addr, a)
	require.NoError(t, err)
	assertPerRecipient(t, replies)
	assert.Equal(t, policy.SendRequireTLS, c.Decision.Action)
	assert.Equal(t, "verify/requiretls", c.Field().String())
	assert.NotNil(t, c.TLS)
	assert.True(t, Offered(c.TLSEHLO, c.TLS), "REQUIRETLS in the LHLO reply after TLS")
	assert.False(t, Offered(c.EHLO, handshakeDone), "not announced before TLS")
	msgs := store.snapshot()
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].requireTLS, "the store saw REQUIRETLS")
	assert.Equal(t, smtp.DSNReturnFull, msgs[0].ret)
}

// TestDialerLMTPPlaintextTCP: R13, an LMTP server on TCP without STARTTLS
// gets no Required message under enforce (5.7.30), nothing sent.
func TestDialerLMTPPlaintextTCP(t *testing.T) {
	addr, store := tcpLMTP(t, nil)
	d := &Dialer{LMTP: true}
	a := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "store.test"}
	_, _, err := deliverLMTP(t, d, addr, a)
	var pe *PolicyError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, ErrSupportRequired)
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, smtp.EnhancedCode{5, 7, 30}, se.EnhancedCode)
	assert.Equal(t, "!verify/!requiretls:nostarttls", pe.Field().String())
	assert.Empty(t, store.snapshot())
}

// TestDialerLMTPDuplicateRcpt: the replies after DATA pair with RCPT by
// order only (RFC 2033 Section 4.2); a recipient given twice would make
// them ambiguous, so Rcpt refuses it and sends nothing.
func TestDialerLMTPDuplicateRcpt(t *testing.T) {
	addr, store := unixLMTP(t)
	c, err := dialPeer(t, &Dialer{LMTP: true}, addr, policy.Attempt{Host: "store.test"})
	require.NoError(t, err)
	require.NoError(t, c.Mail("a@example.org", nil))
	require.NoError(t, c.Rcpt("ok@store.test", nil))
	assert.ErrorIs(t, c.Rcpt("ok@store.test", nil), errDuplicateRcpt)
	replies, err := c.LMTPData(strings.NewReader(body))
	require.NoError(t, err)
	assert.Equal(t, []string{"ok@store.test"}, slices.Collect(maps.Keys(replies)))
	assert.NoError(t, replies["ok@store.test"].Err)

	// A new transaction starts with no recipients.
	require.NoError(t, c.Mail("a@example.org", nil))
	require.NoError(t, c.Rcpt("ok@store.test", nil))
	replies, err = c.LMTPData(strings.NewReader(body))
	require.NoError(t, err)
	assert.Equal(t, []string{"ok@store.test"}, slices.Collect(maps.Keys(replies)))
	assert.NoError(t, replies["ok@store.test"].Err)
	assert.Len(t, store.snapshot(), 2)
}

// TestDialerLMTPLostReply: when the connection fails after the first
// reply, the recipient without one is reported with the error (delivery
// unknown), not as delivered.
func TestDialerLMTPLostReply(t *testing.T) {
	addr := oneShotServer(t, func(c net.Conn) {
		r := textproto.NewReader(bufio.NewReader(c))
		io.WriteString(c, "220 store.test LMTP\r\n")
		// LHLO, MAIL, RCPT, RCPT, DATA.
		for _, reply := range []string{"250 store.test\r\n", "250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n"} {
			if _, err := r.ReadLine(); err != nil {
				return
			}
			io.WriteString(c, reply)
		}
		for {
			line, err := r.ReadLine()
			if err != nil {
				return
			}
			if line == "." {
				break
			}
		}
		io.WriteString(c, "250 2.0.0 delivered\r\n") // then hang up: no reply for two@
	})
	c, err := dialPeer(t, &Dialer{LMTP: true}, addr, policy.Attempt{Host: "store.test"})
	require.NoError(t, err)
	require.NoError(t, c.Mail("a@example.org", nil))
	require.NoError(t, c.Rcpt("one@store.test", nil))
	require.NoError(t, c.Rcpt("two@store.test", nil))
	replies, err := c.LMTPData(strings.NewReader(body))
	require.Error(t, err)
	require.Len(t, replies, 2)
	assert.Equal(t, LMTPReply{Text: "2.0.0 delivered"}, replies["one@store.test"])
	assert.ErrorIs(t, replies["two@store.test"].Err, err)
}

// TestLMTPDataOnSMTPSession: LMTPData needs an LMTP session; on SMTP it
// sends nothing.
func TestLMTPDataOnSMTPSession(t *testing.T) {
	p := startPeer(t, nil, true)
	c, err := dialPeer(t, &Dialer{}, p.addr, policy.Attempt{Host: "mx.test"})
	require.NoError(t, err)
	_, err = c.LMTPData(strings.NewReader(body))
	assert.ErrorIs(t, err, errNotLMTP)
}

// TestDialerUnixAddress: "unix:" with no path is refused before dialling.
func TestDialerUnixAddress(t *testing.T) {
	dialled := false
	d := &Dialer{LMTP: true, DialContext: func(context.Context, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("not reached")
	}}
	_, err := d.Dial(context.Background(), "unix:", policy.Attempt{Host: "store.test"})
	assert.Error(t, err)
	assert.False(t, dialled)
}

// FuzzLMTPReplies lets a server answer the end of DATA with arbitrary
// bytes. LMTPData must not panic, must report exactly the recipients RCPT
// accepted, and must never report more of them delivered than the bytes
// hold complete 250 replies: a reply it cannot read is never a success.
func FuzzLMTPReplies(f *testing.F) {
	for _, seed := range []string{
		"250 2.0.0 ok\r\n250 2.0.0 ok\r\n",
		"250 2.0.0 ok\r\n552 5.2.2 Mailbox full\r\n",
		"250 2.0.0 ok\r\n",
		"250-first\r\n250 second\r\n452 4.2.2 over quota\r\n",
		"354 again\r\n250 ok\r\n",
		"250 ok",
		"garbage\r\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, replies string) {
		if len(replies) > 4096 {
			return
		}
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			r := textproto.NewReader(bufio.NewReader(server))
			io.WriteString(server, "220 store.test LMTP\r\n")
			// LHLO, MAIL, RCPT, RCPT, DATA.
			for _, reply := range []string{"250 store.test\r\n", "250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n"} {
				if _, err := r.ReadLine(); err != nil {
					return
				}
				io.WriteString(server, reply)
			}
			if _, err := r.ReadDotBytes(); err != nil {
				return
			}
			io.WriteString(server, replies)
		}()
		d := &Dialer{LMTP: true, Timeout: 5 * time.Second, DialContext: func(context.Context, string, string) (net.Conn, error) {
			return client, nil
		}}
		c, err := d.Dial(context.Background(), "127.0.0.1:24", policy.Attempt{Host: "store.test"})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Mail("a@example.org", nil))
		require.NoError(t, c.Rcpt("one@store.test", nil))
		require.NoError(t, c.Rcpt("two@store.test", nil))
		got, _ := c.LMTPData(strings.NewReader(body))
		require.Len(t, got, 2)
		delivered := 0
		for _, reply := range got {
			if reply.Err == nil {
				delivered++
			}
		}
		// Lines that begin with 250; go-smtp (net/textproto) also takes a
		// last line that the connection cut before its CRLF.
		lines250 := strings.Count("\n"+replies, "\n250")
		assert.LessOrEqual(t, delivered, lines250, "replies %q", replies)
	})
}

// TestLMTPDataNoReplyIsNoSuccess: a recipient LMTPData has no reply for
// (here because the caller reset the transaction on Client, behind Conn's
// back) is reported with an error, never as delivered.
func TestLMTPDataNoReplyIsNoSuccess(t *testing.T) {
	addr, _ := unixLMTP(t)
	c, err := dialPeer(t, &Dialer{LMTP: true}, addr, policy.Attempt{Host: "store.test"})
	require.NoError(t, err)
	require.NoError(t, c.Mail("a@example.org", nil))
	require.NoError(t, c.Rcpt("gone@store.test", nil))
	require.NoError(t, c.Client.Reset())
	require.NoError(t, c.Client.Mail("a@example.org", nil))
	require.NoError(t, c.Rcpt("ok@store.test", nil))
	replies, err := c.LMTPData(strings.NewReader(body))
	require.NoError(t, err)
	assert.NoError(t, replies["ok@store.test"].Err)
	assert.ErrorIs(t, replies["gone@store.test"].Err, errNoReply)
}
