package requiretls

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
)

// newTestPKI makes a throw-away CA and a server certificate for 127.0.0.1
// and localhost, for each test.
func newTestPKI(t testing.TB) *testpki.Localhost {
	t.Helper()
	p, err := testpki.NewLocalhost("go-requiretls test CA")
	require.NoError(t, err)
	return p
}

// message is what the recording backend saw of one transaction.
type message struct {
	from       string
	requireTLS bool
	ret        smtp.DSNReturn
	tag        policy.Tag
	tagged     bool
	data       string
}

// recorder is an smtp.Backend that records every call its sessions get.
type recorder struct {
	mu       sync.Mutex
	mails    []string // every MAIL FROM the inner session saw
	messages []message
}

func (r *recorder) NewSession(*smtp.Conn) (smtp.Session, error) { return &recSession{r: r}, nil }

type recSession struct {
	r   *recorder
	cur message
}

func (s *recSession) Mail(from string, opts *smtp.MailOptions) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.mails = append(s.r.mails, from)
	s.cur = message{from: from}
	if opts != nil {
		s.cur.requireTLS, s.cur.ret = opts.RequireTLS, opts.Return
	}
	return nil
}
func (s *recSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *recSession) SetTag(tag policy.Tag)                { s.cur.tag, s.cur.tagged = tag, true }
func (s *recSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = string(b)
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.messages = append(s.r.messages, s.cur)
	return nil
}
func (s *recSession) Reset()        { s.cur = message{} }
func (s *recSession) Logout() error { return nil }

func (r *recorder) snapshot() ([]string, []message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.mails...), append([]message(nil), r.messages...)
}

// startServer runs a wrapped go-smtp server on a loopback port. With
// implicit, the listener speaks TLS from the first byte (port 465 style).
func startServer(t *testing.T, pki *testpki.Localhost, opts *ServerOptions, implicit bool) (string, *recorder) {
	t.Helper()
	rec := &recorder{}
	s := NewServer(rec, opts)
	s.Domain = "mx.test"
	s.TLSConfig = pki.ServerConfig()
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if implicit {
		l = tls.NewListener(l, s.TLSConfig)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String(), rec
}

// startImplicitTLS runs be wrapped with no options on a loopback port that
// speaks TLS from the first byte; lmtp makes it an LMTP server.
func startImplicitTLS(t *testing.T, pki *testpki.Localhost, be smtp.Backend, lmtp bool) string {
	t.Helper()
	s := NewServer(be, nil)
	s.LMTP = lmtp
	s.Domain = "mx.test"
	s.TLSConfig = pki.ServerConfig()
	l, err := tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig)
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// rawClient speaks SMTP line by line so tests can see exact replies.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	text *textproto.Conn
}

func dialRaw(t *testing.T, addr string, tlsConfig *tls.Config) *rawClient {
	t.Helper()
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		conn, err = tls.Dial("tcp", addr, tlsConfig)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, text: textproto.NewConn(conn)}
	c.expect(220)
	return c
}

// cmd sends a command and returns the reply code and its lines.
func (c *rawClient) cmd(line string) (int, []string) {
	c.t.Helper()
	require.NoError(c.t, c.text.PrintfLine("%s", line))
	return c.read()
}

func (c *rawClient) read() (int, []string) {
	c.t.Helper()
	code, msg, err := c.text.ReadResponse(0)
	if _, ok := err.(*textproto.Error); !ok {
		require.NoError(c.t, err)
	}
	return code, strings.Split(msg, "\n")
}

func (c *rawClient) expect(code int) []string {
	c.t.Helper()
	got, lines := c.read()
	require.Equal(c.t, code, got, lines)
	return lines
}

// tlsState is the state of the client's TLS session, nil in plaintext.
func (c *rawClient) tlsState() *tls.ConnectionState {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	return &cs
}

func (c *rawClient) startTLS(cfg *tls.Config) {
	c.t.Helper()
	code, lines := c.cmd("STARTTLS")
	require.Equal(c.t, 220, code, lines)
	tc := tls.Client(c.conn, cfg)
	require.NoError(c.t, tc.Handshake())
	c.conn = tc
	c.text = textproto.NewConn(tc)
}

// oneShotServer accepts one connection on a loopback port and hands it to
// serve, for next hops that misbehave in ways no real server library would.
// The connection is closed when serve returns, the listener at cleanup.
func oneShotServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	return l.Addr().String()
}
