package header

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ambiguousCases are header sections in which go-message's
// textproto.ReadHeader, Postfix 3.11's is_header_buf (cleanup) and RFC 5322
// do not all see the same lines and the same end of the header section.
// Each puts a valid "TLS-Required: No" where one of them reads it as a
// field and another as body, or not at all. inspect says whether
// go-message reads the header without error and keeps enough for Inspect
// to see the problem: an empty name is skipped and a bare LF is turned into
// CRLF by go-message before Inspect gets the header.
var ambiguousCases = []struct {
	name    string
	msg     string
	inspect bool
}{
	// Issue 12: Postfix ends the header at ": x", go-message skips the line.
	{"empty name", ": x\r\nTLS-Required: No\r\n\r\nbody\r\n", false},
	{"empty name after a field", "From: a@example.org\r\n: x\r\nTLS-Required: No\r\n\r\n", false},
	{"empty name then white space", ":\r\n x\r\nTLS-Required: No\r\n\r\n", false},
	{"WSP before the colon (obs-optional)", "X-A : y\r\nTLS-Required: No\r\n\r\n", true},
	{"TAB before the colon of TLS-Required", "TLS-Required\t: No\r\n\r\n", true},
	{"space inside a name", "X A: y\r\nTLS-Required: No\r\n\r\n", false},
	{"8-bit byte in a name", "X\xe9: y\r\nTLS-Required: No\r\n\r\n", false},
	{"control byte in a name", "X\x01: y\r\nTLS-Required: No\r\n\r\n", false},
	{"DEL in a name", "X\x7f: y\r\nTLS-Required: No\r\n\r\n", false},
	{"NUL in a name", "X\x00Y: y\r\nTLS-Required: No\r\n\r\n", false},
	{"NUL in the TLS-Required line", "TLS-Required: No\r\n\x00\r\n\r\n", false},
	{"bare CR in a value", "X: a\rTLS-Required: No\r\nY: z\r\n\r\n", true},
	{"bare CR before CRLF", "X: y\r\r\nTLS-Required: No\r\n\r\n", true},
	{"CR-only line ends", "X: y\rTLS-Required: No\r\r", false},
	{"bare LF ends", "X: y\nTLS-Required: No\n\n", false},
	{"bare LF blank line", "TLS-Required: No\r\n\nX: y\r\n\r\n", false},
	{"first line is a continuation", " X: y\r\nTLS-Required: No\r\n\r\n", false},
	{"first line is white space only", " \r\nTLS-Required: No\r\n\r\n", false},
	{"continuation of white space only", "X: y\r\n \r\nTLS-Required: No\r\n\r\n", true},
	{"continuation of a TAB only", "TLS-Required: No\r\n\t\r\n\r\n", true},
	{"line of 999 octets", "X: " + strings.Repeat("a", 996) + "\r\nTLS-Required: No\r\n\r\n", true},
	{"name beyond Postfix's 2048-byte record", strings.Repeat("X", 3000) + ": y\r\nTLS-Required: No\r\n\r\n", true},
	{"mbox From line", "From a@example.org Mon Jan  1 00:00:00 2024\r\nTLS-Required: No\r\n\r\n", false},
	{"escaped mbox From line", ">From a@example.org\r\nTLS-Required: No\r\n\r\n", false},
	{"non-field line instead of the blank line", "TLS-Required: No\r\nthis is body\r\n", false},
	{"lone dot line", "TLS-Required: No\r\n.\r\nX: y\r\n\r\n", false},
}

// TestAmbiguousHeaderNeverRelaxes (issue 12, R24, E2, E3): on every
// ambiguous shape, Scan and ReadHead return ErrAmbiguous with Facts that do
// not relax TLS, and SetRaw and RemoveRaw refuse to edit.
func TestAmbiguousHeaderNeverRelaxes(t *testing.T) {
	for _, tc := range ambiguousCases {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.msg)
			f, end, err := Scan(msg)
			assert.ErrorIs(t, err, ErrAmbiguous, "Scan")
			var pe *ParseError
			if assert.True(t, errors.As(err, &pe)) {
				assert.True(t, pe.Offset >= 0 && pe.Offset < len(msg), "offset %d", pe.Offset)
			}
			assert.Equal(t, -1, end)
			assert.False(t, f.TLSRequiredNo, "Scan relaxes")

			_, f, err = ReadHead(bytes.NewReader(msg))
			assert.ErrorIs(t, err, ErrAmbiguous, "ReadHead")
			assert.False(t, f.TLSRequiredNo, "ReadHead relaxes")

			_, err = SetRaw(msg, LineRequireTLSESMTPYes)
			assert.ErrorIs(t, err, ErrAmbiguous, "SetRaw")
			_, err = RemoveRaw(msg, FieldRequireTLSESMTP)
			assert.ErrorIs(t, err, ErrAmbiguous, "RemoveRaw")

			if h, err := readHeaderErr(tc.msg); err == nil {
				got := Inspect(h)
				if tc.inspect {
					assert.False(t, got.TLSRequiredNo, "Inspect relaxes")
				}
			} else {
				assert.False(t, tc.inspect, "go-message refuses it: %v", err)
			}
		})
	}
}

// TestUnambiguousHeaderStillRelaxes: the shapes just inside the rule still
// work (R22, R24).
func TestUnambiguousHeaderStillRelaxes(t *testing.T) {
	for _, tc := range []struct{ name, msg string }{
		{"plain", "TLS-Required: No\r\n\r\nbody\r\n"},
		{"folded", "TLS-Required:\r\n No\r\n\r\n"},
		{"line of 998 octets", "X: " + strings.Repeat("a", 995) + "\r\nTLS-Required: No\r\n\r\n"},
		{"8-bit value (RFC 6532)", "Subject: caf\xc3\xa9\r\nTLS-Required: No\r\n\r\n"},
		{"control byte in a value", "Subject: a\x01b\r\nTLS-Required: No\r\n\r\n"},
		{"NUL in a value (obs-utext)", "Subject: a\x00b\r\nTLS-Required: No\r\n\r\n"},
		{"colon in the value", "Subject: a: b: c\r\nTLS-Required: No\r\n\r\n"},
		{"bare LF and NUL in the body only", "TLS-Required: No\r\n\r\na\nb\x00c\r"},
		{"no blank line before EOF", "Subject: x\r\nTLS-Required: No\r\n"},
		{"From field", "From: a@example.org\r\nTLS-Required: No\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := Scan([]byte(tc.msg))
			require.NoError(t, err)
			assert.True(t, f.TLSRequiredNo)
			_, err = SetRaw([]byte(tc.msg), LineRequireTLSESMTPYes)
			assert.NoError(t, err)
		})
	}
}

// TestScanUnfinishedLineDoesNotRelax: a last line without its CRLF may
// still change ("No" then "pe"), so it never relaxes, though Scan reports
// no error for what may be a prefix.
func TestScanUnfinishedLineDoesNotRelax(t *testing.T) {
	f, end, err := Scan([]byte("TLS-Required: No"))
	require.NoError(t, err)
	assert.Equal(t, -1, end)
	assert.False(t, f.TLSRequiredNo)
	assert.Equal(t, 1, f.TLSRequiredFields)

	_, f, err = ReadHead(strings.NewReader("TLS-Required: No"))
	require.NoError(t, err)
	assert.False(t, f.TLSRequiredNo, "at EOF too")
}

// TestSetRawRefusesUnfinishedNonField: at the end of the message, a last
// line that is not a complete field is body to Postfix and an error to
// go-message; SetRaw must not decide for them.
func TestSetRawRefusesUnfinishedNonField(t *testing.T) {
	for _, msg := range []string{"X: y\r\nnot a field", "X: y\r\n\r", "X: y\r", "X"} {
		_, err := SetRaw([]byte(msg), LineRequireTLSESMTPYes)
		assert.ErrorIs(t, err, ErrAmbiguous, "%q", msg)
	}
	out, err := SetRaw([]byte("X: y"), LineRequireTLSESMTPYes)
	require.NoError(t, err, "an unterminated last field is completed")
	assert.Equal(t, "X: y\r\n"+LineRequireTLSESMTPYes+"\r\n", string(out))
}

// TestScanAmbiguityInPrefix: Scan on a prefix stops at the first ambiguous
// line it can already judge, so a long hostile line costs no more than
// 998 octets of reading.
func TestScanAmbiguityInPrefix(t *testing.T) {
	_, _, err := Scan([]byte("X: " + strings.Repeat("a", 2000)))
	assert.ErrorIs(t, err, ErrAmbiguous, "a line already longer than 998 octets")
	_, _, err = Scan([]byte("X: y\r\n: "))
	assert.ErrorIs(t, err, ErrAmbiguous, "an empty name is known at its colon")
	_, _, err = Scan([]byte("X: y\r\nSubj"))
	assert.NoError(t, err, "a name still being received")
}
