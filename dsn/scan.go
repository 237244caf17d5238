package dsn

import (
	"bytes"
	"io"
	"strings"
	"unsafe"
)

// scanner is a window of fixed maximum size over the input. Its memory
// does not depend on the input (RFC 8689 Section 5 redaction must work on
// messages of any size).
//
// The window is either its own buffer, which a plain io.Reader is read
// into, or bytes the input lends (see getScanner): those are scanned where they
// are, without a copy. Only a line or a delimiter that runs from one lent
// chunk into the next is copied into the own buffer. Either way a line is
// at most len(own) bytes, so results never depend on how the input arrives.
type scanner struct {
	r        io.Reader              // the input, read into own, when next is nil
	next     func() ([]byte, error) // the input's next lent bytes, valid until the following call
	stop     func()                 // ends a lending input early
	own      []byte                 // the own buffer; its length is the longest line
	buf      []byte                 // the window: own, or lent bytes
	lent     []byte                 // lent bytes after the window (when buf is own)
	pos, end int
	scanned  int     // bytes from pos known to hold no '\n', so line does not rescan them after a refill
	base     int64   // input offset of buf[0]
	last     [2]byte // the last two bytes consumed
	eof      bool
	err      error // read error other than io.EOF
}

func newScanner(r io.Reader, size int) *scanner {
	own := make([]byte, size)
	return &scanner{r: r, own: own, buf: own}
}

// offset returns the input offset of the next unconsumed byte.
func (s *scanner) offset() int64 { return s.base + int64(s.pos) }

// compact moves the unconsumed bytes to the front of the own buffer. They
// always fit: line and skip ask for more input only with fewer unconsumed
// bytes than that buffer holds.
func (s *scanner) compact() {
	n := copy(s.own, s.buf[s.pos:s.end])
	s.base += int64(s.pos)
	s.buf, s.pos, s.end = s.own, 0, n
}

// fill makes more input available after the unconsumed bytes, which it may
// move. It reports whether new bytes arrived.
func (s *scanner) fill() bool {
	if s.next != nil {
		return s.fillLent()
	}
	if s.eof || s.err != nil {
		return false
	}
	if s.pos > 0 {
		s.compact()
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

// fillLent is fill for an input that lends its bytes. Once the window is
// consumed, the next lent bytes become the window; until then, the lent
// bytes through the next line ending are copied after the unconsumed ones.
func (s *scanner) fillLent() bool {
	if len(s.lent) == 0 {
		if s.eof || s.err != nil {
			return false
		}
		if s.pos < s.end {
			s.compact() // the lent window dies at the next call of next
		}
		p, err := s.next()
		if len(p) == 0 {
			if err == nil || err == io.EOF {
				s.eof = true
			} else {
				s.err = err
			}
			return false
		}
		s.lent = p
	}
	if s.pos == s.end {
		s.base += int64(s.pos)
		s.buf, s.pos, s.end, s.lent = s.lent, 0, len(s.lent), nil
		return true
	}
	s.compact()
	n := len(s.lent)
	if i := bytes.IndexByte(s.lent, '\n'); i >= 0 {
		n = i + 1
	}
	n = copy(s.own[s.end:], s.lent[:n])
	s.end += n
	s.lent = s.lent[n:]
	return n > 0
}

// line returns the next line including its line ending, without consuming
// it. When the line is longer than the own buffer, line returns as many
// bytes as that holds and complete is false. At the end of the input line
// returns an empty slice and the read error (io.EOF at a clean end).
//
// l is a slice of the window: it is valid only until the next call of
// line, fill or skip, which may move or overwrite the buffer's bytes or
// give lent bytes back. A caller that keeps a line longer must copy it.
func (s *scanner) line() (l []byte, complete bool, err error) {
	for {
		limit := min(s.end, s.pos+len(s.own))
		if i := bytes.IndexByte(s.buf[s.pos+s.scanned:limit], '\n'); i >= 0 {
			return s.buf[s.pos : s.pos+s.scanned+i+1], true, nil
		}
		s.scanned = limit - s.pos
		if s.scanned == len(s.own) {
			return s.buf[s.pos:limit], false, nil
		}
		if !s.fill() {
			break
		}
	}
	if s.pos == s.end {
		return nil, false, s.readErr()
	}
	// Unterminated last line.
	return s.buf[s.pos:s.end], true, nil
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
// are never looked at one by one. Of the window's end only what may start
// a needle waits for more input. This is what keeps wrapping a large
// returned message close to the cost of reading it.
func (s *scanner) skip(w io.Writer, needles [][]byte, classify func(l []byte, complete bool) (bool, error)) error {
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
		win := s.buf[s.pos:s.end]
		// Every needle starts with '-': the bytes before the first one
		// are skipped with one aligned scan, and a window without one
		// cannot end with the start of a needle either.
		dash, i := indexByte(win, '-'), -1
		if dash >= 0 {
			if i = indexAny(win[dash:], needles); i >= 0 {
				i += dash
			}
		}
		if i < 0 && (s.eof || s.err != nil) {
			if err := s.emit(w, len(win)); err != nil {
				return err
			}
			return s.readErr()
		}
		n := i
		switch {
		case i == 0: // not at a line start, or lineStart would have matched
			n = 1
		case i < 0 && dash >= 0:
			n = len(win) - needleStart(win[dash:], needles)
		case i < 0:
			n = len(win)
		}
		if n > 0 {
			if err := s.emit(w, n); err != nil {
				return err
			}
			lineStart = s.buf[s.pos-1] == '\n'
		}
		if i < 0 {
			s.fill()
		}
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

// needleStart returns the length of the longest end of b that is the
// start of one of the needles, which the next bytes may complete. Needles
// start with '-', so only an end that starts with one is tried.
func needleStart(b []byte, needles [][]byte) int {
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n)-1)
	}
	tail := b[len(b)-min(len(b), longest):]
	for i := bytes.IndexByte(tail, '-'); i >= 0; {
		for _, n := range needles {
			if len(tail)-i < len(n) && bytes.HasPrefix(n, tail[i:]) {
				return len(tail) - i
			}
		}
		j := bytes.IndexByte(tail[i+1:], '-')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return 0
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

// indexByte is bytes.IndexByte with its vector loop started at a 32-byte
// aligned address: that loop does not align its loads itself, and on a
// buffer that starts elsewhere (every lent one, and bytes.Index's scan
// from the second byte on) loads that cross cache lines make it a sixth
// slower.
func indexByte(b []byte, c byte) int {
	head := min(len(b), int(-uintptr(unsafe.Pointer(unsafe.SliceData(b)))&31))
	if i := bytes.IndexByte(b[:head], c); i >= 0 {
		return i
	}
	if i := bytes.IndexByte(b[head:], c); i >= 0 {
		return head + i
	}
	return -1
}
