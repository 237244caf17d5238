package tlsstatus

import (
	"log/slog"
	"strconv"
	"strings"
)

// Status is the delivery status word of a Postfix delivery log line.
type Status string

// Delivery statuses Postfix's smtp(8) and lmtp(8) log. Other words (for
// example "deliverable" from address verification probes) are kept as
// logged.
const (
	Sent     Status = "sent"     // the next hop accepted the message
	Deferred Status = "deferred" // delivery failed for now and will be retried
	Bounced  Status = "bounced"  // delivery failed for good; the sender gets a bounce
)

// Delivery is one Postfix delivery status log line (Postfix 3.11
// log_adhoc.c), for example
//
//	Oct  1 12:00:00 mx postfix/smtp[4711]: 3F2A81C0D: to=<bob@example.net>,
//	relay=mx1.example.net[192.0.2.25]:25, delay=0.91,
//	delays=0.04/0.01/0.52/0.34, tls=dane/requiretls, dsn=2.0.0,
//	status=sent (250 2.0.0 Ok)
//
// (one line in the log). String values are as logged, without the
// surrounding "<>" or "()".
type Delivery struct {
	// The syslog or maillog_file prefix. Time and Host are empty when the
	// line starts with the program tag.
	Time    string // as logged: "Oct  1 12:00:00", "Oct  1 12:00:00.123456" or RFC 3339
	Host    string // the logging host
	Program string // the tag without the PID, e.g. "postfix/smtp" or "postfix-out/lmtp"
	PID     int    // the process id in brackets after the tag

	QueueID string // the Postfix queue id of the message, e.g. "3F2A81C0D"
	To      string // the recipient
	OrigTo  string // the original recipient; empty when not logged
	Relay   string // "host[addr]:port", "none", ...
	ConnUse int    // the connection reuse count; 0 when not logged
	Delay   string // total delay in seconds, e.g. "0.91"
	Delays  string // "a/b/c/d"
	TLS     Field  // the tls= field; nil when not logged (Postfix before 3.11, or logging off)
	DSN     string // enhanced status code, e.g. "5.7.10"
	Status  Status // the status= word
	Reason  string // the text in parentheses after the status; empty when absent
}

// RequireTLS returns the REQUIRETLS feature (slot 1 of the tls= field) and
// whether the line has one. Postfix logs it only when the message requested
// REQUIRETLS and the REQUIRETLS policy for the next hop was not
// "disable" (RFC 8689 Section 4.2.1; Postfix 3.11 logs nothing in that
// slot otherwise).
func (d *Delivery) RequireTLS() (Feature, bool) { return d.TLS.Lookup(RequireTLS) }

// Domain returns the recipient domain: the part of To after the last '@',
// or "" when To has none.
func (d *Delivery) Domain() string {
	if i := strings.LastIndexByte(d.To, '@'); i >= 0 {
		return d.To[i+1:]
	}
	return ""
}

// RelayHost returns the host name of Relay without "[addr]:port", e.g.
// "mx1.example.net" for "mx1.example.net[192.0.2.25]:25".
func (d *Delivery) RelayHost() string {
	if i := strings.IndexByte(d.Relay, '['); i >= 0 {
		return d.Relay[:i]
	}
	return d.Relay
}

// String returns the line in Postfix's form. Fields that are empty (or
// zero) and optional in the format are left out; the prefix is written only
// when Program is set. ParseLine(d.String()) gives d back for any d that
// ParseLine returned.
func (d *Delivery) String() string {
	var b strings.Builder
	b.Grow(160 + len(d.To) + len(d.OrigTo) + len(d.Reason))
	if d.Program != "" {
		if d.Time != "" {
			b.WriteString(d.Time)
			b.WriteByte(' ')
		}
		if d.Host != "" {
			b.WriteString(d.Host)
			b.WriteByte(' ')
		}
		b.WriteString(d.Program)
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(d.PID))
		b.WriteString("]: ")
	}
	b.WriteString(d.QueueID)
	b.WriteString(": to=<")
	b.WriteString(d.To)
	b.WriteByte('>')
	if d.OrigTo != "" {
		b.WriteString(", orig_to=<")
		b.WriteString(d.OrigTo)
		b.WriteByte('>')
	}
	b.WriteString(", relay=")
	b.WriteString(d.Relay)
	if d.ConnUse != 0 {
		b.WriteString(", conn_use=")
		b.WriteString(strconv.Itoa(d.ConnUse))
	}
	b.WriteString(", delay=")
	b.WriteString(d.Delay)
	b.WriteString(", delays=")
	b.WriteString(d.Delays)
	if len(d.TLS) > 0 {
		b.WriteString(", tls=")
		b.WriteString(d.TLS.String())
	}
	b.WriteString(", dsn=")
	b.WriteString(d.DSN)
	b.WriteString(", status=")
	b.WriteString(string(d.Status))
	if d.Reason != "" {
		b.WriteString(" (")
		b.WriteString(d.Reason)
		b.WriteByte(')')
	}
	return b.String()
}

// LogValue logs the delivery's main fields as a group.
func (d *Delivery) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("queue_id", d.QueueID),
		slog.String("to", d.To),
		slog.String("relay", d.Relay),
		slog.Any("tls", d.TLS),
		slog.String("dsn", d.DSN),
		slog.String("status", string(d.Status)),
	)
}

// Limits on the parts of a line; anything longer is malformed.
const (
	maxPIDDigits   = 9
	maxQueueIDLen  = 32
	maxConnUseDigs = 9
)

// ParseLine parses one Postfix delivery status line written by smtp(8) or
// lmtp(8), with a syslog prefix ("Oct  1 12:00:00 host postfix/smtp[4711]: "),
// the maillog_file prefix (the same with microseconds, or an RFC 3339 time),
// or just the program tag ("postfix/smtp[4711]: ").
//
// Lines of other programs, and smtp/lmtp lines that are not delivery status
// lines ("QUEUEID: to=<" after the tag), are skipped: ok is false and err is
// nil, and nothing is allocated. A delivery status line that does not follow
// the format (a missing relay=, delay=, delays=, dsn= or status=, or a bad
// tls= field) gives a *ParseError wrapping [ErrSyntax].
//
// The program is recognised by the last element of its tag, "smtp" or
// "lmtp", so "postfix-out/smtp" and "postfix/relay/smtp" count; these are
// the only delivery agents that log tls= (Postfix 3.11:
// smtp_log_tls_feature_status and lmtp_log_tls_feature_status). A trailing
// "\n" or "\r\n" is ignored.
func ParseLine(line string) (d Delivery, ok bool, err error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	end := strings.Index(line, "]: ")
	if end < 0 {
		return Delivery{}, false, nil
	}
	open := strings.LastIndexByte(line[:end], '[')
	if open < 0 {
		return Delivery{}, false, nil
	}
	tagStart := strings.LastIndexByte(line[:open], ' ') + 1
	tag := line[tagStart:open]
	if !isDeliveryAgent(tag) || strings.ContainsAny(line[:open], "[]") {
		return Delivery{}, false, nil
	}
	pid, pidOK := atoi(line[open+1:end], maxPIDDigits)
	if !pidOK {
		return Delivery{}, false, nil
	}
	msgStart := end + len("]: ")
	msg := line[msgStart:]
	qlen := queueIDLen(msg)
	if qlen == 0 || !strings.HasPrefix(msg[qlen:], ": to=<") {
		return Delivery{}, false, nil
	}

	// From here on the line is a delivery status line.
	d.Program = tag
	d.PID = pid
	if tagStart > 0 {
		prefix := strings.TrimRight(line[:tagStart], " ")
		if i := strings.LastIndexByte(prefix, ' '); i >= 0 {
			d.Time = strings.TrimRight(prefix[:i], " ")
			d.Host = prefix[i+1:]
		} else {
			d.Host = prefix
		}
	}
	d.QueueID = msg[:qlen]
	p := lineParser{line: line, pos: msgStart + qlen + len(": to=<")}
	if d.To, err = p.address(); err != nil {
		return Delivery{}, false, err
	}
	var seen uint8
	for !p.done() {
		key, err := p.key()
		if err != nil {
			return Delivery{}, false, err
		}
		var bit uint8
		switch key {
		case "orig_to":
			bit = 1 << 0
			if !p.consume("<") {
				return Delivery{}, false, p.fail("orig_to without '<'")
			}
			d.OrigTo, err = p.address()
		case "relay":
			bit = 1 << 1
			d.Relay = p.value()
		case "conn_use":
			bit = 1 << 2
			start := p.pos
			var ok bool
			if d.ConnUse, ok = atoi(p.value(), maxConnUseDigs); !ok || d.ConnUse == 0 {
				p.pos = start
				err = p.fail("bad conn_use")
			}
		case "delay":
			bit = 1 << 3
			d.Delay = p.value()
		case "delays":
			bit = 1 << 4
			d.Delays = p.value()
		case "tls":
			bit = 1 << 5
			start := p.pos
			d.TLS, err = parseField(line, p.value(), start)
		case "dsn":
			bit = 1 << 6
			d.DSN = p.value()
		case "status":
			bit = 1 << 7
			d.Status, d.Reason, err = p.status()
		default:
			// A field a later Postfix may add: skip it.
			p.value()
		}
		if err != nil {
			return Delivery{}, false, err
		}
		if seen&bit != 0 {
			return Delivery{}, false, p.fail("duplicate " + key)
		}
		seen |= bit
	}
	const required = 1<<1 | 1<<3 | 1<<4 | 1<<6 | 1<<7
	if seen&required != required {
		return Delivery{}, false, p.fail("missing relay, delay, delays, dsn or status")
	}
	if d.Relay == "" || d.Delay == "" || d.Delays == "" || d.DSN == "" || d.Status == "" {
		return Delivery{}, false, p.fail("empty relay, delay, delays, dsn or status")
	}
	return d, true, nil
}

// isDeliveryAgent reports whether tag names smtp(8) or lmtp(8) under some
// syslog_name: "<name>/smtp" or "<name>/lmtp".
func isDeliveryAgent(tag string) bool {
	i := strings.LastIndexByte(tag, '/')
	if i <= 0 {
		return false
	}
	prog := tag[i+1:]
	return prog == "smtp" || prog == "lmtp"
}

// queueIDLen returns the length of the Postfix queue ID at the start of s:
// short IDs are upper-case hex, long IDs (enable_long_queue_ids) use
// letters and digits.
func queueIDLen(s string) int {
	n := 0
	for n < len(s) && n <= maxQueueIDLen && isAlnum(s[n]) {
		n++
	}
	if n > maxQueueIDLen {
		return 0
	}
	return n
}

// isStatusWord accepts the words Postfix logs as a status ("sent",
// "SOFTBOUNCE", ...): letters, digits, '-' and '_'.
func isStatusWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' && s[i] != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// atoi parses a decimal number of 1 to maxDigits digits.
func atoi(s string, maxDigits int) (int, bool) {
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// lineParser walks the ", key=value" list of a delivery status line.
type lineParser struct {
	line string
	pos  int
}

func (p *lineParser) done() bool { return p.pos >= len(p.line) }

func (p *lineParser) fail(msg string) error {
	return &ParseError{Input: p.line, Offset: p.pos, Msg: msg}
}

func (p *lineParser) consume(s string) bool {
	if strings.HasPrefix(p.line[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

// address reads up to the closing '>' that ends a to=<...> or orig_to=<...>
// field, that is the first ">" followed by ", " or the end of the line.
func (p *lineParser) address() (string, error) {
	rest := p.line[p.pos:]
	i := strings.Index(rest, ">, ")
	if i < 0 {
		if !strings.HasSuffix(rest, ">") {
			return "", p.fail("address without closing '>'")
		}
		i = len(rest) - 1
	}
	p.pos += i + 1
	return rest[:i], nil
}

// key reads ", key=" and returns key.
func (p *lineParser) key() (string, error) {
	if !p.consume(", ") {
		return "", p.fail(`expected ", "`)
	}
	rest := p.line[p.pos:]
	i := strings.IndexByte(rest, '=')
	if i <= 0 || strings.ContainsAny(rest[:i], " ,") {
		return "", p.fail("expected key=value")
	}
	p.pos += i + 1
	return rest[:i], nil
}

// value reads up to the next ", " or the end of the line.
func (p *lineParser) value() string {
	rest := p.line[p.pos:]
	i := strings.Index(rest, ", ")
	if i < 0 {
		i = len(rest)
	}
	p.pos += i
	return rest[:i]
}

// status reads "word" or "word (reason)", which ends the line.
func (p *lineParser) status() (Status, string, error) {
	rest := p.line[p.pos:]
	word, reason, hasReason := strings.Cut(rest, " ")
	if !isStatusWord(word) {
		return "", "", p.fail("bad status")
	}
	if hasReason {
		if len(reason) < 2 || reason[0] != '(' || reason[len(reason)-1] != ')' {
			p.pos += len(word) + 1
			return "", "", p.fail("status reason not in parentheses")
		}
		reason = reason[1 : len(reason)-1]
		if reason == "" {
			p.pos += len(word) + 1
			return "", "", p.fail("empty status reason")
		}
	}
	p.pos = len(p.line)
	return Status(word), reason, nil
}
