//go:build interop

package interop

import (
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

// --- our receiving side: go-smtp wrapped by requiretls.NewServer -------------------

// message is one message our receiving side accepted, with its tag.
type message struct {
	From string
	Tag  policy.Tag
	Data string
}

type listenMode int

const (
	plaintextOnly listenMode = iota // no TLS at all: STARTTLS not offered
	withSTARTTLS
	implicitTLS // RFC 8314
)

// ourServer starts our receiving side on a loopback port and returns its
// address and the messages it accepted so far, each with the tag the glue
// gave it (Tagger): REQUIRETLS, or a valid TLS-Required: No, with
// REQUIRETLS winning (RFC 8689 Section 4.1).
func ourServer(t *testing.T, mode listenMode) (string, func() []message) {
	t.Helper()
	rec := &recorder{}
	s := requiretls.NewServer(rec, &requiretls.ServerOptions{Received: true})
	s.Domain = "ours.interop.test"
	if mode != plaintextOnly {
		s.TLSConfig = serverTLS(t)
	}
	addr := serve(t, s, "127.0.0.1:0", mode == implicitTLS)
	return addr, func() []message {
		var msgs []message
		for _, m := range rec.all() {
			msgs = append(msgs, message{From: m.From, Tag: m.Tag, Data: string(m.Data)})
		}
		return msgs
	}
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := net.LookupPort("tcp", p)
	require.NoError(t, err)
	return h, port
}

// --- the client peers ------------------------------------------------------------

func nodemailerPeer() peer {
	return peer{Name: "nodemailer", Version: os.Getenv("INTEROP_VERSION_NODEMAILER")}
}

func smtplibPeer() peer {
	return peer{Name: "Python smtplib", Version: os.Getenv("INTEROP_VERSION_PYTHON")}
}

type nodemailerResult struct {
	OK           bool     `json:"ok"`
	Code         string   `json:"code"`
	ResponseCode int      `json:"responseCode"`
	Response     string   `json:"response"`
	Transcript   []string `json:"transcript"`
}

type nodemailerJob struct {
	Host                string            `json:"host"`
	Port                int               `json:"port"`
	ImplicitTLS         bool              `json:"implicitTLS"`
	OpportunisticTLS    bool              `json:"opportunisticTLS"` // STARTTLS if offered, else plaintext
	CA                  string            `json:"ca"`
	Name                string            `json:"name"`
	From                string            `json:"from"`
	To                  string            `json:"to"`
	RequireTLSExtension bool              `json:"requireTLSExtension"`
	Headers             map[string]string `json:"headers,omitempty"`
}

func runNodemailer(t *testing.T, job nodemailerJob) nodemailerResult {
	t.Helper()
	job.CA = os.Getenv("INTEROP_CA")
	b, err := json.Marshal(job)
	require.NoError(t, err)
	var res nodemailerResult
	runClient(t, &res, os.Getenv("INTEROP_NODE"), "nodemailer-send.mjs", string(b))
	return res
}

type smtplibResult struct {
	OK       bool     `json:"ok"`
	Stage    string   `json:"stage"`
	Features []string `json:"features"`
	Code     int      `json:"code"`
	Reply    string   `json:"reply"`
	Error    string   `json:"error"`
}

type smtplibJob struct {
	Host        string            `json:"host"`
	Port        int               `json:"port"`
	TLS         string            `json:"tls"` // none, starttls, implicit
	CA          string            `json:"ca"`
	Name        string            `json:"name"`
	From        string            `json:"from"`
	To          string            `json:"to"`
	MailOptions []string          `json:"mail_options"`
	Headers     map[string]string `json:"headers,omitempty"`
}

func runSmtplib(t *testing.T, job smtplibJob) smtplibResult {
	t.Helper()
	job.CA = os.Getenv("INTEROP_CA")
	b, err := json.Marshal(job)
	require.NoError(t, err)
	var res smtplibResult
	runClient(t, &res, os.Getenv("INTEROP_PYTHON"), "smtplib_send.py", string(b))
	return res
}

func indexOf(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

// TestReceiving drives our receiving side (RFC 8689 Section 4.1) with
// nodemailer and Python smtplib, and checks what each client was told: once
// with the requiretls glue in this process, once through examples/server.
func TestReceiving(t *testing.T) {
	for _, side := range ourSides {
		t.Run(side.Name, func(t *testing.T) { receiving(t, side) })
	}
}

func receiving(t *testing.T, side ourSide) {
	const from, to = "alice@example.org", "bob@example.net"
	toUs := side.direction()
	// nodemailer and smtplib send one message from from to to, to side
	// started in mode.
	nodemailer := func(t *testing.T, mode listenMode, job nodemailerJob) (nodemailerResult, func() []message) {
		addr, received := side.Start(t, mode)
		job.Host, job.Port = hostPort(t, addr)
		job.Name, job.From, job.To = heloName(t), from, to
		return runNodemailer(t, job), received
	}
	smtplib := func(t *testing.T, mode listenMode, job smtplibJob) (smtplibResult, func() []message) {
		addr, received := side.Start(t, mode)
		job.Host, job.Port = hostPort(t, addr)
		job.Name, job.From, job.To = heloName(t), from, to
		return runSmtplib(t, job), received
	}

	t.Run("nodemailer/R23 REQUIRETLS after STARTTLS, pipelined", func(t *testing.T) {
		expect(t, nodemailerPeer(), toUs, "REQUIRETLS after STARTTLS (pipelined MAIL/RCPT/DATA)",
			"nodemailer: sent MAIL ... REQUIRETLS, got 250; our tag Required, (requiretls) in Received")
		res, received := nodemailer(t, withSTARTTLS, nodemailerJob{RequireTLSExtension: true})

		require.True(t, res.OK, "nodemailer: %s %s\n%s", res.Code, res.Response, strings.Join(res.Transcript, "\n"))
		assert.True(t, strings.HasPrefix(res.Response, "250"), res.Response)
		mail := indexOf(res.Transcript, "MAIL FROM:<"+from+"> REQUIRETLS")
		require.GreaterOrEqual(t, mail, 0, "nodemailer did not send REQUIRETLS:\n%s", strings.Join(res.Transcript, "\n"))
		// PIPELINING (RFC 2920): nodemailer sent RCPT and DATA before our reply to MAIL.
		assert.Equal(t, "RCPT TO:<"+to+">", res.Transcript[mail+1])
		assert.Equal(t, "DATA", res.Transcript[mail+2])

		msg := receivedOne(t, received, policy.Required)
		assert.Contains(t, msg.Data, "with ESMTPS (requiretls)")
	})

	t.Run("nodemailer/E22 REQUIRETLS over implicit TLS", func(t *testing.T) {
		expect(t, nodemailerPeer(), toUs, "REQUIRETLS over implicit TLS (RFC 8314)",
			"nodemailer: sent MAIL ... REQUIRETLS, got 250; our tag Required")
		res, received := nodemailer(t, implicitTLS, nodemailerJob{ImplicitTLS: true, RequireTLSExtension: true})

		require.True(t, res.OK, "nodemailer: %s %s", res.Code, res.Response)
		assert.GreaterOrEqual(t, indexOf(res.Transcript, "MAIL FROM:<"+from+"> REQUIRETLS"), 0)
		receivedOne(t, received, policy.Required)
	})

	if side.Plaintext { // examples/server always offers TLS
		t.Run("nodemailer/R5 no REQUIRETLS announced in plaintext", func(t *testing.T) {
			expect(t, nodemailerPeer(), toUs, "server without TLS, REQUIRETLS requested",
				"nodemailer: EREQUIRETLS, our EHLO did not announce REQUIRETLS; no MAIL sent, nothing received")
			res, received := nodemailer(t, plaintextOnly, nodemailerJob{OpportunisticTLS: true, RequireTLSExtension: true})

			assert.False(t, res.OK)
			assert.Equal(t, "EREQUIRETLS", res.Code, "nodemailer: %s", res.Response)
			assert.Equal(t, -1, indexOf(res.Transcript, "MAIL FROM"), "nodemailer sent MAIL:\n%s", strings.Join(res.Transcript, "\n"))
			assert.Empty(t, received())
		})
	}

	t.Run("nodemailer/R23 TLS-Required: No", func(t *testing.T) {
		expect(t, nodemailerPeer(), toUs, "TLS-Required: No header, no REQUIRETLS",
			"nodemailer: got 250 for MAIL without REQUIRETLS; our tag NotRequired")
		res, received := nodemailer(t, withSTARTTLS, nodemailerJob{Headers: map[string]string{"TLS-Required": "No"}})

		require.True(t, res.OK, "nodemailer: %s %s", res.Code, res.Response)
		assert.GreaterOrEqual(t, indexOf(res.Transcript, "MAIL FROM:<"+from+">"), 0)
		assert.Equal(t, -1, indexOf(res.Transcript, "MAIL FROM:<"+from+"> REQUIRETLS"))
		msg := receivedOne(t, received, policy.NotRequired)
		assert.NotContains(t, msg.Data, "(requiretls)")
	})

	t.Run("smtplib/R23 REQUIRETLS after STARTTLS", func(t *testing.T) {
		expect(t, smtplibPeer(), toUs, "REQUIRETLS after STARTTLS",
			"smtplib: saw REQUIRETLS in our post-TLS EHLO, sendmail accepted; our tag Required")
		res, received := smtplib(t, withSTARTTLS, smtplibJob{TLS: "starttls", MailOptions: []string{"REQUIRETLS"}})

		require.True(t, res.OK, "smtplib: %+v", res)
		assert.Contains(t, res.Features, "requiretls")
		msg := receivedOne(t, received, policy.Required)
		assert.Contains(t, msg.Data, "with ESMTPS (requiretls)")
	})

	if side.Plaintext { // examples/server always offers TLS
		t.Run("smtplib/E5 REQUIRETLS over plaintext", func(t *testing.T) {
			expect(t, smtplibPeer(), toUs, "REQUIRETLS on a server without TLS",
				"smtplib: MAIL ... REQUIRETLS refused with 523 5.7.10; nothing received")
			res, received := smtplib(t, plaintextOnly, smtplibJob{TLS: "none", MailOptions: []string{"REQUIRETLS"}})

			assertRefusedWithoutTLS(t, res)
			assert.NotContains(t, res.Features, "requiretls", "REQUIRETLS announced without TLS (RFC 8689 Section 2)")
			assert.NotContains(t, res.Features, "starttls")
			assert.Empty(t, received())
		})
	}

	t.Run("smtplib/E5 REQUIRETLS before STARTTLS", func(t *testing.T) {
		expect(t, smtplibPeer(), toUs, "REQUIRETLS before STARTTLS",
			"smtplib: MAIL ... REQUIRETLS refused with 523 5.7.10; nothing received")
		res, received := smtplib(t, withSTARTTLS, smtplibJob{TLS: "none", MailOptions: []string{"REQUIRETLS"}})

		assertRefusedWithoutTLS(t, res)
		assert.Contains(t, res.Features, "starttls")
		assert.NotContains(t, res.Features, "requiretls", "REQUIRETLS announced before STARTTLS (RFC 8689 Section 2)")
		assert.Empty(t, received())
	})

	// E4: RFC 8689 gives REQUIRETLS no value, and requiretls.ParseMail
	// refuses one. go-smtp v0.25.1 drops the value before a Session sees
	// the command (conn.go handleMail), so the go-smtp glue cannot refuse
	// it: it must at least never relax, i.e. tag the message Required.
	t.Run("smtplib/E4 REQUIRETLS=YES", func(t *testing.T) {
		expect(t, smtplibPeer(), toUs, "REQUIRETLS=YES after STARTTLS",
			"smtplib: MAIL ... REQUIRETLS=YES accepted as REQUIRETLS (go-smtp drops the value, known gap); our tag Required, never relaxed")
		res, received := smtplib(t, withSTARTTLS, smtplibJob{TLS: "starttls", MailOptions: []string{"REQUIRETLS=YES"}})

		require.True(t, res.OK, "smtplib: %+v", res)
		receivedOne(t, received, policy.Required)
	})

	t.Run("smtplib/E22 REQUIRETLS over implicit TLS", func(t *testing.T) {
		expect(t, smtplibPeer(), toUs, "REQUIRETLS over implicit TLS (RFC 8314)",
			"smtplib: saw REQUIRETLS in our first EHLO, sendmail accepted; our tag Required")
		res, received := smtplib(t, implicitTLS, smtplibJob{TLS: "implicit", MailOptions: []string{"REQUIRETLS"}})

		require.True(t, res.OK, "smtplib: %+v", res)
		assert.Contains(t, res.Features, "requiretls")
		receivedOne(t, received, policy.Required)
	})

	t.Run("smtplib/R23 TLS-Required: No", func(t *testing.T) {
		expect(t, smtplibPeer(), toUs, "TLS-Required: No header, no REQUIRETLS",
			"smtplib: sendmail accepted; our tag NotRequired")
		res, received := smtplib(t, withSTARTTLS, smtplibJob{TLS: "starttls", Headers: map[string]string{"TLS-Required": "No"}})

		require.True(t, res.OK, "smtplib: %+v", res)
		receivedOne(t, received, policy.NotRequired)
	})

	t.Run("smtplib/R25 REQUIRETLS wins over TLS-Required: No", func(t *testing.T) {
		expect(t, smtplibPeer(), toUs, "REQUIRETLS and TLS-Required: No together",
			"smtplib: sendmail accepted; our tag Required (RFC 8689 Section 4.1)")
		res, received := smtplib(t, withSTARTTLS, smtplibJob{TLS: "starttls", MailOptions: []string{"REQUIRETLS"}, Headers: map[string]string{"TLS-Required": "No"}})

		require.True(t, res.OK, "smtplib: %+v", res)
		receivedOne(t, received, policy.Required)
	})
}

// receivedOne asserts that exactly one message arrived, tagged tag, and returns it.
func receivedOne(t *testing.T, received func() []message, tag policy.Tag) message {
	t.Helper()
	msgs := received()
	require.Len(t, msgs, 1)
	assert.Equal(t, tag, msgs[0].Tag, "message:\n%s", msgs[0].Data)
	return msgs[0]
}

// assertRefusedWithoutTLS asserts that smtplib's MAIL ... REQUIRETLS was
// refused with 523 5.7.10 (RFC 8689 Section 4.2).
func assertRefusedWithoutTLS(t *testing.T, res smtplibResult) {
	t.Helper()
	assert.False(t, res.OK)
	assert.Equal(t, "mail", res.Stage, "%+v", res)
	assert.Equal(t, 523, res.Code)
	assert.Contains(t, res.Reply, "5.7.10")
}
