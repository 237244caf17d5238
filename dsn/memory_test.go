package dsn

import (
	"bufio"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const gib = 1 << 30

// genReader produces prefix, then n bytes of body lines, then suffix,
// without holding the body in memory and without allocating per Read.
type genReader struct {
	prefix, suffix string
	n              int64 // body bytes left
	off            int   // position in block
	block          []byte
	read           int64
}

func newGenReader(prefix string, n int64, suffix string) *genReader {
	line := "ZZBODY-0123456789 lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n"
	return &genReader{prefix: prefix, n: n, suffix: suffix, block: []byte(strings.Repeat(line, 64<<10/len(line)))}
}

func (g *genReader) Read(p []byte) (int, error) {
	var n int
	switch {
	case len(g.prefix) > 0:
		n = copy(p, g.prefix)
		g.prefix = g.prefix[n:]
	case g.n > 0:
		n = int(min(int64(copy(p, g.block[g.off:])), g.n))
		g.n -= int64(n)
		g.off = (g.off + n) % len(g.block)
	case len(g.suffix) > 0:
		n = copy(p, g.suffix)
		g.suffix = g.suffix[n:]
	default:
		return 0, io.EOF
	}
	g.read += int64(n)
	return n, nil
}

// peakHeap runs f while sampling the heap, and returns the peak HeapInuse
// above the level before f and the bytes allocated during f.
func peakHeap(f func()) (peak, allocated uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var max atomic.Uint64
	max.Store(before.HeapInuse)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > max.Load() {
				max.Store(m.HeapInuse)
			}
			time.Sleep(time.Millisecond)
		}
	})
	f()
	close(stop)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return max.Load() - before.HeapInuse, after.TotalAlloc - before.TotalAlloc
}

const msgHeader = "From: a@example.org\r\nTo: b@example.com\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n"

// A 1 GiB message: only the header section is read (RFC 8689 Section 5).
func TestMemoryRedactMessage1GiB(t *testing.T) {
	g := newGenReader(msgHeader, gib, "")
	var err error
	out := &countWriter{}
	peak, alloc := peakHeap(func() { err = RedactMessage(out, g, nil) })
	require.NoError(t, err)
	assert.Less(t, peak, uint64(1<<20), "peak heap")
	assert.Less(t, alloc, uint64(1<<20), "allocated")
	assert.LessOrEqual(t, g.read, int64(len(msgHeader)+4<<10), "read past the header section")
	assert.False(t, out.sawBody)
}

// A DSN wrapping a 1 GiB message: the returned body is skipped by
// streaming, read from a plain io.Reader, from an io.WriterTo (whose
// Writes are scanned in place, never gathered) and from a *bufio.Reader.
func TestMemoryRedactDSN1GiB(t *testing.T) {
	const b = "big-boundary"
	prefix := "Content-Type: multipart/report; report-type=delivery-status; boundary=" + b + "\r\n\r\n" +
		"--" + b + "\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--" + b + "\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822;a@b\r\nAction: failed\r\nStatus: 5.7.30\r\n\r\n" +
		"--" + b + "\r\nContent-Type: message/rfc822\r\n\r\n" + msgHeader
	suffix := "\r\n--" + b + "--\r\n"
	for _, tc := range []struct {
		name string
		r    func(*genReader) io.Reader
	}{
		{"io.Reader", func(g *genReader) io.Reader { return g }},
		{"io.WriterTo", func(g *genReader) io.Reader { return genWriterTo{g} }},
		{"bufio.Reader", func(g *genReader) io.Reader { return bufio.NewReaderSize(g, 64<<10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGenReader(prefix, gib, suffix)
			var err error
			out := &countWriter{}
			peak, alloc := peakHeap(func() { err = RedactDSN(out, tc.r(g), nil) })
			require.NoError(t, err)
			assert.Less(t, peak, uint64(1<<20), "peak heap")
			assert.Less(t, alloc, uint64(1<<20), "allocated")
			assert.Equal(t, int64(len(prefix)+gib+len(suffix)), g.read, "the whole input is scanned")
			assert.False(t, out.sawBody)
			assert.Less(t, out.n, int64(4<<10))
		})
	}
}

// genWriterTo writes a genReader's bytes to w straight from its block, in
// Writes of up to 64 KiB.
type genWriterTo struct{ *genReader }

func (g genWriterTo) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		var p []byte
		switch {
		case len(g.prefix) > 0:
			p, g.prefix = []byte(g.prefix), ""
		case g.n > 0:
			p = g.block[g.off:min(len(g.block), g.off+int(min(g.n, int64(len(g.block)))))]
			g.n -= int64(len(p))
			g.off = (g.off + len(p)) % len(g.block)
		case len(g.suffix) > 0:
			p, g.suffix = []byte(g.suffix), ""
		default:
			return total, nil
		}
		g.read += int64(len(p))
		n, err := w.Write(p)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// countWriter counts bytes and notes whether a body line went through.
type countWriter struct {
	n       int64
	sawBody bool
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.sawBody = c.sawBody || strings.Contains(string(p), "ZZBODY")
	return len(p), nil
}

// A DSN with a 1 GiB human-readable part (an MTA that quotes the whole
// body there) and a headers-only returned part: the part is not held in
// memory; past MaxHeaderBytes it is written anew from the delivery-status
// fields. With UnsafeKeepHumanReadable it is streamed through.
func TestMemoryRedactDSNHugeHumanPart1GiB(t *testing.T) {
	const b = "big-boundary"
	prefix := "Content-Type: multipart/report; report-type=delivery-status; boundary=" + b + "\r\n\r\n" +
		"--" + b + "\r\nContent-Type: text/plain\r\n\r\n"
	suffix := "\r\n--" + b + "\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822;a@b\r\nAction: failed\r\nStatus: 5.7.30\r\n\r\n" +
		"--" + b + "\r\nContent-Type: text/rfc822-headers\r\n\r\n" + msgHeader + "\r\n--" + b + "--\r\n"
	for _, tc := range []struct {
		opts   *Options
		leaked bool
	}{{nil, false}, {&Options{UnsafeKeepHumanReadable: true}, true}} {
		g := newGenReader(prefix, gib, suffix)
		var err error
		out := &countWriter{}
		peak, _ := peakHeap(func() { err = RedactDSN(out, g, tc.opts) })
		require.NoError(t, err)
		assert.Less(t, peak, uint64(1<<20), "peak heap")
		assert.Equal(t, int64(len(prefix)+gib+len(suffix)), g.read, "the whole input is scanned")
		assert.Equal(t, tc.leaked, out.sawBody)
		if !tc.leaked {
			assert.Less(t, out.n, int64(4<<10))
		}
	}
}
