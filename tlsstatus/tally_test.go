package tlsstatus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A line template of the synthetic maillog, with what the tally must make
// of it, written out by hand (the oracle), not computed by the code under
// test.
type synthLine struct {
	format    string // %[1]s domain, %[2]d counter
	kind      string // "delivery", "skipped" or "malformed"
	state     string // REQUIRETLS state row
	status    Status
	noTLS     bool // delivery without tls=
	requested bool
	offered   int // +1, -1, 0
	relay     string
}

const synthPrefix = "Oct  1 12:00:00 mx postfix/"

var synthLines = []synthLine{
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, tls=dane/requiretls, dsn=2.0.0, status=sent (250 ok)",
		kind: "delivery", state: "requiretls", status: Sent, requested: true, offered: +1, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=MX2.%[1]s[192.0.2.2]:25, delay=1, delays=0/0/0.5/0.5, tls=may/requiretls:none, dsn=2.0.0, status=sent (250 ok)",
		kind: "delivery", state: "requiretls:none", status: Sent, requested: true, offered: -1, relay: "mx2.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=none, delay=0.2, delays=0.04/0.01/0.15/0, tls=may?/!requiretls:nocertmatch, dsn=5.7.10, status=bounced (Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx1.%[1]s)",
		kind: "delivery", state: "!requiretls:nocertmatch", status: Bounced, requested: true, offered: 0, relay: "none"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=3, delays=0/0/3/0, tls=dane/requiretls?, dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)",
		kind: "delivery", state: "requiretls?", status: Deferred, requested: true, offered: 0, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, conn_use=2, delay=1, delays=0/0/0.5/0.5, tls=may/requiretls:nocertmatch, dsn=2.0.0, status=sent (250 ok)",
		kind: "delivery", state: "requiretls:nocertmatch", status: Sent, requested: true, offered: +1, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=may?/!requiretls:nostarttls, dsn=5.7.30, status=bounced (Sender requested REQUIRETLS, but TLS service was not offered by host mx1.%[1]s[192.0.2.1])",
		kind: "delivery", state: "!requiretls:nostarttls", status: Bounced, requested: true, offered: -1, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=verify/!requiretls:none, dsn=4.7.30, status=deferred (no server was found that supports REQUIRETLS)",
		kind: "delivery", state: "!requiretls:none", status: Deferred, requested: true, offered: -1, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=none, delay=0, delays=0/0/0/0, tls=none/!requiretls:noencryption, dsn=5.7.10, status=bounced (my configured TLS security level 'none' disables encryption)",
		kind: "delivery", state: "!requiretls:noencryption", status: Bounced, requested: true, offered: 0, relay: "none"},
	// Postfix 3.11.6 (interop/MATRIX.md): a violated TLS security level
	// ("!verify") means the connection was not used, whatever slot 1 says.
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=!verify/requiretls:nocertmatch, dsn=4.7.5, status=deferred (Server certificate not verified)",
		kind: "delivery", state: "!level/requiretls:nocertmatch", status: Deferred, requested: true, offered: 0, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=!secure/requiretls?, dsn=4.7.4, status=deferred (TLS is required, but was not offered by host mx1.%[1]s[192.0.2.1])",
		kind: "delivery", state: "!level/requiretls?", status: Deferred, requested: true, offered: -1, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=!verify/!requiretls:nocertmatch, dsn=5.7.10, status=bounced (Sender requested REQUIRETLS, but no trusted server certificate was found. The last attempted server was mx1.%[1]s[192.0.2.1])",
		kind: "delivery", state: "!requiretls:nocertmatch", status: Bounced, requested: true, offered: 0, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=!verify, dsn=4.7.5, status=deferred (Server certificate not verified)",
		kind: "delivery", state: NotRequested, status: Deferred, relay: "mx1.%s"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=may, dsn=2.0.0, status=sent (250 ok)",
		kind: "delivery", state: NotRequested, status: Sent, relay: "mx1.%s"},
	{format: "lmtp[2]: A%[2]X: to=<u%[2]d@%[1]s>, relay=store[private/lmtp], delay=1, delays=0/0/1/0, dsn=2.0.0, status=deliverable (ok)",
		kind: "delivery", state: NotRequested, status: "deliverable", noTLS: true, relay: "store"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=may/requiretls:nomatch, dsn=2.0.0, status=sent (250 ok)",
		kind: "delivery", state: "requiretls:nomatch", status: Sent, requested: true, offered: 0, relay: "mx1.%s"},
	{format: "qmgr[9]: A%[2]X: from=<a@%[1]s>, size=100, nrcpt=1 (queue active)", kind: "skipped"},
	{format: "smtpd[8]: connect from c.%[1]s[192.0.2.9]", kind: "skipped"},
	{format: "local[7]: A%[2]X: to=<u%[2]d@%[1]s>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)", kind: "skipped"},
	{format: "smtp[1]: A%[2]X: host mx1.%[1]s[192.0.2.1] said: 450 busy (in reply to RCPT TO command)", kind: "skipped"},
	{format: "smtp[1]: A%[2]X: to=<u%[2]d@%[1]s>, relay=mx1.%[1]s[192.0.2.1]:25, delay=1, delays=0/0/1/0, tls=may/, dsn=2.0.0, status=sent (250 ok)", kind: "malformed"},
}

var synthDomains = []string{"example.net", "Example.NET", "example.org", "example.com", "xn--1xa.example", "mail.example"}

func synthLineAt(i int) (string, synthLine, string) {
	tpl := synthLines[i%len(synthLines)]
	domain := synthDomains[(i/len(synthLines))%len(synthDomains)]
	return synthPrefix + fmt.Sprintf(tpl.format, domain, i), tpl, domain
}

// TestTallySyntheticMaillog runs 1 000 000 generated lines through four
// concurrent ReadLog calls on one Tally and checks every count exactly.
func TestTallySyntheticMaillog(t *testing.T) {
	const lines, readers = 1_000_000, 4

	// The oracle: expected counts from the hand-written template table.
	var want Counts
	var wantSkipped, wantMalformed, wantNoTLS int64
	wantStates := map[string]Counts{}
	wantDomains := map[string]Counts{}
	wantRelays := map[string]Counts{}
	bump := func(m map[string]Counts, key string, tpl synthLine) {
		c := m[key]
		c.Deliveries++
		switch tpl.status {
		case Sent:
			c.Sent++
		case Deferred:
			c.Deferred++
		case Bounced:
			c.Bounced++
		default:
			c.Other++
		}
		if tpl.requested {
			c.Requested++
		}
		if tpl.offered > 0 {
			c.Offered++
		}
		if tpl.offered < 0 {
			c.NotOffered++
		}
		m[key] = c
	}
	for i := range lines {
		_, tpl, domain := synthLineAt(i)
		switch tpl.kind {
		case "skipped":
			wantSkipped++
			continue
		case "malformed":
			wantMalformed++
			continue
		}
		if tpl.noTLS {
			wantNoTLS++
		}
		tot := map[string]Counts{"": want}
		bump(tot, "", tpl)
		want = tot[""]
		bump(wantStates, tpl.state, tpl)
		bump(wantDomains, strings.ToLower(domain), tpl)
		relay := tpl.relay
		if strings.Contains(relay, "%s") {
			relay = fmt.Sprintf(relay, strings.ToLower(domain))
		}
		bump(wantRelays, relay, tpl)
	}

	var tally Tally
	var wg sync.WaitGroup
	for r := range readers {
		pr, pw := io.Pipe()
		wg.Go(func() {
			bw := bufio.NewWriter(pw)
			for i := r * lines / readers; i < (r+1)*lines/readers; i++ {
				line, _, _ := synthLineAt(i)
				bw.WriteString(line)
				bw.WriteByte('\n')
			}
			pw.CloseWithError(bw.Flush())
		})
		wg.Go(func() {
			assert.NoError(t, tally.ReadLog(pr))
		})
	}
	wg.Wait()

	rep := tally.Report()
	assert.Equal(t, int64(lines), rep.Lines)
	assert.Equal(t, wantSkipped, rep.Skipped)
	assert.Equal(t, wantMalformed, rep.Malformed)
	assert.Equal(t, wantNoTLS, rep.NoTLSField)
	assert.Equal(t, want, rep.Total)
	assert.Equal(t, wantStates, rowMap(rep.States))
	assert.Equal(t, wantDomains, rowMap(rep.Domains))
	assert.Equal(t, wantRelays, rowMap(rep.Relays))

	// Postfix's states come first, in the documented order, with meanings;
	// the undocumented "requiretls:nomatch" comes last.
	var keys []string
	for _, row := range rep.States {
		keys = append(keys, row.Key)
		assert.NotEmpty(t, row.Meaning, row.Key)
	}
	assert.Equal(t, []string{"requiretls", "requiretls:nocertmatch", "!requiretls:nocertmatch", "!requiretls:none",
		"requiretls:none", "!requiretls:nostarttls", "!requiretls:noencryption",
		"!level/requiretls:nocertmatch", "!level/requiretls?", "requiretls?", NotRequested,
		"requiretls:nomatch"}, keys)
	assert.Equal(t, "not a state Postfix 3.11 logs", rep.States[len(rep.States)-1].Meaning)
}

func rowMap(rows []Row) map[string]Counts {
	m := make(map[string]Counts, len(rows))
	for _, r := range rows {
		m[r.Key] = r.Counts
	}
	return m
}

func TestTallyOverlongLineIsMalformed(t *testing.T) {
	var tally Tally
	in := exampleSent + "\n" + strings.Repeat("x", MaxLineBytes+10) + "\n" + exampleBounced // no final newline
	require.NoError(t, tally.ReadLog(strings.NewReader(in)))
	rep := tally.Report()
	assert.Equal(t, int64(3), rep.Lines)
	assert.Equal(t, int64(1), rep.Malformed)
	assert.Equal(t, int64(2), rep.Total.Deliveries)
	assert.Equal(t, int64(0), rep.Skipped)
}

func TestTallyReadLogError(t *testing.T) {
	var tally Tally
	err := tally.ReadLog(io.MultiReader(strings.NewReader(exampleSent+"\n"), errReader{}))
	require.ErrorIs(t, err, errBroken)
	assert.Equal(t, int64(1), tally.Report().Total.Deliveries)
}

var errBroken = fmt.Errorf("broken disk")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func TestTallyAddLine(t *testing.T) {
	var tally Tally
	assert.NoError(t, tally.AddLine(exampleSent))
	assert.NoError(t, tally.AddLine("postfix/qmgr[1]: ABC: removed"))
	err := tally.AddLine(strings.Replace(exampleSent, "tls=dane/requiretls", "tls=dane/", 1))
	assert.ErrorIs(t, err, ErrSyntax)
	rep := tally.Report()
	assert.Equal(t, Report{Lines: 3, Skipped: 1, Malformed: 1,
		Total: Counts{Deliveries: 1, Sent: 1, Requested: 1, Offered: 1},
		States: []Row{{Key: "requiretls", Meaning: postfixStates[0].meaning,
			Counts: Counts{Deliveries: 1, Sent: 1, Requested: 1, Offered: 1}}},
		Domains: []Row{{Key: "example.net", Counts: Counts{Deliveries: 1, Sent: 1, Requested: 1, Offered: 1}}},
		Relays:  []Row{{Key: "mx1.example.net", Counts: Counts{Deliveries: 1, Sent: 1, Requested: 1, Offered: 1}}},
	}, rep)
}

// TestTallyMaxKeys: distinct domains and relays beyond MaxKeys are counted
// under "(other)", so memory is bounded; the totals stay exact.
func TestTallyMaxKeys(t *testing.T) {
	tally := Tally{MaxKeys: 3}
	for i := range 10 {
		d := Delivery{To: fmt.Sprintf("a@d%d.example", i), Relay: fmt.Sprintf("mx.d%d.example[192.0.2.1]:25", i), Status: Sent}
		tally.Add(&d)
	}
	rep := tally.Report()
	assert.Equal(t, int64(10), rep.Total.Deliveries)
	assert.Len(t, rep.Domains, 4)
	assert.Equal(t, Row{Key: "(other)", Counts: Counts{Deliveries: 7, Sent: 7}}, rep.Domains[0])
	assert.Len(t, rep.Relays, 4)
	assert.Equal(t, int64(0), rep.Skipped, "Add does not count lines")
	assert.Equal(t, int64(10), rep.NoTLSField)
}

func TestReportWriteText(t *testing.T) {
	var tally Tally
	for _, l := range []string{exampleSent, exampleDowngrad, exampleBounced, exampleBounced, "postfix/qmgr[1]: A: removed"} {
		_ = tally.AddLine(l)
	}
	rep := tally.Report()
	var buf bytes.Buffer
	require.NoError(t, rep.WriteText(&buf))
	assert.Equal(t, `5 lines: 4 deliveries (0 without a tls= field), 1 other lines skipped, 0 malformed

REQUIRETLS state         deliveries  sent  deferred  bounced  other  meaning
requiretls               1           1     0         0        0      REQUIRETLS sent, server certificate matched
!requiretls:nocertmatch  2           0     0         2        0      not sent: certificate not matched or not matchable (enforce)
requiretls:none          1           1     0         0        0      sent without REQUIRETLS: not offered (downgrade)
total                    4           2     0         2        0

REQUIRETLS requested for 4 deliveries: offered by the server 1 (25.0%), not offered 1 (25.0%), unknown 2.

recipient domain  deliveries  sent  deferred  bounced  requested  offered  not offered
example.com       2           0     0         2        2          0        0
example.net       1           1     0         0        1          1        0
example.org       1           1     0         0        1          0        1

relay            deliveries  sent  deferred  bounced  requested  offered  not offered
none             2           0     0         2        2          0        0
mx.example.org   1           1     0         0        1          0        1
mx1.example.net  1           1     0         0        1          1        0
`, buf.String())
}

func TestReportWriteTextTopRows(t *testing.T) {
	var tally Tally
	for i := range TopRows + 5 {
		tally.Add(&Delivery{To: fmt.Sprintf("a@d%02d.example", i), Relay: "none", Status: Sent})
	}
	rep := tally.Report()
	var buf bytes.Buffer
	require.NoError(t, rep.WriteText(&buf))
	assert.Contains(t, buf.String(), "d09.example")
	assert.NotContains(t, buf.String(), "d10.example")
	assert.Contains(t, buf.String(), "... and 5 more\n")
}

func TestReportJSON(t *testing.T) {
	var tally Tally
	_ = tally.AddLine(exampleDowngrad)
	b, err := json.Marshal(tally.Report())
	require.NoError(t, err)
	counts := `"deliveries":1,"sent":1,"deferred":0,"bounced":0,"other_status":0,"requiretls_requested":1,"requiretls_offered":0,"requiretls_not_offered":1`
	assert.JSONEq(t, `{"lines":1,"skipped":0,"malformed":0,"no_tls_field":0,
		"total":{`+counts+`},
		"requiretls_states":[{"key":"requiretls:none","meaning":"sent without REQUIRETLS: not offered (downgrade)",`+counts+`}],
		"domains":[{"key":"example.org",`+counts+`}],
		"relays":[{"key":"mx.example.org",`+counts+`}]}`, string(b))
}

func TestTallyLogValue(t *testing.T) {
	var tally Tally
	_ = tally.AddLine(exampleSent)
	_ = tally.AddLine(exampleBounced)
	_ = tally.AddLine("junk")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime})).Info("experiment", "tally", &tally)
	assert.Equal(t, "level=INFO msg=experiment tally.lines=3 tally.deliveries=2 tally.malformed=0 tally.requiretls.requiretls=1 tally.requiretls.!requiretls:nocertmatch=1\n", buf.String())
}

func TestServerSupport(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"requiretls", +1},
		{"requiretls:nocertmatch", +1},
		{"!requiretls:nocertmatch", 0},
		{"!requiretls:none", -1},
		{"requiretls:none", -1},
		{"!requiretls:nostarttls", -1},
		{"!requiretls:noencryption", 0},
		{"requiretls?", 0},
		{"requiretls:nomatch", 0},
		// After a violated TLS security level (Postfix 3.11.6).
		{"!verify/requiretls:nocertmatch", 0},
		{"!verify/requiretls?", -1},
		{"!verify/!requiretls:nostarttls", -1},
		{"!verify/!requiretls:nocertmatch", 0},
		{"verify/requiretls:nocertmatch", +1},
	}
	for _, tt := range tests {
		fl, err := ParseField(tt.in)
		require.NoError(t, err)
		f, _ := fl.Lookup(RequireTLS)
		assert.Equal(t, tt.want, serverSupport(f, levelViolated(fl)), tt.in)
	}
}
