package requiretls

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// R15 R16: errors.As with *smtp.SMTPError, the go-smtp idiom, yields the
// reply of the decision (its reason names the certificate check that
// failed), not the sentinel's generic text; errors.Is against the
// sentinels still matches.
func TestPolicyErrorAsGivesTheSpecificReply(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t) // a CA the client does not trust
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	required := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.test"}

	for _, tc := range []struct {
		name     string
		peer     peer
		sentinel *smtp.SMTPError
		reason   string
	}{
		{"R15 untrusted certificate", startPeer(t, other, true), ErrEncryptionNeeded, "no trusted server certificate was found"},
		{"R16 no REQUIRETLS after TLS", startPeer(t, pki, false), ErrSupportRequired, "no server was found that supports REQUIRETLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dialPeer(t, d, tc.peer.addr, required)
			var pe *PolicyError
			require.ErrorAs(t, err, &pe)
			wrapped := fmt.Errorf("relay: %w", err)

			var se *smtp.SMTPError
			require.ErrorAs(t, wrapped, &se)
			assert.Equal(t, pe.Reply(), se)
			assert.Contains(t, se.Message, tc.reason)
			assert.NotEqual(t, tc.sentinel.Message, se.Message)
			assert.ErrorIs(t, wrapped, tc.sentinel)
		})
	}
}

// A decision without a reply code leaves errors.As to the error behind it.
func TestPolicyErrorAsWithoutCode(t *testing.T) {
	behind := &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "going away"}
	err := error(&PolicyError{Err: behind})
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	assert.Same(t, behind, se)
}

// Conn is the whole sending side: Rcpt, Data, Quit and TLSConnectionState
// need no trip through Client, and TLSConnectionState tells the truth on a
// TLS session (Client's cannot: see Conn.Client).
func TestConnSendsAMessage(t *testing.T) {
	pki := newTestPKI(t)
	p := startPeer(t, pki, true)
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	c, err := dialPeer(t, d, p.addr, policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.test"})
	require.NoError(t, err)

	cs, ok := c.TLSConnectionState()
	require.True(t, ok)
	assert.True(t, cs.HandshakeComplete)
	assert.NotEmpty(t, cs.PeerCertificates)

	require.NoError(t, c.Mail("a@example.org", nil))
	require.NoError(t, c.Rcpt("b@example.org", nil))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, body)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Quit())

	msgs := mustMessages(p)
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].requireTLS)
	assert.Equal(t, body, msgs[0].data)
}

// Without TLS, TLSConnectionState says so.
func TestConnTLSConnectionStatePlaintext(t *testing.T) {
	p := startPeer(t, nil, false)
	c, err := dialPeer(t, &Dialer{}, p.addr, policy.Attempt{Host: "mx.test"})
	require.NoError(t, err)
	_, ok := c.TLSConnectionState()
	assert.False(t, ok)
}

// logBuffer collects JSON log records from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// records returns the records written so far, without their time.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		delete(rec, "time")
		out = append(out, rec)
	}
	return out
}

// DialContext opens the connection when it is set, for the address given
// to Dial; its error is Dial's.
func TestDialerDialContextHook(t *testing.T) {
	p := startPeer(t, nil, false)
	var calls []string
	d := &Dialer{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		calls = append(calls, network+" "+addr)
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}}
	_, err := dialPeer(t, d, p.addr, policy.Attempt{Host: "mx.test"})
	require.NoError(t, err)
	assert.Equal(t, []string{"tcp " + p.addr}, calls)

	refused := errors.New("proxy refused")
	d.DialContext = func(context.Context, string, string) (net.Conn, error) { return nil, refused }
	_, err = dialPeer(t, d, p.addr, policy.Attempt{Host: "mx.test"})
	assert.ErrorIs(t, err, refused)
}

// R16 (logged): one record per Dial, with the decision and the tls= field.
func TestDialerLogger(t *testing.T) {
	pki := newTestPKI(t)
	var logs logBuffer
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig(), Logger: logs.logger()}
	required := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.test"}

	reqtls := startPeer(t, pki, true)
	_, err := dialPeer(t, d, reqtls.addr, required)
	require.NoError(t, err)
	starttlsOnly := startPeer(t, pki, false)
	_, err = dialPeer(t, d, starttlsOnly.addr, required)
	require.Error(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	l.Close()
	_, err = dialPeer(t, d, closed, required)
	require.Error(t, err)

	recs := logs.records(t)
	require.Len(t, recs, 3)
	assert.Equal(t, map[string]any{"level": "INFO", "msg": "requiretls dial", "host": "mx.test", "addr": reqtls.addr,
		"action": "send-requiretls", "tls": "verify/requiretls"}, recs[0])
	assert.Equal(t, map[string]any{"level": "WARN", "msg": "requiretls dial", "host": "mx.test", "addr": starttlsOnly.addr,
		"action": "bounce", "tls": "verify/!requiretls:none", "code": "5.7.30",
		"reason": "Sender requested REQUIRETLS, but no server was found that supports REQUIRETLS. The last attempted server was mx.test",
		"error":  err2text(t, d, starttlsOnly.addr, required)}, recs[1])
	assert.Equal(t, "WARN", recs[2]["level"])
	assert.Contains(t, recs[2]["error"], "connect")
	assert.NotContains(t, recs[2], "action")
}

// err2text is the error text of dialling addr again, without a logger.
func err2text(t *testing.T, d *Dialer, addr string, a policy.Attempt) string {
	t.Helper()
	quiet := *d
	quiet.Logger = nil
	_, err := dialPeer(t, &quiet, addr, a)
	require.Error(t, err)
	return err.Error()
}

// R11 E5 (logged): the server glue writes one record per message, and one
// for a MAIL it refuses.
func TestServerLogger(t *testing.T) {
	pki := newTestPKI(t)
	var logs logBuffer
	addr, _ := startServer(t, pki, &ServerOptions{Logger: logs.logger()}, false)

	c := dialRaw(t, addr, nil)
	c.cmd("EHLO client.test")
	code, _ := c.cmd("MAIL FROM:<a@example.org> REQUIRETLS")
	require.Equal(t, 523, code)

	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	_, err := deliver(t, d, peer{addr: addr}, policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, Host: "localhost"})
	require.NoError(t, err)

	recs := logs.records(t)
	require.Len(t, recs, 2)
	assert.Equal(t, "WARN", recs[0]["level"])
	assert.Equal(t, true, recs[0]["requiretls"])
	assert.Equal(t, false, recs[0]["session_tls"])
	assert.Equal(t, ErrEncryptionNeeded.Error(), recs[0]["error"])
	assert.NotContains(t, recs[0], "tag")
	delete(recs[1], "remote")
	assert.Equal(t, map[string]any{"level": "INFO", "msg": "requiretls message", "session_tls": true, "requiretls": true, "tag": "required"}, recs[1])
}

// R45 R49: a DSN composed by dsn.Compose goes through the Dialer with the
// null reverse path; with Envelope.RequireTLS it is sent with REQUIRETLS to
// a next hop that has it and, being a bounce, still sent to one that has
// not (RFC 8689 Section 5), as ExampleDialer_Dial_bounce does.
func TestDialerSendsAComposedDSN(t *testing.T) {
	pki := newTestPKI(t)
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	for _, tc := range []struct {
		name    string
		wrapped bool
	}{{"next hop with REQUIRETLS", true}, {"next hop without REQUIRETLS", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var msg bytes.Buffer
			env, err := dsn.Compose(&msg, &dsn.Report{
				From: "MAILER-DAEMON@client.test", To: "b@example.org", ReportingMTA: "dns; client.test",
				Recipients:     []dsn.Recipient{{FinalRecipient: "rfc822; c@example.com", Action: dsn.ActionFailed, Status: "5.7.30"}},
				RequireTLS:     true,
				KeepRequireTLS: true,
			}, strings.NewReader(body))
			require.NoError(t, err)
			require.True(t, env.RequireTLS)

			p := startPeer(t, pki, tc.wrapped)
			c, err := dialPeer(t, d, p.addr, policy.Attempt{Tag: policy.Required, NullSender: true, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, Host: "mx.test"})
			require.NoError(t, err)
			require.NoError(t, c.Mail("", nil))
			require.NoError(t, c.Rcpt("b@example.org", nil))
			w, err := c.Data()
			require.NoError(t, err)
			_, err = msg.WriteTo(w)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			require.NoError(t, c.Quit())

			msgs := mustMessages(p)
			require.Len(t, msgs, 1)
			assert.Equal(t, "", msgs[0].from)
			assert.Equal(t, tc.wrapped, msgs[0].requireTLS)
			assert.Contains(t, msgs[0].data, "report-type=delivery-status")
			assert.NotContains(t, msgs[0].data, "Hello.")
		})
	}
}
