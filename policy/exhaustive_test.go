package policy_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// In-range values of every enum input of an Attempt.
var (
	tags       = []policy.Tag{policy.Default, policy.Required, policy.NotRequired}
	levels     = []policy.Level{policy.Enforce, policy.OpportunisticSTARTTLS, policy.Opportunistic, policy.Disable, policy.Monitor, policy.ConfigError}
	auths      = []policy.Auth{policy.AuthNone, policy.AuthNoEncryption, policy.AuthDANE, policy.AuthMTASTS, policy.AuthDNSSECMX, policy.AuthStaticPKIX}
	handshakes = []policy.Handshake{policy.HandshakeFailed, policy.HandshakeRefused, policy.HandshakeOK}
	certs      = []policy.Cert{policy.CertUntrusted, policy.CertNameMismatch, policy.CertAuthenticated}
	// TLS security levels: the default, one of each kind Postfix ranks
	// (tls.h), and a name that is not a level.
	tlsLevels = []tlsstatus.Name{"", tlsstatus.None, tlsstatus.May, tlsstatus.Encrypt, tlsstatus.Verify, "x-not-a-level"}
)

// allAttempts calls f with every combination of in-range facts at every
// stage, for every tag, level and reverse path, and for each of the TLS
// security levels tl.
func allAttempts(tlsLevels []tlsstatus.Name, f func(policy.Attempt)) {
	for _, tag := range tags {
		for _, null := range []bool{false, true} {
			for _, level := range levels {
				for _, more := range []bool{false, true} {
					for stage := policy.BeforeConnect; stage <= policy.AfterTLSEHLO; stage++ {
						for _, auth := range auths {
							for _, tl := range tlsLevels {
								for _, offered := range []bool{false, true} {
									for _, hs := range handshakes {
										for _, cert := range certs {
											for _, announced := range []bool{false, true} {
												f(policy.Attempt{
													Tag: tag, NullSender: null, Level: level, MoreHosts: more, Host: "mx.example",
													Stage: stage, Auth: auth, TLSLevel: tl, STARTTLSOffered: offered, Handshake: hs,
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
	return a.Stage >= policy.AfterSTARTTLS && a.STARTTLSOffered && a.Auth != policy.AuthNoEncryption && a.TLSLevel != tlsstatus.None &&
		a.Handshake == policy.HandshakeOK
}

// security is what the TLS security level of a requires, as Postfix ranks
// it: 0 none, 1 may, 2 encrypt (TLS), 3 TLS and an authenticated
// certificate. A name that is not a level is the strictest; a NotRequired
// message is capped at may.
func security(a policy.Attempt) int {
	s := 3
	switch a.TLSLevel {
	case "":
		s = 1
		if a.Auth == policy.AuthNoEncryption {
			s = 0
		}
	case tlsstatus.None:
		s = 0
	case tlsstatus.May:
		s = 1
	case tlsstatus.Encrypt:
		s = 2
	}
	if a.Tag == policy.NotRequired {
		s = min(s, 1)
	}
	return s
}

func TestEvaluateExhaustive(t *testing.T) {
	n := 0
	allAttempts(tlsLevels, func(a policy.Attempt) {
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
				require.Contains(t, []policy.Code{policy.CodeCryptoFailure, policy.CodeSecurityNotSupported}, d.Code,
					"only a broken TLS session or the TLS security level stops a bounce: %+v", a)
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
			require.Equal(t, security(a) <= 1, d.PlaintextFallback, "Postfix PLAINTEXT_FALLBACK_OK: %+v", a)
			if a.Stage == policy.AfterEHLO && a.STARTTLSOffered && a.Auth != policy.AuthNoEncryption && security(a) > 0 {
				require.Equal(t, policy.Continue, d.Action, "R20 negotiate STARTTLS if available")
			}
		} else {
			require.False(t, d.CapTLS, "R25 REQUIRETLS wins")
		}
		// R30: the facts that stop a REQUIRETLS message on a usable session
		// do not stop an untagged one, so the session may carry other,
		// unprotected messages before QUIT.
		if a.Tag == policy.Required && (d.Action == policy.Skip || d.Action == policy.Bounce) && d.Code != policy.CodeCryptoFailure {
			u := a
			u.Tag = policy.Default
			// A failed handshake leaves no session; the TLS security level
			// stops every message alike.
			if du := policy.Evaluate(u); du.Code != policy.CodeCryptoFailure && du.Code != policy.CodeSecurityNotSupported {
				require.Contains(t, []policy.Action{policy.Continue, policy.SendWithout}, du.Action, "R30 %+v", a)
			}
		}
		// R29 E19: failures are soft while hosts remain, final on the last.
		switch d.Action {
		case policy.Bounce:
			require.False(t, a.MoreHosts)
			require.Contains(t, []policy.Code{policy.CodeSupportRequired, policy.CodeEncryptionNeeded}, d.Code, "R33")
			require.True(t, d.Feature.Violation)
		case policy.Skip:
			require.True(t, a.MoreHosts)
			require.NotEqual(t, policy.NoCode, d.Code)
		case policy.Defer:
			require.Contains(t, []policy.Code{policy.CodePolicyError, policy.CodeCryptoFailure, policy.CodeSecurityNotSupported}, d.Code)
		default:
			require.Equal(t, policy.NoCode, d.Code)
		}
		if d.Code != policy.NoCode {
			require.NotEmpty(t, d.Reason())
			if d.Code != policy.CodeCryptoFailure {
				require.Contains(t, d.Reason(), "mx.example", "the last attempted server is named")
			}
		}
		// A policy error defers, never bounces (Postfix).
		if a.Tag == policy.Required && !a.NullSender && a.Level == policy.ConfigError {
			require.Equal(t, policy.Defer, d.Action)
			require.Equal(t, policy.CodePolicyError, d.Code)
		}
		// Postfix Fix 20250825: a downgrade asks for RET=HDRS; under disable
		// the request is ignored and the sender's RET kept.
		require.Equal(t, a.Tag == policy.Required && !a.NullSender && a.Level != policy.Disable && d.Action == policy.SendWithout, d.RetHdrs)
		// The TLS security level holds for every message (Postfix
		// smtp_tls_security_level): from encrypt up nothing goes without
		// TLS, above encrypt nothing without an authenticated certificate.
		if send && security(a) >= 2 {
			require.True(t, tlsUp(a), "sent below the TLS security level: %+v", a)
		}
		if send && security(a) == 3 {
			require.Equal(t, policy.CertAuthenticated, a.Cert, "sent without the certificate the TLS security level requires: %+v", a)
		}
		// A name that is not a level is the strictest level, secure.
		if a.TLSLevel == "x-not-a-level" {
			s := a
			s.TLSLevel = tlsstatus.Secure
			ds := policy.Evaluate(s)
			require.Equal(t, []any{ds.Action, ds.Code, ds.Feature, ds.PlaintextFallback, ds.RetHdrs, ds.CapTLS},
				[]any{d.Action, d.Code, d.Feature, d.PlaintextFallback, d.RetHdrs, d.CapTLS}, "%+v", a)
		}
		checkField(t, a, d)
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
	require.Equal(t, 3*2*6*2*4*6*6*2*3*3*2, n)
}

// checkField: the tls= field of every decision parses back, slot 0 names
// the TLS security level in effect, and its form says what happened:
// "!LEVEL" the level was not met and the host not used, "LEVEL:none" the
// message goes in plaintext, "LEVEL" TLS is up, "LEVEL?" none of these yet.
func checkField(t *testing.T, a policy.Attempt, d policy.Decision) {
	fl := policy.Field(a, d)
	parsed, err := tlsstatus.ParseField(fl.String())
	require.NoError(t, err, "%+v", a)
	require.Equal(t, fl.String(), parsed.String())
	require.Equal(t, d.Feature, fl[1], "slot 1 is the REQUIRETLS feature")
	s0 := fl[0]
	switch {
	case a.TLSLevel == "" && a.Auth == policy.AuthNoEncryption:
		require.Equal(t, tlsstatus.None, s0.Name)
	case a.TLSLevel == "":
		require.Equal(t, tlsstatus.May, s0.Name)
	case a.Tag == policy.NotRequired && a.TLSLevel != tlsstatus.None && a.TLSLevel != tlsstatus.May:
		require.Equal(t, tlsstatus.May, s0.Name, "TLS-Required: No caps the level at may")
	case a.TLSLevel == "x-not-a-level":
		require.Equal(t, tlsstatus.Unknown, s0.Name, "caller text is never logged")
	default:
		require.Equal(t, a.TLSLevel, s0.Name)
	}
	send := d.Action == policy.SendRequireTLS || d.Action == policy.SendWithout
	switch {
	case s0.Violation:
		require.Contains(t, []policy.Action{policy.Skip, policy.Bounce, policy.Defer}, d.Action, "%+v", a)
		require.GreaterOrEqual(t, security(a), 2, "%+v", a)
	case s0.Final == tlsstatus.None:
		require.True(t, d.Action == policy.SendWithout && !tlsUp(a), "%+v", a)
	case s0.Undecided:
		require.False(t, send, "%+v", a)
	default:
		require.True(t, tlsUp(a) || s0.Name == tlsstatus.None && d.Action == policy.SendWithout, "%+v %+v", a, fl)
	}
	require.False(t, s0.Violation && s0.Undecided || s0.Violation && s0.Final != "")
}

// strictness ranks a decision: the higher, the less it lets through. Not
// sending beats continuing, which beats sending with REQUIRETLS, which
// beats sending without it; then refusing plaintext fallback, then not
// capping TLS.
func strictness(d policy.Decision) int {
	r := 0
	switch d.Action {
	case policy.SendWithout:
	case policy.SendRequireTLS:
		r = 1
	case policy.Continue:
		r = 2
	default:
		r = 3
	}
	r *= 4
	if !d.PlaintextFallback {
		r += 2
	}
	if !d.CapTLS {
		r++
	}
	return r
}

// TestEvaluateOutOfRange is issue 12 item 7: for every in-range attempt,
// each enum input in turn is set to values out of range, and the decision
// must be at least as strict as the strictest decision any in-range value
// of that input gives. The rule itself: an unknown Tag is Required, an
// unknown Level defers 4.7.10 like ConfigError, and an unknown fact that
// counts at the stage defers 4.7.10.
func TestEvaluateOutOfRange(t *testing.T) {
	type input struct {
		name    string
		unknown []uint8
		inRange int
		set     func(a *policy.Attempt, v uint8)
		in      func(a *policy.Attempt, i int)
	}
	inputs := []input{
		{"tag", []uint8{3, 255}, len(tags), func(a *policy.Attempt, v uint8) { a.Tag = policy.Tag(v) }, func(a *policy.Attempt, i int) { a.Tag = tags[i] }},
		{"level", []uint8{6, 77, 255}, len(levels), func(a *policy.Attempt, v uint8) { a.Level = policy.Level(v) }, func(a *policy.Attempt, i int) { a.Level = levels[i] }},
		{"stage", []uint8{4, 255}, 4, func(a *policy.Attempt, v uint8) { a.Stage = policy.Stage(v) }, func(a *policy.Attempt, i int) { a.Stage = policy.Stage(i) }},
		{"auth", []uint8{6, 255}, len(auths), func(a *policy.Attempt, v uint8) { a.Auth = policy.Auth(v) }, func(a *policy.Attempt, i int) { a.Auth = auths[i] }},
		{"handshake", []uint8{3, 255}, len(handshakes), func(a *policy.Attempt, v uint8) { a.Handshake = policy.Handshake(v) }, func(a *policy.Attempt, i int) { a.Handshake = handshakes[i] }},
		{"cert", []uint8{3, 255}, len(certs), func(a *policy.Attempt, v uint8) { a.Cert = policy.Cert(v) }, func(a *policy.Attempt, i int) { a.Cert = certs[i] }},
	}
	n := 0
	// The default TLS security level and one that requires a certificate.
	allAttempts([]tlsstatus.Name{"", tlsstatus.Verify}, func(a policy.Attempt) {
		for _, in := range inputs {
			strictest := 0
			for i := 0; i < in.inRange; i++ {
				b := a
				in.in(&b, i)
				strictest = max(strictest, strictness(policy.Evaluate(b)))
			}
			for _, v := range in.unknown {
				n++
				b := a
				in.set(&b, v)
				d := policy.Evaluate(b)
				if strictness(d) < strictest {
					t.Fatalf("%s %d is laxer than every in-range value: %+v gives %+v", in.name, v, b, d)
				}
				if d.Action == policy.SendRequireTLS && !tlsUp(b) {
					t.Fatalf("REQUIRETLS without TLS: %+v", b)
				}
				// The exact rule, as a decision the same input gives with
				// an in-range value.
				var want policy.Decision
				r := b
				switch {
				case in.name == "tag":
					r.Tag = policy.Required
					want = policy.Evaluate(r)
				case in.name == "level":
					r.Level = policy.ConfigError
					want = policy.Evaluate(r)
				case in.name == "stage" || in.name == "auth" || b.Stage >= policy.AfterSTARTTLS:
					// The same decision for every tag, level and sender.
					r.Tag, r.Level, r.NullSender = policy.Default, policy.Disable, !r.NullSender
					want = policy.Evaluate(r)
					if d.Action != policy.Defer || d.Code != policy.CodePolicyError || d.Feature != (tlsstatus.Feature{}) ||
						d.PlaintextFallback || d.CapTLS || d.RetHdrs {
						t.Fatalf("%s %d does not defer 4.7.10: %+v gives %+v", in.name, v, b, d)
					}
				default: // a later stage's fact is ignored
					want = policy.Evaluate(laterFactsCleared(b))
				}
				if d != want {
					t.Fatalf("%+v gives %+v, want %+v", b, d, want)
				}
			}
		}
	})
	require.Equal(t, 3*2*6*2*4*6*2*2*3*3*2*(2+3+2+2+2+2), n)
}
