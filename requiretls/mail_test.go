package requiretls

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMailGood(t *testing.T) {
	for _, tc := range []struct {
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
	} {
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

func TestParseMailBad(t *testing.T) {
	for _, tc := range []struct {
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMail(tc.line)
			assert.Nil(t, m)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.err)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.offset, pe.Offset)
			assert.Equal(t, tc.line, pe.Input)
			reply := pe.Reply()
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
	assert.Equal(t, 550, ErrREQUIRETLSRequired.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 7, 30}, ErrREQUIRETLSRequired.EnhancedCode)
	assert.Equal(t, 523, ErrEncryptionNeeded.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 7, 10}, ErrEncryptionNeeded.EnhancedCode)
	assert.Equal(t, "Require TLS", ExtensionName) // R4
	assert.Equal(t, "REQUIRETLS", Keyword)        // R5
}
