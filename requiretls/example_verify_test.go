package requiretls_test

import (
	"crypto/tls"
	"crypto/x509"
	"log"
	"net"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// Delivery code that runs its own SMTP session, rather than the Dialer,
// asks policy.Evaluate at each stage with the facts it has. go-smtp cannot
// give those facts: it hides whether the first EHLO offered STARTTLS, does
// the handshake lazily, and does not say why a certificate failed. So the
// session below is the caller's own; after its STARTTLS, the handshake
// runs with InsecureSkipVerify so that it completes and the policy, not
// crypto/tls, decides, and VerifyCertificate turns the chain into the fact.
func ExampleVerifyCertificate() {
	var raw net.Conn         // the TCP connection, after "220" to STARTTLS
	var roots *x509.CertPool // the CAs you trust; nil: the system's
	a := policy.Attempt{
		Tag: policy.Required, Level: policy.Enforce, TLSLevel: tlsstatus.Verify,
		Host: "mx.partner.example", Auth: policy.AuthMTASTS, // your MTA-STS policy validated this MX
		Stage: policy.AfterSTARTTLS, STARTTLSOffered: true,
	}
	conn := tls.Client(raw, &tls.Config{ServerName: a.Host, InsecureSkipVerify: true})
	a.Handshake = policy.HandshakeFailed
	if conn.Handshake() == nil {
		a.Handshake = policy.HandshakeOK
		var why error
		a.Cert, why = requiretls.VerifyCertificate(conn.ConnectionState(), &tls.Config{RootCAs: roots}, a.Host)
		if why != nil {
			log.Printf("certificate of %s: %v", a.Host, why)
		}
	}
	d := policy.Evaluate(a)
	log.Printf("tls=%s action=%s", policy.Field(a, d), d.Action) // Postfix's tls= field for this attempt
	// On Continue: send EHLO again, and evaluate at policy.AfterTLSEHLO with
	// RequireTLSAnnounced from that reply (requiretls.Offered reads it).
}
