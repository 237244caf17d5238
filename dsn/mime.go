package dsn

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// partType is what a header section says about its content: the
// Content-Type (RFC 2045 Section 5.1) and Content-Transfer-Encoding
// (RFC 2045 Section 6.1) fields.
type partType struct {
	media  string            // lower-cased type/subtype; "" without a Content-Type field
	params map[string]string // parameters, names lower-cased
	cte    string            // lower-cased mechanism; "" without a Content-Transfer-Encoding field
}

// identity reports whether the content is not transfer-encoded (RFC 2045
// Section 6.2: 7bit, 8bit and binary are identity encodings).
func (p partType) identity() bool {
	switch p.cte {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// parsePartType reads the Content-Type and Content-Transfer-Encoding fields
// of a validated header section. It accepts only what it can read without
// doubt, and what go-message, which most Go code reading the output uses,
// reads the same way; everything else is an error, for ErrMalformed:
//
//   - more than one Content-Type or Content-Transfer-Encoding field: readers
//     differ on which one counts (go-message takes the last);
//   - a Content-Type that mime.ParseMediaType refuses. That includes every
//     RFC 5322 comment, "message/rfc822 (returned message)": Postfix strips
//     comments, go-message does not and reads an unknown type, so the two
//     would disagree on whether the part is a returned message;
//   - a boundary or report-type parameter in RFC 2231 form (boundary*0=,
//     boundary*=), which not every reader decodes;
//   - parameters go-message decodes differently (RFC 2047 encoded words);
//   - a Content-Transfer-Encoding value that is not a single token (RFC 2045
//     Section 6.1): a comment, quotes, an empty value.
//
// Type, subtype and parameter names are case-insensitive, and parameter
// values may be quoted strings (RFC 2045 Section 5.1).
func parsePartType(raw []byte) (partType, error) {
	var p partType
	cts := fieldValues(raw, "Content-Type")
	ctes := fieldValues(raw, "Content-Transfer-Encoding")
	if len(cts) > 1 {
		return p, errString("more than one Content-Type field")
	}
	if len(ctes) > 1 {
		return p, errString("more than one Content-Transfer-Encoding field")
	}
	if len(ctes) == 1 {
		if !isToken(ctes[0]) {
			return p, errString("Content-Transfer-Encoding is not a single token")
		}
		p.cte = strings.ToLower(ctes[0])
	}
	if len(cts) == 0 {
		return p, nil
	}
	var err error
	p.media, p.params, err = mime.ParseMediaType(cts[0])
	if err != nil {
		return p, errString("Content-Type cannot be read unambiguously (a comment, or a broken type or parameter)")
	}
	for _, name := range paramNames(cts[0]) {
		if base, _, ext := strings.Cut(name, "*"); ext && (base == "boundary" || base == "report-type") {
			return p, errString("Content-Type has an RFC 2231 " + base + " parameter")
		}
	}
	// go-message's reading of the field's own lines: the section is
	// validated and has no other Content-Type field.
	field := filterFields(nil, raw, func(name []byte) bool { return bytes.EqualFold(name, []byte("Content-Type")) })
	h, err := textproto.ReadHeader(bufio.NewReaderSize(io.MultiReader(bytes.NewReader(field), strings.NewReader("\r\n")), len(field)+2))
	if err != nil {
		return p, errString("go-message cannot read the Content-Type field")
	}
	media, params, err := (&message.Header{Header: h}).ContentType()
	if err != nil || media != p.media || !maps.Equal(params, p.params) {
		return p, errString("go-message reads the Content-Type field differently")
	}
	return p, nil
}

// isToken reports whether s is an RFC 2045 Section 5.1 token: one or more
// US-ASCII characters other than space, controls and tspecials.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// paramNames returns the lower-cased parameter names of a Content-Type
// value that mime.ParseMediaType accepted, as written: RFC 2231 names keep
// their "*" suffixes, which mime.ParseMediaType folds away.
func paramNames(v string) []string {
	var names []string
	quoted, escaped := false, false
	start := -1 // start of the current name, just after a ';'
	for i := range len(v) {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ';':
			start = i + 1
		case c == '=' && start >= 0:
			names = append(names, strings.ToLower(strings.TrimSpace(v[start:i])))
			start = -1
		}
	}
	return names
}
