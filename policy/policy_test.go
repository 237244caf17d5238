package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// good is a Required attempt under Enforce that meets every requirement at
// the last stage; rows change one fact at a time.
func good() policy.Attempt {
	return policy.Attempt{
		Tag:                 policy.Required,
		Level:               policy.Enforce,
		Host:                "mx.example.com",
		Stage:               policy.AfterTLSEHLO,
		Auth:                policy.AuthDANE,
		TLSLevel:            tlsstatus.DANE,
		STARTTLSOffered:     true,
		Handshake:           policy.HandshakeOK,
		Cert:                policy.CertAuthenticated,
		RequireTLSAnnounced: true,
	}
}

func with(f func(*policy.Attempt)) policy.Attempt {
	a := good()
	f(&a)
	return a
}

// failedHandshake is with(f) after a TLS handshake that failed at STARTTLS.
func failedHandshake(f func(*policy.Attempt)) policy.Attempt {
	return with(func(a *policy.Attempt) {
		a.Stage = policy.AfterSTARTTLS
		a.Handshake = policy.HandshakeFailed
		f(a)
	})
}

func TestSignalsTag(t *testing.T) {
	assert.Equal(t, policy.Default, policy.Signals{}.Tag())
	assert.Equal(t, policy.NotRequired, policy.Signals{TLSRequiredNo: true}.Tag(), "R24")
	assert.Equal(t, policy.Required, policy.Signals{RequireTLS: true}.Tag(), "R23")
	assert.Equal(t, policy.Required, policy.Signals{RequireTLS: true, TLSRequiredNo: true}.Tag(), "R25/E1: REQUIRETLS wins")
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name    string
		a       policy.Attempt
		action  policy.Action
		code    policy.Code
		feature string
		reason  string
	}{
		{"R35 all requirements met", good(), policy.SendRequireTLS, policy.NoCode, "requiretls", ""},
		{"R27.2 R59 E18 insecure MX under enforce skips before connect",
			with(func(a *policy.Attempt) {
				a.Stage = policy.BeforeConnect
				a.Auth = policy.AuthNone
				a.TLSLevel = tlsstatus.May
				a.MoreHosts = true
			}),
			policy.Skip, policy.CodeEncryptionNeeded, "!requiretls:nocertmatch",
			"Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx.example.com"},
		{"R31 last host bounces",
			with(func(a *policy.Attempt) { a.Stage = policy.BeforeConnect; a.Auth = policy.AuthNone; a.TLSLevel = "" }),
			policy.Bounce, policy.CodeEncryptionNeeded, "!requiretls:nocertmatch",
			"Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx.example.com"},
		{"R14 MTA-STS validated MX continues",
			with(func(a *policy.Attempt) { a.Stage = policy.BeforeConnect; a.Auth = policy.AuthMTASTS }),
			policy.Continue, policy.NoCode, "requiretls?", ""},
		{"R14 DNSSEC MX continues",
			with(func(a *policy.Attempt) { a.Stage = policy.BeforeConnect; a.Auth = policy.AuthDNSSECMX }),
			policy.Continue, policy.NoCode, "requiretls?", ""},
		{"E14 E23 static next hop with PKIX continues",
			with(func(a *policy.Attempt) { a.Stage = policy.BeforeConnect; a.Auth = policy.AuthStaticPKIX }),
			policy.Continue, policy.NoCode, "requiretls?", ""},
		{"E14 static next hop still needs REQUIRETLS",
			with(func(a *policy.Attempt) { a.Auth = policy.AuthStaticPKIX; a.RequireTLSAnnounced = false }),
			policy.Bounce, policy.CodeSupportRequired, "!requiretls:none",
			"Sender requested REQUIRETLS, but no server was found that supports REQUIRETLS. The last attempted server was mx.example.com"},
		{"E13 implicit MX needs no DNSSEC or MTA-STS, only a certificate for the domain",
			with(func(a *policy.Attempt) {
				a.Host = "example.com"
				a.Auth = policy.AuthStaticPKIX
				a.TLSLevel = tlsstatus.Verify
			}),
			policy.SendRequireTLS, policy.NoCode, "requiretls", ""},
		{"E13 implicit MX whose certificate does not match the domain",
			with(func(a *policy.Attempt) {
				a.Host = "example.com"
				a.Auth = policy.AuthStaticPKIX
				a.Stage = policy.AfterSTARTTLS
				a.Cert = policy.CertNameMismatch
			}),
			policy.Bounce, policy.CodeEncryptionNeeded, "!requiretls:nocertmatch",
			"Sender requested REQUIRETLS, but no matching server certificate was found. The last attempted server was example.com"},
		{"E15 DANE-EE(3) match counts as authenticated and name-matched", good(), policy.SendRequireTLS, policy.NoCode, "requiretls", ""},
		{"E15 DANE without a TLSA match is untrusted",
			with(func(a *policy.Attempt) { a.Cert = policy.CertUntrusted; a.MoreHosts = true }),
			policy.Skip, policy.CodeEncryptionNeeded, "!requiretls:nocertmatch",
			"Sender requested REQUIRETLS, but no trusted server certificate was found. The last attempted server was mx.example.com"},
		{"E17 MTA-STS mode enforce validates the MX",
			with(func(a *policy.Attempt) { a.Auth = policy.AuthMTASTS; a.TLSLevel = tlsstatus.Verify }),
			policy.SendRequireTLS, policy.NoCode, "requiretls", ""},
		{"E17 MTA-STS mode none validates nothing",
			with(func(a *policy.Attempt) {
				a.Stage = policy.BeforeConnect
				a.Auth = policy.AuthNone
				a.TLSLevel = tlsstatus.May
			}),
			policy.Bounce, policy.CodeEncryptionNeeded, "!requiretls:nocertmatch",
			"Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx.example.com"},
		{"R13 R57 E18 no STARTTLS is 5.7.30 as in Postfix",
			with(func(a *policy.Attempt) { a.Stage = policy.AfterEHLO; a.STARTTLSOffered = false }),
			policy.Bounce, policy.CodeSupportRequired, "!requiretls:nostarttls",
			"Sender requested REQUIRETLS, but TLS service was not offered by host mx.example.com"},
		{"R29 no STARTTLS with more hosts skips",
			with(func(a *policy.Attempt) { a.Stage = policy.AfterEHLO; a.STARTTLSOffered = false; a.MoreHosts = true }),
			policy.Skip, policy.CodeSupportRequired, "!requiretls:nostarttls",
			"Sender requested REQUIRETLS, but TLS service was not offered by host mx.example.com"},
		{"E18 STARTTLS refused is 5.7.10",
			with(func(a *policy.Attempt) {
				a.Stage = policy.AfterSTARTTLS
				a.Handshake = policy.HandshakeRefused
				a.STARTTLSReply = "454 4.7.0 TLS not available"
			}),
			policy.Bounce, policy.CodeEncryptionNeeded, "!requiretls:nostarttls",
			"Sender requested REQUIRETLS, but host mx.example.com refused to start TLS: 454 4.7.0 TLS not available"},
		{"R57 handshake failure defers, no plaintext",
			failedHandshake(func(*policy.Attempt) {}),
			policy.Defer, policy.CodeCryptoFailure, "requiretls?", "Cannot start TLS: handshake failure"},
		{"R15 R58 untrusted certificate",
			with(func(a *policy.Attempt) { a.Stage = policy.AfterSTARTTLS; a.Cert = policy.CertUntrusted }),
			policy.Bounce, policy.CodeEncryptionNeeded, "!requiretls:nocertmatch",
			"Sender requested REQUIRETLS, but no trusted server certificate was found. The last attempted server was mx.example.com"},
		{"R27.4 name mismatch",
			with(func(a *policy.Attempt) {
				a.Stage = policy.AfterSTARTTLS
				a.Cert = policy.CertNameMismatch
				a.MoreHosts = true
			}),
			policy.Skip, policy.CodeEncryptionNeeded, "!requiretls:nocertmatch",
			"Sender requested REQUIRETLS, but no matching server certificate was found. The last attempted server was mx.example.com"},
		{"AfterSTARTTLS ok continues to EHLO",
			with(func(a *policy.Attempt) { a.Stage = policy.AfterSTARTTLS }),
			policy.Continue, policy.NoCode, "requiretls?", ""},
		{"R16 R27.5 no REQUIRETLS after TLS",
			with(func(a *policy.Attempt) { a.RequireTLSAnnounced = false }),
			policy.Bounce, policy.CodeSupportRequired, "!requiretls:none",
			"Sender requested REQUIRETLS, but no server was found that supports REQUIRETLS. The last attempted server was mx.example.com"},
		{"E22 implicit TLS counts the first EHLO", good(), policy.SendRequireTLS, policy.NoCode, "requiretls", ""},

		// opportunistic+starttls
		{"opp+starttls level none skips before connect",
			with(func(a *policy.Attempt) {
				a.Level = policy.OpportunisticSTARTTLS
				a.Stage = policy.BeforeConnect
				a.Auth = policy.AuthNoEncryption
				a.TLSLevel = ""
			}),
			policy.Bounce, policy.CodeEncryptionNeeded, "!requiretls:noencryption",
			"Sender requested REQUIRETLS, but my configured TLS security level 'none' disables encryption. The last attempted server was mx.example.com"},
		{"opp+starttls level may continues",
			with(func(a *policy.Attempt) {
				a.Level = policy.OpportunisticSTARTTLS
				a.Stage = policy.BeforeConnect
				a.Auth = policy.AuthNone
			}),
			policy.Continue, policy.NoCode, "requiretls?", ""},
		{"opp+starttls requires STARTTLS",
			with(func(a *policy.Attempt) { a.Level = policy.OpportunisticSTARTTLS; a.STARTTLSOffered = false }),
			policy.Bounce, policy.CodeSupportRequired, "!requiretls:nostarttls",
			"Sender requested REQUIRETLS, but TLS service was not offered by host mx.example.com"},
		{"opp+starttls without REQUIRETLS downgrades",
			with(func(a *policy.Attempt) { a.Level = policy.OpportunisticSTARTTLS; a.RequireTLSAnnounced = false }),
			policy.SendWithout, policy.NoCode, "requiretls:none",
			"Sender requested REQUIRETLS, but REQUIRETLS support was not offered by host mx.example.com"},
		{"opp+starttls unauthenticated but announced sends REQUIRETLS",
			with(func(a *policy.Attempt) {
				a.Level = policy.OpportunisticSTARTTLS
				a.Auth = policy.AuthNone
				a.TLSLevel = tlsstatus.May
				a.Cert = policy.CertUntrusted
			}),
			policy.SendRequireTLS, policy.NoCode, "requiretls:nocertmatch", ""},

		// opportunistic
		{"opportunistic plaintext downgrades",
			with(func(a *policy.Attempt) {
				a.Level = policy.Opportunistic
				a.TLSLevel = tlsstatus.May
				a.Stage = policy.AfterEHLO
				a.STARTTLSOffered = false
			}),
			policy.SendWithout, policy.NoCode, "requiretls:none",
			"Sender requested REQUIRETLS, but TLS service was not offered by host mx.example.com"},
		{"opportunistic refused STARTTLS continues in plaintext",
			with(func(a *policy.Attempt) {
				a.Level = policy.Opportunistic
				a.TLSLevel = tlsstatus.May
				a.Stage = policy.AfterSTARTTLS
				a.Handshake = policy.HandshakeRefused
			}),
			policy.SendWithout, policy.NoCode, "requiretls:none",
			"Sender requested REQUIRETLS, but host mx.example.com refused to start TLS"},
		{"opportunistic announced sends REQUIRETLS",
			with(func(a *policy.Attempt) { a.Level = policy.Opportunistic }),
			policy.SendRequireTLS, policy.NoCode, "requiretls", ""},

		// disable and error
		{"disable ignores the request",
			with(func(a *policy.Attempt) { a.Level = policy.Disable }),
			policy.SendWithout, policy.NoCode, "", ""},
		{"error defers 4.7.10",
			with(func(a *policy.Attempt) { a.Level = policy.ConfigError; a.MoreHosts = true }),
			policy.Defer, policy.CodePolicyError, "",
			"REQUIRETLS policy configuration error. The last attempted server was mx.example.com"},

		// empty reverse path
		{"R27 R49 E9 bounce is not held back under enforce",
			with(func(a *policy.Attempt) {
				a.NullSender = true
				a.Stage = policy.AfterEHLO
				a.Auth = policy.AuthNone
				a.TLSLevel = tlsstatus.May
				a.STARTTLSOffered = false
			}),
			policy.SendWithout, policy.NoCode, "requiretls:none",
			"Sender requested REQUIRETLS, but TLS service was not offered by host mx.example.com"},
		{"R44 bounce still carries REQUIRETLS when possible",
			with(func(a *policy.Attempt) { a.NullSender = true }),
			policy.SendRequireTLS, policy.NoCode, "requiretls", ""},
		{"E9 bounce is not deferred by a broken policy",
			with(func(a *policy.Attempt) {
				a.NullSender = true
				a.Level = policy.ConfigError
				a.RequireTLSAnnounced = false
			}),
			policy.SendWithout, policy.NoCode, "requiretls:none",
			"Sender requested REQUIRETLS, but REQUIRETLS support was not offered by host mx.example.com"},

		// other tags
		{"R19 R62 TLS-Required: No sends without STARTTLS",
			with(func(a *policy.Attempt) {
				a.Tag = policy.NotRequired
				a.Stage = policy.AfterEHLO
				a.STARTTLSOffered = false
			}),
			policy.SendWithout, policy.NoCode, "", ""},
		{"R3 TLS-Required: No goes to a next hop without REQUIRETLS, even under enforce",
			with(func(a *policy.Attempt) { a.Tag = policy.NotRequired; a.RequireTLSAnnounced = false }),
			policy.SendWithout, policy.NoCode, "", ""},
		{"R20 TLS-Required: No negotiates STARTTLS if offered",
			with(func(a *policy.Attempt) { a.Tag = policy.NotRequired; a.Stage = policy.AfterEHLO }),
			policy.Continue, policy.NoCode, "", ""},
		{"R19 TLS-Required: No ignores certificate failure",
			with(func(a *policy.Attempt) {
				a.Tag = policy.NotRequired
				a.Cert = policy.CertUntrusted
				a.Auth = policy.AuthNone
			}),
			policy.SendWithout, policy.NoCode, "", ""},
		{"Default never sends REQUIRETLS",
			with(func(a *policy.Attempt) { a.Tag = policy.Default }),
			policy.SendWithout, policy.NoCode, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := policy.Evaluate(tt.a)
			assert.Equal(t, tt.action, d.Action)
			assert.Equal(t, tt.code, d.Code)
			assert.Equal(t, tt.feature, d.Feature.String())
			assert.Equal(t, tt.reason, d.Reason())
			assert.Equal(t, tt.reason, string(d.AppendReason(nil)))
			assert.Zero(t, d.WouldEnforce.Action)
		})
	}
}

func TestEvaluateFlags(t *testing.T) {
	// Postfix Fix 20250825: a downgrade asks for RET=HDRS.
	d := policy.Evaluate(with(func(a *policy.Attempt) { a.Level = policy.Opportunistic; a.RequireTLSAnnounced = false }))
	assert.True(t, d.RetHdrs, "R46 downgrade asks for RET=HDRS")
	assert.False(t, d.CapTLS)

	// RFC 3461 Section 6.1: no RET on a DSN.
	d = policy.Evaluate(with(func(a *policy.Attempt) { a.NullSender = true; a.RequireTLSAnnounced = false }))
	require.Equal(t, policy.SendWithout, d.Action)
	assert.False(t, d.RetHdrs, "E9 no RET for an empty reverse path")

	d = policy.Evaluate(with(func(a *policy.Attempt) { a.Tag = policy.NotRequired }))
	assert.True(t, d.CapTLS, "R19 R62 ignore recipient DANE/MTA-STS")
	assert.False(t, d.RetHdrs)

	d = policy.Evaluate(failedHandshake(func(a *policy.Attempt) { a.MoreHosts = true }))
	assert.Equal(t, policy.Skip, d.Action)
	assert.False(t, d.PlaintextFallback, "R57 no plaintext fallback under enforce")
	d = policy.Evaluate(failedHandshake(func(a *policy.Attempt) { a.Level, a.TLSLevel = policy.Opportunistic, tlsstatus.May }))
	assert.True(t, d.PlaintextFallback, "opportunistic allows plaintext fallback at level may")
	d = policy.Evaluate(failedHandshake(func(a *policy.Attempt) { a.Level, a.TLSLevel = policy.Opportunistic, tlsstatus.Encrypt }))
	assert.False(t, d.PlaintextFallback, "no plaintext fallback above level may (Postfix PLAINTEXT_FALLBACK_OK)")
	d = policy.Evaluate(failedHandshake(func(a *policy.Attempt) { a.Tag, a.TLSLevel = policy.Default, tlsstatus.Verify }))
	assert.False(t, d.PlaintextFallback, "no plaintext fallback at level verify, whatever the tag")
}

func TestEvaluateMonitor(t *testing.T) {
	d := policy.Evaluate(with(func(a *policy.Attempt) {
		a.Level = policy.Monitor
		a.Auth = policy.AuthNone
		a.TLSLevel = tlsstatus.May
		a.Cert = policy.CertNameMismatch
		a.RequireTLSAnnounced = false
	}))
	assert.Equal(t, policy.SendWithout, d.Action, "monitor delivers like opportunistic")
	assert.Equal(t, "requiretls:none", d.Feature.String())
	assert.True(t, d.RetHdrs)
	assert.Equal(t, policy.Bounce, d.WouldEnforce.Action)
	assert.Equal(t, policy.CodeEncryptionNeeded, d.WouldEnforce.Code)
	assert.Equal(t, "!requiretls:nocertmatch", d.WouldEnforce.Feature.String())
	assert.Equal(t, "Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx.example.com", d.WouldEnforce.Reason())

	d = policy.Evaluate(with(func(a *policy.Attempt) { a.Level = policy.Monitor }))
	assert.Equal(t, policy.SendRequireTLS, d.Action)
	assert.Equal(t, policy.SendRequireTLS, d.WouldEnforce.Action)
}

func TestReasonEscapesControls(t *testing.T) {
	d := policy.Evaluate(with(func(a *policy.Attempt) {
		a.Host = "mx\r\n.example"
		a.Stage = policy.AfterSTARTTLS
		a.Handshake = policy.HandshakeRefused
		a.STARTTLSReply = "454 no\r\n.\r\n"
	}))
	assert.Equal(t, `Sender requested REQUIRETLS, but host mx\x0d\x0a.example refused to start TLS: 454 no\x0d\x0a.\x0d\x0a`, d.Reason())
}

func TestCode(t *testing.T) {
	assert.Equal(t, "5.7.30", policy.CodeSupportRequired.String(), "R9 R33")
	assert.Equal(t, [3]int{5, 7, 30}, policy.CodeSupportRequired.Enhanced())
	assert.Equal(t, "5.7.10", policy.CodeEncryptionNeeded.String(), "R33")
	assert.Equal(t, [3]int{5, 7, 10}, policy.CodeEncryptionNeeded.Enhanced())
	assert.Equal(t, "4.7.10", policy.CodePolicyError.String())
	assert.Equal(t, [3]int{4, 7, 10}, policy.CodePolicyError.Enhanced())
	assert.Equal(t, "4.7.5", policy.CodeCryptoFailure.String())
	assert.Equal(t, [3]int{4, 7, 5}, policy.CodeCryptoFailure.Enhanced())
	assert.Equal(t, "", policy.NoCode.String())
	assert.Equal(t, [3]int{}, policy.NoCode.Enhanced())
}

func TestLevelRoundTrip(t *testing.T) {
	for _, l := range []policy.Level{policy.Enforce, policy.OpportunisticSTARTTLS, policy.Opportunistic, policy.Disable, policy.Monitor, policy.ConfigError} {
		got, err := policy.ParseLevel(l.String())
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
	got, err := policy.ParseLevel("Opportunistic+STARTTLS")
	require.NoError(t, err)
	assert.Equal(t, policy.OpportunisticSTARTTLS, got, "atoms are case-insensitive")
	_, err = policy.ParseLevel("nonsense")
	assert.ErrorIs(t, err, policy.ErrUnknownLevel)
	var pe *policy.ParseError
	assert.ErrorAs(t, err, &pe)
	assert.Equal(t, "error", policy.Level(200).String())
	var zero policy.Level
	assert.Equal(t, policy.Enforce, zero, "the zero Level is the implicit default")
}

func TestEvaluateAllocs(t *testing.T) {
	attempts := []policy.Attempt{
		good(),
		with(func(a *policy.Attempt) { a.Level = policy.Monitor; a.RequireTLSAnnounced = false }),
		with(func(a *policy.Attempt) {
			a.Stage = policy.AfterSTARTTLS
			a.Handshake = policy.HandshakeRefused
			a.STARTTLSReply = "454 x"
		}),
		with(func(a *policy.Attempt) { a.Level = policy.ConfigError }),
		with(func(a *policy.Attempt) { a.Tag = policy.NotRequired }),
	}
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range attempts {
			d := policy.Evaluate(a)
			buf = d.AppendReason(buf[:0])
		}
	})
	assert.Zero(t, allocs)
}

// TestEvaluateUnknownTag is issue 12 item 7: a Tag value out of range (a
// corrupted queue file) is treated as Required, never as Default, so it
// cannot downgrade a REQUIRETLS message (RFC 8689 Section 4.2.1).
func TestEvaluateUnknownTag(t *testing.T) {
	for _, tag := range []policy.Tag{3, 255} {
		a := with(func(a *policy.Attempt) { a.Tag = tag; a.Stage = policy.AfterEHLO; a.STARTTLSOffered = false })
		d := policy.Evaluate(a)
		assert.Equal(t, policy.Bounce, d.Action, "%v", tag)
		assert.Equal(t, policy.CodeSupportRequired, d.Code)
		assert.Equal(t, "!requiretls:nostarttls", d.Feature.String())
		a.Tag = policy.Required
		assert.Equal(t, policy.Evaluate(a), d, "%v evaluates as Required", tag)
	}
	assert.Equal(t, "tag(3)", policy.Tag(3).String())
}

// TestEvaluateUnknownFacts: a Stage, Auth, Handshake or Cert value out of
// range, at a stage where it counts, defers the message with 4.7.10, for
// every tag and level: a fact that cannot be read never lowers a
// requirement, and it is not guessed either.
func TestEvaluateUnknownFacts(t *testing.T) {
	tests := []struct {
		name string
		f    func(*policy.Attempt)
	}{
		{"stage 4 with every fact good", func(a *policy.Attempt) { a.Stage = 4 }},
		{"stage 255", func(a *policy.Attempt) { a.Stage = 255 }},
		{"auth 6 under opportunistic+starttls", func(a *policy.Attempt) {
			a.Stage, a.Level, a.Auth = policy.BeforeConnect, policy.OpportunisticSTARTTLS, 6
		}},
		{"auth 255 at the last stage", func(a *policy.Attempt) { a.Auth = 255 }},
		{"handshake 3", func(a *policy.Attempt) { a.Handshake = 3 }},
		{"cert 3", func(a *policy.Attempt) { a.Cert = 3 }},
	}
	for _, tt := range tests {
		for _, tag := range []policy.Tag{policy.Required, policy.Default, policy.NotRequired, 7} {
			for _, null := range []bool{false, true} {
				a := with(tt.f)
				a.Tag, a.NullSender = tag, null
				d := policy.Evaluate(a)
				assert.Equal(t, policy.Defer, d.Action, "%s %v null=%v", tt.name, tag, null)
				assert.Equal(t, policy.CodePolicyError, d.Code, tt.name)
				assert.False(t, d.PlaintextFallback || d.CapTLS || d.RetHdrs, tt.name)
				assert.Equal(t, "REQUIRETLS policy error: unknown delivery attempt facts. The last attempted server was mx.example.com", d.Reason(), tt.name)
			}
		}
	}
	// A later stage's fact is ignored, even when out of range.
	d := policy.Evaluate(with(func(a *policy.Attempt) { a.Stage = policy.AfterEHLO; a.Cert, a.Handshake = 9, 9 }))
	assert.Equal(t, policy.Continue, d.Action)
}

// TestReasonEscapesTLSLevel: the TLS level is caller text too; it cannot
// inject a line into a log or a DSN.
func TestReasonEscapesTLSLevel(t *testing.T) {
	d := policy.Evaluate(with(func(a *policy.Attempt) {
		a.Stage, a.Auth, a.TLSLevel = policy.BeforeConnect, policy.AuthNone, "may\r\nX-Injected: 1"
	}))
	assert.Equal(t, `Sender requested REQUIRETLS, but my configured TLS security level 'may\x0d\x0aX-Injected: 1' disables certificate matching. The last attempted server was mx.example.com`, d.Reason())
}

// TestEnumStrings: every enum prints a name, and an unknown value prints
// its number instead of panicking.
func TestEnumStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{policy.BeforeConnect.String(), "before-connect"},
		{policy.AfterEHLO.String(), "after-ehlo"},
		{policy.AfterSTARTTLS.String(), "after-starttls"},
		{policy.AfterTLSEHLO.String(), "after-tls-ehlo"},
		{policy.Stage(4).String(), "stage(4)"},
		{policy.AuthNone.String(), "none"},
		{policy.AuthNoEncryption.String(), "no-encryption"},
		{policy.AuthDANE.String(), "dane"},
		{policy.AuthMTASTS.String(), "mta-sts"},
		{policy.AuthDNSSECMX.String(), "dnssec-mx"},
		{policy.AuthStaticPKIX.String(), "static-pkix"},
		{policy.Auth(255).String(), "auth(255)"},
		{policy.HandshakeFailed.String(), "failed"},
		{policy.HandshakeRefused.String(), "refused"},
		{policy.HandshakeOK.String(), "ok"},
		{policy.Handshake(3).String(), "handshake(3)"},
		{policy.CertUntrusted.String(), "untrusted"},
		{policy.CertNameMismatch.String(), "name-mismatch"},
		{policy.CertAuthenticated.String(), "authenticated"},
		{policy.Cert(3).String(), "cert(3)"},
		{policy.Tag(255).String(), "tag(255)"},
		{policy.Action(99).String(), "action(99)"},
		{policy.Code(99).String(), ""},
	} {
		assert.Equal(t, tt.want, tt.got)
	}
}
