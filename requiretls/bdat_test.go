package requiretls

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

// pipeline writes raw (commands and BDAT chunks) in one go and returns the
// codes of the next n replies.
func (c *rawClient) pipeline(raw string, n int) []int {
	c.t.Helper()
	_, err := c.text.W.WriteString(raw)
	require.NoError(c.t, err)
	require.NoError(c.t, c.text.W.Flush())
	codes := make([]int, n)
	for i := range codes {
		codes[i], _ = c.read()
	}
	return codes
}

// bdat is a BDAT command with its chunk.
func bdat(chunk string, last bool) string {
	if last {
		return fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk)
	}
	return fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk)
}

// Issue 12 item 5, RFC 8689 Section 4.1 (R23, the tag is kept with its
// message), RFC 3030 (CHUNKING): go-smtp v0.26.0 runs Data for BDAT on a
// goroutine of its own and calls Reset (RSET, EHLO, a failed chunk) from
// its command loop while that Data may still run, or before it has even
// started. Before the fix the glue read the transaction state on one
// goroutine and cleared it on the other (a data race on the tag and on the
// Received state, reported by go test -race), the wrapped session's Reset
// ran during its Data, so an aborted REQUIRETLS transaction could be seen
// with another tag, and a Data that started late reached the wrapped
// session. Each case is pipelined, so the goroutines interleave as they
// will, and runs many times.
//
// After an aborted BDAT the next message goes by DATA: go-smtp v0.26.0
// itself races there otherwise (the aborted transaction's goroutine sends
// its result on the channel field that the next BDAT replaces, conn.go
// handleBdat), which no session wrapper can order.
func TestServerBDATResetRace(t *testing.T) {
	pki := newTestPKI(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	opts := &ServerOptions{Received: true, Now: func() time.Time { return now }}
	const head = "Subject: chunked\r\n\r\n"
	const msg = head + "Hello.\r\n"
	received := func(requireTLS bool) string {
		with := "ESMTPS"
		if requireTLS {
			with += " (requiretls)"
		}
		return "Received: from client.test ([127.0.0.1])\r\n\tby mx.test with " + with +
			"\r\n\tfor <b@example.org>; Tue, 01 Dec 2026 00:00:00 +0000\r\n"
	}
	const (
		mailReq = "MAIL FROM:<req@example.org> REQUIRETLS\r\n"
		mail    = "MAIL FROM:<plain@example.org>\r\n"
		rcpt    = "RCPT TO:<b@example.org>\r\n"
		data    = "DATA\r\n" + msg + ".\r\n"
	)
	for _, tc := range []struct {
		name  string
		raw   string
		codes []int
		// Data calls the wrapped session may see for the aborted
		// transaction (0 or 1: it depends on how far its Data got), then
		// the complete one.
		aborted bool
		final   dataCall
	}{
		{"header chunk, RSET, second MAIL",
			mailReq + rcpt + bdat(head, false) + "RSET\r\n" + mail + rcpt + data,
			[]int{250, 250, 250, 250, 250, 250, 354, 250}, true,
			dataCall{from: "plain@example.org", tag: policy.Default, tagged: true, data: received(false) + msg}},
		{"empty chunk, RSET, second MAIL with REQUIRETLS",
			mail + rcpt + bdat("", false) + "RSET\r\n" + mailReq + rcpt + data,
			[]int{250, 250, 250, 250, 250, 250, 354, 250}, false,
			dataCall{from: "req@example.org", requireTLS: true, tag: policy.Required, tagged: true, data: received(true) + msg}},
		{"partial header, EHLO resets",
			mailReq + rcpt + bdat("Subj", false) + "EHLO client.test\r\n" + mail + rcpt + data,
			[]int{250, 250, 250, 250, 250, 250, 354, 250}, false,
			dataCall{from: "plain@example.org", tag: policy.Default, tagged: true, data: received(false) + msg}},
		{"chunk over the size limit aborts",
			mailReq + rcpt + bdat(head, false) + bdat(strings.Repeat("x\r\n", 1400), false) + mail + rcpt + data,
			[]int{250, 250, 250, 552, 250, 250, 354, 250}, true,
			dataCall{from: "plain@example.org", tag: policy.Default, tagged: true, data: received(false) + msg}},
		{"LAST, then a second MAIL and BDAT",
			mailReq + rcpt + bdat(head, false) + bdat("Hello.\r\n", true) + mail + rcpt + bdat(msg, true),
			[]int{250, 250, 250, 250, 250, 250, 250}, false,
			dataCall{from: "plain@example.org", tag: policy.Default, tagged: true, data: received(false) + msg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, l := startLogServer(t, pki, opts, func(s *smtp.Server) { s.MaxMessageBytes = 1024 })
			l.slow = 5 * time.Millisecond
			for range 20 {
				c := dialRaw(t, addr, pki.ClientConfig())
				c.cmd("EHLO client.test")
				before, _ := l.snapshot()
				assert.Equal(t, tc.codes, c.pipeline(tc.raw, len(tc.codes)))
				c.conn.Close()
				calls, overlaps := l.snapshot()
				calls = calls[len(before):]
				assert.Zero(t, overlaps, "the wrapped session is never called from two goroutines at once")
				require.NotEmpty(t, calls)
				got := calls[len(calls)-1]
				assert.Equal(t, tc.final, got, "the complete transaction")
				if tc.name == "LAST, then a second MAIL and BDAT" {
					require.Equal(t, 2, len(calls))
					assert.Equal(t, received(true)+msg, calls[0].data)
					assert.Equal(t, policy.Required, calls[0].tag)
					continue
				}
				if !tc.aborted {
					assert.Equal(t, 1, len(calls), "an aborted transaction whose header was not complete never reaches the wrapped session")
					continue
				}
				require.LessOrEqual(t, len(calls), 2)
				if len(calls) == 2 {
					a := calls[0]
					assert.Error(t, a.err, "the aborted transaction's data ends in an error")
					assert.Equal(t, "req@example.org", a.from)
					assert.Equal(t, policy.Required, a.tag, "the aborted REQUIRETLS transaction keeps its tag")
					assert.True(t, a.tagged)
				}
			}
		})
	}
}

// A failed DATA ends the transaction like RSET; the next one is tagged
// from its own MAIL (RFC 8689 Section 4.1).
func TestServerFailedDATAThenMail(t *testing.T) {
	pki := newTestPKI(t)
	addr, l := startLogServer(t, pki, nil, nil)
	c := dialRaw(t, addr, pki.ClientConfig())
	c.cmd("EHLO client.test")
	code, lines := c.sendData("MAIL FROM:<a@example.org> REQUIRETLS", "Subject: x\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n")
	require.Equal(t, ErrUnsafeHeader.Code, code, lines)
	code, lines = c.sendData("MAIL FROM:<a@example.org>", body)
	require.Equal(t, 250, code, lines)
	code, lines = c.sendData("MAIL FROM:<a@example.org> REQUIRETLS", body)
	require.Equal(t, 250, code, lines)
	calls, _ := l.snapshot()
	require.Equal(t, 2, len(calls))
	assert.Equal(t, []policy.Tag{policy.Default, policy.Required}, []policy.Tag{calls[0].tag, calls[1].tag})
}

// The same over LMTP (RFC 2033), whose BDAT Data is LMTPData on go-smtp's
// goroutine: an aborted REQUIRETLS transaction does not leak its tag into
// the next one, and nothing deadlocks. (DATA after the aborted BDAT, as
// in TestServerBDATResetRace.)
func TestServerLMTPBDATReset(t *testing.T) {
	pki := newTestPKI(t)
	rec := &lmtpRecorder{}
	addr := startImplicitTLS(t, pki, rec, true)

	const msg = "Subject: chunked\r\n\r\nHello.\r\n"
	for range 20 {
		c := dialRaw(t, addr, pki.ClientConfig())
		c.cmd("LHLO client.test")
		_, before := rec.snapshot()
		raw := "MAIL FROM:<req@example.org> REQUIRETLS\r\nRCPT TO:<b@example.org>\r\n" + bdat("Subject: chunked\r\n\r\n", false) +
			"RSET\r\nMAIL FROM:<plain@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + msg + ".\r\n"
		assert.Equal(t, []int{250, 250, 250, 250, 250, 250, 354, 250}, c.pipeline(raw, 8))
		c.conn.Close()
		_, msgs := rec.snapshot()
		msgs = msgs[len(before):]
		require.Equal(t, 1, len(msgs), "only the complete message is stored")
		assert.Equal(t, "plain@example.org", msgs[0].from)
		assert.Equal(t, policy.Default, msgs[0].tag)
		assert.Equal(t, msg, msgs[0].data)
	}
}
