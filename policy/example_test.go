package policy_test

import (
	"fmt"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// A delivery attempt is evaluated after each stage. Here the server
// authenticates fine but announces no REQUIRETLS after STARTTLS, and it is
// the last MX host, so the message bounces with Postfix's code and text.
func ExampleEvaluate() {
	a := policy.Attempt{
		Tag:   policy.Signals{RequireTLS: true}.Tag(), // MAIL FROM:<...> REQUIRETLS
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

// Field gives the tls= log field Postfix writes for an attempt and its
// decision. At TLS security level verify, a server that offers no STARTTLS
// is not used ("!verify"), and under opportunistic the message is deferred
// (4.7.4) with REQUIRETLS left undecided.
func ExampleField() {
	a := policy.Attempt{
		Tag:      policy.Required,
		Level:    policy.Opportunistic,
		Host:     "mx.example.com",
		Auth:     policy.AuthStaticPKIX,
		TLSLevel: tlsstatus.Verify,
		Stage:    policy.AfterEHLO, // STARTTLSOffered: false
	}
	d := policy.Evaluate(a)
	fmt.Println(d.Action, d.Code, policy.Field(a, d))
	fmt.Println(d.Reason())

	a.TLSLevel = tlsstatus.May // plaintext allowed: a downgrade
	d = policy.Evaluate(a)
	fmt.Println(d.Action, d.RetHdrs, policy.Field(a, d))
	// Output:
	// defer 4.7.4 !verify/requiretls?
	// TLS is required, but was not offered by host mx.example.com
	// send-without true may:none/requiretls:none
}
