//go:build interop

package interop

import (
	"fmt"
	"github.com/requiretls/go-requiretls/internal/ciskip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

// postfixDir holds the Postfix 3.11.6 source that interop/run builds; it sits
// beside the repository (../shared/peers/postfix-3.11.6 from its root).
const postfixDir = "../../shared/peers/postfix-3.11.6"

// postfixVars is what interop/run exports once its Postfix instance runs.
var postfixVars = []string{
	"INTEROP_POSTFIX_STARTTLS", "INTEROP_POSTFIX_PLAIN", "INTEROP_POSTFIX_LOG",
	"INTEROP_POSTFIX_CONFIG", "INTEROP_POSTFIX_SBIN", "INTEROP_VERSION_POSTFIX",
	"INTEROP_POSTFIX_NEXTHOP_TRUSTED", "INTEROP_POSTFIX_NEXTHOP_NOREQUIRETLS",
	"INTEROP_POSTFIX_NEXTHOP_UNTRUSTED", "INTEROP_POSTFIX_NEXTHOP_PLAIN",
}

// Where the Postfix source is present (as in CI), the Postfix instance is a
// peer like the others: TestMain fails the suite when its variables are missing.
func init() {
	if _, err := os.Stat(postfixDir); err == nil {
		required = append(required, postfixVars...)
	}
}

// postfixPeer is one smtpd service of the Postfix instance; service is its
// syslog_name in master.cf, by which its maillog lines are told apart.
type postfixPeer struct {
	peer
	service string
}

// newPostfixPeer is a service of the one instance: both log into INTEROP_POSTFIX_LOG.
func newPostfixPeer(name, key, service string) postfixPeer {
	return postfixPeer{peer{Name: name, Version: os.Getenv("INTEROP_VERSION_POSTFIX"), Addr: os.Getenv(key),
		Log: os.Getenv("INTEROP_POSTFIX_LOG")}, service}
}

var (
	// postfixSTARTTLS offers STARTTLS (smtpd_tls_security_level = may) and,
	// with requiretls_enable = yes, announces REQUIRETLS after it.
	postfixSTARTTLS = func() postfixPeer {
		return newPostfixPeer("Postfix (STARTTLS)", "INTEROP_POSTFIX_STARTTLS", "postfix/starttls")
	}
	// postfixPlain is smtpd with -o smtpd_tls_security_level=none.
	postfixPlain = func() postfixPeer {
		return newPostfixPeer("Postfix (no STARTTLS)", "INTEROP_POSTFIX_PLAIN", "postfix/plain")
	}
)

// postfixSession is one smtpd session as Postfix logged it in its maillog_file.
type postfixSession struct {
	Lines    []string          // the session's log messages, in order
	Helo     []string          // each EHLO name, from the "interop ehlo" INFO rule of check_helo_access
	TLS      bool              // smtpd logged "TLS connection established"
	QueueIDs []string          // messages it queued ("ID: client=...")
	Commands map[string]string // the counters of "disconnect from ...": ehlo=2 starttls=1 mail=1 ...
}

// postfixSessions parses the maillog into the finished smtpd sessions of one
// service. A line reads "Dec 01 23:27:23 host postfix/starttls/smtpd[28410]: message".
func postfixSessions(t *testing.T, path, service string) []postfixSession {
	t.Helper()
	open := map[string]*postfixSession{}
	var done []postfixSession
	for _, l := range readLines(t, path) {
		head, msg, ok := strings.Cut(l, "]: ")
		if !ok {
			continue
		}
		f := strings.Fields(head)
		if len(f) == 0 {
			continue
		}
		prog, pid, _ := strings.Cut(f[len(f)-1], "[")
		if prog != service+"/smtpd" {
			continue
		}
		if strings.HasPrefix(msg, "connect from ") {
			open[pid] = &postfixSession{}
		}
		s := open[pid]
		if s == nil {
			continue
		}
		s.Lines = append(s.Lines, msg)
		switch {
		case strings.Contains(msg, ": info: ") && strings.Contains(msg, ": interop ehlo; "):
			if _, h, ok := strings.Cut(msg, " helo=<"); ok {
				s.Helo = append(s.Helo, strings.TrimSuffix(h, ">"))
			}
		case strings.Contains(msg, "TLS connection established from "):
			s.TLS = true
		case strings.Contains(msg, ": client="):
			id, _, _ := strings.Cut(msg, ":")
			s.QueueIDs = append(s.QueueIDs, id)
		case strings.HasPrefix(msg, "disconnect from "):
			s.Commands = map[string]string{}
			for _, kv := range strings.Fields(msg)[3:] {
				k, v, _ := strings.Cut(kv, "=")
				s.Commands[k] = v
			}
			done = append(done, *s)
			delete(open, pid)
		}
	}
	return done
}

// session waits until Postfix has logged the end of the session whose EHLO
// name is helo, and returns it.
func (p postfixPeer) session(t *testing.T, helo string) postfixSession {
	t.Helper()
	var got postfixSession
	waitFor(t, p.Name+" logging the end of the session of "+helo, func() bool {
		for _, s := range postfixSessions(t, p.Log, p.service) {
			for _, h := range s.Helo {
				if h == helo {
					got = s
					return true
				}
			}
		}
		return false
	})
	return got
}

// queued is one message in Postfix's queue, as postcat -q shows it.
type queued struct {
	Queue    string // "hold" for a message the HOLD rule kept
	SendOpts int    // the sixth field of message_size: Postfix's SOPT_* flags
	RetFlags string // the ret_flags attribute: 1 RET=FULL, 2 RET=HDRS; empty without RET
	Headers  string // the header section as queued, after cleanup(8)
	Body     string
}

// Postfix's sendopts flags (src/global/sendopts.h).
const (
	soptRequireTLSHeader = 1 << 4 // "TLS-Required: No" in the message
	soptRequireTLSESMTP  = 1 << 5 // MAIL FROM ... REQUIRETLS
)

func postcat(t *testing.T, id string) queued {
	t.Helper()
	cmd := exec.Command(filepath.Join(os.Getenv("INTEROP_POSTFIX_SBIN"), "postcat"),
		"-c", os.Getenv("INTEROP_POSTFIX_CONFIG"), "-q", id)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "postcat -q %s: %s", id, out)
	var q queued
	section := ""
	var headers, body strings.Builder
	inBody := false
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "*** ") {
			f := strings.Fields(l)
			section = f[1]
			if section == "ENVELOPE" && len(f) > 3 {
				q.Queue, _, _ = strings.Cut(f[3], "/")
			}
			continue
		}
		switch section {
		case "ENVELOPE":
			k, v, _ := strings.Cut(l, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "message_size":
				f := strings.Fields(v)
				require.Len(t, f, 6, "message_size record %q", l)
				q.SendOpts, err = strconv.Atoi(f[5])
				require.NoError(t, err)
			case "named_attribute":
				if name, value, _ := strings.Cut(v, "="); name == "ret_flags" {
					q.RetFlags = value
				}
			}
		case "MESSAGE":
			switch {
			case inBody:
				body.WriteString(l + "\n")
			case l == "":
				inBody = true
			default:
				headers.WriteString(l + "\n")
			}
		}
	}
	q.Headers, q.Body = headers.String(), body.String()
	require.NotEmpty(t, q.Headers, "postcat -q %s printed no message:\n%s", id, out)
	return q
}

// heldMessage returns the one message Postfix queued in session s.
func heldMessage(t *testing.T, s postfixSession) queued {
	t.Helper()
	require.Len(t, s.QueueIDs, 1, "messages Postfix queued: %q", s.Lines)
	q := postcat(t, s.QueueIDs[0])
	assert.Equal(t, "hold", q.Queue, "the HOLD rule kept it in the hold queue")
	return q
}

// assertNoMail checks Postfix's own counters: the session ended without a MAIL command.
func assertNoMail(t *testing.T, s postfixSession, tlsUp bool) {
	t.Helper()
	assert.Equal(t, tlsUp, s.TLS, "TLS as Postfix logged it: %q", s.Lines)
	assert.NotContains(t, s.Commands, "mail", "Postfix counted a MAIL command: %q", s.Lines)
	assert.Empty(t, s.QueueIDs)
}

// TestPostfix runs the reference implementation, Postfix 3.11.6 with
// requiretls_enable = yes, as a receiving peer (RFC 8689 Sections 2 and 4.2.1), and as
// the sender compared with our Dialer.
// Every case is checked on what Postfix itself replied, logged or queued.
func TestPostfix(t *testing.T) {
	if _, err := os.Stat(postfixDir); err != nil {
		ciskip.Skip(t, "Postfix cases skipped: "+postfixDir+" not found")
	}
	t.Run("baseline", postfixBaseline)
	t.Run("probe", postfixProbe)
	t.Run("receiving", postfixReceiving)
	t.Run("sending", postfixSending)
}

// postfixBaseline: what Postfix announces and answers, without any of our code.
func postfixBaseline(t *testing.T) {
	for _, tc := range []struct {
		p        postfixPeer
		starttls bool
	}{{postfixSTARTTLS(), true}, {postfixPlain(), false}} {
		t.Run(tc.p.Name+"/R5 REQUIRETLS only after STARTTLS", func(t *testing.T) {
			steps, want := "EHLO; MAIL REQUIRETLS", "no STARTTLS, no REQUIRETLS; MAIL ... REQUIRETLS answered 555 5.5.4"
			if tc.starttls {
				steps = "EHLO; MAIL REQUIRETLS; STARTTLS; EHLO"
				want = "REQUIRETLS announced only after STARTTLS; MAIL ... REQUIRETLS before it answered 555 5.5.4"
			}
			expect(t, tc.p.peer, probe, steps, want+"; smtpd logged the session")
			helo := heloName(t)
			r := dialRaw(t, tc.p.Addr)
			code, ehlo := r.cmd("EHLO " + helo)
			require.Equal(t, 250, code)
			assert.Equal(t, tc.starttls, hasKeyword(ehlo, "STARTTLS"), "STARTTLS offered: %q", ehlo)
			assert.False(t, hasKeyword(ehlo, "REQUIRETLS"), "REQUIRETLS announced before TLS (RFC 8689 Section 2): %q", ehlo)
			code, reply := r.cmd("MAIL FROM:<baseline@example.org> REQUIRETLS")
			assert.Equal(t, 555, code, "reply to MAIL ... REQUIRETLS in plaintext: %q", reply)
			assert.Contains(t, strings.Join(reply, " "), "5.5.4 Unsupported option: REQUIRETLS")
			if tc.starttls {
				r.startTLS()
				code, ehlo = r.cmd("EHLO " + helo)
				require.Equal(t, 250, code)
				assert.True(t, hasKeyword(ehlo, "REQUIRETLS"), "REQUIRETLS after STARTTLS: %q", ehlo)
				assert.False(t, hasKeyword(ehlo, "STARTTLS"), "STARTTLS offered again: %q", ehlo)
			}
			r.quit()

			s := tc.p.session(t, helo)
			assert.Equal(t, tc.starttls, s.TLS, "TLS as Postfix logged it: %q", s.Lines)
			wantEHLO := "1"
			if tc.starttls {
				wantEHLO = "2"
				assert.Equal(t, "1", s.Commands["starttls"], "Postfix's starttls= counter")
			}
			assert.Equal(t, wantEHLO, s.Commands["ehlo"], "Postfix's ehlo= counter: %q", s.Lines)
			assert.Equal(t, "0/1", s.Commands["mail"], "Postfix counted the refused MAIL: %q", s.Lines)
			assert.Empty(t, s.QueueIDs)
		})
	}
}

// postfixProbe runs examples/probe against both Postfix services; Postfix's
// log shows the probe's session, its TLS state, and no MAIL.
func postfixProbe(t *testing.T) {
	for _, tc := range []struct {
		p        postfixPeer
		verdict  string
		exit     int
		starttls bool
	}{
		{postfixSTARTTLS(), "verify/requiretls", 0, true},
		{postfixPlain(), "!verify/!requiretls:nostarttls", 1, false},
	} {
		t.Run(tc.p.Name, func(t *testing.T) {
			expect(t, tc.p.peer, ourProbe, "probe -cafile CA -servername localhost",
				"verdict: tls="+tc.verdict+"; Postfix logged no MAIL")
			assertProbe(t, tc.p.Addr, tc.verdict, tc.exit)
			assertNoMail(t, tc.p.session(t, probeHelo), tc.starttls)
		})
	}
}

// postfixReceiving sends through requiretls.Dialer (send in sending_test.go)
// to Postfix and checks what Postfix queued.
func postfixReceiving(t *testing.T) {
	t.Run("Postfix (STARTTLS)/R27 enforce delivers with REQUIRETLS", func(t *testing.T) {
		p := postfixSTARTTLS()
		expect(t, p.peer, fromUs, "enforce",
			"queued with sendopts REQUIRETLS (postcat), RET=FULL kept, cleanup added Require-TLS-ESMTP: yes; tls=verify/requiretls")
		s := send(t, p.peer, policy.Enforce)
		require.Nil(t, s.Policy, "the policy stopped delivery: %v", s.Policy)
		assert.Equal(t, wantField(t, policy.Enforce, true, "requiretls"), s.Field.String())

		got := p.session(t, s.Helo)
		assert.True(t, got.TLS, "TLS as Postfix logged it: %q", got.Lines)
		assert.Equal(t, "1", got.Commands["mail"], "Postfix's mail= counter: %q", got.Lines)
		q := heldMessage(t, got)
		assert.NotZero(t, q.SendOpts&soptRequireTLSESMTP, "Postfix's REQUIRETLS flag (sendopts %d)", q.SendOpts)
		assert.Equal(t, "1", q.RetFlags, "RET=FULL as Postfix queued it")
		assert.Contains(t, q.Headers, "\nRequire-TLS-ESMTP: yes\n", "requiretls_esmtp_header = yes")
		assert.Contains(t, q.Headers, "Subject: interop "+s.Helo+"\n")
		assert.Contains(t, q.Body, "BODY-SECRET "+s.Helo)
	})

	t.Run("Postfix (no STARTTLS)/R27 opportunistic delivers in plaintext without REQUIRETLS", func(t *testing.T) {
		p := postfixPlain()
		want := wantField(t, policy.Opportunistic, false, "requiretls:none")
		expect(t, p.peer, fromUs, "opportunistic",
			"queued without the REQUIRETLS flag or Require-TLS-ESMTP, RET=HDRS (downgrade); tls="+want)
		s := send(t, p.peer, policy.Opportunistic)
		require.Nil(t, s.Policy, "the policy stopped delivery: %v", s.Policy)
		assert.Equal(t, want, s.Field.String())

		got := p.session(t, s.Helo)
		assert.False(t, got.TLS, "TLS as Postfix logged it: %q", got.Lines)
		q := heldMessage(t, got)
		assert.Zero(t, q.SendOpts&(soptRequireTLSESMTP|soptRequireTLSHeader), "Postfix's REQUIRETLS flags (sendopts %d)", q.SendOpts)
		assert.Equal(t, "2", q.RetFlags, "RET=HDRS as Postfix queued it (RFC 8689 Section 5 on a downgrade)")
		assert.NotContains(t, q.Headers, "Require-TLS-ESMTP")
	})

	for _, level := range []policy.Level{policy.Enforce, policy.OpportunisticSTARTTLS} {
		t.Run(fmt.Sprintf("Postfix (no STARTTLS)/R13 %s sends no MAIL without STARTTLS", level), func(t *testing.T) {
			p := postfixPlain()
			want := wantField(t, level, false, "!requiretls:nostarttls")
			expect(t, p.peer, fromUs, level.String(), "Postfix logged the session without TLS and without MAIL; bounce 5.7.30; tls="+want)
			s := send(t, p.peer, level)
			assertBounced(t, s, "5.7.30", "!requiretls:nostarttls")
			assert.Equal(t, want, s.Field.String())
			got := p.session(t, s.Helo)
			assertNoMail(t, got, false)
			assert.Equal(t, "1", got.Commands["quit"], "our Dialer ended the session with QUIT: %q", got.Lines)
		})
	}
}
