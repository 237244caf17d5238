package header

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// valueCases are TLS-Required values (the text after the colon) named after
// the checklist ids they cover.
var valueCases = []struct {
	name  string
	value string
	ok    bool
}{
	{"R18 canonical", " No", true},
	{"R22 no FWS", "No", true},
	{"R22 lower case (RFC 5234 2.3)", " no", true},
	{"R22 upper case", " NO", true},
	{"R22 mixed case", " nO", true},
	{"R22 tab", "\tNo", true},
	{"R22 folded FWS CRLF", " \r\n No", true},
	{"R22 folded FWS bare fold", "\r\n\tNo", true},
	{"R22 obs-FWS LF fold", "\n No", true},
	{"R22 long FWS", "      \t  No", true},
	{"E2 Yes", " Yes", false},
	{"E2 yes lower", " yes", false},
	{"E2 true", " true", false},
	{"E2 empty", "", false},
	{"E2 only space", "  ", false},
	{"E2 trailing space", " No ", false},
	{"E2 trailing tab", " No\t", false},
	{"E2 comment", " No (reporting a bad certificate)", false},
	{"E2 comment no space", " No(x)", false},
	{"E2 parameter", " No; x", false},
	{"E2 split token", " N o", false},
	{"E2 longer word", " None", false},
	{"E2 quoted", ` "No"`, false},
	{"E2 folded after value", " No\r\n x", false},
	{"E2 folded trailing WSP", " No\r\n ", false},
	{"E2 CRLF without WSP is no fold", " \r\nNo", false},
	{"E2 bare CR", " No\r", false},
	{"E2 bare CR before", "\rNo", false},
	{"E2 NUL", " No\x00", false},
	{"E2 invalid UTF-8", " No\xff", false},
	{"E2 non-ASCII o", " N\xc3\xb6", false},
	{"E2 comment before", " (x) No", false},
}

func TestCheckTLSRequired(t *testing.T) {
	for _, tc := range valueCases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTLSRequired(tc.value)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrMalformed)
			var pe *ParseError
			if assert.ErrorAs(t, err, &pe) {
				assert.GreaterOrEqual(t, pe.Offset, 0)
				assert.LessOrEqual(t, pe.Offset, len(tc.value))
			}
		})
	}
}

func TestCheckRequireTLSESMTP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		ok    bool
	}{
		{"Postfix yes", " yes", true},
		{"Postfix YES", " YES", true},
		{"Postfix Yes no space", "Yes", true},
		{"Postfix leading tabs", "\t\tyes", true},
		{"Postfix folded before", "\r\n yes", true},
		{"Postfix trailing space", " yes ", false},
		{"Postfix no", " no", false},
		{"Postfix true", " true", false},
		{"Postfix empty", "", false},
		{"Postfix yes comment", " yes (x)", false},
		{"Postfix y", " y", false},
		{"Postfix yess", " yess", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRequireTLSESMTP(tc.value)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrMalformed)
			}
		})
	}
}

func TestParseErrorBounded(t *testing.T) {
	long := " No" + string(bytes.Repeat([]byte("x"), 10<<20))
	err := CheckTLSRequired(long)
	var pe *ParseError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, 3, pe.Offset)
	assert.Len(t, pe.Line, maxQuotedLine)
	assert.Less(t, len(err.Error()), 300)
}

// headerCases are whole header sections (with the blank line) and the Facts
// both Inspect and Scan must report for them.
var headerCases = []struct {
	name string
	hdr  string
	want Facts
}{
	{"E16 neither field: Default", "From: a@example.org\r\nSubject: hi\r\n\r\n", Facts{}},
	{"R24 TLS-Required No", "From: a@example.org\r\nTLS-Required: No\r\n\r\n",
		Facts{TLSRequiredNo: true, TLSRequiredFields: 1}},
	{"R22 name case-insensitive", "tls-required: no\r\n\r\n", Facts{TLSRequiredNo: true, TLSRequiredFields: 1}},
	{"R22 folded", "TLS-Required:\r\n No\r\nSubject: x\r\n\r\n", Facts{TLSRequiredNo: true, TLSRequiredFields: 1}},
	{"E2 Yes never relaxes nor requires", "TLS-Required: Yes\r\n\r\n",
		Facts{TLSRequiredFields: 1, Malformed: []string{"TLS-Required: Yes"}}},
	{"E2 comment", "TLS-Required: No (expired cert)\r\n\r\n",
		Facts{TLSRequiredFields: 1, Malformed: []string{"TLS-Required: No (expired cert)"}}},
	{"E2 empty", "TLS-Required:\r\n\r\n", Facts{TLSRequiredFields: 1, Malformed: []string{"TLS-Required:"}}},
	{"E2 folded oddity kept in log text", "TLS-Required: No\r\n ;x\r\n\r\n",
		Facts{TLSRequiredFields: 1, Malformed: []string{"TLS-Required: No\r\n ;x"}}},
	{"E2 draft name RequireTLS", "RequireTLS: No\r\n\r\n", Facts{Malformed: []string{"RequireTLS: No"}}},
	{"E2 draft name Require-TLS", "Require-TLS: No\r\n\r\n", Facts{Malformed: []string{"Require-TLS: No"}}},
	{"E2 draft name and malformed field in message order", "RequireTLS: No\r\nTLS-Required: Yes\r\n\r\n",
		Facts{TLSRequiredFields: 1, Malformed: []string{"RequireTLS: No", "TLS-Required: Yes"}}},
	{"E3 R21 two valid copies relax", "TLS-Required: No\r\nTLS-Required: no\r\n\r\n",
		Facts{TLSRequiredNo: true, TLSRequiredFields: 2}},
	{"E3 R21 valid and malformed copy never relax", "TLS-Required: No\r\nTLS-Required: Yes\r\n\r\n",
		Facts{TLSRequiredFields: 2, Malformed: []string{"TLS-Required: Yes"}}},
	{"E3 malformed then valid never relax", "TLS-Required: maybe\r\nTLS-Required: No\r\n\r\n",
		Facts{TLSRequiredFields: 2, Malformed: []string{"TLS-Required: maybe"}}},
	{"Postfix Require-TLS-ESMTP yes", "Require-TLS-ESMTP: yes\r\n\r\n", Facts{RequireTLSESMTP: true}},
	{"Postfix Require-TLS-ESMTP YES any case", "require-tls-esmtp:YES\r\n\r\n", Facts{RequireTLSESMTP: true}},
	{"Postfix Require-TLS-ESMTP trailing space ignored", "Require-TLS-ESMTP: yes \r\n\r\n", Facts{}},
	{"Postfix Require-TLS-ESMTP no ignored silently", "Require-TLS-ESMTP: no\r\n\r\n", Facts{}},
	{"Postfix Require-TLS-ESMTP any valid copy", "Require-TLS-ESMTP: no\r\nRequire-TLS-ESMTP: yes\r\n\r\n",
		Facts{RequireTLSESMTP: true}},
	{"R25 both fields reported", "TLS-Required: No\r\nRequire-TLS-ESMTP: yes\r\n\r\n",
		Facts{TLSRequiredNo: true, TLSRequiredFields: 1, RequireTLSESMTP: true}},
	{"E20 nested message part does not count",
		"Content-Type: message/rfc822\r\n\r\nTLS-Required: No\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n", Facts{}},
	{"E20 body line does not count", "Subject: x\r\n\r\nTLS-Required: No\r\n", Facts{}},
	{"header without body or blank line", "Subject: x\r\nTLS-Required: No\r\n", Facts{TLSRequiredNo: true, TLSRequiredFields: 1}},
	{"similar names ignored", "X-TLS-Required: No\r\nTLS-Required-X: No\r\nTLS: No\r\n\r\n", Facts{}},
}

func readHeader(t testing.TB, s string) textproto.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader([]byte(s))))
	require.NoError(t, err)
	return h
}

func TestInspect(t *testing.T) {
	for _, tc := range headerCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Inspect(readHeader(t, tc.hdr)))
		})
	}
}

func TestInspectAddedFields(t *testing.T) {
	var h textproto.Header
	h.Add(FieldTLSRequired, "No")
	assert.Equal(t, Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, Inspect(h), "R24 field added by go-message Add")

	var bad textproto.Header
	bad.Add(FieldTLSRequired, "\r\n No") // cannot be written; must not count as valid
	f := Inspect(bad)
	assert.False(t, f.TLSRequiredNo, "E2 unwritable value never relaxes")
	assert.Equal(t, 1, f.TLSRequiredFields)
	assert.Len(t, f.Malformed, 1)
}

func TestInspectMalformedBounded(t *testing.T) {
	var b bytes.Buffer
	for range 1000 {
		b.WriteString("TLS-Required: " + string(bytes.Repeat([]byte("y"), 1000)) + "\r\n")
	}
	b.WriteString("\r\n")
	f := Inspect(readHeader(t, b.String()))
	assert.Equal(t, 1000, f.TLSRequiredFields)
	assert.False(t, f.TLSRequiredNo)
	assert.Len(t, f.Malformed, MaxMalformed)
	for _, m := range f.Malformed {
		assert.Len(t, m, MaxMalformedLen)
	}
}
