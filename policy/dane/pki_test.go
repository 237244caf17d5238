package dane_test

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy/dane"
)

// node is a certificate and its private key, or for a CA the CA itself
// (whose key testpki keeps).
type node struct {
	cert *x509.Certificate
	key  crypto.Signer
	ca   *testpki.CA
}

// certSpec describes a certificate to make. The zero validity is "from an
// hour ago for a day".
type certSpec struct {
	cn        string
	ca        bool
	dns       []string
	ips       []string
	notBefore time.Time
	notAfter  time.Time
	eku       []x509.ExtKeyUsage // nil: serverAuth for leaves
}

// issue makes a certificate signed by parent (self-signed when nil).
func issue(t testing.TB, s certSpec, parent *node) *node {
	t.Helper()
	var signer *testpki.CA
	if parent != nil {
		signer = parent.ca
	}
	if s.ca {
		ca, err := testpki.NewCA(s.cn)
		if signer != nil {
			ca, err = signer.Intermediate(s.cn)
		}
		require.NoError(t, err)
		return &node{cert: ca.Cert, ca: ca}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: s.cn},
		NotBefore:   s.notBefore,
		NotAfter:    s.notAfter,
		DNSNames:    s.dns,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: s.eku,
	}
	if s.eku == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	cert, key, err := testpki.Sign(tmpl, signer)
	require.NoError(t, err)
	return &node{cert: cert, key: key}
}

// hierarchy is a root CA, an intermediate CA, a leaf for mx.example.com,
// and the odd ones: an expired leaf, a leaf for another name, a wildcard
// leaf, a leaf without serverAuth, and an unrelated CA.
type hierarchy struct {
	root, inter, leaf             *node
	expired, wrongName, wildcard  *node
	clientOnly, unrelated, notYet *node
}

const host = "mx.example.com"

func newHierarchy(t testing.TB) *hierarchy {
	t.Helper()
	h := &hierarchy{}
	h.root = issue(t, certSpec{cn: "Test Root CA", ca: true}, nil)
	h.inter = issue(t, certSpec{cn: "Test Intermediate CA", ca: true}, h.root)
	h.leaf = issue(t, certSpec{cn: host, dns: []string{host}}, h.inter)
	h.expired = issue(t, certSpec{cn: host, dns: []string{host},
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)}, h.inter)
	h.notYet = issue(t, certSpec{cn: host, dns: []string{host},
		notBefore: time.Now().Add(24 * time.Hour), notAfter: time.Now().Add(48 * time.Hour)}, h.inter)
	h.wrongName = issue(t, certSpec{cn: host, dns: []string{"mail.other.example"}}, h.inter)
	h.wildcard = issue(t, certSpec{cn: "*.example.com", dns: []string{"*.example.com"}}, h.inter)
	h.clientOnly = issue(t, certSpec{cn: host, dns: []string{host}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, h.inter)
	h.unrelated = issue(t, certSpec{cn: "Unrelated CA", ca: true}, nil)
	return h
}

// tlsa computes a record from first principles, as RFC 6698 Section 2.1
// defines it: the DER certificate or SubjectPublicKeyInfo, as is or hashed.
func tlsa(u dane.Usage, s dane.Selector, m dane.MatchingType, c *x509.Certificate) dane.Record {
	content := c.Raw
	if s == dane.SelectorSPKI {
		content = c.RawSubjectPublicKeyInfo
	}
	data := append([]byte(nil), content...)
	switch m {
	case dane.MatchSHA256:
		sum := sha256.Sum256(content)
		data = sum[:]
	case dane.MatchSHA512:
		sum := sha512.Sum512(content)
		data = sum[:]
	}
	return dane.Record{Usage: u, Selector: s, MatchingType: m, Data: data}
}

// state is what a client sees of a server that sends certs in this order.
func state(certs ...*node) tls.ConnectionState {
	cs := tls.ConnectionState{}
	for _, n := range certs {
		cs.PeerCertificates = append(cs.PeerCertificates, n.cert)
	}
	return cs
}

// tlsCert is what a server sends: the chain in the given order, the key of
// the first.
func tlsCert(certs ...*node) tls.Certificate {
	c := tls.Certificate{PrivateKey: certs[0].key}
	for _, n := range certs {
		c.Certificate = append(c.Certificate, n.cert.Raw)
	}
	return c
}
