package tlsstatus

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The three example lines of postfix-3.11 §3, without a syslog prefix.
const (
	exampleSent     = "postfix/smtp[4711]: 3F2A81C0D: to=<bob@example.net>, relay=mx1.example.net[192.0.2.25]:25, delay=0.91, delays=0.04/0.01/0.52/0.34, tls=dane/requiretls, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9C1D2E)"
	exampleDowngrad = "postfix/smtp[4711]: 3F2A81C0D: to=<bob@example.org>, relay=mx.example.org[198.51.100.7]:25, delay=1.2, delays=0.04/0.01/0.61/0.54, tls=may/requiretls:none, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
	exampleBounced  = "postfix/smtp[4711]: 3F2A81C0D: to=<bob@example.com>, relay=none, delay=0.2, delays=0.04/0.01/0.15/0, tls=may?/!requiretls:nocertmatch, dsn=5.7.10, status=bounced (Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx.example.com)"
)

// TestParseLinePostfixExamples parses the example lines of postfix-3.11 §3
// (E21) with each prefix Postfix's logging can produce.
func TestParseLinePostfixExamples(t *testing.T) {
	want := []Delivery{
		{Program: "postfix/smtp", PID: 4711, QueueID: "3F2A81C0D", To: "bob@example.net",
			Relay: "mx1.example.net[192.0.2.25]:25", Delay: "0.91", Delays: "0.04/0.01/0.52/0.34",
			TLS: Field{{Name: DANE}, {Name: RequireTLS}}, DSN: "2.0.0", Status: Sent, Reason: "250 2.0.0 Ok: queued as 9C1D2E"},
		{Program: "postfix/smtp", PID: 4711, QueueID: "3F2A81C0D", To: "bob@example.org",
			Relay: "mx.example.org[198.51.100.7]:25", Delay: "1.2", Delays: "0.04/0.01/0.61/0.54",
			TLS: Field{{Name: May}, {Name: RequireTLS, Final: None}}, DSN: "2.0.0", Status: Sent, Reason: "250 2.0.0 Ok"},
		{Program: "postfix/smtp", PID: 4711, QueueID: "3F2A81C0D", To: "bob@example.com",
			Relay: "none", Delay: "0.2", Delays: "0.04/0.01/0.15/0",
			TLS: Field{{Name: May, Undecided: true}, {Name: RequireTLS, Final: NoCertMatch, Violation: true}}, DSN: "5.7.10", Status: Bounced,
			Reason: "Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx.example.com"},
	}
	prefixes := []struct{ name, prefix, time, host string }{
		{"bare tag", "", "", ""},
		{"syslog", "Oct  1 12:00:00 mx ", "Oct  1 12:00:00", "mx"},
		{"syslog two-digit day", "Oct 11 12:00:00 mx.example ", "Oct 11 12:00:00", "mx.example"},
		{"maillog_file", "Oct  1 12:00:00.123456 mx ", "Oct  1 12:00:00.123456", "mx"},
		{"rfc3339", "2025-10-01T12:00:00.123456+02:00 mx ", "2025-10-01T12:00:00.123456+02:00", "mx"},
	}
	for _, p := range prefixes {
		for i, line := range []string{exampleSent, exampleDowngrad, exampleBounced} {
			t.Run(p.name, func(t *testing.T) {
				d, ok, err := ParseLine(p.prefix + line + "\n")
				require.NoError(t, err)
				require.True(t, ok)
				w := want[i]
				w.Time, w.Host = p.time, p.host
				assert.Equal(t, w, d)
				assert.Equal(t, p.prefix+line, d.String())
			})
		}
	}
}

func TestParseLineOptionalFields(t *testing.T) {
	line := "Oct  1 12:00:00 mx postfix-out/lmtp[12]: 4Xb1Vd0gQXz9sSk: to=<bob@Example.NET>, orig_to=<alias@example.net>, relay=mx1.example.net[192.0.2.25]:25, conn_use=3, delay=0.91, delays=0.04/0.01/0.52/0.34, dsn=4.4.2, status=deferred (lost connection with mx1.example.net[192.0.2.25] while receiving the initial server greeting)\r\n"
	d, ok, err := ParseLine(line)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Delivery{Time: "Oct  1 12:00:00", Host: "mx", Program: "postfix-out/lmtp", PID: 12,
		QueueID: "4Xb1Vd0gQXz9sSk", To: "bob@Example.NET", OrigTo: "alias@example.net",
		Relay: "mx1.example.net[192.0.2.25]:25", ConnUse: 3, Delay: "0.91", Delays: "0.04/0.01/0.52/0.34",
		DSN: "4.4.2", Status: Deferred,
		Reason: "lost connection with mx1.example.net[192.0.2.25] while receiving the initial server greeting"}, d)
	assert.Nil(t, d.TLS, "no tls= field: Postfix before 3.11 or logging off")
	assert.Equal(t, strings.TrimSuffix(line, "\r\n"), d.String())
	assert.Equal(t, "Example.NET", d.Domain())
	assert.Equal(t, "mx1.example.net", d.RelayHost())
	_, requested := d.RequireTLS()
	assert.False(t, requested)
}

func TestParseLineOddButValid(t *testing.T) {
	tests := []struct {
		name, line string
		check      func(t *testing.T, d Delivery)
	}{
		{"quoted local part with comma", `postfix/smtp[1]: ABC: to=<"a, b>"@example.net>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect refused)`,
			func(t *testing.T, d Delivery) { assert.Equal(t, `"a, b>"@example.net`, d.To) }},
		{"null recipient", `postfix/smtp[1]: ABC: to=<>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (x)`,
			func(t *testing.T, d Delivery) { assert.Equal(t, "", d.To); assert.Equal(t, "", d.Domain()) }},
		{"status without reason", `postfix/smtp[1]: ABC: to=<a@b>, relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=deliverable`,
			func(t *testing.T, d Delivery) {
				assert.Equal(t, Status("deliverable"), d.Status)
				assert.Equal(t, "", d.Reason)
			}},
		{"unknown future field skipped", `postfix/smtp[1]: ABC: to=<a@b>, relay=none, delay=1, delays=0/0/1/0, future=x, tls=may, dsn=2.0.0, status=sent (ok)`,
			func(t *testing.T, d Delivery) { assert.Equal(t, "may", d.TLS.String()) }},
		{"relay transport tag", `Oct  1 12:00:00 mx postfix/relay/smtp[1]: ABC: to=<a@b>, relay=r[192.0.2.1]:25, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)`,
			func(t *testing.T, d Delivery) { assert.Equal(t, "postfix/relay/smtp", d.Program) }},
		{"reason with parentheses", `postfix/smtp[1]: ABC: to=<a@b>, relay=none, delay=1, delays=0/0/1/0, dsn=5.0.0, status=bounced (host x said: 550 no (really))`,
			func(t *testing.T, d Delivery) { assert.Equal(t, "host x said: 550 no (really)", d.Reason) }},
		{"unknown tls names kept", `postfix/smtp[1]: ABC: to=<a@b>, relay=none, delay=1, delays=0/0/1/0, tls=may/requiretls:nomatch, dsn=2.0.0, status=sent (ok)`,
			func(t *testing.T, d Delivery) {
				f, ok := d.RequireTLS()
				assert.True(t, ok)
				assert.False(t, f.Known())
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok, err := ParseLine(tt.line)
			require.NoError(t, err)
			require.True(t, ok)
			tt.check(t, d)
		})
	}
}

// TestParseLineSkipped: other programs and other shapes are not errors.
func TestParseLineSkipped(t *testing.T) {
	for _, line := range skippedLines {
		t.Run(line, func(t *testing.T) {
			d, ok, err := ParseLine(line)
			assert.NoError(t, err)
			assert.False(t, ok)
			assert.Equal(t, Delivery{}, d)
		})
	}
}

var skippedLines = []string{
	"",
	"\n",
	"Oct  1 12:00:00 mx postfix/qmgr[99]: 3F2A81C0D: from=<alice@example.org>, size=1234, nrcpt=1 (queue active)",
	"Oct  1 12:00:00 mx postfix/qmgr[99]: 3F2A81C0D: removed",
	"Oct  1 12:00:00 mx postfix/smtpd[98]: connect from client.example[192.0.2.9]",
	"Oct  1 12:00:00 mx postfix/smtpd[98]: NOQUEUE: reject: RCPT from x[192.0.2.9]: 554 5.7.1 <a@b>: Relay access denied; from=<c@d> to=<a@b> proto=ESMTP helo=<x>",
	"Oct  1 12:00:00 mx postfix/cleanup[97]: 3F2A81C0D: message-id=<x@y>",
	"Oct  1 12:00:00 mx postfix/local[96]: 3F2A81C0D: to=<bob@mx.example>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)",
	"Oct  1 12:00:00 mx postfix/smtp[4711]: 3F2A81C0D: host mx1.example.net[192.0.2.25] said: 450 try later (in reply to RCPT TO command)",
	"Oct  1 12:00:00 mx postfix/smtp[4711]: Trusted TLS connection established to mx1.example.net[192.0.2.25]:25: TLSv1.3",
	"Oct  1 12:00:00 mx postfix/smtp[4711]: warning: no MX host for example.invalid has a valid address record",
	"Oct  1 12:00:00 mx postfix/smtp[x]: 3F2A81C0D: to=<a@b>, relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)",
	"Oct  1 12:00:00 mx smtp[4711]: 3F2A81C0D: to=<a@b>, relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)",
	"Oct  1 12:00:00 mx postfix/smtp[4711]: : to=<a@b>, relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)",
	"Oct  1 12:00:00 [mx] postfix/smtp[4711]: 3F2A81C0D: to=<a@b>, relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)",
	"Oct  1 12:00:00 mx sshd[1]: Accepted password for root",
	"kernel: [12345.678] something]: happened",
}

// TestParseLineMalformed: a delivery status line that breaks the format is
// an error that points at the problem.
func TestParseLineMalformed(t *testing.T) {
	const p = "postfix/smtp[1]: ABC: to=<a@b>"
	tests := []struct {
		name, line, at string // at: the text at the error offset
	}{
		{"no closing bracket", "postfix/smtp[1]: ABC: to=<a@b", ""},
		{"missing dsn", p + ", relay=none, delay=1, delays=0/0/1/0, status=sent (ok)", ""},
		{"missing status", p + ", relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0", ""},
		{"bad tls field", p + ", relay=none, delay=1, delays=0/0/1/0, tls=may/, dsn=2.0.0, status=sent (ok)", ", dsn"},
		{"bad tls name", p + ", relay=none, delay=1, delays=0/0/1/0, tls=may/requi?re, dsn=2.0.0, status=sent (ok)", "?re"},
		{"duplicate tls", p + ", relay=none, delay=1, delays=0/0/1/0, tls=may, tls=may, dsn=2.0.0, status=sent (ok)", ", dsn"},
		{"bad conn_use", p + ", relay=none, conn_use=x, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)", "x, "},
		{"zero conn_use", p + ", relay=none, conn_use=0, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)", "0, "},
		{"reason without parentheses", p + ", relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent ok", "ok"},
		{"empty reason", p + ", relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent ()", "()"},
		{"bad status word", p + ", relay=none, delay=1, delays=0/0/1/0, dsn=2.0.0, status=se,nt (ok)", "se,nt"},
		{"no separator", p + " relay=none", "a@b> relay"},
		{"key with space", p + ", re lay=none", "re lay"},
		{"empty relay", p + ", relay=, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (ok)", ""},
		{"orig_to without bracket", p + ", orig_to=x, relay=none", "x, "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := ParseLine(tt.line)
			assert.False(t, ok)
			require.ErrorIs(t, err, ErrSyntax)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.line, pe.Input)
			require.LessOrEqual(t, pe.Offset, len(tt.line))
			assert.True(t, strings.HasPrefix(tt.line[pe.Offset:], tt.at), "offset %d: %q", pe.Offset, tt.line[pe.Offset:])
		})
	}
}

// TestParseLineSkippedAllocatesNothing is the issue's "zero allocations per
// skipped line".
func TestParseLineSkippedAllocatesNothing(t *testing.T) {
	for _, line := range skippedLines {
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok, err := ParseLine(line); ok || err != nil {
				panic("not skipped")
			}
		})
		assert.Zero(t, allocs, line)
	}
	// A delivery line without tls= allocates nothing either; with tls= it
	// allocates the Field.
	noTLS := strings.Replace(skippedLines[7], "postfix/local", "postfix/smtp", 1)
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok, _ := ParseLine(noTLS); !ok {
			panic("not parsed")
		}
	})
	assert.Zero(t, allocs)
}

func TestDeliveryLogValue(t *testing.T) {
	d, ok, err := ParseLine(exampleBounced)
	require.NoError(t, err)
	require.True(t, ok)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime})).Info("delivery", "d", &d)
	assert.Equal(t, "level=INFO msg=delivery d.queue_id=3F2A81C0D d.to=bob@example.com d.relay=none d.tls=may?/!requiretls:nocertmatch d.dsn=5.7.10 d.status=bounced\n", buf.String())
}

// TestDeliveryStringBuildsPostfixLine: delivery code that fills a Delivery
// gets the line Postfix would log (what examples/relay prints).
func TestDeliveryStringBuildsPostfixLine(t *testing.T) {
	d := Delivery{QueueID: "3F2A81C0D", To: "bob@example.org", Relay: "mx.example.org[198.51.100.7]:25",
		Delay: "1.2", Delays: "0.04/0.01/0.61/0.54", TLS: Field{{Name: May}, {Name: RequireTLS, Final: None}},
		DSN: "2.0.0", Status: Sent, Reason: "250 2.0.0 Ok"}
	assert.Equal(t, strings.TrimPrefix(exampleDowngrad, "postfix/smtp[4711]: "), d.String())
	d.Program, d.PID = "postfix/smtp", 4711
	assert.Equal(t, exampleDowngrad, d.String())
}
