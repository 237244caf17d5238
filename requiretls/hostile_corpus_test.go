package requiretls_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

// serverHeapBound is generous: the glue reads a message's header section
// only (header.ReadHead, about 2*header.MaxHeaderBytes); a buffered body
// is far above.
const serverHeapBound = 32 << 20

// streamLimit cuts the 1 GiB inputs for the trip through SMTP: 64 MiB is
// far past every limit of the glue and shows whether a body is buffered.
// Under the race detector, where the heap bound is checked by the normal
// run already, 8 MiB keeps the test short.
var streamLimit int64 = 64 << 20

func init() {
	if hostile.Race {
		streamLimit = 8 << 20
	}
}

// hostileStore keeps, of each message, its tag, its length and the start
// of its data, never the whole body.
type hostileStore struct {
	mu   sync.Mutex
	msgs []hostileMsg
}

type hostileMsg struct {
	tag  policy.Tag
	n    int64
	head []byte
}

func (st *hostileStore) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &hostileSession{st: st}, nil
}

type hostileSession struct {
	st  *hostileStore
	tag policy.Tag
}

func (s *hostileSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *hostileSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *hostileSession) SetTag(t policy.Tag)                  { s.tag = t }
func (s *hostileSession) Reset()                               {}
func (s *hostileSession) Logout() error                        { return nil }
func (s *hostileSession) Data(r io.Reader) error {
	head := make([]byte, 2*header.MaxHeaderBytes)
	k, _ := io.ReadFull(r, head)
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	s.st.mu.Lock()
	s.st.msgs = append(s.st.msgs, hostileMsg{tag: s.tag, n: int64(k) + n, head: head[:k]})
	s.st.mu.Unlock()
	return nil
}

// stuffer dot-stuffs a DATA stream (RFC 5321 Section 4.5.2) and nothing
// else: bare CR and bare LF reach the server as they are.
type stuffer struct {
	w      io.Writer
	bol    bool // at the beginning of a line
	prevCR bool
	buf    []byte
}

func (s *stuffer) Write(p []byte) (int, error) {
	s.buf = s.buf[:0]
	for _, c := range p {
		if s.bol && c == '.' {
			s.buf = append(s.buf, '.')
		}
		s.buf = append(s.buf, c)
		s.bol = s.prevCR && c == '\n'
		s.prevCR = c == '\r'
	}
	_, err := s.w.Write(s.buf)
	return len(p), err
}

// TestHostileCorpus gives every input of the shared hostile corpus to
// ParseMail (as a line and as a parameter), to Offered (as an EHLO reply)
// and, as message data, to a go-smtp server wrapped by NewServer with
// FilterHeader: a typed error or a bounded result, a server that stays up,
// a heap bounded whatever the message size, and never a REQUIRETLS tag or
// a valid Require-TLS-ESMTP field for a message from an untrusted
// plaintext client (RFC 8689 Section 4.1).
func TestHostileCorpus(t *testing.T) {
	st := &hostileStore{}
	s := requiretls.NewServer(st, &requiretls.ServerOptions{FilterHeader: true})
	s.Domain = "mx.hostile"
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	addr := l.Addr().String()

	for _, in := range hostile.All() {
		t.Run(in.Name, func(t *testing.T) {
			line := string(in.Prefix(4 << 20))
			for _, l := range []string{line, "MAIL FROM:<a@example.org> " + line, "MAIL FROM:<" + line + ">"} {
				m, err := requiretls.ParseMail(l)
				if err == nil {
					again, err := requiretls.ParseMail(m.String())
					assert.NoError(t, err)
					assert.Equal(t, m, again, "ParseMail round-trips")
					continue
				}
				typed := errors.Is(err, requiretls.ErrSyntax) || errors.Is(err, requiretls.ErrParam) || errors.Is(err, requiretls.ErrTooLong)
				assert.True(t, typed, "untyped error %v", err)
				var pe *requiretls.ParseError
				assert.True(t, errors.As(err, &pe))
				reply := requiretls.ReplyFor(err)
				assert.True(t, reply.Code >= 500 && reply.Code < 600, "reply %d", reply.Code)
				assert.Less(t, len(reply.Message), 4096, "reply text bounded")
			}
			lines := strings.Split(line, "\n")
			assert.False(t, requiretls.Offered(lines, nil), "E22: never offered without TLS")
			requiretls.Offered(lines, &tls.ConnectionState{HandshakeComplete: true})

			st.mu.Lock()
			before := len(st.msgs)
			st.mu.Unlock()
			var code int
			peak := hostile.PeakHeap(func() { code = sendRaw(t, addr, io.LimitReader(in.Reader(), streamLimit)) })
			assert.Less(t, peak, uint64(serverHeapBound), "server heap")
			st.mu.Lock()
			got := st.msgs[before:]
			st.mu.Unlock()
			switch {
			case code == 250:
				require.Len(t, got, 1)
				m := got[0]
				assert.NotEqual(t, policy.Required, m.tag, "R: no REQUIRETLS from a plaintext client")
				f, _, _ := header.Scan(m.head)
				assert.False(t, f.RequireTLSESMTP, "FilterHeader strips a forged Require-TLS-ESMTP")
			default:
				assert.Empty(t, got, "a refused message is not stored (reply %d)", code)
				assert.True(t, code == 0 || code >= 500, "reply %d", code)
			}
			// The server is still up.
			c, err := smtp.Dial(addr)
			require.NoError(t, err)
			assert.NoError(t, c.Noop())
			c.Close()
		})
	}
}

// sendRaw sends msg as the data of one plaintext transaction and returns
// the reply to the end of data, or 0 if the server ended the connection.
func sendRaw(t *testing.T, addr string, msg io.Reader) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	tc := textproto.NewConn(conn)
	cmd := func(line string, want int) bool {
		if line != "" {
			if tc.PrintfLine("%s", line) != nil {
				return false
			}
		}
		code, _, err := tc.ReadResponse(want)
		return err == nil && code == want
	}
	require.True(t, cmd("", 220))
	require.True(t, cmd("EHLO hostile.test", 250))
	require.True(t, cmd("MAIL FROM:<mallory@example.org>", 250))
	require.True(t, cmd("RCPT TO:<bob@example.net>", 250))
	require.True(t, cmd("DATA", 354))

	// Write in the background: the server may answer and hang up early.
	written := make(chan struct{})
	go func() {
		defer close(written)
		w := bufio.NewWriterSize(conn, 64<<10)
		st := &stuffer{w: w, bol: true}
		if _, err := io.Copy(st, msg); err != nil {
			return
		}
		end := "\r\n.\r\n"
		if bytes.HasSuffix(st.buf, []byte("\r\n")) {
			end = ".\r\n"
		}
		w.WriteString(end)
		w.Flush()
	}()
	code, _, err := tc.ReadResponse(0)
	var pe textproto.ProtocolError
	if err != nil && !errors.As(err, &pe) {
		var te *textproto.Error
		if !errors.As(err, &te) {
			code = 0
		}
	}
	conn.Close()
	<-written
	return code
}
