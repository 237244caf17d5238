package tlsstatus

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// deliveryRE is the regular expression an engineer would write for
// ParseLine's job: anchored, with the prefix spelled out (a syslog time,
// with or without microseconds, or an RFC 3339 time, then the host), every
// field extracted, tls= parsed with ParseField. parseLineRegexp runs it
// only on lines that contain ": to=<", the prefilter an engineer would add.
var deliveryRE = regexp.MustCompile(`^(?:([A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?|[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+) +([^ ]+) )?([^ \[]+/[sl]mtp)\[([0-9]{1,9})\]: ([0-9A-Za-z]{1,32}): to=<([^>]*)>, (?:orig_to=<([^>]*)>, )?relay=([^ ,]+), (?:conn_use=([0-9]{1,9}), )?delay=([^ ,]+), delays=([^ ,]+), (?:tls=([^ ,]+), )?dsn=([^ ,]+), status=([A-Za-z0-9_-]+)(?: \((.+)\))?\r?\n?$`)

func parseLineRegexp(line string) (Delivery, bool, error) {
	if !strings.Contains(line, ": to=<") {
		return Delivery{}, false, nil
	}
	m := deliveryRE.FindStringSubmatch(line)
	if m == nil {
		return Delivery{}, false, nil
	}
	d := Delivery{Time: m[1], Host: m[2], Program: m[3], QueueID: m[5], To: m[6], OrigTo: m[7],
		Relay: m[8], Delay: m[10], Delays: m[11], DSN: m[13], Status: Status(m[14]), Reason: m[15]}
	d.PID, _ = strconv.Atoi(m[4])
	if m[9] != "" {
		d.ConnUse, _ = strconv.Atoi(m[9])
	}
	if m[12] != "" {
		var err error
		if d.TLS, err = ParseField(m[12]); err != nil {
			return Delivery{}, false, err
		}
	}
	return d, true, nil
}

// TestRegexpAlternativeAgrees keeps the benchmark honest: both
// implementations extract the same deliveries from the benchmark input.
func TestRegexpAlternativeAgrees(t *testing.T) {
	for _, line := range benchLines() {
		want, wantOK, _ := ParseLine(line)
		got, gotOK, _ := parseLineRegexp(line)
		if wantOK != gotOK || !equalDelivery(want, got) {
			t.Fatalf("%q:\nours   %v %+v\nregexp %v %+v", line, wantOK, want, gotOK, got)
		}
	}
}

// benchLines is a maillog mix: per message, about the lines a Postfix
// relay logs (smtpd connect/client/disconnect, cleanup, qmgr from/removed,
// smtp TLS notes and the delivery line), so 1 line in 8 is a delivery.
func benchLines() []string {
	const p = "Oct  1 12:00:00 mx "
	return []string{
		p + "postfix/smtpd[98]: connect from client.example[192.0.2.9]",
		p + "postfix/smtpd[98]: 3F2A81C0D: client=client.example[192.0.2.9], sasl_method=PLAIN, sasl_username=alice",
		p + "postfix/cleanup[97]: 3F2A81C0D: message-id=<20251001120000.1234@client.example>",
		p + "postfix/qmgr[99]: 3F2A81C0D: from=<alice@example.org>, size=1234, nrcpt=1 (queue active)",
		p + "postfix/smtpd[98]: disconnect from client.example[192.0.2.9] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7",
		p + "postfix/smtp[4711]: Verified TLS connection established to mx1.example.net[192.0.2.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
		p + exampleSent,
		p + "postfix/qmgr[99]: 3F2A81C0D: removed",
	}
}

// BenchmarkParseLine parses a realistic maillog mix; "skipped" parses only
// lines that are not delivery lines. Compare ours with regexp (same run):
// an anchored pattern behind a strings.Contains(line, ": to=<") prefilter.
func BenchmarkParseLine(b *testing.B) {
	lines := benchLines()
	var skipped []string
	for _, l := range lines {
		if _, ok, _ := ParseLine(l); !ok {
			skipped = append(skipped, l)
		}
	}
	for _, c := range []struct {
		name  string
		parse func(string) (Delivery, bool, error)
	}{{"ours", ParseLine}, {"regexp", parseLineRegexp}} {
		b.Run("mix/"+c.name, func(b *testing.B) {
			benchParse(b, lines, c.parse)
		})
		b.Run("skipped/"+c.name, func(b *testing.B) {
			benchParse(b, skipped, c.parse)
		})
		b.Run("delivery/"+c.name, func(b *testing.B) {
			benchParse(b, []string{"Oct  1 12:00:00 mx " + exampleBounced}, c.parse)
		})
	}
}

func benchParse(b *testing.B, lines []string, parse func(string) (Delivery, bool, error)) {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := parse(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTallyLines counts maillogs of 10⁴, 10⁵ and 10⁶ lines (the
// benchLines mix, 1 delivery in 8) with Tally.AddLine, to show that the
// cost per line stays flat as the log grows; ns/line is the time per op
// divided by the number of lines.
func BenchmarkTallyLines(b *testing.B) {
	mix := benchLines()
	for _, n := range []int{10000, 100000, 1000000} {
		b.Run("lines="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var t Tally
				for i := range n {
					if err := t.AddLine(mix[i%len(mix)]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/line")
		})
	}
}
