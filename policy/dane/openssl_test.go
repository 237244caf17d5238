package dane_test

import (
	"bytes"
	"encoding/pem"
	"github.com/requiretls/go-requiretls/internal/ciskip"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
)

// openssl runs the openssl command with stdin and returns its stdout.
func openssl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "openssl %v: %s", args, stderr.String())
	return out
}

// opensslTLSA makes the certificate association data with openssl alone,
// the way operators do: x509 -outform DER for the certificate, x509 -pubkey
// then pkey -outform DER for the SPKI, dgst -sha256/-sha512 for digests.
func opensslTLSA(t *testing.T, u dane.Usage, s dane.Selector, m dane.MatchingType, certPEM []byte) dane.Record {
	content := openssl(t, certPEM, "x509", "-outform", "DER")
	if s == dane.SelectorSPKI {
		pub := openssl(t, certPEM, "x509", "-pubkey", "-noout")
		content = openssl(t, pub, "pkey", "-pubin", "-outform", "DER")
	}
	switch m {
	case dane.MatchSHA256:
		content = openssl(t, content, "dgst", "-sha256", "-binary")
	case dane.MatchSHA512:
		content = openssl(t, content, "dgst", "-sha512", "-binary")
	}
	return dane.Record{Usage: u, Selector: s, MatchingType: m, Data: content}
}

// Cross-check with OpenSSL: the records OpenSSL computes for the generated
// certificates are the ones the tests compute from first principles, and
// they authenticate the server (E15 for DANE-EE). Skipped only when there
// is no openssl command; the pure-Go tests cover every case without it.
func TestOpenSSLRecords(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		ciskip.Skip(t, "openssl not installed: cross-check skipped; first-principles tests still ran")
	}
	h := newHierarchy(t)
	cs := state(h.leaf, h.inter, h.root)
	for _, tc := range []struct {
		usage  dane.Usage
		target *node
	}{{dane.UsageDANEEE, h.leaf}, {dane.UsageDANETA, h.inter}, {dane.UsageDANETA, h.root}} {
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.target.cert.Raw})
		for _, s := range selectors {
			for _, m := range matchings {
				rec := opensslTLSA(t, tc.usage, s, m, certPEM)
				t.Run(rec.String()[:5]+" "+tc.target.cert.Subject.CommonName, func(t *testing.T) {
					assert.Equal(t, tlsa(tc.usage, s, m, tc.target.cert), rec)
					parsed, err := dane.ParseRecord(rec.String())
					require.NoError(t, err)
					r := dane.Verify(cs, []dane.Record{parsed}, host, nil)
					assert.Equal(t, policy.CertAuthenticated, r.Cert, r.Detail)
				})
			}
		}
	}
}
