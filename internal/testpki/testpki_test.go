package testpki

import (
	"crypto/x509"
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
