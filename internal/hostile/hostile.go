// Package hostile is test support shared by the hostile-corpus tests of
// every package of this module (requiretls, header, policy, dsn, tlsstatus):
// one list of hostile inputs, streamed on the fly so that a 1 GiB input costs
// no memory to produce, and a heap sampler to check that a parser's memory
// stays bounded whatever the input size (RFC 8689 Section 5 asks for
// header-only bounces; the design of this module bounds the memory of the
// header fast path and of DSN redaction).
//
// Only _test.go files import it.
package hostile

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Secret marks body bytes that must never appear in a redacted output
// (RFC 8689 Section 5: the returned content is the header section only).
const Secret = "HOSTILE-BODY-SECRET"

// MaxInMemory is the largest input that [Input.Bytes] materialises; larger
// ones exist only as streams.
const MaxInMemory = 32 << 20

// Input is one hostile input: a message, a line or a string, made of
// segments of which some repeat many times.
type Input struct {
	Name string // what is hostile about it
	segs []segment
}

type segment struct {
	data   string
	repeat int64
}

func seg(s string) segment { return segment{s, 1} }

func rep(s string, n int64) segment { return segment{s, n} }

// Size is the length of the input in bytes.
func (in Input) Size() int64 {
	var n int64
	for _, s := range in.segs {
		n += int64(len(s.data)) * s.repeat
	}
	return n
}

// Streamed reports whether the input is too large for [Input.Bytes].
func (in Input) Streamed() bool { return in.Size() > MaxInMemory }

// Reader streams the input, generating it as it is read.
func (in Input) Reader() io.Reader {
	rs := make([]io.Reader, 0, len(in.segs))
	for _, s := range in.segs {
		rs = append(rs, newRepeatReader(s.data, s.repeat))
	}
	return io.MultiReader(rs...)
}

// Bytes returns the whole input. It panics for a streamed input: a test
// that materialised 1 GiB would measure itself, not the code under test.
func (in Input) Bytes() []byte {
	if in.Streamed() {
		panic("hostile: " + in.Name + " is streamed only")
	}
	var b bytes.Buffer
	b.Grow(int(in.Size()))
	for _, s := range in.segs {
		for range s.repeat {
			b.WriteString(s.data)
		}
	}
	return b.Bytes()
}

// String returns the whole input as a string; see [Input.Bytes].
func (in Input) String() string { return string(in.Bytes()) }

// repeatReader yields unit over and over, left bytes in all.
type repeatReader struct {
	unit string
	off  int // offset in unit of the next byte
	left int64
}

// newRepeatReader widens a short unit to at least 32 KiB of whole units,
// so that each Read is a few large copies.
func newRepeatReader(unit string, n int64) *repeatReader {
	left := int64(len(unit)) * n
	if len(unit) > 0 && n > 1 && len(unit) < 32<<10 {
		unit = strings.Repeat(unit, int(min(n, int64((32<<10)/len(unit)+1))))
	}
	return &repeatReader{unit: unit, left: left}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.unit[r.off:])
		n += c
		r.off = (r.off + c) % len(r.unit)
	}
	r.left -= int64(n)
	return n, nil
}

const (
	mib = 1 << 20
	// bodyLine is a 64-byte body line carrying the secret.
	bodyLine = "body " + Secret + " 0123456789abcdefghijklmnopqrstuvwxyz012\r\n"
)

// All returns the hostile corpus, in a fixed order. Every message-shaped
// input that has a body carries [Secret] in it and nowhere else. The inputs
// named "1GiB" are 1 GiB long, or 64 MiB under the race detector ([Race]).
func All() []Input {
	return []Input{
		{"empty", nil},
		{"crlf-only", []segment{seg("\r\n")}},
		{"line-10MiB-in-header", []segment{seg("TLS-Required: No\r\nSubject: "), rep("x", 10*mib), seg("\r\n\r\n" + bodyLine)}},
		{"line-10MiB-in-body", []segment{seg("Subject: long body line\r\n\r\n" + Secret), rep("y", 10*mib), seg("\r\n")}},
		{"line-10MiB-no-colon-no-eol", []segment{rep("A", 10*mib)}},
		{"fields-100000", []segment{rep("X-Hostile: v\r\n", 100_000), seg("TLS-Required: No\r\n\r\n" + bodyLine)}},
		{"tls-required-100000", []segment{rep("TLS-Required: No\r\nTLS-Required: Yes\r\n", 50_000), seg("\r\n" + bodyLine)}},
		{"folded-100000", []segment{seg("TLS-Required: No\r\nX-Folded: a"), rep("\r\n b", 100_000), seg("\r\n\r\n" + bodyLine)}},
		{"nul", []segment{seg("TLS-Required: No\x00\r\nSub\x00ject: a\x00b\r\nRequire-TLS-ESMTP: yes\x00\r\n\r\n\x00" + bodyLine)}},
		{"bare-cr", []segment{seg("Subject: a\rTLS-Required: No\r\nX-A: b\r\n\r\n" + bodyLine + "\r.\rMAIL FROM:<evil@example.org>\r\n")}},
		{"bare-lf", []segment{seg("TLS-Required: No\nRequire-TLS-ESMTP: yes\nSubject: a\r\n\r\n" + bodyLine + "\n.\nRCPT TO:<evil@example.org>\n")}},
		{"bare-lf-header-end", []segment{seg("Subject: a\n\n" + bodyLine)}},
		{"smuggle-dot", []segment{seg("Subject: a\r\n\r\n" + bodyLine + "\n.\r\nMAIL FROM:<evil@example.org>\r\n")}},
		{"invalid-utf8", []segment{seg("TLS-Required: \xffNo\r\nSubject: \xc3\x28\xa0\xa1\r\nX-\xfe\xff: v\r\nRequire-TLS-ESMTP: y\xc3s\r\n\r\n\xff\xfe" + bodyLine)}},
		{"control-chars", []segment{seg("TLS-Required:\x0bNo\r\nSubject: \x1b[31m\x7f\r\n\r\n" + bodyLine)}},
		{"mime-nested-10000", []segment{seg(nested(10_000, true))}},
		{"mime-nested-unclosed-10000", []segment{seg(nested(10_000, false))}},
		{"mime-missing-boundary-param", []segment{seg(dsnHead("") + "\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n")}},
		{"mime-boundary-never-appears", []segment{seg(dsnHead("never") + "\r\n" + bodyLine)}},
		{"mime-no-final-boundary", []segment{seg(dsnHead("b") + "\r\n" + dsnParts("b") + bodyLine)}},
		{"mime-boundary-10MiB", []segment{seg("Content-Type: multipart/report; report-type=delivery-status; boundary=\""), rep("b", 10*mib), seg("\"\r\n\r\n" + bodyLine)}},
		{"mime-preamble-10MiB", []segment{seg(dsnHead("b") + "\r\n"), rep("preamble without delimiter\r\n", 10*mib/28), seg("--b--\r\n")}},
		{"body-1GiB", []segment{seg("TLS-Required: No\r\nSubject: big\r\n\r\n"), rep(bodyLine, huge/int64(len(bodyLine)))}},
		{"dsn-returned-1GiB", []segment{seg(dsnHead("b") + "\r\n" + dsnParts("b") + "Subject: returned\r\n\r\n"), rep(bodyLine, huge/int64(len(bodyLine))), seg("--b--\r\n")}},
		{"header-1GiB-unterminated", []segment{seg("TLS-Required: No\r\nX-Endless: "), rep("z", huge)}},
		{"header-1GiB-fields", []segment{rep("X-Many: field\r\n", huge/15)}},
		{"log-line-1GiB", []segment{seg("Oct  1 12:00:00 mx postfix/smtp[1]: 3F2A81C0D: to=<"), rep("a", huge), seg(">\n")}},
	}
}

// dsnHead is the top-level header of a DSN with the given boundary (none
// when empty).
func dsnHead(boundary string) string {
	ct := "Content-Type: multipart/report; report-type=delivery-status"
	if boundary != "" {
		ct += "; boundary=\"" + boundary + "\""
	}
	return "From: MAILER-DAEMON@example.org\r\nTo: a@example.org\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n" + ct + "\r\n"
}

// dsnParts is the human-readable and delivery-status parts and the start
// of a message/rfc822 part, whose header section and body follow.
func dsnParts(b string) string {
	return "--" + b + "\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--" + b + "\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; b@example.org\r\nAction: failed\r\nStatus: 5.7.30\r\n\r\n" +
		"--" + b + "\r\nContent-Type: message/rfc822\r\n\r\n"
}

// nested is a DSN whose returned part is depth nested multiparts, each with
// its own boundary, closed or not.
func nested(depth int, closed bool) string {
	var b strings.Builder
	b.WriteString(dsnHead("b") + "\r\n" + dsnParts("b") + "Subject: nested\r\nMIME-Version: 1.0\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"n%d\"\r\n\r\n--n%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\n" + bodyLine)
	if closed {
		for i := depth - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--n%d--\r\n", i)
		}
	}
	b.WriteString("--b--\r\n")
	return b.String()
}

// PeakHeap runs f and returns by how much the live heap (HeapAlloc) grew at
// most while it ran, sampled with runtime.ReadMemStats every millisecond
// plus once at the end. Garbage not yet collected counts too, so compare
// the result with a generous bound; a leak or a buffered 1 GiB body is
// orders of magnitude above it.
func PeakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	var mu sync.Mutex
	peak := base
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapAlloc)
		mu.Unlock()
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	f()
	close(done)
	<-stopped
	sample()
	return peak - base
}

// TailWriter is an io.Writer that keeps only the count of bytes written
// and whether [Secret] appeared in them, so a test can stream a 1 GiB
// output through it at no memory cost.
type TailWriter struct {
	N      int64
	Leaked bool
	tail   []byte
}

func (w *TailWriter) Write(p []byte) (int, error) {
	w.N += int64(len(p))
	if !w.Leaked {
		// Look across the boundary with the previous write.
		buf := append(w.tail, p[:min(len(p), len(Secret))]...)
		w.Leaked = bytes.Contains(buf, []byte(Secret)) || bytes.Contains(p, []byte(Secret))
		if len(p) >= len(Secret)-1 {
			w.tail = append(w.tail[:0], p[len(p)-len(Secret)+1:]...)
		} else {
			w.tail = append(w.tail, p...)
			w.tail = w.tail[max(0, len(w.tail)-len(Secret)+1):]
		}
	}
	return len(p), nil
}

// Prefix returns the whole input, or its first n bytes when it is longer,
// for entry points that take a string or a []byte: past every size limit
// of this module, without materialising 1 GiB.
func (in Input) Prefix(n int64) []byte {
	b, err := io.ReadAll(io.LimitReader(in.Reader(), n))
	if err != nil {
		panic(err) // the generator never fails
	}
	return b
}
