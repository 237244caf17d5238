package mtasts_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/mtasts"
)

func withMode(m mtasts.Mode) mtasts.Policy {
	return mtasts.Policy{Mode: m, MX: []string{"*.mail.protection.outlook.com", "mx.example.com"}, MaxAge: 604800}
}

// TestAuthE17 is the mode table of checklist E17: enforce validates a
// matching MX name; testing only with Options.Testing; none never; an MX
// that an enforce policy does not list must not be used (RFC 8461
// Section 5).
func TestAuthE17(t *testing.T) {
	on := &mtasts.Options{Testing: true}
	tests := []struct {
		name string
		mode mtasts.Mode
		mx   string
		opts *mtasts.Options
		want policy.Auth
		err  error
	}{
		{"enforce, match", mtasts.ModeEnforce, "contoso-com.mail.protection.outlook.com", nil, policy.AuthMTASTS, nil},
		{"enforce, match, trailing dot and case", mtasts.ModeEnforce, "MX.example.com.", nil, policy.AuthMTASTS, nil},
		{"enforce, match, testing option changes nothing", mtasts.ModeEnforce, "mx.example.com", on, policy.AuthMTASTS, nil},
		{"enforce, no match: refused", mtasts.ModeEnforce, "mx.attacker.example", nil, policy.AuthNone, mtasts.ErrMXNotAllowed},
		{"enforce, wildcard two labels deep: refused", mtasts.ModeEnforce, "a.b.mail.protection.outlook.com", nil, policy.AuthNone, mtasts.ErrMXNotAllowed},
		{"enforce, empty MX: refused", mtasts.ModeEnforce, "", nil, policy.AuthNone, mtasts.ErrMXNotAllowed},
		{"testing, match, no option", mtasts.ModeTesting, "mx.example.com", nil, policy.AuthNone, nil},
		{"testing, match, option off", mtasts.ModeTesting, "mx.example.com", &mtasts.Options{}, policy.AuthNone, nil},
		{"testing, match, option on", mtasts.ModeTesting, "mx.example.com", on, policy.AuthMTASTS, nil},
		{"testing, no match, option on: not refused", mtasts.ModeTesting, "mx.attacker.example", on, policy.AuthNone, nil},
		{"none, match", mtasts.ModeNone, "mx.example.com", on, policy.AuthNone, nil},
		{"none, no match: not refused", mtasts.ModeNone, "mx.attacker.example", nil, policy.AuthNone, nil},
		{"unknown mode", mtasts.Mode("Enforce"), "mx.example.com", on, policy.AuthNone, mtasts.ErrUnknownMode},
		{"zero mode", mtasts.Mode(""), "mx.example.com", on, policy.AuthNone, mtasts.ErrUnknownMode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := withMode(tc.mode).Auth(tc.mx, tc.opts)
			assert.Equal(t, tc.want, auth)
			if tc.err == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.err)
			}
		})
	}
}

func TestAuthErrorNamesTheMX(t *testing.T) {
	_, err := withMode(mtasts.ModeEnforce).Auth("mx.attacker.example", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"mx.attacker.example"`)
}

func TestCert(t *testing.T) {
	tests := []struct {
		name        string
		mx          string
		verifiedFor string
		err         error
		want        policy.Cert
	}{
		{"verified for the MX", "mx.example.com", "mx.example.com", nil, policy.CertAuthenticated},
		{"verified for the MX, case and trailing dot", "MX.example.com.", "mx.EXAMPLE.com", nil, policy.CertAuthenticated},
		{"verified for another name", "mx.example.com", "example.com", nil, policy.CertNameMismatch},
		{"verified for no name (x509 skips the name check)", "mx.example.com", "", nil, policy.CertNameMismatch},
		{"no MX name", "", "", nil, policy.CertNameMismatch},
		{"invalid MX name", "mx..example.com", "mx..example.com", nil, policy.CertNameMismatch},
		{"host name error", "mx.example.com", "mx.example.com", x509.HostnameError{Host: "mx.example.com"}, policy.CertNameMismatch},
		{"host name error inside a TLS error", "mx.example.com", "mx.example.com",
			&tls.CertificateVerificationError{Err: x509.HostnameError{Host: "mx.example.com"}}, policy.CertNameMismatch},
		{"unknown authority", "mx.example.com", "mx.example.com", x509.UnknownAuthorityError{}, policy.CertUntrusted},
		{"expired", "mx.example.com", "mx.example.com", x509.CertificateInvalidError{Reason: x509.Expired}, policy.CertUntrusted},
		{"any other error", "mx.example.com", "mx.example.com", errors.New("boom"), policy.CertUntrusted},
		{"wrapped other error", "mx.example.com", "mx.example.com", fmt.Errorf("tls: %w", errors.New("boom")), policy.CertUntrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mtasts.Cert(tc.mx, tc.verifiedFor, tc.err))
		})
	}
}

// handshake runs a real TLS handshake over loopback TCP: the server
// presents cert, the client trusts roots and verifies the name serverName.
// It returns the client's handshake error.
func handshake(t *testing.T, cert tls.Certificate, roots *x509.CertPool, serverName string) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		_ = tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	err = tls.Client(c, &tls.Config{RootCAs: roots, ServerName: serverName}).Handshake()
	c.Close()
	<-done
	return err
}

// TestCertFromHandshake (R15) feeds Cert the results of real handshakes
// (RFC 8461 Section 4.2: trusted chain, not expired, DNS-ID for the MX).
func TestCertFromHandshake(t *testing.T) {
	ca, err := testpki.NewCA("mtasts test CA")
	require.NoError(t, err)
	other, err := testpki.NewCA("untrusted CA")
	require.NoError(t, err)
	now := time.Now()
	good, err := ca.Issue(now.Add(-time.Hour), now.Add(time.Hour), "*.mail.protection.outlook.com")
	require.NoError(t, err)
	expired, err := ca.Issue(now.Add(-2*time.Hour), now.Add(-time.Hour), "mx.example.com")
	require.NoError(t, err)
	stranger, err := other.Issue(now.Add(-time.Hour), now.Add(time.Hour), "mx.example.com")
	require.NoError(t, err)

	tests := []struct {
		name string
		cert tls.Certificate
		mx   string
		want policy.Cert
	}{
		{"wildcard certificate for the MX", good, "contoso-com.mail.protection.outlook.com", policy.CertAuthenticated},
		{"wildcard certificate, MX two labels deep", good, "a.b.mail.protection.outlook.com", policy.CertNameMismatch},
		{"expired", expired, "mx.example.com", policy.CertUntrusted},
		{"untrusted CA", stranger, "mx.example.com", policy.CertUntrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(t, tc.cert, ca.Pool, tc.mx)
			assert.Equal(t, tc.want, mtasts.Cert(tc.mx, tc.mx, err), "%v", err)
		})
	}
}

// TestEvaluateWithMTASTS (R14, R15, E17) runs policy.Evaluate on the facts
// this package produces for a REQUIRETLS message under enforce (RFC 8689
// Section 2: an MX validated by MTA-STS and a PKIX-valid certificate for it).
func TestEvaluateWithMTASTS(t *testing.T) {
	const mx = "contoso-com.mail.protection.outlook.com"
	attempt := func(p mtasts.Policy, opts *mtasts.Options, certErr error) policy.Decision {
		auth, err := p.Auth(mx, opts)
		require.NoError(t, err)
		return policy.Evaluate(policy.Attempt{
			Tag: policy.Required, Level: policy.Enforce, Host: mx,
			Stage: policy.AfterTLSEHLO, Auth: auth,
			STARTTLSOffered: true, Handshake: policy.HandshakeOK,
			Cert:                mtasts.Cert(mx, mx, certErr),
			RequireTLSAnnounced: true,
		})
	}
	d := attempt(withMode(mtasts.ModeEnforce), nil, nil)
	assert.Equal(t, policy.SendRequireTLS, d.Action)

	// E17: a testing policy does not authenticate unless asked to.
	d = attempt(withMode(mtasts.ModeTesting), nil, nil)
	assert.Equal(t, policy.Bounce, d.Action)
	assert.Equal(t, policy.CodeEncryptionNeeded, d.Code)
	d = attempt(withMode(mtasts.ModeTesting), &mtasts.Options{Testing: true}, nil)
	assert.Equal(t, policy.SendRequireTLS, d.Action)

	// E17: none never does.
	d = attempt(withMode(mtasts.ModeNone), &mtasts.Options{Testing: true}, nil)
	assert.Equal(t, policy.Bounce, d.Action)

	// The MX name is validated but the certificate is not for it.
	d = attempt(withMode(mtasts.ModeEnforce), nil, x509.HostnameError{Host: mx})
	assert.Equal(t, policy.Bounce, d.Action)
	assert.Equal(t, policy.CodeEncryptionNeeded, d.Code)
}
