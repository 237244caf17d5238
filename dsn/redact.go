package dsn

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// preambleText replaces a non-empty top-level preamble. It is Postfix's.
const preambleText = "This is a MIME-encapsulated message."

// maxDepth bounds multipart nesting in a DSN (the top level counts as one).
const maxDepth = 8

// returnedTypes are the media types that carry the original message, or a
// part of it, wherever they appear in a DSN (RFC 3464 Section 2, RFC 6522
// Section 4, RFC 6533 Section 3). text/rfc822-header (sic) is a misspelling
// seen in real bounces.
var returnedTypes = map[string]bool{
	"message/rfc822":         true,
	"message/global":         true,
	"message/partial":        true,
	"text/rfc822-headers":    true,
	"message/global-headers": true,
	"text/rfc822-header":     true,
}

// Part header fields replaced when a returned part is rewritten.
var replacedFields = []string{
	"Content-Type", "Content-Description", "Content-Transfer-Encoding",
	"Content-Length", "Content-MD5",
}

// RedactDSN copies the delivery status notification read from r to w with
// its returned message cut down to the header section, as RFC 8689
// Section 5 requires for a REQUIRETLS message ("as if RET=HDRS was
// present"). It is for bounces made by another bounce generator (Postfix,
// Exim, a Go MTA) that returned the full message.
//
// The input must be an RFC 3464 DSN: a top-level multipart/report with
// report-type=delivery-status and a message/delivery-status (or
// message/global-delivery-status) part. Every part whose type is
// message/rfc822, message/global, message/partial, text/rfc822-headers,
// message/global-headers or text/rfc822-header, at any nesting depth, and
// every top-level part other than the first and the delivery-status part,
// whatever its label (RFC 3464 Section 2 and RFC 6522 Section 3 allow one
// human-readable part, first; real bounces mislabel the returned message
// as text/plain), is replaced by a part with "Content-Type:
// text/rfc822-headers" (message/global-headers when it was message/global
// or has 8-bit header bytes), "Content-Description: Undelivered Message
// Headers" (or Postfix's "Message Headers" when the part has that label
// already), Content-Transfer-Encoding 8bit when its header has 8-bit bytes
// or the part said 8bit already, its other part header fields, and the
// returned message's header section, filtered by opts.Fields. A returned
// part without part header fields holds a text/plain body, not a message,
// and keeps none of it. A headers-only DSN made by [Compose] or redacted by
// Postfix comes out unchanged, and RedactDSN of its own output changes
// nothing. The preambles and epilogues, which RFC 2046 Section 5.1.1 says to
// ignore and where some bounces put the original, are dropped at every
// level; a non-empty top-level preamble becomes "This is a
// MIME-encapsulated message.", as Postfix writes it. Everything else is
// copied byte for byte: the top-level header, the delivery-status part and
// all delimiter lines, and the human-readable part (the first top-level
// part, nested multiparts and all) as described next.
//
// The human-readable part: several MTAs quote the returned body in it, in
// plain text, quoted-printable or base64. So when the bounce returned any
// body byte (a returned part with a body, a preamble or epilogue with text
// in it), or the part is longer than opts.MaxHeaderBytes (it is not held
// in memory past that), it is replaced by the one [Compose] writes for a
// REQUIRETLS message, built from the Reporting-MTA, Final-Recipient, Action
// and Diagnostic-Code fields of the delivery-status part, which is copied
// anyway: "Content-Description: Notification", text/plain in UTF-8, with
// the line endings of the top-level multipart. No byte of it comes from
// anywhere else, so none is a body byte. The part is kept as it came only
// when the bounce returned no body at all (it was headers only already, as
// a DSN made by Compose or redacted by Postfix is): there is then nothing
// it could quote that the bounce returned (a body of blank lines only does
// not count). RedactDSN cannot recognise body text that a bounce does not
// return but quotes anyway. Options UnsafeKeepHumanReadable keeps the part
// in every case.
//
// A DSN with no returned part is copied unchanged (but for the preambles
// and epilogues). Everything else is refused with an error, so that no
// body byte can leak through a structure the redactor did not follow, or
// that another reader would follow differently:
//
//   - not multipart/report with report-type=delivery-status (for example the
//     multipart/mixed bounces of Exchange, qmail or Trend Micro), or no
//     delivery-status part: ErrNotDSN;
//   - no delimiter line for the declared boundary, a delimiter of another
//     boundary, a missing final delimiter at any level, a nested multipart
//     closed by its parent's delimiter or reusing (a prefix of) an enclosing
//     boundary, nesting deeper than 8: ErrMalformed;
//   - a line that starts with "--" and an open boundary but is not exactly
//     a delimiter (Postfix reads it as one, go-message fails or reads it as
//     text), or a delimiter whose line ending differs from the first
//     delimiter's of its multipart, or with CRLF follows a bare LF
//     (go-message reads it as text): ErrMalformed;
//   - a header line that is neither a field, a continuation nor the blank
//     line (an empty field name, a bare CR, a CR-only message: Postfix ends
//     the header there, other readers do not): ErrMalformed;
//   - two Content-Type or two Content-Transfer-Encoding fields in one header
//     section, or one that cannot be read without doubt (a comment, as in
//     "message/rfc822 (returned message)", which readers disagree on; a
//     broken parameter; a quoted or empty encoding; an RFC 2231 or RFC 2047
//     boundary): ErrMalformed;
//   - a returned part, a multipart or the top level with a transfer
//     encoding other than 7bit, 8bit or binary: ErrEncoded;
//   - a header section over opts.MaxHeaderBytes, or an output over the
//     limit below: ErrHeaderTooLarge.
//
// Whether the human-readable part may be kept is known only at the end of
// the input, so the output is held until then and written to w only when
// the whole input was accepted: on error, nothing is written. (With
// UnsafeKeepHumanReadable the output is streamed, and on error w may hold
// a partial DSN, to be discarded.) Never send the input as it is after an
// error, whatever the error: compose a fresh DSN from the facts with
// [Compose] instead (with an empty original if its header cannot be read
// either). Memory use is an 8 KiB buffer, plus opts.MaxHeaderBytes, plus
// the output (which holds no returned body, and at most opts.MaxHeaderBytes
// of the human-readable part): an output longer than 1 MiB plus twice
// opts.MaxHeaderBytes (a delivery-status part that long) fails with
// ErrHeaderTooLarge. The returned body, the preambles and the epilogues are
// skipped without being copied, whatever their size.
//
// When r offers its bytes, RedactDSN scans them where they are instead of
// copying them into its buffer, with the same result (but not with
// UnsafeKeepHumanReadable, whose output would hand them to w): an io.WriterTo
// (*bytes.Reader, *bytes.Buffer, *strings.Reader, or any other) is read
// through its WriteTo, not Read, and that WriteTo has returned when
// RedactDSN returns; a *bufio.Reader with a buffer larger than 8 KiB is
// read through Peek and Discard. A panic in WriteTo reaches the caller.
func RedactDSN(w io.Writer, r io.Reader, opts *Options) error {
	d := redactors.Get().(*redactor)
	defer d.release()
	d.s = getScanner(r, !opts.unsafeKeep())
	d.w, d.opts, d.max, d.human = w, opts, opts.maxHeader(), [2]int{-1, -1}
	if opts.unsafeKeep() {
		return d.run()
	}
	d.out.max = 1<<20 + 2*d.max
	d.w = &d.out
	if err := d.run(); err != nil {
		if err == errOutputTooLarge {
			return d.errorf(ErrHeaderTooLarge, err.Error())
		}
		return err
	}
	out := d.out.Bytes()
	if (d.dropped || d.humanCut) && d.human[0] >= 0 {
		// The bounce returned (part of) the original, which its
		// human-readable part may quote: that part is written anew.
		b := append(d.scratch[:0], out[:d.human[0]]...)
		b = append(b, notification(out[d.status[0]:d.status[1]], d.open[0].eol)...)
		out = append(b, out[d.human[1]:]...)
		d.scratch = out
	}
	_, err := w.Write(out)
	return err
}

// redactors holds redactors, with their buffers, between calls.
var redactors = sync.Pool{New: func() any { return new(redactor) }}

// maxPooled is the largest buffer a pooled redactor keeps.
const maxPooled = 64 << 10

// release pools d with its buffers (unless one grew large), keeping no
// reference to the call's input, output or options.
func (d *redactor) release() {
	putScanner(d.s)
	keep := func(b []byte) []byte {
		if cap(b) > maxPooled {
			return nil
		}
		return b[:0]
	}
	out := d.out.Buffer
	if out.Cap() > maxPooled {
		out = bytes.Buffer{}
	}
	out.Reset()
	*d = redactor{
		bounds: d.bounds[:0], open: d.open[:0], out: outBuffer{Buffer: out},
		topBuf: keep(d.topBuf), partBuf: keep(d.partBuf), retBuf: keep(d.retBuf), keptBuf: keep(d.keptBuf), scratch: keep(d.scratch),
	}
	redactors.Put(d)
}

// openMultipart is what the redactor knows of an open multipart besides its
// boundary.
type openMultipart struct {
	digest bool   // multipart/digest: parts default to message/rfc822
	eol    string // line ending of its first delimiter line
	first  int64  // input offset of its first delimiter line, -1 before it
}

type redactor struct {
	s    *scanner
	w    io.Writer
	opts *Options
	max  int

	bounds  [][]byte        // "--" + boundary, outermost first
	open    []openMultipart // the open multiparts, in the order of bounds
	level   int             // level of the delimiter last classified
	final   bool            // whether it was a close delimiter
	sawDS   bool            // a top-level delivery-status part was seen
	topBuf  []byte          // storage for the top-level header section
	partBuf []byte          // storage for part header sections
	retBuf  []byte          // storage for returned header sections
	keptBuf []byte          // storage for the fields of a returned header section that opts.Fields keeps
	scratch []byte          // storage for a rewritten part header, and for the output with a new human-readable part

	out      outBuffer // the output, written to w at the end
	human    [2]int    // where the human-readable part is in out, from after its delimiter line to the next; -1: none
	status   [2]int    // where the delivery-status content is in out
	dropped  bool      // a returned body, or a preamble or epilogue with text, was dropped
	humanCut bool      // the human-readable part was longer than max: out holds only its start
}

func (d *redactor) errorf(sentinel error, msg string) error {
	return &ParseError{Offset: d.s.offset(), Msg: msg, Err: sentinel}
}

// classify reports whether l is a delimiter line of one of the open
// multiparts (RFC 2046 Section 5.1.1: "--" boundary ["--"] *LWSP CRLF, or
// LF alone, or the end of the input), and records which.
//
// A line that starts with "--" boundary and is not exactly a delimiter
// ("--bx", "--b-x", "--b\r\r\n", "--b-- text") is an error: readers
// disagree on it. Postfix takes any line that starts so for a delimiter
// (a final one after "--"), go-message ends the part there only when SP,
// HTAB, CR, LF or "-" follows, and then fails; RFC 2046 forbids the
// delimiter inside a part.
func (d *redactor) classify(l []byte, complete bool) (bool, error) {
	for i := len(d.bounds) - 1; i >= 0; i-- {
		b := d.bounds[i]
		if !bytes.HasPrefix(l, b) {
			continue
		}
		rest := l[len(b):]
		if !complete {
			return false, d.errorf(ErrMalformed, "delimiter line too long")
		}
		final := bytes.HasPrefix(rest, []byte("--"))
		if final {
			rest = rest[2:]
		}
		var eol string
		switch t := bytes.TrimLeft(rest, " \t"); {
		case len(t) == 0:
		case string(t) == "\n" || string(t) == "\r\n":
			eol = eolOf(t)
		default:
			return false, d.errorf(ErrMalformed, "line starts like a delimiter but is not one")
		}
		// go-message takes the first delimiter's line ending for all of
		// them, and with CRLF finds a delimiter only after a CRLF: any
		// other delimiter is text to it, so the part after it would be
		// kept while go-message reads it as the previous part's body.
		// The first delimiter is read line by line: it needs no CRLF
		// before it.
		switch m := &d.open[i]; {
		case m.first < 0:
			m.eol, m.first = eol, d.s.offset()
		case m.first == d.s.offset(): // the first one, classified again
		case eol != "" && eol != m.eol || m.eol == "\r\n" && d.s.lastEOL() != "\r\n":
			return false, d.errorf(ErrMalformed, "delimiter lines with different line endings")
		}
		d.level, d.final = i, final
		return true, nil
	}
	return false, nil
}

func (d *redactor) write(b []byte) error {
	_, err := d.w.Write(b)
	return err
}

func (d *redactor) run() error {
	from := mboxFrom(d.s)
	top, err := readSection(d.s, d.topBuf, d.max, nil)
	d.topBuf = top.raw
	if err != nil {
		return err
	}
	if top.end != endBlank {
		return d.errorf(ErrNotDSN, "message has no body")
	}
	pt, err := parsePartType(top.raw)
	if err != nil {
		return d.errorf(ErrMalformed, err.Error())
	}
	if pt.media != "multipart/report" || !strings.EqualFold(pt.params["report-type"], "delivery-status") {
		return d.errorf(ErrNotDSN, "top level is not multipart/report; report-type=delivery-status")
	}
	if !pt.identity() {
		// RFC 2045 Section 6.4: a multipart is never encoded. Readers that
		// decode anyway would see other parts than the delimiters show.
		return d.errorf(ErrEncoded, "top-level multipart is "+pt.cte+" encoded")
	}
	if err := d.push(pt.params["boundary"], false); err != nil {
		return err
	}
	// The preamble is dropped (RFC 2046 Section 5.1.1: to be ignored), and
	// not read into memory: in DSNs without delimiter lines it is where
	// the whole returned message sits. A non-empty one becomes the text
	// Postfix writes, for readers without MIME.
	start := d.s.offset()
	var pre dropWriter
	if err := d.s.skip(&pre, d.bounds, d.classify); err != nil {
		return d.eofError(err, "no delimiter line for the declared boundary")
	}
	d.dropped = pre.content(true)
	if d.level != 0 {
		return d.errorf(ErrMalformed, "unexpected delimiter")
	}
	var preamble string
	if n := d.s.offset() - start; n > 0 {
		// Only a line ending before the first delimiter is an empty
		// preamble (RFC 2046 Section 5.1.1: [preamble CRLF] dash-boundary).
		preamble = d.s.lastEOL()
		if n > int64(len(preamble)) {
			preamble = preambleText + top.blank + top.blank
		}
	}
	for _, b := range [][]byte{from, top.raw, []byte(top.blank + preamble)} {
		if err := d.write(b); err != nil {
			return err
		}
	}
	if err := d.multipart(); err != nil {
		return err
	}
	if !d.sawDS {
		return d.errorf(ErrNotDSN, "no message/delivery-status part")
	}
	// The epilogue is not copied; it may hold the original.
	text, err := d.s.restHasText()
	d.dropped = d.dropped || text
	return err
}

// eofError turns the end of the input inside a multipart into ErrMalformed.
func (d *redactor) eofError(err error, msg string) error {
	if err == io.EOF {
		return d.errorf(ErrMalformed, msg)
	}
	return err
}

// push opens a multipart with the given boundary (RFC 2046 Section 5.1.1:
// 1 to 70 characters).
func (d *redactor) push(boundary string, digest bool) error {
	if len(boundary) == 0 || len(boundary) > 70 || strings.ContainsAny(boundary, "\r\n") {
		return d.errorf(ErrMalformed, "missing or invalid boundary parameter")
	}
	if len(d.bounds) >= maxDepth {
		return d.errorf(ErrMalformed, "multipart nesting too deep")
	}
	var b []byte // the storage of an earlier multipart's, when there is one
	if n := len(d.bounds); n < cap(d.bounds) {
		b = d.bounds[:n+1][n][:0]
	}
	b = append(append(b, "--"...), boundary...)
	for _, o := range d.bounds {
		// RFC 2046 Section 5.1.2: an enclosed multipart must use a
		// different boundary. With equal or prefix boundaries the structure
		// is ambiguous, and a guess could turn body bytes into a kept part.
		if bytes.HasPrefix(b, o) || bytes.HasPrefix(o, b) {
			return d.errorf(ErrMalformed, "nested boundary collides with an enclosing one")
		}
	}
	d.bounds, d.open = append(d.bounds, b), append(d.open, openMultipart{digest: digest, first: -1})
	return nil
}

// multipart processes the body parts of the innermost open multipart. It is
// called at its first delimiter line and returns after its close delimiter
// line has been copied.
func (d *redactor) multipart() error {
	level := len(d.bounds) - 1
	for index := 0; ; index++ {
		l, complete, _ := d.s.line()
		if delim, err := d.classify(l, complete); err != nil || !delim || d.level != level {
			if err != nil {
				return err
			}
			return d.errorf(ErrMalformed, "missing final delimiter")
		}
		final := d.final
		eol := eolOf(l)
		if err := d.write(l); err != nil {
			return err
		}
		d.s.consume(len(l))
		if final {
			return nil
		}
		start := d.out.Len()
		if err := d.part(level, index, eol); err != nil {
			return err
		}
		if level == 0 && d.human[0] == start && !d.opts.unsafeKeep() {
			// The end of the human-readable part: back from its cutWriter.
			d.human[1], d.w = d.out.Len(), &d.out
		}
	}
}

// part processes body part number index (from 0) of a multipart at the
// given level, from after its delimiter line to before the next delimiter
// line.
func (d *redactor) part(level, index int, eol string) error {
	hdr, err := readSection(d.s, d.partBuf, d.max, d.classify)
	d.partBuf = hdr.raw
	if err != nil {
		return err
	}
	if hdr.end == endEOF {
		return d.errorf(ErrMalformed, "missing final delimiter")
	}
	pt, err := parsePartType(hdr.raw)
	if err != nil {
		return d.errorf(ErrMalformed, err.Error())
	}
	mt := pt.media
	if mt == "" {
		mt = "text/plain" // RFC 2045 Section 5.2
		if d.open[level].digest {
			mt = "message/rfc822" // RFC 2046 Section 5.1.5
		}
	}

	// At the top level, RFC 3464 Section 2 and RFC 6522 Section 3 allow
	// one human-readable part, first, then the delivery-status part: any
	// other part may be the returned message, whatever its label.
	ds := level == 0 && !d.sawDS && (mt == "message/delivery-status" || mt == "message/global-delivery-status")
	if returnedTypes[mt] || level == 0 && !ds && (d.sawDS || index > 0) {
		if !pt.identity() {
			// Encoded, the header section cannot be cut out without
			// decoding, and read undecoded its body is header lines.
			return d.errorf(ErrEncoded, "returned part is "+pt.cte+" encoded")
		}
		return d.returned(hdr, pt, mt, eol)
	}
	switch {
	case ds:
		d.sawDS = true
	case level == 0: // the first part and not delivery-status: human-readable
		d.human[0] = d.out.Len()
		if !d.opts.unsafeKeep() {
			// Past max it is written anew whatever the bounce holds, so
			// the rest need not be held.
			d.w = &cutWriter{w: &d.out, n: d.max, cut: &d.humanCut}
		}
	}
	if err := d.write(hdr.raw); err != nil {
		return err
	}
	if err := d.write(eolBytes(hdr.blank)); err != nil {
		return err
	}
	start := d.out.Len()
	if hdr.end == endDelim {
		if ds {
			d.status = [2]int{start, start}
		}
		return nil
	}
	if !strings.HasPrefix(mt, "multipart/") {
		err := d.eofError(d.s.skip(d.w, d.bounds, d.classify), "missing final delimiter")
		if ds {
			d.status = [2]int{start, d.out.Len()}
		}
		return err
	}
	if !pt.identity() {
		return d.errorf(ErrEncoded, "multipart part is "+pt.cte+" encoded") // RFC 2045 Section 6.4
	}
	if err := d.push(pt.params["boundary"], mt == "multipart/digest"); err != nil {
		return err
	}
	// The nested preamble and epilogue are dropped like the top-level
	// ones (RFC 2046 Section 5.1.1).
	var pre, epi dropWriter
	if err := d.s.skip(&pre, d.bounds, d.classify); err != nil {
		return d.eofError(err, "no delimiter line for a nested boundary")
	}
	d.dropped = d.dropped || pre.content(false)
	if d.level != level+1 {
		return d.errorf(ErrMalformed, "nested multipart has no delimiter line")
	}
	if err := d.multipart(); err != nil {
		return err
	}
	d.bounds, d.open = d.bounds[:level+1], d.open[:level+1]
	if err := d.s.skip(&epi, d.bounds, d.classify); err != nil {
		return d.eofError(err, "missing final delimiter")
	}
	d.dropped = d.dropped || epi.content(false)
	if epi.n == 0 {
		return nil
	}
	// The epilogue's last line ending belongs to the next delimiter line
	// (RFC 2046 Section 5.1.1: delimiter := CRLF dash-boundary).
	return d.write([]byte(d.s.lastEOL()))
}

// returned replaces a returned-message part by its headers-only form and
// skips the returned body without copying it.
func (d *redactor) returned(hdr section, pt partType, mt, eol string) error {
	ret := section{end: endDelim}
	switch {
	case hdr.end == endBlank && len(hdr.raw) == 0 && !d.open[len(d.open)-1].digest:
		// No part header: by MIME the content is a text/plain body
		// (RFC 2045 Section 5.2), not a message, and none of it is kept.
		ret.end = endBlank
	case hdr.end == endBlank:
		var err error
		ret, err = readSection(d.s, d.retBuf, d.max, d.classify)
		d.retBuf = ret.raw
		if err != nil {
			return err
		}
	}
	kept := ret.raw
	if d.opts != nil && d.opts.Fields != nil {
		kept = filterFields(d.keptBuf[:0], ret.raw, d.opts.keepField)
		d.keptBuf = kept
	}
	global := mt == "message/global" || mt == "message/global-headers" || hasEightBit(kept)

	b := filterFields(d.scratch[:0], hdr.raw, func(name []byte) bool {
		for _, f := range replacedFields {
			if bytes.EqualFold(name, []byte(f)) {
				return false
			}
		}
		return true
	})
	b = append(append(append(b, "Content-Description: "...), description(hdr.raw)...), eol...)
	b = append(append(append(b, "Content-Type: "...), headersType(global)...), eol...)
	// 8bit when the header needs it, and when the part said so already
	// (Postfix's redacted DSNs do): a redacted DSN redacts to itself.
	if hasEightBit(kept) || pt.cte == "8bit" || pt.cte == "binary" {
		b = append(append(b, "Content-Transfer-Encoding: 8bit"...), eol...)
	}
	b = append(b, eol...)
	d.scratch = b
	if err := d.write(b); err != nil {
		return err
	}
	if err := writeSection(d.w, kept, eol); err != nil {
		return err
	}
	switch ret.end {
	case endEOF:
		return d.errorf(ErrMalformed, "missing final delimiter")
	case endBlank:
		// The body: skipped, never copied (RFC 8689 Section 5).
		var body dropWriter
		if err := d.s.skip(&body, d.bounds, d.classify); err != nil {
			return d.eofError(err, "missing final delimiter")
		}
		d.dropped = d.dropped || body.content(false)
	}
	// The line ending before the delimiter belongs to the delimiter
	// (RFC 2046 Section 5.1.1).
	_, err := io.WriteString(d.w, eol)
	return err
}

type errString string

func (e errString) Error() string { return string(e) }

// description is the Content-Description of a redacted returned part:
// Postfix's "Message Headers" of a report without failures when the part
// already has it, so that such a DSN redacts to itself, else "Undelivered
// Message Headers".
func description(raw []byte) string {
	n, headers := 0, false
	eachField(raw, func(name, lines []byte) {
		if name != nil && bytes.EqualFold(name, []byte("Content-Description")) {
			var v [len(descHeaders)]byte
			n, headers = n+1, string(unfold(v[:0], lines)) == descHeaders
		}
	})
	if n == 1 && headers {
		return descHeaders
	}
	return descUndelivered
}
