package requiretls

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
)

// parseMailGood are lines ParseMail accepts; they also seed the
// differential test against the reference parser.
var parseMailGood = []struct {
	name       string
	line       string
	from       string
	requireTLS bool
	params     int
}{
	{"R35 A.1 example", "MAIL FROM:<roger@example.org> REQUIRETLS", "roger@example.org", true, 1},
	{"R5 keyword lower case", "MAIL FROM:<a@example.org> requiretls", "a@example.org", true, 1},
	{"R5 keyword mixed case", "mail from:<a@example.org> RequireTLS", "a@example.org", true, 1},
	{"with CRLF", "MAIL FROM:<a@example.org> REQUIRETLS\r\n", "a@example.org", true, 1},
	{"E9 null reverse path", "MAIL FROM:<> REQUIRETLS", "", true, 1},
	{"no parameters", "MAIL FROM:<a@example.org>", "a@example.org", false, 0},
	{"several parameters", "MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ314159 REQUIRETLS", "a@example.org", true, 5},
	{"xtext ENVID", "MAIL FROM:<a@example.org> ENVID=a+2Bb", "a@example.org", false, 1},
	{"AUTH null", "MAIL FROM:<a@example.org> AUTH=<>", "a@example.org", false, 1},
	{"source route dropped", "MAIL FROM:<@relay.example,@b.example:a@example.org> REQUIRETLS", "a@example.org", true, 1},
	{"quoted local part", `MAIL FROM:<"john doe"@example.org> REQUIRETLS`, `"john doe"@example.org`, true, 1},
	{"address literal", "MAIL FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]", false, 0},
	{"IPv6 literal", "MAIL FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]", false, 0},
	{"SMTPUTF8 mailbox", "MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8 REQUIRETLS", "δοκιμή@παράδειγμα.δοκιμή", true, 2},
	{"unknown extension kept", "MAIL FROM:<a@example.org> X-FOO=bar MT-PRIORITY=3", "a@example.org", false, 2},
	{"R10 LMTP uses the same parser", "MAIL FROM:<a@example.org> REQUIRETLS", "a@example.org", true, 1},
}

func TestParseMailGood(t *testing.T) {
	for _, tc := range parseMailGood {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMail(tc.line)
			require.NoError(t, err)
			assert.Equal(t, tc.from, m.From)
			assert.Equal(t, tc.requireTLS, m.RequireTLS())
			assert.Len(t, m.Params, tc.params)
			again, err := ParseMail(m.String())
			require.NoError(t, err, "R23: formatting keeps the tag parseable")
			assert.Equal(t, m, again)
		})
	}
}

// parseMailBad are lines ParseMail refuses, with the error and offset.
var parseMailBad = []struct {
	name   string
	line   string
	err    error
	offset int
	code   int
	enh    smtp.EnhancedCode
}{
	{"R7 E4 REQUIRETLS=YES", "MAIL FROM:<a@example.org> REQUIRETLS=YES", ErrValue, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"R7 REQUIRETLS= (empty value)", "MAIL FROM:<a@example.org> REQUIRETLS=", ErrParam, 37, 501, smtp.EnhancedCode{5, 5, 4}},
	{"E6 REQUIRETLS twice", "MAIL FROM:<a@example.org> REQUIRETLS requiretls", ErrDuplicate, 37, 501, smtp.EnhancedCode{5, 5, 4}},
	{"RFC 3461 RET twice", "MAIL FROM:<a@example.org> RET=HDRS RET=FULL", ErrDuplicate, 35, 501, smtp.EnhancedCode{5, 5, 4}},
	{"not MAIL", "RCPT TO:<a@example.org> REQUIRETLS", ErrSyntax, 0, 501, smtp.EnhancedCode{5, 5, 2}},
	{"space before path", "MAIL FROM: <a@example.org>", ErrSyntax, 10, 501, smtp.EnhancedCode{5, 5, 2}},
	{"no angle brackets", "MAIL FROM:a@example.org", ErrSyntax, 10, 501, smtp.EnhancedCode{5, 5, 2}},
	{"unterminated path", "MAIL FROM:<a@example.org", ErrSyntax, 24, 501, smtp.EnhancedCode{5, 5, 2}},
	{"no domain", "MAIL FROM:<a>", ErrSyntax, 12, 501, smtp.EnhancedCode{5, 5, 2}},
	{"empty label", "MAIL FROM:<a@example..org>", ErrSyntax, 21, 501, smtp.EnhancedCode{5, 5, 2}},
	{"hyphen label", "MAIL FROM:<a@-example.org>", ErrSyntax, 13, 501, smtp.EnhancedCode{5, 5, 2}},
	{"two spaces", "MAIL FROM:<a@example.org>  REQUIRETLS", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"trailing space", "MAIL FROM:<a@example.org> ", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"tab separator", "MAIL FROM:<a@example.org>\tREQUIRETLS", ErrSyntax, 25, 501, smtp.EnhancedCode{5, 5, 2}},
	{"bare LF", "MAIL FROM:<a@example.org>\nREQUIRETLS", ErrSyntax, 25, 501, smtp.EnhancedCode{5, 5, 2}},
	{"bare CR", "MAIL FROM:<a@example.org> REQUIRETLS\r", ErrSyntax, 36, 501, smtp.EnhancedCode{5, 5, 2}},
	{"UTF-8 without SMTPUTF8", "MAIL FROM:<δ@example.org>", ErrSyntax, 10, 501, smtp.EnhancedCode{5, 5, 2}},
	{"invalid UTF-8", "MAIL FROM:<\xff@example.org> SMTPUTF8", ErrSyntax, 11, 501, smtp.EnhancedCode{5, 5, 2}},
	{"SMTPUTF8 with value", "MAIL FROM:<a@example.org> SMTPUTF8=yes", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"SIZE not digits", "MAIL FROM:<a@example.org> SIZE=12k", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"RET unknown", "MAIL FROM:<a@example.org> RET=BODY", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"ENVID not xtext", "MAIL FROM:<a@example.org> ENVID=a+2b", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"ENVID without value", "MAIL FROM:<a@example.org> ENVID", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"keyword starts with hyphen", "MAIL FROM:<a@example.org> -X", ErrParam, 26, 501, smtp.EnhancedCode{5, 5, 4}},
	{"equals in value", "MAIL FROM:<a@example.org> X=a=b", ErrParam, 29, 501, smtp.EnhancedCode{5, 5, 4}},
	{"R8 too long without REQUIRETLS", "MAIL FROM:<" + strings.Repeat("a", 500) + "@example.org>", ErrTooLong, 510, 500, smtp.EnhancedCode{5, 5, 2}},
}

func TestParseMailBad(t *testing.T) {
	for _, tc := range parseMailBad {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMail(tc.line)
			assert.Nil(t, m)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.err)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.offset, pe.Offset)
			assert.Equal(t, tc.line, pe.Input)
			reply := ReplyFor(err)
			assert.Equal(t, tc.code, reply.Code)
			assert.Equal(t, tc.enh, reply.EnhancedCode)
		})
	}
}

// R8: the 11 octets of " REQUIRETLS" come on top of RFC 5321's 512.
func TestMailLineBudgetR8(t *testing.T) {
	assert.Equal(t, 11, LineIncrement)
	assert.Equal(t, 11, len(" REQUIRETLS"))
	// A line of exactly 512 octets with CRLF, before the parameter.
	local := strings.Repeat("a", 512-len("MAIL FROM:<@example.org>\r\n"))
	base := "MAIL FROM:<" + local + "@example.org>"
	require.Len(t, base+"\r\n", 512)
	_, err := ParseMail(base)
	require.NoError(t, err)
	_, err = ParseMail(base + " REQUIRETLS")
	require.NoError(t, err, "adding REQUIRETLS to a 512-octet line must stay within the limit")
	_, err = ParseMail(base + " REQUIRETLS X")
	assert.ErrorIs(t, err, ErrTooLong)
	_, err = ParseMail(base + " X")
	assert.ErrorIs(t, err, ErrTooLong)
	_, err = ParseMail(base + strings.Repeat(" X", 1<<20))
	assert.ErrorIs(t, err, ErrTooLong, "a huge line is refused before it is parsed")
}

func TestReplyFor(t *testing.T) {
	assert.Same(t, ErrEncryptionNeeded, ReplyFor(ErrEncryptionNeeded))
	assert.Equal(t, 451, ReplyFor(errors.New("other")).Code)
	assert.Equal(t, 501, ReplyFor(ErrValue).Code)
}

// R54, R9: the reply codes RFC 8689 names, as go-smtp values.
func TestCodesR54(t *testing.T) {
	assert.Equal(t, 550, ErrSupportRequired.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 7, 30}, ErrSupportRequired.EnhancedCode)
	assert.Equal(t, 523, ErrEncryptionNeeded.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 7, 10}, ErrEncryptionNeeded.EnhancedCode)
	assert.Equal(t, "Require TLS", ExtensionName) // R4
	assert.Equal(t, "REQUIRETLS", Keyword)        // R5
}

// sameParse reports how got and want, two results of a MAIL parser for
// line, differ, or "" when they are the same value, or the same error with
// the same sentinel, offset, detail and text.
func sameParse(line string, got, want *Mail, gotErr, wantErr error) string {
	if (gotErr == nil) != (wantErr == nil) {
		return fmt.Sprintf("%q: error %v, reference %v", line, gotErr, wantErr)
	}
	if gotErr != nil {
		var g, w *ParseError
		if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) || *g != *w || gotErr.Error() != wantErr.Error() || got != nil {
			return fmt.Sprintf("%q: error %#v, reference %#v", line, gotErr, wantErr)
		}
		return ""
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("%q: %#v, reference %#v", line, got, want)
	}
	return ""
}

// mailSeeds are the lines the differential test mutates: the table tests
// and lines with 1 to 220 parameters (shaped), and the first lines of each
// input of the hostile corpus as a line, as a parameter and as a reverse
// path (hostile).
func mailSeeds() (shaped, hostileLines []string) {
	for _, tc := range parseMailGood {
		shaped = append(shaped, tc.line)
	}
	for _, tc := range parseMailBad {
		shaped = append(shaped, tc.line)
	}
	for _, n := range []int{1, 2, 3, 6, 8, 9, 10, 22, 100, 220} {
		shaped = append(shaped, paramsLine(n))
	}
	shaped = append(shaped, benchLines...)
	for _, in := range hostile.All() {
		lines := strings.Split(string(in.Prefix(2048)), "\n")
		for _, l := range lines[:min(len(lines), 3)] {
			l = strings.TrimSuffix(l, "\r")
			l = l[:min(len(l), 300)]
			hostileLines = append(hostileLines, l, "MAIL FROM:<a@example.org> "+l, "MAIL FROM:<"+l+">")
		}
	}
	return shaped, hostileLines
}

// mutate changes line by one to three of: a byte flipped, SP, "=", NUL, an
// 8-bit byte, CR or LF inserted, a parameter repeated (sometimes in another
// case, sometimes at the end), a truncation, or letters changed in case.
func mutate(rng *rand.Rand, line string) string {
	b := []byte(line)
	for range 1 + rng.IntN(3) {
		at := rng.IntN(len(b) + 1)
		switch rng.IntN(7) {
		case 0:
			if at < len(b) {
				b[at] ^= 1 << rng.IntN(8)
			}
		case 1:
			c := []byte(" =\x00\x80\r\n")[rng.IntN(6)]
			if c == 0x80 {
				c += byte(rng.IntN(0x80))
			}
			b = slices.Insert(b, at, c)
		case 2:
			fields := bytes.Split(b, []byte(" "))
			if len(fields) > 1 {
				f := bytes.Clone(fields[1+rng.IntN(len(fields)-1)])
				if rng.IntN(2) == 0 {
					f = bytes.ToLower(f)
				}
				if rng.IntN(2) == 0 {
					b = append(append(b, ' '), f...)
				} else {
					fields = slices.Insert(fields, 1+rng.IntN(len(fields)), f)
					b = bytes.Join(fields, []byte(" "))
				}
			}
		case 3:
			b = b[:at]
		case 4:
			for i := range b {
				if rng.IntN(3) == 0 && ('a' <= b[i]|0x20 && b[i]|0x20 <= 'z') {
					b[i] ^= 0x20
				}
			}
		case 5:
			b = bytes.ToUpper(b)
		case 6:
			b = bytes.ToLower(b)
		}
	}
	return string(b)
}

// TestParseMailMatchesReference (R7, R8, E4, E6) gives ParseMail and the
// parser it replaced (parseMailReference) the same 200 000 mutated lines:
// the same Mail, or the same error with the same sentinel, offset and text.
func TestParseMailMatchesReference(t *testing.T) {
	shaped, hostileLines := mailSeeds()
	seeds := append(shaped, hostileLines...)
	rng := rand.New(rand.NewPCG(8689, 5321))
	const lines = 200_000
	for i := range lines {
		var line string
		switch {
		case i < len(seeds):
			line = seeds[i]
		case i%4 == 0: // three in four from the shaped lines
			line = mutate(rng, hostileLines[rng.IntN(len(hostileLines))])
		default:
			line = mutate(rng, shaped[rng.IntN(len(shaped))])
		}
		got, gotErr := ParseMail(line)
		want, wantErr := parseMailReference(line)
		if d := sameParse(line, got, want, gotErr, wantErr); d != "" {
			t.Fatal(d)
		}
	}
}

// FuzzParseMailMatchesReference is TestParseMailMatchesReference for the
// fuzzer, seeded with the same lines.
func FuzzParseMailMatchesReference(f *testing.F) {
	shaped, hostileLines := mailSeeds()
	for _, s := range append(shaped, hostileLines...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got, gotErr := ParseMail(line)
		want, wantErr := parseMailReference(line)
		if d := sameParse(line, got, want, gotErr, wantErr); d != "" {
			t.Fatal(d)
		}
	})
}

// TestParseMailOneAllocation: a parsed line costs one allocation, for the
// Mail and its Params together, whatever the number of parameters and the
// case of known keywords.
func TestParseMailOneAllocation(t *testing.T) {
	lines := append([]string{
		"MAIL FROM:<>",
		"mail from:<a@example.org> requiretls size=10 body=8bitmime ret=hdrs envid=x auth=<> smtputf8",
	}, benchLines...)
	for _, n := range []int{1, 3, 6, 9, 22, 220} {
		lines = append(lines, paramsLine(n))
	}
	for _, line := range lines {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ParseMail(line); err != nil {
				t.Fatal(err)
			}
		})
		assert.Equal(t, 1.0, allocs, "%q", line)
	}
}

// TestParseMailDuplicateAmongMany (E6): a keyword repeated, in another
// case, after many others is found by the hashed set and reported at the
// repeat.
func TestParseMailDuplicateAmongMany(t *testing.T) {
	line := paramsLine(100)
	fields := strings.Fields(line)
	kw, _, _ := strings.Cut(fields[50], "=")
	dup := line + " " + strings.ToLower(kw)
	_, err := ParseMail(dup)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, ErrDuplicate)
	assert.Equal(t, len(line)+1, pe.Offset)
	assert.Equal(t, strconv.Quote(strings.ToUpper(kw)), pe.Msg)
	m, err := ParseMail(line)
	require.NoError(t, err)
	assert.Len(t, m.Params, 100)
}

// TestNaiveSameWork: the naive baseline of BenchmarkParseMail splits the
// benchmark lines into the same Mail as ParseMail, so the two do the same
// splitting work and differ only in the checks.
func TestNaiveSameWork(t *testing.T) {
	for _, n := range []int{1, 10, 22, 100, 220} {
		m, err := ParseMail(paramsLine(n))
		require.NoError(t, err)
		assert.Equal(t, m, naiveParseMail(paramsLine(n)))
		assert.Len(t, m.Params, n)
	}
	for _, line := range benchLines {
		m, err := ParseMail(line)
		require.NoError(t, err)
		assert.Equal(t, m, naiveParseMail(line))
	}
}
