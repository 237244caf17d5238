// Package runtest is test support for the example programs: it runs a
// program's run function in-process or its built binary, waits for the
// "listening on ADDR" line, and makes the certificates, files and
// misbehaving peers the tests need. Only the programs' _test files import
// it; main packages cannot share _test files, hence a package.
package runtest

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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/pki"
)

// Lines collects a program's output and lets a test wait for a line.
type Lines struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

// NewLines returns an empty Lines.
func NewLines() *Lines { return &Lines{changed: make(chan struct{})} }

func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// String returns all the output so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// WaitFor returns the submatches of the first complete line matching re,
// waiting for it until done is closed (the program has ended).
func (l *Lines) WaitFor(t testing.TB, re *regexp.Regexp, done <-chan struct{}) []string {
	t.Helper()
	for {
		l.mu.Lock()
		out := l.buf.String()
		changed := l.changed
		l.mu.Unlock()
		for _, line := range strings.SplitAfter(out, "\n") {
			if !strings.HasSuffix(line, "\n") {
				break // not complete yet
			}
			if m := re.FindStringSubmatch(strings.TrimSuffix(line, "\n")); m != nil {
				return m
			}
		}
		select {
		case <-changed:
		case <-done:
			t.Fatalf("program ended without printing a line matching %q; output:\n%s", re, l)
		}
	}
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// Addr waits for the "listening on ADDR" line and returns ADDR.
func (l *Lines) Addr(t testing.TB, done <-chan struct{}) string {
	t.Helper()
	return l.WaitFor(t, listeningRE, done)[1]
}

// RunFunc is a program's run function.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Proc is a program running in-process.
type Proc struct {
	Addr           string // from its "listening on" line
	Stdout, Stderr *Lines
	Done           <-chan struct{} // closed when run has returned
}

// Start calls run with args in-process, writing its standard output to
// stdout, and waits until it listens. The test's cleanup stops it as
// SIGTERM would and requires exit status 0.
func Start(t testing.TB, run RunFunc, stdout *Lines, args ...string) *Proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p := &Proc{Stdout: stdout, Stderr: NewLines(), Done: done}
	var code int
	go func() {
		defer close(done)
		code = run(ctx, args, p.Stdout, p.Stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		require.Equal(t, 0, code, "exit status; stderr:\n%s", p.Stderr)
	})
	p.Addr = stdout.Addr(t, done)
	return p
}

// Once calls run with args, for a run that is over at once (a usage error,
// -h), and returns its exit status and output.
func Once(run RunFunc, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// Program is an example program built once per test binary.
type Program struct {
	Dir  string   // the package, relative to the test's directory: "../server"
	Args []string // put before the arguments of each Start

	once sync.Once
	path string
	err  error
}

// Start runs the program (building it on first use) with p.Args and args,
// and waits until it listens. It returns its address and output. The
// test's cleanup stops it with SIGTERM and requires exit status 0.
func (p *Program) Start(t testing.TB, args ...string) (string, *Lines) {
	t.Helper()
	p.once.Do(func() {
		dir, err := os.MkdirTemp("", "runtest")
		if err != nil {
			p.err = err
			return
		}
		p.path = filepath.Join(dir, filepath.Base(p.Dir))
		if out, err := exec.Command("go", "build", "-o", p.path, p.Dir).CombinedOutput(); err != nil {
			p.err = &buildError{err, out}
		}
	})
	require.NoError(t, p.err)

	cmd := exec.Command(p.path, append(append([]string(nil), p.Args...), args...)...)
	stdout := NewLines()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		require.NoError(t, waitErr, "%s stderr: %s", filepath.Base(p.Dir), stderr.String())
	})
	return stdout.Addr(t, exited), stdout
}

// Remove deletes the built binary; call it from TestMain after m.Run.
func (p *Program) Remove() {
	if p.path != "" {
		os.RemoveAll(filepath.Dir(p.path))
	}
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + ": " + string(e.out) }

// PKI is a CA and a server certificate it issued for localhost and
// 127.0.0.1, with the PEM files the programs' flags take.
type PKI struct {
	Cert                      tls.Certificate
	CAFile, CertFile, KeyFile string
	ClientTLS                 *tls.Config // trusts the CA, expects localhost
}

// NewPKI makes a PKI with its files in a temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	ca, err := pki.NewCA("test CA")
	require.NoError(t, err)
	cert, err := ca.Issue("localhost", "127.0.0.1")
	require.NoError(t, err)
	certPEM, keyPEM, err := pki.KeyPEM(cert)
	require.NoError(t, err)
	dir := t.TempDir()
	p := &PKI{
		Cert:      cert,
		CAFile:    filepath.Join(dir, "ca.pem"),
		CertFile:  filepath.Join(dir, "cert.pem"),
		KeyFile:   filepath.Join(dir, "key.pem"),
		ClientTLS: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"},
	}
	require.NoError(t, os.WriteFile(p.CAFile, ca.PEM(), 0o600))
	require.NoError(t, os.WriteFile(p.CertFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(p.KeyFile, keyPEM, 0o600))
	return p
}

// ReadEML returns the contents of the .eml files in dir.
func ReadEML(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	return out
}

// Closed returns a loopback address where nothing listens.
func Closed(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Silent returns the address of a server that accepts connections and
// never answers, until the test ends.
func Silent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	return l.Addr().String()
}

// PlainServer is a go-smtp server without the requiretls glue: it never
// announces REQUIRETLS. With cert set it offers STARTTLS. It returns its
// address and the messages it received.
func PlainServer(t testing.TB, cert *tls.Certificate) (string, *Inbox) {
	t.Helper()
	in := &Inbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &plainSession{in: in}, nil }))
	s.Domain = "plain.test"
	if cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String(), in
}

// Inbox holds what a PlainServer received: each message as
// "MAIL FROM:<sender>\r\n" and the data.
type Inbox struct {
	mu   sync.Mutex
	msgs []string
}

// All returns the messages received so far.
func (in *Inbox) All() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.msgs...)
}

type plainSession struct {
	in   *Inbox
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

// AssertFails calls run with args and asserts what every example program
// does when it cannot start: exit status 2 and one line on standard error,
// beginning with want. It returns the standard output.
func AssertFails(t testing.TB, run RunFunc, want string, args ...string) string {
	t.Helper()
	code, stdout, stderr := Once(run, args...)
	assert.Equal(t, 2, code)
	assert.True(t, strings.HasPrefix(stderr, want), "stderr: %q", stderr)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	return stdout
}

// AssertHelp calls run with -h and asserts that it exits 0 with the usage
// on standard output, containing each of want, and nothing on standard
// error.
func AssertHelp(t testing.TB, run RunFunc, want ...string) {
	t.Helper()
	code, stdout, stderr := Once(run, "-h")
	assert.Equal(t, 0, code)
	for _, w := range want {
		assert.Contains(t, stdout, w)
	}
	assert.Empty(t, stderr)
}
