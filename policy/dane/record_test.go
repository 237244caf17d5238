package dane_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy/dane"
)

const digest32 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var goodRecords = []struct {
	name, in string
	want     dane.Record
}{
	{"RFC 6698 Section 2.3 style, one line", "3 1 1 " + digest32,
		dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: mustHex(digest32)}},
	{"upper-case hex", "2 0 1 " + strings.ToUpper(digest32),
		dane.Record{Usage: 2, Selector: 0, MatchingType: 1, Data: mustHex(digest32)}},
	{"whitespace inside the hex (RFC 6698 Section 2.2)", "3 1 1 0123456789abcdef 0123456789abcdef\n\t0123456789abcdef\r\n0123456789abcdef",
		dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: mustHex(digest32)}},
	{"whitespace between two digits of an octet", "3 0 0 a b",
		dane.Record{Usage: 3, Selector: 0, MatchingType: 0, Data: []byte{0xab}}},
	{"danetool form: parentheses, leading zeros", "( 03 01 01 " + digest32 + " )",
		dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: mustHex(digest32)}},
	{"zone-file form: parentheses around the data", "3 1 1 (\n 0123456789abcdef0123456789abcdef\n 0123456789abcdef0123456789abcdef )",
		dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: mustHex(digest32)}},
	{"surrounding space", "  3\t1\t1 ab  \n", dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{0xab}}},
	{"unusable values still parse", "255 255 255 00", dane.Record{Usage: 255, Selector: 255, MatchingType: 255, Data: []byte{0}}},
	{"three-digit zero", "000 000 000 ff", dane.Record{Data: []byte{0xff}}},
}

var badRecords = []struct {
	name, in string
	err      error
	offset   int
}{
	{"empty", "", dane.ErrSyntax, 0},
	{"only space", "   ", dane.ErrSyntax, 3},
	{"missing data", "3 1 1", dane.ErrSyntax, 5},
	{"missing data after space", "3 1 1 ", dane.ErrSyntax, 6},
	{"missing field", "3 1", dane.ErrSyntax, 3},
	{"mnemonic instead of number (RFC 7218 names are not presentation form)", "DANE-EE SPKI SHA2-256 ab", dane.ErrSyntax, 0},
	{"negative", "-3 1 1 ab", dane.ErrSyntax, 0},
	{"number over 255", "256 1 1 ab", dane.ErrSyntax, 0},
	{"four digits", "0003 1 1 ab", dane.ErrSyntax, 3},
	{"no space after number", "3 1 1ab", dane.ErrSyntax, 5},
	{"odd number of hex digits", "3 1 1 abc", dane.ErrSyntax, 9},
	{"non-hex data", "3 1 1 abxy", dane.ErrSyntax, 8},
	{"base64 data", "3 1 1 q83v", dane.ErrSyntax, 6},
	{"RFC 3597 generic form", `\# 35 03010100`, dane.ErrSyntax, 0},
	{"comment", "3 1 1 ab ; comment", dane.ErrSyntax, 9},
	{"unclosed parenthesis", "( 3 1 1 ab", dane.ErrSyntax, 10},
	{"closing without opening", "3 1 1 ab )", dane.ErrSyntax, 9},
	{"two groups", "( 3 1 1 ) ( ab )", dane.ErrSyntax, 10},
	{"data after the group", "( 3 1 1 ) ab", dane.ErrSyntax, 10},
	{"NUL byte", "3 1 1 ab\x00", dane.ErrSyntax, 8},
	{"non-ASCII", "3 1 1 ab\u00a0cd", dane.ErrSyntax, 8},
	{"too large text", "3 1 1 " + strings.Repeat(" ", 4*65535), dane.ErrTooLarge, 4 * 65535},
	{"too much data", "3 1 0 " + strings.Repeat("ab", 65533), dane.ErrTooLarge, 6 + 2*65533},
}

func mustHex(s string) []byte {
	r, err := dane.ParseRecord("0 0 0 " + s)
	if err != nil {
		panic(err)
	}
	return r.Data
}

// RFC 6698 Section 2.2: the presentation form.
func TestParseRecord(t *testing.T) {
	for _, tc := range goodRecords {
		t.Run(tc.name, func(t *testing.T) {
			r, err := dane.ParseRecord(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, r)
			again, err := dane.ParseRecord(r.String())
			require.NoError(t, err, "String() = %q", r.String())
			assert.Equal(t, r, again)
		})
	}
	for _, tc := range badRecords {
		t.Run(tc.name, func(t *testing.T) {
			r, err := dane.ParseRecord(tc.in)
			assert.ErrorIs(t, err, tc.err)
			var pe *dane.ParseError
			if assert.ErrorAs(t, err, &pe) {
				assert.Equal(t, tc.offset, pe.Offset, "%v", err)
				assert.Equal(t, tc.in, pe.Input)
				assert.LessOrEqual(t, len(pe.Error()), 200)
			}
			assert.Zero(t, r)
		})
	}
}

// RFC 6698 Section 2.1: the wire form.
func TestParseRDATA(t *testing.T) {
	digest := mustHex(digest32)
	r, err := dane.ParseRDATA(append([]byte{3, 1, 1}, digest...))
	require.NoError(t, err)
	assert.Equal(t, dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: digest}, r)
	assert.Equal(t, "3 1 1 "+digest32, r.String())
	assert.Equal(t, append([]byte{3, 1, 1}, digest...), r.RDATA())

	in := []byte{9, 8, 7, 6}
	r, err = dane.ParseRDATA(in)
	require.NoError(t, err, "unknown values parse; Usable tells")
	in[3] = 0
	assert.Equal(t, []byte{6}, r.Data, "the record must not share memory with the input")

	for _, tc := range []struct {
		name   string
		in     []byte
		err    error
		offset int
	}{
		{"empty", nil, dane.ErrTruncated, 0},
		{"one octet", []byte{3}, dane.ErrTruncated, 1},
		{"two octets", []byte{3, 1}, dane.ErrTruncated, 2},
		{"no association data", []byte{3, 1, 1}, dane.ErrTruncated, 3},
		{"over 65535 octets", append([]byte{3, 1, 0}, make([]byte, 65533)...), dane.ErrTooLarge, 65535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := dane.ParseRDATA(tc.in)
			assert.ErrorIs(t, err, tc.err)
			var pe *dane.ParseError
			if assert.ErrorAs(t, err, &pe) {
				assert.Equal(t, tc.offset, pe.Offset)
				assert.Contains(t, pe.Error(), "in RDATA")
			}
			assert.Zero(t, r)
		})
	}
	_, err = dane.ParseRDATA(append([]byte{3, 1, 0}, make([]byte, 65532)...))
	assert.NoError(t, err, "exactly 65535 octets")
}

func TestRecordUsable(t *testing.T) {
	d32, d64 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{1}, 64)
	for _, tc := range []struct {
		r    dane.Record
		want bool
	}{
		{dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: d32}, true},
		{dane.Record{Usage: 2, Selector: 0, MatchingType: 2, Data: d64}, true},
		{dane.Record{Usage: 3, Selector: 0, MatchingType: 0, Data: []byte{1}}, true},
		{dane.Record{Usage: 0, Selector: 1, MatchingType: 1, Data: d32}, false}, // PKIX-TA (RFC 7672 Section 3.1.3)
		{dane.Record{Usage: 1, Selector: 1, MatchingType: 1, Data: d32}, false}, // PKIX-EE (RFC 7672 Section 3.1.3)
		{dane.Record{Usage: 4, Selector: 1, MatchingType: 1, Data: d32}, false},
		{dane.Record{Usage: 3, Selector: 2, MatchingType: 1, Data: d32}, false},
		{dane.Record{Usage: 3, Selector: 1, MatchingType: 3, Data: d32}, false},
		{dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: d64}, false},
		{dane.Record{Usage: 3, Selector: 1, MatchingType: 2, Data: d32}, false},
		{dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: d32[:31]}, false},
		{dane.Record{Usage: 3, Selector: 1, MatchingType: 0}, false},
	} {
		assert.Equal(t, tc.want, tc.r.Usable(), "%v", tc.r)
	}
}

func TestNames(t *testing.T) {
	assert.Equal(t, "DANE-EE(3)", dane.UsageDANEEE.String())
	assert.Equal(t, "PKIX-TA(0)", dane.UsagePKIXTA.String())
	assert.Equal(t, "usage(9)", dane.Usage(9).String())
	assert.Equal(t, "SPKI(1)", dane.SelectorSPKI.String())
	assert.Equal(t, "selector(2)", dane.Selector(2).String())
	assert.Equal(t, "SHA2-512(2)", dane.MatchSHA512.String())
	assert.Equal(t, "matching-type(3)", dane.MatchingType(3).String())
}

func isParseError(err error) bool {
	var pe *dane.ParseError
	return errors.As(err, &pe) && (errors.Is(err, dane.ErrSyntax) || errors.Is(err, dane.ErrTruncated) || errors.Is(err, dane.ErrTooLarge))
}
