package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/examples/internal/runtest"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

const secret = "SECRET-BODY-LINE"

var testMessage = "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: plans\r\n\r\n" + secret + "\r\n"

// TestRelayToServer runs the relay in front of examples/server: a
// REQUIRETLS message keeps REQUIRETLS on the next hop (R2, E8, R27.5), so
// the stored message records "(requiretls)"; a message without it goes
// without (R12). Both the default policy (opportunistic for an IP next
// hop) and enforce deliver, as the next hop has everything.
func TestRelayToServer(t *testing.T) {
	p := runtest.NewPKI(t)
	for _, tc := range []struct {
		name       string
		policy     []string
		requireTLS bool
		wantTLS    string
	}{
		{"R27.5 default policy", nil, true, "verify/requiretls"},
		{"R27.5 enforce", []string{"-policy", "enforce"}, true, "verify/requiretls"},
		{"R12 not requested", []string{"-policy", "enforce"}, false, "verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, bounces := t.TempDir(), t.TempDir()
			server, _ := exampleServer.Start(t, "-cert", p.CertFile, "-key", p.KeyFile, "-out", out)
			log := runtest.NewLines()
			relay := startRelay(t, log, append([]string{"-nexthop", server, "-cafile", p.CAFile, "-servername", "localhost",
				"-bounce-dir", bounces, "-hostname", "relay.test", "-cert", p.CertFile, "-key", p.KeyFile}, tc.policy...)...)

			require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", tc.requireTLS, testMessage))

			stored := runtest.ReadEML(t, out)
			require.Len(t, stored, 1)
			assert.True(t, strings.HasPrefix(stored[0], "Return-Path: <alice@example.org>\r\nReceived: from relay.test"), stored[0])
			assert.Equal(t, tc.requireTLS, strings.Contains(stored[0], "by localhost with ESMTPS (requiretls)"), "the server's Received field")
			assert.Equal(t, tc.requireTLS, strings.Contains(stored[0], "by relay.test with ESMTPS (requiretls)"), "the relay's Received field")
			assert.True(t, strings.HasSuffix(stored[0], testMessage))
			assert.Empty(t, runtest.ReadEML(t, bounces))

			ds := deliveries(t, log.String())
			require.Len(t, ds, 1)
			assert.Equal(t, tlsstatus.Sent, ds[0].Status)
			assert.Equal(t, tc.wantTLS, ds[0].TLS.String())
			assert.Equal(t, "2.0.0", ds[0].DSN)
			assert.Equal(t, "127.0.0.1[127.0.0.1]:"+server[strings.LastIndexByte(server, ':')+1:], ds[0].Relay)
			assert.Equal(t, "bob@example.net", ds[0].To)
		})
	}
}

// TestRelayBounces runs the relay under enforce in front of a go-smtp
// server without the glue, which never announces REQUIRETLS: the message
// is not transmitted (R27.5, R31), it bounces with 5.7.30 (R32, R33), and
// the DSN returns the header only, never the body (R43, R46, R47). A
// bounce (empty reverse path) is still delivered (R49, E9).
func TestRelayBounces(t *testing.T) {
	p := runtest.NewPKI(t)
	plain, inbox := runtest.PlainServer(t, &p.Cert)
	bounces := t.TempDir()
	log := runtest.NewLines()
	relay := startRelay(t, log, "-nexthop", plain, "-policy", "enforce", "-cafile", p.CAFile, "-servername", "localhost",
		"-bounce-dir", bounces, "-cert", p.CertFile, "-key", p.KeyFile)

	// The relay has taken the message and bounces it itself: 250.
	require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", true, testMessage))
	assert.Empty(t, inbox.All(), "R31: nothing reached the server without REQUIRETLS")

	dsns := runtest.ReadEML(t, bounces)
	require.Len(t, dsns, 1)
	d := dsns[0]
	assert.NotContains(t, d, secret, "R46: the body is not in the DSN")
	assert.Contains(t, d, "Content-Type: text/rfc822-headers")
	assert.Contains(t, d, "Subject: plans", "the original header is returned")
	assert.Contains(t, d, "Status: 5.7.30")
	assert.Contains(t, d, "Final-Recipient: rfc822; bob@example.net")
	assert.Contains(t, d, "Remote-MTA: dns; 127.0.0.1")
	assert.Contains(t, d, "Diagnostic-Code: smtp; 550 5.7.30 Sender requested REQUIRETLS")
	assert.Contains(t, d, "To: alice@example.org")

	ds := deliveries(t, log.String())
	require.Len(t, ds, 1)
	assert.Equal(t, tlsstatus.Bounced, ds[0].Status)
	assert.Equal(t, "verify/!requiretls:none", ds[0].TLS.String())
	assert.Equal(t, "5.7.30", ds[0].DSN)
	assert.Contains(t, ds[0].Reason, "Sender requested REQUIRETLS, but no server was found that supports REQUIRETLS")
	id := ds[0].QueueID
	assert.Regexp(t, regexp.MustCompile(`relay/bounce\[\d+\]: `+id+`: sender non-delivery notification: `+regexp.QuoteMeta(filepath.Join(bounces, id+".eml"))+` \(to <alice@example.org>, MAIL FROM:<>, requiretls=false\)`), log.String())

	// E9, R49: a bounce is never held back by REQUIRETLS.
	require.NoError(t, send(t, relay, p.ClientTLS, "", true, testMessage))
	got := inbox.All()
	require.Len(t, got, 1)
	assert.True(t, strings.HasPrefix(got[0], "MAIL FROM:<>\r\n"))
	ds = deliveries(t, log.String())
	require.Len(t, ds, 2)
	assert.Equal(t, tlsstatus.Sent, ds[1].Status)
	assert.Equal(t, "verify/requiretls:none", ds[1].TLS.String())
	assert.Len(t, runtest.ReadEML(t, bounces), 1, "no new DSN")
}

// TestRelayBouncesUnreadableHeader: when dsn.Compose cannot read the
// original's header section (here one over dsn.DefaultMaxHeaderBytes),
// the relay still bounces, with an empty original, instead of failing the
// message with 451.
func TestRelayBouncesUnreadableHeader(t *testing.T) {
	p := runtest.NewPKI(t)
	plain, _ := runtest.PlainServer(t, &p.Cert)
	bounces := t.TempDir()
	relay := startRelay(t, runtest.NewLines(), "-nexthop", plain, "-policy", "enforce", "-cafile", p.CAFile, "-servername", "localhost",
		"-bounce-dir", bounces, "-cert", p.CertFile, "-key", p.KeyFile)

	msg := "Subject: plans\r\n" + strings.Repeat("X-Pad: 0123456789abcdef0123456789abcdef\r\n", dsn.DefaultMaxHeaderBytes/40+1) + "\r\n" + secret + "\r\n"
	require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", true, msg))
	dsns := runtest.ReadEML(t, bounces)
	require.Len(t, dsns, 1)
	assert.NotContains(t, dsns[0], secret)
	assert.NotContains(t, dsns[0], "Subject: plans", "no header field of the original")
	assert.Contains(t, dsns[0], "Status: 5.7.30")
}

// TestRelayLogTally counts the relay's own log with tlsstatus, as
// examples/tally does: the Postfix README's experiment.
func TestRelayLogTally(t *testing.T) {
	p := runtest.NewPKI(t)
	logA, logB := runtest.NewLines(), runtest.NewLines()
	server, _ := exampleServer.Start(t, "-cert", p.CertFile, "-key", p.KeyFile)
	plain, _ := runtest.PlainServer(t, &p.Cert)
	common := []string{"-cafile", p.CAFile, "-servername", "localhost", "-bounce-dir", t.TempDir(), "-cert", p.CertFile, "-key", p.KeyFile}
	toServer := startRelay(t, logA, append([]string{"-nexthop", server}, common...)...)
	toPlain := startRelay(t, logB, append([]string{"-nexthop", plain, "-policy", "enforce"}, common...)...)

	require.NoError(t, send(t, toServer, p.ClientTLS, "alice@example.org", true, testMessage))
	require.NoError(t, send(t, toServer, p.ClientTLS, "alice@example.org", false, testMessage))
	require.NoError(t, send(t, toPlain, p.ClientTLS, "alice@example.org", true, testMessage))

	var tally tlsstatus.Tally
	maillog := logA.String() + logB.String() // as if both logged to one file
	for _, line := range strings.Split(strings.TrimSuffix(maillog, "\n"), "\n") {
		require.NoError(t, tally.AddLine(line))
	}
	rep := tally.Report()
	assert.Equal(t, int64(0), rep.Malformed)
	assert.Equal(t, int64(3), rep.Total.Deliveries)
	assert.Equal(t, int64(2), rep.Total.Requested)
	assert.Equal(t, int64(1), rep.Total.Offered)
	assert.Equal(t, int64(1), rep.Total.NotOffered)
	states := map[string]tlsstatus.Counts{}
	for _, row := range rep.States {
		if row.Deliveries > 0 {
			states[row.Key] = row.Counts
		}
	}
	assert.Len(t, states, 3)
	assert.Equal(t, int64(1), states["requiretls"].Sent)
	assert.Equal(t, int64(1), states["!requiretls:none"].Bounced)
	assert.Equal(t, int64(1), states[tlsstatus.NotRequested].Sent)
}

// TestRelayTLSLevel: -tls-level verify holds for every message but one
// with "TLS-Required: No", which is delivered even to a server whose
// certificate does not verify (R19, R36, E12).
func TestRelayTLSLevel(t *testing.T) {
	p := runtest.NewPKI(t)
	server, _ := exampleServer.Start(t) // self-signed: does not verify
	log := runtest.NewLines()
	relay := startRelay(t, log, "-nexthop", server, "-bounce-dir", t.TempDir(), "-cert", p.CertFile, "-key", p.KeyFile)

	err := send(t, relay, p.ClientTLS, "alice@example.org", false, testMessage)
	var se *smtp.SMTPError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, 451, se.Code)
	assert.Equal(t, smtp.EnhancedCode{4, 7, 5}, se.EnhancedCode)

	require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", false, "TLS-Required: No\r\n"+testMessage))

	ds := deliveries(t, log.String())
	require.Len(t, ds, 2)
	assert.Equal(t, tlsstatus.Deferred, ds[0].Status)
	assert.Contains(t, ds[0].Reason, "Server certificate not verified")
	assert.Equal(t, "4.7.5", ds[0].DSN)
	assert.Equal(t, "!verify", ds[0].TLS.String(), "Postfix: level verify not met, connection not used")
	assert.Equal(t, tlsstatus.Sent, ds[1].Status)
	// Issue 15 item 2: the certificate of the TLS-Required: No message was
	// not checked, so its level is may, not verify (Postfix caps it so).
	assert.Equal(t, "may", ds[1].TLS.String())
}

// TestRelayTLSLevelMayUnderEnforce: with no way to authenticate the next
// hop, enforce bounces a REQUIRETLS message before connecting (R14, R15).
func TestRelayTLSLevelMayUnderEnforce(t *testing.T) {
	p := runtest.NewPKI(t)
	plain, inbox := runtest.PlainServer(t, &p.Cert)
	bounces := t.TempDir()
	log := runtest.NewLines()
	relay := startRelay(t, log, "-nexthop", plain, "-tls-level", "may", "-policy", "enforce", "-bounce-dir", bounces, "-cert", p.CertFile, "-key", p.KeyFile)

	require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", true, testMessage))
	assert.Empty(t, inbox.All())
	ds := deliveries(t, log.String())
	require.Len(t, ds, 1)
	assert.Equal(t, "none", ds[0].Relay)
	assert.Equal(t, "5.7.10", ds[0].DSN)
	assert.Equal(t, "may?/!requiretls:nocertmatch", ds[0].TLS.String())
	require.Len(t, runtest.ReadEML(t, bounces), 1)
	assert.NotContains(t, runtest.ReadEML(t, bounces)[0], secret)
}

// TestRelayNextHopDown: a next hop that refuses connections or never
// answers is a temporary failure, handed back to the client as 451 (the
// relay has no queue); nothing is bounced.
func TestRelayNextHopDown(t *testing.T) {
	p := runtest.NewPKI(t)
	closedAddr := runtest.Closed(t)
	silentAddr := runtest.Silent(t)

	for _, tc := range []struct {
		name, nexthop, want string
	}{
		{"refused", closedAddr, "connect to 127.0.0.1[127.0.0.1]:" + closedAddr[strings.LastIndexByte(closedAddr, ':')+1:] + ": requiretls: connect: "},
		{"silent", silentAddr, "requiretls: greeting: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bounces := t.TempDir()
			log := runtest.NewLines()
			relay := startRelay(t, log, "-nexthop", tc.nexthop, "-timeout", "1s", "-bounce-dir", bounces, "-cert", p.CertFile, "-key", p.KeyFile)

			err := send(t, relay, p.ClientTLS, "alice@example.org", true, testMessage)
			var se *smtp.SMTPError
			require.True(t, errors.As(err, &se), "%v", err)
			assert.Equal(t, 451, se.Code)
			assert.Contains(t, se.Message, tc.want)

			ds := deliveries(t, log.String())
			require.Len(t, ds, 1)
			assert.Equal(t, tlsstatus.Deferred, ds[0].Status)
			assert.Equal(t, "none", ds[0].Relay)
			assert.Equal(t, "4.4.1", ds[0].DSN)
			assert.Equal(t, "verify?/requiretls?", ds[0].TLS.String())
			assert.Empty(t, runtest.ReadEML(t, bounces))
		})
	}
}

// TestRelayBadInput: every failure to start is one line on stderr and
// exit status 2; -h is usage on stdout and exit status 0.
func TestRelayBadInput(t *testing.T) {
	p := runtest.NewPKI(t)
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	ok := []string{"-nexthop", "127.0.0.1:25", "-bounce-dir", dir}
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "relay: flag provided but not defined: -bogus (see -h)"},
		{"argument", append(ok, "x"), `relay: unexpected argument "x" (see -h)`},
		{"no nexthop", []string{"-bounce-dir", dir}, "relay: -nexthop is required (see -h)"},
		{"no bounce dir", []string{"-nexthop", "127.0.0.1:25"}, "relay: -bounce-dir is required (see -h)"},
		{"nexthop without port", []string{"-nexthop", "mx.example", "-bounce-dir", dir}, "relay: -nexthop: address mx.example: missing port in address (see -h)"},
		{"nexthop bad port", []string{"-nexthop", "mx.example:0", "-bounce-dir", dir}, `relay: -nexthop "mx.example:0": want host:port (see -h)`},
		{"bad tls level", append(ok, "-tls-level", "dane"), `relay: -tls-level "dane": want verify, may or none (see -h)`},
		{"bad policy", append(ok, "-policy", "inline:{"), "relay: -policy: policy: "},
		{"undefined policy parameter", append(ok, "-policy", "$relayhost"), "relay: -policy: policy: "},
		{"missing bounce dir", []string{"-nexthop", "127.0.0.1:25", "-bounce-dir", "/nonexistent"}, "relay: -bounce-dir: stat /nonexistent: no such file or directory (see -h)"},
		{"missing cafile", append(ok, "-cafile", "/nonexistent.pem"), "relay: -cafile: open /nonexistent.pem: no such file or directory (see -h)"},
		{"cafile not PEM", append(ok, "-cafile", notPEM), "relay: -cafile " + notPEM + ": no PEM certificate in it (see -h)"},
		{"cert without key", append(ok, "-cert", p.CertFile), "relay: -cert and -key go together (see -h)"},
		{"missing key file", append(ok, "-cert", p.CertFile, "-key", "/nonexistent.key"), "relay: -cert/-key: open /nonexistent.key: no such file or directory"},
		{"bad timeout", append(ok, "-timeout", "-1s"), "relay: -timeout must be positive (see -h)"},
		{"port in use", append(ok, "-listen", busy.Addr().String()), "relay: listen tcp " + busy.Addr().String() + ": bind: address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) { runtest.AssertFails(t, run, tc.want, tc.args...) })
	}

	runtest.AssertHelp(t, run, "-tls-level", "Exit status")
}

// TestRelayDefaultPolicy checks how -hostname feeds $mydomain into
// Postfix's default policy: opportunistic for $mydomain and its
// subdomains, localhost and IP addresses, enforce elsewhere.
func TestRelayDefaultPolicy(t *testing.T) {
	pol, err := policy.Parse(policy.DefaultSMTPPolicy, &policy.ParseOptions{Vars: vars("mx.example.org")})
	require.NoError(t, err)
	for _, tc := range []struct {
		nexthop string
		want    policy.Level
	}{
		{"example.org:25", policy.Opportunistic},
		{"smtp.example.org:25", policy.Opportunistic},
		{"localhost:25", policy.Opportunistic},
		{"[192.0.2.1]:25", policy.Opportunistic},
		{"mx.example.net:25", policy.Enforce},
	} {
		assert.Equal(t, tc.want, pol.Lookup(tc.nexthop), tc.nexthop)
	}
	_, ok := vars("localhost")("mydomain")
	assert.True(t, ok)
	d, _ := vars("localhost")("mydomain")
	assert.Equal(t, "localdomain", d)
}
