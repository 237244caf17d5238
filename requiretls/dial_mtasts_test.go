package requiretls

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/mtasts"
)

// stsPolicy parses a policy file as an HTTPS client would have fetched it.
func stsPolicy(t testing.TB, mode, mx string) *mtasts.Policy {
	t.Helper()
	text := "version: STSv1\r\nmode: " + mode + "\r\n"
	if mx != "" {
		text += "mx: " + mx + "\r\n"
	}
	p, err := mtasts.ParsePolicy(text + "max_age: 86400\r\n")
	require.NoError(t, err)
	return &p
}

// stsPeer runs a wrapped server with a certificate for mx.example.com from
// a CA, and returns it with a client configuration that trusts the CA and
// names no server (the Dialer takes the name from Attempt.Host).
func stsPeer(t *testing.T) (peer, *tls.Config) {
	t.Helper()
	ca, err := testpki.NewCA("MTA-STS test CA")
	require.NoError(t, err)
	cert, err := ca.Issue(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.example.com")
	require.NoError(t, err)
	return startPeer(t, &testpki.Localhost{Server: cert}, true), &tls.Config{RootCAs: ca.Pool}
}

// TestDialMTASTS: with an MTA-STS policy in mode enforce that lists the MX
// host, the Dialer reports AuthMTASTS itself (R14: the MX host name is
// validated by MTA-STS, RFC 8461 Section 4.1) and verifies the
// certificate with PKIX for that name (RFC 8461 Section 4.2), so an
// enforce REQUIRETLS message is sent with REQUIRETLS. The TLS security
// level becomes "secure". Mode testing authenticates only with the
// explicit option (E17), and does not raise the level.
func TestDialMTASTS(t *testing.T) {
	p, cfg := stsPeer(t)
	for _, tc := range []struct {
		name  string
		d     Dialer
		field string
	}{
		{"R14 enforce, wildcard match", Dialer{MTASTS: stsPolicy(t, "enforce", "*.example.com")}, "secure/requiretls"},
		{"E17 testing with the option", Dialer{MTASTS: stsPolicy(t, "testing", "mx.example.com"), MTASTSOptions: &mtasts.Options{Testing: true}}, "may/requiretls"},
		{"R27.4 a ServerName of the caller's does not replace the MX name", Dialer{MTASTS: stsPolicy(t, "enforce", "mx.example.com"),
			TLSConfig: &tls.Config{RootCAs: cfg.RootCAs, ServerName: "other.example.com"}}, "secure/requiretls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			if d.TLSConfig == nil {
				d.TLSConfig = cfg
			}
			_, before := p.rec.snapshot()
			c, err := deliver(t, &d, p, requiredEnforce("mx.example.com."))
			require.NoError(t, err)
			assert.Equal(t, policy.AuthMTASTS, c.Attempt.Auth)
			assert.Equal(t, policy.SendRequireTLS, c.Decision.Action)
			assert.Equal(t, tc.field, c.Field().String())
			_, msgs := p.rec.snapshot()
			require.Len(t, msgs, len(before)+1)
			assert.True(t, msgs[len(before)].requireTLS)
		})
	}
}

// TestDialMTASTSRefused: enforce refuses an enforce REQUIRETLS message with
// 5.7.10 and sends nothing when the MX host is not in the policy (RFC 8461
// Section 5: MUST NOT deliver to it; Dial does not connect), when the
// policy is in mode testing without the option or in mode none (E17: they
// validate nothing, R14), and when the certificate does not verify for the
// MX name (R15, RFC 8461 Section 4.2).
func TestDialMTASTSRefused(t *testing.T) {
	p, cfg := stsPeer(t)
	other, _ := stsPeer(t)
	for _, tc := range []struct {
		name   string
		pol    *mtasts.Policy
		host   string
		stage  policy.Stage
		field  string
		mxDeny bool
	}{
		{"RFC 8461 Section 5 MX not in the policy", stsPolicy(t, "enforce", "mail.example.com"), "mx.example.com",
			policy.BeforeConnect, "may?/!requiretls:nocertmatch", true},
		{"RFC 8461 Section 4.1 wildcard is one label deep", stsPolicy(t, "enforce", "*.example.com"), "a.mx.example.com",
			policy.BeforeConnect, "may?/!requiretls:nocertmatch", true},
		{"E17 testing without the option", stsPolicy(t, "testing", "mx.example.com"), "mx.example.com",
			policy.BeforeConnect, "may?/!requiretls:nocertmatch", false},
		{"E17 mode none", stsPolicy(t, "none", ""), "mx.example.com",
			policy.BeforeConnect, "may?/!requiretls:nocertmatch", false},
		{"R15 certificate from another CA", stsPolicy(t, "enforce", "mx.example.com"), "mx.example.com",
			policy.AfterSTARTTLS, "!secure/!requiretls:nocertmatch", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := p
			if tc.stage == policy.AfterSTARTTLS {
				target = other // its CA is not cfg's
			}
			before, _ := target.rec.snapshot()
			d := &Dialer{TLSConfig: cfg, MTASTS: tc.pol}
			_, err := deliver(t, d, target, requiredEnforce(tc.host))
			var pe *PolicyError
			require.ErrorAs(t, err, &pe)
			assert.ErrorIs(t, err, ErrEncryptionNeeded)
			assert.Equal(t, policy.CodeEncryptionNeeded, pe.Decision.Code)
			assert.Equal(t, tc.stage, pe.Attempt.Stage)
			assert.Equal(t, tc.field, pe.Field().String())
			assert.Equal(t, tc.mxDeny, errors.Is(err, mtasts.ErrMXNotAllowed), "wraps mtasts.ErrMXNotAllowed")
			after, _ := target.rec.snapshot()
			assert.Equal(t, before, after, "nothing was sent")
		})
	}
}

// TestDialMTASTSUntagged: an MX host that an enforce policy does not list
// is not used for any message (RFC 8461 Section 5): Dial does not connect
// and returns an error wrapping mtasts.ErrMXNotAllowed, a temporary failure
// of this host (RFC 8461 Section 5.1). A policy of unknown mode is refused
// the same way. A message tagged "TLS-Required: No" ignores the policy
// (R19, RFC 8689 Section 4.2.2).
func TestDialMTASTSUntagged(t *testing.T) {
	d := &Dialer{MTASTS: stsPolicy(t, "enforce", "mail.example.com")}
	_, err := d.Dial(t.Context(), mustNotConnect(t), policy.Attempt{Host: "mx.example.com"})
	assert.ErrorIs(t, err, mtasts.ErrMXNotAllowed)
	var pe *PolicyError
	assert.NotErrorAs(t, err, &pe)

	d = &Dialer{MTASTS: &mtasts.Policy{Mode: "report-only", MX: []string{"mx.example.com"}}}
	_, err = d.Dial(t.Context(), mustNotConnect(t), policy.Attempt{Host: "mx.example.com"})
	assert.ErrorIs(t, err, mtasts.ErrUnknownMode)

	p, cfg := stsPeer(t)
	d = &Dialer{TLSConfig: cfg, MTASTS: stsPolicy(t, "enforce", "mail.example.com")}
	c, err := deliver(t, d, p, policy.Attempt{Tag: policy.NotRequired, Host: "mx.example.com"})
	require.NoError(t, err)
	assert.Equal(t, "may", c.Field().String())
}

// TestDialMTASTSWithVerifyConnection: like TLSA, a policy cannot be
// combined with a VerifyConnection of the caller's.
func TestDialMTASTSWithVerifyConnection(t *testing.T) {
	d := &Dialer{
		TLSConfig: &tls.Config{VerifyConnection: func(tls.ConnectionState) error { return nil }},
		MTASTS:    stsPolicy(t, "enforce", "mx.example.com"),
	}
	_, err := d.Dial(t.Context(), mustNotConnect(t), requiredEnforce("mx.example.com"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TLSConfig.VerifyConnection are set")
}
