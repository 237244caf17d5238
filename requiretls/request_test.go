package requiretls

import (
	"errors"
	"github.com/requiretls/go-requiretls/internal/ciskip"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
)

func mustTable(t *testing.T, s string) *RequestTable {
	t.Helper()
	tb, err := ParseRequestTable(s, nil)
	require.NoError(t, err, s)
	return tb
}

var requestTableCases = []struct {
	name, table, key string
	want             bool
}{
	{"cidr hit", "cidr:{ {10.0.0.0/8 enforce} }", "10.1.2.3", true},
	{"cidr miss", "cidr:{ {10.0.0.0/8 enforce} }", "192.0.2.1", false},
	{"cidr IPv6", "cidr:{ {::1/128 enforce} }", "::1", true},
	{"cidr exemption before a wider rule", "cidr:{ {10.9.0.0/16 disable} {10.0.0.0/8 enforce} }", "10.9.1.1", false},
	{"inline parent domain", "inline:{ {.lawfirm.example = enforce} }", "mail.lawfirm.example", true},
	{"inline exact, upper case key", "inline:{ {lawfirm.example = enforce} }", "LawFirm.Example", true},
	{"inline miss", "inline:{ {lawfirm.example = enforce} }", "other.example", false},
	{"regexp", "regexp:{ {/^partner-/ enforce} }", "partner-7", true},
	{"static", "static:enforce", "anything.example", true},
	{"final atom", "inline:{ {a.example = disable} } enforce", "b.example", true},
	{"explicit disable", "inline:{ {a.example = disable} } enforce", "a.example", false},
	{"empty policy", "", "a.example", false},
	{"comment line last", "static:disable\n # enforce", "a.example", false},
	// Fail closed: anything but "disable" requests REQUIRETLS.
	{"the word require", "inline:{ {a.example = require} }", "a.example", true},
	{"another atom", "inline:{ {a.example = opportunistic} }", "a.example", true},
	{"a table that fails", "hash:/etc/postfix/request", "a.example", true},
	{"key the lookup cannot read", "static:disable", "alice@example.com", true},
	{"empty key", "static:disable", "", true},
}

func TestRequestTable(t *testing.T) {
	for _, tc := range requestTableCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mustTable(t, tc.table).Requests(tc.key))
		})
	}
	var nilTable *RequestTable
	assert.False(t, nilTable.Requests("a.example"), "a nil table is not looked up")
}

func TestRequestTableErrors(t *testing.T) {
	for _, s := range []string{"cidr:{ {10.0.0.1/8 enforce} }", "inline:{ {a.example = enforce}", "$undefined", "cidr:/etc/request.cidr"} {
		_, err := ParseRequestTable(s, nil)
		var pe *policy.ParseError
		if assert.True(t, errors.As(err, &pe), "%q: %v", s, err) {
			assert.Equal(t, s, pe.Input, "the error quotes what the caller wrote")
			assert.NotContains(t, err.Error(), "disable")
		}
	}
}

func FuzzParseRequestTable(f *testing.F) {
	for _, tc := range requestTableCases {
		f.Add(tc.table, tc.key)
	}
	f.Fuzz(func(t *testing.T, s, key string) {
		tb, err := ParseRequestTable(s, nil)
		if err != nil {
			return
		}
		if !tb.Requests(key) {
			// Only "disable" or no match says no: the key must then be
			// one the lookup reads (fail closed on the rest).
			readable := policy.New(policy.Atom(policy.Disable)).Lookup(key) == policy.Disable
			require.True(t, readable, "unreadable key %q not requested", key)
		}
	})
}

// idRecorder is authRecorder (server_test.go) whose sessions also report
// the AuthIdentity of a successful AUTH.
type idRecorder struct{ recorder }

type idSession struct{ *authSession_ }

func (r *idRecorder) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &idSession{&authSession_{recSession: &recSession{r: &r.recorder}}}, nil
}
func (s *idSession) AuthIdentity() string { return s.user }

// startRequestServer runs be wrapped with opts on laddr, with STARTTLS.
func startRequestServer(t *testing.T, pki *testpki.Localhost, be smtp.Backend, opts *ServerOptions, laddr string) string {
	t.Helper()
	s := NewServer(be, opts)
	s.Domain = "mx.test"
	s.TLSConfig = pki.ServerConfig()
	s.AllowInsecureAuth = false
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", laddr)
	if err != nil && strings.HasPrefix(laddr, "[::1]") {
		ciskip.Skip(t, "no IPv6 loopback: "+err.Error())
	}
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// sendTLS sends one message without REQUIRETLS after STARTTLS, with AUTH
// PLAIN as user unless user is "", and returns the error of SendMail.
func sendTLS(t *testing.T, pki *testpki.Localhost, addr, user, from string, to []string, msg string) error {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, pki.ClientConfig())
	require.NoError(t, err)
	defer c.Close()
	if user != "" {
		require.NoError(t, c.Auth(sasl.NewPlainClient("", user, "secret")))
	}
	return c.SendMail(from, to, strings.NewReader(msg))
}

// RFC 8689 Section 4.1 (R23): a message the request policy selects by its
// client's network is tagged Required, over IPv4 and IPv6 loopback, and its
// Received field says so; the wrapped session's MailOptions are unchanged.
func TestRequestClientNetworkR23(t *testing.T) {
	for _, laddr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(laddr, func(t *testing.T) {
			pki := newTestPKI(t)
			rec := &recorder{}
			opts := &ServerOptions{Received: true, Request: &RequestPolicy{
				Client: mustTable(t, "cidr:{ {127.0.0.0/8 enforce} {::1/128 enforce} }")}}
			addr := startRequestServer(t, pki, rec, opts, laddr)
			require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org"}, body))
			_, msgs := rec.snapshot()
			require.Len(t, msgs, 1)
			assert.Equal(t, policy.Required, msgs[0].tag)
			assert.False(t, msgs[0].requireTLS, "MAIL did not carry REQUIRETLS")
			assert.Contains(t, msgs[0].data, "with ESMTPS (requiretls)")
		})
	}
}

func TestRequestClientNetworkMiss(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	opts := &ServerOptions{Received: true, Request: &RequestPolicy{Client: mustTable(t, "cidr:{ {10.0.0.0/8 enforce} }")}}
	addr := startRequestServer(t, pki, rec, opts, "127.0.0.1:0")
	require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org"}, body))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 1)
	assert.Equal(t, policy.Default, msgs[0].tag)
	assert.NotContains(t, msgs[0].data, "requiretls")
}

// RFC 8689 Section 4.1 (R25): REQUIRETLS wins over "TLS-Required: No" for
// a message tagged by the request policy too, and the field is passed on,
// as for a message whose MAIL carried REQUIRETLS.
func TestRequestWinsOverTLSRequiredNoR25(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	opts := &ServerOptions{Request: &RequestPolicy{Sender: mustTable(t, "inline:{ {.lawfirm.example = enforce} }")}}
	addr := startRequestServer(t, pki, rec, opts, "127.0.0.1:0")
	msg := "TLS-Required: No\r\n" + body
	require.NoError(t, sendTLS(t, pki, addr, "", "partner@mail.lawfirm.example", []string{"b@example.org"}, msg))
	require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org"}, msg))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 2)
	assert.Equal(t, policy.Required, msgs[0].tag)
	assert.Equal(t, msg, msgs[0].data, "TLS-Required: No is kept, and ignored")
	assert.Equal(t, policy.NotRequired, msgs[1].tag, "another sender's TLS-Required: No still counts")
}

// A request policy never lowers a requirement: REQUIRETLS on MAIL stays,
// whatever the tables say.
func TestRequestNeverLowers(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	disable := mustTable(t, "static:disable")
	opts := &ServerOptions{Request: &RequestPolicy{Client: disable, Sender: disable, Recipient: disable}}
	addr := startRequestServer(t, pki, rec, opts, "127.0.0.1:0")
	c, err := smtp.DialStartTLS(addr, pki.ClientConfig())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Mail("a@example.org", &smtp.MailOptions{RequireTLS: true}))
	require.NoError(t, c.Rcpt("b@example.org", nil))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, "TLS-Required: No\r\n"+body)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 1)
	assert.Equal(t, policy.Required, msgs[0].tag)
}

// The null reverse path is not looked up in the Sender table.
func TestRequestSenderNullPath(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	opts := &ServerOptions{Request: &RequestPolicy{Sender: mustTable(t, "static:enforce")}}
	addr := startRequestServer(t, pki, rec, opts, "127.0.0.1:0")
	require.NoError(t, sendTLS(t, pki, addr, "", "", []string{"b@example.org"}, body))
	require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org"}, body))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 2)
	assert.Equal(t, policy.Default, msgs[0].tag)
	assert.Equal(t, policy.Required, msgs[1].tag)
}

// A recipient domain that requests REQUIRETLS tags the whole message, for
// its other recipients too.
func TestRequestRecipientDomain(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	opts := &ServerOptions{Request: &RequestPolicy{Recipient: mustTable(t, "inline:{ {court.example = enforce} }")}}
	addr := startRequestServer(t, pki, rec, opts, "127.0.0.1:0")
	require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org", "clerk@Court.Example"}, body))
	require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org"}, body))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 2)
	assert.Equal(t, policy.Required, msgs[0].tag)
	assert.Equal(t, policy.Default, msgs[1].tag, "the tag does not outlive its transaction")
}

// RFC 8689 Section 4.1 (E5): on a session without TLS, a command whose key
// requests REQUIRETLS is refused with 523 5.7.10 before the wrapped session
// sees it, as MAIL FROM:<...> REQUIRETLS is; other commands are not.
func TestRequestPlaintextRefusedE5(t *testing.T) {
	pki := newTestPKI(t)

	t.Run("client network at MAIL", func(t *testing.T) {
		rec := &recorder{}
		opts := &ServerOptions{Request: &RequestPolicy{Client: mustTable(t, "cidr:{ {127.0.0.0/8 enforce} }")}}
		c := dialRaw(t, startRequestServer(t, pki, rec, opts, "127.0.0.1:0"), nil)
		c.cmd("EHLO client.test")
		code, lines := c.cmd("MAIL FROM:<a@example.org>")
		assert.Equal(t, 523, code)
		assert.True(t, strings.HasPrefix(lines[0], "5.7.10 "), lines)
		mails, _ := rec.snapshot()
		assert.Empty(t, mails)
	})
	t.Run("sender domain at MAIL", func(t *testing.T) {
		rec := &recorder{}
		opts := &ServerOptions{Request: &RequestPolicy{Sender: mustTable(t, "inline:{ {lawfirm.example = enforce} }")}}
		c := dialRaw(t, startRequestServer(t, pki, rec, opts, "127.0.0.1:0"), nil)
		c.cmd("EHLO client.test")
		code, _ := c.cmd("MAIL FROM:<a@lawfirm.example>")
		assert.Equal(t, 523, code)
		assert.Equal(t, 250, c.send("MAIL FROM:<a@example.org>"), "another sender is accepted")
	})
	t.Run("recipient domain at RCPT", func(t *testing.T) {
		rec := &recorder{}
		opts := &ServerOptions{Request: &RequestPolicy{Recipient: mustTable(t, "inline:{ {court.example = enforce} }")}}
		c := dialRaw(t, startRequestServer(t, pki, rec, opts, "127.0.0.1:0"), nil)
		c.cmd("EHLO client.test")
		code, _ := c.cmd("MAIL FROM:<a@example.org>")
		require.Equal(t, 250, code)
		code, _ = c.cmd("RCPT TO:<clerk@court.example>")
		assert.Equal(t, 523, code)
		code, _ = c.cmd("RCPT TO:<b@example.org>")
		assert.Equal(t, 250, code)
		code, _ = c.cmd("DATA")
		require.Equal(t, 354, code)
		require.NoError(t, c.text.PrintfLine("%s.", body))
		code, _ = c.read()
		require.Equal(t, 250, code)
		_, msgs := rec.snapshot()
		require.Len(t, msgs, 1)
		assert.Equal(t, policy.Default, msgs[0].tag, "the refused recipient did not tag the message")
	})
}

// AUTH identity (RFC 4954), with go-sasl PLAIN over TLS: the identity the
// session reports is looked up after AUTH succeeded.
func TestRequestAuthIdentity(t *testing.T) {
	pki := newTestPKI(t)
	table := mustTable(t, "inline:{ {alice = enforce} }")

	rec := &idRecorder{}
	addr := startRequestServer(t, pki, rec, &ServerOptions{Request: &RequestPolicy{Identity: table}}, "127.0.0.1:0")
	require.NoError(t, sendTLS(t, pki, addr, "alice", "alice@example.org", []string{"b@example.org"}, body))
	require.NoError(t, sendTLS(t, pki, addr, "bob", "alice@example.org", []string{"b@example.org"}, body))
	require.NoError(t, sendTLS(t, pki, addr, "", "alice@example.org", []string{"b@example.org"}, body))
	require.NoError(t, sendTLS(t, pki, addr, "alice@example.org", "a@example.org", []string{"b@example.org"}, body))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 4)
	assert.Equal(t, policy.Required, msgs[0].tag, "alice")
	assert.Equal(t, policy.Default, msgs[1].tag, "bob")
	assert.Equal(t, policy.Default, msgs[2].tag, "not authenticated")
	assert.Equal(t, policy.Required, msgs[3].tag, "an identity the lookup cannot read: fail closed")

	t.Run("failed AUTH", func(t *testing.T) {
		c, err := smtp.DialStartTLS(addr, pki.ClientConfig())
		require.NoError(t, err)
		defer c.Close()
		require.Error(t, c.Auth(sasl.NewPlainClient("", "alice", "wrong")))
		require.NoError(t, c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader(body)))
		_, msgs := rec.snapshot()
		require.Len(t, msgs, 5)
		assert.Equal(t, policy.Default, msgs[4].tag)
	})

	t.Run("session without AuthIdentity", func(t *testing.T) {
		rec := &authRecorder{}
		addr := startRequestServer(t, pki, rec, &ServerOptions{Request: &RequestPolicy{Identity: table}}, "127.0.0.1:0")
		require.NoError(t, sendTLS(t, pki, addr, "bob", "a@example.org", []string{"b@example.org"}, body))
		_, msgs := rec.snapshot()
		require.Len(t, msgs, 1)
		assert.Equal(t, policy.Required, msgs[0].tag, "identity unknown: fail closed")
	})
}

// A table that fails to look up (here a table type this package cannot
// open) tags every message Required: fail closed.
func TestRequestFailingTableFailsClosed(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	opts := &ServerOptions{Request: &RequestPolicy{Client: mustTable(t, "lmdb:/etc/postfix/request_clients")}}
	addr := startRequestServer(t, pki, rec, opts, "127.0.0.1:0")
	require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org"}, body))
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 1)
	assert.Equal(t, policy.Required, msgs[0].tag)
}

func TestRequestLogsKey(t *testing.T) {
	pki := newTestPKI(t)
	var logs logBuffer
	opts := &ServerOptions{Logger: logs.logger(), Request: &RequestPolicy{Recipient: mustTable(t, "static:enforce")}}
	addr := startRequestServer(t, pki, &recorder{}, opts, "127.0.0.1:0")
	require.NoError(t, sendTLS(t, pki, addr, "", "a@example.org", []string{"b@example.org"}, body))
	recs := logs.records(t)
	require.Len(t, recs, 1)
	assert.Equal(t, false, recs[0]["requiretls"], "MAIL did not carry REQUIRETLS")
	assert.Equal(t, "recipient", recs[0]["requested_by"])
	assert.Equal(t, "required", recs[0]["tag"])
}

// RFC 3030 (CHUNKING): a tag a recipient's domain set reaches the Data
// that go-smtp runs for BDAT on a goroutine of its own, and does not reach
// the next transaction's.
func TestRequestRecipientBDAT(t *testing.T) {
	pki := newTestPKI(t)
	rec := &recorder{}
	opts := &ServerOptions{Received: true, Request: &RequestPolicy{Recipient: mustTable(t, "inline:{ {court.example = enforce} }")}}
	c := dialRaw(t, startRequestServer(t, pki, rec, opts, "127.0.0.1:0"), nil)
	c.cmd("EHLO client.test")
	c.startTLS(pki.ClientConfig())
	c.cmd("EHLO client.test")
	for _, to := range []string{"clerk@court.example", "b@example.org"} {
		codes := c.pipeline("MAIL FROM:<a@example.org>\r\nRCPT TO:<"+to+">\r\n"+bdat(body, true), 3)
		assert.Equal(t, []int{250, 250, 250}, codes, to)
	}
	_, msgs := rec.snapshot()
	require.Len(t, msgs, 2)
	assert.Equal(t, policy.Required, msgs[0].tag)
	assert.Contains(t, msgs[0].data, "(requiretls)")
	assert.Equal(t, policy.Default, msgs[1].tag)
	assert.NotContains(t, msgs[1].data, "(requiretls)")
}
