// Package testpki is test support for this module: it makes throw-away
// certificates for the real TLS handshakes of the package tests, a CA that
// lives in memory and server certificates it issues. Import it only from
// _test files; library code must never import it. Nothing here is fit for
// production keys.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"
)

// CA is a certificate authority that lives in memory.
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool // holds only Cert, for tls.Config.RootCAs
	key  *ecdsa.PrivateKey
}

// NewCA returns a CA named name, valid from an hour ago for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}, nil
}

// Issue returns a server certificate signed by ca for hosts (DNS names or
// IP addresses; the first is also the subject's common name), valid from
// notBefore to notAfter, so that tests can make expired ones too.
func (ca *CA) Issue(notBefore, notAfter time.Time, hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Localhost is a CA and a server certificate it issued for localhost and
// 127.0.0.1: what a test of a TLS session over loopback needs.
type Localhost struct {
	Roots  *x509.CertPool // the CA
	Server tls.Certificate
}

// NewLocalhost returns a new CA named caName and a certificate it issued
// for localhost and 127.0.0.1, valid from an hour ago for a day.
func NewLocalhost(caName string) (*Localhost, error) {
	ca, err := NewCA(caName)
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "localhost", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	return &Localhost{Roots: ca.Pool, Server: cert}, nil
}

// ServerConfig returns a server configuration with the certificate.
func (p *Localhost) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Server}}
}

// ClientConfig returns a client configuration that trusts only the CA and
// expects the name localhost.
func (p *Localhost) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.Roots, ServerName: "localhost"}
}
