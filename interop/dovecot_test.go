//go:build interop

package interop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// dovecotConf is a minimal Dovecot LMTP instance in one directory: a UNIX
// socket and a loopback TCP port with STARTTLS (the suite's certificate),
// two mailboxes: ok, and full, whose quota of one byte makes Dovecot refuse
// every message for it after DATA (lmtp_rcpt_check_quota = no). With ssl =
// yes Dovecot offers STARTTLS on the UNIX socket too.
const dovecotConf = `base_dir = %[1]s/base
state_dir = %[1]s/base
instance_name = requiretls-interop
protocols = lmtp
listen = 127.0.0.1
log_path = %[1]s/dovecot.log
default_internal_user = root
default_login_user = root
default_internal_group = root
ssl = yes
ssl_cert = <%[2]s
ssl_key = <%[3]s
mail_location = maildir:%[1]s/mail/%%n
first_valid_uid = 1
mail_plugins = quota
lmtp_rcpt_check_quota = no
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = passwd-file
  args = %[1]s/users
}
plugin {
  quota = maildir:User quota
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %[4]d
  }
  unix_listener lmtp {
    path = %[1]s/lmtp.sock
    mode = 0666
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
`

// dovecot is a running Dovecot LMTP server.
type dovecot struct {
	dir     string
	unix    string // "unix:/path" for Dialer.Dial
	tcp     string
	version string
}

// startDovecot runs Dovecot's lmtp in the foreground in a directory of its
// own and stops it, by PID, when the test ends. Not finding or not starting
// it is a failure: interop/run installs dovecot-lmtpd.
func startDovecot(t *testing.T) *dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	require.NoError(t, err, "dovecot not found: interop/run installs dovecot-lmtpd")
	out, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "requiretls-dovecot-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The mailboxes belong to nobody (Dovecot refuses UID 0 for mail).
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "mail"), 0o777))
	require.NoError(t, os.Chmod(filepath.Join(dir, "mail"), 0o777))
	users := fmt.Sprintf("ok::65534:65534::%[1]s/mail/ok::userdb_quota_rule=*:storage=10M\n"+
		"full::65534:65534::%[1]s/mail/full::userdb_quota_rule=*:storage=1B\n", dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte(users), 0o644))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(dovecotConf, dir, os.Getenv("INTEROP_CERT"), os.Getenv("INTEROP_KEY"), port)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644))

	cmd := exec.Command(bin, "-F", "-c", filepath.Join(dir, "dovecot.conf"))
	logf, err := os.Create(filepath.Join(dir, "dovecot.out"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			for _, f := range []string{"dovecot.out", "dovecot.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	d := &dovecot{
		dir: dir, unix: "unix:" + filepath.Join(dir, "lmtp.sock"), tcp: fmt.Sprintf("127.0.0.1:%d", port),
		version: strings.TrimSpace(strings.Fields(string(out))[0]),
	}
	waitFor(t, "Dovecot listening", func() bool {
		for _, a := range [][2]string{{"unix", filepath.Join(dir, "lmtp.sock")}, {"tcp", d.tcp}} {
			c, err := net.Dial(a[0], a[1])
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
	return d
}

func (d *dovecot) peer(over string) peer {
	return peer{Name: "Dovecot LMTP (" + over + ")", Version: d.version}
}

// stored returns the messages Dovecot saved in user's INBOX.
func (d *dovecot) stored(t *testing.T, user string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(d.dir, "mail", user, "new", "*"))
	var msgs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		msgs = append(msgs, string(b))
	}
	return msgs
}

// lmtpSend dials addr and, when the policy allows, sends one message to
// ok and full, returning the per-recipient replies.
func lmtpSend(t *testing.T, d *requiretls.Dialer, addr string, a policy.Attempt, subject string) (*requiretls.Conn, map[string]requiretls.LMTPReply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr, a)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	require.NoError(t, c.Mail("sender@example.org", &smtp.MailOptions{Return: smtp.DSNReturnFull}))
	require.NoError(t, c.Rcpt("ok", nil))
	require.NoError(t, c.Rcpt("full", nil))
	replies, err := c.LMTPData(strings.NewReader("Subject: " + subject + "\r\n\r\nHello from go-requiretls.\r\n"))
	require.NoError(t, err)
	// Dovecot closes the socket right after its 221: Quit's close_notify
	// may then find the connection gone, which is no failure.
	var se *smtp.SMTPError
	if err := c.Quit(); errors.As(err, &se) {
		t.Errorf("QUIT: %v", err)
	}
	return c, replies, nil
}

// assertDovecotReplies checks Dovecot's replies after DATA: ok saved it,
// full refused it over quota (552 5.2.2), and the message is in ok's INBOX.
func assertDovecotReplies(t *testing.T, dc *dovecot, replies map[string]requiretls.LMTPReply, subject string) {
	t.Helper()
	require.Len(t, replies, 2)
	assert.NoError(t, replies["ok"].Err)
	assert.Contains(t, replies["ok"].Text, "Saved")
	var se *smtp.SMTPError
	require.ErrorAs(t, replies["full"].Err, &se)
	assert.Equal(t, 552, se.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 2, 2}, se.EnhancedCode)
	found := false
	for _, m := range dc.stored(t, "ok") {
		found = found || strings.Contains(m, "Subject: "+subject+"\r\n") || strings.Contains(m, "Subject: "+subject+"\n")
	}
	assert.True(t, found, "the message is in ok's INBOX")
	for _, m := range dc.stored(t, "full") {
		assert.NotContains(t, m, "Subject: "+subject+"\n")
	}
}

// assertNotStored checks that no mailbox holds a message with subject.
func assertNotStored(t *testing.T, dc *dovecot, subject string) {
	t.Helper()
	for _, user := range []string{"ok", "full"} {
		for _, m := range dc.stored(t, user) {
			assert.NotContains(t, m, "Subject: "+subject+"\n", "nothing was delivered")
		}
	}
}

// TestDovecotLMTP delivers to Dovecot's lmtp, a message store that does not
// implement REQUIRETLS (it answers "MAIL ... REQUIRETLS" with 555 5.5.4),
// over its UNIX socket and over TCP with STARTTLS, under the staged policy.
func TestDovecotLMTP(t *testing.T) {
	dc := startDovecot(t)
	const myhostname = "relay.interop.test"
	lmtpPolicy, err := policy.Parse(policy.DefaultLMTPPolicy, nil)
	require.NoError(t, err)
	d := &requiretls.Dialer{LocalName: myhostname, LMTP: true, TLSConfig: clientTLS(t)}

	// enforce: Dovecot does not offer REQUIRETLS, so a Required message
	// under enforce is refused before MAIL and bounces 5.7.30.
	enforce := func(t *testing.T, over, addr, subject string) {
		expect(t, dc.peer(over), fromUs, "enforce",
			"no MAIL sent (TLS up, certificate verified, REQUIRETLS not in the LHLO reply); bounce 5.7.30; tls=verify/!requiretls:none")
		a := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "localhost"}
		_, _, err := lmtpSend(t, d, addr, a, subject)
		var pe *requiretls.PolicyError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, policy.Bounce, pe.Decision.Action)
		assert.ErrorIs(t, err, requiretls.ErrSupportRequired)
		assert.Equal(t, "verify/!requiretls:none", pe.Field().String())
		assertNotStored(t, dc, subject)
	}
	t.Run("unix socket, default lmtp_requiretls_policy", func(t *testing.T) {
		expect(t, dc.peer("UNIX socket"), fromUs, "opportunistic (Postfix default)",
			"Required message delivered over STARTTLS without REQUIRETLS; ok saved it, full refused 552 5.2.2 after DATA; tls=may/requiretls:none")
		c, replies, err := lmtpSend(t, d, dc.unix, policy.Attempt{Tag: policy.Required, Level: lmtpPolicy.Lookup(myhostname), Host: myhostname}, "unix-opportunistic")
		require.NoError(t, err)
		assert.Equal(t, policy.SendWithout, c.Decision.Action)
		assert.Equal(t, "may/requiretls:none", c.Field().String())
		assert.NotNil(t, c.TLS, "Dovecot offers STARTTLS on its socket")
		assertDovecotReplies(t, dc, replies, "unix-opportunistic")
	})
	t.Run("unix socket, enforce", func(t *testing.T) { enforce(t, "UNIX socket", dc.unix, "unix-enforce") })
	t.Run("TCP STARTTLS, enforce", func(t *testing.T) { enforce(t, "TCP, STARTTLS", dc.tcp, "tcp-enforce") })
	t.Run("TCP STARTTLS, opportunistic", func(t *testing.T) {
		expect(t, dc.peer("TCP, STARTTLS"), fromUs, "opportunistic",
			"Required message delivered over TLS without REQUIRETLS; ok saved it, full refused 552 5.2.2 after DATA; tls=verify/requiretls:none")
		a := policy.Attempt{Tag: policy.Required, Level: policy.Opportunistic, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "localhost"}
		c, replies, err := lmtpSend(t, d, dc.tcp, a, "tcp-opportunistic")
		require.NoError(t, err)
		assert.Equal(t, policy.SendWithout, c.Decision.Action)
		assert.NotNil(t, c.TLS)
		assert.NoError(t, c.CertErr)
		assert.Equal(t, "verify/requiretls:none", c.Field().String())
		assertDovecotReplies(t, dc, replies, "tcp-opportunistic")
	})
}
