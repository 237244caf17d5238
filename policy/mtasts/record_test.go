package mtasts_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy/mtasts"
)

// goodRecords are valid TXT records (RFC 8461 Section 3.1) and what they parse to.
var goodRecords = []struct {
	name string
	in   string
	want mtasts.Record
}{
	{"RFC 8461 Section 3.1 example", "v=STSv1; id=20160831085700Z;", mtasts.Record{ID: "20160831085700Z"}},
	{"final delimiter is optional", "v=STSv1; id=20160831085700Z", mtasts.Record{ID: "20160831085700Z"}},
	{"no whitespace", "v=STSv1;id=1;", mtasts.Record{ID: "1"}},
	{"WSP on both sides of the delimiters", "v=STSv1 \t;\t id=abc ; ", mtasts.Record{ID: "abc"}},
	{"as Google publishes it", "v=STSv1; id=20190429T010101;", mtasts.Record{ID: "20190429T010101"}},
	{"id of 32 characters", "v=STSv1; id=" + strings.Repeat("aZ9", 10) + "xy", mtasts.Record{ID: strings.Repeat("aZ9", 10) + "xy"}},
	{"extension after the id", "v=STSv1; id=1; foo=bar;", mtasts.Record{ID: "1", Extensions: []mtasts.Extension{{"foo", "bar"}}}},
	{"extension before the id, any printable value", "v=STSv1; x.y_z-1=!:<>~\"; id=A1",
		mtasts.Record{ID: "A1", Extensions: []mtasts.Extension{{"x.y_z-1", "!:<>~\""}}}},
	{"repeated extensions keep their order", "v=STSv1; a=1; id=2; a=3", mtasts.Record{ID: "2", Extensions: []mtasts.Extension{{"a", "1"}, {"a", "3"}}}},
	{"extension name of 32 characters", "v=STSv1; id=1; " + strings.Repeat("n", 32) + "=v",
		mtasts.Record{ID: "1", Extensions: []mtasts.Extension{{strings.Repeat("n", 32), "v"}}}},
}

// badRecords break the grammar of RFC 8461 Section 3.1, or are ambiguous.
var badRecords = []struct {
	name   string
	in     string
	offset int
}{
	{"empty", "", 0},
	{"version in upper case (%s is case-sensitive)", "V=STSv1; id=1", 0},
	{"leading space", " v=STSv1; id=1", 0},
	{"spaces around the version's =", "v = STSv1; id=1", 0},
	{"version only", "v=STSv1", 7},
	{"version and delimiter only", "v=STSv1;", 8},
	{"another version", "v=STSv10; id=1", 7},
	{"no delimiter after the version", "v=STSv1 id=1", 8},
	{"empty id", "v=STSv1; id=", 12},
	{"empty id before a delimiter", "v=STSv1; id=;", 12},
	{"id with a hyphen", "v=STSv1; id=2016-08-31", 12},
	{"id of 33 characters", "v=STSv1; id=" + strings.Repeat("a", 33), 12},
	{"duplicate id", "v=STSv1; id=1; id=2", 15},
	{"duplicate id, same value", "v=STSv1; id=1; id=1", 15},
	{"second version field", "v=STSv1; id=1; v=STSv1", 15},
	{"id in upper case", "v=STSv1; ID=1", 9},
	{"id in mixed case beside a real id", "v=STSv1; id=1; Id=2", 15},
	{"V in upper case beside the version", "v=STSv1; id=1; V=STSv2", 15},
	{"empty field", "v=STSv1; id=1;; foo=bar", 14},
	{"trailing space without a delimiter", "v=STSv1; id=1 ", 14},
	{"field without =", "v=STSv1; id=1; foo", 15},
	{"= in a value", "v=STSv1; id=1; foo=a=b", 20},
	{"empty extension value", "v=STSv1; id=1; foo=", 19},
	{"extension name starting with _", "v=STSv1; id=1; _foo=bar", 15},
	{"extension name of 33 characters", "v=STSv1; id=1; " + strings.Repeat("n", 33) + "=v", 15},
	{"non-ASCII value", "v=STSv1; id=1; foo=bär", 20},
	{"NUL in a value", "v=STSv1; id=1; foo=a\x00", 20},
	{"newline after a delimiter", "v=STSv1;\nid=1", 8},
	{"tab inside a value", "v=STSv1; id=1; foo=a\tb", 21},
	{"text after the id", "v=STSv1; id=1 x", 14},
}

func TestParseRecord(t *testing.T) {
	for _, tc := range goodRecords {
		t.Run(tc.name, func(t *testing.T) {
			r, err := mtasts.ParseRecord(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, r)
			again, err := mtasts.ParseRecord(r.String())
			require.NoError(t, err, "String() = %q", r.String())
			assert.Equal(t, r, again)
		})
	}
}

func TestParseRecordErrors(t *testing.T) {
	for _, tc := range badRecords {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mtasts.ParseRecord(tc.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, mtasts.ErrRecordSyntax)
			var pe *mtasts.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.offset, pe.Offset, "%v", err)
			assert.Equal(t, tc.in, pe.Input)
		})
	}
}

func TestRecordString(t *testing.T) {
	r := mtasts.Record{ID: "20160831085700Z", Extensions: []mtasts.Extension{{"foo", "bar"}}}
	assert.Equal(t, "v=STSv1; id=20160831085700Z; foo=bar;", r.String())
}

// TestFindRecord covers the rule of RFC 8461 Section 3.1 for a name with
// several TXT records: discard those that do not begin with v=STSv1, and
// treat anything but exactly one remaining valid record as no record.
func TestFindRecord(t *testing.T) {
	tests := []struct {
		name string
		txts []string
		want mtasts.Record
		err  error
	}{
		{"no TXT records", nil, mtasts.Record{}, mtasts.ErrNoRecord},
		{"only other TXT records", []string{"v=spf1 -all", "google-site-verification=x"}, mtasts.Record{}, mtasts.ErrNoRecord},
		{"version in upper case is discarded", []string{"V=STSv1; id=1"}, mtasts.Record{}, mtasts.ErrNoRecord},
		{"another version is discarded", []string{"v=STSv10; id=1", "v=STSv2; id=2"}, mtasts.Record{}, mtasts.ErrNoRecord},
		{"one among others", []string{"v=spf1 -all", "v=STSv1; id=20190429T010101;", "V=STSv1; id=decoy"}, mtasts.Record{ID: "20190429T010101"}, nil},
		{"another version beside a valid one", []string{"v=STSv10; id=1", "v=STSv1; id=2"}, mtasts.Record{ID: "2"}, nil},
		{"two valid records", []string{"v=STSv1; id=1", "v=STSv1; id=2"}, mtasts.Record{}, mtasts.ErrMultipleRecords},
		{"two identical records", []string{"v=STSv1; id=1", "v=STSv1; id=1"}, mtasts.Record{}, mtasts.ErrMultipleRecords},
		{"space before the first delimiter counts (erratum 6285)", []string{"v=STSv1 ; id=1", "v=STSv1; id=2"}, mtasts.Record{}, mtasts.ErrMultipleRecords},
		{"space before the first delimiter, alone", []string{"v=STSv1 ; id=1"}, mtasts.Record{ID: "1"}, nil},
		{"an invalid candidate beside a valid one is ambiguous", []string{"v=STSv1; id=bad-id", "v=STSv1; id=2"}, mtasts.Record{}, mtasts.ErrMultipleRecords},
		{"the only candidate is invalid", []string{"v=STSv1"}, mtasts.Record{}, mtasts.ErrRecordSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := mtasts.FindRecord(tc.txts)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, r)
		})
	}
}
