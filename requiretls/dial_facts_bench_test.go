package requiretls

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
)

// BenchmarkDialFacts is the cost of one Dial (greeting, EHLO, STARTTLS,
// TLS 1.3 handshake with ECDSA P-256, EHLO) to a wrapped go-smtp server on
// loopback, by how the certificate is authenticated, and next to it the
// DANE verification alone on the same certificates:
//
//	go test -run '^$' -bench DialFacts -benchmem ./requiretls/
func BenchmarkDialFacts(b *testing.B) {
	ca, err := testpki.NewCA("bench CA")
	require.NoError(b, err)
	cert, err := ca.Issue(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.example.com")
	require.NoError(b, err)
	cert.Certificate = append(cert.Certificate, ca.Cert.Raw) // DANE-TA(2) needs the anchor in the chain
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(b, err)
	addr := benchServer(b, cert)
	cfg := &tls.Config{RootCAs: ca.Pool}
	ee := []dane.Record{tlsa(b, "3 1 1", leaf.RawSubjectPublicKeyInfo)}
	ta := []dane.Record{tlsa(b, "2 0 1", ca.Cert.Raw)}
	sts := stsPolicy(b, "enforce", "*.example.com")
	a := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Host: "mx.example.com"}

	for _, bc := range []struct {
		name string
		d    Dialer
		auth policy.Auth
	}{
		{"PKIX", Dialer{TLSConfig: cfg}, policy.AuthStaticPKIX},
		{"DANE-EE 3 1 1", Dialer{TLSA: ee}, 0},
		{"DANE-TA 2 0 1", Dialer{TLSA: ta}, 0},
		{"MTA-STS enforce", Dialer{TLSConfig: cfg, MTASTS: sts}, 0},
	} {
		b.Run("Dial "+bc.name, func(b *testing.B) {
			a := a
			a.Auth = bc.auth
			b.ReportAllocs()
			for b.Loop() {
				c, err := bc.d.Dial(b.Context(), addr, a)
				if err != nil {
					b.Fatal(err)
				}
				if c.Decision.Action != policy.SendRequireTLS {
					b.Fatal(c.Decision.Action)
				}
				c.Close()
			}
		})
	}

	state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf, ca.Cert}}
	for _, bc := range []struct {
		name    string
		records []dane.Record
	}{{"DANE-EE 3 1 1", ee}, {"DANE-TA 2 0 1", ta}} {
		b.Run("verify alone "+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !dane.Verify(state, bc.records, "mx.example.com", nil).Authenticated() {
					b.Fatal("not authenticated")
				}
			}
		})
	}
	b.Run("verify alone MTA-STS Auth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if auth, _ := sts.Auth("mx.example.com", nil); auth != policy.AuthMTASTS {
				b.Fatal(auth)
			}
		}
	})
}

// benchServer runs a wrapped go-smtp server with cert on loopback.
func benchServer(b *testing.B, cert tls.Certificate) string {
	s := NewServer(&recorder{}, nil)
	s.Domain = "mx.example.com"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go s.Serve(l)
	b.Cleanup(func() { s.Close() })
	return l.Addr().String()
}
