package header

import (
	"bytes"
	"io"
)

// MaxHeaderBytes bounds the header section [Scan] and [ScanReader] accept,
// and so the memory and time a hostile message can cost them. It is the
// default of go-message (message.ReadOptions.MaxHeaderBytes).
const MaxHeaderBytes = 1 << 20

// endKind says how a walk over the header section stopped.
type endKind int

const (
	endEOF       endKind = iota // input ran out inside the header section
	endBlank                    // a blank line (CRLF or LF) ends the header section
	endNonHeader                // a line that is not a header field starts the body (Postfix's rule)
)

// maxLine is the longest line RFC 5322 Section 2.1.1 allows, without its
// CRLF. Postfix splits longer lines into records of line_length_limit
// (2048) bytes and looks for a field name in the first one only.
const maxLine = 998

// rawField is one header field: b[start:end] including its continuation
// lines and final line ending, name = b[start:nameEnd], colon at b[colon].
type rawField struct {
	start, nameEnd, colon, end int
}

// walker iterates over the fields of the header section at the start of b,
// finding the same fields and the same end as Postfix 3.11 (is_header_buf
// in cleanup): a line ends at LF, with or without CR before it; a line
// starting with SP or HTAB continues the field before it; a field line is a
// name of at least one printable US-ASCII character other than ":", optional
// WSP, then ":". The header section ends at the first blank line, at the
// first other line (an empty name, a continuation as the first line, a line
// with no colon: Postfix takes it as the start of the body), or at the end
// of b.
//
// On the way it records in amb the first line that another parser could
// read differently: go-message's textproto.ReadHeader, which ends lines the
// same way but skips an empty name and fails on any other non-field line,
// or a strict RFC 5322 parser. Those are: a line that is not a field (a NUL
// or any other control byte in a name included), a bare CR or LF (parsers
// split lines at CRLF, LF or CR), WSP before the colon (obsolete syntax, RFC 5322
// Section 4.5.8, which Go's net/textproto and Python's email parser refuse),
// a continuation of white space only (obsolete, RFC 5322 Section 4.2; some
// parsers take it for the blank line) and a line longer than 998 octets.
// Only a header section with amb nil means the same to all of them. A NUL
// or another control byte in a value is not ambiguous: all three read the
// same lines and names around it (RFC 5322 Section 4.1, obs-utext), and
// this package never takes such a value for "No" or "yes".
//
// final says b is the whole message: a last line without its line ending
// is then judged as it stands (a trailing CR is bare, a line with no colon
// is not a field); otherwise more bytes may complete it.
//
// walker allocates nothing unless it finds an ambiguity; the work is linear
// in the header size, with the line ends found by bytes.IndexByte.
type walker struct {
	b     []byte
	final bool
	off   int
	amb   *ParseError // the first ambiguous line, if any
	// Set when next returns false:
	kind      endKind
	insertAt  int // where a new field line goes: before the blank or non-header line, or len(b)
	bodyStart int // first byte after the header section (after the blank line); len(b) for endEOF
}

func (w *walker) next() (rawField, bool) {
	b, off := w.b, w.off
	if off >= len(b) {
		w.stop(endEOF, off, off)
		return rawField{}, false
	}
	switch {
	case b[off] == '\n':
		w.ambiguous(off, "bare LF in the header section")
		w.stop(endBlank, off, off+1)
		return rawField{}, false
	case b[off] == '\r' && off+1 < len(b) && b[off+1] == '\n':
		w.stop(endBlank, off, off+2)
		return rawField{}, false
	case b[off] == '\r' && off+1 == len(b) && !w.final:
		// Maybe the first half of a blank line still being received.
		w.stop(endEOF, off, len(b))
		return rawField{}, false
	}
	i := off
	for i < len(b) && isFtext(b[i]) {
		i++
	}
	nameEnd := i
	for i < len(b) && isWSP(b[i]) && i > off { // no WSP at a line start: that is a continuation
		i++
	}
	if i == len(b) && !w.final {
		// Out of bytes before the colon: a non-header line, or a prefix.
		w.line(off, false)
		w.stop(endEOF, off, len(b))
		return rawField{}, false
	}
	if i == len(b) || b[i] != ':' || nameEnd == off {
		w.ambiguous(off, "line in the header section is not a header field")
		w.stop(endNonHeader, off, off)
		return rawField{}, false
	}
	if i > nameEnd {
		w.ambiguous(nameEnd, "white space before the colon")
	}
	f := rawField{start: off, nameEnd: nameEnd, colon: i}
	// The field ends after the first line ending not followed by WSP.
	j := w.line(off, false)
	for j < len(b) && isWSP(b[j]) {
		j = w.line(j, true)
	}
	f.end = j
	w.off = j
	return f, true
}

// line checks the line at b[start:] and returns the offset after its line
// ending, or len(b) when it has none. cont says it is a continuation line.
func (w *walker) line(start int, cont bool) int {
	b := w.b
	next := len(b)
	text := b[start:]
	nl := bytes.IndexByte(text, '\n')
	if nl >= 0 {
		next = start + nl + 1
		text = text[:nl]
		if nl == 0 || text[nl-1] != '\r' {
			w.ambiguous(start+nl, "bare LF in the header section")
		} else {
			text = text[:nl-1]
		}
	} else if len(text) > 0 && text[len(text)-1] == '\r' && !w.final {
		text = text[:len(text)-1] // maybe the first half of a CRLF
	}
	if cr := bytes.IndexByte(text, '\r'); cr >= 0 {
		w.ambiguous(start+cr, "bare CR in the header section")
	}
	if len(text) > maxLine {
		w.ambiguous(start+maxLine, "line longer than 998 octets")
	}
	if cont && (nl >= 0 || w.final) && allWSP(text) {
		w.ambiguous(start, "continuation line of white space only")
	}
	return next
}

// allWSP reports whether b is nothing but spaces and tabs, as
// len(bytes.Trim(b, " \t")) == 0 does, without building a set per call:
// a continuation line usually fails at its second byte.
func allWSP(b []byte) bool {
	for _, c := range b {
		if !isWSP(c) {
			return false
		}
	}
	return true
}

// ambiguous records the first ambiguity.
func (w *walker) ambiguous(off int, msg string) {
	if w.amb == nil {
		w.amb = newParseError(lineAt(w.b, off), off, ErrAmbiguous, msg)
	}
}

func (w *walker) stop(k endKind, insertAt, bodyStart int) {
	w.kind, w.insertAt, w.bodyStart = k, insertAt, bodyStart
	w.off = len(w.b)
}

// isFtext reports whether c may appear in a field name (RFC 5322 Section 3.6.8).
func isFtext(c byte) bool { return c >= 33 && c <= 126 && c != ':' }

// Scan is the fast path: it reports what the header section at the start of
// b says about TLS requirements, without building a header map. b may be a
// whole message, its header section alone, or a prefix of a message still
// being received. For the common case (no malformed field) Scan allocates
// nothing, and it never reads past the header section, so the body costs
// nothing whatever its size.
//
// end is the offset of the first byte of the body, after the blank line
// that ends the header section. end is -1 when the header section does not end within b; the Facts then
// treat b as the whole message (right for a message without a body, but a
// caller still receiving must call Scan again with more bytes, since the
// last field may continue). Growing the buffer geometrically between calls
// keeps the total work linear.
//
// Memory and time are bounded by [MaxHeaderBytes]: if the header section
// does not end within that many bytes, Scan stops there and returns a
// *ParseError wrapping [ErrHeaderTooLong], with Facts in which
// TLSRequiredNo is false (an unread field might be malformed, and one
// malformed copy keeps the default).
//
// Where parsers could disagree on the lines of the header section or on
// where it ends, Scan returns a *ParseError wrapping [ErrAmbiguous] and
// end -1: a line that is not a header field before the blank line (an
// empty name as in ": x", a first line starting with white space, an mbox
// "From " line, a name with a space, a control or 8-bit byte), a bare CR
// or LF, white space before the colon, a continuation line of white
// space only, or a line longer than 998 octets (RFC 5322 Section 2.1.1).
// Postfix ends the header section at the first of those non-field lines
// while go-message skips or refuses it, so a field after it is header to
// one and body to the other. The Facts then cover what was read and never
// relax TLS; a caller for which a field could raise the requirement (a
// trusted Require-TLS-ESMTP) must refuse the message. TLSRequiredNo is
// also false while the last line of b has no line ending.
//
// When Scan returns no error, go-message's textproto.ReadHeader reads the
// same fields from b, in the same order, and ends at the same offset, and
// Postfix 3.11 finds the same fields and the same end; [Inspect] on the
// header go-message reads gives the same Facts.
func Scan(b []byte) (f Facts, end int, err error) {
	lim := b
	if len(lim) > MaxHeaderBytes {
		lim = lim[:MaxHeaderBytes]
	}
	var t tally
	w := walker{b: lim}
	for {
		fld, ok := w.next()
		if !ok {
			break
		}
		t.add(classify(lim[fld.start:fld.nameEnd]), trimLineEnding(lim[fld.colon+1:fld.end]), lim[fld.start:fld.end])
	}
	f = t.facts()
	switch {
	case w.amb != nil:
		f.TLSRequiredNo = false
		return f, -1, w.amb
	case w.kind == endEOF && len(b) > len(lim):
		f.TLSRequiredNo = false
		return f, -1, newParseError(b[MaxHeaderBytes-maxQuotedLine:], MaxHeaderBytes, ErrHeaderTooLong,
			"no end of the header section within MaxHeaderBytes")
	case w.kind == endEOF:
		if len(lim) > 0 && lim[len(lim)-1] != '\n' {
			f.TLSRequiredNo = false // an unfinished line may still change (RFC 5322 Section 2.1)
		}
		return f, -1, nil
	}
	return f, w.bodyStart, nil
}

// ScanReader reads the header section of the message r yields and reports
// its Facts, for a server that tags messages as they are received (for
// example in a go-smtp Session.Data). It returns a reader that yields the
// whole message again: the bytes ScanReader consumed, then the rest of r.
//
// It reads as [ReadHead] does, so the body is never buffered. On error the
// returned reader still yields every byte, so the caller may reject the
// message or pass it on untagged.
func ScanReader(r io.Reader) (Facts, io.Reader, error) {
	head, f, err := ReadHead(r)
	return f, io.MultiReader(bytes.NewReader(head), r), err
}

// ReadHead reads from r until the message's header section has ended and
// reports its Facts. head holds the bytes read: the whole header section
// and possibly the first bytes of the body, so [SetRaw] and [RemoveRaw] can
// edit it; the rest of the message is what r still yields.
//
// It reads in geometrically growing steps (4 KiB, 8 KiB, ...) and stops as
// soon as the header section has ended: memory is bounded by twice the
// header section and at most about 2*MaxHeaderBytes. A longer header section
// gives a *ParseError wrapping [ErrHeaderTooLong], as with [Scan]; a read
// error from r other than io.EOF is returned too, and the Facts then never
// relax TLS.
func ReadHead(r io.Reader) (head []byte, f Facts, err error) {
	return ReadHeadBuf(r, nil)
}

// readHeadStep is the first read of ReadHead.
const readHeadStep = 4 << 10

// ReadHeadBuf is [ReadHead] reading into buf's storage (its contents are
// ignored) for as long as its capacity holds what has been read, so that a
// server can reuse buffers, from a sync.Pool say, instead of allocating one
// per message. It reads in the same steps as ReadHead and so returns the
// same head, Facts and error; past cap(buf) it allocates as ReadHead does.
// With a cap(buf) of 4 KiB or more, a message whose header section ends
// in its first 4 KiB costs no allocation. head may share buf's storage:
// the caller must not reuse buf while head, or a reader of it, is in use.
func ReadHeadBuf(r io.Reader, buf []byte) (head []byte, f Facts, err error) {
	store, step := buf[:0], readHeadStep
	if cap(store) < step {
		store = make([]byte, 0, step)
	}
	buf = store[:0:step]
	for {
		n, rerr := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		f, end, err := Scan(buf)
		switch {
		case err != nil:
			return buf, f, err
		case end >= 0 || rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return buf, f, nil
		case rerr != nil:
			f.TLSRequiredNo = false // unread fields might be malformed
			return buf, f, rerr
		}
		step = min(2*step, MaxHeaderBytes+1)
		if cap(store) < step {
			store = make([]byte, len(buf), step)
			copy(store, buf)
		}
		buf = store[:len(buf):step]
	}
}
