package header

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// FuzzCheckTLSRequired: a value is accepted only if it is "No" after
// folding white space, and Scan and Inspect read a field with that value the
// same way.
func FuzzCheckTLSRequired(f *testing.F) {
	for _, tc := range valueCases {
		f.Add(tc.value)
	}
	f.Fuzz(func(t *testing.T, v string) {
		err := CheckTLSRequired(v)
		var pe *ParseError
		if err != nil && (!errors.Is(err, ErrMalformed) || !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(v)) {
			t.Fatalf("%q: bad error %v", v, err)
		}
		unfolded := strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
		if err == nil && !strings.EqualFold(strings.TrimLeft(unfolded, " \t"), "no") {
			t.Fatalf("%q accepted", v)
		}
		msg := []byte(FieldTLSRequired + ":" + v + "\r\n\r\n")
		facts, _, serr := Scan(msg)
		if serr != nil {
			if !errors.Is(serr, ErrAmbiguous) || facts.TLSRequiredNo {
				t.Fatalf("%q: %v with %+v", v, serr, facts)
			}
			return
		}
		w := walker{b: msg}
		fld, _ := w.next()
		sameValue := string(trimLineEnding(msg[fld.colon+1:fld.end])) == v // v held no line ending that ends the field
		if sameValue && facts.TLSRequiredNo != (err == nil) {
			t.Fatalf("%q: Scan %+v disagrees with CheckTLSRequired %v", v, facts, err)
		}
		if h, herr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg))); herr == nil {
			if got := Inspect(h); got.TLSRequiredNo != facts.TLSRequiredNo {
				t.Fatalf("%q: Inspect %+v, Scan %+v", v, got, facts)
			}
		}
	})
}

// FuzzScan: Scan never relaxes more than Inspect on what go-message reads,
// agrees with it whenever go-message reads the header without error, and
// gives the same answer for the header section alone as for the message.
func FuzzScan(f *testing.F) {
	for _, s := range headerSeeds() {
		f.Add(s)
	}
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		facts, end, err := Scan(msg)
		if err != nil {
			if !errors.Is(err, ErrHeaderTooLong) && !errors.Is(err, ErrAmbiguous) || facts.TLSRequiredNo {
				t.Fatalf("bad error %v with %+v", err, facts)
			}
			return
		}
		if facts.TLSRequiredNo && (facts.TLSRequiredFields == 0 || facts.Malformed != nil && facts.TLSRequiredFields == len(facts.Malformed)) {
			t.Fatalf("relaxed without a valid field: %+v", facts)
		}
		if len(facts.Malformed) > MaxMalformed {
			t.Fatalf("unbounded Malformed: %d", len(facts.Malformed))
		}
		if end >= 0 {
			again, _, _ := Scan(msg[:end])
			if again.TLSRequiredNo != facts.TLSRequiredNo || again.TLSRequiredFields != facts.TLSRequiredFields ||
				again.RequireTLSESMTP != facts.RequireTLSESMTP {
				t.Fatalf("header section alone: %+v, whole: %+v", again, facts)
			}
		}
		h, herr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
		if herr != nil || end < 0 {
			return
		}
		got := Inspect(h)
		if got.TLSRequiredNo != facts.TLSRequiredNo || got.TLSRequiredFields != facts.TLSRequiredFields ||
			got.RequireTLSESMTP != facts.RequireTLSESMTP || len(got.Malformed) != len(facts.Malformed) {
			t.Fatalf("Inspect %+v, Scan %+v", got, facts)
		}
	})
}

// FuzzSetRaw: the output has the field exactly once, no new bare CR or LF,
// and is otherwise the input byte for byte; SetRaw is idempotent.
func FuzzSetRaw(f *testing.F) {
	for _, s := range headerSeeds() {
		f.Add(s)
	}
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := SetRaw(msg, LineRequireTLSESMTPYes)
		if err != nil {
			if !errors.Is(err, ErrAmbiguous) && !errors.Is(err, ErrHeaderTooLong) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		checkInserted(t, msg, out, LineRequireTLSESMTPYes)
		if facts, _, err := Scan(out); err != nil || !facts.RequireTLSESMTP {
			t.Fatalf("inserted field not read back: %+v %v", facts, err)
		}
		again, err := SetRaw(out, LineRequireTLSESMTPYes)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q (%v)", out, again, err)
		}
	})
}

func addGoldenSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/setraw/*.eml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
}
