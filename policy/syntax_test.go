package policy_test

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

// tableFiles are the table files of the tests, read through ReadFile as
// a caller would with os.ReadFile.
var tableFiles = fstest.MapFS{
	"th":      {Data: []byte("foo.example disable\n# comment\n.example   opportunistic\nbar.foo.example\n  opportunistic+starttls\n")},
	"th-dup":  {Data: []byte("foo.example disable\nFOO.example enforce\n")},
	"th-ulbl": {Data: []byte("bücher.example disable\n")},
	"th-cont": {Data: []byte("  foo.example disable\n")},
	"cidr":    {Data: []byte("!192.0.2.0/24 disable\n2001:db8::/32 opportunistic\n")},
	"regexp":  {Data: []byte("/^foo\\.example$/ disable\n")},
	"pcre":    {Data: []byte("/^foo\\.example$/ disable\n/(?=x)/ enforce\n")},
}

var withFiles = &policy.ParseOptions{ReadFile: func(name string) ([]byte, error) { return fs.ReadFile(tableFiles, name) }}

// TestParseTables (issue 18 part 1): static:, cidr "!", pcre: and table
// files, each looked up as Postfix 3.11.6 does (the same policies are rows
// of interop/postfixpolicy, which checks them against Postfix itself).
func TestParseTables(t *testing.T) {
	tests := []struct {
		name    string
		policy  string
		queries []query
	}{
		{"static braces: the trimmed text is the result", "static:{ disable }, enforce", []query{{"foo.example", disable}, {"192.0.2.1", disable}}},
		{"static name", "static:opportunistic", []query{{"foo.example", opp}}},
		{"static composite result is an error", "static:{disable, enforce}", []query{{"foo.example", errLevel}}},
		{"static nested table is an error", "static:{hash:/x}", []query{{"foo.example", errLevel}}},
		{"static empty is an error", "static:{}", []query{{"foo.example", errLevel}}},
		{"cidr negation", "cidr:{{!192.0.2.0/24 disable}}, opportunistic", []query{
			{"192.0.2.1", opp}, {"198.51.100.1", disable}, {"2001:db8::1", opp}, {"foo.example", opp},
		}},
		{"cidr double negation", "cidr:{{! ! 192.0.2.0/24 disable}}, opportunistic", []query{{"192.0.2.1", disable}, {"198.51.100.1", opp}}},
		{"cidr IPv6 negation does not match IPv4", "cidr:{{!2001:db8::/32 disable}}", []query{{"192.0.2.1", enforce}, {"2001:db9::1", disable}}},
		{"pcre", `pcre:{{/^foo\.example$$/ disable}, {!/^bar/ opportunistic}}`, []query{
			{"foo.example", disable}, {"FOO.example", disable}, {"bar.example", enforce}, {"other", opp},
		}},
		{"pcre flags without effect on a next hop", "pcre:{{/foo/msEUX disable}}", []query{{"foo.example", disable}}},
		{"pcre A anchors at the start", "pcre:{{/oo/A disable}, {/fo/A opportunistic}}", []query{{"foo.example", opp}, {"oo.example", disable}}},
		{"pcre \\Q...\\E and \\A", `pcre:{{/\Afoo\Q.\E/ disable}}`, []query{{"foo.example", disable}, {"fooxexample", enforce}}},
		{"texthash file: parent keys, comments, continuation lines", "texthash:th, enforce", []query{
			{"foo.example", disable}, {"x.example", opp}, {"bar.foo.example", oppTLS}, {"other", enforce}, {"x.bar.foo.example", opp},
		}},
		{"cidr file", "cidr:cidr", []query{{"192.0.2.1", enforce}, {"198.51.100.1", disable}, {"2001:db8::1", opp}}},
		{"regexp file: $ is literal there", "regexp:regexp", []query{{"foo.example", disable}, {"x.foo.example", enforce}}},
		{"table type we cannot open", "lmdb:/etc/postfix/x, disable", []query{{"foo.example", errLevel}}},
		{"unknown atoms of any characters look up as error", "#, {enforce}", []query{{"foo.example", errLevel}}},
		{"a # on the first line is text, not a comment (it follows \"name =\")", "# disable\n  enforce", []query{{"foo.example", errLevel}}},
		{"a # on a later line starts a comment", "opportunistic\n# disable\n", []query{{"foo.example", opp}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse(tt.policy, withFiles)
			require.NoError(t, err)
			for _, q := range tt.queries {
				assert.Equal(t, q.want, p.Lookup(q.nexthop), "%s", q.nexthop)
			}
			again, err := policy.Parse(p.String(), withFiles)
			require.NoError(t, err, "round trip of %q", p.String())
			assert.Equal(t, p.String(), again.String())
		})
	}
}

// TestParseTablesRefused (issue 18 part 1): what Parse cannot read exactly
// as Postfix does is an error naming the construct, never a different
// table.
func TestParseTablesRefused(t *testing.T) {
	tests := []struct {
		name, policy string
		err          error
		msg          string
	}{
		{"table file without ReadFile", "texthash:/etc/postfix/reqtls", policy.ErrTable, "ReadFile is nil"},
		{"missing table file", "cidr:nowhere", policy.ErrTable, "file does not exist"},
		{"duplicate texthash key", "texthash:th-dup", policy.ErrSyntax, "duplicate key"},
		{"U-label texthash key", "texthash:th-ulbl", policy.ErrIDN, "A-label"},
		{"texthash continuation first", "texthash:th-cont", policy.ErrSyntax, "continuation line"},
		{"pcre file lookahead", "pcre:pcre", policy.ErrSyntax, "in pcre:pcre: pcre pattern uses a lookahead"},
		{"pcre backreference", `pcre:{{/(a)\1/ x}}`, policy.ErrSyntax, "backreference"},
		{"pcre lookahead", "pcre:{{/a(?=b)/ x}}", policy.ErrSyntax, "lookahead"},
		{"pcre lookbehind", "pcre:{{/(?<!b)a/ x}}", policy.ErrSyntax, "lookbehind"},
		{"pcre atomic group", "pcre:{{/(?>a)/ x}}", policy.ErrSyntax, "atomic group"},
		{"pcre possessive", "pcre:{{/a++/ x}}", policy.ErrSyntax, "possessive"},
		{"pcre \\C", `pcre:{{/a\C/ x}}`, policy.ErrSyntax, `\C`},
		{"pcre recursion", "pcre:{{/a(?R)?/ x}}", policy.ErrSyntax, "recursion"},
		{"pcre subroutine", "pcre:{{/(a)(?1)/ x}}", policy.ErrSyntax, "recursion"},
		{"pcre conditional", "pcre:{{/(a)?(?(1)b|c)/ x}}", policy.ErrSyntax, "conditional"},
		{"pcre verb", "pcre:{{/(*UTF)a/ x}}", policy.ErrSyntax, "verb"},
		{"pcre \\K", `pcre:{{/a\Kb/ x}}`, policy.ErrSyntax, `\K`},
		{"pcre \\v", `pcre:{{/a\v/ x}}`, policy.ErrSyntax, `\v`},
		{"pcre unset caseless", "pcre:{{/(?-i)A/ x}}", policy.ErrSyntax, "unset flags"},
		{"pcre {,n}", "pcre:{{/a{,3}/ x}}", policy.ErrSyntax, "{,n}"},
		{"pcre i flag", "pcre:{{/a/i x}}", policy.ErrSyntax, "case-sensitive"},
		{"pcre x flag", "pcre:{{/a/x x}}", policy.ErrSyntax, "unsupported regexp flag"},
		{"regexp \\d (POSIX: a d)", `regexp:{{/\d/ x}}`, policy.ErrSyntax, `\d`},
		{"regexp \\< (POSIX: word start)", `regexp:{{/\<a/ x}}`, policy.ErrSyntax, `\<`},
		{"regexp backslash in brackets", `regexp:{{/[\.]/ x}}`, policy.ErrSyntax, "bracket"},
		{"regexp (?", "regexp:{{/(?i)a/ x}}", policy.ErrSyntax, "(?"},
		{"rule starting with # (Postfix: a comment)", "regexp:{{#a# x}}", policy.ErrSyntax, "comment"},
		{"cidr IF block", "cidr:{{if 10.0.0.0/8}, {endif}}", policy.ErrSyntax, "IF/ENDIF"},
		{"cidr IPv4-mapped", "cidr:{{::ffff:10.0.0.0/104 x}}", policy.ErrSyntax, "IPv4-mapped"},
		{"static with text after the braces", "static:{a}b", policy.ErrSyntax, "after its closing brace"},
		{"lone $ (Postfix: fatal empty macro name)", "enforce $/", policy.ErrSyntax, "$$"},
		{"undefined $name (Postfix: silently empty)", "inline:{{$nope = disable}}", policy.ErrUndefined, "$nope"},
		{"type without name (Postfix: fatal)", "cidr:", policy.ErrSyntax, "type:name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := withFiles
			if tt.err == policy.ErrTable && tt.msg == "ReadFile is nil" {
				opts = nil
			}
			p, err := policy.Parse(tt.policy, opts)
			assert.Nil(t, p)
			require.Error(t, err)
			assert.True(t, errors.Is(err, tt.err), "%v is not %v", err, tt.err)
			var pe *policy.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, pe.Msg, tt.msg)
		})
	}
}
