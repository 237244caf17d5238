package loadtest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

// hopLine is one line a fake next hop received, and whether it came
// under TLS.
type hopLine struct {
	tls  bool
	line string
}

// hop is a fake next hop that follows a script, to fail in ways a real
// server would not, and records every line it receives.
type hop struct {
	conn net.Conn
	r    *bufio.Reader
	tls  bool

	mu    sync.Mutex
	lines []hopLine
}

func (h *hop) say(s string) { io.WriteString(h.conn, s+"\r\n") }

// read returns the next line without its CRLF, "" at the end.
func (h *hop) read() string {
	line, err := h.r.ReadString('\n')
	if err != nil {
		return ""
	}
	line = strings.TrimRight(line, "\r\n")
	h.mu.Lock()
	h.lines = append(h.lines, hopLine{h.tls, line})
	h.mu.Unlock()
	return line
}

// handshake runs TLS as the server; false if it failed.
func (h *hop) handshake() bool {
	tc := tls.Server(h.conn, testPKI().ServerConfig())
	if tc.Handshake() != nil {
		return false
	}
	h.conn, h.r, h.tls = tc, bufio.NewReader(tc), true
	return true
}

// greet sends the greeting and answers EHLO with the given keywords.
func (h *hop) greet(keywords ...string) bool {
	h.say("220 hop.loadtest ESMTP")
	return h.ehlo(keywords...)
}

func (h *hop) ehlo(keywords ...string) bool {
	if !strings.HasPrefix(strings.ToUpper(h.read()), "EHLO ") {
		return false
	}
	reply := "250-hop.loadtest"
	for _, k := range keywords {
		reply += "\r\n250-" + k
	}
	h.say(reply + "\r\n250 8BITMIME")
	return true
}

// upToTLS greets, offers STARTTLS and runs the handshake.
func (h *hop) upToTLS() bool {
	if !h.greet("STARTTLS", "DSN") || h.read() != "STARTTLS" {
		return false
	}
	h.say("220 2.0.0 go ahead")
	return h.handshake()
}

// serve accepts one connection, runs script and closes; it returns the
// hop, whose lines are complete once done is closed.
func startHop(t *testing.T, script func(h *hop)) (addr string, h *hop, done chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	h = &hop{}
	done = make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		h.conn, h.r = c, bufio.NewReader(c)
		script(h)
		h.conn.Close()
	}()
	return l.Addr().String(), h, done
}

// relay is what a relay does with one message and one host: dial under
// the policy and, if allowed, send.
func relay(addr string, a policy.Attempt) (*requiretls.Conn, error) {
	d := &requiretls.Dialer{LocalName: "relay.loadtest", TLSConfig: testPKI().ClientConfig(), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr, a)
	if err != nil {
		return nil, err
	}
	defer c.Client.Close()
	if err := c.Mail("alice@example.org", &smtp.MailOptions{Return: smtp.DSNReturnFull}); err != nil {
		return c, err
	}
	if err := c.Client.Rcpt("bob@example.net", nil); err != nil {
		return c, err
	}
	w, err := c.Client.Data()
	if err != nil {
		return c, err
	}
	io.WriteString(w, "Subject: relayed\r\n\r\nsecret body\r\n")
	if err := w.Close(); err != nil {
		return c, err
	}
	return c, c.Client.Quit()
}

// TestRelayFaults sends a REQUIRETLS message through requiretls.Dialer to
// next hops that fail at each stage of RFC 8689 Section 4.2.1, and checks
// the decision and, on the hop's side, that no REQUIRETLS message and no
// message data of a Required message ever travels in the clear.
func TestRelayFaults(t *testing.T) {
	type want struct {
		action    policy.Action // 0: an I/O error before a decision, not a *PolicyError
		code      policy.Code
		mailInTLS bool // the hop got MAIL FROM with REQUIRETLS under TLS
		delivered bool
	}
	rows := []struct {
		name      string
		level     policy.Level
		moreHosts bool
		script    func(h *hop)
		want      want
	}{
		{"drop after EHLO", policy.Enforce, false, func(h *hop) {
			h.greet("STARTTLS")
		}, want{}},
		{"drop after STARTTLS reply, last host: defer 4.7.5", policy.Enforce, false, func(h *hop) {
			h.greet("STARTTLS")
			h.read()
			h.say("220 2.0.0 go ahead")
		}, want{action: policy.Defer, code: policy.CodeCryptoFailure}},
		{"drop after STARTTLS reply, more hosts: skip", policy.Enforce, true, func(h *hop) {
			h.greet("STARTTLS")
			h.read()
			h.say("220 2.0.0 go ahead")
		}, want{action: policy.Skip, code: policy.CodeCryptoFailure}},
		{"drop mid-handshake", policy.Enforce, false, func(h *hop) {
			h.greet("STARTTLS")
			h.read()
			h.say("220 2.0.0 go ahead")
			h.conn.Read(make([]byte, 10)) // part of the ClientHello
		}, want{action: policy.Defer, code: policy.CodeCryptoFailure}},
		{"garbage instead of a TLS handshake", policy.Enforce, false, func(h *hop) {
			h.greet("STARTTLS")
			h.read()
			h.say("220 2.0.0 go ahead")
			h.conn.Read(make([]byte, 512)) // the ClientHello
			h.say("garbage garbage garbage garbage garbage")
			h.read()
		}, want{action: policy.Defer, code: policy.CodeCryptoFailure}},
		{"drop after the EHLO under TLS", policy.Enforce, false, func(h *hop) {
			h.upToTLS()
			h.read()
		}, want{}},
		{"drop after MAIL", policy.Enforce, false, func(h *hop) {
			if h.upToTLS() && h.ehlo("REQUIRETLS") {
				h.read() // MAIL FROM
			}
		}, want{action: policy.SendRequireTLS, mailInTLS: true}},
		{"garbage greeting", policy.Enforce, false, func(h *hop) {
			h.say("\x00\xffwho knows")
			h.read()
		}, want{}},
		{"garbage EHLO reply", policy.Enforce, false, func(h *hop) {
			h.say("220 hop.loadtest ESMTP")
			h.read()
			h.say("250-hop.loadtest\r\nSTARTTLS?\r\n\x00\x01")
			// textproto takes lines without a code as part of the reply,
			// so the reply ends only when the connection does.
		}, want{}},
		{"garbage reply to STARTTLS", policy.Enforce, false, func(h *hop) {
			h.greet("STARTTLS")
			h.read()
			h.say("ready whenever you are")
			h.read()
		}, want{}},
		{"unsolicited reply after the greeting (injection before TLS)", policy.Enforce, false, func(h *hop) {
			h.say("220 hop.loadtest ESMTP\r\n250 injected")
			h.read()
		}, want{}},
		{"STARTTLS refused, last host: bounce 5.7.10", policy.Enforce, false, func(h *hop) {
			h.greet("STARTTLS")
			h.read()
			h.say("454 4.7.0 TLS not available")
			h.read()
		}, want{action: policy.Bounce, code: policy.CodeEncryptionNeeded}},
		{"STARTTLS refused, more hosts: skip", policy.Enforce, true, func(h *hop) {
			h.greet("STARTTLS")
			h.read()
			h.say("454 4.7.0 TLS not available")
			h.read()
		}, want{action: policy.Skip, code: policy.CodeEncryptionNeeded}},
		{"no STARTTLS: bounce 5.7.30 (E18)", policy.Enforce, false, func(h *hop) {
			h.greet("DSN", "REQUIRETLS")
			h.read()
		}, want{action: policy.Bounce, code: policy.CodeSupportRequired}},
		{"REQUIRETLS only before TLS (E22): bounce 5.7.30", policy.Enforce, false, func(h *hop) {
			if h.greet("STARTTLS", "REQUIRETLS") && h.read() == "STARTTLS" {
				h.say("220 2.0.0 go ahead")
				if h.handshake() {
					h.ehlo("DSN")
					h.read()
				}
			}
		}, want{action: policy.Bounce, code: policy.CodeSupportRequired}},
		{"opportunistic, STARTTLS refused: sent in the clear without REQUIRETLS", policy.Opportunistic, false, func(h *hop) {
			h.greet("STARTTLS", "DSN")
			h.read()
			h.say("454 4.7.0 TLS not available")
			for line := h.read(); line != "" && line != "QUIT"; line = h.read() {
				switch {
				case line == "DATA":
					h.say("354 go ahead")
					for h.read() != "." {
					}
					h.say("250 2.0.0 queued")
				default:
					h.say("250 2.0.0 ok")
				}
			}
			h.say("221 bye")
		}, want{action: policy.SendWithout, delivered: true}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			addr, h, done := startHop(t, r.script)
			a := policy.Attempt{Tag: policy.Required, Level: r.level, MoreHosts: r.moreHosts,
				Host: "hop.loadtest", Auth: policy.AuthStaticPKIX}
			c, err := relay(addr, a)
			<-done

			var pe *requiretls.PolicyError
			switch {
			case r.want.action == 0:
				require.Error(t, err)
				assert.False(t, errors.As(err, &pe), "an I/O failure before any decision is not a policy decision: %v", err)
			case r.want.action == policy.SendRequireTLS || r.want.action == policy.SendWithout:
				require.NotNil(t, c, "%v", err)
				assert.Equal(t, r.want.action, c.Decision.Action)
				if r.want.delivered {
					assert.NoError(t, err)
					assert.True(t, c.Decision.RetHdrs, "a downgraded REQUIRETLS message asks for RET=HDRS")
				} else {
					assert.Error(t, err)
				}
			default:
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, r.want.action, pe.Decision.Action)
				assert.Equal(t, r.want.code, pe.Decision.Code)
			}

			h.mu.Lock()
			defer h.mu.Unlock()
			var mailInTLS, data bool
			for _, l := range h.lines {
				up := strings.ToUpper(l.line)
				if !l.tls {
					assert.NotContains(t, up, "REQUIRETLS", "RFC 8689 Section 2: never REQUIRETLS in the clear")
				}
				if strings.HasPrefix(up, "MAIL FROM:") && strings.Contains(up, "REQUIRETLS") && l.tls {
					mailInTLS = true
				}
				if up == "DATA" {
					data = true
					assert.True(t, r.want.delivered, "no DATA for a message that was not to be sent")
				}
				if strings.HasPrefix(up, "MAIL FROM:") && !l.tls {
					assert.Contains(t, up, "RET=HDRS", "Postfix Fix 20250825: RET=HDRS on a downgrade")
				}
			}
			assert.Equal(t, r.want.mailInTLS, mailInTLS)
			assert.Equal(t, r.want.delivered, data)
		})
	}
}
