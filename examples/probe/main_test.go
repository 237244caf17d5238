package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/runtest"
)

// exampleServer is examples/server, built once per test run.
var exampleServer = &runtest.Program{Dir: "../server", Args: []string{"-listen", "127.0.0.1:0"}}

func TestMain(m *testing.M) {
	code := m.Run()
	exampleServer.Remove()
	os.Exit(code)
}

// TestProbeServer runs the probe against examples/server, with STARTTLS
// and with implicit TLS (E22), with and without a certificate that
// verifies (R15, R27.4), and checks the verdict on REQUIRETLS after TLS
// (R16, R27.5).
func TestProbeServer(t *testing.T) {
	p := runtest.NewPKI(t)
	starttls, _ := exampleServer.Start(t, "-cert", p.CertFile, "-key", p.KeyFile)
	implicit, _ := exampleServer.Start(t, "-cert", p.CertFile, "-key", p.KeyFile, "-implicit-tls")
	selfSigned, selfOut := exampleServer.Start(t, "-hostname", "localhost")
	fp := selfOut.WaitFor(t, regexp.MustCompile(`fingerprint ([0-9a-f]{64})`), nil)[1]

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"R27.5 STARTTLS, REQUIRETLS after TLS", []string{"-cafile", p.CAFile, "-servername", "localhost", starttls}, 0, []string{
			"EHLO:\n  Hello", "STARTTLS: TLS 1.3", "certificate: verified for localhost", "EHLO after TLS:\n  Hello",
			"  REQUIRETLS\n", "verdict: tls=verify/requiretls\n", "can be delivered here under enforce"}},
		{"E22 implicit TLS", []string{"-cafile", p.CAFile, "-servername", "localhost", "-implicit-tls", implicit}, 0, []string{
			"implicit TLS: TLS 1.3", "certificate: verified", "  REQUIRETLS\n", "verdict: tls=verify/requiretls\n"}},
		{"E14 servername defaults to the host", []string{"-cafile", p.CAFile, starttls}, 0, []string{
			"certificate name 127.0.0.1", "verdict: tls=verify/requiretls\n"}},
		{"R15 certificate not trusted", []string{"-servername", "localhost", selfSigned}, 1, []string{
			"certificate: NOT verified, certificate-not-trusted: ", "(SHA-256 " + fp + ")", "  REQUIRETLS\n",
			"verdict: tls=!verify/!requiretls:nocertmatch\n", "5.7.10"}},
		{"R27.4 name does not match", []string{"-cafile", p.CAFile, "-servername", "other.test", starttls}, 1, []string{
			"certificate: NOT verified, certificate-host-mismatch: ", "verdict: tls=!verify/!requiretls:nocertmatch\n"}},
		{"E22 implicit TLS to a STARTTLS port", []string{"-cafile", p.CAFile, "-implicit-tls", starttls}, 1, []string{
			"TLS: failed", "hint: the server answered in plaintext: probe without -implicit-tls to use STARTTLS\n",
			"verdict: tls=verify?/requiretls?\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runtest.Once(run, tc.args...)
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

// E22: a STARTTLS probe of an implicit-TLS port waits for a greeting that
// never comes (the server waits for a TLS ClientHello); when it times out
// the probe checks whether the port speaks TLS and says to add
// -implicit-tls, on the one line of the error.
func TestProbeImplicitTLSPortHint(t *testing.T) {
	p := runtest.NewPKI(t)
	implicit, _ := exampleServer.Start(t, "-cert", p.CertFile, "-key", p.KeyFile, "-implicit-tls")
	stdout := runtest.AssertFails(t, run, "probe: "+implicit+": requiretls: greeting: ", "-timeout", "1s", implicit)
	assert.NotContains(t, stdout, "verdict")
	_, _, stderr := runtest.Once(run, "-timeout", "1s", implicit)
	assert.Contains(t, stderr, "; the port speaks TLS from the first byte: probe it with -implicit-tls\n")

	silent := runtest.Silent(t)
	_, _, stderr = runtest.Once(run, "-timeout", "1s", silent)
	assert.NotContains(t, stderr, "-implicit-tls", "a server that says nothing at all gets no hint")
}

// TestProbeWithoutREQUIRETLS runs the probe against go-smtp servers that
// lack the extension (R16) or STARTTLS itself (R13).
func TestProbeWithoutREQUIRETLS(t *testing.T) {
	p := runtest.NewPKI(t)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want []string
	}{
		{"R16 STARTTLS without REQUIRETLS", &p.Cert, []string{"certificate: verified", "verdict: tls=verify/!requiretls:none\n", "5.7.30"}},
		{"R13 no STARTTLS", nil, []string{"STARTTLS: not offered", "verdict: tls=!verify/!requiretls:nostarttls\n", "5.7.30"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, _ := runtest.PlainServer(t, tc.cert)
			code, stdout, stderr := runtest.Once(run, "-cafile", p.CAFile, "-servername", "localhost", plain)
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
	closedAddr := runtest.Closed(t)
	silentAddr := runtest.Silent(t) // accepts and never greets
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
		{"server does not answer", []string{"-timeout", "1s", silentAddr}, "probe: " + silentAddr + ": requiretls: greeting: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout := runtest.AssertFails(t, run, tc.want, tc.args...)
			assert.NotContains(t, stdout, "verdict")
		})
	}

	runtest.AssertHelp(t, run, "Exit status")
}
