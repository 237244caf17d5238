package dsn

import (
	"bytes"
	"io"
)

// DefaultMaxHeaderBytes is the size limit for one header section when
// Options.MaxHeaderBytes is zero. It is Postfix's header_size_limit default.
const DefaultMaxHeaderBytes = 102400

// Content-Description values, as Postfix writes them for the returned part.
const (
	descUndelivered = "Undelivered Message Headers" // a report with a failed recipient
	descHeaders     = "Message Headers"             // delayed, delivered, relayed, expanded
)

// Options configures redaction. A nil *Options means the defaults.
type Options struct {
	// MaxHeaderBytes limits each header section read (the message's, and in
	// a DSN the top-level one, each part's and the returned message's).
	// A longer section fails with ErrHeaderTooLarge. Memory use of every
	// entry point is bounded by a small constant plus a few times this
	// limit (see RedactDSN).
	// Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// Fields is the redaction level. Nil returns every header field of the
	// original, as RFC 8689 Section 5 asks ("as if RET=HDRS was present")
	// and RFC 6522 Section 4 recommends. A non-nil list is an allow-list of
	// field names (case-insensitive), for operators who want to leak less,
	// e.g. []string{"Message-ID", "Date", "From", "To"}; an empty non-nil
	// list returns no fields at all.
	Fields []string

	// UnsafeKeepHumanReadable makes RedactDSN copy the human-readable part
	// of a bounce as it came, even when the bounce returned the original
	// body, which several MTAs quote in that part (in plain text,
	// quoted-printable or base64): body bytes then reach the output.
	// By default (false) such a part is replaced by one written from the
	// delivery-status fields; see RedactDSN. It also makes RedactDSN
	// stream its output instead of holding it until the end.
	UnsafeKeepHumanReadable bool
}

func (o *Options) maxHeader() int {
	if o == nil || o.MaxHeaderBytes <= 0 {
		return DefaultMaxHeaderBytes
	}
	return o.MaxHeaderBytes
}

func (o *Options) unsafeKeep() bool { return o != nil && o.UnsafeKeepHumanReadable }

// keepField reports whether the allow-list keeps the field called name.
func (o *Options) keepField(name []byte) bool {
	if o == nil || o.Fields == nil {
		return true
	}
	for _, f := range o.Fields {
		if len(f) == len(name) && bytes.EqualFold([]byte(f), name) {
			return true
		}
	}
	return false
}

// How a header section ended.
type sectionEnd int

const (
	endBlank sectionEnd = iota // a blank line, consumed
	endDelim                   // a MIME delimiter line, not consumed
	endEOF                     // the end of the input
)

// section is one header section read from the input.
type section struct {
	raw      []byte     // the field lines as read, line endings included
	end      sectionEnd // what ended it
	blank    string     // the blank line that ended it, if end == endBlank; a copy, never a slice of the read buffer
	eightBit bool       // some byte is >= 0x80 (RFC 6533 Section 4.3)
}

// readSection reads a header section (RFC 5322 Section 2.2: the lines
// before the first blank line) into dst's storage. Every line must be a
// field or a continuation line, without a bare CR, so a body that starts
// without a blank line is refused, never mistaken for header fields, and
// so is any line that readers disagree on (Postfix's is_header_buf ends
// the header at a line that is not a field; go-message skips an empty
// name). classify, when not nil,
// recognises MIME delimiter lines, which end the section without being part
// of it.
func readSection(s *scanner, dst []byte, max int, classify func([]byte, bool) (bool, error)) (section, error) {
	sec := section{raw: dst[:0]}
	for {
		off := s.offset()
		l, complete, err := s.line()
		if len(l) == 0 {
			if err == io.EOF {
				sec.end = endEOF
				return sec, nil
			}
			return sec, err
		}
		if classify != nil && bytes.HasPrefix(l, []byte("--")) {
			delim, err := classify(l, complete)
			if err != nil {
				return sec, err
			}
			if delim {
				sec.end = endDelim
				return sec, nil
			}
		}
		if isBlank(l) {
			s.consume(len(l))
			sec.end, sec.blank = endBlank, eolOf(l) // l dies at the next refill
			return sec, nil
		}
		if hasBareCR(l) {
			// RFC 5322 Section 2.2: CR only before LF. Postfix and go-message
			// end lines at LF alone, other readers at a bare CR too: they
			// would see other fields, or a body, past the headers-only cut
			// RFC 8689 Section 5 requires.
			return sec, &ParseError{Offset: off, Msg: "bare CR in a header section", Err: ErrMalformed}
		}
		if !complete || len(sec.raw)+len(l) > max {
			return sec, &ParseError{Offset: off, Msg: "header section longer than the limit", Err: ErrHeaderTooLarge}
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(sec.raw) == 0 {
				return sec, &ParseError{Offset: off, Msg: "continuation line without a field", Err: ErrMalformed}
			}
		} else if fieldName(l) == nil {
			return sec, &ParseError{Offset: off, Msg: "line in header section is not a header field", Err: ErrMalformed}
		}
		if !sec.eightBit && hasEightBit(l) {
			sec.eightBit = true
		}
		sec.raw = append(sec.raw, l...)
		s.consume(len(l))
	}
}

// hasBareCR reports whether l has a CR that is not the CR of a final CRLF.
func hasBareCR(l []byte) bool {
	i := bytes.IndexByte(l, '\r')
	return i >= 0 && (i != len(l)-2 || l[i+1] != '\n')
}

func isBlank(l []byte) bool {
	return len(l) == 1 && l[0] == '\n' || len(l) == 2 && l[0] == '\r' && l[1] == '\n'
}

func hasEightBit(l []byte) bool {
	for _, c := range l {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// fieldName returns the name of the header field starting line l, or nil
// when l does not start a field (RFC 5322 Section 3.6.8: printable ASCII
// except colon, then optional WSP, which appears in the wild, then colon).
func fieldName(l []byte) []byte {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return nil
	}
	name := bytes.TrimRight(l[:i], " \t")
	if len(name) == 0 {
		return nil
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return nil
		}
	}
	return name
}

// eachField calls f with the name (nil if the line is not a field) and
// the lines (continuation lines included) of each field of raw.
func eachField(raw []byte, f func(name, lines []byte)) {
	for len(raw) > 0 {
		n := 0
		for {
			i := bytes.IndexByte(raw[n:], '\n') + 1
			if i == 0 {
				i = len(raw) - n
			}
			n += i
			if n == len(raw) || raw[n] != ' ' && raw[n] != '\t' {
				break
			}
		}
		if raw[0] != ' ' && raw[0] != '\t' { // else continuation lines of no field
			f(fieldName(raw[:n]), raw[:n])
		}
		raw = raw[n:]
	}
}

// filterFields appends to dst the fields of raw (a validated header
// section) for which keep is true, each with its continuation lines.
func filterFields(dst, raw []byte, keep func(name []byte) bool) []byte {
	eachField(raw, func(name, lines []byte) {
		if keep(name) {
			dst = append(dst, lines...)
		}
	})
	return dst
}

// unfold appends to dst the value of a field from its lines: after the
// colon, without line endings, white space trimmed at both ends.
func unfold(dst, lines []byte) []byte {
	start := len(dst)
	lines = lines[bytes.IndexByte(lines, ':')+1:]
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n') + 1
		if i == 0 {
			i = len(lines)
		}
		dst = append(dst, bytes.TrimRight(lines[:i], "\r\n")...)
		lines = lines[i:]
	}
	v := bytes.Trim(dst[start:], " \t") // WSP only: any other byte is the value's
	return append(dst[:start], v...)
}

// eolOf returns the line ending of the first line of b, CRLF when it has
// none.
func eolOf(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i == 0 || i > 0 && b[i-1] != '\r' {
		return "\n"
	}
	return "\r\n"
}

// mediaTypes for the headers-only returned part (RFC 6522 Section 4,
// RFC 6533 Section 4.3).
func headersType(global bool) string {
	if global {
		return "message/global-headers"
	}
	return "text/rfc822-headers"
}

// writeSection writes the body of a headers-only part: the header
// section, then a line ending if its last line lacked one.
func writeSection(w io.Writer, raw []byte, eol string) error {
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		_, err := io.WriteString(w, eol)
		return err
	}
	return nil
}

// RedactMessage writes a MIME body part holding only the header section of
// the message read from r: a text/rfc822-headers part (RFC 6522 Section 4),
// or message/global-headers when the header section has UTF-8 or other
// 8-bit bytes (RFC 6533 Section 4.3), as RFC 8689 Section 5 requires for the
// returned content of a bounce ("as if RET=HDRS was present").
//
// RedactMessage stops reading at the blank line that ends the header
// section: the body is never read, apart from what fills the last 4 KiB
// read buffer. Memory use is bounded by opts.MaxHeaderBytes. A header
// section that is too long (ErrHeaderTooLarge), or that has a line which
// is neither a header field, a continuation nor the blank line, or a bare
// CR (ErrMalformed: readers disagree on where such a header ends), is an
// error and nothing is written.
func RedactMessage(w io.Writer, r io.Reader, opts *Options) error {
	s := newScanner(r, 4<<10)
	mboxFrom(s)
	sec, err := readSection(s, nil, opts.maxHeader(), nil)
	if err != nil {
		return err
	}
	return writeHeadersPart(w, sec, descUndelivered, opts)
}

// writeHeadersPart writes a complete headers-only part for sec.
func writeHeadersPart(w io.Writer, sec section, desc string, opts *Options) error {
	eol := eolOf(sec.raw)
	kept := filterFields(nil, sec.raw, opts.keepField)
	var b bytes.Buffer
	// Postfix's order, and RedactDSN's: a composed DSN redacts to itself.
	b.WriteString("Content-Description: " + desc + eol)
	b.WriteString("Content-Type: " + headersType(hasEightBit(kept)) + eol)
	if hasEightBit(kept) {
		b.WriteString("Content-Transfer-Encoding: 8bit" + eol)
	}
	b.WriteString(eol)
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	return writeSection(w, kept, eol)
}

// mboxFrom consumes and returns an mbox "From " envelope line at the start
// of the input (mailbox files and many bounce archives have one). It is not
// a header field. One with a bare CR is left to readSection, which refuses
// it: readers that end lines at a CR would see a field in it.
func mboxFrom(s *scanner) []byte {
	l, complete, _ := s.line()
	if !complete || !bytes.HasPrefix(l, []byte("From ")) || hasBareCR(l) {
		return nil
	}
	from := bytes.Clone(l)
	s.consume(len(l))
	return from
}
