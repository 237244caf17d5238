package policy_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// allAttempts calls f with every combination of facts at every stage, for
// every tag, level (plus one out-of-range value) and reverse path.
func allAttempts(f func(policy.Attempt)) {
	levels := []policy.Level{policy.Enforce, policy.OpportunisticSTARTTLS, policy.Opportunistic, policy.Disable, policy.Monitor, policy.ConfigError, 77}
	for _, tag := range []policy.Tag{policy.Default, policy.Required, policy.NotRequired} {
		for _, null := range []bool{false, true} {
			for _, level := range levels {
				for _, more := range []bool{false, true} {
					for stage := policy.BeforeConnect; stage <= policy.AfterTLSEHLO; stage++ {
						for auth := policy.AuthNone; auth <= policy.AuthStaticPKIX+1; auth++ {
							for _, offered := range []bool{false, true} {
								for hs := policy.HandshakeFailed; hs <= policy.HandshakeOK; hs++ {
									for cert := policy.CertUntrusted; cert <= policy.CertAuthenticated; cert++ {
										for _, announced := range []bool{false, true} {
											f(policy.Attempt{
												Tag: tag, NullSender: null, Level: level, MoreHosts: more, Host: "mx.example",
												Stage: stage, Auth: auth, STARTTLSOffered: offered, Handshake: hs,
												STARTTLSReply: "454 busy", Cert: cert, RequireTLSAnnounced: announced,
											})
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// laterFactsCleared returns a with the facts of stages after a.Stage reset
// to their zero values.
func laterFactsCleared(a policy.Attempt) policy.Attempt {
	if a.Stage < policy.AfterTLSEHLO {
		a.RequireTLSAnnounced = false
	}
	if a.Stage < policy.AfterSTARTTLS {
		a.Handshake, a.Cert, a.STARTTLSReply = 0, 0, ""
	}
	if a.Stage < policy.AfterEHLO {
		a.STARTTLSOffered = false
	}
	return a
}

func authenticating(a policy.Auth) bool {
	switch a {
	case policy.AuthDANE, policy.AuthMTASTS, policy.AuthDNSSECMX, policy.AuthStaticPKIX:
		return true
	}
	return false
}

func tlsUp(a policy.Attempt) bool {
	return a.Stage >= policy.AfterSTARTTLS && a.STARTTLSOffered && a.Auth != policy.AuthNoEncryption && a.Handshake == policy.HandshakeOK
}

func TestEvaluateExhaustive(t *testing.T) {
	n := 0
	allAttempts(func(a policy.Attempt) {
		n++
		d := policy.Evaluate(a)
		send := d.Action == policy.SendRequireTLS || d.Action == policy.SendWithout

		// The safety property: R1 R12-R16, R27, R31, R57-R59 (a REQUIRETLS
		// message goes only over a TLS session meeting every requirement).
		if a.Tag == policy.Required && !a.NullSender && a.Level == policy.Enforce && send {
			require.Equal(t, policy.SendRequireTLS, d.Action, "%+v", a)
			require.True(t, a.Stage == policy.AfterTLSEHLO && authenticating(a.Auth) && tlsUp(a) &&
				a.Cert == policy.CertAuthenticated && a.RequireTLSAnnounced, "R31 send without every requirement: %+v", a)
			require.Equal(t, "requiretls", d.Feature.String())
		}
		// R12 R13 R16: the REQUIRETLS option only on a TLS session whose
		// post-TLS EHLO announced it, and only when requested.
		if d.Action == policy.SendRequireTLS {
			require.True(t, tlsUp(a) && a.Stage == policy.AfterTLSEHLO && a.RequireTLSAnnounced, "%+v", a)
			require.Equal(t, policy.Required, a.Tag, "E16: never REQUIRETLS for an untagged message")
		}
		// Required with OpportunisticSTARTTLS: STARTTLS is required.
		if a.Tag == policy.Required && !a.NullSender && a.Level == policy.OpportunisticSTARTTLS && send {
			require.True(t, tlsUp(a), "%+v", a)
		}
		// E9 R27 R49: a bounce is never held back for lack of REQUIRETLS,
		// and E10: policy never asks to bounce a bounce (RFC 5321 Section 6.1).
		if a.NullSender {
			require.NotEqual(t, policy.Bounce, d.Action, "%+v", a)
			if d.Action == policy.Skip || d.Action == policy.Defer {
				require.Equal(t, policy.Code475, d.Code, "only a broken TLS session stops a bounce: %+v", a)
			}
			require.False(t, d.RetHdrs, "RFC 3461 Section 6.1")
		}
		// R19 R20 R62 E12: other tags are never vetoed by REQUIRETLS; R56:
		// the Section 8 checks (STARTTLS stripping, certificate, MX) do not
		// apply to a TLS-Required: No message.
		if a.Tag != policy.Required {
			require.Contains(t, []policy.Action{policy.Continue, policy.SendWithout, policy.Skip, policy.Defer}, d.Action)
			require.Equal(t, tlsstatus.Feature{}, d.Feature)
			require.Equal(t, a.Tag == policy.NotRequired, d.CapTLS)
			require.True(t, d.PlaintextFallback)
			if a.Stage == policy.AfterEHLO && a.STARTTLSOffered && a.Auth != policy.AuthNoEncryption {
				require.Equal(t, policy.Continue, d.Action, "R20 negotiate STARTTLS if available")
			}
		} else {
			require.False(t, d.CapTLS, "R25 REQUIRETLS wins")
		}
		// R30: the facts that stop a REQUIRETLS message on a usable session
		// do not stop an untagged one, so the session may carry other,
		// unprotected messages before QUIT.
		if a.Tag == policy.Required && (d.Action == policy.Skip || d.Action == policy.Bounce) && d.Code != policy.Code475 {
			u := a
			u.Tag = policy.Default
			if du := policy.Evaluate(u); du.Code != policy.Code475 { // a failed handshake leaves no session
				require.Contains(t, []policy.Action{policy.Continue, policy.SendWithout}, du.Action, "R30 %+v", a)
			}
		}
		// R29 E19: failures are soft while hosts remain, final on the last.
		switch d.Action {
		case policy.Bounce:
			require.False(t, a.MoreHosts)
			require.Contains(t, []policy.Code{policy.Code5730, policy.Code5710}, d.Code, "R33")
			require.True(t, d.Feature.Violation)
		case policy.Skip:
			require.True(t, a.MoreHosts)
			require.NotEqual(t, policy.NoCode, d.Code)
		case policy.Defer:
			require.Contains(t, []policy.Code{policy.Code4710, policy.Code475}, d.Code)
		default:
			require.Equal(t, policy.NoCode, d.Code)
		}
		if d.Code != policy.NoCode {
			require.NotEmpty(t, d.Reason())
			if d.Code != policy.Code475 {
				require.Contains(t, d.Reason(), "mx.example", "the last attempted server is named")
			}
		}
		// A policy error defers, never bounces (Postfix).
		if a.Tag == policy.Required && !a.NullSender && (a.Level == policy.ConfigError || a.Level == 77) {
			require.Equal(t, policy.Defer, d.Action)
			require.Equal(t, policy.Code4710, d.Code)
		}
		// Postfix Fix 20250825.
		require.Equal(t, a.Tag == policy.Required && !a.NullSender && d.Action == policy.SendWithout, d.RetHdrs)
		// Monitor = opportunistic, plus what enforce would decide.
		if a.Level == policy.Monitor {
			o, e := a, a
			o.Level, e.Level = policy.Opportunistic, policy.Enforce
			if a.Tag == policy.Required {
				require.Equal(t, policy.Evaluate(o).Outcome, d.Outcome)
				require.Equal(t, policy.Evaluate(e).Outcome, d.WouldEnforce)
			}
		} else {
			require.Zero(t, d.WouldEnforce.Action)
		}
		// Facts of later stages are ignored.
		require.Equal(t, d, policy.Evaluate(laterFactsCleared(a)), "%+v", a)
	})
	require.Equal(t, 3*2*7*2*4*7*2*3*3*2, n)
}
