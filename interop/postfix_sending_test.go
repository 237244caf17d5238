//go:build interop

package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// The Postfix sending cases: one smtp(8) transport per smtp_requiretls_policy
// and smtp_tls_security_level (interop/run writes them into master.cf, with
// syslog_name postfix/rt-POLICY-LEVEL), to each of four next hops that this
// file starts on the ports interop/run chose.
var (
	postfixPolicies = []struct {
		name  string // in the transport and the recipient domain
		level policy.Level
	}{
		{"disable", policy.Disable},
		{"opportunistic", policy.Opportunistic},
		{"starttls", policy.OpportunisticSTARTTLS},
		{"enforce", policy.Enforce},
	}
	postfixTLSLevels = []tlsstatus.Name{tlsstatus.May, tlsstatus.Encrypt, tlsstatus.Verify, tlsstatus.Secure}
)

// nexthop is a server Postfix and, for comparison, our Dialer send to.
type nexthop struct {
	name string // in the recipient domain
	desc string
	rec  *recorder
}

// startNexthops starts the four next hops on the addresses interop/run exported.
func startNexthops(t *testing.T) []nexthop {
	t.Helper()
	untrusted, err := testpki.NewLocalhost("not the interop test CA")
	require.NoError(t, err)
	hops := []struct {
		name, desc, key string
		glue            bool // requiretls.NewServer: REQUIRETLS after STARTTLS
		cert            *tls.Certificate
	}{
		{"trusted", "REQUIRETLS, trusted certificate", "INTEROP_POSTFIX_NEXTHOP_TRUSTED", true, serverCert(t)},
		{"norequiretls", "no REQUIRETLS, trusted certificate", "INTEROP_POSTFIX_NEXTHOP_NOREQUIRETLS", false, serverCert(t)},
		{"untrusted", "REQUIRETLS, untrusted certificate", "INTEROP_POSTFIX_NEXTHOP_UNTRUSTED", true, &untrusted.Server},
		{"plain", "REQUIRETLS glue, no STARTTLS", "INTEROP_POSTFIX_NEXTHOP_PLAIN", true, nil},
	}
	var out []nexthop
	for _, h := range hops {
		rec := &recorder{}
		var s *smtp.Server
		if h.glue {
			s = requiretls.NewServer(rec, &requiretls.ServerOptions{})
		} else {
			s = smtp.NewServer(rec)
		}
		s.Domain, s.EnableDSN = h.name+".nexthop.interop.test", true
		if h.cert != nil {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*h.cert}}
		}
		serve(t, s, os.Getenv(h.key), false)
		out = append(out, nexthop{name: h.name, desc: h.desc, rec: rec})
	}
	return out
}

func serverCert(t *testing.T) *tls.Certificate {
	c := serverTLS(t).Certificates[0]
	return &c
}

// outcome is what one sender did with one message at one next hop.
type outcome struct {
	Status     string // sent, bounced, deferred
	DSN        string // the enhanced status code
	Field      string // the tls= field as logged ("" when none)
	RequireTLS bool   // the next hop received MAIL ... REQUIRETLS
	Ret        string // RET at the next hop
}

func (o outcome) String() string {
	s := o.Status
	if o.Status == "sent" {
		if o.RequireTLS {
			s += " with REQUIRETLS"
		} else {
			s += " without REQUIRETLS"
		}
		if o.Ret != "" {
			s += " RET=" + o.Ret
		}
	} else {
		s += " " + o.DSN
	}
	return s + " tls=" + o.Field
}

// postfixSendmail submits one REQUIRETLS message (sendmail -O requiretls=yes,
// RET=FULL) to every recipient through Postfix's own sendmail.
func postfixSendmail(t *testing.T, rcpts []string) {
	t.Helper()
	args := append([]string{"-C", os.Getenv("INTEROP_POSTFIX_CONFIG"), "-f", sender, "-O", "requiretls=yes", "-R", "full"}, rcpts...)
	cmd := exec.Command(filepath.Join(os.Getenv("INTEROP_POSTFIX_SBIN"), "sendmail"), args...)
	cmd.Stdin = strings.NewReader("From: <" + sender + ">\r\nSubject: interop Postfix as the sender\r\n\r\nBODY-SECRET\r\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "sendmail: %s", out)
}

// postfixDeliveries waits for Postfix's delivery status line for each
// recipient: 64 deliveries on a loaded machine can take longer than waitFor's
// 15 seconds.
func postfixDeliveries(t *testing.T, path string, rcpts []string) map[string]tlsstatus.Delivery {
	t.Helper()
	got := map[string]tlsstatus.Delivery{}
	all := func() bool {
		for _, l := range readLines(t, path) {
			d, ok, err := tlsstatus.ParseLine(l)
			require.NoError(t, err, "tlsstatus.ParseLine(%q)", l)
			if !ok {
				continue
			}
			if _, seen := got[d.To]; !seen {
				got[d.To] = d
				// The field re-formats byte for byte as Postfix wrote it.
				if d.TLS != nil {
					assert.Contains(t, l, ", tls="+d.TLS.String()+", ", "tls= field round trip")
				}
			}
		}
		for _, r := range rcpts {
			if _, ok := got[r]; !ok {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(2 * time.Minute); !all(); time.Sleep(100 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "Postfix logged %d of %d deliveries in 2 minutes", len(got), len(rcpts))
	}
	return got
}

// ourOutcome sends the same message through requiretls.Dialer to the same
// next hop, with the same facts: the level, and the TLS security level as
// policy.Auth (verify and secure check the certificate with PKIX).
func ourOutcome(t *testing.T, addr string, level policy.Level, tlsLevel tlsstatus.Name, hop nexthop, rcpt string) outcome {
	t.Helper()
	a := policy.Attempt{Tag: policy.Required, Level: level, Host: "localhost", TLSLevel: tlsLevel, Auth: policy.AuthNone}
	if tlsLevel == tlsstatus.Verify || tlsLevel == tlsstatus.Secure {
		a.Auth = policy.AuthStaticPKIX
	}
	helo := heloName(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &requiretls.Dialer{LocalName: helo, TLSConfig: clientTLS(t)}
	c, err := d.Dial(ctx, addr, a)
	if err != nil {
		var pe *requiretls.PolicyError
		if !errors.As(err, &pe) {
			return outcome{Status: "deferred", DSN: "(" + err.Error() + ")"}
		}
		o := outcome{DSN: pe.Decision.Code.String(), Field: pe.Field().String()}
		switch pe.Decision.Action {
		case policy.Bounce:
			o.Status = "bounced"
		case policy.Defer:
			o.Status = "deferred"
		default:
			o.Status = pe.Decision.Action.String()
		}
		return o
	}
	transmit(t, c, sender, &smtp.MailOptions{Return: smtp.DSNReturnFull}, rcpt, original(helo))
	o := outcome{Status: "sent", DSN: "2.0.0", Field: c.Field().String()}
	var m recorded
	waitFor(t, hop.name+" receiving our message", func() bool {
		var ok bool
		m, ok = hop.rec.to(rcpt)
		return ok
	})
	o.RequireTLS, o.Ret = m.RequireTLS, m.Ret
	return o
}

// postfixSending runs Postfix as the sender of a REQUIRETLS message for every
// combination of smtp_requiretls_policy, smtp_tls_security_level and next hop,
// and our Dialer with the same facts to the same next hop. Each row asserts
// what Postfix logged against what the next hop received, and that our
// outcome equals Postfix's: status, status code, REQUIRETLS and RET at the
// next hop, and the tls= field byte for byte. The table it logs (and
// MATRIX.md) shows both outcomes.
func postfixSending(t *testing.T) {
	hops := startNexthops(t)
	addr := map[string]string{
		"trusted": os.Getenv("INTEROP_POSTFIX_NEXTHOP_TRUSTED"), "norequiretls": os.Getenv("INTEROP_POSTFIX_NEXTHOP_NOREQUIRETLS"),
		"untrusted": os.Getenv("INTEROP_POSTFIX_NEXTHOP_UNTRUSTED"), "plain": os.Getenv("INTEROP_POSTFIX_NEXTHOP_PLAIN"),
	}
	rcptOf := func(pol string, lvl tlsstatus.Name, hop string) string {
		return fmt.Sprintf("bob@%s-%s.%s.interop.test", pol, lvl, hop)
	}
	var rcpts []string
	for _, p := range postfixPolicies {
		for _, l := range postfixTLSLevels {
			for _, h := range hops {
				rcpts = append(rcpts, rcptOf(p.name, l, h.name))
			}
		}
	}
	postfixSendmail(t, rcpts)
	logged := postfixDeliveries(t, os.Getenv("INTEROP_POSTFIX_LOG"), rcpts)

	var table strings.Builder
	fmt.Fprintf(&table, "%-22s %-7s %-12s | %-64s | %-64s | %s\n", "policy", "level", "next hop", "Postfix", "ours", "differs in")
	for _, p := range postfixPolicies {
		for _, l := range postfixTLSLevels {
			for _, h := range hops {
				rcpt := rcptOf(p.name, l, h.name)
				t.Run(fmt.Sprintf("%s/%s/%s", p.name, l, h.name), func(t *testing.T) {
					pf := postfixSide(t, logged[rcpt], h, rcpt)
					ours := ourOutcome(t, addr[h.name], p.level, l, h, "ours."+rcpt)
					diff := differences(pf, ours)
					expect(t, postfixSender(), postfixAsSender,
						fmt.Sprintf("smtp_requiretls_policy=%s smtp_tls_security_level=%s → %s", p.level, l, h.desc),
						fmt.Sprintf("Postfix: %s; ours: %s; %s", pf, ours, diffText(diff)))
					assert.Empty(t, diff, "ours differs from Postfix 3.11.6: Postfix %s; ours %s", pf, ours)
					assert.Equal(t, pf.Field, ours.Field, "tls= field byte for byte")
					fmt.Fprintf(&table, "%-22s %-7s %-12s | %-64s | %-64s | %s\n", p.level, l, h.name, pf, ours, strings.Join(diff, ", "))
				})
			}
		}
	}
	t.Logf("Postfix 3.11.6 as the sender of a REQUIRETLS message (sendmail -O requiretls=yes -R full), and requiretls.Dialer with the same facts:\n%s", table.String())
}

// postfixAsSender is the MATRIX.md direction of the rows above.
const postfixAsSender = "Postfix sender → next hop (ours compared)"

func postfixSender() peer {
	return peer{Name: "Postfix (sendmail, smtp)", Version: os.Getenv("INTEROP_VERSION_POSTFIX")}
}

// postfixSide reads Postfix's outcome for rcpt from its delivery line, and
// checks it against what the next hop itself received.
func postfixSide(t *testing.T, d tlsstatus.Delivery, h nexthop, rcpt string) outcome {
	t.Helper()
	require.Equal(t, rcpt, d.To)
	o := outcome{Status: string(d.Status), DSN: d.DSN}
	if d.TLS != nil {
		o.Field = d.TLS.String()
	}
	m, got := h.rec.to(rcpt)
	require.Equal(t, o.Status == "sent", got, "Postfix logged %s; the next hop received the message: %v (%s)", o.Status, got, d.Reason)
	if got {
		o.RequireTLS, o.Ret = m.RequireTLS, m.Ret
		// REQUIRETLS went out exactly when Postfix's REQUIRETLS slot says it was
		// sent: "requiretls" or "requiretls:nocertmatch" (Postfix 3.11 §3).
		reqtls, active := d.RequireTLS()
		sentWith := active && !reqtls.Violation && (reqtls.Final == "" || reqtls.Final == tlsstatus.NoCertMatch)
		assert.Equal(t, sentWith, m.RequireTLS, "REQUIRETLS at the next hop, against tls=%s", o.Field)
		assert.Equal(t, h.name != "plain", m.TLS, "TLS at the next hop")
	}
	return o
}

// differences names the parts of two outcomes that differ.
func differences(pf, ours outcome) []string {
	var d []string
	if pf.Status != ours.Status {
		d = append(d, "status")
	}
	if pf.Status != "sent" && ours.Status != "sent" && pf.DSN != ours.DSN {
		d = append(d, "status code")
	}
	if pf.Status == "sent" && ours.Status == "sent" {
		if pf.RequireTLS != ours.RequireTLS {
			d = append(d, "REQUIRETLS")
		}
		if pf.Ret != ours.Ret {
			d = append(d, "RET")
		}
	}
	p0, p1, _ := strings.Cut(pf.Field, "/")
	o0, o1, _ := strings.Cut(ours.Field, "/")
	if p0 != o0 {
		d = append(d, "tls= slot 0")
	}
	if p1 != o1 {
		d = append(d, "tls= slot 1")
	}
	return d
}

func diffText(d []string) string {
	if len(d) == 0 {
		return "same"
	}
	return "differs in " + strings.Join(d, ", ")
}
