package testpki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLocalhostVerifies(t *testing.T) {
	p, err := NewLocalhost("test CA")
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(p.Server.Certificate[0])
	require.NoError(t, err)
	for _, name := range []string{"localhost", "127.0.0.1"} {
		_, err = leaf.Verify(x509.VerifyOptions{Roots: p.Roots, DNSName: name})
		assert.NoError(t, err, name)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: p.Roots, DNSName: "mx.example"})
	assert.Error(t, err, "names not issued do not verify")

	other, err := NewLocalhost("test CA")
	require.NoError(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: other.Roots, DNSName: "localhost"})
	assert.Error(t, err, "another CA of the same name does not verify it")
}

func TestIssueValidity(t *testing.T) {
	ca, err := NewCA("test CA")
	require.NoError(t, err)
	now := time.Now()
	c, err := ca.Issue(now.Add(-2*time.Hour), now.Add(-time.Hour), "mx.example.net")
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "mx.example.net"})
	var invalid x509.CertificateInvalidError
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, x509.Expired, invalid.Reason)
	assert.Equal(t, []string{"mx.example.net"}, leaf.DNSNames)
	assert.Empty(t, leaf.IPAddresses)
}

func TestIntermediateChain(t *testing.T) {
	root, err := NewCA("test root")
	require.NoError(t, err)
	inter, err := root.Intermediate("test intermediate")
	require.NoError(t, err)
	assert.True(t, inter.Cert.IsCA)
	require.NoError(t, inter.Cert.CheckSignatureFrom(root.Cert), "the root signs the intermediate")
	c, err := inter.Issue(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.example.net")
	require.NoError(t, err)
	require.NotNil(t, c.Leaf)
	assert.Equal(t, c.Certificate[0], c.Leaf.Raw)

	via := x509.NewCertPool()
	via.AddCert(inter.Cert)
	_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: root.Pool, Intermediates: via, DNSName: "mx.example.net"})
	assert.NoError(t, err, "leaf, intermediate, root")
	_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: root.Pool, DNSName: "mx.example.net"})
	assert.Error(t, err, "without the intermediate the root alone does not verify the leaf")
	_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: inter.Pool, DNSName: "mx.example.net"})
	assert.NoError(t, err, "the intermediate's Pool trusts it as an anchor")
}

func TestSignFillsZeroFields(t *testing.T) {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "no names"}}
	a, key, err := Sign(tmpl, nil)
	require.NoError(t, err)
	b, _, err := Sign(tmpl, nil)
	require.NoError(t, err)
	assert.Nil(t, tmpl.SerialNumber, "tmpl is not modified")
	assert.NotEqual(t, a.SerialNumber, b.SerialNumber, "a fresh serial number each time")
	assert.Equal(t, key.Public(), a.PublicKey)
	require.NoError(t, a.CheckSignature(a.SignatureAlgorithm, a.RawTBSCertificate, a.Signature), "self-signed")
	assert.Empty(t, a.DNSNames)
	assert.True(t, a.NotBefore.Before(time.Now()) && a.NotAfter.After(time.Now().Add(23*time.Hour)), "from an hour ago for a day")
}
