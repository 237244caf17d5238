package header

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"

	"github.com/requiretls/go-requiretls/internal/hostile"
)

// walkFields returns the fields the walker finds in b, each as its raw
// bytes, and where the header section ends (len(b) when it runs to the end).
func walkFields(b []byte) ([]string, int) {
	w := walker{b: b}
	var fields []string
	for {
		f, ok := w.next()
		if !ok {
			break
		}
		fields = append(fields, string(b[f.start:f.end]))
	}
	return fields, w.bodyStart
}

// goMessageFields returns the fields go-message's textproto.ReadHeader
// reads from b, each as its raw bytes, where it stopped reading, and its
// error.
func goMessageFields(b []byte) ([]string, int, error) {
	br := bytes.NewReader(b)
	r := bufio.NewReader(br)
	h, err := textproto.ReadHeader(r)
	var fields []string
	for fs := h.Fields(); fs.Next(); {
		raw, rerr := fs.Raw()
		if rerr != nil {
			return nil, 0, rerr
		}
		fields = append(fields, string(raw))
	}
	return fields, len(b) - br.Len() - r.Buffered(), err
}

// checkAgrees is the invariant of [Scan]: when it reports no error (and so
// whenever it relaxes TLS), go-message reads the same fields, byte for
// byte and so with the same names, in the same order, and stops at the same
// offset.
func checkAgrees(b []byte) error {
	facts, end, err := Scan(b)
	if err != nil {
		if facts.TLSRequiredNo {
			return fmt.Errorf("relaxed with error %v", err)
		}
		return nil
	}
	if end < 0 && len(b) > 0 && b[len(b)-1] != '\n' {
		// An unfinished last line, which more input may complete: Scan
		// judges it later, and meanwhile must not relax.
		if facts.TLSRequiredNo {
			return fmt.Errorf("relaxed on an unfinished line")
		}
		return nil
	}
	ours, ourEnd := walkFields(b)
	theirs, theirEnd, gerr := goMessageFields(b)
	switch {
	case gerr != nil:
		return fmt.Errorf("Scan accepts what go-message refuses: %v", gerr)
	case !slices.Equal(ours, theirs):
		return fmt.Errorf("fields: Scan %q, go-message %q", ours, theirs)
	case end >= 0 && ourEnd != end:
		return fmt.Errorf("walker end %d, Scan end %d", ourEnd, end)
	case theirEnd != ourEnd:
		return fmt.Errorf("end: Scan %d, go-message %d", ourEnd, theirEnd)
	case facts.TLSRequiredNo && !reflect.DeepEqual(Inspect(must(textproto.ReadHeader(bufio.NewReader(bytes.NewReader(b))))), facts):
		return fmt.Errorf("Inspect disagrees with Scan %+v", facts)
	}
	return nil
}

func must[T any](v T, _ error) T { return v }

// headerSeeds are every header shape of the tables: ambiguous and
// unambiguous, and a generated sample of the hostile shapes.
func headerSeeds() [][]byte {
	var seeds [][]byte
	for _, tc := range ambiguousCases {
		seeds = append(seeds, []byte(tc.msg))
	}
	for _, tc := range headerCases {
		seeds = append(seeds, []byte(tc.hdr))
	}
	return append(seeds, hostile.HeaderSections(200, 1)...)
}

// FuzzScanAgreesWithGoMessage (issue 12): whenever Scan accepts a header
// section, go-message reads the same fields and ends at the same offset.
func FuzzScanAgreesWithGoMessage(f *testing.F) {
	for _, s := range headerSeeds() {
		f.Add(s)
	}
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkAgrees(b); err != nil {
			t.Fatalf("%.300q: %v", b, err)
		}
	})
}

// TestScanAgreesWithGoMessage runs the fuzz invariant over a generated
// corpus of hostile header sections, and checks that the corpus is not
// refused wholesale, which would make the invariant hold vacuously.
func TestScanAgreesWithGoMessage(t *testing.T) {
	accepted, relaxed := 0, 0
	sections := hostile.HeaderSections(20_000, 12)
	for _, b := range sections {
		if err := checkAgrees(b); err != nil {
			t.Fatalf("%.300q: %v", b, err)
		}
		if f, _, err := Scan(b); err == nil {
			accepted++
			if f.TLSRequiredNo {
				relaxed++
			}
		}
	}
	t.Logf("%d sections, %d accepted, %d relax", len(sections), accepted, relaxed)
	if accepted < len(sections)/5 || relaxed == 0 {
		t.Fatalf("only %d of %d sections accepted, %d relax", accepted, len(sections), relaxed)
	}
	if !strings.Contains(string(bytes.Join(sections, nil)), "\r\n: ") {
		t.Fatal("the corpus has no empty name")
	}
}
