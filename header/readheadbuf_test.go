package header

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/internal/readpattern"
)

// readHeadBufSeeds are header sections of every shape: the hostile corpus
// (cut to 3 MiB, past MaxHeaderBytes), generated ones, and short ones.
func readHeadBufSeeds() [][]byte {
	seeds := [][]byte{nil, []byte("\r\n"), []byte("TLS-Required: No\r\n\r\nbody"), realisticHeader(4<<10, 30), realisticHeader(64<<10, 200)}
	for _, in := range hostile.All() {
		seeds = append(seeds, in.Prefix(3<<20))
	}
	return append(seeds, hostile.HeaderSections(200, 16)...)
}

// TestReadHeadBufSameAsReadHead: whatever the capacity of buf, ReadHeadBuf
// reads exactly what ReadHead reads (the same head, Facts and error), and
// into buf while it holds what has been read.
func TestReadHeadBufSameAsReadHead(t *testing.T) {
	for i, msg := range readHeadBufSeeds() {
		wantHead, wantFacts, wantErr := ReadHead(bytes.NewReader(msg))
		for _, c := range []int{0, 1, 100, readHeadStep, 5000, 64 << 10} {
			buf := make([]byte, min(c, 17), c) // the length is ignored
			head, f, err := ReadHeadBuf(bytes.NewReader(msg), buf)
			assert.Equal(t, wantHead, head, "seed %d, cap %d", i, c)
			assert.Equal(t, wantFacts, f, "seed %d, cap %d", i, c)
			assert.Equal(t, wantErr, err, "seed %d, cap %d", i, c)
			if len(head) > 0 && c >= readHeadStep && cap(head) <= c {
				assert.Same(t, &buf[:1][0], &head[0], "seed %d, cap %d: read into buf", i, c)
			}
		}
	}
}

// TestReadHeadBufReadPatterns (issue 13): ReadHeadBuf's result depends on
// the bytes only, whatever the reads of r return.
func TestReadHeadBufReadPatterns(t *testing.T) {
	buf := make([]byte, 0, readHeadStep)
	result := func(r io.Reader) ([]byte, error) {
		head, f, err := ReadHeadBuf(r, buf)
		return fmt.Appendf(nil, "%+v\n%q", f, head), err
	}
	ps := readpattern.All(200, 16)
	for i, b := range hostile.HeaderSections(100, 17) {
		assert.NoError(t, readpattern.Check(ps, b, result), "section %d", i)
	}
}

// TestReadHeadBufAllocates: into a buffer that holds the header section,
// ReadHeadBuf allocates nothing; ReadHead allocates its buffer.
func TestReadHeadBufAllocates(t *testing.T) {
	msg := realisticHeader(2<<10, 20)[:3<<10]
	buf := make([]byte, 0, readHeadStep)
	r := bytes.NewReader(msg)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		r.Reset(msg)
		if _, f, err := ReadHeadBuf(r, buf); err != nil || !f.TLSRequiredNo {
			t.Fatal(f, err)
		}
	}))
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() {
		r.Reset(msg)
		if _, _, err := ReadHead(r); err != nil {
			t.Fatal(err)
		}
	}))
}

// FuzzReadHeadBuf: for any message and buffer capacity, ReadHeadBuf gives
// what ReadHead gives.
func FuzzReadHeadBuf(f *testing.F) {
	for _, s := range readHeadBufSeeds() {
		if len(s) < 64<<10 {
			f.Add(s, uint16(readHeadStep))
			f.Add(s, uint16(7))
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, c uint16) {
		wantHead, wantFacts, wantErr := ReadHead(bytes.NewReader(msg))
		head, f, err := ReadHeadBuf(bytes.NewReader(msg), make([]byte, 0, int(c)))
		if !bytes.Equal(head, wantHead) || !reflect.DeepEqual(f, wantFacts) || !reflect.DeepEqual(err, wantErr) {
			t.Fatalf("cap %d: %+v, %v; ReadHead %+v, %v", c, f, err, wantFacts, wantErr)
		}
	})
}
