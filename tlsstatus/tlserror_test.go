package tlsstatus

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
)

// leaf issues a server certificate for name, valid from notBefore to notAfter.
func leaf(t *testing.T, ca *testpki.CA, name string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	c, err := ca.Issue(notBefore, notAfter, name)
	require.NoError(t, err)
	return c
}

// handshake runs a real TLS handshake over loopback TCP (buffered, unlike
// net.Pipe, where a client alert and the server's flight would deadlock)
// and returns the client's error.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) error {
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
		srv := tls.Server(s, server)
		if srv.Handshake() == nil {
			// Wait for the client to hang up, so its verification error
			// (not a reset) is what it reports.
			_, _ = srv.Read(make([]byte, 1))
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	err = tls.Client(c, client).Handshake()
	c.Close()
	<-done
	return err
}

// TestClassifyTLSError maps the errors of real handshakes to what Postfix
// logs: RFC 8689 Section 4.2.1 step 4 (R27.4) fails with
// "!requiretls:nocertmatch" under enforce; other handshake failures leave
// the outcome undecided ("requiretls?").
func TestClassifyTLSError(t *testing.T) {
	ca, err := testpki.NewCA("tlsstatus test CA")
	require.NoError(t, err)
	other, err := testpki.NewCA("tlsstatus test CA")
	require.NoError(t, err)
	now := time.Now()
	good := leaf(t, ca, "mx.example.net", now.Add(-time.Hour), now.Add(time.Hour))
	expired := leaf(t, ca, "mx.example.net", now.Add(-2*time.Hour), now.Add(-time.Hour))
	notYet := leaf(t, ca, "mx.example.net", now.Add(time.Hour), now.Add(2*time.Hour))
	untrusted := leaf(t, other, "mx.example.net", now.Add(-time.Hour), now.Add(time.Hour))

	nocertmatch := Feature{Name: RequireTLS, Final: NoCertMatch, Violation: true}
	undecided := Feature{Name: RequireTLS, Undecided: true}
	tests := []struct {
		name       string
		cert       tls.Certificate
		serverName string
		server     func(*tls.Config)
		want       TLSFailure
	}{
		{"R27.4 verified", good, "mx.example.net", nil, TLSFailure{}},
		{"R27.4 unknown authority", untrusted, "mx.example.net", nil, TLSFailure{nocertmatch, ReasonCertificateNotTrusted}},
		{"R27.4 hostname mismatch", good, "mx.example.org", nil, TLSFailure{nocertmatch, ReasonCertificateHostMismatch}},
		{"R27.4 expired", expired, "mx.example.net", nil, TLSFailure{nocertmatch, ReasonCertificateExpired}},
		{"R27.4 not yet valid", notYet, "mx.example.net", nil, TLSFailure{nocertmatch, ReasonCertificateExpired}},
		{"handshake failure, no common version", good, "mx.example.net",
			func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13 }, TLSFailure{Feature: undecided}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := &tls.Config{Certificates: []tls.Certificate{tt.cert}}
			if tt.server != nil {
				tt.server(server)
			}
			client := &tls.Config{RootCAs: ca.Pool, ServerName: tt.serverName, MaxVersion: tls.VersionTLS13}
			if tt.server != nil {
				client.MaxVersion = tls.VersionTLS12
			}
			err := handshake(t, server, client)
			if tt.want == (TLSFailure{}) {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			got := ClassifyTLSError(err)
			assert.Equal(t, tt.want, got, "%v", err)
			// Wrapped, as go-smtp's StartTLS or a delivery loop would.
			if err != nil {
				assert.Equal(t, tt.want, ClassifyTLSError(fmt.Errorf("smtp: starttls: %w", err)))
			}
		})
	}
}

// TestClassifyTLSErrorNotTLS: a peer that does not speak TLS and a
// connection lost mid-handshake are undecided, like Postfix's "Cannot
// start TLS: handshake failure".
func TestClassifyTLSErrorNotTLS(t *testing.T) {
	c, s := net.Pipe()
	go func() {
		buf := make([]byte, 1<<16) // the whole ClientHello in one read
		_, _ = s.Read(buf)
		_, _ = s.Write([]byte("220 mx.example.net ESMTP not TLS at all\r\n"))
		s.Close()
	}()
	err := tls.Client(c, &tls.Config{ServerName: "mx.example.net"}).Handshake()
	c.Close()
	require.Error(t, err)
	assert.Equal(t, TLSFailure{Feature: Feature{Name: RequireTLS, Undecided: true}}, ClassifyTLSError(err))

	c2, s2 := net.Pipe()
	s2.Close()
	err = tls.Client(c2, &tls.Config{ServerName: "mx.example.net"}).Handshake()
	require.Error(t, err)
	assert.Equal(t, "requiretls?", ClassifyTLSError(err).Feature.String())
}

func TestClassifyTLSErrorOtherX509(t *testing.T) {
	for _, err := range []error{
		x509.CertificateInvalidError{Reason: x509.NameConstraintsWithoutSANs},
		x509.ConstraintViolationError{},
		x509.UnhandledCriticalExtension{},
		x509.SystemRootsError{},
		&tls.CertificateVerificationError{Err: errors.New("custom VerifyConnection check")},
	} {
		got := ClassifyTLSError(err)
		assert.Equal(t, ReasonValidationFailure, got.Reason, "%T", err)
		assert.Equal(t, "!requiretls:nocertmatch", got.Feature.String(), "%T", err)
	}
	assert.Equal(t, TLSFailure{}, ClassifyTLSError(nil))

	// Pointer forms, as some callers wrap the x509 errors.
	assert.Equal(t, ReasonCertificateExpired, ClassifyTLSError(&x509.CertificateInvalidError{Reason: x509.Expired}).Reason)
	assert.Equal(t, ReasonCertificateNotTrusted, ClassifyTLSError(fmt.Errorf("x: %w", &x509.UnknownAuthorityError{})).Reason)
	assert.Equal(t, ReasonCertificateHostMismatch, ClassifyTLSError(&x509.HostnameError{Host: "a"}).Reason)
}
