package requiretls

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
)

// dataCall is what a callLog session saw of one Data call, failed ones too.
type dataCall struct {
	from       string
	requireTLS bool // the REQUIRETLS parameter its Mail saw
	tag        policy.Tag
	tagged     bool
	data       string
	err        error
}

// callLog is an smtp.Backend whose sessions record every Data call, and
// count the calls into a session that start while another call into it is
// still running. Its sessions keep their per-transaction state in plain
// fields that Reset clears, as a simple backend would: they rely on the
// glue never calling them from two goroutines at once, which the race
// detector checks.
type callLog struct {
	mu       sync.Mutex
	calls    []dataCall
	overlaps int
	// slow is how long Data waits after its last read before it records
	// what it saw: time for a concurrent Reset to clear its fields.
	slow time.Duration
}

func (l *callLog) NewSession(*smtp.Conn) (smtp.Session, error) { return &logSession{l: l}, nil }

func (l *callLog) snapshot() ([]dataCall, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dataCall(nil), l.calls...), l.overlaps
}

type logSession struct {
	l    *callLog
	busy sync.Mutex // held for the duration of every call

	from       string
	requireTLS bool
	tag        policy.Tag
	tagged     bool
}

// enter marks a call as running, counting it as an overlap if another is.
func (s *logSession) enter() func() {
	if !s.busy.TryLock() {
		s.l.mu.Lock()
		s.l.overlaps++
		s.l.mu.Unlock()
		s.busy.Lock()
	}
	return s.busy.Unlock
}

func (s *logSession) Mail(from string, opts *smtp.MailOptions) error {
	defer s.enter()()
	s.from, s.requireTLS = from, opts != nil && opts.RequireTLS
	return nil
}

func (s *logSession) Rcpt(string, *smtp.RcptOptions) error {
	defer s.enter()()
	return nil
}

func (s *logSession) SetTag(tag policy.Tag) {
	defer s.enter()()
	s.tag, s.tagged = tag, true
}

func (s *logSession) Data(r io.Reader) error {
	defer s.enter()()
	b, err := io.ReadAll(r)
	time.Sleep(s.l.slow)
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.l.calls = append(s.l.calls, dataCall{s.from, s.requireTLS, s.tag, s.tagged, string(b), err})
	return err
}

func (s *logSession) Reset() {
	defer s.enter()()
	s.from, s.requireTLS, s.tag, s.tagged = "", false, policy.Default, false
}

func (s *logSession) Logout() error { return nil }

// startLogServer runs a server wrapped by NewServer around a callLog on a
// loopback port with implicit TLS; configure may change the smtp.Server
// before it starts.
func startLogServer(t *testing.T, pki *testpki.Localhost, opts *ServerOptions, configure func(*smtp.Server)) (string, *callLog) {
	t.Helper()
	l := &callLog{}
	s := NewServer(l, opts)
	s.Domain = "mx.test"
	s.TLSConfig = pki.ServerConfig()
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(tls.NewListener(ln, s.TLSConfig))
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), l
}

// sendData runs MAIL, RCPT and DATA with msg and returns the final reply.
func (c *rawClient) sendData(mail, msg string) (int, []string) {
	c.t.Helper()
	code, lines := c.cmd(mail)
	require.Equal(c.t, 250, code, lines)
	code, lines = c.cmd("RCPT TO:<b@example.org>")
	require.Equal(c.t, 250, code, lines)
	code, lines = c.cmd("DATA")
	require.Equal(c.t, 354, code, lines)
	if !strings.HasSuffix(msg, "\r\n") {
		msg += "\r\n"
	}
	require.NoError(c.t, c.text.PrintfLine("%s.", msg))
	return c.read()
}

// filler returns header fields of at least n bytes in total.
func filler(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString("X-Filler: 0123456789012345678901234567890123456789\r\n")
	}
	return b.String()
}

// Issue 12 item 4, E25: on a trusted listener a Require-TLS-ESMTP field can
// raise the requirement (Postfix 3.11 requiretls_esmtp_header), so a header
// section the glue cannot read to its end might hide one. Before the fix a
// "Require-TLS-ESMTP: yes" after 1 MiB of header was ignored: tag Default,
// 250. Now the message is refused and the wrapped session never sees it;
// never a tag from an unfinished scan, so never one laxer than the truth.
func TestServerTrustedLongHeaderRefused(t *testing.T) {
	pki := newTestPKI(t)
	long := filler(2<<20) + "Require-TLS-ESMTP: yes\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name      string
		opts      ServerOptions
		configure func(*smtp.Server)
		msg       string
		want      int
	}{
		{"Require-TLS-ESMTP beyond MaxHeaderBytes", ServerOptions{TrustRequireTLSESMTP: true}, nil, long, ErrHeaderTooLarge.Code},
		{"and with FilterHeader", ServerOptions{TrustRequireTLSESMTP: true, FilterHeader: true}, nil, long, ErrHeaderTooLarge.Code},
		{"an untrusted listener cannot strip what it cannot see", ServerOptions{}, nil, long, ErrHeaderTooLarge.Code},
		{"TLS-Required: No then a read error in the header",
			ServerOptions{TrustRequireTLSESMTP: true},
			func(s *smtp.Server) { s.MaxMessageBytes = 64 << 10 },
			"TLS-Required: No\r\n" + filler(128<<10) + "Require-TLS-ESMTP: yes\r\n\r\nbody\r\n", smtp.ErrDataTooLarge.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, l := startLogServer(t, pki, &tc.opts, tc.configure)
			c := dialRaw(t, addr, pki.ClientConfig())
			c.cmd("EHLO client.test")
			code, lines := c.sendData("MAIL FROM:<a@example.org>", tc.msg)
			assert.Equal(t, tc.want, code, lines)
			calls, _ := l.snapshot()
			assert.Zero(t, len(calls), "the wrapped session never sees a message whose header was not read to its end")

			// The session goes on, and the next message is tagged anew.
			code, lines = c.sendData("MAIL FROM:<a@example.org> REQUIRETLS", body)
			require.Equal(t, 250, code, lines)
			calls, _ = l.snapshot()
			require.Equal(t, 1, len(calls))
			assert.Equal(t, policy.Required, calls[0].tag)
		})
	}
}

// Issue 12 item 12, E25: a Require-TLS-ESMTP field from a client the listener
// does not trust must not reach the wrapped session, as header.Receive with
// header.Untrusted strips it: a content filter or a later hop that honours
// it (Postfix honours it from anyone) would otherwise let any client tag a
// message. Malformed copies go too, since a laxer reader might accept them.
// A header section the glue cannot edit safely is refused.
func TestServerStripsUntrustedRequireTLSESMTP(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name    string
		opts    ServerOptions
		mail    string
		msg     string
		want    string // what the wrapped session receives; "" means refused
		wantTag policy.Tag
	}{
		{"default options strip it", ServerOptions{}, "MAIL FROM:<a@example.org>",
			"Subject: x\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n", policy.Default},
		{"malformed and folded copies too", ServerOptions{}, "MAIL FROM:<a@example.org>",
			"require-tls-esmtp: yes (x)\r\nSubject: x\r\nRequire-TLS-ESMTP:\r\n yes\r\nRequire-TLS-ESMTP: yes\x00\r\n\r\nbody\r\n",
			"Subject: x\r\n\r\nbody\r\n", policy.Default},
		{"with REQUIRETLS on MAIL too", ServerOptions{}, "MAIL FROM:<a@example.org> REQUIRETLS",
			"Require-TLS-ESMTP: yes\r\nSubject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n", policy.Required},
		{"TLS-Required is kept", ServerOptions{}, "MAIL FROM:<a@example.org>",
			"TLS-Required: No\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n", "TLS-Required: No\r\n\r\nbody\r\n", policy.NotRequired},
		{"a body line is not a field", ServerOptions{}, "MAIL FROM:<a@example.org>",
			"Subject: x\r\n\r\nRequire-TLS-ESMTP: yes\r\n", "Subject: x\r\n\r\nRequire-TLS-ESMTP: yes\r\n", policy.Default},
		{"a bare LF where it must be removed: refused", ServerOptions{}, "MAIL FROM:<a@example.org>",
			"Subject: x\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n", "", policy.Default},
		{"a trusted listener keeps a valid field", ServerOptions{TrustRequireTLSESMTP: true}, "MAIL FROM:<a@example.org>",
			"Require-TLS-ESMTP: yes\r\nSubject: x\r\n\r\nbody\r\n", "Require-TLS-ESMTP: yes\r\nSubject: x\r\n\r\nbody\r\n", policy.Required},
		{"a trusted listener drops a field that does not tag", ServerOptions{TrustRequireTLSESMTP: true}, "MAIL FROM:<a@example.org>",
			"Require-TLS-ESMTP: maybe\r\nSubject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n", policy.Default},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, l := startLogServer(t, pki, &tc.opts, nil)
			c := dialRaw(t, addr, pki.ClientConfig())
			c.cmd("EHLO client.test")
			code, lines := c.sendData(tc.mail, tc.msg)
			calls, _ := l.snapshot()
			if tc.want == "" {
				assert.Equal(t, ErrUnsafeHeader.Code, code, lines)
				assert.Zero(t, len(calls))
				return
			}
			require.Equal(t, 250, code, lines)
			require.Equal(t, 1, len(calls))
			assert.Equal(t, tc.want, calls[0].data)
			assert.Equal(t, tc.wantTag, calls[0].tag)
		})
	}
}
