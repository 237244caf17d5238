//go:build interop

package interop

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

// recorded is one message a recorder received, with its envelope.
type recorded struct {
	From       string
	Rcpt       []string
	RequireTLS bool   // MAIL FROM ... REQUIRETLS
	UTF8       bool   // MAIL FROM ... SMTPUTF8
	Ret        string // the RET parameter: FULL, HDRS or empty
	TLS        bool
	Tag        policy.Tag // as requiretls.NewServer tagged it (Tagger); Default without the glue
	Data       []byte     // as the session read it (behind the glue: with its edits)
	Err        error      // what the data hook returned
}

// recorder is a go-smtp backend that keeps every message it accepts with
// its envelope. The hooks are for what a test's server does beyond that;
// nil hooks accept every recipient and do nothing with the data.
type recorder struct {
	// rcpt, if set, may refuse recipient to of the message m so far.
	rcpt func(m *recorded, to string) error
	// data, if set, is called with each whole message before it is kept;
	// its error is kept with the message and is the reply to the client.
	data func(m *recorded) error

	mu   sync.Mutex
	msgs []recorded
}

// serve listens on addr ("127.0.0.1:0" for any port) and serves s there
// until the test ends, and returns the address. With implicitTLS the
// listener speaks TLS from the first byte (RFC 8314), with s.TLSConfig.
func serve(t *testing.T, s *smtp.Server, addr string, implicitTLS bool) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err, "listen on %s", addr)
	if implicitTLS {
		l = tls.NewListener(l, s.TLSConfig)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

func (r *recorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &recorderSession{r: r, conn: c}, nil
}

// find returns the first message for which match holds.
func (r *recorder) find(match func(recorded) bool) (recorded, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if match(m) {
			return m, true
		}
	}
	return recorded{}, false
}

// to returns the first message for rcpt.
func (r *recorder) to(rcpt string) (recorded, bool) {
	return r.find(func(m recorded) bool { return slices.Contains(m.Rcpt, rcpt) })
}

// all returns the messages kept so far.
func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

type recorderSession struct {
	r    *recorder
	conn *smtp.Conn
	cur  recorded
}

var _ requiretls.Tagger = (*recorderSession)(nil)

func (s *recorderSession) SetTag(tag policy.Tag) { s.cur.Tag = tag }

func (s *recorderSession) Mail(from string, opts *smtp.MailOptions) error {
	s.cur = recorded{From: from}
	if opts != nil {
		s.cur.RequireTLS, s.cur.UTF8, s.cur.Ret = opts.RequireTLS, opts.UTF8, string(opts.Return)
	}
	_, s.cur.TLS = s.conn.TLSConnectionState()
	return nil
}

func (s *recorderSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.r.rcpt != nil {
		if err := s.r.rcpt(&s.cur, to); err != nil {
			return err
		}
	}
	s.cur.Rcpt = append(s.cur.Rcpt, to)
	return nil
}

func (s *recorderSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	if s.r.data != nil {
		s.cur.Err = s.r.data(&s.cur)
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.cur)
	s.r.mu.Unlock()
	return s.cur.Err
}

func (s *recorderSession) Reset()        { s.cur = recorded{} }
func (s *recorderSession) Logout() error { return nil }
