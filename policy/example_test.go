package policy_test

import (
	"fmt"

	"github.com/requiretls/go-requiretls/policy"
)

// A delivery attempt is evaluated after each stage. Here the server
// authenticates fine but announces no REQUIRETLS after STARTTLS, and it is
// the last MX host, so the message bounces with Postfix's code and text.
func ExampleEvaluate() {
	a := policy.Attempt{
		Tag:   policy.TagOf(true, false), // MAIL FROM:<...> REQUIRETLS
		Level: policy.Enforce,
		Host:  "mx.example.com",
		Auth:  policy.AuthDANE,
	}
	for _, stage := range []func(){
		func() {},
		func() { a.Stage, a.STARTTLSOffered = policy.AfterEHLO, true },
		func() {
			a.Stage, a.Handshake, a.Cert = policy.AfterSTARTTLS, policy.HandshakeOK, policy.CertAuthenticated
		},
		func() { a.Stage, a.RequireTLSAnnounced = policy.AfterTLSEHLO, false },
	} {
		stage()
		d := policy.Evaluate(a)
		fmt.Println(d.Action, d.Code, d.Feature)
		if d.Action != policy.Continue {
			fmt.Println(d.Reason())
		}
	}
	// Output:
	// continue  requiretls?
	// continue  requiretls?
	// continue  requiretls?
	// bounce 5.7.30 !requiretls:none
	// Sender requested REQUIRETLS, but no server was found that supports REQUIRETLS. The last attempted server was mx.example.com
}
