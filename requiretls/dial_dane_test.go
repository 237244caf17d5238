package requiretls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// selfSigned returns a self-signed certificate that names neither the MX
// host nor 127.0.0.1 and expired yesterday: nothing PKIX would accept.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "not-the-mx.invalid"},
		DNSNames:     []string{"not-the-mx.invalid"},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// tlsa parses a record in presentation form, its data the digest of data.
func tlsa(t testing.TB, params string, data []byte) dane.Record {
	t.Helper()
	sum := sha256.Sum256(data)
	r, err := dane.ParseRecord(fmt.Sprintf("%s %x", params, sum))
	require.NoError(t, err)
	return r
}

// requiredEnforce is an enforce REQUIRETLS attempt that leaves Auth and the TLS
// security level to the Dialer's facts.
func requiredEnforce(host string) policy.Attempt {
	return policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Host: host}
}

// TestDialDANE: with TLSA records as facts the Dialer authenticates the
// server by DANE (RFC 7672) and reports AuthDANE itself. A DANE-EE(3)
// match counts as authentication and name match for REQUIRETLS (E15, R15,
// R27.4): an expired self-signed certificate for another name is
// delivered to with REQUIRETLS, with no CA involved.
func TestDialDANE(t *testing.T) {
	cert := selfSigned(t)
	p := startPeer(t, &testpki.Localhost{Server: cert}, true)
	d := &Dialer{LocalName: "client.test", TLSA: []dane.Record{tlsa(t, "3 1 1", cert.Leaf.RawSubjectPublicKeyInfo)}}

	c, err := deliver(t, d, p, requiredEnforce("mx.test"))
	require.NoError(t, err)
	assert.Equal(t, policy.SendRequireTLS, c.Decision.Action)
	assert.Equal(t, policy.AuthDANE, c.Attempt.Auth)
	assert.Equal(t, policy.CertAuthenticated, c.Attempt.Cert)
	assert.NoError(t, c.CertErr)
	assert.Equal(t, "dane/requiretls", c.Field().String())
	_, msgs := p.rec.snapshot()
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].requireTLS, "the peer saw REQUIRETLS")
}

// TestDialDANETrustAnchor: a DANE-TA(2) record for the CA the server sends
// authenticates the server only for a name its certificate carries (RFC
// 7672 Section 3.2.2); the name is the MX host, Attempt.Host.
func TestDialDANETrustAnchor(t *testing.T) {
	ca, err := testpki.NewCA("DANE-TA test CA")
	require.NoError(t, err)
	cert, err := ca.Issue(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.test")
	require.NoError(t, err)
	cert.Certificate = append(cert.Certificate, ca.Cert.Raw) // DANE-TA(2) needs the anchor in the chain
	p := startPeer(t, &testpki.Localhost{Server: cert}, true)
	d := &Dialer{TLSA: []dane.Record{tlsa(t, "2 0 1", ca.Cert.Raw)}}

	c, err := deliver(t, d, p, requiredEnforce("mx.test."))
	require.NoError(t, err)
	assert.Equal(t, "dane/requiretls", c.Field().String())

	_, err = deliver(t, d, p, requiredEnforce("other.test"))
	var pe *PolicyError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, policy.CodeEncryptionNeeded, pe.Decision.Code)
	assert.Equal(t, policy.CertNameMismatch, pe.Attempt.Cert)
	assert.ErrorIs(t, pe.CertErr, dane.ErrName)
	assert.Equal(t, "!dane/!requiretls:nocertmatch", pe.Field().String())
	_, msgs := p.rec.snapshot()
	assert.Len(t, msgs, 1, "nothing sent to the host whose name did not match")
}

// TestDialDANERefused: enforce refuses with 5.7.10 and sends nothing when
// the TLSA records do not match the server (R15, R27.3) or none of them is
// usable for SMTP (RFC 7672 Section 2.2, Section 3.1.3: not authenticated,
// decided before connecting, as Postfix downgrades "dane" to "encrypt").
// The DANE check never falls back to PKIX: the certificate here is one the
// client's roots trust.
func TestDialDANERefused(t *testing.T) {
	pki := newTestPKI(t)
	p := startPeer(t, pki, true)
	leaf, err := x509.ParseCertificate(pki.Server.Certificate[0])
	require.NoError(t, err)
	other := selfSigned(t)
	for _, tc := range []struct {
		name     string
		records  []dane.Record
		stage    policy.Stage
		field    string
		sentinel error // of CertErr; nil: no handshake
	}{
		{"R15 TLSA does not match", []dane.Record{tlsa(t, "3 1 1", other.Leaf.RawSubjectPublicKeyInfo)},
			policy.AfterSTARTTLS, "!dane/!requiretls:nocertmatch", dane.ErrNoMatch},
		{"RFC 7672 Section 2.2 all records unusable", []dane.Record{
			tlsa(t, "1 1 1", leaf.RawSubjectPublicKeyInfo), // PKIX-EE: unusable for SMTP, though it matches
			tlsa(t, "0 0 1", leaf.Raw),                     // PKIX-TA
			tlsa(t, "3 1 7", leaf.RawSubjectPublicKeyInfo), // unknown matching type
		}, policy.BeforeConnect, "encrypt?/!requiretls:nocertmatch", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := p.rec.snapshot()
			d := &Dialer{TLSConfig: pki.ClientConfig(), TLSA: tc.records}
			_, err := deliver(t, d, p, requiredEnforce("localhost"))
			var pe *PolicyError
			require.ErrorAs(t, err, &pe)
			assert.ErrorIs(t, err, ErrEncryptionNeeded)
			assert.Equal(t, policy.Bounce, pe.Decision.Action)
			assert.Equal(t, policy.CodeEncryptionNeeded, pe.Decision.Code)
			assert.Equal(t, tc.stage, pe.Attempt.Stage)
			assert.Equal(t, tc.field, pe.Field().String())
			if tc.sentinel != nil {
				assert.ErrorIs(t, pe.CertErr, tc.sentinel)
			}
			after, _ := p.rec.snapshot()
			assert.Equal(t, before, after, "nothing was sent")
		})
	}
}

// TestDialDANEUntagged: usable TLSA records make DANE mandatory for every
// message, not only REQUIRETLS ones (RFC 7672 Section 2.2; Postfix level
// "dane"): a message without a tag is deferred (4.7.5) when the records do
// not match. One tagged "TLS-Required: No" ignores the records and is
// delivered (R19, RFC 8689 Section 4.2.2).
func TestDialDANEUntagged(t *testing.T) {
	pki := newTestPKI(t)
	p := startPeer(t, pki, true)
	other := selfSigned(t)
	d := &Dialer{TLSA: []dane.Record{tlsa(t, "3 1 1", other.Leaf.RawSubjectPublicKeyInfo)}}

	_, err := deliver(t, d, p, policy.Attempt{Host: "localhost"})
	var pe *PolicyError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, policy.Defer, pe.Decision.Action)
	assert.Equal(t, policy.CodeCryptoFailure, pe.Decision.Code)
	assert.Equal(t, "!dane", pe.Field().String())
	mails, _ := p.rec.snapshot()
	assert.Empty(t, mails)

	c, err := deliver(t, d, p, policy.Attempt{Tag: policy.NotRequired, Host: "localhost"})
	require.NoError(t, err)
	assert.Equal(t, policy.AuthNone, c.Attempt.Auth, "the records were ignored")
	assert.Equal(t, "may", c.Field().String())
}

// TestDialDANEKeepsTLSLevel: a TLS security level the caller set is kept;
// the facts set only Auth.
func TestDialDANEKeepsTLSLevel(t *testing.T) {
	cert := selfSigned(t)
	p := startPeer(t, &testpki.Localhost{Server: cert}, true)
	d := &Dialer{TLSA: []dane.Record{tlsa(t, "3 0 1", cert.Leaf.Raw)}}
	a := requiredEnforce("mx.test")
	a.TLSLevel = tlsstatus.DANEOnly
	c, err := deliver(t, d, p, a)
	require.NoError(t, err)
	assert.Equal(t, "dane-only/requiretls", c.Field().String())
}

// TestDialDANEWithVerifyConnection: TLSA records and a VerifyConnection of
// the caller's would both claim to decide; Dial refuses before connecting
// rather than pick one.
func TestDialDANEWithVerifyConnection(t *testing.T) {
	addr := mustNotConnect(t)
	d := &Dialer{
		TLSConfig: &tls.Config{VerifyConnection: func(tls.ConnectionState) error { return nil }},
		TLSA:      []dane.Record{tlsa(t, "3 1 1", []byte("x"))},
	}
	_, err := d.Dial(t.Context(), addr, requiredEnforce("mx.test"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TLSConfig.VerifyConnection are set")
	var pe *PolicyError
	assert.NotErrorAs(t, err, &pe)
}

// mustNotConnect returns a loopback address that fails the test when
// something connects to it.
func mustNotConnect(t *testing.T) string {
	t.Helper()
	return oneShotServer(t, func(net.Conn) { t.Error("the Dialer connected") })
}
