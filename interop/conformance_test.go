//go:build interop

package interop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// conformanceLine is one check's line of probe -conformance:
// "FAIL 4. MAIL FROM:<> REQUIRETLS=x refused: answered 250 OK [citation]".
// Check names hold no ": ", so the first one ends the name.
var conformanceLine = regexp.MustCompile(`^(PASS|FAIL|SKIP) ([1-6])\. (.+?): (.*) \[(.*)\]$`)

// conformanceVerdict is one check as the probe printed it.
type conformanceVerdict struct {
	verdict, name, detail string
}

// TestConformance runs examples/probe -conformance against every server peer
// (and our own receiving side) and checks each of its six verdicts against
// what a raw client in this file sees when it sends the same commands
// (rawConformance). The matrix rows record the probe's verdicts: a FAIL
// there is a deviation of the peer from RFC 8689 (or from the checklist's
// inference, where the probe's citation says so), not a failed row; a
// failed row is the probe disagreeing with the raw check.
func TestConformance(t *testing.T) {
	type target struct {
		peer     peer
		implicit bool
	}
	targets := []target{
		{peer: smtpServerRequireTLS()}, {peer: smtpServerStartTLS()}, {peer: smtpServerPlain()},
		{peer: aiosmtpdStartTLS()}, {peer: aiosmtpdPlain()}, {peer: haraka()}, {peer: exim()},
	}
	if os.Getenv("INTEROP_POSTFIX_STARTTLS") != "" {
		targets = append(targets, target{peer: postfixSTARTTLS().peer}, target{peer: postfixPlain().peer})
	} else {
		t.Log("no Postfix instance (interop/run found no Postfix source): its conformance rows are not run")
	}
	ours := peer{Version: "this commit"}
	glue, _ := ourServer(t, withSTARTTLS)
	glueImplicit, _ := ourServer(t, implicitTLS)
	server, _ := startExampleServer(t, withSTARTTLS)
	serverImplicit, _ := startExampleServer(t, implicitTLS)
	for _, o := range []struct {
		name, addr string
		implicit   bool
	}{
		{"requiretls glue (STARTTLS)", glue, false}, {"requiretls glue (implicit TLS)", glueImplicit, true},
		{"examples/server (STARTTLS)", server, false}, {"examples/server (implicit TLS)", serverImplicit, true},
	} {
		p := ours
		p.Name, p.Addr = o.name, o.addr
		targets = append(targets, target{peer: p, implicit: o.implicit})
	}

	for _, tc := range targets {
		t.Run(tc.peer.Name, func(t *testing.T) {
			args := []string{"-conformance", "-cafile", os.Getenv("INTEROP_CA"), "-servername", "localhost"}
			if tc.implicit {
				args = append(args, "-implicit-tls")
			}
			out, err := exec.Command(buildExample(t, "probe"), append(args, tc.peer.Addr)...).Output()
			code := exitCode(t, err)
			var got []conformanceVerdict
			for _, l := range strings.Split(string(out), "\n") {
				if m := conformanceLine.FindStringSubmatch(l); m != nil {
					require.Equal(t, fmt.Sprint(len(got)+1), m[2], "checks in order:\n%s", out)
					got = append(got, conformanceVerdict{m[1], m[3], m[4]})
				}
			}
			require.Len(t, got, 6, "probe exit status %d, output:\n%s%s", code, out, stderrOf(err))

			want := rawConformance(t, tc.peer.Addr, tc.implicit)
			wantCode := 0
			for _, v := range want {
				if v == "FAIL" {
					wantCode = 1
				}
			}
			if want[5] != "PASS" {
				wantCode = 1
			}
			assert.Equal(t, wantCode, code, "probe exit status; output:\n%s", out)
			for i, g := range got {
				t.Run(fmt.Sprint(i+1), func(t *testing.T) {
					expect(t, tc.peer, ourProbe, fmt.Sprintf("-conformance %d. %s", i+1, g.name),
						fmt.Sprintf("%s: %s (a raw client sees the same)", g.verdict, g.detail))
					assert.Equal(t, want[i], g.verdict, "check %d. %s: %s; raw client: %s", i+1, g.name, g.detail, want[i])
				})
			}
			var b strings.Builder
			for i, g := range got {
				fmt.Fprintf(&b, "\n  %s %d. %s: %s", g.verdict, i+1, g.name, g.detail)
			}
			t.Logf("conformance of %s (exit status %d):%s", tc.peer.Name, code, b.String())
		})
	}
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "\nstderr:\n" + string(ee.Stderr)
	}
	return ""
}

// rawConformance sends the commands of the six checks with the raw client
// of peers_test.go and judges the replies itself: a reply of 400 or more
// is a refusal. It shares no code with the probe.
func rawConformance(t *testing.T, addr string, implicit bool) [6]string {
	t.Helper()
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	const helo = "raw.conformance.interop.test"
	var v [6]string
	// mail sends one MAIL command, RSET if it was accepted, and QUIT.
	mail := func(r *raw, line string) int {
		code, _ := r.cmd(line)
		if code < 400 {
			r.cmd("RSET")
		}
		r.quit()
		return code
	}
	if implicit {
		v[0], v[1] = "SKIP", "SKIP"
	} else {
		r := dialRaw(t, addr)
		code, ehlo := r.cmd("EHLO " + helo)
		require.Equal(t, 250, code)
		v[0] = verdict(!hasKeyword(ehlo, "REQUIRETLS"))
		starttls := hasKeyword(ehlo, "STARTTLS")
		v[1] = verdict(mail(r, "MAIL FROM:<> REQUIRETLS") >= 400)
		if !starttls {
			v[2], v[3], v[4], v[5] = "SKIP", "SKIP", "SKIP", "SKIP"
			return v
		}
	}
	// underTLS opens a session under TLS and returns it with its EHLO reply.
	underTLS := func() (*raw, []string) {
		var r *raw
		if implicit {
			conn, err := tls.Dial("tcp", addr, clientTLS(t))
			require.NoError(t, err)
			r = &raw{t: t, conn: conn, text: textproto.NewConn(conn)}
			t.Cleanup(func() { r.text.Close() })
			code, _ := r.reply()
			require.Equal(t, 220, code, "greeting")
		} else {
			r = dialRaw(t, addr)
			code, _ := r.cmd("EHLO " + helo)
			require.Equal(t, 250, code)
			r.startTLS()
		}
		code, ehlo := r.cmd("EHLO " + helo)
		require.Equal(t, 250, code)
		return r, ehlo
	}
	r, ehlo := underTLS()
	v[2] = verdict(hasKeyword(ehlo, "REQUIRETLS"))
	v[3] = verdict(mail(r, "MAIL FROM:<> REQUIRETLS=x") >= 400)
	r, _ = underTLS()
	v[4] = verdict(mail(r, "MAIL FROM:<> REQUIRETLS REQUIRETLS") >= 400)
	r, _ = underTLS()
	v[5] = verdict(mail(r, "MAIL FROM:<> REQUIRETLS") < 400)
	return v
}
