package loadtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
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
	// childClients runs the clients in a child process (this test binary
	// again, see TestMain), so that the CPU time and the allocations of
	// this process are the server's alone.
	childClients bool
}

// loadStats is what a load run measured while its sessions ran.
type loadStats struct {
	elapsed   time.Duration // wall time
	cpu       time.Duration // CPU time of this process: the server's, with childClients
	clientCPU time.Duration // CPU time of the child process; 0 without childClients
	mallocs   uint64        // heap allocations of this process
	bytes     uint64        // bytes allocated on the heap by this process
}

// runLoad sends cfg.messages messages through cfg.sessions concurrent
// sessions to a fresh server, then shuts it down and checks that every
// message arrived exactly once with the right tag (RFC 8689 Section 4.1)
// and that no goroutine or descriptor outlives the server. It returns what
// it measured while the sessions ran. For a *testing.B the timer covers
// only them.
func runLoad(tb testing.TB, cfg loadConfig) loadStats {
	tb.Helper()
	lc := newLeakCheck(tb)
	st := newStore()
	srv := startServer(tb, st, cfg.wrapped, nil, nil)
	spec := clientSpec{StartTLSAddr: srv.addr(false), ImplicitTLSAddr: srv.addr(true),
		Messages: cfg.messages, Sessions: cfg.sessions, Root: testPKI().Server.Certificate[0]}

	b, isBench := tb.(*testing.B)
	runtime.GC() // start each run with the same heap, whatever ran before
	if isBench {
		b.ResetTimer()
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	var s loadStats
	var clientErr error
	start, startCPU := time.Now(), cpuTime()
	if cfg.childClients {
		s.clientCPU, clientErr = runChildClients(spec)
	} else {
		clientErr = runClients(spec, testPKI().ClientConfig())
	}
	s.elapsed, s.cpu = time.Since(start), cpuTime()-startCPU
	runtime.ReadMemStats(&m1)
	if isBench {
		b.StopTimer()
	}
	s.mallocs, s.bytes = m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc
	srv.stop(tb)
	lc.check(tb)

	require.NoError(tb, clientErr, "every session completes")
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
	return s
}

// clientSpec is what the clients of a load run need to know, passed to a
// child process as JSON in the environment variable clientEnv.
type clientSpec struct {
	StartTLSAddr, ImplicitTLSAddr string
	Messages, Sessions            int
	Root                          []byte // DER of the server certificate, the only one trusted
}

// clientEnv, when set, makes the test binary the client process of a
// load run (see TestMain).
const clientEnv = "LOADTEST_CLIENT_SPEC"

// runClients runs spec.Sessions concurrent sessions, half with STARTTLS
// and half with implicit TLS, that send spec.Messages messages in all.
func runClients(spec clientSpec, cfg *tls.Config) error {
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	take := func() (int, bool) {
		id := int(next.Add(1) - 1)
		return id, id < spec.Messages
	}
	for i := range spec.Sessions {
		wg.Go(func() {
			addr, implicit := spec.StartTLSAddr, i%2 == 1
			if implicit {
				addr = spec.ImplicitTLSAddr
			}
			if err := sendSession(addr, implicit, cfg, take); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("session %d: %w", i, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runChildClients runs the clients of spec in a child process and returns
// the CPU time it used.
func runChildClients(spec clientSpec) (time.Duration, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+string(js))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if cmd.ProcessState == nil {
		return 0, err
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err != nil {
		return cpu, fmt.Errorf("client process: %w: %s", err, out.Bytes())
	}
	return cpu, nil
}

// clientMain is the client process: it runs the clients of the spec in
// js and returns the exit code.
func clientMain(js string) int {
	var spec clientSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	root, err := x509.ParseCertificate(spec.Root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if err := runClients(spec, &tls.Config{RootCAs: pool, ServerName: "localhost"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestMain runs the tests, or, in a child process started by
// runChildClients, the clients of a load run.
func TestMain(m *testing.M) {
	if js := os.Getenv(clientEnv); js != "" {
		os.Exit(clientMain(js))
	}
	os.Exit(m.Run())
}

// sendSession opens one session to addr and sends messages, taking ids
// from take, until it has none left.
func sendSession(addr string, implicit bool, cfg *tls.Config, take func() (int, bool)) error {
	var c *smtp.Client
	var err error
	if implicit {
		c, err = smtp.DialTLS(addr, cfg)
	} else {
		c, err = smtp.DialStartTLS(addr, cfg)
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
// The clients run in this process, so that -race sees both sides.
func TestLoad(t *testing.T) {
	for _, wrapped := range []bool{true, false} {
		t.Run(fmt.Sprintf("wrapped=%v", wrapped), func(t *testing.T) {
			runLoad(t, loadConfig{messages: 2000, sessions: 50, wrapped: wrapped})
		})
	}
}

// TestLoadChildClients runs a small load with the clients in a child
// process, the way the benchmarks run it, so that a broken client process
// fails a test rather than only a benchmark.
func TestLoadChildClients(t *testing.T) {
	s := runLoad(t, loadConfig{messages: 200, sessions: 10, wrapped: true, childClients: true})
	assert.Positive(t, s.clientCPU, "the child's CPU time is measured")
}

// loadSessions is the concurrency of the benchmark load runs.
const loadSessions = 200

// BenchmarkLoad measures a go-smtp server wrapped by requiretls.NewBackend
// against the same server unwrapped, in the same run: b.N messages over 200
// concurrent sessions (half STARTTLS, half implicit TLS), a mix of
// REQUIRETLS, TLS-Required: No, both, and neither. Run it with
// -benchtime 50000x for the 50 000-message load; every run also checks the
// accounting and leaks, outside the timer. The clients run in a child
// process, so B/op, allocs/op and cpu-ns/op (CPU time per message) are the
// server's alone; client-cpu-ns/op is the child's. For the CPU ratio on a
// shared machine, see BenchmarkLoadPairs.
func BenchmarkLoad(b *testing.B) {
	for _, c := range []struct {
		name    string
		wrapped bool
	}{{"wrapped", true}, {"unwrapped", false}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			s := runLoad(b, loadConfig{messages: b.N, sessions: loadSessions, wrapped: c.wrapped, childClients: true})
			b.ReportMetric(float64(b.N)/s.elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(s.cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(s.clientCPU.Nanoseconds())/float64(b.N), "client-cpu-ns/op")
		})
	}
}

var (
	loadPairs = flag.Int("loadpairs", 7, "number of wrapped/unwrapped pairs BenchmarkLoadPairs runs")
	loadAA    = flag.Bool("loadaa", false, "BenchmarkLoadPairs runs both sides of each pair unwrapped, to measure the noise")
)

// BenchmarkLoadPairs measures the CPU the wrapper costs the server per
// message, b.N messages per run as in BenchmarkLoad, in -loadpairs
// (default 7) pairs of runs in one process, wrapped and unwrapped
// alternately (wrapped first in the first pair, unwrapped first in the
// next, and so on), so that a change in the machine's other load, or a
// warm-up, hits both sides alike. The clients run in a child process.
//
// cpu-overhead-% is the median over the pairs of the server's CPU time
// wrapped over unwrapped, minus 1, in percent; -min-% and -max-% are the
// lowest and the highest pair. cpu-overhead-per-client-% is the same with
// each run's server CPU time divided by its client's, which do the same
// work in both runs: that cancels much of a slow-down of the whole
// machine, if the wrapper does not change the client's work. Then, for
// each side, the median server CPU time, heap allocations and heap bytes
// per message. The pairs are also logged, in order. With -loadaa both sides run
// unwrapped, so the metrics show the noise of the machine. ns/op, B/op
// and allocs/op cover every run and are of no use.
func BenchmarkLoadPairs(b *testing.B) {
	var overhead, perClient []float64
	var cpu, mallocs, bytes [2][]float64 // [0] wrapped, [1] unwrapped
	for i := range *loadPairs {
		var pair [2]loadStats
		for j := range 2 {
			side := (i + j) % 2 // wrapped (0) first when i is even
			cfg := loadConfig{messages: b.N, sessions: loadSessions, wrapped: side == 0 && !*loadAA, childClients: true}
			pair[side] = runLoad(b, cfg)
		}
		w, u := pair[0], pair[1]
		overhead = append(overhead, (float64(w.cpu)/float64(u.cpu)-1)*100)
		perClient = append(perClient, (float64(w.cpu)*float64(u.clientCPU)/(float64(u.cpu)*float64(w.clientCPU))-1)*100)
		for side, s := range pair {
			cpu[side] = append(cpu[side], float64(s.cpu.Nanoseconds())/float64(b.N))
			mallocs[side] = append(mallocs[side], float64(s.mallocs)/float64(b.N))
			bytes[side] = append(bytes[side], float64(s.bytes)/float64(b.N))
		}
	}
	b.Logf("N=%d, overhead per pair in %%: %.1f, per client: %.1f", b.N, overhead, perClient)
	b.ReportMetric(median(overhead), "cpu-overhead-%")
	b.ReportMetric(slices.Min(overhead), "cpu-overhead-min-%")
	b.ReportMetric(slices.Max(overhead), "cpu-overhead-max-%")
	b.ReportMetric(median(perClient), "cpu-overhead-per-client-%")
	for side, name := range []string{"wrapped", "unwrapped"} {
		b.ReportMetric(median(cpu[side]), name+"-cpu-ns/msg")
		b.ReportMetric(median(mallocs[side]), name+"-allocs/msg")
		b.ReportMetric(median(bytes[side]), name+"-B/msg")
	}
}

// median returns the median of v, which it sorts.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
