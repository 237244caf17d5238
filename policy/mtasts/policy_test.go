package mtasts_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy/mtasts"
)

// rfcPolicy is the example of RFC 8461 Section 3.2, with LF line ends.
const rfcPolicy = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n"

var rfcPolicyWant = mtasts.Policy{
	Mode:   mtasts.ModeEnforce,
	MX:     []string{"mail.example.com", "*.example.net", "backupmx.example.com"},
	MaxAge: 604800,
}

// goodPolicies are valid policy files (RFC 8461 Section 3.2): the RFC's
// example and policies in the form large providers publish at
// https://mta-sts.<domain>/.well-known/mta-sts.txt, written by hand.
var goodPolicies = []struct {
	name string
	in   string
	want mtasts.Policy
}{
	{"RFC 8461 Section 3.2 example, LF", rfcPolicy, rfcPolicyWant},
	{"RFC example, CRLF", strings.ReplaceAll(rfcPolicy, "\n", "\r\n"), rfcPolicyWant},
	{"RFC example, mixed LF and CRLF", "version: STSv1\r\nmode: enforce\nmx: mail.example.com\r\nmx: *.example.net\nmx: backupmx.example.com\r\nmax_age: 604800", rfcPolicyWant},
	{"RFC example, no final line end", strings.TrimSuffix(rfcPolicy, "\n"), rfcPolicyWant},
	{"as Google publishes it",
		"version: STSv1\nmode: enforce\nmx: gmail-smtp-in.l.google.com\nmx: *.gmail-smtp-in.l.google.com\nmax_age: 86400\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"gmail-smtp-in.l.google.com", "*.gmail-smtp-in.l.google.com"}, MaxAge: 86400}},
	{"a Microsoft 365 customer domain",
		"version: STSv1\r\nmode: enforce\r\nmx: *.mail.protection.outlook.com\r\nmax_age: 604800\r\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"*.mail.protection.outlook.com"}, MaxAge: 604800}},
	{"as outlook.com publishes it",
		"version: STSv1\r\nmode: enforce\r\nmx: *.olc.protection.outlook.com\r\nmax_age: 604800\r\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"*.olc.protection.outlook.com"}, MaxAge: 604800}},
	{"testing, fields in another order",
		"mode: testing\nmax_age: 86400\nmx: mx1.example.org\nversion: STSv1\nmx: mx2.example.org\n",
		mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{"mx1.example.org", "mx2.example.org"}, MaxAge: 86400}},
	{"none without mx, to withdraw the policy (RFC 8461 Section 8.3)",
		"version: STSv1\nmode: none\nmax_age: 86400\n",
		mtasts.Policy{Mode: mtasts.ModeNone, MaxAge: 86400}},
	{"none with mx", "version: STSv1\nmode: none\nmx: mx.example\nmax_age: 0\n",
		mtasts.Policy{Mode: mtasts.ModeNone, MX: []string{"mx.example"}, MaxAge: 0}},
	{"unknown fields are ignored",
		"version: STSv1\nfoo: bar baz\nmode: enforce\nx.y_z-1: ünïcode välue \nfoo: again\nmx: mx.example\nmax_age: 1\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx.example"}, MaxAge: 1}},
	{"spaces and tabs after the colon and at the end of a line",
		"version:STSv1\nmode:\t enforce \t\nmx:   mx.example\t\nmax_age: 5 \n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx.example"}, MaxAge: 5}},
	{"mx in upper case is kept in lower case",
		"version: STSv1\nmode: enforce\nmx: MAIL.Example.COM\nmx: *.EXAMPLE.net\nmax_age: 86400\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mail.example.com", "*.example.net"}, MaxAge: 86400}},
	{"mx as A-labels", "version: STSv1\nmode: enforce\nmx: mx.xn--bcher-kva.example\nmx: *.XN--BCHER-KVA.example\nmax_age: 86400\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx.xn--bcher-kva.example", "*.xn--bcher-kva.example"}, MaxAge: 86400}},
	{"the same mx twice is kept", "version: STSv1\nmode: enforce\nmx: a.example\nmx: a.example\nmax_age: 1\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example", "a.example"}, MaxAge: 1}},
	{"max_age at the maximum", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example"}, MaxAge: 31557600}},
	{"max_age of ten digits is capped at the maximum", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example"}, MaxAge: mtasts.MaxMaxAge}},
	// 2^32 + 5: a 32-bit int would wrap it to 5 seconds.
	{"max_age past 2^32 is capped, not wrapped", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 4294967301\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example"}, MaxAge: mtasts.MaxMaxAge}},
	{"max_age with leading zeros", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 0000086400\n",
		mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"a.example"}, MaxAge: 86400}},
	{"wildcard over a single label", "version: STSv1\nmode: testing\nmx: *.example\nmax_age: 1\n",
		mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{"*.example"}, MaxAge: 1}},
}

const (
	head = "version: STSv1\nmode: enforce\n"
	tail = "mx: mx.example\nmax_age: 86400\n"
)

// badPolicies break RFC 8461 Section 3.2, or are ambiguous; offset is
// where the error is reported.
var badPolicies = []struct {
	name   string
	in     string
	offset int
}{
	{"empty", "", 0},
	{"no version", "mode: enforce\n" + tail, 44},
	{"no mode", "version: STSv1\n" + tail, 45},
	{"no max_age", head + "mx: mx.example\n", 44},
	{"no mx in mode enforce", head + "max_age: 86400\n", 44},
	{"no mx in mode testing", "version: STSv1\nmode: testing\nmax_age: 86400\n", 44},
	{"version STSv2", "version: STSv2\nmode: enforce\n" + tail, 9},
	{"version in lower case", "version: stsv1\nmode: enforce\n" + tail, 9},
	{"mode in upper case", "version: STSv1\nmode: Enforce\n" + tail, 21},
	{"the draft's mode report", "version: STSv1\nmode: report\n" + tail, 21},
	{"two modes on one line", "version: STSv1\nmode: enforce testing\n" + tail, 21},
	{"empty mode", "version: STSv1\nmode:\n" + tail, 20},
	{"negative max_age", head + "mx: mx.example\nmax_age: -1\n", 53},
	{"fractional max_age", head + "mx: mx.example\nmax_age: 1.5\n", 53},
	{"max_age of eleven digits", head + "mx: mx.example\nmax_age: 00000000001\n", 53},
	{"max_age with an exponent", head + "mx: mx.example\nmax_age: 1e6\n", 53},
	{"partial-label wildcard", head + "mx: mx*.example.com\nmax_age: 1\n", 33},
	{"wildcard as a suffix label", head + "mx: *example.com\nmax_age: 1\n", 33},
	{"two wildcard labels", head + "mx: *.*.example.com\nmax_age: 1\n", 33},
	{"wildcard in the middle", head + "mx: mail.*.example.com\nmax_age: 1\n", 33},
	{"wildcard alone", head + "mx: *\nmax_age: 1\n", 33},
	{"wildcard and dot alone", head + "mx: *.\nmax_age: 1\n", 33},
	{"mx with a trailing dot", head + "mx: mail.example.com.\nmax_age: 1\n", 33},
	{"mx with a leading dot", head + "mx: .example.com\nmax_age: 1\n", 33},
	{"mx with an empty label", head + "mx: mail..example.com\nmax_age: 1\n", 33},
	{"mx as a U-label", head + "mx: mx.bücher.example\nmax_age: 1\n", 33},
	{"mx label starting with a hyphen", head + "mx: -mx.example.com\nmax_age: 1\n", 33},
	{"mx label ending with a hyphen", head + "mx: mx-.example.com\nmax_age: 1\n", 33},
	{"mx with an underscore", head + "mx: mx_1.example.com\nmax_age: 1\n", 33},
	{"mx with a port", head + "mx: mx.example.com:25\nmax_age: 1\n", 33},
	{"mx label of 64 bytes", head + "mx: " + strings.Repeat("a", 64) + ".example\nmax_age: 1\n", 33},
	{"mx of 254 bytes", head + "mx: " + strings.Repeat("a.", 126) + "ab\nmax_age: 1\n", 33},
	{"duplicate version", "version: STSv1\n" + head + tail, 15},
	{"duplicate mode, same value", head + "mode: enforce\n" + tail, 29},
	{"duplicate mode, weaker second", head + "mode: none\n" + tail, 29},
	{"duplicate mode, stronger second", "version: STSv1\nmode: none\nmode: enforce\n" + tail, 26},
	{"duplicate max_age", head + tail + "max_age: 1\n", 59},
	{"Mode in upper case (an extension to one parser, the mode to another)", "version: STSv1\nmode: testing\nMode: enforce\n" + tail, 29},
	{"MX in upper case", head + "MX: mx.example\n" + tail, 29},
	{"Version in mixed case", "Version: STSv1\nmode: enforce\n" + tail, 0},
	{"MAX_AGE in upper case", head + "mx: mx.example\nMAX_AGE: 1\nmax_age: 1\n", 44},
	{"blank line in the middle", head + "\n" + tail, 29},
	{"blank CRLF line in the middle", "version: STSv1\r\n\r\nmode: enforce\r\n" + tail, 16},
	{"blank line at the end", head + tail + "\n", 59},
	{"blank line at the start", "\n" + head + tail, 0},
	{"bare CR as a line end", "version: STSv1\rmode: enforce\n" + tail, 14},
	{"bare CR at the start of a line", head + "\rmx: mx.example\nmax_age: 86400\n", 29},
	{"CR at the very end", head + "mx: mx.example\nmax_age: 86400\r", 58},
	{"leading space", " version: STSv1\nmode: enforce\n" + tail, 0},
	{"space before the colon", "version : STSv1\nmode: enforce\n" + tail, 0},
	{"line without a colon", head + "hello\n" + tail, 29},
	{"byte order mark", "\ufeff" + head + tail, 0},
	{"field name starting with an underscore", head + "_foo: bar\n" + tail, 29},
	{"field name of 33 bytes", head + strings.Repeat("f", 33) + ": bar\n" + tail, 29},
	{"empty extension value", head + "foo:\n" + tail, 33},
	{"extension value of spaces only", head + "foo:   \n" + tail, 36},
	{"tab inside an extension value", head + "foo: a\tb\n" + tail, 35},
	{"NUL in an extension value", head + "foo: a\x00\n" + tail, 35},
	{"DEL in an extension value", head + "foo: \x7f\n" + tail, 34},
	{"invalid UTF-8 in an extension value", head + "foo: \xff\xfe\n" + tail, 34},
}

func TestParsePolicy(t *testing.T) {
	for _, tc := range goodPolicies {
		t.Run(tc.name, func(t *testing.T) {
			p, err := mtasts.ParsePolicy(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, p)
			again, err := mtasts.ParsePolicy(p.String())
			require.NoError(t, err, "String() = %q", p.String())
			assert.Equal(t, p, again)
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range badPolicies {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mtasts.ParsePolicy(tc.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, mtasts.ErrPolicySyntax)
			var pe *mtasts.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.offset, pe.Offset, "%v", err)
		})
	}
}

// TestPolicyString checks the canonical form: version, mode, mx, max_age,
// CRLF line ends (RFC 8461 Section 3.2).
func TestPolicyString(t *testing.T) {
	assert.Equal(t, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
		rfcPolicyWant.String())
	assert.Equal(t, "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n",
		mtasts.Policy{Mode: mtasts.ModeNone, MaxAge: 86400}.String())
}

// padded returns a valid policy of exactly n bytes, padded with an
// extension field.
func padded(n int) string {
	const base = head + tail + "pad: "
	return base + strings.Repeat("x", n-len(base)-1) + "\n"
}

func TestParsePolicySizeLimit(t *testing.T) {
	in := padded(mtasts.MaxPolicySize)
	require.Len(t, in, mtasts.MaxPolicySize)
	_, err := mtasts.ParsePolicy(in)
	require.NoError(t, err, "a policy of exactly MaxPolicySize bytes is accepted")

	_, err = mtasts.ParsePolicy(padded(mtasts.MaxPolicySize + 1))
	assert.ErrorIs(t, err, mtasts.ErrTooLarge)
	assert.NotErrorIs(t, err, mtasts.ErrPolicySyntax)
	var pe *mtasts.ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, mtasts.MaxPolicySize, pe.Offset)
	assert.Less(t, len(err.Error()), 200, "the error message does not carry the whole input")
}

// endless is a reader that never ends and counts what was read from it.
type endless struct{ n int }

func (r *endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	r.n += len(b)
	return len(b), nil
}

func TestReadPolicy(t *testing.T) {
	p, err := mtasts.ReadPolicy(strings.NewReader(rfcPolicy))
	require.NoError(t, err)
	assert.Equal(t, rfcPolicyWant, p)

	_, err = mtasts.ReadPolicy(strings.NewReader(padded(mtasts.MaxPolicySize)))
	require.NoError(t, err)

	r := &endless{}
	_, err = mtasts.ReadPolicy(r)
	assert.ErrorIs(t, err, mtasts.ErrTooLarge)
	assert.LessOrEqual(t, r.n, mtasts.MaxPolicySize+1, "reading stops one byte past the limit")

	broken := errors.New("connection reset")
	_, err = mtasts.ReadPolicy(io.MultiReader(strings.NewReader(head), iotest.ErrReader(broken)))
	assert.ErrorIs(t, err, broken)
}
