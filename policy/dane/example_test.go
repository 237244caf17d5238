package dane_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
)

// A record as dig or a zone file shows it (here as GnuTLS's danetool writes
// it), and as it comes off the wire.
func ExampleParseRecord() {
	r, err := dane.ParseRecord("( 03 01 01 8755CDAA8FE24EF16CC0F2C918063185\n E5D1FF0C8E4A2A1A1D1D1B5E5D61F1E0 )")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Usage, r.Selector, r.MatchingType, r.Usable())
	fmt.Println(r)

	_, err = dane.ParseRecord("3 1 1 8755cdaa8fe24ef16cc0f2c91806318")
	fmt.Println(errors.Is(err, dane.ErrSyntax), err)
	// Output:
	// DANE-EE(3) SPKI(1) SHA2-256(1) true
	// 3 1 1 8755cdaa8fe24ef16cc0f2c918063185e5d1ff0c8e4a2a1a1d1d1b5e5d61f1e0
	// true dane: odd number of hexadecimal digits at offset 37 in "3 1 1 8755cdaa8fe24ef16cc0f2c91806318"
}

func ExampleParseRDATA() {
	r, err := dane.ParseRDATA([]byte{2, 0, 1, 0xde, 0xad, 0xbe, 0xef})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r, r.Usable()) // a SHA-256 digest must be 32 octets
	_, err = dane.ParseRDATA([]byte{3, 1})
	fmt.Println(errors.Is(err, dane.ErrTruncated))
	// Output:
	// 2 0 1 deadbeef false
	// true
}

// A server with a self-signed certificate and a DANE-EE(3) record for its
// public key is authenticated, whatever the certificate's names or dates.
// The caller reports the result to policy as AuthDANE plus the Cert fact.
func ExampleVerify() {
	// The server's certificate, as a handshake delivers it.
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the MX name"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)} // expired
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}

	// The TLSA RRset of _25._tcp.mx.example.com from a DNSSEC-validating
	// resolver: one unusable PKIX-EE(1) record and the server's "3 1 1".
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	pkixEE, _ := dane.ParseRecord(fmt.Sprintf("1 1 1 %x", sum))
	ee, _ := dane.ParseRecord(fmt.Sprintf("3 1 1 %x", sum))

	r := dane.Verify(state, []dane.Record{pkixEE, ee}, "mx.example.com", nil)
	fmt.Println(r.Cert == policy.CertAuthenticated, r.Usable, r.Detail)
	// policy.Attempt{Auth: policy.AuthDANE, Cert: r.Cert, ...}

	r = dane.Verify(state, []dane.Record{pkixEE}, "mx.example.com", nil)
	fmt.Println(r.Cert == policy.CertAuthenticated, r.Reason, r.Err())
	// Output:
	// true 1 DANE-EE(3) SPKI(1) SHA2-256(1) matched the server certificate
	// false tlsa-invalid dane: none of 1 TLSA records is usable for SMTP
}

// A dialer plugs the records in as the TLS configuration's
// VerifyConnection; the requiretls Dialer turns its error into the Cert
// fact for policy.
func ExampleVerifyConnection() {
	var records []dane.Record // from the caller's DNSSEC-validated TLSA lookup
	cfg := &tls.Config{
		ServerName:         "mx.example.com",
		InsecureSkipVerify: true, // DANE replaces PKIX; VerifyConnection still runs
		VerifyConnection:   dane.VerifyConnection(records, "mx.example.com", nil),
	}
	_ = cfg
}
