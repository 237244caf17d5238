package dsn

import (
	"bufio"
	"io"
	"iter"
	"sync"
	"unsafe"
)

// scanners holds RedactDSN's 8 KiB scanners between calls.
var scanners = sync.Pool{New: func() any { return newScanner(nil, 8<<10) }}

// getScanner returns a pooled scanner over r. When inPlace is true and r
// offers its bytes (an io.WriterTo, a *bufio.Reader with a buffer larger
// than the scanner's), the scanner reads them where they are. That is
// safe only when the window's bytes go nowhere but into RedactDSN's own
// buffers: a string a WriteTo hands over is read as bytes, which no
// writer may be given. putScanner gives the scanner back.
func getScanner(r io.Reader, inPlace bool) *scanner {
	s := scanners.Get().(*scanner)
	s.buf = s.own
	switch r := r.(type) {
	case *bufio.Reader:
		// An empty bufio.Reader of up to the scanner's size reads into
		// the scanner's buffer directly: there is no copy to save.
		if inPlace && r.Size() > len(s.own) {
			s.lendBufio(r)
			return s
		}
	case io.WriterTo:
		if inPlace {
			s.lendWriterTo(r)
			return s
		}
	}
	s.r = r
	return s
}

// putScanner ends the input's lending and pools s, keeping no reference to
// the input or its bytes.
func putScanner(s *scanner) {
	if s.stop != nil {
		s.stop()
	}
	*s = scanner{own: s.own}
	scanners.Put(s)
}

// lendBufio lends the bytes buffered in r: each is discarded from r when the
// next are asked for, or when the scan ends.
func (s *scanner) lendBufio(r *bufio.Reader) {
	lent := 0
	s.next = func() ([]byte, error) {
		r.Discard(lent)
		lent = 0
		if _, err := r.Peek(1); err != nil {
			return nil, err
		}
		p, _ := r.Peek(r.Buffered())
		lent = len(p)
		return p, nil
	}
	s.stop = func() { r.Discard(lent) }
}

// errStopped ends an io.WriterTo's WriteTo when the scan needs no more
// input.
var errStopped = errString("dsn: input no longer read")

// lendWriterTo lends the bytes that r's WriteTo hands to the Write (or
// WriteString) of a writer: each Write returns when the scanner asks for
// the next bytes, so they are scanned in place and never kept past it
// (io.Writer). *bytes.Reader, *bytes.Buffer and *strings.Reader write all
// their bytes in one call. The WriteTo runs as a coroutine (iter.Pull2), so
// a panic in it reaches RedactDSN's caller.
func (s *scanner) lendWriterTo(r io.WriterTo) {
	next, stop := iter.Pull2(func(yield func([]byte, error) bool) {
		_, err := r.WriteTo(lender(yield))
		if err == nil {
			err = io.EOF
		}
		yield(nil, err)
	})
	s.next = func() ([]byte, error) {
		p, err, _ := next()
		return p, err
	}
	s.stop = stop
}

// lender passes each byte slice or string written to it to the scanner
// and returns once the scanner is done with it.
type lender func([]byte, error) bool

func (l lender) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !l(p, nil) {
		return 0, errStopped
	}
	return len(p), nil
}

// WriteString reads a string written to it in place instead of copying
// it (io.WriteString): the scanner only reads its window.
func (l lender) WriteString(s string) (int, error) {
	return l.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}
