// Package readpattern is test support for the rule every streaming entry
// point of this module keeps: its output, and its error, are a function of
// the input bytes alone, never of how the reader hands them over.
//
// [Each] replays one input through every read pattern a caller's reader can
// have: everything in one Read, one byte per Read, half reads, the last
// bytes together with io.EOF, one line per Read (an SMTP DATA stream), and
// any number of random chunkings. [Check] runs a function of a reader over
// all of them and reports the first pattern whose result differs from the
// single-Read one.
//
// Only _test.go files import it.
package readpattern

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing/iotest"
)

// Pattern is one way of handing an input to a reader's caller.
type Pattern struct {
	Name string
	// New returns a fresh reader over b in this pattern.
	New func(b []byte) io.Reader
}

// Fixed are the deterministic patterns; the first is one Read of everything.
var Fixed = []Pattern{
	{"one read", func(b []byte) io.Reader { return &chunked{b: b, sizes: func(int) int { return len(b) }} }},
	{"iotest.OneByteReader", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"iotest.HalfReader", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"iotest.DataErrReader", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	{"one line per read", func(b []byte) io.Reader { return &lines{b: b} }},
}

// Random returns n patterns of random chunk sizes (1 to 2·avg bytes, with
// avg itself drawn from 1..4096 per pattern), reproducible from seed.
func Random(n int, seed uint64) []Pattern {
	ps := make([]Pattern, n)
	for i := range ps {
		s := seed + uint64(i)
		ps[i] = Pattern{
			Name: fmt.Sprintf("random chunks (seed %d)", s),
			New: func(b []byte) io.Reader {
				rng := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
				avg := 1 + rng.IntN(4096)
				return &chunked{b: b, sizes: func(int) int { return 1 + rng.IntN(2*avg) }}
			},
		}
	}
	return ps
}

// All is Fixed followed by Random(n, seed).
func All(n int, seed uint64) []Pattern {
	return append(append([]Pattern(nil), Fixed...), Random(n, seed)...)
}

// Result is what a function under test made of one input: its output bytes
// and its error text ("" for nil).
type Result struct {
	Out []byte
	Err string
}

// Run calls f on a reader of b in pattern p and collects its result.
func Run(p Pattern, b []byte, f func(io.Reader) ([]byte, error)) Result {
	out, err := f(p.New(b))
	r := Result{Out: out}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// Check runs f over b in every pattern of ps and returns a non-nil error
// naming the first pattern whose output or error differs from that of
// ps[0], with the offset of the first differing output byte.
func Check(ps []Pattern, b []byte, f func(io.Reader) ([]byte, error)) error {
	want := Run(ps[0], b, f)
	for _, p := range ps[1:] {
		got := Run(p, b, f)
		if got.Err != want.Err {
			return fmt.Errorf("%s: error %q, %s gave %q", p.Name, got.Err, ps[0].Name, want.Err)
		}
		if !bytes.Equal(got.Out, want.Out) {
			i := 0
			for i < len(got.Out) && i < len(want.Out) && got.Out[i] == want.Out[i] {
				i++
			}
			return fmt.Errorf("%s: output differs from %s at byte %d (lengths %d and %d)",
				p.Name, ps[0].Name, i, len(got.Out), len(want.Out))
		}
	}
	return nil
}

// chunked hands out b in chunks whose sizes come from sizes.
type chunked struct {
	b     []byte
	sizes func(off int) int
	off   int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.off == len(c.b) {
		return 0, io.EOF
	}
	n := min(c.sizes(c.off), len(p), len(c.b)-c.off)
	copy(p, c.b[c.off:c.off+n])
	c.off += n
	return n, nil
}

// lines hands out b one line (through its LF) per Read, or less when p is
// shorter.
type lines struct {
	b   []byte
	off int
}

func (l *lines) Read(p []byte) (int, error) {
	if l.off == len(l.b) {
		return 0, io.EOF
	}
	rest := l.b[l.off:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i+1]
	}
	n := copy(p, rest)
	l.off += n
	return n, nil
}
