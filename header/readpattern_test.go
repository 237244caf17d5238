package header_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/internal/readpattern"
)

// readHeadResult and scanReaderResult turn each streaming entry point's
// whole result into bytes for readpattern.Check: the Facts, the bytes held
// or replayed, and the error.
func readHeadResult(r io.Reader) ([]byte, error) {
	head, f, err := header.ReadHead(r)
	return fmt.Appendf(nil, "%+v\n%q", f, head), err
}

func scanReaderResult(r io.Reader) ([]byte, error) {
	f, rest, err := header.ScanReader(r)
	all, rerr := io.ReadAll(rest)
	if rerr != nil {
		return nil, rerr
	}
	return fmt.Appendf(nil, "%+v %v\n%q", f, err, all), nil
}

// TestReadPatterns (issue 13): ReadHead and ScanReader give the same Facts,
// bytes and error whatever the read pattern of the reader, over the shared
// hostile corpus and generated hostile header sections. The hostile inputs
// are cut to MaxHeaderBytes+64 KiB, past every limit these entry points
// have; those longer than 64 KiB get fewer random patterns, to bound the
// run time.
func TestReadPatterns(t *testing.T) {
	const cut = header.MaxHeaderBytes + 64<<10
	many, few := readpattern.All(1000, 13), readpattern.All(8, 13)
	check := func(name string, b []byte) {
		ps := many
		if len(b) > 64<<10 {
			ps = few
		}
		assert.NoError(t, readpattern.Check(ps, b, readHeadResult), "%s: ReadHead", name)
		assert.NoError(t, readpattern.Check(ps, b, scanReaderResult), "%s: ScanReader", name)
	}
	for _, in := range hostile.All() {
		check(in.Name, in.Prefix(cut))
	}
	for i, b := range hostile.HeaderSections(100, 13) {
		check(fmt.Sprintf("section %d %.40q", i, b), b)
	}
}
