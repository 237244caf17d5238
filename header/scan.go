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

// rawField is one header field: b[start:end] including its continuation
// lines and final line ending, name = b[start:nameEnd], colon at b[colon].
type rawField struct {
	start, nameEnd, colon, end int
}

// walker iterates over the fields of the header section at the start of b.
//
// A line ends at LF, with or without CR before it, as in go-message and
// Postfix. A line starting with SP or HTAB continues the field before it.
// A field line is a name of printable US-ASCII other than ":" (possibly
// empty, which go-message skips), optional WSP (obs-optional, RFC 5322
// Section 4.5.8), then ":". The header section ends at the first blank line,
// at the first line that is not a field line, or at the end of b.
//
// walker allocates nothing; the work is linear in the header size, with the
// line ends found by bytes.IndexByte.
type walker struct {
	b   []byte
	off int
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
		w.stop(endBlank, off, off+1)
		return rawField{}, false
	case b[off] == '\r' && off+1 < len(b) && b[off+1] == '\n':
		w.stop(endBlank, off, off+2)
		return rawField{}, false
	case b[off] == '\r' && off+1 == len(b):
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
	if i == len(b) {
		// Out of bytes before the colon: a non-header line, or a prefix.
		w.stop(endEOF, off, len(b))
		return rawField{}, false
	}
	if b[i] != ':' {
		w.stop(endNonHeader, off, off)
		return rawField{}, false
	}
	f := rawField{start: off, nameEnd: nameEnd, colon: i}
	// The field ends after the first line ending not followed by WSP.
	j := i + 1
	for {
		nl := bytes.IndexByte(b[j:], '\n')
		if nl < 0 {
			j = len(b)
			break
		}
		j += nl + 1
		if j == len(b) || !isWSP(b[j]) {
			break
		}
	}
	f.end = j
	w.off = j
	return f, true
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
// end is the offset of the first byte of the body: after the blank line that
// ends the header section, or at the first line that is not a header field.
// end is -1 when the header section does not end within b; the Facts then
// treat b as the whole message (right for a message without a body, but a
// caller still receiving must call Scan again with more bytes, since the
// last field may continue). Growing the buffer geometrically between calls
// keeps the total work linear.
//
// Memory and time are bounded by [MaxHeaderBytes]: if the header section
// does not end within that many bytes, Scan stops there and returns a
// *ParseError wrapping [ErrHeaderTooLong], with Facts in which
// TLSRequiredNo is false (an unread field might be malformed, E3).
//
// Scan and [Inspect] on the header go-message's textproto.ReadHeader reads
// from the same bytes give the same Facts.
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
	if w.kind == endEOF {
		if len(b) > len(lim) {
			f.TLSRequiredNo = false
			return f, -1, newParseError(b[MaxHeaderBytes-maxQuotedLine:], MaxHeaderBytes, ErrHeaderTooLong,
				"no end of the header section within MaxHeaderBytes")
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
	buf := make([]byte, 0, 4<<10)
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
			f.TLSRequiredNo = false // unread fields might be malformed (E3)
			return buf, f, rerr
		}
		next := make([]byte, len(buf), min(2*cap(buf), MaxHeaderBytes+1))
		copy(next, buf)
		buf = next
	}
}
