package loadtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

// idField is the header field that names each test message.
const idField = "X-Load-ID: "

// stored is what the backend kept of one message.
type stored struct {
	requireTLS bool       // the MAIL parameter as the backend saw it
	tag        policy.Tag // the tag the wrapper gave, if tagged
	tagged     bool
	tls        bool
	size       int
	data       []byte // kept only when the store keeps data
}

// store is an smtp.Backend that keeps a message only when its data was read
// to the end without error, keyed by the message's X-Load-ID, so that a
// test can account for every message and see that nothing is half-stored.
type store struct {
	keepData bool

	mu       sync.Mutex
	msgs     map[int]stored
	dups     []int
	noID     int    // complete messages without an X-Load-ID
	failed   int    // Data calls that ended with a read error
	sessions int    // sessions opened
	mails    []bool // every MAIL's REQUIRETLS parameter, in order
}

func newStore() *store { return &store{msgs: map[int]stored{}} }

func (st *store) NewSession(c *smtp.Conn) (smtp.Session, error) {
	st.mu.Lock()
	st.sessions++
	st.mu.Unlock()
	return &session{st: st, conn: c}, nil
}

func (st *store) snapshot() (msgs map[int]stored, dups []int, noID, failed int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	m := make(map[int]stored, len(st.msgs))
	for k, v := range st.msgs {
		m[k] = v
	}
	return m, append([]int(nil), st.dups...), st.noID, st.failed
}

type session struct {
	st   *store
	conn *smtp.Conn
	cur  stored
	buf  bytes.Buffer
}

func (s *session) Mail(_ string, opts *smtp.MailOptions) error {
	s.cur = stored{requireTLS: opts != nil && opts.RequireTLS}
	s.st.mu.Lock()
	s.st.mails = append(s.st.mails, s.cur.requireTLS)
	s.st.mu.Unlock()
	return nil
}

func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }

// SetTag implements requiretls.Tagger.
func (s *session) SetTag(t policy.Tag) { s.cur.tag, s.cur.tagged = t, true }

func (s *session) Data(r io.Reader) error {
	s.buf.Reset()
	if _, err := s.buf.ReadFrom(r); err != nil {
		s.st.mu.Lock()
		s.st.failed++
		s.st.mu.Unlock()
		return err
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.size = s.buf.Len()
	if s.st.keepData {
		s.cur.data = bytes.Clone(s.buf.Bytes())
	}
	id, ok := messageID(s.buf.Bytes())
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	switch _, dup := s.st.msgs[id]; {
	case !ok:
		s.st.noID++
	case dup:
		s.st.dups = append(s.st.dups, id)
	default:
		s.st.msgs[id] = s.cur
	}
	return nil
}

func (s *session) Reset()        { s.cur = stored{} }
func (s *session) Logout() error { return nil }

// messageID finds the X-Load-ID field in the header section.
func messageID(msg []byte) (int, bool) {
	i := bytes.Index(msg, []byte("\r\n"+idField))
	if i < 0 || bytes.Contains(msg[:i+2], []byte("\r\n\r\n")) {
		return 0, false
	}
	v := msg[i+2+len(idField):]
	v = v[:bytes.IndexByte(v, '\r')]
	id, err := strconv.Atoi(string(v))
	return id, err == nil
}

// server is a go-smtp server on two loopback listeners: one for STARTTLS
// (plain until STARTTLS) and one with implicit TLS (RFC 8314).
type server struct {
	*smtp.Server
	st              *store
	startTLSAddr    string
	implicitTLSAddr string
	serveErrs       chan error
	listeners       int
}

// startServer runs st behind a go-smtp server, wrapped by
// requiretls.NewBackend or not. Both have EnableREQUIRETLS set, so the only
// difference is the wrapper (RFC 8689 Section 4.1 glue).
func startServer(tb testing.TB, st *store, wrapped bool, opts *requiretls.ServerOptions, tune func(*smtp.Server)) *server {
	tb.Helper()
	var be smtp.Backend = st
	if wrapped {
		be = requiretls.NewBackend(st, opts)
	}
	s := smtp.NewServer(be)
	s.EnableREQUIRETLS = true
	s.Domain = "mx.loadtest"
	s.TLSConfig = testPKI().ServerConfig()
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	s.MaxMessageBytes = 1 << 20
	s.ErrorLog = log.New(io.Discard, "", 0)
	if tune != nil {
		tune(s)
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	implicit, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	srv := &server{Server: s, st: st, startTLSAddr: plain.Addr().String(),
		implicitTLSAddr: implicit.Addr().String(), serveErrs: make(chan error, 2), listeners: 2}
	go func() { srv.serveErrs <- s.Serve(plain) }()
	go func() { srv.serveErrs <- s.Serve(tls.NewListener(implicit, s.TLSConfig)) }()
	return srv
}

// addr is the address of the implicit TLS listener or of the STARTTLS one.
func (s *server) addr(implicit bool) string {
	if implicit {
		return s.implicitTLSAddr
	}
	return s.startTLSAddr
}

// stop closes the server and waits for its Serve loops to return.
func (s *server) stop(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, s.Close())
	for range s.listeners {
		err := <-s.serveErrs
		if err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			tb.Errorf("Serve returned %v", err)
		}
	}
}

// leakCheck records the goroutines and open file descriptors of the
// process, to compare after a server has been shut down.
type leakCheck struct {
	goroutines, fds int
}

func newLeakCheck(tb testing.TB) leakCheck {
	tb.Helper()
	// Open the network poller now, so that its descriptors, which live as
	// long as the process, are in the baseline.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	l.Close()
	return leakCheck{goroutines: runtime.NumGoroutine(), fds: openFDs()}
}

// openFDs counts the process's open file descriptors, -1 where /proc is
// not available.
func openFDs() int {
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// check waits, up to a generous bound, for goroutines and descriptors to
// return to the baseline, and fails the test if they do not.
func (lc leakCheck) check(tb testing.TB) {
	tb.Helper()
	var g, fds int
	for range 500 {
		g, fds = runtime.NumGoroutine(), openFDs()
		if g <= lc.goroutines && fds <= lc.fds {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	tb.Errorf("leak after shutdown: goroutines %d -> %d, open fds %d -> %d\n%s", lc.goroutines, g, lc.fds, fds, buf)
}

// kind is what a test message asks for (RFC 8689 Section 4.1).
type kind int

const (
	kindRequired      kind = iota // MAIL FROM ... REQUIRETLS
	kindNotRequired               // TLS-Required: No
	kindDefault                   // neither
	kindRequiredAndNo             // both: REQUIRETLS wins (R25)
	kinds
)

func kindOf(id int) kind { return kind(id % int(kinds)) }

func (k kind) requireTLS() bool { return k == kindRequired || k == kindRequiredAndNo }

// wantTag is the tag RFC 8689 Section 4.1 gives the message.
func (k kind) wantTag() policy.Tag {
	switch k {
	case kindRequired, kindRequiredAndNo:
		return policy.Required
	case kindNotRequired:
		return policy.NotRequired
	}
	return policy.Default
}

// message writes test message id, about 1.5 KB, shaped like real mail.
func message(w io.Writer, id int) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Received: from client.loadtest (localhost [127.0.0.1])\r\n\tby mx.loadtest with ESMTPS id %08x; Mon, 2 Mar 2026 10:00:00 +0000\r\n", id)
	b.WriteString("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=2026;\r\n\th=from:to:subject:date:message-id;\r\n\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\r\n")
	b.WriteString("From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\n")
	fmt.Fprintf(&b, "Subject: load message %d\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <%d@client.loadtest>\r\n", id, id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n")
	k := kindOf(id)
	if k == kindNotRequired || k == kindRequiredAndNo {
		b.WriteString("TLS-Required: No\r\n")
	}
	fmt.Fprintf(&b, "%s%d\r\n\r\n", idField, id)
	for i := range 16 {
		fmt.Fprintf(&b, "Line %02d of the body of message %d, plain text that nobody parses.\r\n", i, id)
	}
	_, err := w.Write(b.Bytes())
	return err
}
