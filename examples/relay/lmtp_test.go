package main

import (
	"io"
	"log"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/runtest"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// store is an LMTP message store on a UNIX-domain socket, without TLS: it
// refuses after DATA, for the recipient, a message whose subject is "full".
type store struct {
	mu    sync.Mutex
	saved []string // MAIL FROM and REQUIRETLS, then the message
}

func (s *store) NewSession(*smtp.Conn) (smtp.Session, error) { return &storeSession{s: s}, nil }

type storeSession struct {
	s     *store
	from  string
	rcpts []string
}

func (s *storeSession) Mail(from string, opts *smtp.MailOptions) error {
	s.from, s.rcpts = from, nil
	if opts.RequireTLS {
		s.from += " REQUIRETLS"
	}
	return nil
}
func (s *storeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *storeSession) Data(io.Reader) error { return nil }
func (s *storeSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var refusal error
	if strings.Contains(string(b), "\r\nSubject: full\r\n") {
		refusal = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
	} else {
		s.s.mu.Lock()
		s.s.saved = append(s.s.saved, s.from+"\n"+string(b))
		s.s.mu.Unlock()
	}
	for _, rcpt := range s.rcpts {
		status.SetStatus(rcpt, refusal)
	}
	return nil
}
func (s *storeSession) Reset()        {}
func (s *storeSession) Logout() error { return nil }

func (s *store) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.saved...)
}

// startStore runs the store (go-smtp in LMTP mode behind requiretls.NewServer)
// and returns its socket's path.
func startStore(t *testing.T) (string, *store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	st := &store{}
	srv := requiretls.NewServer(st, nil)
	srv.LMTP = true
	srv.Domain = "store.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return path, st
}

// TestRelayLMTP runs the relay with -lmtp in front of a message store on a
// UNIX-domain socket without STARTTLS. Under the default
// lmtp_requiretls_policy (opportunistic) a REQUIRETLS message is delivered
// without REQUIRETLS and logged so; a refusal after DATA bounces with the
// store's code; under enforce nothing is sent and the message bounces
// with 5.7.10 (R12: the socket cannot be authenticated).
func TestRelayLMTP(t *testing.T) {
	p := runtest.NewPKI(t)
	socket, st := startStore(t)
	for _, tc := range []struct {
		name, policy, subject string
		wantStatus            tlsstatus.Status
		wantTLS, wantDSN      string
	}{
		{"opportunistic delivers without REQUIRETLS", "", "hello", tlsstatus.Sent, "may:none/requiretls:none", "2.0.0"},
		{"refused after DATA", "", "full", tlsstatus.Bounced, "may:none/requiretls:none", "5.2.2"},
		{"R12 enforce bounces before connecting", "enforce", "hello", tlsstatus.Bounced, "may?/!requiretls:nocertmatch", "5.7.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(st.all())
			bounces := t.TempDir()
			args := []string{"-lmtp", "-nexthop", "unix:" + socket, "-tls-level", "may", "-bounce-dir", bounces,
				"-hostname", "relay.test", "-cert", p.CertFile, "-key", p.KeyFile}
			if tc.policy != "" {
				args = append(args, "-policy", tc.policy)
			}
			out := runtest.NewLines()
			relay := startRelay(t, out, args...)
			msg := "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: " + tc.subject + "\r\n\r\n" + secret + "\r\n"
			require.NoError(t, send(t, relay, p.ClientTLS, "alice@example.org", true, msg))

			ds := deliveries(t, out.String())
			require.Len(t, ds, 1)
			assert.Equal(t, "relay/lmtp", ds[0].Program)
			assert.Equal(t, tc.wantStatus, ds[0].Status)
			assert.Equal(t, tc.wantTLS, ds[0].TLS.String())
			assert.Equal(t, tc.wantDSN, ds[0].DSN)
			saved := st.all()[before:]
			if tc.wantStatus == tlsstatus.Sent {
				assert.Equal(t, "relay.test["+socket+"]", ds[0].Relay)
				require.Len(t, saved, 1)
				assert.True(t, strings.HasPrefix(saved[0], "alice@example.org\n"), "no REQUIRETLS on the socket: %q", saved[0])
				assert.Empty(t, runtest.ReadEML(t, bounces))
				return
			}
			assert.Empty(t, saved)
			dsns := runtest.ReadEML(t, bounces)
			require.Len(t, dsns, 1)
			assert.Contains(t, dsns[0], "Status: "+tc.wantDSN)
			assert.NotContains(t, dsns[0], secret, "R46: headers only")
		})
	}
}

// TestRelayLMTPFlags: a socket next hop needs -lmtp and a path.
func TestRelayLMTPFlags(t *testing.T) {
	bounces := t.TempDir()
	runtest.AssertFails(t, run, "relay: -nexthop \"unix:/tmp/x\": a UNIX-domain socket needs -lmtp", "-nexthop", "unix:/tmp/x", "-bounce-dir", bounces)
	runtest.AssertFails(t, run, "relay: -nexthop \"unix:\": a UNIX-domain socket needs -lmtp", "-lmtp", "-nexthop", "unix:", "-bounce-dir", bounces)
}
