package tlsstatus

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
)

// Tally counts Postfix delivery status lines by REQUIRETLS state, status,
// recipient domain and relay: the experiment Postfix 3.11's REQUIRETLS_README
// proposes (turn REQUIRETLS on for all outbound mail and count how often each
// state is logged, to learn how much of the world supports RFC 8689).
//
// The zero Tally is ready to use. Its methods may be called from several
// goroutines at once.
type Tally struct {
	// MaxKeys bounds the number of distinct recipient domains and of
	// distinct relays counted (each); further ones are counted under the key
	// "(other)", so memory stays bounded on any input. Zero means 10000.
	// Set it before the first Add.
	MaxKeys int

	mu        sync.Mutex
	lines     int64
	malformed int64
	noField   int64
	total     Counts
	states    map[string]*Counts
	domains   map[string]*Counts
	relays    map[string]*Counts
}

// Counts are the delivery counts of one row of a [Report].
type Counts struct {
	Deliveries int64 `json:"deliveries"`   // delivery status lines counted in this row
	Sent       int64 `json:"sent"`         // of which status=sent
	Deferred   int64 `json:"deferred"`     // of which status=deferred
	Bounced    int64 `json:"bounced"`      // of which status=bounced
	Other      int64 `json:"other_status"` // any other status word

	// Requested counts deliveries that logged a REQUIRETLS feature, that is
	// of messages that requested REQUIRETLS (RFC 8689 Section 4.2.1) under a
	// policy above "disable".
	Requested int64 `json:"requiretls_requested"`
	// Offered counts deliveries where the server announced REQUIRETLS after
	// STARTTLS: logged "requiretls" or "requiretls:nocertmatch".
	Offered int64 `json:"requiretls_offered"`
	// NotOffered counts deliveries where the server did not announce
	// REQUIRETLS or offered no TLS at all: "requiretls:none",
	// "!requiretls:none", "!requiretls:nostarttls", or "requiretls?" after
	// a TLS security level that required TLS was violated ("!verify/requiretls?").
	// The remaining Requested deliveries ("requiretls?",
	// "!requiretls:nocertmatch", "!requiretls:noencryption", and
	// "requiretls:nocertmatch" after a violated TLS security level, which
	// Postfix decides before the EHLO that would announce REQUIRETLS) say
	// nothing about REQUIRETLS at the server.
	NotOffered int64 `json:"requiretls_not_offered"`
}

// Row is one line of a [Report] table.
type Row struct {
	Key     string `json:"key"`               // the REQUIRETLS state, recipient domain or relay host this row counts
	Meaning string `json:"meaning,omitempty"` // what the state means (REQUIRETLS states only)
	// Counts are the deliveries counted under Key.
	Counts
}

// Report is a snapshot of a [Tally].
type Report struct {
	Lines      int64 `json:"lines"`        // lines seen by AddLine and ReadLog
	Skipped    int64 `json:"skipped"`      // lines that are not delivery status lines
	Malformed  int64 `json:"malformed"`    // delivery status lines that did not parse, and overlong lines
	NoTLSField int64 `json:"no_tls_field"` // deliveries logged without a tls= field

	Total Counts `json:"total"` // every delivery status line
	// States has one row per REQUIRETLS feature as logged (for example
	// "!requiretls:nostarttls"), and the row [NotRequested] for deliveries
	// without one; Postfix 3.11's states first, in the order of its
	// documentation, then any others by count. A REQUIRETLS feature that
	// did not fail, logged after a TLS security level that did ("!verify/"
	// in front), has its own row under the key [LevelViolated] + feature,
	// e.g. "!level/requiretls:nocertmatch": the connection was not used.
	States  []Row `json:"requiretls_states"`
	Domains []Row `json:"domains"` // by recipient domain, most deliveries first
	Relays  []Row `json:"relays"`  // by relay host name, most deliveries first
}

// NotRequested is the key of the state row for deliveries that logged no
// REQUIRETLS feature.
const NotRequested = "-"

// LevelViolated prefixes the state key of a REQUIRETLS feature that is not
// a violation itself but was logged after a violated TLS security level
// ("!LEVEL/..."), whatever the level's name.
const LevelViolated = "!level/"

// otherKey collects domains and relays beyond Tally.MaxKeys.
const otherKey = "(other)"

const defaultMaxKeys = 10000

// MaxLineBytes is the longest line ReadLog parses, counting its line feed;
// a line of MaxLineBytes or more bytes before its line feed (or before the
// end of the input) is counted as malformed and skipped.
const MaxLineBytes = 64 << 10

// postfixStates lists the REQUIRETLS features Postfix 3.11 logs, in the
// order Postfix documents them in, with what each means.
var postfixStates = []struct{ key, meaning string }{
	{"requiretls", "REQUIRETLS sent, server certificate matched"},
	{"requiretls:nocertmatch", "REQUIRETLS sent, certificate not matched (allowed by policy)"},
	{"!requiretls:nocertmatch", "not sent: certificate not matched or not matchable (enforce)"},
	{"!requiretls:none", "not sent: TLS, but no REQUIRETLS after STARTTLS (enforce)"},
	{"requiretls:none", "sent without REQUIRETLS: not offered (downgrade)"},
	{"!requiretls:nostarttls", "not sent: STARTTLS not offered or refused"},
	{"!requiretls:noencryption", "not sent: TLS level disables encryption"},
	{LevelViolated + "requiretls:nocertmatch", "not sent: the TLS security level requires a verified certificate (REQUIRETLS allowed it)"},
	{LevelViolated + "requiretls?", "not sent: the TLS security level requires TLS; STARTTLS not offered or refused"},
	{"requiretls?", "undecided: connection or handshake failed, or TLS policy lookup failed"},
	{NotRequested, "REQUIRETLS not requested (or policy disable)"},
}

// serverSupport says what a REQUIRETLS feature tells about the server: +1
// it announced REQUIRETLS, -1 it did not, 0 unknown. levelViolated: the TLS
// security level slot was a violation, so the connection ended before the
// EHLO after STARTTLS (undecided: for want of TLS).
func serverSupport(f Feature, levelViolated bool) int {
	switch {
	case levelViolated && f.Undecided:
		return -1
	case levelViolated && !f.Violation, f.Undecided:
		return 0
	}
	switch f.Final {
	case "", NoCertMatch:
		if !f.Violation {
			return +1
		}
	case None, NoSTARTTLS:
		return -1
	}
	return 0
}

// Add counts one delivery.
func (t *Tally) Add(d *Delivery) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(d)
}

// add counts d; t.mu is held.
func (t *Tally) add(d *Delivery) {
	t.init()
	state := NotRequested
	rt, requested := d.RequireTLS()
	support := 0
	if requested {
		violated := levelViolated(d.TLS)
		state = rt.String()
		if violated && !rt.Violation {
			state = LevelViolated + state
		}
		support = serverSupport(rt, violated)
	}
	if d.TLS == nil {
		t.noField++
	}
	t.total.add(d.Status, requested, support)
	countIn(t.states, state, t.maxKeys(), false).add(d.Status, requested, support)
	countIn(t.domains, d.Domain(), t.maxKeys(), true).add(d.Status, requested, support)
	countIn(t.relays, d.RelayHost(), t.maxKeys(), true).add(d.Status, requested, support)
}

// levelViolated reports whether the TLS security level slot of fl (the
// feature that is not REQUIRETLS) is a violation: "!verify/...".
func levelViolated(fl Field) bool {
	for _, f := range fl {
		if f.Name != RequireTLS {
			return f.Violation
		}
	}
	return false
}

func (c *Counts) add(s Status, requested bool, support int) {
	c.Deliveries++
	switch s {
	case Sent:
		c.Sent++
	case Deferred:
		c.Deferred++
	case Bounced:
		c.Bounced++
	default:
		c.Other++
	}
	if requested {
		c.Requested++
		switch support {
		case +1:
			c.Offered++
		case -1:
			c.NotOffered++
		}
	}
}

// countIn returns the counts for key in m, adding them if m has fewer than
// max keys and using otherKey if not. With fold, keys are compared
// case-insensitively (host and domain names) and stored lower-case. Stored
// keys are copied, so they do not keep a log line alive.
func countIn(m map[string]*Counts, key string, max int, fold bool) *Counts {
	if fold && hasUpper(key) {
		key = strings.ToLower(key)
	}
	if c, ok := m[key]; ok {
		return c
	}
	if len(m) >= max {
		key = otherKey
		if c, ok := m[key]; ok {
			return c
		}
	}
	c := new(Counts)
	m[strings.Clone(key)] = c
	return c
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func (t *Tally) init() {
	if t.states == nil {
		t.states = make(map[string]*Counts)
		t.domains = make(map[string]*Counts)
		t.relays = make(map[string]*Counts)
	}
}

func (t *Tally) maxKeys() int {
	if t.MaxKeys > 0 {
		return t.MaxKeys
	}
	return defaultMaxKeys
}

// AddLine parses one log line with [ParseLine] and counts it: as a
// delivery, as skipped, or as malformed. It returns the parse error of a
// malformed delivery status line, which is counted all the same.
func (t *Tally) AddLine(line string) error {
	d, ok, err := ParseLine(line)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines++
	switch {
	case err != nil:
		t.malformed++
	case ok:
		t.add(&d)
	}
	return err
}

// countLine counts a line that is not a delivery: malformed or skipped.
func (t *Tally) countLine(malformed bool) {
	t.mu.Lock()
	t.lines++
	if malformed {
		t.malformed++
	}
	t.mu.Unlock()
}

// toMarker is in every line ParseLine accepts or rejects; lines without it
// are skipped without converting them to a string.
var toMarker = []byte(": to=<")

// ReadLog counts every line of r, as AddLine does, until EOF. Malformed lines
// are counted, not returned; overlong lines (see [MaxLineBytes]) are counted
// as malformed. The counts depend on the bytes of r alone, never on the
// sizes of its reads. It returns only a read error. ReadLog may run
// concurrently with other ReadLog calls on the same Tally, for example one
// per log file.
func (t *Tally) ReadLog(r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLineBytes)
	for {
		b, err := br.ReadSlice('\n')
		// A full buffer without a line feed is overlong. bufio says so with
		// ErrBufferFull, unless a read error (io.EOF) came with the last
		// bytes: then it returns them as a line with that error. Decide on
		// the bytes, so that the count does not depend on read sizes.
		full := len(b) == MaxLineBytes && b[len(b)-1] != '\n'
		if full || errors.Is(err, bufio.ErrBufferFull) {
			// Overlong: count it as malformed and skip to its end.
			t.countLine(true)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		if len(b) > 0 {
			if bytes.Contains(b, toMarker) {
				_ = t.AddLine(string(b))
			} else {
				t.countLine(false)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Report returns a snapshot of the counts.
func (t *Tally) Report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Report{
		Lines:      t.lines,
		Malformed:  t.malformed,
		NoTLSField: t.noField,
		Total:      t.total,
		Domains:    sortedRows(t.domains),
		Relays:     sortedRows(t.relays),
	}
	r.Skipped = r.Lines - r.Malformed - r.Total.Deliveries
	if r.Skipped < 0 { // deliveries added with Add, not from lines
		r.Skipped = 0
	}
	for _, s := range postfixStates {
		if c, ok := t.states[s.key]; ok {
			r.States = append(r.States, Row{Key: s.key, Meaning: s.meaning, Counts: *c})
		}
	}
	var others []Row
	for _, row := range sortedRows(t.states) {
		if !slices.ContainsFunc(postfixStates, func(s struct{ key, meaning string }) bool { return s.key == row.Key }) {
			row.Meaning = "not a state Postfix 3.11 logs"
			others = append(others, row)
		}
	}
	r.States = append(r.States, others...)
	return r
}

func sortedRows(m map[string]*Counts) []Row {
	rows := make([]Row, 0, len(m))
	for k, c := range m {
		rows = append(rows, Row{Key: k, Counts: *c})
	}
	slices.SortFunc(rows, func(a, b Row) int {
		if c := cmp.Compare(b.Deliveries, a.Deliveries); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return rows
}

// TopRows is how many domains and relays [Report.WriteText] shows.
const TopRows = 10

// WriteText writes the report as aligned text tables for a person: the
// REQUIRETLS states with their meaning, then the [TopRows] recipient
// domains and relays with the most deliveries.
func (r *Report) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "%d lines: %d deliveries (%d without a tls= field), %d other lines skipped, %d malformed\n\n",
		r.Lines, r.Total.Deliveries, r.NoTLSField, r.Skipped, r.Malformed); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "REQUIRETLS state\tdeliveries\tsent\tdeferred\tbounced\tother\tmeaning\n")
	for _, row := range r.States {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", row.Key, row.Deliveries, row.Sent, row.Deferred, row.Bounced, row.Other, row.Meaning)
	}
	c := r.Total
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\n", c.Deliveries, c.Sent, c.Deferred, c.Bounced, c.Other)
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.Requested > 0 {
		fmt.Fprintf(w, "\nREQUIRETLS requested for %d deliveries: offered by the server %d (%.1f%%), not offered %d (%.1f%%), unknown %d.\n",
			c.Requested, c.Offered, percent(c.Offered, c.Requested), c.NotOffered, percent(c.NotOffered, c.Requested),
			c.Requested-c.Offered-c.NotOffered)
	}

	for _, tbl := range []struct {
		title string
		rows  []Row
	}{{"recipient domain", r.Domains}, {"relay", r.Relays}} {
		if len(tbl.rows) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tdeliveries\tsent\tdeferred\tbounced\trequested\toffered\tnot offered\n", tbl.title)
		for _, row := range tbl.rows[:min(len(tbl.rows), TopRows)] {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", row.Key, row.Deliveries, row.Sent, row.Deferred, row.Bounced, row.Requested, row.Offered, row.NotOffered)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if n := len(tbl.rows) - TopRows; n > 0 {
			if _, err := fmt.Fprintf(w, "... and %d more\n", n); err != nil {
				return err
			}
		}
	}
	return nil
}

func percent(n, of int64) float64 { return 100 * float64(n) / float64(of) }

// LogValue logs the line counts and the count of each REQUIRETLS state, so
// that slog.Info("tally", "report", &t) shows the experiment's result.
func (t *Tally) LogValue() slog.Value {
	r := t.Report()
	attrs := []slog.Attr{
		slog.Int64("lines", r.Lines),
		slog.Int64("deliveries", r.Total.Deliveries),
		slog.Int64("malformed", r.Malformed),
	}
	states := make([]slog.Attr, 0, len(r.States))
	for _, row := range r.States {
		states = append(states, slog.Int64(row.Key, row.Deliveries))
	}
	attrs = append(attrs, slog.Attr{Key: "requiretls", Value: slog.GroupValue(states...)})
	return slog.GroupValue(attrs...)
}
