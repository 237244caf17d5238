package requiretls

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
)

// handshakeState runs a real TLS handshake over net.Pipe to a server with
// cert and returns the client's view of it, unverified, as custom delivery
// code has it after a handshake with InsecureSkipVerify.
func handshakeState(t *testing.T, cert tls.Certificate) tls.ConnectionState {
	t.Helper()
	c, s := net.Pipe()
	t.Cleanup(func() { c.Close(); s.Close() })
	srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
	go srv.Handshake()
	cli := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "ignored.example"})
	require.NoError(t, cli.Handshake())
	return cli.ConnectionState()
}

// TestVerifyCertificate (issue 15 item 4; R15 and issue 12 item 3): the
// check the Dialer makes, for custom delivery code, authenticates the MX
// name only, with the reason when it does not.
func TestVerifyCertificate(t *testing.T) {
	ca, err := testpki.NewCA("verify test CA")
	require.NoError(t, err)
	other, err := testpki.NewCA("another CA")
	require.NoError(t, err)
	now := time.Now()
	named, err := ca.Issue(now.Add(-time.Hour), now.Add(time.Hour), "mx.partner.example")
	require.NoError(t, err)
	ipOnly, err := ca.Issue(now.Add(-time.Hour), now.Add(time.Hour), "127.0.0.1")
	require.NoError(t, err)
	expired, err := ca.Issue(now.Add(-2*time.Hour), now.Add(-time.Hour), "mx.partner.example")
	require.NoError(t, err)

	trusting := &tls.Config{RootCAs: ca.Pool}
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		cfg  *tls.Config
		mx   string
		want policy.Cert
	}{
		{"certificate for the MX name", named, trusting, "mx.partner.example", policy.CertAuthenticated},
		{"trailing dot on the MX name", named, trusting, "mx.partner.example.", policy.CertAuthenticated},
		{"another name", named, trusting, "mx.other.example", policy.CertNameMismatch},
		{"IP-only certificate for a name", ipOnly, trusting, "mx.partner.example", policy.CertNameMismatch},
		{"IP-only certificate for that address literal", ipOnly, trusting, "[127.0.0.1]", policy.CertAuthenticated},
		{"chain from another CA", named, &tls.Config{RootCAs: other.Pool}, "mx.partner.example", policy.CertUntrusted},
		{"expired", expired, trusting, "mx.partner.example", policy.CertUntrusted},
		{"no MX name", named, trusting, "", policy.CertUntrusted},
		{"nil config: system roots do not know the test CA", named, nil, "mx.partner.example", policy.CertUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyCertificate(handshakeState(t, tc.cert), tc.cfg, tc.mx)
			assert.Equal(t, tc.want, got)
			if tc.want == policy.CertAuthenticated {
				assert.NoError(t, err)
				return
			}
			assert.Error(t, err, "a reason for the log")
			if tc.want == policy.CertNameMismatch {
				var he x509.HostnameError
				assert.ErrorAs(t, err, &he)
			}
		})
	}
	t.Run("no certificate at all", func(t *testing.T) {
		got, err := VerifyCertificate(tls.ConnectionState{}, trusting, "mx.partner.example")
		assert.Equal(t, policy.CertUntrusted, got)
		assert.Error(t, err)
	})
}
