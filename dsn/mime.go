package dsn

import (
	"bufio"
	"bytes"
	"maps"
	"mime"
	"strings"
	"sync"

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
	var ct, cte []byte // the lines of the field
	nct, ncte := 0, 0
	eachField(raw, func(name, lines []byte) {
		switch {
		case bytes.EqualFold(name, []byte("Content-Type")):
			ct, nct = lines, nct+1
		case bytes.EqualFold(name, []byte("Content-Transfer-Encoding")):
			cte, ncte = lines, ncte+1
		}
	})
	if nct > 1 {
		return p, errString("more than one Content-Type field")
	}
	if ncte > 1 {
		return p, errString("more than one Content-Transfer-Encoding field")
	}
	if ncte == 1 {
		v := string(unfold(nil, cte))
		if !isToken(v) {
			return p, errString("Content-Transfer-Encoding is not a single token")
		}
		p.cte = strings.ToLower(v)
	}
	if nct == 0 {
		return p, nil
	}
	t := contentType(ct)
	p.media, p.params = t.media, t.params
	return p, t.err
}

// mediaType is what contentType makes of a Content-Type field. params is
// shared and never written.
type mediaType struct {
	media  string
	params map[string]string
	err    error
}

// mediaTypes remembers contentType's result for the fields that recur in
// every DSN (the part types, not the unique boundaries), so that each is
// parsed, and checked against go-message, once. It holds at most
// maxMediaTypes fields of up to maxMediaTypeField bytes, and starts over
// when full.
var mediaTypes struct {
	sync.RWMutex
	m map[string]mediaType
}

const (
	maxMediaTypes     = 256
	maxMediaTypeField = 256
)

// contentType reads a Content-Type field (its lines, continuations
// included): see parsePartType.
func contentType(field []byte) mediaType {
	mediaTypes.RLock()
	t, ok := mediaTypes.m[string(field)]
	mediaTypes.RUnlock()
	if ok {
		return t
	}
	t = readContentType(field)
	if _, boundary := t.params["boundary"]; !boundary && len(field) <= maxMediaTypeField {
		mediaTypes.Lock()
		if len(mediaTypes.m) >= maxMediaTypes || mediaTypes.m == nil {
			mediaTypes.m = make(map[string]mediaType)
		}
		mediaTypes.m[string(field)] = t
		mediaTypes.Unlock()
	}
	return t
}

// goMessageReaders read a Content-Type field as go-message does.
var goMessageReaders = sync.Pool{New: func() any { return new(goMessageReader) }}

type goMessageReader struct {
	buf []byte
	r   bytes.Reader
	br  *bufio.Reader
}

func readContentType(field []byte) mediaType {
	var t mediaType
	v := string(unfold(nil, field))
	var err error
	t.media, t.params, err = mime.ParseMediaType(v)
	if err != nil {
		t.err = errString("Content-Type cannot be read unambiguously (a comment, or a broken type or parameter)")
		return t
	}
	for _, name := range paramNames(v) {
		if base, _, ext := strings.Cut(name, "*"); ext && (base == "boundary" || base == "report-type") {
			t.err = errString("Content-Type has an RFC 2231 " + base + " parameter")
			return t
		}
	}
	// go-message's reading of the field's own lines, then a blank line:
	// the section is validated and has no other Content-Type field.
	g := goMessageReaders.Get().(*goMessageReader)
	defer goMessageReaders.Put(g)
	g.buf = append(append(g.buf[:0], field...), "\r\n"...)
	g.r.Reset(g.buf)
	if g.br == nil {
		g.br = bufio.NewReaderSize(&g.r, 512) // go-message's reading does not depend on the size
	}
	g.br.Reset(&g.r)
	h, err := textproto.ReadHeader(g.br)
	if err != nil {
		t.err = errString("go-message cannot read the Content-Type field")
		return t
	}
	media, params, err := (&message.Header{Header: h}).ContentType()
	if err != nil || media != t.media || !maps.Equal(params, t.params) {
		t.err = errString("go-message reads the Content-Type field differently")
	}
	return t
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
