package loadtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"time"
)

// pki is a throw-away CA and a server certificate for 127.0.0.1 and
// localhost, made once per test binary.
type pki struct {
	roots  *x509.CertPool
	server tls.Certificate
}

var (
	pkiOnce sync.Once
	thePKI  *pki
)

func testPKI() *pki {
	pkiOnce.Do(func() {
		ca := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loadtest CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		caCert := must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey))))
		leaf := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		der := must(x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey))
		roots := x509.NewCertPool()
		roots.AddCert(caCert)
		thePKI = &pki{roots: roots, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
	})
	return thePKI
}

func (p *pki) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}}
}

func (p *pki) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.roots, ServerName: "localhost"}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
