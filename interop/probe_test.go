//go:build interop

package interop

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/tlsstatus"
)

// probeHelo is the EHLO name of examples/probe (requiretls.Dialer's default);
// each peer is probed once, so it identifies the probe's session in the peer's log.
const probeHelo = "localhost"

// TestProbe runs examples/probe against every server peer: its verdict is the
// tls= field that Postfix 3.11 would log at the enforce level
// (spec/postfix-3.11.md §3), and the peer's own log shows the probe never sent MAIL.
func TestProbe(t *testing.T) {
	tests := []struct {
		peer     peer
		verdict  string
		exit     int
		starttls bool
	}{
		{smtpServerRequireTLS(), "verify/requiretls", 0, true},
		{smtpServerStartTLS(), "verify/!requiretls:none", 1, true},
		{haraka(), "verify/!requiretls:none", 1, true},
		{aiosmtpdStartTLS(), "verify/!requiretls:none", 1, true},
		{exim(), "verify/!requiretls:none", 1, true},
		{aiosmtpdPlain(), "!verify/!requiretls:nostarttls", 1, false},
		{smtpServerPlain(), "!verify/!requiretls:nostarttls", 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.peer.Name, func(t *testing.T) {
			expect(t, tc.peer, ourProbe, "probe -cafile CA -servername localhost",
				"verdict: tls="+tc.verdict+"; peer saw no MAIL")
			_, err := tlsstatus.ParseField(tc.verdict)
			require.NoError(t, err)

			assertProbe(t, tc.peer.Addr, tc.verdict, tc.exit)

			got := tc.peer.session(t, probeHelo)
			assert.Equal(t, tc.starttls, got.saw("C: STARTTLS") || got.saw("C: EHLO "+probeHelo+" (tls=true)"),
				"STARTTLS as the peer saw it: %q", got.Lines)
			assert.Empty(t, got.Mail, "the probe sent MAIL: %q", got.Lines)
		})
	}
}

// assertProbe runs examples/probe against addr, verifying with the test CA,
// and asserts its exit status and its verdict line.
func assertProbe(t *testing.T, addr, verdict string, exit int) {
	t.Helper()
	out, err := exec.Command(buildExample(t, "probe"), "-cafile", os.Getenv("INTEROP_CA"), "-servername", "localhost", addr).CombinedOutput()
	assert.Equal(t, exit, exitCode(t, err), "probe exit status; output:\n%s", out)
	assert.Contains(t, strings.Split(string(out), "\n"), "verdict: tls="+verdict, "probe output:\n%s", out)
}

// exitCode is the exit status of a program that ran and returned err;
// an error other than an exit status fails t.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}
