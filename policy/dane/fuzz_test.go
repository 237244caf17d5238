package dane_test

import (
	"bytes"
	"testing"

	"github.com/requiretls/go-requiretls/policy/dane"
)

// checkRoundTrip checks that a parsed record prints to a presentation form
// and a wire form that both parse back to the same record.
func checkRoundTrip(t *testing.T, r dane.Record) {
	t.Helper()
	again, err := dane.ParseRecord(r.String())
	if err != nil {
		t.Fatalf("ParseRecord(%q) of String(): %v", r.String(), err)
	}
	wire, err := dane.ParseRDATA(r.RDATA())
	if err != nil {
		t.Fatalf("ParseRDATA of RDATA(): %v", err)
	}
	if again.Usage != r.Usage || again.Selector != r.Selector || again.MatchingType != r.MatchingType ||
		!bytes.Equal(again.Data, r.Data) || !bytes.Equal(wire.RDATA(), r.RDATA()) {
		t.Fatalf("round trip: %v became %v and %v", r, again, wire)
	}
}

// checkParseError checks that an error is a *ParseError wrapping a
// sentinel, with an offset inside the input.
func checkParseError(t *testing.T, err error, n int) {
	t.Helper()
	if !isParseError(err) {
		t.Fatalf("untyped error %v", err)
	}
	pe := err.(*dane.ParseError)
	if pe.Offset < 0 || pe.Offset > n {
		t.Fatalf("offset %d outside input of %d bytes", pe.Offset, n)
	}
}

// FuzzParseRecord: ParseRecord never panics, fails only with a typed error,
// and what it parses round-trips through String and RDATA.
func FuzzParseRecord(f *testing.F) {
	for _, tc := range goodRecords {
		f.Add(tc.in)
	}
	for _, tc := range badRecords {
		if len(tc.in) < 1024 {
			f.Add(tc.in)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := dane.ParseRecord(s)
		if err != nil {
			checkParseError(t, err, len(s))
			return
		}
		checkRoundTrip(t, r)
	})
}

// FuzzParseRDATA: ParseRDATA never panics, fails only with a typed error,
// and what it parses writes back to exactly its input and round-trips
// through the presentation form.
func FuzzParseRDATA(f *testing.F) {
	for _, tc := range goodRecords {
		r, err := dane.ParseRecord(tc.in)
		if err == nil {
			f.Add(r.RDATA())
		}
	}
	f.Add([]byte{})
	f.Add([]byte{3, 1})
	f.Add([]byte{3, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := dane.ParseRDATA(b)
		if err != nil {
			checkParseError(t, err, len(b))
			return
		}
		if !bytes.Equal(r.RDATA(), b) {
			t.Fatalf("RDATA() = %x, want %x", r.RDATA(), b)
		}
		checkRoundTrip(t, r)
	})
}
