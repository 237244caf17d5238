package mtasts_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/requiretls/go-requiretls/policy/mtasts"
)

// FuzzParseRecord checks that ParseRecord never panics, that every error
// is a *ParseError wrapping ErrRecordSyntax with an offset inside the
// input, and that a parsed record prints to its canonical form, which
// parses back to the same record.
func FuzzParseRecord(f *testing.F) {
	for _, tc := range goodRecords {
		f.Add(tc.in)
	}
	for _, tc := range badRecords {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := mtasts.ParseRecord(s)
		if err != nil {
			var pe *mtasts.ParseError
			if !errors.As(err, &pe) || !errors.Is(err, mtasts.ErrRecordSyntax) || pe.Offset < 0 || pe.Offset > len(s) {
				t.Fatalf("ParseRecord(%q): untyped error or bad offset: %v", s, err)
			}
			return
		}
		out := r.String()
		again, err := mtasts.ParseRecord(out)
		if err != nil {
			t.Fatalf("ParseRecord(%q) = %+v, String() = %q does not parse: %v", s, r, out, err)
		}
		if again.String() != out || again.ID != r.ID || len(again.Extensions) != len(r.Extensions) {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, r)
		}
		for i := range r.Extensions {
			if again.Extensions[i] != r.Extensions[i] {
				t.Fatalf("round trip of %q: %+v != %+v", s, again, r)
			}
		}
	})
}

// FuzzParsePolicy checks that ParsePolicy never panics, that every error
// is a typed *ParseError, that a parsed policy prints to its canonical
// form, which parses back to the same policy, and that every parsed mx
// pattern is one Match accepts.
func FuzzParsePolicy(f *testing.F) {
	for _, tc := range goodPolicies {
		f.Add(tc.in)
	}
	for _, tc := range badPolicies {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := mtasts.ParsePolicy(s)
		if err != nil {
			var pe *mtasts.ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(s) ||
				!errors.Is(err, mtasts.ErrPolicySyntax) && !errors.Is(err, mtasts.ErrTooLarge) {
				t.Fatalf("ParsePolicy(%q): untyped error or bad offset: %v", s, err)
			}
			return
		}
		out := p.String()
		again, err := mtasts.ParsePolicy(out)
		if err != nil {
			t.Fatalf("ParsePolicy(%q) = %+v, String() = %q does not parse: %v", s, p, out, err)
		}
		if again.String() != out || again.Mode != p.Mode || again.MaxAge != p.MaxAge || len(again.MX) != len(p.MX) {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, p)
		}
		for i, pat := range p.MX {
			if again.MX[i] != pat {
				t.Fatalf("round trip of %q: %+v != %+v", s, again, p)
			}
			// A pattern matches a host of its own form.
			host := strings.Replace(pat, "*", "x", 1)
			if !mtasts.Match(pat, host) || !mtasts.Match(pat, strings.ToUpper(host)+".") {
				t.Fatalf("pattern %q does not match %q", pat, host)
			}
		}
	})
}

// FuzzMatch checks Match against the rules of RFC 8461 Section 4.1 stated
// independently: case and one trailing dot do not matter, a wildcard
// matches exactly one more label, and nothing panics.
func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.pattern, tc.mx)
	}
	f.Fuzz(func(t *testing.T, pat, mx string) {
		got := mtasts.Match(pat, mx)
		// ASCII case only: Unicode case mapping turns non-ASCII ("ı") into
		// ASCII ("I"), a different name, not a different case.
		if got != mtasts.Match(asciiUpper(pat), asciiLower(mx)) {
			t.Fatalf("Match(%q, %q) depends on case", pat, mx)
		}
		if !got {
			return
		}
		if mtasts.Match(pat, mx+"..") || strings.HasSuffix(mx, ".") && mtasts.Match(pat, mx+".") {
			t.Fatalf("Match(%q, %q): more than one trailing dot ignored", pat, mx)
		}
		p := strings.ToLower(pat)
		h := strings.TrimSuffix(strings.ToLower(mx), ".")
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			label, suffix, found := strings.Cut(h, ".")
			if !found || label == "" || suffix != rest || strings.Contains(rest, "*") {
				t.Fatalf("Match(%q, %q): wildcard matched other than one label", pat, mx)
			}
		} else if p != h || strings.Contains(p, "*") {
			t.Fatalf("Match(%q, %q): exact pattern matched another name", pat, mx)
		}
	})
}

func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r - 'A' + 'a'
		}
		return r
	}, s)
}
