package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/cli"
	"github.com/requiretls/go-requiretls/examples/internal/pki"
	"github.com/requiretls/go-requiretls/examples/internal/runtest"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

const body = "Subject: hello\r\nTLS-Required: No\r\n\r\nthe body\r\n"

// TestServerTagsAndStores covers R23, R24, R25 (the tag of each message,
// REQUIRETLS winning over "TLS-Required: No"), E21 (the Received field
// records "(requiretls)") and E22 (REQUIRETLS only under TLS, implicit TLS
// included).
func TestServerTagsAndStores(t *testing.T) {
	p := runtest.NewPKI(t)
	for _, tc := range []struct {
		name        string
		implicit    bool
		requireTLS  bool
		msg         string
		wantTag     string
		wantComment bool
	}{
		{"R23 REQUIRETLS over STARTTLS", false, true, "Subject: x\r\n\r\nbody\r\n", "required", true},
		{"R25 REQUIRETLS wins over TLS-Required No", false, true, body, "required", true},
		{"R24 TLS-Required No", false, false, body, "not-required", false},
		{"default", false, false, "Subject: x\r\n\r\nbody\r\n", "default", false},
		{"E22 REQUIRETLS with implicit TLS", true, true, body, "required", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := []string{"-listen", "127.0.0.1:0", "-cert", p.CertFile, "-key", p.KeyFile, "-out", out}
			if tc.implicit {
				args = append(args, "-implicit-tls")
			}
			srv := start(t, args...)

			dial := smtp.DialStartTLS
			if tc.implicit {
				dial = smtp.DialTLS
			}
			c, err := dial(srv.Addr, p.ClientTLS)
			require.NoError(t, err)
			require.NoError(t, send(c, tc.requireTLS, tc.msg))

			files := runtest.ReadEML(t, out)
			require.Len(t, files, 1)
			stored := files[0]
			assert.True(t, strings.HasPrefix(stored, "Return-Path: <alice@example.org>\r\nReceived: from localhost"), stored)
			assert.Equal(t, tc.wantComment, strings.Contains(stored, "with ESMTPS (requiretls)"), stored)
			assert.Contains(t, stored, "for <bob@example.net>")
			assert.True(t, strings.HasSuffix(stored, tc.msg), "message kept byte for byte")
			assert.Regexp(t, `message from=<alice@example.org> to=<bob@example.net> tag=`+tc.wantTag+` session=TLS1\.3 size=\d+ file=`+regexp.QuoteMeta(out), srv.Stdout.String())
		})
	}
}

// TestServerRequestPolicy: -request-client tags Required a message
// without REQUIRETLS from the client's network (R23 as if MAIL had carried
// it), and on a plaintext session refuses its MAIL with 523 5.7.10 (E5).
func TestServerRequestPolicy(t *testing.T) {
	p := runtest.NewPKI(t)
	out := t.TempDir()
	srv := start(t, "-listen", "127.0.0.1:0", "-cert", p.CertFile, "-key", p.KeyFile, "-out", out,
		"-request-client", "cidr:{ {127.0.0.0/8 enforce} }", "-request-sender", "inline:{ {example.com = enforce} }")
	c, err := smtp.DialStartTLS(srv.Addr, p.ClientTLS)
	require.NoError(t, err)
	require.NoError(t, send(c, false, body))
	files := runtest.ReadEML(t, out)
	require.Len(t, files, 1)
	assert.Contains(t, files[0], "with ESMTPS (requiretls)")
	assert.True(t, strings.HasSuffix(files[0], body), "TLS-Required: No is kept")
	assert.Contains(t, srv.Stdout.String(), "tag=required session=TLS1.3")

	c, err = smtp.Dial(srv.Addr)
	require.NoError(t, err)
	defer c.Close()
	var se *smtp.SMTPError
	require.ErrorAs(t, c.Mail("alice@example.org", nil), &se)
	assert.Equal(t, 523, se.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 7, 10}, se.EnhancedCode)
}

// TestServerEHLO covers E22 (the keyword only after STARTTLS) and E5
// (REQUIRETLS on a plaintext session refused with 523 5.7.10).
func TestServerEHLO(t *testing.T) {
	p := runtest.NewPKI(t)
	srv := start(t, "-listen", "127.0.0.1:0", "-cert", p.CertFile, "-key", p.KeyFile)

	c, err := smtp.Dial(srv.Addr)
	require.NoError(t, err)
	defer c.Close()
	ok, _ := c.Extension("REQUIRETLS")
	assert.False(t, ok, "E22: REQUIRETLS announced before TLS")
	ok, _ = c.Extension("STARTTLS")
	assert.True(t, ok)
	require.NoError(t, c.Quit())

	// go-smtp's client refuses to send REQUIRETLS to a server that did not
	// announce it, so speak the command by hand.
	conn, err := net.Dial("tcp", srv.Addr)
	require.NoError(t, err)
	defer conn.Close()
	r := bufio.NewReader(conn)
	readReply := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			if len(line) < 4 || line[3] != '-' {
				return line + last
			}
		}
	}
	readReply()
	conn.Write([]byte("EHLO client.test\r\n"))
	readReply()
	conn.Write([]byte("MAIL FROM:<alice@example.org> REQUIRETLS\r\n"))
	assert.True(t, strings.HasPrefix(readReply(), "523 5.7.10"), "E5")

	c, err = smtp.DialStartTLS(srv.Addr, p.ClientTLS)
	require.NoError(t, err)
	defer c.Close()
	ok, _ = c.Extension("REQUIRETLS")
	assert.True(t, ok, "E22: REQUIRETLS announced after TLS")
	require.NoError(t, c.Quit())
}

// TestServerFilterHeader covers E25: -filter-header carries the tag in the
// header section for a content filter, and strips a forged field.
func TestServerFilterHeader(t *testing.T) {
	p := runtest.NewPKI(t)
	out := t.TempDir()
	srv := start(t, "-listen", "127.0.0.1:0", "-cert", p.CertFile, "-key", p.KeyFile, "-out", out, "-filter-header")

	c, err := smtp.DialStartTLS(srv.Addr, p.ClientTLS)
	require.NoError(t, err)
	require.NoError(t, send(c, true, "Subject: a\r\n\r\nbody\r\n"))
	c, err = smtp.DialStartTLS(srv.Addr, p.ClientTLS)
	require.NoError(t, err)
	require.NoError(t, send(c, false, "Require-TLS-ESMTP: yes\r\nSubject: b\r\n\r\nbody\r\n"))

	files := runtest.ReadEML(t, out)
	require.Len(t, files, 2)
	var tagged int
	for _, f := range files {
		if strings.Contains(f, "Require-TLS-ESMTP: yes") {
			tagged++
			assert.Contains(t, f, "Subject: a")
		}
	}
	assert.Equal(t, 1, tagged, "only the REQUIRETLS message carries the field")
}

// TestServerSelfSigned checks the certificate made at start: its printed
// fingerprint is the one the client sees.
func TestServerSelfSigned(t *testing.T) {
	srv := start(t, "-listen", "127.0.0.1:0", "-hostname", "mx.test")
	m := srv.Stdout.WaitFor(t, regexp.MustCompile(`certificate for mx\.test, SHA-256 fingerprint ([0-9a-f]{64})`), srv.Done)

	c, err := smtp.DialStartTLS(srv.Addr, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Noop()) // the handshake happens with the first command
	cs, ok := c.TLSConnectionState()
	require.True(t, ok)
	assert.Equal(t, m[1], pki.Fingerprint(tls.Certificate{Certificate: [][]byte{cs.PeerCertificates[0].Raw}}))
	assert.Equal(t, []string{"mx.test", "127.0.0.1", "::1"}, append(cs.PeerCertificates[0].DNSNames, ipStrings(cs.PeerCertificates[0].IPAddresses)...))
}

// TestServerWriteCert: with -write-cert the generated certificate is in a
// file, and that file alone is enough for a client's -cafile: the
// certificate names -hostname, 127.0.0.1 and ::1, so a sender (as probe
// does) authenticates the server without -servername, and a REQUIRETLS
// message goes out under enforce.
func TestServerWriteCert(t *testing.T) {
	file := filepath.Join(t.TempDir(), "server.pem")
	srv := start(t, "-listen", "127.0.0.1:0", "-write-cert", file)
	srv.Stdout.WaitFor(t, regexp.MustCompile(`certificate for localhost, SHA-256 fingerprint [0-9a-f]{64}, written to `+regexp.QuoteMeta(file)), srv.Done)

	cfg, err := cli.ClientTLS("", "", file)
	require.NoError(t, err)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		d := &requiretls.Dialer{TLSConfig: cfg, Timeout: 10 * time.Second}
		conn, err := d.Dial(context.Background(), srv.Addr, policy.Attempt{
			Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: host,
		})
		require.NoError(t, err, host)
		assert.NoError(t, conn.CertErr, host)
		assert.Equal(t, policy.SendRequireTLS, conn.Decision.Action, host)
		require.NoError(t, conn.Quit())
	}
}

func ipStrings(ips []net.IP) []string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return s
}

// TestServerBadInput: every failure to start is one line on stderr and
// exit status 2; -h is usage on stdout and exit status 0.
func TestServerBadInput(t *testing.T) {
	p := runtest.NewPKI(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "server: flag provided but not defined: -bogus (see -h)"},
		{"argument", []string{"extra"}, `server: unexpected argument "extra" (see -h)`},
		{"cert without key", []string{"-cert", p.CertFile}, "server: -cert and -key go together (see -h)"},
		{"missing cert file", []string{"-cert", "/nonexistent/cert.pem", "-key", p.KeyFile}, "server: -cert/-key: open /nonexistent/cert.pem: no such file or directory"},
		{"key does not match", []string{"-cert", p.CertFile, "-key", p.CertFile}, "server: -cert/-key: tls: "},
		{"missing out dir", []string{"-out", "/nonexistent/dir"}, "server: -out: stat /nonexistent/dir: no such file or directory (see -h)"},
		{"out not a dir", []string{"-out", notDir}, "server: -out " + notDir + ": not a directory (see -h)"},
		{"bad hostname", []string{"-hostname", "a b"}, `server: -hostname "a b": not a host name (see -h)`},
		{"port in use", []string{"-listen", busy.Addr().String()}, "server: listen tcp " + busy.Addr().String() + ": bind: address already in use"},
		{"bad listen address", []string{"-listen", "nonsense"}, "server: -listen nonsense: address nonsense: missing port in address (see -h)"},
		{"bad request table", []string{"-request-sender", "inline:{ {a.example = enforce}"}, `server: invalid value "inline:{ {a.example = enforce}" for flag -request-sender: policy: `},
		{"write-cert in a missing dir", []string{"-write-cert", "/nonexistent/dir/ca.pem"}, "server: -write-cert: open /nonexistent/dir/ca.pem: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout := runtest.AssertFails(t, run, tc.want, tc.args...)
			assert.NotContains(t, stdout, "certificate for", "nothing is made before the flags and the address are known good")
		})
	}

	runtest.AssertHelp(t, run, "-implicit-tls", "Exit status")
}

// TestServerSIGTERM runs the built program and stops it with SIGTERM, as
// an operator or a service manager would.
func TestServerSIGTERM(t *testing.T) {
	cmd := exec.Command(build(t), "-listen", "127.0.0.1:0")
	stdout := runtest.NewLines()
	cmd.Stdout = stdout
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()

	addr := stdout.Addr(t, exited)
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	require.NoError(t, c.Quit())

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	<-exited
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		t.Fatalf("exit status %d; stderr: %s", ee.ExitCode(), stderr.String())
	}
	require.NoError(t, waitErr)
	assert.Contains(t, stdout.String(), "shutting down")
	assert.Empty(t, stderr.String())
}
