package main

import (
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/runtest"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

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

// startRelay runs the relay in-process with args, writing its output to
// out, and returns its address. Cleanup stops it as SIGTERM would and
// requires exit status 0.
func startRelay(t *testing.T, out *runtest.Lines, args ...string) string {
	t.Helper()
	return runtest.Start(t, run, out, append([]string{"-listen", "127.0.0.1:0"}, args...)...).Addr
}

// exampleServer is examples/server, built once per test run, as the next
// hop that has everything.
var exampleServer = &runtest.Program{Dir: "../server", Args: []string{"-listen", "127.0.0.1:0"}}

func TestMain(m *testing.M) {
	code := m.Run()
	exampleServer.Remove()
	os.Exit(code)
}

// send submits msg to the relay at addr over STARTTLS with go-smtp's
// client and returns the relay's reply to the transaction.
func send(t *testing.T, addr string, cfg *tls.Config, from string, requireTLS bool, msg string) error {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Minute)
	require.NoError(t, err)
	// A relay that stops answering fails this test, with its own name,
	// after three minutes (more than the relay's 2-minute delivery
	// timeout), not the whole test binary at its 10-minute timeout.
	require.NoError(t, conn.SetDeadline(time.Now().Add(3*time.Minute)))
	c, err := smtp.NewClientStartTLS(conn, cfg)
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
