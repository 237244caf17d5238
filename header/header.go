package header

import (
	"bytes"

	"github.com/emersion/go-message/textproto"
)

// Field names.
const (
	FieldTLSRequired     = "TLS-Required"      // RFC 8689 Section 3
	FieldRequireTLSESMTP = "Require-TLS-ESMTP" // Postfix 3.11 (requiretls_esmtp_header), in no RFC
)

// The complete fields this package writes, without the line ending. They are
// the only spellings it emits: "TLS-Required: No" as in the RFC 8689 Section 3
// ABNF and Appendix A.2, "Require-TLS-ESMTP: yes" as Postfix 3.11 writes it.
const (
	LineTLSRequiredNo      = FieldTLSRequired + ": No"      // TLS not required: relax the recipient's TLS policy (RFC 8689 Section 3)
	LineRequireTLSESMTPYes = FieldRequireTLSESMTP + ": yes" // REQUIRETLS was requested, for hops that lose the envelope (Postfix 3.11)
)

// Names the TLS-Required field had in drafts of RFC 8689 (Require-TLS in
// draft -01, RequireTLS in drafts -03 to -07). They are reported as malformed
// and never relax anything, like any TLS-Required value other than "No".
var draftNames = [...]string{"Require-TLS", "RequireTLS"}

// Bounds on [Facts.Malformed], so a header with 100 000 bad fields gives a
// small result.
const (
	MaxMalformed    = 16  // at most this many entries are kept
	MaxMalformedLen = 256 // each entry is cut to this many bytes
)

// Facts is what the top-level header says about TLS requirements.
//
// Several TLS-Required fields break RFC 8689 Section 3 ("MUST NOT appear
// more than once") and the RFC says nothing about a receiver that sees
// them. This package relaxes only if every copy is a valid "No": one
// malformed copy is enough to keep the default, so a malformed field never
// relaxes TLS. (Postfix relaxes if any copy is "no".)
//
// Malformed holds each malformed field whole, as "Name: value" without the
// final line ending and with any folding kept (the form of Postfix's
// "ignoring malformed header" warning), cut to MaxMalformedLen bytes; at most
// MaxMalformed of them are kept. The text comes from the message: quote it
// (%q) before logging it.
type Facts struct {
	TLSRequiredNo     bool     // relax: at least one TLS-Required field and every copy is a valid "No"
	TLSRequiredFields int      // number of TLS-Required fields seen, valid or not
	Malformed         []string // malformed TLS-Required and draft-named fields, for logging; nil when none
	RequireTLSESMTP   bool     // a valid "Require-TLS-ESMTP: yes" (Postfix rule)
}

// tally accumulates Facts field by field; shared by Inspect and Scan.
type tally struct {
	f     Facts
	valid int // valid TLS-Required fields
}

// fieldKind says which of the fields this package reads a name denotes.
type fieldKind int

const (
	otherField fieldKind = iota
	tlsRequiredField
	requireTLSESMTPField
	draftField
)

// classify matches a field name case-insensitively (RFC 5234 Section 2.3).
func classify[T string | []byte](name T) fieldKind {
	switch {
	case asciiEqualFold(name, FieldTLSRequired):
		return tlsRequiredField
	case asciiEqualFold(name, FieldRequireTLSESMTP):
		return requireTLSESMTPField
	case asciiEqualFold(name, draftNames[0]), asciiEqualFold(name, draftNames[1]):
		return draftField
	}
	return otherField
}

// add records one field: value is the text after the colon without the
// final line ending, raw the whole field for Malformed.
func (t *tally) add(k fieldKind, value, raw []byte) {
	switch k {
	case tlsRequiredField:
		t.f.TLSRequiredFields++
		if checkValue(value, "no") < 0 {
			t.valid++
		} else {
			t.malformed(raw)
		}
	case requireTLSESMTPField:
		// Postfix: any copy whose value is "yes" tags the message. Extra
		// copies can only make delivery stricter, so honouring any is safe.
		if checkValue(value, "yes") < 0 {
			t.f.RequireTLSESMTP = true
		}
	case draftField:
		t.malformed(raw)
	}
}

func (t *tally) malformed(raw []byte) {
	if len(t.f.Malformed) >= MaxMalformed {
		return
	}
	raw = trimLineEnding(raw)
	if len(raw) > MaxMalformedLen {
		raw = raw[:MaxMalformedLen]
	}
	t.f.Malformed = append(t.f.Malformed, string(raw))
}

func (t *tally) facts() Facts {
	f := t.f
	f.TLSRequiredNo = f.TLSRequiredFields > 0 && t.valid == f.TLSRequiredFields // every copy valid, see Facts
	return f
}

// Inspect reports what the header h says about TLS requirements. h is the
// top-level header of a message (RFC 8689 Section 4.1; headers inside MIME
// parts never count). Field names match case-insensitively.
//
// Inspect honours Require-TLS-ESMTP from anyone, as Postfix does; to apply a
// trust boundary use [Receive].
//
// TLSRequiredNo is false when any field of h is one whose line structure
// [Scan] calls ambiguous (white space before the colon, a bare CR, a
// continuation of white space only, a line over 998 octets) or cannot be
// written at all. Inspect cannot see what go-message's textproto.ReadHeader
// dropped or rewrote: a line with an empty name (": x"), which it skips but
// Postfix takes as the end of the header, and bare LF line endings, which
// it turns into CRLF. A caller that has the message bytes must check them
// with [Scan] or [ReadHead] before trusting a relaxation.
func Inspect(h textproto.Header) Facts {
	var t tally
	ambiguous := false
	fields := h.Fields()
	for fields.Next() {
		k := classify(fields.Key())
		raw, err := fields.Raw()
		if err != nil {
			// Added with Add and holding CR or LF, so it cannot even be
			// written: never a valid value, whatever it says.
			ambiguous = true
			raw = []byte(fields.Key() + ": " + fields.Value())
			if k != requireTLSESMTPField && k != otherField {
				t.f.TLSRequiredFields += btoi(k == tlsRequiredField)
				t.malformed(raw)
			}
			continue
		}
		ambiguous = ambiguous || ambiguousField(raw)
		if k == otherField {
			continue
		}
		colon := bytes.IndexByte(raw, ':')
		t.add(k, trimLineEnding(raw[colon+1:]), raw)
	}
	f := t.facts()
	f.TLSRequiredNo = f.TLSRequiredNo && !ambiguous
	return f
}

// ambiguousField reports whether the raw bytes of one field are not exactly
// one field whose lines every parser reads alike (see [Scan]).
func ambiguousField(raw []byte) bool {
	w := walker{b: raw, final: true}
	f, ok := w.next()
	return !ok || w.amb != nil || f.end != len(raw)
}

// CheckTLSRequired checks the value of a TLS-Required field: the text after
// the colon as it appears in the message, folding included, without the
// final line ending. It returns nil for the only defined value, "No"
// (RFC 8689 Section 3: requiretls-field = "TLS-Required:" [FWS] "No" CRLF),
// matched case-insensitively (RFC 5234 Section 2.3) after optional folding
// white space. Anything else, including trailing white space, a comment
// ("No (reason)") or "Yes", gives a *ParseError wrapping [ErrMalformed]:
// the ABNF allows nothing else, and Postfix also compares the whole rest
// of the value.
func CheckTLSRequired(value string) error {
	if off := checkValue(value, "no"); off >= 0 {
		return newParseError(value, off, ErrMalformed, "TLS-Required value is not \"No\"")
	}
	return nil
}

// CheckRequireTLSESMTP checks the value of a Require-TLS-ESMTP field as
// [CheckTLSRequired] does, for the only value Postfix 3.11 recognises, "yes"
// (case-insensitive, after leading white space; nothing may follow).
func CheckRequireTLSESMTP(value string) error {
	if off := checkValue(value, "yes"); off >= 0 {
		return newParseError(value, off, ErrMalformed, "Require-TLS-ESMTP value is not \"yes\"")
	}
	return nil
}

// checkValue reports whether v is [FWS] want, want matched
// case-insensitively (want is lower case). It returns -1 if so, else the
// offset of the first byte that does not fit.
//
// FWS (RFC 5322 Section 3.2.2, with obs-FWS of Section 4.2) is white space
// in which a line ending may appear only when white space follows it; a line
// ending is CRLF, or LF alone as go-message and Postfix also accept.
func checkValue[T string | []byte](v T, want string) int {
	i := 0
	for i < len(v) {
		switch {
		case isWSP(v[i]):
			i++
			continue
		case v[i] == '\r' && i+2 < len(v) && v[i+1] == '\n' && isWSP(v[i+2]):
			i += 3
			continue
		case v[i] == '\n' && i+1 < len(v) && isWSP(v[i+1]):
			i += 2
			continue
		}
		break
	}
	for j := 0; j < len(want); j++ {
		if i+j >= len(v) || lower(v[i+j]) != want[j] {
			return i + j
		}
	}
	if i+len(want) != len(v) {
		return i + len(want)
	}
	return -1
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiEqualFold reports whether b equals s ignoring ASCII case.
func asciiEqualFold[T string | []byte](b T, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// trimLineEnding removes one final CRLF or LF.
func trimLineEnding(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n > 1 && b[n-2] == '\r' {
			b = b[:n-2]
		}
	}
	return b
}
