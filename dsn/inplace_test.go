package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunkWriterTo is an io.WriterTo that hands its bytes to Write in chunks
// of odd sizes, each copied into a scratch buffer first. With overwrite it
// overwrites the scratch buffer after every Write, so a redactor that kept
// a written slice past the Write call (io.Writer forbids it) would read
// '#'s. With err it fails with that error after half of its bytes, as a
// reader may. It counts the calls of Read and WriteTo.
type chunkWriterTo struct {
	b         []byte
	overwrite bool
	err       error
	returned  bool // WriteTo has returned
	reads     int
	writeTos  int
	r         io.Reader
}

// Read reads the same bytes, as a reader with a WriteTo must.
func (c *chunkWriterTo) Read(p []byte) (int, error) {
	c.reads++
	if c.r == nil {
		c.r = bytes.NewReader(c.b)
		if c.err != nil {
			c.r = io.MultiReader(bytes.NewReader(c.b[:len(c.b)/2]), iotest.ErrReader(c.err))
		}
	}
	return c.r.Read(p)
}

var oddChunks = []int{1, 7, 2, 8191, 13, 4093, 3, 8193, 65537, 5}

func (c *chunkWriterTo) WriteTo(w io.Writer) (int64, error) {
	c.writeTos++
	defer func() { c.returned = true }()
	b := c.b
	if c.err != nil {
		b = b[:len(b)/2]
	}
	scratch := make([]byte, 65537)
	var total int64
	for i := 0; len(b) > 0; i++ {
		p := scratch[:min(oddChunks[i%len(oddChunks)], len(b))]
		copy(p, b)
		n, err := w.Write(p)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n != len(p) {
			return total, io.ErrShortWrite
		}
		if c.overwrite {
			for j := range p {
				p[j] = '#'
			}
		}
		b = b[len(p):]
	}
	return total, c.err
}

// otherGoroutine is a chunkWriterTo whose WriteTo writes from a goroutine
// of its own.
type otherGoroutine struct{ *chunkWriterTo }

func (o otherGoroutine) WriteTo(w io.Writer) (int64, error) {
	type result struct {
		n   int64
		err error
	}
	done := make(chan result)
	go func() {
		n, err := o.chunkWriterTo.WriteTo(w)
		done <- result{n, err}
	}()
	r := <-done
	return r.n, r.err
}

var errBroken = errors.New("broken input")

// inPlaceSources are readers that offer their bytes, which RedactDSN scans
// in place, each with the plain io.Reader that hands over the same bytes
// and the same error.
func inPlaceSources() []struct {
	name  string
	r     func([]byte) io.Reader
	plain func([]byte) io.Reader
} {
	plain := func(b []byte) io.Reader { return readerOnly{bytes.NewReader(b)} }
	broken := func(b []byte) io.Reader {
		return readerOnly{io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotest.ErrReader(errBroken))}
	}
	type source = struct {
		name  string
		r     func([]byte) io.Reader
		plain func([]byte) io.Reader
	}
	sources := []source{
		{"bytes.Reader", func(b []byte) io.Reader { return bytes.NewReader(b) }, plain},
		{"strings.Reader", func(b []byte) io.Reader { return strings.NewReader(string(b)) }, plain},
		{"bytes.Buffer", func(b []byte) io.Reader { return bytes.NewBuffer(bytes.Clone(b)) }, plain},
		{"WriterTo in odd chunks", func(b []byte) io.Reader { return &chunkWriterTo{b: b} }, plain},
		{"WriterTo overwriting its buffer", func(b []byte) io.Reader { return &chunkWriterTo{b: b, overwrite: true} }, plain},
		{"WriterTo writing from another goroutine", func(b []byte) io.Reader { return otherGoroutine{&chunkWriterTo{b: b, overwrite: true}} }, plain},
		{"WriterTo failing", func(b []byte) io.Reader { return &chunkWriterTo{b: b, overwrite: true, err: errBroken} }, broken},
	}
	// A bufio.Reader of up to 8 KiB is read into RedactDSN's buffer, a
	// larger one is scanned in place, with its own read pattern.
	for _, size := range []int{16, 64 << 10} {
		sources = append(sources,
			source{fmt.Sprintf("bufio.Reader/%d failing", size), func(b []byte) io.Reader { return bufio.NewReaderSize(broken(b), size) }, broken},
			source{fmt.Sprintf("bufio.Reader/%d over one byte per Read", size), func(b []byte) io.Reader {
				return bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(b)), size)
			}, plain})
	}
	for _, size := range []int{16, 100, 4096, 8 << 10, 8<<10 + 1, 9000, 64 << 10} {
		sources = append(sources, source{fmt.Sprintf("bufio.Reader/%d", size), func(b []byte) io.Reader {
			return bufio.NewReaderSize(readerOnly{bytes.NewReader(b)}, size)
		}, plain})
	}
	return sources
}

// TestRedactDSNInPlaceSameAsReader: RedactDSN scans the bytes of a
// *bytes.Reader, *strings.Reader, *bytes.Buffer, *bufio.Reader (of over
// 8 KiB; a smaller one is read like any reader) or any io.WriterTo (one
// that writes from another goroutine too) in place, and gives exactly the
// output and the error (offsets included) that the same bytes give
// through a plain io.Reader: over the real bounces, the golden files, the
// hostile corpus, the table inputs and 1000 generated hostile bounces,
// with the default options, with UnsafeKeepHumanReadable and with a small
// MaxHeaderBytes. A WriterTo that overwrites its buffer after each Write
// shows that no written slice is kept past the Write (R43, R46: a
// corrupted redaction is a bounce a parser may read differently).
func TestRedactDSNInPlaceSameAsReader(t *testing.T) {
	ins := readPatternInputs(t)
	for name, in := range redactDSNTableInputs() {
		ins[name] = in
	}
	n := 1000
	if testing.Short() {
		n = 100
	}
	g := &bounceGen{r: rand.New(rand.NewPCG(13, 4))}
	for i := range n {
		ins[fmt.Sprintf("generated hostile/%d", i)] = []byte(g.bounce())
	}
	redact := func(r io.Reader, opts *Options) ([]byte, string) {
		var out bytes.Buffer
		err := RedactDSN(&out, r, opts)
		if err != nil {
			return out.Bytes(), err.Error()
		}
		return out.Bytes(), ""
	}
	sources := inPlaceSources()
	for _, opts := range []*Options{nil, {UnsafeKeepHumanReadable: true}, {MaxHeaderBytes: 300}} {
		for name, in := range ins {
			for _, src := range sources {
				wantOut, wantErr := redact(src.plain(in), opts)
				r := src.r(in)
				gotOut, gotErr := redact(r, opts)
				if o, ok := r.(otherGoroutine); ok {
					r = o.chunkWriterTo
				}
				if c, ok := r.(*chunkWriterTo); ok {
					// In place, but not when the output would hand the
					// input's bytes to the caller's writer.
					assert.Equal(t, opts.unsafeKeep(), c.reads > 0 && c.writeTos == 0, "%s from %s, %+v: Read %d, WriteTo %d", name, src.name, opts, c.reads, c.writeTos)
				}
				if !assert.Equal(t, wantErr, gotErr, "%s from %s, %+v", name, src.name, opts) ||
					!assert.Equal(t, string(wantOut), string(gotOut), "%s from %s, %+v", name, src.name, opts) {
					return
				}
			}
		}
	}
}

// TestRedactDSNWriterToDone: when RedactDSN returns, early (an error, a
// text epilogue) or at the end, the WriteTo it read from has returned, so
// nothing of the input is still in use; a panic in WriteTo reaches the
// caller.
func TestRedactDSNWriterToDone(t *testing.T) {
	in, err := os.ReadFile("testdata/postfix-full.eml")
	require.NoError(t, err)
	for _, b := range [][]byte{in, []byte("Subject: not a DSN\r\n\r\nbody\r\n" + strings.Repeat("x", 100<<10)), append(bytes.Clone(in), "epilogue text\r\n"+strings.Repeat("y", 100<<10)...)} {
		wt := &chunkWriterTo{b: b}
		_ = RedactDSN(io.Discard, wt, nil)
		assert.True(t, wt.returned)
	}
	assert.PanicsWithValue(t, "boom", func() { _ = RedactDSN(io.Discard, panicWriterTo{}, nil) })
}

type panicWriterTo struct{}

func (panicWriterTo) Read([]byte) (int, error)         { return 0, io.EOF }
func (panicWriterTo) WriteTo(io.Writer) (int64, error) { panic("boom") }

// TestRedactDSNPartHeaderAtDelimiter: a part header section that a
// delimiter line ends, without a blank line, is copied as it is, with no
// line ending added (RFC 2046 Section 5.1.1: a body part may be empty).
func TestRedactDSNPartHeaderAtDelimiter(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n"} {
		in := strings.ReplaceAll("Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"+
			"--b\nContent-Type: text/plain\n--b\nContent-Type: message/delivery-status\n--b\n"+
			"Content-Type: text/rfc822-headers\n\nSubject: s\n\n--b--\n", "\n", eol)
		var out bytes.Buffer
		require.NoError(t, RedactDSN(&out, strings.NewReader(in), nil))
		assert.Equal(t, strings.ReplaceAll("Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"+
			"--b\nContent-Type: text/plain\n--b\nContent-Type: message/delivery-status\n--b\n"+
			"Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\nSubject: s\n\n--b--\n", "\n", eol), out.String())
	}
}
