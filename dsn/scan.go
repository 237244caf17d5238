package dsn

import (
	"bytes"
	"io"
	"strings"
)

// scanner is a fixed-size read buffer over the input. It never grows, so the
// memory it uses does not depend on the input (RFC 8689 Section 5 redaction
// must work on messages of any size).
type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	scanned  int     // bytes from pos known to hold no '\n', so line does not rescan them after a refill
	base     int64   // input offset of buf[0]
	last     [2]byte // the last two bytes consumed
	eof      bool
	err      error // read error other than io.EOF
}

func newScanner(r io.Reader, size int) *scanner {
	return &scanner{r: r, buf: make([]byte, size)}
}

// offset returns the input offset of the next unconsumed byte.
func (s *scanner) offset() int64 { return s.base + int64(s.pos) }

// fill moves the unconsumed bytes to the front and reads more. It reports
// whether new bytes arrived.
func (s *scanner) fill() bool {
	if s.eof || s.err != nil {
		return false
	}
	if s.pos > 0 {
		copy(s.buf, s.buf[s.pos:s.end])
		s.base += int64(s.pos)
		s.end -= s.pos
		s.pos = 0
	}
	if s.end == len(s.buf) {
		return false
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			s.err = err
		}
		if n > 0 || s.eof || s.err != nil {
			return n > 0
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// line returns the next line including its line ending, without consuming
// it. When the line does not fit in the buffer, line returns as much as fits
// and complete is false. At the end of the input line returns an empty slice
// and the read error (io.EOF at a clean end).
//
// l is a slice of the read buffer: it is valid only until the next call of
// line, fill or skip, which may move or overwrite the buffer's bytes. A
// caller that keeps a line longer must copy it.
func (s *scanner) line() (l []byte, complete bool, err error) {
	for {
		if i := bytes.IndexByte(s.buf[s.pos+s.scanned:s.end], '\n'); i >= 0 {
			return s.buf[s.pos : s.pos+s.scanned+i+1], true, nil
		}
		s.scanned = s.end - s.pos
		if !s.fill() {
			break
		}
	}
	if s.pos == s.end {
		return nil, false, s.readErr()
	}
	// Unterminated last line, or a line longer than the buffer.
	return s.buf[s.pos:s.end], s.eof || s.err != nil, nil
}

func (s *scanner) readErr() error {
	if s.err != nil {
		return s.err
	}
	return io.EOF
}

func (s *scanner) consume(n int) {
	switch {
	case n >= 2:
		s.last = [2]byte{s.buf[s.pos+n-2], s.buf[s.pos+n-1]}
	case n == 1:
		s.last = [2]byte{s.last[1], s.buf[s.pos]}
	}
	s.pos += n
	s.scanned = 0
}

// lastEOL returns the line ending that the consumed input ends with: CRLF,
// LF, or "" when it ends otherwise.
func (s *scanner) lastEOL() string {
	switch {
	case s.last == [2]byte{'\r', '\n'}:
		return "\r\n"
	case s.last[1] == '\n':
		return "\n"
	}
	return ""
}

// skip streams input to w (or discards it when w is nil) until the start of
// a line that classify reports as a delimiter, which it leaves unconsumed.
// It must be called at the start of a line. It returns io.EOF (or the read
// error) when the input ends first, and classify's error when it has one.
//
// Only lines starting with one of the needles ("--" boundary) can be
// delimiters (RFC 2046 Section 5.1.1), so the scan jumps from one
// occurrence of a needle to the next with bytes.Index: the bytes in between
// are never looked at one by one. This is what keeps wrapping a large
// returned message close to the cost of a plain copy.
func (s *scanner) skip(w io.Writer, needles [][]byte, classify func(l []byte, complete bool) (bool, error)) error {
	keep := 1 // bytes kept at the end of the buffer: a needle may start there
	for _, n := range needles {
		keep = max(keep, len(n))
	}
	lineStart := true
	for {
		if lineStart {
			if s.end-s.pos < 2 && s.fill() {
				continue
			}
			if s.end-s.pos >= 2 && s.buf[s.pos] == '-' && s.buf[s.pos+1] == '-' {
				l, complete, _ := s.line()
				if delim, err := classify(l, complete); delim || err != nil {
					return err
				}
			}
			lineStart = false
		}
		if s.pos == s.end && !s.fill() {
			return s.readErr()
		}
		if i := indexAny(s.buf[s.pos:s.end], needles); i >= 0 {
			if i == 0 { // not at a line start, or lineStart would have matched
				i = 1
			}
			if err := s.emit(w, i); err != nil {
				return err
			}
			lineStart = s.buf[s.pos-1] == '\n'
			continue
		}
		if s.eof || s.err != nil {
			if err := s.emit(w, s.end-s.pos); err != nil {
				return err
			}
			return s.readErr()
		}
		if n := s.end - s.pos - keep; n > 0 {
			if err := s.emit(w, n); err != nil {
				return err
			}
			lineStart = s.buf[s.pos-1] == '\n'
		}
		s.fill()
	}
}

// restHasText reads the rest of the input up to its first byte other than
// a space, tab or line ending, and reports whether there is one.
func (s *scanner) restHasText() (bool, error) {
	for {
		rest := s.buf[s.pos:s.end]
		if i := bytes.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) }); i >= 0 {
			return true, nil
		}
		s.consume(len(rest))
		if !s.fill() {
			if err := s.readErr(); err != io.EOF {
				return false, err
			}
			return false, nil
		}
	}
}

func (s *scanner) emit(w io.Writer, n int) error {
	if w != nil {
		if _, err := w.Write(s.buf[s.pos : s.pos+n]); err != nil {
			return err
		}
	}
	s.consume(n)
	return nil
}

// indexAny returns the first index of any of the needles in b, or -1.
func indexAny(b []byte, needles [][]byte) int {
	first := -1
	for _, n := range needles {
		if first >= 0 {
			b = b[:min(len(b), first+len(n)-1)]
		}
		if i := bytes.Index(b, n); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	return first
}
