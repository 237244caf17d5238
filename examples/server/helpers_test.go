package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/pki"
)

// lines collects a program's output and lets a test wait for a line.
type lines struct {
	mu      sync.Mutex
	partial []byte
	all     []string
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.all = append(l.all, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// waitFor returns the submatches of the first line matching re, waiting
// for it until done is closed (the program has ended).
func (l *lines) waitFor(t *testing.T, re *regexp.Regexp, done <-chan struct{}) []string {
	t.Helper()
	for {
		l.mu.Lock()
		for _, s := range l.all {
			if m := re.FindStringSubmatch(s); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			t.Fatalf("program ended without printing a line matching %q; output:\n%s", re, l)
		}
	}
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// proc is the server running in-process.
type proc struct {
	addr           string
	stdout, stderr *lines
	code           int
	done           chan struct{}
	stop           context.CancelFunc
}

// start runs the server with args in-process and waits until it listens.
// The test's cleanup stops it as SIGTERM would and requires exit status 0.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{stdout: newLines(), stderr: newLines(), done: make(chan struct{}), stop: cancel}
	go func() {
		defer close(p.done)
		p.code = run(ctx, args, p.stdout, p.stderr)
	}()
	t.Cleanup(func() {
		p.stop()
		<-p.done
		require.Equal(t, 0, p.code, "exit status; stderr:\n%s", p.stderr)
	})
	p.addr = p.stdout.waitFor(t, listeningRE, p.done)[1]
	return p
}

// runOnce runs the server with args that make it fail at start.
func runOnce(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// testPKI is a CA and a server certificate it issued for localhost and
// 127.0.0.1, written as PEM files.
type testPKI struct {
	ca                *pki.CA
	cert              tls.Certificate
	certFile, keyFile string
	clientTLS         *tls.Config
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
		ca: ca, cert: cert,
		certFile:  filepath.Join(dir, "cert.pem"),
		keyFile:   filepath.Join(dir, "key.pem"),
		clientTLS: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"},
	}
	require.NoError(t, os.WriteFile(p.certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(p.keyFile, keyPEM, 0o600))
	return p
}

// send delivers msg on c, a go-smtp client (which says EHLO localhost).
func send(c *smtp.Client, requireTLS bool, msg string) error {
	defer c.Close()
	if err := c.Mail("alice@example.org", &smtp.MailOptions{RequireTLS: requireTLS}); err != nil {
		return err
	}
	if err := c.Rcpt("bob@example.net", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// build compiles the server into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}
