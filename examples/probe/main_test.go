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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/pki"
)

// lines collects a program's output and lets a test wait for a line.
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

var serverBin struct {
	once sync.Once
	path string
	err  error
}

// startServer runs examples/server, built once per test run, with args
// and returns its address and output. Cleanup stops it with SIGTERM and
// requires exit status 0.
func startServer(t *testing.T, args ...string) (string, *lines) {
	t.Helper()
	serverBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "probe-test")
		if err != nil {
			serverBin.err = err
			return
		}
		serverBin.path = filepath.Join(dir, "server")
		out, err := exec.Command("go", "build", "-o", serverBin.path, "../server").CombinedOutput()
		if err != nil {
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
	return stdout.waitFor(t, regexp.MustCompile(`listening on (\S+)`), exited)[1], stdout
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
	p := &testPKI{cert: cert, caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	require.NoError(t, os.WriteFile(p.caFile, ca.PEM(), 0o600))
	require.NoError(t, os.WriteFile(p.certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(p.keyFile, keyPEM, 0o600))
	return p
}

// plainServer is a go-smtp server without the requiretls glue: it never
// announces REQUIRETLS. With cert set it offers STARTTLS.
func plainServer(t *testing.T, cert *tls.Certificate) string {
	t.Helper()
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discard{}, nil }))
	s.Domain = "plain.test"
	if cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// discard is a session that accepts everything and keeps nothing.
type discard struct{}

func (discard) Mail(string, *smtp.MailOptions) error { return nil }
func (discard) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discard) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discard) Reset()        {}
func (discard) Logout() error { return nil }

func probe(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestProbeServer runs the probe against examples/server, with STARTTLS
// and with implicit TLS (E22), with and without a certificate that
// verifies (R15, R27.4), and checks the verdict on REQUIRETLS after TLS
// (R16, R27.5).
func TestProbeServer(t *testing.T) {
	p := newPKI(t)
	starttls, _ := startServer(t, "-cert", p.certFile, "-key", p.keyFile)
	implicit, _ := startServer(t, "-cert", p.certFile, "-key", p.keyFile, "-implicit-tls")
	selfSigned, selfOut := startServer(t, "-hostname", "localhost")
	fp := selfOut.waitFor(t, regexp.MustCompile(`fingerprint ([0-9a-f]{64})`), nil)[1]

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"R27.5 STARTTLS, REQUIRETLS after TLS", []string{"-cafile", p.caFile, "-servername", "localhost", starttls}, 0, []string{
			"EHLO:\n  Hello", "STARTTLS: TLS 1.3", "certificate: verified for localhost", "EHLO after TLS:\n  Hello",
			"  REQUIRETLS\n", "verdict: tls=verify/requiretls\n", "can be delivered here under enforce"}},
		{"E22 implicit TLS", []string{"-cafile", p.caFile, "-servername", "localhost", "-implicit-tls", implicit}, 0, []string{
			"implicit TLS: TLS 1.3", "certificate: verified", "  REQUIRETLS\n", "verdict: tls=verify/requiretls\n"}},
		{"E14 servername defaults to the host", []string{"-cafile", p.caFile, starttls}, 0, []string{
			"certificate name 127.0.0.1", "verdict: tls=verify/requiretls\n"}},
		{"R15 certificate not trusted", []string{"-servername", "localhost", selfSigned}, 1, []string{
			"certificate: NOT verified, certificate-not-trusted: ", "(SHA-256 " + fp + ")", "  REQUIRETLS\n",
			"verdict: tls=verify/!requiretls:nocertmatch\n", "5.7.10"}},
		{"R27.4 name does not match", []string{"-cafile", p.caFile, "-servername", "other.test", starttls}, 1, []string{
			"certificate: NOT verified, certificate-host-mismatch: ", "verdict: tls=verify/!requiretls:nocertmatch\n"}},
		{"E22 implicit TLS to a STARTTLS port", []string{"-cafile", p.caFile, "-implicit-tls", starttls}, 1, []string{
			"TLS: failed", "verdict: tls=verify?/requiretls?\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := probe(tc.args...)
			assert.Equal(t, tc.wantCode, code, stdout)
			assert.Empty(t, stderr)
			for _, w := range tc.want {
				assert.Contains(t, stdout, w)
			}
			if before, _, ok := strings.Cut(stdout, "STARTTLS:"); ok {
				assert.NotContains(t, before, "REQUIRETLS", "E22: no REQUIRETLS before TLS")
			}
		})
	}
}

// TestProbeWithoutREQUIRETLS runs the probe against go-smtp servers that
// lack the extension (R16) or STARTTLS itself (R13).
func TestProbeWithoutREQUIRETLS(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want []string
	}{
		{"R16 STARTTLS without REQUIRETLS", &p.cert, []string{"certificate: verified", "verdict: tls=verify/!requiretls:none\n", "5.7.30"}},
		{"R13 no STARTTLS", nil, []string{"STARTTLS: not offered", "verdict: tls=verify:none/!requiretls:nostarttls\n", "5.7.30"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := probe("-cafile", p.caFile, "-servername", "localhost", plainServer(t, tc.cert))
			assert.Equal(t, 1, code, stdout)
			assert.Empty(t, stderr)
			for _, w := range tc.want {
				assert.Contains(t, stdout, w)
			}
		})
	}
}

// TestProbeBadInput: usage errors and unreachable servers are one line on
// stderr and exit status 2.
func TestProbeBadInput(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	closed.Close()

	// A server that accepts and never greets.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no argument", nil, "probe: want one host:port argument (see -h)"},
		{"two arguments", []string{"a:25", "b:25"}, "probe: want one host:port argument (see -h)"},
		{"no port", []string{"example.org"}, "probe: address example.org: missing port in address (see -h)"},
		{"bad port", []string{"example.org:smtp"}, `probe: "example.org:smtp": want host:port (see -h)`},
		{"unknown flag", []string{"-x", "a:25"}, "probe: flag provided but not defined: -x (see -h)"},
		{"bad timeout", []string{"-timeout", "0s", "a:25"}, "probe: -timeout must be positive (see -h)"},
		{"missing cafile", []string{"-cafile", "/nonexistent.pem", "a:25"}, "probe: -cafile: open /nonexistent.pem: no such file or directory (see -h)"},
		{"cafile without certificates", []string{"-cafile", notPEM, "a:25"}, "probe: -cafile " + notPEM + ": no PEM certificate in it (see -h)"},
		{"connection refused", []string{closedAddr}, "probe: " + closedAddr + ": requiretls: connect: dial tcp " + closedAddr + ": connect: connection refused"},
		{"server does not answer", []string{"-timeout", "1s", silent.Addr().String()}, "probe: " + silent.Addr().String() + ": requiretls: greeting: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := probe(tc.args...)
			assert.Equal(t, 2, code)
			assert.True(t, strings.HasPrefix(stderr, tc.want), "stderr: %q", stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			assert.NotContains(t, stdout, "verdict")
		})
	}

	code, stdout, stderr := probe("-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "Exit status")
	assert.Empty(t, stderr)
}
