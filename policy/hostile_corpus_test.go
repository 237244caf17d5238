package policy_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

func checkPolicyErr(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	typed := errors.Is(err, policy.ErrSyntax) || errors.Is(err, policy.ErrUnknownLevel) ||
		errors.Is(err, policy.ErrUndefined) || errors.Is(err, policy.ErrIDN) || errors.Is(err, policy.ErrTooLarge)
	assert.True(t, typed, "%s: untyped error %v", what, err)
	var pe *policy.ParseError
	assert.True(t, errors.As(err, &pe), "%s: not a *ParseError: %T", what, err)
	assert.Less(t, len(err.Error()), 4096, "%s: error text bounded", what)
}

// TestHostileCorpus gives every input of the shared hostile corpus to
// every entry point that takes text: as a policy string, as a $name value,
// as an action atom, as a next hop and as a host name in a reason text.
// Each gives a typed error or a bounded result, and a hostile next hop
// never relaxes enforcement (RFC 8689 Section 4.2.1).
func TestHostileCorpus(t *testing.T) {
	enforceAll, err := policy.Parse("inline:{{example.org = opportunistic}}, enforce", nil)
	require.NoError(t, err)
	for _, in := range hostile.All() {
		t.Run(in.Name, func(t *testing.T) {
			// 4 MiB is past MaxPolicySize; the 1 GiB inputs are cut there.
			s := string(in.Prefix(4 << 20))

			p, err := policy.Parse(s, nil)
			checkPolicyErr(t, err, "Parse")
			if err == nil {
				q, err := policy.Parse(p.String(), nil)
				assert.NoError(t, err, "Parse(p.String()) round-trips")
				assert.Equal(t, p.String(), q.String())
			}
			vars := &policy.ParseOptions{Vars: func(string) (string, bool) { return s, true }}
			_, err = policy.Parse("$name, ${name}, $(name), ${domain_to_ascii{$name}}", vars)
			checkPolicyErr(t, err, "Parse with $name")

			l, err := policy.ParseLevel(s)
			checkPolicyErr(t, err, "ParseLevel")
			if err != nil {
				assert.ErrorIs(t, err, policy.ErrUnknownLevel)
			} else {
				assert.NotEmpty(t, l.String())
			}

			assert.Equal(t, policy.Enforce, enforceAll.Lookup(s), "a hostile next hop matches no key: implicit enforce")
			var nilPolicy *policy.Policy
			assert.Equal(t, policy.Enforce, nilPolicy.Lookup(s))

			for stage := policy.BeforeConnect; stage <= policy.AfterTLSEHLO; stage++ {
				d := policy.Evaluate(policy.Attempt{Tag: policy.Required, Host: s, TLSLevel: "may", Stage: stage,
					STARTTLSOffered: true, Handshake: policy.HandshakeRefused, STARTTLSReply: s})
				assert.NotEqual(t, policy.SendRequireTLS, d.Action, "E: never REQUIRETLS without authentication")
				assert.LessOrEqual(t, len(d.Reason()), 8*len(s)+1024, "reason text linear in its inputs (host and reply, escaped)")

				// A hostile TLS security level is the strictest and never
				// reaches the tls= field.
				a := policy.Attempt{Tag: policy.Default, Host: "mx.example", TLSLevel: tlsstatus.Name(s), Stage: stage}
				d = policy.Evaluate(a)
				fl := policy.Field(a, d)
				_, err := tlsstatus.ParseField(fl.String())
				assert.NoError(t, err)
				switch tlsstatus.Name(s) {
				case "", tlsstatus.None, tlsstatus.May, tlsstatus.Encrypt, tlsstatus.Fingerprint, tlsstatus.HalfDANE,
					tlsstatus.DANE, tlsstatus.DANEOnly, tlsstatus.Verify, tlsstatus.Secure:
				default:
					assert.Equal(t, tlsstatus.Unknown, fl[0].Name)
					assert.NotEqual(t, policy.SendWithout, d.Action, "no STARTTLS: an unknown level sends nothing")
				}
			}
		})
	}
}
