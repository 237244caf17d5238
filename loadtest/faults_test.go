package loadtest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

// rawClient speaks SMTP byte by byte, to misbehave in ways smtp.Client
// cannot.
type rawClient struct {
	tb   testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects and reads the greeting. The whole exchange is bounded
// by a generous deadline so that a server that hangs fails the test
// instead of blocking it.
func dialRaw(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(tb, err)
	tb.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawClient{tb: tb, conn: conn, r: bufio.NewReader(conn)}
	require.Equal(tb, 220, c.reply())
	return c
}

func (c *rawClient) send(s string) error {
	_, err := io.WriteString(c.conn, s)
	return err
}

// reply reads one reply and returns its code, or 0 if the connection
// ended first. Lines that are not replies (a TLS alert, say) are skipped.
func (c *rawClient) reply() int {
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return 0
		}
		if len(line) >= 4 && line[3] == ' ' {
			if code, err := strconv.Atoi(line[:3]); err == nil {
				return code
			}
		}
	}
}

// cmd sends a command line and returns the reply code.
func (c *rawClient) cmd(line string) int {
	if err := c.send(line + "\r\n"); err != nil {
		return 0
	}
	return c.reply()
}

// startTLS runs STARTTLS and the handshake; every later byte is encrypted.
func (c *rawClient) startTLS() {
	c.tb.Helper()
	require.Equal(c.tb, 250, c.cmd("EHLO raw.loadtest"))
	require.Equal(c.tb, 220, c.cmd("STARTTLS"))
	tc := tls.Client(c.conn, testPKI().ClientConfig())
	require.NoError(c.tb, tc.Handshake())
	c.conn, c.r = tc, bufio.NewReader(tc)
	require.Equal(c.tb, 250, c.cmd("EHLO raw.loadtest"))
}

// startData opens a REQUIRETLS transaction and sends DATA.
func (c *rawClient) startData() {
	c.tb.Helper()
	require.Equal(c.tb, 250, c.cmd("MAIL FROM:<alice@example.org> REQUIRETLS"))
	require.Equal(c.tb, 250, c.cmd("RCPT TO:<bob@example.net>"))
	require.Equal(c.tb, 354, c.cmd("DATA"))
}

// closedByServer reads until the connection ends and reports whether the
// server ended it (EOF or reset) rather than the client's deadline.
func (c *rawClient) closedByServer() bool {
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// drip writes s one byte at a time in the background, slower than the
// server's ReadTimeout allows for a whole line, until a write fails or the
// test ends.
func (c *rawClient) drip(s string, every time.Duration) {
	done := make(chan struct{})
	c.tb.Cleanup(func() { close(done) })
	go func() {
		for i := range len(s) {
			if c.send(s[i:i+1]) != nil {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	}()
}

// faultHeader starts a message numbered id: its header section and the
// first body line.
func faultHeader(id int) string {
	return fmt.Sprintf("From: mallory@example.org\r\nSubject: fault\r\n%s%d\r\n\r\nfirst body line\r\n", "X-Load-ID: ", id)
}

// Ids: faults use faultBase+n (none may be stored), messages that must
// be stored after a fault on the same session use afterBase+n.
const (
	faultBase = 1_000_000
	afterBase = 2_000_000
	readLimit = time.Second // the server's ReadTimeout in the fault tests
)

// TestServerFaults runs misbehaving clients against a wrapped server while
// well-behaved sessions keep sending: the server stays up, the other
// sessions are unaffected, nothing is half-stored, and a REQUIRETLS message
// is never accepted without TLS (RFC 8689 Section 4.1).
func TestServerFaults(t *testing.T) {
	lc := newLeakCheck(t)
	st := newStore()
	srv := startServer(t, st, true, nil, func(s *smtp.Server) {
		s.ReadTimeout = readLimit
		s.WriteTimeout = 10 * time.Second
		s.MaxMessageBytes = 64 << 10
	})

	// Well-behaved traffic throughout.
	var next atomic.Int64
	var stop atomic.Bool
	var goodErrs []error
	var goodMu sync.Mutex
	var goodWG sync.WaitGroup
	for i := range 4 {
		goodWG.Add(1)
		go func() {
			defer goodWG.Done()
			take := func() (int, bool) { return int(next.Add(1) - 1), !stop.Load() }
			if err := sendSession(srv.addr(i%2 == 1), i%2 == 1, testPKI().ClientConfig(), take); err != nil {
				goodMu.Lock()
				goodErrs = append(goodErrs, err)
				goodMu.Unlock()
			}
		}()
	}

	addr := srv.startTLSAddr
	faults := []struct {
		name string
		run  func(t *testing.T, id int)
	}{
		{"disconnect mid-DATA in the header", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			c.startData()
			c.send(faultHeader(id)[:30])
			c.conn.Close()
		}},
		{"disconnect mid-DATA in the body", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			c.startData()
			c.send(faultHeader(id) + "more body\r\n")
			c.conn.Close()
		}},
		{"disconnect mid-DATA before the final CRLF", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			c.startData()
			c.send(faultHeader(id) + "\r\n.")
			c.conn.Close()
		}},
		{"disconnect mid-STARTTLS handshake", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			require.Equal(t, 250, c.cmd("EHLO raw.loadtest"))
			require.Equal(t, 220, c.cmd("STARTTLS"))
			c.send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") // the start of a ClientHello
			c.conn.Close()
		}},
		{"stall mid-STARTTLS handshake", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			require.Equal(t, 250, c.cmd("EHLO raw.loadtest"))
			require.Equal(t, 220, c.cmd("STARTTLS"))
			c.send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
			// go-smtp answers a failed handshake and goes on in plaintext;
			// the stalled handshake must end, and REQUIRETLS stay refused.
			code := c.reply()
			assert.True(t, code == 0 || code >= 500, "handshake reply %d", code)
			if code != 0 {
				assert.NotEqual(t, 250, c.cmd("MAIL FROM:<a@example.org> REQUIRETLS"), "R: no REQUIRETLS without TLS")
			}
		}},
		{"garbage after STARTTLS, then REQUIRETLS in the clear", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			require.Equal(t, 250, c.cmd("EHLO raw.loadtest"))
			require.Equal(t, 220, c.cmd("STARTTLS"))
			c.send("\x00\x01garbage that is no TLS record\r\n")
			code := c.reply() // the failed handshake (after a TLS alert)
			assert.True(t, code == 0 || code >= 500, "handshake reply %d", code)
			if code == 0 {
				return // the server hung up: nothing more to check
			}
			for c.cmd("NOOP") != 250 { // drain replies to the leftover garbage
			}
			assert.Equal(t, 250, c.cmd("EHLO raw.loadtest"))
			assert.Equal(t, 523, c.cmd("MAIL FROM:<a@example.org> REQUIRETLS"), "ErrEncryptionNeeded: the session is still plaintext")
			assert.Equal(t, 250, c.cmd("MAIL FROM:<a@example.org>"))
		}},
		{"binary garbage inside TLS, then a good message", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			for range 3 { // go-smtp hangs up after more protocol errors
				assert.GreaterOrEqual(t, c.cmd("\xff\xfe\x00 \x80\x81junk"), 500)
			}
			c.startData()
			assert.Equal(t, 250, c.cmd(faultHeader(afterBase+id-faultBase)+"."), "the session still works")
		}},
		{"command line over the line limit", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			// go-smtp answers 500 and hangs up with the rest of the line
			// unread, so the kernel may reset the connection and discard
			// that reply before the client reads it: 0 (no reply) is the
			// same refusal, seen from a client that was cut off first.
			code := c.cmd("MAIL FROM:<" + strings.Repeat("a", 10_000) + "@example.org> REQUIRETLS")
			assert.True(t, code == 0 || code == 500, "reply %d", code)
			assert.True(t, c.closedByServer())
		}},
		{"DATA line over the line limit", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			c.startData()
			code := c.cmd(faultHeader(id) + strings.Repeat("z", 10_000) + "\r\n.")
			assert.True(t, code == 0 || code >= 500, "reply %d", code)
		}},
		{"message over the size limit, then a good message", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			c.startData()
			body := strings.Repeat(strings.Repeat("s", 76)+"\r\n", (100<<10)/78)
			assert.Equal(t, 552, c.cmd(faultHeader(id)+body+"."), "ErrDataTooLarge")
			c.startData()
			assert.Equal(t, 250, c.cmd(faultHeader(afterBase+id-faultBase)+"."), "the session still works")
		}},
		// go-smtp takes the part of a line read by ReadTimeout as a whole
		// command (bufio.Reader.ReadLine drops the timeout error), so a
		// slowloris client is cut off by its error count, after a few
		// ReadTimeouts, rather than at the first.
		{"slowloris in the greeting", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.drip("EHLO slow.loadtest\r\n", readLimit/4)
			assert.True(t, c.closedByServer())
		}},
		{"slowloris in DATA", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			c.startTLS()
			c.startData()
			c.drip(faultHeader(id)+"\r\n.\r\n", readLimit/4)
			code := c.reply()
			assert.True(t, code == 0 || code >= 400, "reply %d", code)
		}},
		{"silent after the greeting", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			assert.True(t, c.closedByServer())
		}},
		{"REQUIRETLS without TLS", func(t *testing.T, id int) {
			c := dialRaw(t, addr)
			require.Equal(t, 250, c.cmd("EHLO raw.loadtest"))
			assert.Equal(t, 523, c.cmd("MAIL FROM:<a@example.org> REQUIRETLS"), "RFC 8689 Section 4.1, E5")
		}},
	}
	t.Run("faults", func(t *testing.T) {
		for i, f := range faults {
			t.Run(f.name, func(t *testing.T) {
				t.Parallel()
				f.run(t, faultBase+i)
			})
		}
	})

	stop.Store(true)
	goodWG.Wait()
	require.Empty(t, goodErrs, "well-behaved sessions are unaffected")
	last := afterBase + len(faults)
	// A new session after all faults works.
	require.NoError(t, sendSession(srv.implicitTLSAddr, true, testPKI().ClientConfig(), once(last)))

	srv.stop(t)
	lc.check(t)

	msgs, dups, noID, _ := st.snapshot()
	assert.Empty(t, dups)
	assert.Zero(t, noID)
	good := int(next.Load())
	for id, m := range msgs {
		switch {
		case id >= faultBase && id < afterBase:
			t.Errorf("fault message %d was stored (%d bytes): half-stored", id, m.size)
		case id < good || id >= afterBase:
			assert.True(t, m.tagged, "message %d tagged", id)
		default:
			t.Errorf("unexpected id %d", id)
		}
	}
	sent := 0
	for id := range good {
		if _, ok := msgs[id]; ok {
			sent++
			assert.Equal(t, kindOf(id).wantTag(), msgs[id].tag, "message %d", id)
		}
	}
	// Each good session claimed one id it did not send when it stopped.
	assert.GreaterOrEqual(t, sent, good-4, "well-behaved messages all stored")
	assert.Greater(t, sent, 0)
	for _, id := range []int{afterBase + 6, afterBase + 9} {
		m, ok := msgs[id]
		assert.True(t, ok, "good message %d after a fault on the same session", id)
		assert.Equal(t, policy.Required, m.tag, "message %d", id)
	}
	_, ok := msgs[last]
	assert.True(t, ok, "good session after the faults")
}

// once yields id, then nothing.
func once(id int) func() (int, bool) {
	done := false
	return func() (int, bool) {
		if done {
			return 0, false
		}
		done = true
		return id, true
	}
}
