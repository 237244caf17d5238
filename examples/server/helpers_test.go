package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/runtest"
)

// start runs the server with args in-process and waits until it listens.
// The test's cleanup stops it as SIGTERM would and requires exit status 0.
func start(t *testing.T, args ...string) *runtest.Proc {
	t.Helper()
	return runtest.Start(t, run, runtest.NewLines(), args...)
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
