package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/pki"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// lines collects programs' output and lets a test wait for a line.
type lines struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor returns the submatches of re in the output, waiting for them
// until done is closed.
func (l *lines) waitFor(t *testing.T, re *regexp.Regexp, done <-chan struct{}) []string {
	t.Helper()
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.buf.String())
		changed := l.changed
		l.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-changed:
		case <-done:
			t.Fatalf("program ended without printing %q; output:\n%s", re, l)
		}
	}
}

// deliveries parses the delivery status lines of a relay's output with
// tlsstatus, as examples/tally does.
func deliveries(t *testing.T, out string) []tlsstatus.Delivery {
	t.Helper()
	var ds []tlsstatus.Delivery
	for _, line := range strings.Split(out, "\n") {
		d, ok, err := tlsstatus.ParseLine(line)
		require.NoError(t, err, line)
		if ok {
			ds = append(ds, d)
		}
	}
	return ds
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// startRelay runs the relay in-process with args, writing its output to
// out, and returns its address. Cleanup stops it as SIGTERM would and
// requires exit status 0.
func startRelay(t *testing.T, out *lines, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var code int
	stderr := newLines()
	go func() {
		defer close(done)
		code = run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), out, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		require.Equal(t, 0, code, "relay exit status; stderr:\n%s", stderr)
	})
	return out.waitFor(t, listeningRE, done)[1]
}

func runOnce(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

var serverBin struct {
	once sync.Once
	path string
	err  error
}

// startServer runs examples/server, built once per test run, and returns
// its address. Cleanup stops it with SIGTERM and requires exit status 0.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	serverBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "relay-test")
		if err != nil {
			serverBin.err = err
			return
		}
		serverBin.path = filepath.Join(dir, "server")
		if out, err := exec.Command("go", "build", "-o", serverBin.path, "../server").CombinedOutput(); err != nil {
			serverBin.err = &buildError{err, out}
		}
	})
	require.NoError(t, serverBin.err)

	cmd := exec.Command(serverBin.path, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	stdout := newLines()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		require.NoError(t, waitErr, "server stderr: %s", stderr.String())
	})
	return stdout.waitFor(t, listeningRE, exited)[1]
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + ": " + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if serverBin.path != "" {
		os.RemoveAll(filepath.Dir(serverBin.path))
	}
	os.Exit(code)
}

// testPKI is a CA and a certificate it issued for localhost and
// 127.0.0.1, with the files the programs' flags take.
type testPKI struct {
	cert                      tls.Certificate
	caFile, certFile, keyFile string
	clientTLS                 *tls.Config
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := pki.NewCA("test CA")
	require.NoError(t, err)
	cert, err := ca.Issue("localhost", "127.0.0.1")
	require.NoError(t, err)
	certPEM, keyPEM, err := pki.KeyPEM(cert)
	require.NoError(t, err)
	dir := t.TempDir()
	p := &testPKI{
		cert:      cert,
		caFile:    filepath.Join(dir, "ca.pem"),
		certFile:  filepath.Join(dir, "cert.pem"),
		keyFile:   filepath.Join(dir, "key.pem"),
		clientTLS: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"},
	}
	require.NoError(t, os.WriteFile(p.caFile, ca.PEM(), 0o600))
	require.NoError(t, os.WriteFile(p.certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(p.keyFile, keyPEM, 0o600))
	return p
}

// plainServer is a go-smtp server without the requiretls glue: it offers
// STARTTLS but never REQUIRETLS. It returns its address and the messages
// it received.
func plainServer(t *testing.T, cert tls.Certificate) (string, *inbox) {
	t.Helper()
	in := &inbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &plainSession{in: in}, nil }))
	s.Domain = "plain.test"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String(), in
}

type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (in *inbox) all() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.msgs...)
}

type plainSession struct {
	in   *inbox
	from string
}

func (s *plainSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *plainSession) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (s *plainSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.in.mu.Lock()
	s.in.msgs = append(s.in.msgs, "MAIL FROM:<"+s.from+">\r\n"+string(b))
	s.in.mu.Unlock()
	return err
}
func (s *plainSession) Reset()        {}
func (s *plainSession) Logout() error { return nil }

// send submits msg to the relay at addr over STARTTLS with go-smtp's
// client and returns the relay's reply to the transaction.
func send(t *testing.T, addr string, cfg *tls.Config, from string, requireTLS bool, msg string) error {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, cfg)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Mail(from, &smtp.MailOptions{RequireTLS: requireTLS}))
	require.NoError(t, c.Rcpt("bob@example.net", nil))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte(msg))
	require.NoError(t, err)
	err = w.Close()
	require.NoError(t, c.Quit())
	return err
}
