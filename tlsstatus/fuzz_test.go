package tlsstatus

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseField checks that a field that parses formats back to exactly
// its input, and that a field that does not gives a *ParseError wrapping
// ErrSyntax with an offset inside the input.
func FuzzParseField(f *testing.F) {
	for _, s := range []string{
		"none", "may", "may?", "may:none", "dane", "dane:halfdane", "dane:encrypt", "dane?",
		"dane/requiretls", "may/requiretls:none", "may?/!requiretls:nocertmatch",
		"dane/!requiretls:nostarttls", "encrypt/!requiretls:noencryption", "verify/requiretls?",
		"requiretls:nomatch", "may//requiretls", "!?", "may:none:x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseField(s)
		if err != nil {
			checkParseError(t, s, err)
			return
		}
		if got := fl.String(); got != s {
			t.Fatalf("ParseField(%q).String() = %q", s, got)
		}
		for _, ft := range fl {
			g, err := ParseFeature(ft.String())
			if err != nil || g != ft {
				t.Fatalf("feature %q: round trip gives %+v, %v", ft, g, err)
			}
		}
	})
}

// FuzzParseLine checks that ParseLine never panics, that a parsed delivery
// formats to a line that parses back to the same delivery, and that errors
// are *ParseError values wrapping ErrSyntax.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{exampleSent, exampleDowngrad, exampleBounced,
		"Oct  1 12:00:00 mx " + exampleSent,
		"2025-10-01T12:00:00.123456+02:00 mx " + exampleBounced,
		`postfix/smtp[1]: ABC: to=<"a, b>"@example.net>, orig_to=<x>, relay=none, conn_use=2, delay=1, delays=0/0/1/0, future=1, dsn=4.4.1, status=deferred (connect refused)`,
	} {
		f.Add(s)
	}
	for _, s := range skippedLines {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		d, ok, err := ParseLine(line)
		if err != nil {
			if ok {
				t.Fatal("ok with an error")
			}
			checkParseError(t, line, err)
			return
		}
		if !ok {
			return
		}
		again, ok, err := ParseLine(d.String())
		if err != nil || !ok {
			t.Fatalf("ParseLine(%q) = %v, %v", d.String(), ok, err)
		}
		if again.String() != d.String() || !equalDelivery(again, d) {
			t.Fatalf("round trip:\n%+v\n%+v", d, again)
		}
	})
}

func equalDelivery(a, b Delivery) bool {
	return reflect.DeepEqual(a, b)
}

func checkParseError(t *testing.T, input string, err error) {
	t.Helper()
	if !errors.Is(err, ErrSyntax) {
		t.Fatalf("%q: error %v does not wrap ErrSyntax", input, err)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%q: error %T is not a *ParseError", input, err)
	}
	if pe.Offset < 0 || pe.Offset > len(pe.Input) {
		t.Fatalf("%q: offset %d outside the input", input, pe.Offset)
	}
	if !strings.HasPrefix(err.Error(), "tlsstatus: ") {
		t.Fatalf("error %q lacks the package prefix", err)
	}
}
