//go:build interop

package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
)

// daneHost is the TLSA base domain of the DANE tests.
const daneHost = "mx.dane.example"

// daneCert is a generated certificate and its PEM file.
type daneCert struct {
	cert *x509.Certificate
	file string
}

// pemFile writes c to a PEM file in dir named after name.
func pemFile(t *testing.T, dir, name string, c *x509.Certificate) *daneCert {
	t.Helper()
	file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600))
	return &daneCert{cert: c, file: file}
}

// danetool returns the RDATA GnuTLS's danetool --tlsa-rr prints for a
// certificate file, e.g. "( 03 01 01 ab... )", from its output line
// "_25._tcp.mx.dane.example. IN TLSA ( 03 01 01 ab... )".
func danetool(t *testing.T, file string, args ...string) string {
	t.Helper()
	args = append([]string{"--tlsa-rr", "--host=" + daneHost, "--port=25", "--load-certificate=" + file, "--quiet"}, args...)
	out, err := exec.Command("danetool", args...).CombinedOutput()
	require.NoError(t, err, "danetool %v: %s", args, out)
	line := strings.TrimSpace(string(out))
	owner := "_25._tcp." + daneHost + ". IN TLSA "
	require.True(t, strings.HasPrefix(line, owner), "danetool printed %q", line)
	return strings.TrimPrefix(line, owner)
}

// TestDANE cross-checks policy/dane with GnuTLS's danetool: for generated
// certificates (root CA, intermediate, leaf for mx.dane.example), every
// record danetool makes (DANE-EE(3) and DANE-TA(2), selectors Cert and
// SPKI, SHA2-256 and SHA2-512) parses as danetool writes it, equals the
// record computed from the RFC 6698 Section 2.1 definition, and
// authenticates a real TLS server through dane.VerifyConnection (RFC 7672
// Section 3.1.1, 3.1.2); the PKIX usages danetool makes with --no-domain
// are unusable for SMTP (RFC 7672 Section 3.1.3) and fail the handshake.
func TestDANE(t *testing.T) {
	_, err := exec.LookPath("danetool")
	require.NoError(t, err, "danetool (Debian gnutls-bin) is installed by interop/run")
	dir := t.TempDir()
	rootCA, err := testpki.NewCA("DANE Test Root")
	require.NoError(t, err)
	interCA, err := rootCA.Intermediate("DANE Test Intermediate")
	require.NoError(t, err)
	chain, err := interCA.Issue(time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), daneHost)
	require.NoError(t, err)
	chain.Certificate = append(chain.Certificate, interCA.Cert.Raw, rootCA.Cert.Raw)
	root, inter, leaf := pemFile(t, dir, "DANE Test Root", rootCA.Cert), pemFile(t, dir, "DANE Test Intermediate", interCA.Cert), pemFile(t, dir, daneHost, chain.Leaf)

	for _, tc := range []struct {
		name   string
		c      *daneCert
		args   []string
		want   string // usage selector matching type
		usable bool
	}{
		{"DANE-EE SPKI SHA2-256", leaf, nil, "3 1 1", true},
		{"DANE-EE SPKI SHA2-512", leaf, []string{"--hash=sha512"}, "3 1 2", true},
		{"DANE-EE Cert SHA2-256", leaf, []string{"--x509"}, "3 0 1", true},
		{"DANE-EE Cert SHA2-512", leaf, []string{"--x509", "--hash=sha512"}, "3 0 2", true},
		{"DANE-TA SPKI SHA2-256 root", root, []string{"--ca"}, "2 1 1", true},
		{"DANE-TA Cert SHA2-512 root", root, []string{"--ca", "--x509", "--hash=sha512"}, "2 0 2", true},
		{"DANE-TA Cert SHA2-256 intermediate", inter, []string{"--ca", "--x509"}, "2 0 1", true},
		{"DANE-TA SPKI SHA2-512 intermediate", inter, []string{"--ca", "--hash=sha512"}, "2 1 2", true},
		{"PKIX-EE SPKI SHA2-256", leaf, []string{"--no-domain"}, "1 1 1", false},
		{"PKIX-TA Cert SHA2-256", root, []string{"--ca", "--x509", "--no-domain"}, "0 0 1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdata := danetool(t, tc.c.file, tc.args...)
			rec, err := dane.ParseRecord(rdata)
			require.NoError(t, err, "danetool wrote %q", rdata)
			assert.Equal(t, tc.want, rec.String()[:5])
			assert.Equal(t, firstPrinciples(rec, tc.c.cert), rec.Data, "danetool and RFC 6698 Section 2.1 disagree")
			assert.Equal(t, tc.usable, rec.Usable())

			err = daneHandshake(t, chain, dane.VerifyConnection([]dane.Record{rec}, daneHost, nil))
			if tc.usable {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, dane.ErrUnusable)
		})
	}

	t.Run("DANE-TA record of another root", func(t *testing.T) {
		otherCA, err := testpki.NewCA("Other Root")
		require.NoError(t, err)
		other := pemFile(t, dir, "Other Root", otherCA.Cert)
		rec, err := dane.ParseRecord(danetool(t, other.file, "--ca"))
		require.NoError(t, err)
		err = daneHandshake(t, chain, dane.VerifyConnection([]dane.Record{rec}, daneHost, nil))
		assert.ErrorIs(t, err, dane.ErrNoMatch)
	})
	t.Run("DANE-TA with the wrong host name", func(t *testing.T) {
		rec, err := dane.ParseRecord(danetool(t, root.file, "--ca"))
		require.NoError(t, err)
		r := dane.Verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.cert, inter.cert, root.cert}},
			[]dane.Record{rec}, "mx.other.example", nil)
		assert.Equal(t, policy.CertNameMismatch, r.Cert, r.Detail)
	})
}

// firstPrinciples is the certificate association data RFC 6698 Section
// 2.1 defines for rec's selector and matching type.
func firstPrinciples(rec dane.Record, c *x509.Certificate) []byte {
	content := c.Raw
	if rec.Selector == dane.SelectorSPKI {
		content = c.RawSubjectPublicKeyInfo
	}
	switch rec.MatchingType {
	case dane.MatchSHA256:
		sum := sha256.Sum256(content)
		return sum[:]
	case dane.MatchSHA512:
		sum := sha512.Sum512(content)
		return sum[:]
	}
	return bytes.Clone(content)
}

// daneHandshake runs a TLS handshake over net.Pipe against a server that
// sends chain; the client verifies only with verify.
func daneHandshake(t *testing.T, chain tls.Certificate, verify func(tls.ConnectionState) error) error {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Server(s, &tls.Config{Certificates: []tls.Certificate{chain}}).HandshakeContext(context.Background())
		s.Close()
	}()
	err := tls.Client(c, &tls.Config{ServerName: daneHost, InsecureSkipVerify: true, VerifyConnection: verify}).
		HandshakeContext(context.Background())
	c.Close()
	<-done
	return err
}
