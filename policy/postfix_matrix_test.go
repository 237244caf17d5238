package policy_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// stagedOutcome runs a through every stage as delivery code does (the facts
// of the final stage are all in a), stops at the first decision that is not
// Continue, and describes it as interop/MATRIX.md does: status, code (for a
// failure) or RET (for a send), and the tls= field.
func stagedOutcome(a policy.Attempt) string {
	var d policy.Decision
	for a.Stage = policy.BeforeConnect; ; a.Stage++ {
		d = policy.Evaluate(laterFactsCleared(a))
		if d.Action != policy.Continue || a.Stage == policy.AfterTLSEHLO {
			break
		}
	}
	a = laterFactsCleared(a)
	var s string
	switch d.Action {
	case policy.SendRequireTLS, policy.SendWithout:
		s = "sent FULL"
		if d.RetHdrs {
			s = "sent HDRS"
		}
	case policy.Bounce:
		s = "bounced " + d.Code.String()
	case policy.Defer:
		s = "deferred " + d.Code.String()
	default:
		s = d.Action.String() + " " + d.Code.String()
	}
	return s + " " + policy.Field(a, d).String()
}

// postfixHops are the four next hops of interop/postfix_sending_test.go as
// the facts of a delivery attempt.
var postfixHops = map[string]policy.Attempt{
	"plain":        {},
	"trusted":      {STARTTLSOffered: true, Handshake: policy.HandshakeOK, Cert: policy.CertAuthenticated, RequireTLSAnnounced: true},
	"untrusted":    {STARTTLSOffered: true, Handshake: policy.HandshakeOK, Cert: policy.CertUntrusted, RequireTLSAnnounced: true},
	"norequiretls": {STARTTLSOffered: true, Handshake: policy.HandshakeOK, Cert: policy.CertAuthenticated},
}

// TestEvaluatePostfixMatrix is the Postfix 3.11.6 sending matrix of
// interop/MATRIX.md ("Postfix sender → next hop"): what Postfix logged and
// did for each smtp_requiretls_policy, smtp_tls_security_level and next hop,
// for a REQUIRETLS message submitted with RET=FULL. Evaluate and Field must
// give the same status, code, RET and tls= field byte for byte. Postfix
// keeps RET=FULL under disable (the request is ignored), enforces the TLS
// security level for every message (4.7.4 without TLS, 4.7.5 for an
// unverified certificate), and logs slot 0 as "!LEVEL" when the level was
// violated, "LEVEL?" when the attempt ended before TLS for REQUIRETLS's
// sake, and "LEVEL:none" only when mail went out in plaintext (R29 R31 R46
// R57).
func TestEvaluatePostfixMatrix(t *testing.T) {
	rows := []string{
		"disable encrypt plain: deferred 4.7.4 !encrypt",
		"disable encrypt trusted: sent FULL encrypt",
		"disable encrypt untrusted: sent FULL encrypt",
		"disable encrypt norequiretls: sent FULL encrypt",
		"disable may plain: sent FULL may:none",
		"disable may trusted: sent FULL may",
		"disable may untrusted: sent FULL may",
		"disable may norequiretls: sent FULL may",
		"disable secure plain: deferred 4.7.4 !secure",
		"disable secure trusted: sent FULL secure",
		"disable secure untrusted: deferred 4.7.5 !secure",
		"disable secure norequiretls: sent FULL secure",
		"disable verify plain: deferred 4.7.4 !verify",
		"disable verify trusted: sent FULL verify",
		"disable verify untrusted: deferred 4.7.5 !verify",
		"disable verify norequiretls: sent FULL verify",
		"enforce encrypt plain: bounced 5.7.10 encrypt?/!requiretls:nocertmatch",
		"enforce encrypt trusted: bounced 5.7.10 encrypt?/!requiretls:nocertmatch",
		"enforce encrypt untrusted: bounced 5.7.10 encrypt?/!requiretls:nocertmatch",
		"enforce encrypt norequiretls: bounced 5.7.10 encrypt?/!requiretls:nocertmatch",
		"enforce may plain: bounced 5.7.10 may?/!requiretls:nocertmatch",
		"enforce may trusted: bounced 5.7.10 may?/!requiretls:nocertmatch",
		"enforce may untrusted: bounced 5.7.10 may?/!requiretls:nocertmatch",
		"enforce may norequiretls: bounced 5.7.10 may?/!requiretls:nocertmatch",
		"enforce secure plain: bounced 5.7.30 !secure/!requiretls:nostarttls",
		"enforce secure trusted: sent FULL secure/requiretls",
		"enforce secure untrusted: bounced 5.7.10 !secure/!requiretls:nocertmatch",
		"enforce secure norequiretls: bounced 5.7.30 secure/!requiretls:none",
		"enforce verify plain: bounced 5.7.30 !verify/!requiretls:nostarttls",
		"enforce verify trusted: sent FULL verify/requiretls",
		"enforce verify untrusted: bounced 5.7.10 !verify/!requiretls:nocertmatch",
		"enforce verify norequiretls: bounced 5.7.30 verify/!requiretls:none",
		"opportunistic encrypt plain: deferred 4.7.4 !encrypt/requiretls?",
		"opportunistic encrypt trusted: sent FULL encrypt/requiretls:nocertmatch",
		"opportunistic encrypt untrusted: sent FULL encrypt/requiretls:nocertmatch",
		"opportunistic encrypt norequiretls: sent HDRS encrypt/requiretls:none",
		"opportunistic may plain: sent HDRS may:none/requiretls:none",
		"opportunistic may trusted: sent FULL may/requiretls:nocertmatch",
		"opportunistic may untrusted: sent FULL may/requiretls:nocertmatch",
		"opportunistic may norequiretls: sent HDRS may/requiretls:none",
		"opportunistic secure plain: deferred 4.7.4 !secure/requiretls?",
		"opportunistic secure trusted: sent FULL secure/requiretls",
		"opportunistic secure untrusted: deferred 4.7.5 !secure/requiretls:nocertmatch",
		"opportunistic secure norequiretls: sent HDRS secure/requiretls:none",
		"opportunistic verify plain: deferred 4.7.4 !verify/requiretls?",
		"opportunistic verify trusted: sent FULL verify/requiretls",
		"opportunistic verify untrusted: deferred 4.7.5 !verify/requiretls:nocertmatch",
		"opportunistic verify norequiretls: sent HDRS verify/requiretls:none",
		"opportunistic+starttls encrypt plain: bounced 5.7.30 !encrypt/!requiretls:nostarttls",
		"opportunistic+starttls encrypt trusted: sent FULL encrypt/requiretls:nocertmatch",
		"opportunistic+starttls encrypt untrusted: sent FULL encrypt/requiretls:nocertmatch",
		"opportunistic+starttls encrypt norequiretls: sent HDRS encrypt/requiretls:none",
		"opportunistic+starttls may plain: bounced 5.7.30 may?/!requiretls:nostarttls",
		"opportunistic+starttls may trusted: sent FULL may/requiretls:nocertmatch",
		"opportunistic+starttls may untrusted: sent FULL may/requiretls:nocertmatch",
		"opportunistic+starttls may norequiretls: sent HDRS may/requiretls:none",
		"opportunistic+starttls secure plain: bounced 5.7.30 !secure/!requiretls:nostarttls",
		"opportunistic+starttls secure trusted: sent FULL secure/requiretls",
		"opportunistic+starttls secure untrusted: deferred 4.7.5 !secure/requiretls:nocertmatch",
		"opportunistic+starttls secure norequiretls: sent HDRS secure/requiretls:none",
		"opportunistic+starttls verify plain: bounced 5.7.30 !verify/!requiretls:nostarttls",
		"opportunistic+starttls verify trusted: sent FULL verify/requiretls",
		"opportunistic+starttls verify untrusted: deferred 4.7.5 !verify/requiretls:nocertmatch",
		"opportunistic+starttls verify norequiretls: sent HDRS verify/requiretls:none",
	}
	for _, row := range rows {
		key, want, _ := strings.Cut(row, ": ")
		t.Run(key, func(t *testing.T) {
			f := strings.Fields(key)
			level, err := policy.ParseLevel(f[0])
			if !assert.NoError(t, err) {
				return
			}
			a := postfixHops[f[2]]
			a.Tag, a.Level, a.Host, a.TLSLevel = policy.Required, level, "localhost", tlsstatus.Name(f[1])
			if a.TLSLevel == tlsstatus.Verify || a.TLSLevel == tlsstatus.Secure {
				a.Auth = policy.AuthStaticPKIX
			}
			assert.Equal(t, want, stagedOutcome(a))
		})
	}
}

// TestEvaluateTLSLevel: the TLS security level is enforced for every tag as
// Postfix enforces smtp_tls_security_level, with "more hosts remain" giving
// Skip; the empty level keeps the old default (may, none with
// AuthNoEncryption); a name that is not a level is the strictest and logs as
// "unknown"; "TLS-Required: No" caps the level at may (RFC 8689 Section
// 4.2.2, R19 R62).
func TestEvaluateTLSLevel(t *testing.T) {
	plain := postfixHops["plain"]
	untrusted := postfixHops["untrusted"]
	refused := policy.Attempt{STARTTLSOffered: true, Handshake: policy.HandshakeRefused, STARTTLSReply: "454 4.7.0 not now"}
	tests := []struct {
		name  string
		a     policy.Attempt
		tag   policy.Tag
		level tlsstatus.Name
		more  bool
		want  string
	}{
		{"default message, verify, no STARTTLS", plain, policy.Default, tlsstatus.Verify, false, "deferred 4.7.4 !verify"},
		{"default message, verify, no STARTTLS, more hosts", plain, policy.Default, tlsstatus.Verify, true, "skip 4.7.4 !verify"},
		{"default message, dane, untrusted", untrusted, policy.Default, tlsstatus.DANE, false, "deferred 4.7.5 !dane"},
		{"default message, dane-only, untrusted, more hosts", untrusted, policy.Default, tlsstatus.DANEOnly, true, "skip 4.7.5 !dane-only"},
		{"default message, encrypt, untrusted", untrusted, policy.Default, tlsstatus.Encrypt, false, "sent FULL encrypt"},
		{"default message, encrypt, STARTTLS refused", refused, policy.Default, tlsstatus.Encrypt, false, "deferred 4.7.4 !encrypt"},
		{"default message, may, STARTTLS refused", refused, policy.Default, tlsstatus.May, false, "sent FULL may:none"},
		{"default message, none", untrusted, policy.Default, tlsstatus.None, false, "sent FULL none"},
		{"default message, empty level is may", plain, policy.Default, "", false, "sent FULL may:none"},
		{"default message, unknown level is the strictest", untrusted, policy.Default, "verify-ish", false, "deferred 4.7.5 !unknown"},
		{"default message, unknown level, no STARTTLS", plain, policy.Default, "x/y", false, "deferred 4.7.4 !unknown"},
		{"TLS-Required: No caps verify at may", plain, policy.NotRequired, tlsstatus.Verify, false, "sent FULL may:none"},
		{"TLS-Required: No caps an unknown level at may", untrusted, policy.NotRequired, "bogus", false, "sent FULL may"},
		{"TLS-Required: No keeps none", plain, policy.NotRequired, tlsstatus.None, false, "sent FULL none"},
		{"required, opportunistic, encrypt, STARTTLS refused", refused, policy.Required, tlsstatus.Encrypt, false, "deferred 4.7.4 !encrypt/requiretls?"},
		{"required, opportunistic, level none", untrusted, policy.Required, tlsstatus.None, false, "sent HDRS none/requiretls:none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.a
			a.Tag, a.Level, a.Host, a.TLSLevel, a.MoreHosts = tt.tag, policy.Opportunistic, "mx.example", tt.level, tt.more
			assert.Equal(t, tt.want, stagedOutcome(a))
		})
	}

	// The reasons, in Postfix's words.
	a := plain
	a.Tag, a.Host, a.TLSLevel, a.Stage = policy.Default, "mx.example", tlsstatus.Verify, policy.AfterEHLO
	assert.Equal(t, "TLS is required, but was not offered by host mx.example", policy.Evaluate(a).Reason())
	a = refused
	a.Tag, a.Host, a.TLSLevel, a.Stage = policy.Default, "mx.example", tlsstatus.Encrypt, policy.AfterSTARTTLS
	assert.Equal(t, "TLS is required, but host mx.example refused to start TLS: 454 4.7.0 not now", policy.Evaluate(a).Reason())
	a = untrusted
	a.Tag, a.Host, a.TLSLevel, a.Stage = policy.Default, "mx.example", tlsstatus.Secure, policy.AfterSTARTTLS
	assert.Equal(t, "Server certificate not verified", policy.Evaluate(a).Reason())
	assert.Equal(t, "4.7.4", policy.CodeSecurityNotSupported.String())
	assert.Equal(t, [3]int{4, 7, 4}, policy.CodeSecurityNotSupported.Enhanced())
}

// TestFieldUndecided: slot 0 is "LEVEL?" until TLS is up or the message
// goes in plaintext: before connecting, on a failed handshake (Postfix
// leaves both slots undecided) and for a policy error (the REQUIRETLS slot
// is then inactive).
func TestFieldUndecided(t *testing.T) {
	a := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.example"}
	assert.Equal(t, "verify?/requiretls?", policy.Field(a, policy.Evaluate(a)).String())
	a.Stage, a.STARTTLSOffered, a.Handshake = policy.AfterSTARTTLS, true, policy.HandshakeFailed
	assert.Equal(t, "verify?/requiretls?", policy.Field(a, policy.Evaluate(a)).String())
	a.Level = policy.ConfigError
	assert.Equal(t, "verify?", policy.Field(a, policy.Evaluate(a)).String())
	a.Level, a.Stage, a.Handshake = policy.Enforce, policy.AfterSTARTTLS, policy.HandshakeOK
	a.Cert = policy.CertAuthenticated
	assert.Equal(t, "verify/requiretls?", policy.Field(a, policy.Evaluate(a)).String(), "TLS is up, REQUIRETLS not yet decided")
}
