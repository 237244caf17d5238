package main

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/pki"
	"github.com/requiretls/go-requiretls/examples/internal/runtest"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// writeFile writes text to a new file in a temporary directory.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// spkiSHA256 is the data of a "3 1 1" record for c, as
// "openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum" gives it.
func spkiSHA256(c tls.Certificate) string {
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return fmt.Sprintf("%x", sum)
}

// TestRelayTLSA runs the relay with -tlsa in front of examples/server with
// a self-signed certificate for another name: a DANE-EE(3) record for its
// key authenticates it (E15, R15), so an enforce REQUIRETLS message is
// delivered with REQUIRETLS, logged tls=dane/requiretls. Records that do
// not match, or that are all unusable for SMTP (RFC 7672 Section 2.2),
// bounce it with 5.7.10 and a headers-only DSN, nothing delivered (R15,
// R31, R46).
func TestRelayTLSA(t *testing.T) {
	p := runtest.NewPKI(t)
	self, err := pki.SelfSigned("not-the-mx.invalid")
	require.NoError(t, err)
	certPEM, keyPEM, err := pki.KeyPEM(self)
	require.NoError(t, err)
	other, err := pki.SelfSigned("other.invalid")
	require.NoError(t, err)
	certFile, keyFile := writeFile(t, "cert.pem", string(certPEM)), writeFile(t, "key.pem", string(keyPEM))

	for _, tc := range []struct {
		name, records, tls, dsn string
		relayed                 bool
	}{
		{"E15 DANE-EE matches", "# _25._tcp.mx.example.com\n\n3 1 1 " + spkiSHA256(self) + "\r\n", "dane/requiretls", "2.0.0", true},
		{"R15 no record matches", "3 1 1 " + spkiSHA256(other) + "\n", "!dane/!requiretls:nocertmatch", "5.7.10", true},
		{"RFC 7672 Section 2.2 all unusable", "1 1 1 " + spkiSHA256(self) + "\n0 1 1 " + spkiSHA256(self) + "\n", "encrypt?/!requiretls:nocertmatch", "5.7.10", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, bounces := t.TempDir(), t.TempDir()
			server, _ := exampleServer.Start(t, "-cert", certFile, "-key", keyFile, "-out", out)
			log := runtest.NewLines()
			relay := startRelay(t, log, "-nexthop", server, "-tlsa", writeFile(t, "tlsa.txt", tc.records), "-servername", "mx.example.com",
				"-policy", "enforce", "-bounce-dir", bounces, "-hostname", "relay.test", "-cert", p.CertFile, "-key", p.KeyFile)

			require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", true, testMessage))

			ds := deliveries(t, log.String())
			require.Len(t, ds, 1)
			assert.Equal(t, tc.tls, ds[0].TLS.String())
			assert.Equal(t, tc.dsn, ds[0].DSN)
			assert.Equal(t, tc.relayed, ds[0].Relay != "none", ds[0].Relay)
			stored := runtest.ReadEML(t, out)
			if tc.dsn == "2.0.0" {
				require.Len(t, stored, 1)
				assert.Contains(t, stored[0], "by localhost with ESMTPS (requiretls)")
				assert.Empty(t, runtest.ReadEML(t, bounces))
				return
			}
			assert.Empty(t, stored, "R31: nothing delivered")
			dsns := runtest.ReadEML(t, bounces)
			require.Len(t, dsns, 1)
			assert.Contains(t, dsns[0], "Status: 5.7.10")
			assert.NotContains(t, dsns[0], secret)
		})
	}
}

// TestRelayMTASTS runs the relay with -mta-sts in front of examples/server
// with a certificate from a CA the relay trusts for the MX host name
// localhost. Mode enforce with a matching mx pattern authenticates it
// (R14, RFC 8461 Section 4.1, 4.2): delivered with REQUIRETLS at level
// secure. Enforce bounces with 5.7.10 when the MX is not in the policy (the
// relay does not connect, RFC 8461 Section 5), when the policy is in mode
// testing without -mta-sts-testing or in mode none (E17).
func TestRelayMTASTS(t *testing.T) {
	p := runtest.NewPKI(t)
	policyFile := func(mode, mx string) string {
		return writeFile(t, "mta-sts.txt", "version: STSv1\nmode: "+mode+"\nmx: "+mx+"\nmax_age: 604800\n")
	}
	for _, tc := range []struct {
		name     string
		args     []string
		tls, dsn string
		relayed  bool
	}{
		{"R14 enforce, MX listed", []string{"-mta-sts", policyFile("enforce", "localhost")}, "secure/requiretls", "2.0.0", true},
		{"E17 testing with -mta-sts-testing", []string{"-mta-sts", policyFile("testing", "localhost"), "-mta-sts-testing"}, "may/requiretls", "2.0.0", true},
		{"RFC 8461 Section 5 MX not listed", []string{"-mta-sts", policyFile("enforce", "*.example.com")}, "may?/!requiretls:nocertmatch", "5.7.10", false},
		{"E17 testing without the option", []string{"-mta-sts", policyFile("testing", "localhost")}, "may?/!requiretls:nocertmatch", "5.7.10", false},
		{"E17 mode none", []string{"-mta-sts", policyFile("none", "localhost")}, "may?/!requiretls:nocertmatch", "5.7.10", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, bounces := t.TempDir(), t.TempDir()
			server, _ := exampleServer.Start(t, "-cert", p.CertFile, "-key", p.KeyFile, "-out", out)
			log := runtest.NewLines()
			relay := startRelay(t, log, append([]string{"-nexthop", server, "-cafile", p.CAFile, "-servername", "localhost",
				"-policy", "enforce", "-bounce-dir", bounces, "-cert", p.CertFile, "-key", p.KeyFile}, tc.args...)...)

			require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", true, testMessage))

			ds := deliveries(t, log.String())
			require.Len(t, ds, 1)
			assert.Equal(t, tc.tls, ds[0].TLS.String())
			assert.Equal(t, tc.dsn, ds[0].DSN)
			assert.Equal(t, tc.relayed, ds[0].Relay != "none", ds[0].Relay)
			if tc.relayed {
				assert.Len(t, runtest.ReadEML(t, out), 1)
				return
			}
			assert.Empty(t, runtest.ReadEML(t, out), "nothing delivered")
			require.Len(t, runtest.ReadEML(t, bounces), 1)
		})
	}
}

// TestRelayMTASTSUntagged: a next hop that an enforce policy does not list
// is not used for a message without REQUIRETLS either (RFC 8461 Section
// 5); the relay has no queue, so its client gets 451 4.7.0 to retry
// (RFC 8461 Section 5.1). With "TLS-Required: No" the policy is ignored
// and the message delivered (R19, RFC 8689 Section 4.2.2).
func TestRelayMTASTSUntagged(t *testing.T) {
	p := runtest.NewPKI(t)
	out := t.TempDir()
	server, _ := exampleServer.Start(t, "-cert", p.CertFile, "-key", p.KeyFile, "-out", out)
	log := runtest.NewLines()
	relay := startRelay(t, log, "-nexthop", server, "-cafile", p.CAFile, "-servername", "localhost",
		"-mta-sts", writeFile(t, "mta-sts.txt", "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n"),
		"-bounce-dir", t.TempDir(), "-cert", p.CertFile, "-key", p.KeyFile)

	err := send(t, relay, p.ClientTLS, "alice@example.org", false, testMessage)
	var se *smtp.SMTPError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, 451, se.Code)
	assert.Equal(t, smtp.EnhancedCode{4, 7, 0}, se.EnhancedCode)
	assert.Contains(t, se.Message, "MX host not allowed by the MTA-STS policy")
	assert.Empty(t, runtest.ReadEML(t, out))

	require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", false, "TLS-Required: No\r\n"+testMessage))
	ds := deliveries(t, log.String())
	require.Len(t, ds, 2)
	assert.Equal(t, tlsstatus.Deferred, ds[0].Status)
	assert.Equal(t, "none", ds[0].Relay)
	assert.Equal(t, tlsstatus.Sent, ds[1].Status)
	assert.Equal(t, "may", ds[1].TLS.String())
	assert.Len(t, runtest.ReadEML(t, out), 1)
}

// TestRelayFactsBadInput: a TLSA or policy file that does not parse, or
// says nothing, stops the relay at start (exit status 2): it never runs
// with a weaker check than the operator configured.
func TestRelayFactsBadInput(t *testing.T) {
	dir := t.TempDir()
	ok := []string{"-nexthop", "127.0.0.1:25", "-bounce-dir", dir}
	good := writeFile(t, "tlsa.txt", "3 1 1 "+strings.Repeat("ab", 32)+"\n")
	bad := writeFile(t, "bad.txt", "# x\n3 1 1 abc\n")
	empty := writeFile(t, "empty.txt", "# nothing\n\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing TLSA file", []string{"-tlsa", "/nonexistent"}, "relay: -tlsa: open /nonexistent: no such file or directory (see -h)"},
		{"TLSA record does not parse", []string{"-tlsa", bad}, "relay: -tlsa " + bad + ":2: dane: odd number of hexadecimal digits"},
		{"TLSA file without records", []string{"-tlsa", empty}, "relay: -tlsa " + empty + ": no TLSA records in it (see -h)"},
		{"-tls-level with -tlsa", []string{"-tlsa", good, "-tls-level", "verify"}, "relay: -tls-level cannot be given with -tlsa or -mta-sts: they set the level (see -h)"},
		{"missing policy file", []string{"-mta-sts", "/nonexistent"}, "relay: -mta-sts: open /nonexistent: no such file or directory (see -h)"},
		{"policy does not parse", []string{"-mta-sts", writeFile(t, "p.txt", "version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n")}, "relay: -mta-sts "},
		{"-mta-sts-testing alone", []string{"-mta-sts-testing"}, "relay: -mta-sts-testing needs -mta-sts (see -h)"},
	} {
		t.Run(tc.name, func(t *testing.T) { runtest.AssertFails(t, run, tc.want, append(ok, tc.args...)...) })
	}
	runtest.AssertHelp(t, run, "-tlsa", "-mta-sts", "-mta-sts-testing")
}
