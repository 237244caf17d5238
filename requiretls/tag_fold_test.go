package requiretls

import (
	"bytes"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// containsFoldCases are inputs of containsFold and whether b contains s
// ignoring ASCII case.
var containsFoldCases = []struct {
	b, s string
	want bool
}{
	{"", "", true},
	{"abc", "", true},
	{"", "x", false},
	{"Require-TLS-ESMTP: yes", "re-tls-esmtp", true},
	{"X: a\r\nREQUIRE-TLS-ESMTP:", "re-tls-esmtp", true},
	{"re-tls-esmt", "re-tls-esmtp", false},    // cut short at the end
	{"e-tls-esmtp", "re-tls-esmtp", false},    // the anchor "-" too near the start
	{"-tls-esmtp re-", "re-tls-esmtp", false}, // pieces in the wrong order
	{"Requ\xc4\xb0re-TLS-\xc4SMTP", "re-tls-esmtp", false},
	{"x-y re-tls-esmtp", "re-tls-esmtp", true}, // a false anchor before the match
	{"ESMTP", "esmtp", true},                   // letters only: the first letter in either case
	{"eSmTp", "esmtp", true},
	{"esmt", "esmtp", false},
	{"sssmtp", "ssmtp", true},
	{"a-b", "-", true},
	{"ab", "-", false},
}

// TestContainsFold: the search mentions starts with finds s in b, ignoring
// the case of ASCII letters only, wherever it is.
func TestContainsFold(t *testing.T) {
	for _, tc := range containsFoldCases {
		assert.Equal(t, tc.want, containsFold([]byte(tc.b), tc.s), "containsFold(%q, %q)", tc.b, tc.s)
	}
}

// FuzzContainsFold compares containsFold with bytes.Contains on copies of
// both inputs with their ASCII letters in lower case.
func FuzzContainsFold(f *testing.F) {
	for _, tc := range containsFoldCases {
		f.Add([]byte(tc.b), tc.s)
	}
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		lower := func(v []byte) []byte {
			out := make([]byte, len(v))
			for i, c := range v {
				out[i] = asciiLower(c)
			}
			return out
		}
		want := bytes.Contains(lower(b), lower([]byte(s)))
		if got := containsFold(b, s); got != want {
			t.Fatalf("containsFold(%q, %q) = %v, want %v", b, s, got, want)
		}
	})
}

// TestOnlyTwoRunesLowerToASCII checks the fact mentions builds on: the
// only characters outside ASCII that unicode.ToLower (and so
// bytes.ToLower) maps into ASCII are U+0130 ("İ" to "i") and U+212A (the
// Kelvin sign to "k"), so the part of a name after its last "i" or "k"
// can only be matched by ASCII bytes.
func TestOnlyTwoRunesLowerToASCII(t *testing.T) {
	var got []rune
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if unicode.ToLower(r) < utf8.RuneSelf {
			got = append(got, r)
		}
	}
	assert.Equal(t, []rune{0x130, 0x212a}, got)
}
