package loadtest

import (
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadConfig is one load run: messages spread over concurrent sessions,
// half with STARTTLS, half with implicit TLS.
type loadConfig struct {
	messages, sessions int
	wrapped            bool
}

// runLoad sends cfg.messages messages through cfg.sessions concurrent
// sessions to a fresh server, then shuts it down and checks that every
// message arrived exactly once with the right tag (RFC 8689 Section 4.1)
// and that no goroutine or descriptor outlives the server. It returns the
// wall and CPU time the sessions took. For a *testing.B the timer covers
// only them.
func runLoad(tb testing.TB, cfg loadConfig) (elapsed, cpu time.Duration) {
	tb.Helper()
	lc := newLeakCheck(tb)
	st := newStore()
	srv := startServer(tb, st, cfg.wrapped, nil, nil)
	clientTLS := testPKI().ClientConfig()

	var next atomic.Int64
	var mu sync.Mutex
	var clientErrs []error
	var wg sync.WaitGroup
	b, isBench := tb.(*testing.B)
	if isBench {
		b.ResetTimer()
	}
	start, startCPU := time.Now(), cpuTime()
	for i := range cfg.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			take := func() (int, bool) {
				id := int(next.Add(1) - 1)
				return id, id < cfg.messages
			}
			if err := sendSession(srv, i%2 == 1, clientTLS, take); err != nil {
				mu.Lock()
				clientErrs = append(clientErrs, fmt.Errorf("session %d: %w", i, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed, cpu = time.Since(start), cpuTime()-startCPU
	if isBench {
		b.StopTimer()
	}
	srv.stop(tb)
	lc.check(tb)

	require.Empty(tb, clientErrs, "every session completes")
	msgs, dups, noID, failed := st.snapshot()
	assert.Empty(tb, dups, "no message stored twice")
	assert.Zero(tb, noID, "no message without its id")
	assert.Zero(tb, failed, "no Data call failed")
	require.Len(tb, msgs, cfg.messages, "no message lost")
	var mistagged []int
	for id := range cfg.messages {
		m, ok := msgs[id]
		k := kindOf(id)
		switch {
		case !ok, !m.tls, m.requireTLS != k.requireTLS():
			mistagged = append(mistagged, id)
		case cfg.wrapped && (!m.tagged || m.tag != k.wantTag()):
			mistagged = append(mistagged, id)
		case !cfg.wrapped && m.tagged:
			mistagged = append(mistagged, id)
		}
	}
	assert.Empty(tb, mistagged, "messages lost or mis-tagged, by id (R25: REQUIRETLS wins over TLS-Required: No)")
	return elapsed, cpu
}

// sendSession opens one session and sends messages, taking ids from take,
// until it has none left.
func sendSession(srv *server, implicit bool, cfg *tls.Config, take func() (int, bool)) error {
	var c *smtp.Client
	var err error
	if implicit {
		c, err = smtp.DialTLS(srv.implicitTLSAddr, cfg)
	} else {
		c, err = smtp.DialStartTLS(srv.startTLSAddr, cfg)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		id, ok := take()
		if !ok {
			return c.Quit()
		}
		if err := c.Mail("alice@example.org", &smtp.MailOptions{RequireTLS: kindOf(id).requireTLS()}); err != nil {
			return fmt.Errorf("message %d: MAIL: %w", id, err)
		}
		if err := c.Rcpt("bob@example.net", nil); err != nil {
			return fmt.Errorf("message %d: RCPT: %w", id, err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("message %d: DATA: %w", id, err)
		}
		if err := message(w, id); err != nil {
			return fmt.Errorf("message %d: %w", id, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("message %d: end of data: %w", id, err)
		}
	}
}

// TestLoad is the test-mode load run: 2 000 messages over 50 concurrent
// sessions, wrapped and unwrapped, asserting accounting and leaks only.
func TestLoad(t *testing.T) {
	for _, wrapped := range []bool{true, false} {
		t.Run(fmt.Sprintf("wrapped=%v", wrapped), func(t *testing.T) {
			runLoad(t, loadConfig{messages: 2000, sessions: 50, wrapped: wrapped})
		})
	}
}

// BenchmarkLoad measures a go-smtp server wrapped by requiretls.NewBackend
// against the same server unwrapped, in the same run: b.N messages over 200
// concurrent sessions (half STARTTLS, half implicit TLS), a mix of
// REQUIRETLS, TLS-Required: No, both, and neither. Run it with
// -benchtime 50000x for the 50 000-message load; every run also checks the
// accounting and leaks, outside the timer. Besides wall time it reports
// msgs/s and cpu-ns/op, the CPU time of client and server per message,
// which other load on the machine disturbs far less.
func BenchmarkLoad(b *testing.B) {
	for _, c := range []struct {
		name    string
		wrapped bool
	}{{"wrapped", true}, {"unwrapped", false}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			elapsed, cpu := runLoad(b, loadConfig{messages: b.N, sessions: 200, wrapped: c.wrapped})
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			// CPU per message (client and server, both in this process):
			// steadier than wall time on a shared machine.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
