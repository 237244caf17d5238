//go:build interop

package interop

// This file's name sorts after postfix_test.go, so that TestPostfixLog runs
// after every other Postfix test (go test runs tests in the order of their
// files) and reads the maillog of the whole run.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/tlsstatus"
)

func buildExampleTally(t *testing.T) string {
	t.Helper()
	path := filepath.Join(binDir, "tally")
	out, err := exec.Command("go", "build", "-o", path, "../examples/tally").CombinedOutput()
	require.NoError(t, err, "go build ../examples/tally: %s", out)
	return path
}

// postfixIdle waits until Postfix's incoming and active queues are empty,
// so that every delivery attempt under way has been logged. Held and
// deferred messages may stay.
func postfixIdle(t *testing.T, env map[string]string) {
	t.Helper()
	waitLong(t, "Postfix's incoming and active queues to empty", func() bool {
		out, err := exec.Command(filepath.Join(env["INTEROP_POSTFIX_SBIN"], "postqueue"), "-c", env["INTEROP_POSTFIX_CONFIG"], "-j").Output()
		require.NoError(t, err, "postqueue -j")
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var m struct {
				Queue string `json:"queue_name"`
			}
			if l == "" {
				continue
			}
			require.NoError(t, json.Unmarshal([]byte(l), &m), "postqueue -j line %q", l)
			if m.Queue != "hold" && m.Queue != "deferred" {
				return false
			}
		}
		return true
	})
}

// A delivery status line as Postfix 3.11's log_adhoc.c writes it, matched
// without tlsstatus: the program tag, and the tls= and status= fields.
var (
	deliveryRE = regexp.MustCompile(`^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:.]+ \S+ (\S+)\[[0-9]+\]: [0-9A-Za-z]+: to=<`)
	tlsRE      = regexp.MustCompile(`, delays=[0-9./]+, tls=([^ ,]+), dsn=`)
	statusRE   = regexp.MustCompile(`, dsn=[0-9.]+, status=([A-Za-z0-9_-]+)`)
)

// independentCount counts delivery lines by status and REQUIRETLS state
// with the regular expressions above and the meanings tlsstatus.Counts
// documents (Postfix 3.11 §3), for comparison with examples/tally.
type independentCount struct {
	lines, deliveries, others, noTLS int64
	sent, deferred, bounced, other   int64
	requested, offered, notOffered   int64
	states                           map[string]int64
	agents                           map[string]int64 // delivery lines of other programs (discard, error, ...)
	smtpLines                        []string
}

func countIndependently(t *testing.T, lines []string) independentCount {
	t.Helper()
	c := independentCount{states: map[string]int64{}, agents: map[string]int64{}}
	for _, l := range lines {
		c.lines++
		m := deliveryRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if prog := m[1]; !strings.HasSuffix(prog, "/smtp") && !strings.HasSuffix(prog, "/lmtp") {
			c.agents[prog[strings.LastIndexByte(prog, '/')+1:]]++
			continue
		}
		c.deliveries++
		c.smtpLines = append(c.smtpLines, l)
		st := statusRE.FindStringSubmatch(l)
		require.NotNil(t, st, "no status= in %q", l)
		switch st[1] {
		case "sent":
			c.sent++
		case "deferred":
			c.deferred++
		case "bounced":
			c.bounced++
		default:
			c.other++
		}
		state, level := tlsstatus.NotRequested, ""
		if f := tlsRE.FindStringSubmatch(l); f == nil {
			c.noTLS++
		} else {
			for _, slot := range strings.Split(f[1], "/") {
				name, _, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(slot, "!"), "?"), ":")
				switch {
				case name == "requiretls":
					state = slot
				case level == "":
					level = slot
				}
			}
		}
		if state != tlsstatus.NotRequested {
			// After a violated TLS security level ("!verify/...") a
			// REQUIRETLS slot that is no violation itself has a row of its
			// own: the connection was not used.
			if strings.HasPrefix(level, "!") && !strings.HasPrefix(state, "!") {
				state = "!level/" + state
			}
			c.requested++
			switch state {
			case "requiretls", "requiretls:nocertmatch":
				c.offered++
			case "requiretls:none", "!requiretls:none", "!requiretls:nostarttls", "!level/requiretls?":
				c.notOffered++
			}
		}
		c.states[state]++
	}
	return c
}

// TestPostfixLog reads the maillog Postfix 3.11.6 wrote during the whole
// run (every Postfix test before it, and two deliveries of its own, one sent
// and one bounced for want of REQUIRETLS): every smtp(8) delivery line
// parses with tlsstatus.ParseLine and formats back byte for byte (RFC 8689
// Section 4.2.1 outcomes as Postfix logs them, Postfix 3.11 §3), and
// examples/tally's counts equal a count made with regular expressions.
func TestPostfixLog(t *testing.T) {
	env := postfixEnv(t, "INTEROP_POSTFIX_DSN_NEXTHOP")
	expect(t, postfixRowPeer("Postfix (maillog_file)"), "Postfix maillog → tlsstatus.ParseLine, examples/tally",
		"every delivery line of the run", "each smtp(8) line parses and formats back byte for byte; tally -json counts equal an independent regexp count")

	// Two deliveries of known outcome, so the log has some whatever ran before.
	startMailbox(t, env["INTEROP_POSTFIX_DSN_NEXTHOP"], "log.nexthop.interop.test")
	msg := "From: <" + sender + ">\r\nSubject: interop log\r\n\r\nBODY-SECRET\r\n"
	postfixSubmit(t, env, msg, "-f", sender, "log-sent@dsn-fail.interop.test")
	postfixSubmit(t, env, msg, "-f", sender, "-O", "requiretls=yes", "log-bounced@dsn-fail.interop.test")
	want := map[string]string{"log-sent@dsn-fail.interop.test": "sent", "log-bounced@dsn-fail.interop.test": "bounced"}
	for rcpt, status := range want {
		d := postfixDelivery(t, env["INTEROP_POSTFIX_LOG"], "postfix/dsn-fail/smtp", rcpt)
		assert.Equal(t, tlsstatus.Status(status), d.Status, "%s: %s", rcpt, d.Reason)
	}
	postfixIdle(t, env)

	// One snapshot of the log for both counts; a line Postfix is still
	// writing (no line feed yet) is left out.
	b, err := os.ReadFile(env["INTEROP_POSTFIX_LOG"])
	require.NoError(t, err)
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	snapshot := filepath.Join(t.TempDir(), "maillog")
	require.NoError(t, os.WriteFile(snapshot, b, 0o644))
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")

	c := countIndependently(t, lines)
	require.NotZero(t, c.deliveries)
	for _, l := range lines {
		d, ok, err := tlsstatus.ParseLine(l)
		require.NoError(t, err, "tlsstatus.ParseLine(%q)", l)
		if ok {
			assert.Equal(t, l, d.String(), "the line formatted back")
			if d.TLS != nil {
				assert.Contains(t, l, ", tls="+d.TLS.String()+", ")
			}
		}
	}
	var parsed []string
	for _, l := range lines {
		if _, ok, _ := tlsstatus.ParseLine(l); ok {
			parsed = append(parsed, l)
		}
	}
	assert.Equal(t, c.smtpLines, parsed, "the lines ParseLine takes as deliveries are the smtp(8) delivery lines")

	out, err := exec.Command(buildExampleTally(t), "-json", "-strict", snapshot).Output()
	require.NoError(t, err, "tally -json -strict")
	var r tlsstatus.Report
	require.NoError(t, json.Unmarshal(out, &r))
	assert.Equal(t, c.lines, r.Lines, "lines")
	assert.Zero(t, r.Malformed, "malformed")
	assert.Equal(t, c.lines-c.deliveries, r.Skipped, "skipped")
	assert.Equal(t, c.noTLS, r.NoTLSField, "deliveries without tls=")
	assert.Equal(t, tlsstatus.Counts{Deliveries: c.deliveries, Sent: c.sent, Deferred: c.deferred, Bounced: c.bounced, Other: c.other,
		Requested: c.requested, Offered: c.offered, NotOffered: c.notOffered}, r.Total, "totals")
	states := map[string]int64{}
	for _, row := range r.States {
		states[row.Key] = row.Deliveries
	}
	assert.Equal(t, c.states, states, "deliveries by REQUIRETLS state")
	t.Logf("maillog: %d lines, %d smtp(8) delivery lines (%d sent, %d deferred, %d bounced; %d without tls=), other delivery agents %v (not tlsstatus's to parse); states %v",
		c.lines, c.deliveries, c.sent, c.deferred, c.bounced, c.noTLS, c.agents, c.states)
}
