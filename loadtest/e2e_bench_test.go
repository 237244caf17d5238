package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// BenchmarkOneMessagePerConnection sends one REQUIRETLS message per
// connection over loopback with STARTTLS and a verified certificate, end
// to end: "wrapped" is our requiretls.Dialer (policy decision, tls= field)
// against a go-smtp server wrapped by requiretls.NewBackend; "unwrapped" is
// plain go-smtp, smtp.DialStartTLS with MAIL ... REQUIRETLS, against a plain
// go-smtp server. "handshake" only connects and does the same TLS handshake
// (same certificates, same TLS versions) and closes, so that wrapped and
// unwrapped can be read against the share TLS takes. Client and server run
// in this process: time and allocations count both sides.
func BenchmarkOneMessagePerConnection(b *testing.B) {
	pki := testPKI()
	required := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "localhost"}
	for _, c := range []struct {
		name    string
		wrapped bool
	}{{"wrapped", true}, {"unwrapped", false}} {
		b.Run(c.name, func(b *testing.B) {
			st := newStore()
			srv := startServer(b, st, c.wrapped, nil, nil)
			defer srv.stop(b)
			d := &requiretls.Dialer{LocalName: "client.loadtest", TLSConfig: pki.ClientConfig(), Timeout: 30 * time.Second}
			b.ReportAllocs()
			id := 0
			for b.Loop() {
				var err error
				if c.wrapped {
					err = sendWrapped(d, srv.startTLSAddr, required, id)
				} else {
					err = sendPlain(srv.startTLSAddr, pki.ClientConfig(), id)
				}
				if err != nil {
					b.Fatal(err)
				}
				id += int(kinds) // every message is kindRequired
			}
			b.StopTimer()
			msgs, _, _, failed := st.snapshot()
			require.Len(b, msgs, id/int(kinds), "every message stored")
			require.Zero(b, failed)
		})
	}
	b.Run("handshake", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			cfg := pki.ServerConfig()
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				tc := tls.Server(conn, cfg)
				_ = tc.Handshake()
				tc.Close()
			}
		}()
		defer func() { l.Close(); <-done }()
		cfg := pki.ClientConfig()
		b.ReportAllocs()
		for b.Loop() {
			conn, err := tls.Dial("tcp", l.Addr().String(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			conn.Close()
		}
	})
}

// sendWrapped sends message id with our Dialer: Dial decides, Conn sends.
func sendWrapped(d *requiretls.Dialer, addr string, a policy.Attempt, id int) error {
	c, err := d.Dial(context.Background(), addr, a)
	if err != nil {
		return err
	}
	defer c.Close()
	if c.Decision.Action != policy.SendRequireTLS {
		return errors.New("not sent with REQUIRETLS: " + c.Decision.Action.String())
	}
	return sendOn(c, id)
}

// sendPlain sends message id with go-smtp alone.
func sendPlain(addr string, cfg *tls.Config, id int) error {
	c, err := smtp.DialStartTLS(addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return sendOn(c, id)
}

// mailer is what *requiretls.Conn and *smtp.Client have in common.
type mailer interface {
	Mail(from string, opts *smtp.MailOptions) error
	Rcpt(to string, opts *smtp.RcptOptions) error
	Data() (*smtp.DataCommand, error)
	Quit() error
}

// sendOn sends message id with REQUIRETLS on c and quits.
func sendOn(c mailer, id int) error {
	if err := c.Mail("alice@example.org", &smtp.MailOptions{RequireTLS: true}); err != nil {
		return err
	}
	if err := c.Rcpt("bob@example.net", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if err := message(w, id); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
