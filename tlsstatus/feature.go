package tlsstatus

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
)

// Name is a feature name or a final state as it appears in a Postfix log.
type Name string

// TLS security levels Postfix logs in slot 0 (smtp_tls_security_level).
const (
	None        Name = "none"        // TLS disabled: plaintext only
	May         Name = "may"         // opportunistic TLS: used if offered, certificate not checked
	Encrypt     Name = "encrypt"     // TLS required, certificate not checked
	Fingerprint Name = "fingerprint" // TLS required, certificate pinned by its fingerprint
	HalfDANE    Name = "halfdane"    // TLSA records for the host, but the MX lookup was not DNSSEC-secure
	DANE        Name = "dane"        // opportunistic DANE (RFC 7672): TLSA records checked when DNSSEC-secure
	DANEOnly    Name = "dane-only"   // DANE required: no delivery without a matching TLSA record
	Verify      Name = "verify"      // TLS required, certificate verified against trusted CAs and the MX host name
	Secure      Name = "secure"      // TLS required, certificate verified against trusted CAs and the next-hop domain
	Unknown     Name = "unknown"     // the TLS policy lookup failed
)

// RequireTLS is the initial name of the REQUIRETLS feature (slot 1).
const RequireTLS Name = "requiretls"

// Final states of the REQUIRETLS feature (Postfix smtp.h). The state "none"
// (no REQUIRETLS support, or no TLS at all) is the constant [None].
const (
	NoCertMatch  Name = "nocertmatch"  // certificate not matched or not matchable
	NoSTARTTLS   Name = "nostarttls"   // STARTTLS not offered or refused
	NoEncryption Name = "noencryption" // the TLS level disables encryption
)

// Known reports whether n is a name Postfix 3.11 logs, as a TLS level, as the
// REQUIRETLS feature, or as one of its final states.
func (n Name) Known() bool {
	switch n {
	case None, May, Encrypt, Fingerprint, HalfDANE, DANE, DANEOnly, Verify, Secure, Unknown,
		RequireTLS, NoCertMatch, NoSTARTTLS, NoEncryption:
		return true
	}
	return false
}

// Feature is one slot of the field: ["!"] Name [":" Final] ["?"].
//
// The zero Feature is inactive and formats as the empty string.
type Feature struct {
	Name      Name // the feature, e.g. [RequireTLS] or a TLS level such as [Verify]
	Final     Name // empty when undecided or equal to Name
	Violation bool // "!": the policy was violated and the connection not used
	Undecided bool // "?": no outcome was decided
}

// String returns the feature in Postfix's log form, e.g. "!requiretls:nostarttls".
func (f Feature) String() string {
	if f.Name == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(f.Name) + len(f.Final) + 3)
	f.appendTo(&b)
	return b.String()
}

func (f Feature) appendTo(b *strings.Builder) {
	if f.Violation {
		b.WriteByte('!')
	}
	b.WriteString(string(f.Name))
	if f.Final != "" {
		b.WriteByte(':')
		b.WriteString(string(f.Final))
	}
	if f.Undecided {
		b.WriteByte('?')
	}
}

// Known reports whether the feature's name and final state are both names
// Postfix 3.11 logs. Unknown names still parse and format (forward
// compatibility); callers that count states can use Known to set them apart.
func (f Feature) Known() bool {
	return f.Name.Known() && (f.Final == "" || f.Final.Known())
}

// ErrSyntax is wrapped by every parse error of this package.
var ErrSyntax = errors.New("tlsstatus: syntax error")

// ParseError records where a field or log line failed to parse. It always
// wraps [ErrSyntax], the package's only parse sentinel.
type ParseError struct {
	Input  string // the text that was parsed
	Offset int    // byte offset of the problem in Input
	Msg    string // what is wrong
}

// maxQuotedInput bounds how much of Input an error message repeats, so a
// malformed 64 KiB log line does not become a 64 KiB error string.
const maxQuotedInput = 120

// Error describes the problem, its offset and the start of the input.
func (e *ParseError) Error() string {
	in := e.Input
	if len(in) > maxQuotedInput {
		in = in[:maxQuotedInput] + "..."
	}
	return "tlsstatus: " + e.Msg + " at offset " + strconv.Itoa(e.Offset) + " in " + strconv.Quote(in)
}

// Unwrap returns [ErrSyntax].
func (e *ParseError) Unwrap() error { return ErrSyntax }

// ParseFeature parses one feature, e.g. "requiretls:none" or "may?".
func ParseFeature(s string) (Feature, error) {
	return parseFeature(s, s, 0)
}

func parseFeature(input, s string, off int) (Feature, error) {
	var f Feature
	i := 0
	if i < len(s) && s[i] == '!' {
		f.Violation = true
		i++
	}
	end := len(s)
	if end > i && s[end-1] == '?' {
		f.Undecided = true
		end--
	}
	name, final, hasFinal := strings.Cut(s[i:end], ":")
	if err := checkName(input, name, off+i); err != nil {
		return Feature{}, err
	}
	f.Name = Name(name)
	if hasFinal {
		if err := checkName(input, final, off+i+len(name)+1); err != nil {
			return Feature{}, err
		}
		f.Final = Name(final)
	}
	return f, nil
}

// checkName accepts the characters Postfix uses in feature names (lower-case
// letters, digits and '-'), and for forward compatibility also upper case,
// '+', '_' and '.'. Anything that would break the field grammar or the log
// line around it ('!', ':', '?', '/', ',', space, control bytes) is not.
func checkName(input, name string, off int) error {
	if name == "" {
		return &ParseError{Input: input, Offset: off, Msg: "empty name"}
	}
	for j := 0; j < len(name); j++ {
		c := name[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '_' || c == '.') {
			return &ParseError{Input: input, Offset: off + j, Msg: "invalid character " + strconv.Quote(string(c))}
		}
	}
	return nil
}

// Field is the whole value of a tls= log field: features joined by "/".
// Postfix logs at most two: the TLS level, then REQUIRETLS.
type Field []Feature

// String returns the field in Postfix's log form, e.g. "may?/!requiretls:nocertmatch".
// Inactive (zero) features are omitted, as Postfix omits inactive slots.
func (fl Field) String() string {
	var b strings.Builder
	for _, f := range fl {
		if f.Name == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		f.appendTo(&b)
	}
	return b.String()
}

// maxFeatures bounds the number of features ParseField accepts; Postfix
// writes two, and a field is one token of a log line.
const maxFeatures = 16

// ParseField parses a tls= field value, e.g. "dane/requiretls".
func ParseField(s string) (Field, error) {
	return parseField(s, s, 0)
}

// parseField parses s, found at byte offset off of input (a whole log line
// or s itself), so that errors point into input.
func parseField(input, s string, off int) (Field, error) {
	if s == "" {
		return nil, &ParseError{Input: input, Offset: off, Msg: "empty field"}
	}
	n := strings.Count(s, "/") + 1
	if n > maxFeatures {
		return nil, &ParseError{Input: input, Offset: off, Msg: "too many features"}
	}
	fl := make(Field, 0, n)
	for part := range strings.SplitSeq(s, "/") {
		f, err := parseFeature(input, part, off)
		if err != nil {
			return nil, err
		}
		fl = append(fl, f)
		off += len(part) + 1
	}
	return fl, nil
}

// Lookup returns the first feature whose initial name is name, for example
// fl.Lookup(RequireTLS) for the REQUIRETLS slot, and whether there is one.
func (fl Field) Lookup(name Name) (Feature, bool) {
	for _, f := range fl {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// check returns an error unless f formats to text that parses back to f:
// each name must be one [ParseFeature] accepts. An inactive feature formats
// as the empty text and passes.
func (f Feature) check() error {
	if f.Name == "" {
		return nil
	}
	if err := checkName(string(f.Name), string(f.Name), 0); err != nil {
		return err
	}
	if f.Final != "" {
		return checkName(string(f.Final), string(f.Final), 0)
	}
	return nil
}

// MarshalText returns the feature in Postfix's log form, as
// [Feature.String] does, so that encoding/json stores it as
// "!requiretls:nostarttls", also as a map key. A name that would not read
// back as itself (one holding "/", ":", "!", "?", a space or a control
// byte) is an error wrapping [ErrSyntax]. The zero Feature is the empty
// text.
func (f Feature) MarshalText() ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return []byte(f.String()), nil
}

// UnmarshalText parses text with [ParseFeature]; the empty text gives the
// zero Feature. On error *f is unchanged.
func (f *Feature) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*f = Feature{}
		return nil
	}
	v, err := ParseFeature(string(text))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// MarshalText returns the field in Postfix's log form, as [Field.String]
// does, so that a log store keeps it as "verify/requiretls:none" in JSON;
// inactive features are left out. A field that would not read back as its
// active features is an error wrapping [ErrSyntax]: a name
// [Feature.MarshalText] refuses, or more than 16 features. A field with no
// active feature is the empty text.
func (fl Field) MarshalText() ([]byte, error) {
	n := 0
	for _, f := range fl {
		if err := f.check(); err != nil {
			return nil, err
		}
		if f.Name != "" {
			n++
		}
	}
	s := fl.String()
	if n > maxFeatures {
		return nil, &ParseError{Input: s, Msg: "too many features"}
	}
	return []byte(s), nil
}

// UnmarshalText parses text with [ParseField]; the empty text, which
// MarshalText writes for a field with no feature, gives a nil Field. On
// error *fl is unchanged.
func (fl *Field) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*fl = nil
		return nil
	}
	v, err := ParseField(string(text))
	if err != nil {
		return err
	}
	*fl = v
	return nil
}

// LogValue logs the feature in Postfix's form, so that
// slog.Any("requiretls", f) writes requiretls=!requiretls:nostarttls.
func (f Feature) LogValue() slog.Value { return slog.StringValue(f.String()) }

// LogValue logs the field in Postfix's form, so that slog.Any("tls", fl)
// writes tls=dane/requiretls as Postfix would.
func (fl Field) LogValue() slog.Value { return slog.StringValue(fl.String()) }
