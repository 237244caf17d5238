package pki

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssueVerifies(t *testing.T) {
	ca, err := NewCA("test CA")
	require.NoError(t, err)
	c, err := ca.Issue("localhost", "127.0.0.1")
	require.NoError(t, err)
	_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.1"})
	assert.NoError(t, err)
	_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "mx.example"})
	assert.Error(t, err, "names not issued do not verify")

	self, err := SelfSigned("localhost")
	require.NoError(t, err)
	_, err = self.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"})
	assert.Error(t, err, "a self-signed certificate is not trusted by the CA")
	assert.Len(t, Fingerprint(self), 64)

	certPEM, keyPEM, err := KeyPEM(c)
	require.NoError(t, err)
	_, err = tls.X509KeyPair(certPEM, keyPEM)
	assert.NoError(t, err)
}
