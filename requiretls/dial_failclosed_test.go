package requiretls

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// dialPeer dials p under a and returns the session, closed at cleanup.
func dialPeer(t *testing.T, d *Dialer, addr string, a policy.Attempt) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr, a)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// assertRefused checks that err is the typed refusal with the enhanced code
// want, usable with errors.Is and errors.As.
func assertRefused(t *testing.T, err error, want *smtp.SMTPError) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, want)
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, want.EnhancedCode, se.EnhancedCode, err.Error())
}

// R12 R13 R15 R16: an explicit REQUIRETLS on Conn.Mail that the dial-time
// decision did not grant is refused with a typed error and nothing is sent,
// never passed over in silence (RFC 8689 Section 4.2.1: MUST NOT transmit).
func TestConnMailRefusesUngrantedREQUIRETLS(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t) // a CA the client does not trust
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	untagged := policy.Attempt{Tag: policy.Default, Auth: policy.AuthStaticPKIX, Host: "localhost"}
	required := func(level policy.Level) policy.Attempt {
		return policy.Attempt{Tag: policy.Required, Level: level, Auth: policy.AuthStaticPKIX, Host: "localhost"}
	}
	for _, tc := range []struct {
		name string
		peer peer
		a    policy.Attempt
		want *smtp.SMTPError
	}{
		{"R13 untagged, plaintext: 5.7.10", startPeer(t, nil, true), untagged, ErrEncryptionNeeded},
		{"R15 untagged, untrusted certificate: 5.7.10", startPeer(t, other, true), untagged, ErrEncryptionNeeded},
		{"R16 untagged, no REQUIRETLS after TLS: 5.7.30", startPeer(t, pki, false), untagged, ErrSupportRequired},
		{"untagged, every condition met: 5.7.30, not dialled for it", startPeer(t, pki, true), untagged, ErrSupportRequired},
		{"R16 Required, opportunistic downgrade: 5.7.30", startPeer(t, pki, false), required(policy.Opportunistic), ErrSupportRequired},
		{"R13 Required, opportunistic in plaintext: 5.7.10", startPeer(t, nil, true), required(policy.Opportunistic), ErrEncryptionNeeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialPeer(t, d, tc.peer.addr, tc.a)
			require.NoError(t, err)
			require.Equal(t, policy.SendWithout, c.Decision.Action)
			err = c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true})
			assertRefused(t, err, tc.want)
			// The session is still usable: RSET is answered, so MAIL
			// was never sent rather than lost on a dead connection.
			require.NoError(t, c.Client.Reset())
			mails, _ := tc.peer.rec.snapshot()
			assert.Empty(t, mails, "no MAIL FROM reached the server")
		})
	}
}

// R12: on a session dialled for a Required message whose decision is
// SendRequireTLS, REQUIRETLS is sent whatever MailOptions.RequireTLS says: a
// false there (go-smtp's zero value, which cannot say "explicitly not")
// never removes the tag's request.
func TestConnMailKeepsTheTagsREQUIRETLS(t *testing.T) {
	pki := newTestPKI(t)
	p := startPeer(t, pki, true)
	d := &Dialer{TLSConfig: pki.ClientConfig()}
	for _, opts := range []*smtp.MailOptions{nil, {}, {RequireTLS: true}} {
		c, err := dialPeer(t, d, p.addr, policy.Attempt{Tag: policy.Required, Auth: policy.AuthStaticPKIX, Host: "localhost"})
		require.NoError(t, err)
		require.Equal(t, policy.SendRequireTLS, c.Decision.Action)
		require.NoError(t, c.Mail("a@example.org", opts))
		require.NoError(t, c.Rcpt("b@example.org", nil))
		w, err := c.Data()
		require.NoError(t, err)
		_, err = io.WriteString(w, body)
		require.NoError(t, err)
		require.NoError(t, w.Close())
	}
	msgs := mustMessages(p)
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		assert.True(t, m.requireTLS)
	}
}

// issued returns a next hop whose certificate, signed by a fresh CA, names
// only hosts, and a client configuration trusting that CA with no
// ServerName.
func issued(t *testing.T, hosts ...string) (*testpki.Localhost, *tls.Config) {
	t.Helper()
	ca, err := testpki.NewCA("go-requiretls name test CA")
	require.NoError(t, err)
	cert, err := ca.Issue(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), hosts...)
	require.NoError(t, err)
	return &testpki.Localhost{Roots: ca.Pool, Server: cert}, &tls.Config{RootCAs: ca.Pool}
}

// R15 (RFC 8689 Section 4.2.1 steps 3 and 4, RFC 7817 Section 3): the
// certificate must name the MX host (Attempt.Host), not the address dialled.
func TestDialerVerifiesTheHostNotTheAddress(t *testing.T) {
	enforce := func(host string) policy.Attempt {
		return policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: host}
	}
	t.Run("IP-only certificate, MX name: not authenticated, 5.7.10", func(t *testing.T) {
		pki, cfg := issued(t, "127.0.0.1")
		p := startPeer(t, pki, true)
		_, err := dialPeer(t, &Dialer{TLSConfig: cfg}, p.addr, enforce("mx.partner.example"))
		var pe *PolicyError
		require.ErrorAs(t, err, &pe)
		assert.ErrorIs(t, err, ErrEncryptionNeeded)
		assert.Equal(t, policy.CertNameMismatch, pe.Attempt.Cert)
		mails, _ := p.rec.snapshot()
		assert.Empty(t, mails)
	})
	t.Run("certificate for the MX name: authenticated", func(t *testing.T) {
		pki, cfg := issued(t, "mx.partner.example")
		sni := make(chan string, 1)
		server := pki.ServerConfig()
		server.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) { sni <- h.ServerName; return nil, nil }
		p := startPeerConfig(t, server)
		c, err := dialPeer(t, &Dialer{TLSConfig: cfg}, p.addr, enforce("mx.partner.example."))
		require.NoError(t, err)
		assert.Equal(t, policy.CertAuthenticated, c.Attempt.Cert)
		assert.Equal(t, policy.SendRequireTLS, c.Decision.Action)
		assert.Equal(t, "mx.partner.example", <-sni, "SNI names the MX host")
	})
	t.Run("IP literal Host: the IP is the name", func(t *testing.T) {
		pki, cfg := issued(t, "127.0.0.1")
		p := startPeer(t, pki, true)
		for _, host := range []string{"127.0.0.1", "[127.0.0.1]"} {
			c, err := dialPeer(t, &Dialer{TLSConfig: cfg}, p.addr, enforce(host))
			require.NoError(t, err, host)
			assert.Equal(t, policy.CertAuthenticated, c.Attempt.Cert, host)
		}
	})
	t.Run("explicit ServerName wins", func(t *testing.T) {
		pki, cfg := issued(t, "127.0.0.1")
		p := startPeer(t, pki, true)
		cfg.ServerName = "127.0.0.1"
		c, err := dialPeer(t, &Dialer{TLSConfig: cfg}, p.addr, enforce("mx.partner.example"))
		require.NoError(t, err)
		assert.Equal(t, policy.CertAuthenticated, c.Attempt.Cert)
	})
	t.Run("no name at all: not authenticated", func(t *testing.T) {
		pki, cfg := issued(t, "127.0.0.1")
		p := startPeer(t, pki, true)
		a := enforce("")
		a.Level, a.TLSLevel = policy.Opportunistic, tlsstatus.May
		c, err := dialPeer(t, &Dialer{TLSConfig: cfg}, p.addr, a)
		require.NoError(t, err)
		assert.NotEqual(t, policy.CertAuthenticated, c.Attempt.Cert)
		assert.Error(t, c.CertErr)
	})
}

// startPeerConfig is startPeer (wrapped, STARTTLS) with a given server TLS
// configuration.
func startPeerConfig(t *testing.T, cfg *tls.Config) peer {
	t.Helper()
	rec := &recorder{}
	s := NewServer(rec, nil)
	s.Domain = "mx.test"
	s.TLSConfig = cfg
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return peer{addr: l.Addr().String(), rec: rec}
}

// serverNameCases map an Attempt.Host to the name its certificate must
// carry; "" is no name, so no certificate is authenticated.
var serverNameCases = []struct{ host, want string }{
	{"mx.partner.example", "mx.partner.example"},
	{"mx.partner.example.", "mx.partner.example"},
	{"MX.Partner.Example", "MX.Partner.Example"},
	{"[192.0.2.7]", "192.0.2.7"},
	{"192.0.2.7", "192.0.2.7"},
	{"[IPv6:2001:db8::1]", "2001:db8::1"},
	{"[ipv6:2001:db8::1]", "2001:db8::1"},
	{"2001:db8::1", "2001:db8::1"},
	{"", ""},
	{".", ""},
	{"[]", ""},
	{"[mx.example]", ""},     // brackets hold an address literal only
	{"mx..example", ""},      // empty label
	{"[192.0.2.7", ""},       // unbalanced
	{"mx.example..", ""},     // two trailing dots
	{"mx example", ""},       // not a name
	{"[IPv6:192.0.2.7]", ""}, // IPv6: tag on an IPv4 address
}

func TestServerName(t *testing.T) {
	for _, tc := range serverNameCases {
		t.Run(tc.host, func(t *testing.T) {
			assert.Equal(t, tc.want, serverName(tc.host))
		})
	}
}

// FuzzServerName checks that serverName never panics and that a name it
// returns is a fixed point: no trailing dot, no brackets left to strip.
func FuzzServerName(f *testing.F) {
	for _, tc := range serverNameCases {
		f.Add(tc.host)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n := serverName(h)
		if n == "" {
			return
		}
		if again := serverName(n); again != n {
			t.Fatalf("serverName(%q) = %q, but serverName(%q) = %q", h, n, n, again)
		}
		if strings.HasSuffix(n, ".") || strings.ContainsAny(n, "[] ") {
			t.Fatalf("serverName(%q) = %q", h, n)
		}
	})
}

// R5 (RFC 5321 Section 2.4: keywords are case-insensitive): a next hop that
// announces "requiretls" in lower case after TLS gets the message with the
// REQUIRETLS parameter, and the log field says so truthfully.
func TestDialerLowerCaseKeywordR5(t *testing.T) {
	pki := newTestPKI(t)
	got := make(chan string, 8)
	addr := oneShotServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		io.WriteString(c, "220 mx.test\r\n")
		r.ReadString('\n') // EHLO
		io.WriteString(c, "250-mx.test\r\n250 starttls\r\n")
		r.ReadString('\n') // STARTTLS
		io.WriteString(c, "220 go ahead\r\n")
		tc := tls.Server(c, pki.ServerConfig())
		tr := bufio.NewReader(tc)
		for {
			line, err := tr.ReadString('\n')
			if err != nil {
				close(got)
				return
			}
			line = strings.TrimRight(line, "\r\n")
			got <- line
			switch {
			case strings.HasPrefix(line, "EHLO"):
				io.WriteString(tc, "250-mx.test\r\n250-size 1000\r\n250 requiretls\r\n")
			case strings.HasPrefix(line, "QUIT"):
				io.WriteString(tc, "221 bye\r\n")
			default:
				io.WriteString(tc, "250 ok\r\n")
			}
		}
	})
	d := &Dialer{TLSConfig: pki.ClientConfig()}
	c, err := dialPeer(t, d, addr, policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "localhost"})
	require.NoError(t, err)
	require.Equal(t, policy.SendRequireTLS, c.Decision.Action)
	assert.Equal(t, "verify/requiretls", c.Field().String())
	require.NoError(t, c.Mail("a@example.org", nil))
	require.NoError(t, c.Quit())
	var lines []string
	for l := range got {
		lines = append(lines, l)
	}
	assert.Equal(t, []string{"EHLO localhost", "MAIL FROM:<a@example.org> REQUIRETLS", "QUIT"}, lines,
		"one EHLO under TLS, the one the policy judged; MAIL carries REQUIRETLS")
}

// A LocalName with a line break would end the EHLO command and start
// another (command injection): Dial refuses it before connecting.
func TestDialerRefusesLineBreakInLocalName(t *testing.T) {
	pki := newTestPKI(t)
	p := startPeer(t, pki, true)
	for _, name := range []string{"client.test\r\nMAIL FROM:<x@example.org>", "a\nb", "a\rb"} {
		_, err := dialPeer(t, &Dialer{LocalName: name, TLSConfig: pki.ClientConfig()}, p.addr, policy.Attempt{Host: "localhost"})
		assert.Error(t, err, "%q", name)
	}
	mails, _ := p.rec.snapshot()
	assert.Empty(t, mails)
}
