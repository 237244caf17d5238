//go:build interop

package interop

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// reinject gives msg back to Postfix over plaintext SMTP, without
// REQUIRETLS: the recipe's loopback hop.
func reinject(addr, helo, from, rcpt string, msg []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// startFilter serves the after-queue filter of Postfix's FILTER_README on
// addr, behind requiretls.NewServer with opts: it takes one recipient per
// message and gives each message back to Postfix's re-injection port (no
// content_filter there) in plaintext, as the recipe does; the message's
// header section, which the glue edited (FilterHeader), carries the
// REQUIRETLS request. tlsOn offers STARTTLS with the test CA's certificate.
func startFilter(t *testing.T, addr, reinjectAddr string, tlsOn bool, opts *requiretls.ServerOptions) *recorder {
	t.Helper()
	f := &recorder{
		rcpt: func(m *recorded, _ string) error {
			if len(m.Rcpt) > 0 {
				return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "one recipient per message"}
			}
			return nil
		},
		data: func(m *recorded) error {
			return reinject(reinjectAddr, reinjectHelo(m.Rcpt[0]), m.From, m.Rcpt[0], m.Data)
		},
	}
	s := requiretls.NewServer(f, opts)
	s.Domain, s.EnableDSN = "filter.interop.test", true
	if tlsOn {
		s.TLSConfig = serverTLS(t)
	}
	serve(t, s, addr, false)
	return f
}

// reinjectHelo is the EHLO name of the re-injection of rcpt's message.
func reinjectHelo(rcpt string) string {
	local, _, _ := strings.Cut(rcpt, "@")
	return "reinject." + local + ".interop.test"
}

// sendTo sends original(helo) to rcpt at addr as a REQUIRETLS message
// under enforce with a verified certificate, RET=FULL, through our Dialer.
func sendTo(t *testing.T, addr, helo, rcpt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &requiretls.Dialer{LocalName: helo, TLSConfig: clientTLS(t)}
	c, err := d.Dial(ctx, addr, attempt(policy.Enforce))
	require.NoError(t, err)
	transmit(t, c, sender, &smtp.MailOptions{Return: smtp.DSNReturnFull}, rcpt, original(helo))
}

// forgedMessage is what a plaintext client sends to forge a REQUIRETLS
// request: no MAIL parameter (it cannot send one without TLS), only
// Postfix's header field.
func forgedMessage(helo string) []string {
	return []string{"From: <" + sender + ">", "To: <" + recipient + ">", "Subject: forged " + helo,
		"Require-TLS-ESMTP: yes", "", "BODY-SECRET " + helo}
}

// sendRaw sends lines as one message in plaintext, without REQUIRETLS.
func sendRaw(t *testing.T, addr, helo, rcpt string, lines []string) {
	t.Helper()
	r := dialRaw(t, addr)
	code, _ := r.cmd("EHLO " + helo)
	require.Equal(t, 250, code)
	code, reply := r.cmd("MAIL FROM:<" + sender + ">")
	require.Equal(t, 250, code, "MAIL: %q", reply)
	code, reply = r.cmd("RCPT TO:<" + rcpt + ">")
	require.Equal(t, 250, code, "RCPT: %q", reply)
	code, reply = r.cmd("DATA")
	require.Equal(t, 354, code, "DATA: %q", reply)
	for _, l := range lines {
		require.NoError(t, r.text.PrintfLine("%s", l))
	}
	code, reply = r.cmd(".")
	require.Equal(t, 250, code, "end of data: %q", reply)
	r.quit()
}

// postfixDelivery waits for Postfix's delivery status line for rcpt from
// the smtp(8) service program ("postfix/filter-tls/smtp").
func postfixDelivery(t *testing.T, log, program, rcpt string) tlsstatus.Delivery {
	t.Helper()
	var got tlsstatus.Delivery
	waitLong(t, program+" logging the delivery to "+rcpt, func() bool {
		for _, l := range readLines(t, log) {
			d, ok, err := tlsstatus.ParseLine(l)
			require.NoError(t, err, "tlsstatus.ParseLine(%q)", l)
			if ok && d.Program == program && d.To == rcpt {
				got = d
				return true
			}
		}
		return false
	})
	return got
}

// reinjected returns the message the filter gave back to Postfix's
// re-injection port for rcpt, as Postfix queued it.
func reinjected(t *testing.T, f *recorder, log, rcpt string) (recorded, queued) {
	t.Helper()
	var m recorded
	waitLong(t, "the filter receiving "+rcpt, func() bool {
		var ok bool
		m, ok = f.to(rcpt)
		return ok
	})
	require.NoError(t, m.Err, "re-injection into Postfix")
	p := postfixPeer{peer{Name: "Postfix (re-injection)", Log: log}, "postfix/reinject"}
	return m, heldMessage(t, p.session(t, reinjectHelo(rcpt)))
}

const (
	filterDirection = "Postfix content_filter → requiretls glue (FilterHeader) → Postfix re-injection"
	forgedDirection = "plaintext client, forged Require-TLS-ESMTP: yes → Postfix and our glue, side by side"
)

func postfixRowPeer(name string) peer {
	return peer{Name: name, Version: os.Getenv("INTEROP_VERSION_POSTFIX")}
}

// TestPostfixFilter runs Postfix's after-queue content filter recipe with
// our go-smtp glue as the filter (requiretls.NewServer, FilterHeader): a
// REQUIRETLS message that Postfix hands to the filter, over STARTTLS with
// REQUIRETLS or in plaintext with only its Require-TLS-ESMTP header, must
// come back into Postfix's queue with the REQUIRETLS flag (RFC 8689 Section
// 4.1: the tag is kept for onward relay; Postfix 3.11 §4.1). Then a forged
// Require-TLS-ESMTP: yes from a plaintext client, at Postfix and at our
// glue: Postfix honours it from anyone (requiretls_esmtp_header = yes); the
// glue removes it unless its listener is trusted (TrustRequireTLSESMTP).
func TestPostfixFilter(t *testing.T) {
	env := postfixEnv(t, "INTEROP_POSTFIX_FILTER_TLS_IN", "INTEROP_POSTFIX_FILTER_PLAIN_IN", "INTEROP_POSTFIX_REINJECT",
		"INTEROP_POSTFIX_FILTER_TLS", "INTEROP_POSTFIX_FILTER_PLAIN", "INTEROP_POSTFIX_PLAIN")
	log := env["INTEROP_POSTFIX_LOG"]
	// The STARTTLS filter is an ordinary listener: Require-TLS-ESMTP is
	// honoured from no one. The plaintext one is reachable only by
	// Postfix's content_filter, the case TrustRequireTLSESMTP is for.
	tlsFilter := startFilter(t, env["INTEROP_POSTFIX_FILTER_TLS"], env["INTEROP_POSTFIX_REINJECT"], true,
		&requiretls.ServerOptions{FilterHeader: true})
	plainFilter := startFilter(t, env["INTEROP_POSTFIX_FILTER_PLAIN"], env["INTEROP_POSTFIX_REINJECT"], false,
		&requiretls.ServerOptions{FilterHeader: true, TrustRequireTLSESMTP: true})

	for _, tc := range []struct {
		name, local, in, program string
		f                        *recorder
		requireTLS               bool   // Postfix sends MAIL ... REQUIRETLS to the filter
		ret                      string // the RET Postfix sends to the filter
		reqtls                   string // the REQUIRETLS slot of Postfix's tls= field
	}{
		{"STARTTLS and REQUIRETLS (enforce verify)", "filter-tls", env["INTEROP_POSTFIX_FILTER_TLS_IN"], "postfix/filter-tls/smtp", tlsFilter, true, "FULL", "requiretls"},
		{"plaintext to a trusted filter listener (opportunistic may)", "filter-plain", env["INTEROP_POSTFIX_FILTER_PLAIN_IN"], "postfix/filter-plain/smtp", plainFilter, false, "HDRS", "requiretls:none"},
	} {
		t.Run("R23 E25/"+tc.name, func(t *testing.T) {
			how := "MAIL ... REQUIRETLS RET=FULL"
			if !tc.requireTLS {
				how = "no REQUIRETLS (downgrade, RET=HDRS), Require-TLS-ESMTP: yes from cleanup"
			}
			expect(t, postfixRowPeer("Postfix (content_filter recipe)"), filterDirection, tc.name,
				"Postfix → filter: "+how+", tls=…/"+tc.reqtls+"; glue tags Required, passes exactly one Require-TLS-ESMTP: yes; "+
					"re-injected in plaintext, Postfix queues it with its REQUIRETLS flag (postcat)")
			helo := heloName(t)
			rcpt := tc.local + "@filter.interop.test"
			sendTo(t, tc.in, helo, rcpt)

			d := postfixDelivery(t, log, tc.program, rcpt)
			assert.Equal(t, tlsstatus.Sent, d.Status, "Postfix's delivery to the filter: %s", d.Reason)
			f, ok := d.RequireTLS()
			require.True(t, ok, "no REQUIRETLS slot in tls=%s", d.TLS)
			assert.Equal(t, tc.reqtls, f.String(), "tls=%s", d.TLS)

			m, q := reinjected(t, tc.f, log, rcpt)
			assert.Equal(t, tc.requireTLS, m.RequireTLS, "MAIL ... REQUIRETLS from Postfix to the filter")
			assert.Equal(t, tc.requireTLS, m.TLS, "TLS between Postfix and the filter")
			assert.Equal(t, tc.ret, m.Ret, "RET from Postfix to the filter")
			assert.Equal(t, policy.Required, m.Tag, "the glue's tag")
			assert.Equal(t, 1, strings.Count(string(m.Data), "Require-TLS-ESMTP: yes\r\n"), "Require-TLS-ESMTP fields the glue passed on:\n%s", m.Data)
			assert.NotZero(t, q.SendOpts&soptRequireTLSESMTP, "Postfix's REQUIRETLS flag on the re-injected message (sendopts %d)", q.SendOpts)
			assert.Equal(t, 1, strings.Count(q.Headers, "Require-TLS-ESMTP: yes\n"), "Require-TLS-ESMTP fields in Postfix's queue file:\n%s", q.Headers)
		})
	}

	t.Run("E25/forged, Postfix honours it from a plaintext client", func(t *testing.T) {
		expect(t, postfixRowPeer("Postfix (no STARTTLS)"), forgedDirection, "Postfix smtpd, requiretls_esmtp_header = yes",
			"accepted in plaintext and queued with the REQUIRETLS flag (postcat): no trust check")
		helo := heloName(t)
		sendRaw(t, env["INTEROP_POSTFIX_PLAIN"], helo, recipient, forgedMessage(helo))
		got := postfixPlain().session(t, helo)
		assert.False(t, got.TLS)
		q := heldMessage(t, got)
		assert.NotZero(t, q.SendOpts&soptRequireTLSESMTP, "Postfix's REQUIRETLS flag (sendopts %d)", q.SendOpts)
		assert.Contains(t, q.Headers, "\nRequire-TLS-ESMTP: yes\n")
	})
	t.Run("E25/forged, our glue strips it on an ordinary listener", func(t *testing.T) {
		expect(t, postfixRowPeer("requiretls glue, re-injected into Postfix"), forgedDirection, "FilterHeader, TrustRequireTLSESMTP off (default)",
			"tagged Default, every Require-TLS-ESMTP removed; re-injected, Postfix queues it without the REQUIRETLS flag")
		helo := heloName(t)
		rcpt := "forged-untrusted@filter.interop.test"
		sendRaw(t, env["INTEROP_POSTFIX_FILTER_TLS"], helo, rcpt, forgedMessage(helo))
		m, q := reinjected(t, tlsFilter, log, rcpt)
		assert.False(t, m.TLS)
		assert.Equal(t, policy.Default, m.Tag)
		assert.NotContains(t, string(m.Data), "Require-TLS-ESMTP")
		assert.Zero(t, q.SendOpts&soptRequireTLSESMTP, "Postfix's REQUIRETLS flag (sendopts %d)", q.SendOpts)
		assert.NotContains(t, q.Headers, "Require-TLS-ESMTP")
	})
	t.Run("E25/forged, our glue honours it on a trusted listener, as Postfix does", func(t *testing.T) {
		expect(t, postfixRowPeer("requiretls glue, re-injected into Postfix"), forgedDirection, "FilterHeader, TrustRequireTLSESMTP on (filter return path only)",
			"tagged Required, one Require-TLS-ESMTP: yes; re-injected, Postfix queues it with the REQUIRETLS flag: why that listener must be reachable by Postfix alone")
		helo := heloName(t)
		rcpt := "forged-trusted@filter.interop.test"
		sendRaw(t, env["INTEROP_POSTFIX_FILTER_PLAIN"], helo, rcpt, forgedMessage(helo))
		m, q := reinjected(t, plainFilter, log, rcpt)
		assert.Equal(t, policy.Required, m.Tag)
		assert.Equal(t, 1, strings.Count(string(m.Data), "Require-TLS-ESMTP: yes\r\n"))
		assert.NotZero(t, q.SendOpts&soptRequireTLSESMTP, "Postfix's REQUIRETLS flag (sendopts %d)", q.SendOpts)
	})
}
