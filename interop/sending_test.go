//go:build interop

package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

const (
	sender    = "alice@example.org"
	recipient = "bob@example.org" // in Haraka's host_list
)

// original is the message our sender relays. Its body carries a marker that
// must never show up in a bounce (RFC 8689 Section 5).
func original(helo string) string {
	return "From: <" + sender + ">\r\nTo: <" + recipient + ">\r\nSubject: interop " + helo + "\r\n" +
		"Message-ID: <" + helo + "@example.org>\r\n\r\nBODY-SECRET " + helo + "\r\n"
}

// attempt is the first-hop configuration our sender uses at each level. A
// peer is a static next hop whose certificate the test CA vouches for; under
// enforce it is checked with PKIX (Postfix TLS level "verify"), otherwise
// Postfix's default smtp_tls_security_level "may" applies.
func attempt(level policy.Level) policy.Attempt {
	a := policy.Attempt{Tag: policy.Required, Level: level, Host: "localhost", TLSLevel: tlsstatus.May, Auth: policy.AuthNone}
	if level == policy.Enforce {
		a.Auth, a.TLSLevel = policy.AuthStaticPKIX, tlsstatus.Verify
	}
	return a
}

// sent is what our sender did with one message.
type sent struct {
	Helo   string
	Field  tlsstatus.Field         // the tls= field our sender would log
	Policy *requiretls.PolicyError // non-nil when the policy stopped delivery
	DSN    []byte                  // the bounce we composed, if any
}

// send relays original(helo) to p's address as a REQUIRETLS message under level,
// with RET=FULL from its sender, the way a relay built on the library does:
// requiretls.Dialer runs policy.Evaluate at every stage, requiretls.Conn.Mail
// sends the parameters the decision asks for, and a bounce gets a DSN from dsn.Compose.
func send(t *testing.T, p peer, level policy.Level) sent {
	t.Helper()
	helo := heloName(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &requiretls.Dialer{LocalName: helo, TLSConfig: clientTLS(t)}
	c, err := d.Dial(ctx, p.Addr, attempt(level))
	if err != nil {
		var pe *requiretls.PolicyError
		require.ErrorAs(t, err, &pe, "not a policy decision: %v", err)
		return sent{Helo: helo, Field: pe.Field(), Policy: pe, DSN: bounce(t, pe, helo)}
	}
	transmit(t, c, sender, &smtp.MailOptions{Return: smtp.DSNReturnFull}, recipient, original(helo))
	return sent{Helo: helo, Field: c.Field()}
}

// transmit sends msg from from to rcpt over c, with opts, and quits.
func transmit(t *testing.T, c *requiretls.Conn, from string, opts *smtp.MailOptions, rcpt, msg string) {
	t.Helper()
	require.NoError(t, c.Mail(from, opts))
	require.NoError(t, c.Client.Rcpt(rcpt, nil))
	w, err := c.Client.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, msg)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Client.Quit())
}

// bounce composes the non-delivery notification for a message the policy stopped.
func bounce(t *testing.T, pe *requiretls.PolicyError, helo string) []byte {
	t.Helper()
	if pe.Decision.Action != policy.Bounce {
		return nil
	}
	var b bytes.Buffer
	env, err := dsn.Compose(&b, &dsn.Report{
		From: "MAILER-DAEMON@ours.interop.test", To: sender, ReportingMTA: "dns; ours.interop.test",
		RequireTLS: true, Ret: dsn.RetFull,
		Recipients: []dsn.Recipient{{
			FinalRecipient: "rfc822;" + recipient, Action: dsn.ActionFailed, Status: pe.Decision.Code.String(),
			RemoteMTA: "dns; localhost", DiagnosticCode: "smtp; " + pe.Reply().Error(),
		}},
	}, strings.NewReader(original(helo)))
	require.NoError(t, err)
	assert.False(t, env.Full, "a REQUIRETLS message is returned headers only (RFC 8689 Section 5)")
	return b.Bytes()
}

// deliverDSN sends our bounce to p as the original sender's mail server
// would receive it: "MAIL FROM:<>", not tagged REQUIRETLS (Postfix
// requiretls_redact_dsn=yes; RFC 8689 Section 5).
func deliverDSN(t *testing.T, p peer, helo string, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &requiretls.Dialer{LocalName: helo, TLSConfig: clientTLS(t)}
	c, err := d.Dial(ctx, p.Addr, policy.Attempt{Tag: policy.Default, NullSender: true, Level: policy.Opportunistic, Host: "localhost"})
	require.NoError(t, err)
	transmit(t, c, "", nil, sender, string(msg))
}

// wantField is the tls= field Postfix 3.11 logs (spec/postfix-3.11.md §3,
// and what Postfix 3.11.6 itself logged in the "Postfix sender" rows of
// MATRIX.md): slot 0 is the TLS security level, as is with TLS up, with
// ":none" when the message went out in plaintext, "!" in front when the
// level required TLS and there was none, "?" after when the attempt was
// given up for REQUIRETLS before TLS; slot 1 is the REQUIRETLS outcome.
func wantField(t *testing.T, level policy.Level, tlsUp bool, reqtls string) string {
	t.Helper()
	a := attempt(level)
	slot0 := string(a.TLSLevel)
	switch {
	case tlsUp:
	case !strings.HasPrefix(reqtls, "!"):
		slot0 += ":none"
	case a.TLSLevel == tlsstatus.Verify:
		slot0 = "!" + slot0
	default:
		slot0 += "?"
	}
	f := slot0 + "/" + reqtls
	_, err := tlsstatus.ParseField(f)
	require.NoError(t, err)
	return f
}

// assertNotSent checks, on the peer's own log, that the session reached the
// point the policy looked at and that no MAIL command was sent.
func assertNotSent(t *testing.T, p peer, s sent, tlsUp bool) {
	t.Helper()
	got := p.session(t, s.Helo)
	assert.True(t, got.saw("C: EHLO "+s.Helo), "the peer saw our EHLO: %q", got.Lines)
	assert.Equal(t, tlsUp, got.saw("C: STARTTLS") || got.saw("C: EHLO "+s.Helo+" (tls=true)"),
		"STARTTLS as the peer saw it: %q", got.Lines)
	assert.Empty(t, got.Mail, "the peer received MAIL: %q", got.Lines)
	assert.Empty(t, got.Delivered)
}

// assertBounced checks the policy's decision and the DSN we composed for it.
func assertBounced(t *testing.T, s sent, code string, feature string) {
	t.Helper()
	require.NotNil(t, s.Policy, "the message was delivered")
	assert.Equal(t, policy.Bounce, s.Policy.Decision.Action)
	assert.Equal(t, code, s.Policy.Decision.Code.String())
	assert.Equal(t, feature, s.Policy.Decision.Feature.String())
	if code == "5.7.30" {
		assert.True(t, errors.Is(s.Policy, requiretls.ErrSupportRequired))
	}
	require.NotEmpty(t, s.DSN)
}

// assertDSNAtPeer delivers our bounce to p and checks what p received.
func assertDSNAtPeer(t *testing.T, p peer, s sent, code string) {
	t.Helper()
	dsnHelo := "dsn." + s.Helo
	deliverDSN(t, p, dsnHelo, s.DSN)
	got := p.session(t, dsnHelo)
	require.Len(t, got.Delivered, 1, "the peer did not accept our DSN: %q", got.Lines)
	require.Len(t, got.Mail, 1)
	assert.True(t, strings.HasPrefix(got.Mail[0], "MAIL FROM:<>"), "DSN envelope: %q", got.Mail[0])
	assert.NotContains(t, got.Mail[0], "REQUIRETLS")
	content := got.Delivered[0].Content
	if content == "" {
		return // Exim logs the envelope, not the content
	}
	assert.Contains(t, content, "Status: "+code)
	assert.Contains(t, content, "text/rfc822-headers")
	assert.Contains(t, content, "Subject: interop "+s.Helo, "the returned header section")
	assert.NotContains(t, content, "BODY-SECRET", "a body byte leaked into the DSN (RFC 8689 Section 5)")
}

// assertDelivered checks, on the peer's own log, how the message arrived.
func assertDelivered(t *testing.T, p peer, s sent, requireTLS bool, tlsUp bool, ret string) {
	t.Helper()
	require.Nil(t, s.Policy, "the policy stopped delivery: %v", s.Policy)
	got := p.session(t, s.Helo)
	require.Len(t, got.Mail, 1, "MAIL commands the peer received: %q", got.Lines)
	assert.Equal(t, requireTLS, strings.Contains(got.Mail[0], " REQUIRETLS"), "MAIL at the peer: %q", got.Mail[0])
	if ret == "" {
		assert.NotContains(t, got.Mail[0], "RET=", "MAIL at the peer: %q", got.Mail[0])
	} else {
		assert.Contains(t, got.Mail[0], "RET="+ret, "MAIL at the peer: %q", got.Mail[0])
	}
	require.Len(t, got.Delivered, 1, "the peer did not accept the message: %q", got.Lines)
	assert.Equal(t, sender, got.Delivered[0].From)
	assert.Equal(t, tlsUp, got.Delivered[0].TLS, "TLS as the peer saw it")
}

// TestSending relays REQUIRETLS messages through the library to each server
// peer at each enforcement level (RFC 8689 Section 4.2.1, Postfix 3.11
// smtp_requiretls_policy) and checks each outcome on the peer's side.
func TestSending(t *testing.T) {
	t.Run("smtp-server REQUIRETLS/R27 enforce delivers with REQUIRETLS", func(t *testing.T) {
		p := smtpServerRequireTLS()
		expect(t, p, fromUs, "enforce", "delivered with MAIL ... REQUIRETLS over TLS; peer's envelope.requireTLS=true; tls=verify/requiretls")
		s := send(t, p, policy.Enforce)
		// The sender's RET=FULL goes on unchanged: this hop has REQUIRETLS and
		// must itself return headers only if it bounces (RFC 8689 Section 5).
		assertDelivered(t, p, s, true, true, "FULL")
		got := p.session(t, s.Helo)
		assert.True(t, got.Delivered[0].RequireTLS, "smtp-server's own envelope.requireTLS")
		assert.Equal(t, wantField(t, policy.Enforce, true, "requiretls"), s.Field.String())
	})

	// Lenient peers: TestPeerBaseline shows they accept an unannounced
	// REQUIRETLS, so only our own announcement check can stop delivery.
	for _, p := range []peer{smtpServerStartTLS(), haraka()} {
		t.Run(p.Name+"/R16 enforce does not send to a lenient server", func(t *testing.T) {
			expect(t, p, fromUs, "enforce", "no MAIL sent (peer would accept REQUIRETLS); bounce 5.7.30; tls=verify/!requiretls:none")
			s := send(t, p, policy.Enforce)
			assertBounced(t, s, "5.7.30", "!requiretls:none")
			assertNotSent(t, p, s, true)
			assert.Equal(t, wantField(t, policy.Enforce, true, "!requiretls:none"), s.Field.String())
		})
	}

	t.Run("smtp-server default/R46 opportunistic+starttls downgrades with RET=HDRS", func(t *testing.T) {
		p := smtpServerStartTLS()
		expect(t, p, fromUs, "opportunistic+starttls", "delivered over TLS without REQUIRETLS, RET=HDRS (peer's envelope.dsn.ret); tls=may/requiretls:none")
		s := send(t, p, policy.OpportunisticSTARTTLS)
		assertDelivered(t, p, s, false, true, "HDRS")
		got := p.session(t, s.Helo)
		assert.Equal(t, "HDRS", got.Delivered[0].Ret, "smtp-server's own envelope.dsn.ret")
		assert.False(t, got.Delivered[0].RequireTLS)
		assert.Equal(t, wantField(t, policy.OpportunisticSTARTTLS, true, "requiretls:none"), s.Field.String())
	})

	// Strict STARTTLS peers without REQUIRETLS: aiosmtpd (no DSN) and Exim (DSN offered).
	for _, tc := range []struct {
		p   peer
		ret string // RET on a downgrade: only where DSN is offered
	}{{aiosmtpdStartTLS(), ""}, {exim(), "HDRS"}} {
		p := tc.p
		t.Run(p.Name+"/R32 enforce bounces 5.7.30 with a redacted DSN", func(t *testing.T) {
			expect(t, p, fromUs, "enforce", "no MAIL sent; bounce 5.7.30; headers-only DSN accepted from <> by the peer; tls=verify/!requiretls:none")
			s := send(t, p, policy.Enforce)
			assertBounced(t, s, "5.7.30", "!requiretls:none")
			assertNotSent(t, p, s, true)
			assert.Equal(t, wantField(t, policy.Enforce, true, "!requiretls:none"), s.Field.String())
			assertDSNAtPeer(t, p, s, "5.7.30")
		})
		t.Run(p.Name+"/R46 opportunistic+starttls downgrades", func(t *testing.T) {
			want := "delivered over TLS without REQUIRETLS"
			if tc.ret != "" {
				want += ", RET=HDRS (DSN offered)"
			} else {
				want += ", no RET (DSN not offered)"
			}
			expect(t, p, fromUs, "opportunistic+starttls", want+"; tls=may/requiretls:none")
			s := send(t, p, policy.OpportunisticSTARTTLS)
			assertDelivered(t, p, s, false, true, tc.ret)
			assert.Equal(t, wantField(t, policy.OpportunisticSTARTTLS, true, "requiretls:none"), s.Field.String())
		})
		t.Run(p.Name+"/R27 opportunistic delivers", func(t *testing.T) {
			expect(t, p, fromUs, "opportunistic", "delivered over TLS without REQUIRETLS; tls=may/requiretls:none")
			s := send(t, p, policy.Opportunistic)
			// RET=HDRS on a downgrade is Postfix's rule for every level below enforce.
			assertDelivered(t, p, s, false, true, tc.ret)
			assert.Equal(t, wantField(t, policy.Opportunistic, true, "requiretls:none"), s.Field.String())
		})
	}

	// Peers without STARTTLS.
	for _, p := range []peer{aiosmtpdPlain(), smtpServerPlain()} {
		for _, level := range []policy.Level{policy.Enforce, policy.OpportunisticSTARTTLS} {
			t.Run(fmt.Sprintf("%s/R13 %s bounces without STARTTLS", p.Name, level), func(t *testing.T) {
				want := wantField(t, level, false, "!requiretls:nostarttls")
				expect(t, p, fromUs, level.String(), "no STARTTLS, no MAIL sent; bounce 5.7.30; tls="+want)
				s := send(t, p, level)
				assertBounced(t, s, "5.7.30", "!requiretls:nostarttls")
				assertNotSent(t, p, s, false)
				assert.Equal(t, want, s.Field.String())
			})
		}
		t.Run(p.Name+"/R27 opportunistic delivers in plaintext", func(t *testing.T) {
			want := wantField(t, policy.Opportunistic, false, "requiretls:none")
			expect(t, p, fromUs, "opportunistic", "delivered in plaintext without REQUIRETLS; tls="+want)
			s := send(t, p, policy.Opportunistic)
			ret := ""
			if strings.HasPrefix(p.Name, "smtp-server") {
				ret = "HDRS" // smtp-server offers DSN
			}
			assertDelivered(t, p, s, false, false, ret)
			assert.Equal(t, want, s.Field.String())
		})
	}
}
