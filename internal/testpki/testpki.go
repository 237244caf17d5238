// Package testpki is test support for this module: it makes throw-away
// certificates for the real TLS handshakes of the package tests, a CA that
// lives in memory and server certificates it issues. Import it only from
// _test files; library code must never import it. Nothing here is fit for
// production keys.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// CA is a certificate authority that lives in memory.
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool // holds only Cert, for tls.Config.RootCAs
	key  crypto.Signer
}

// NewCA returns a CA named name, valid from an hour ago for a day.
func NewCA(name string) (*CA, error) {
	return newCA(name, nil)
}

// Intermediate returns a new CA named name, valid from an hour ago for a
// day, whose certificate ca signs. Its Pool holds only its own
// certificate; a server whose certificate it issued sends the intermediate
// after its own, and a client that trusts ca.Pool needs it to verify.
func (ca *CA) Intermediate(name string) (*CA, error) {
	return newCA(name, ca)
}

// newCA makes a CA signed by parent, or self-signed when parent is nil.
func newCA(name string, parent *CA) (*CA, error) {
	cert, key, err := Sign(&x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, parent)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}, nil
}

// Issue returns a server certificate signed by ca for hosts (DNS names or
// IP addresses; the first is also the subject's common name), valid from
// notBefore to notAfter, so that tests can make expired ones too. The
// result's Leaf is the parsed certificate.
func (ca *CA) Issue(notBefore, notAfter time.Time, hosts ...string) (tls.Certificate, error) {
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
	cert, key, err := Sign(tmpl, ca)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

var serial atomic.Int64

// Sign makes the certificate tmpl describes, for a new P-256 key, signed
// by parent or, when parent is nil, self-signed; it returns the
// certificate and its key. What tmpl leaves zero Sign fills in: a serial
// number not used before in this process, and a validity from an hour
// ago for a day. It is for the certificates Issue does not make: other
// key usages, a common name without subject alternative names, leaves
// that sign themselves. tmpl is not modified.
func Sign(tmpl *x509.Certificate, parent *CA) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	t := *tmpl
	if t.SerialNumber == nil {
		t.SerialNumber = big.NewInt(1000 + serial.Add(1))
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = time.Now().Add(-time.Hour)
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = time.Now().Add(24 * time.Hour)
	}
	issuer, signer := &t, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.Cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, &t, issuer, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
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
