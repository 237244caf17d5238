package policy_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

const (
	opp      = policy.Opportunistic
	oppTLS   = policy.OpportunisticSTARTTLS
	enforce  = policy.Enforce
	disable  = policy.Disable
	errLevel = policy.ConfigError
)

type query struct {
	nexthop string
	want    policy.Level
}

// TestPostfixPolicyTest has every case of Postfix 3.11's
// src/smtp/smtp_reqtls_policy_test.c (postfix-3.11.md §2.4).
func TestPostfixPolicyTest(t *testing.T) {
	const parents = "inline:{{.example=disable},{.foo.example=enforce},{bar.foo.example=opportunistic+starttls}}"
	tests := []struct {
		name    string
		policy  string
		queries []query
	}{
		{"parent domain search and final atom", parents + ", opportunistic", []query{
			{"foo.example", disable},
			{"x.foo.example", enforce},
			{"bar.foo.example", oppTLS},
			{"other", opp},
		}},
		{"unknown final atom is an error", parents + ", nonsense", []query{
			{"other", errLevel},
			{"foo.example", disable},
		}},
		{"unknown first atom is an error for every query", "nonsense, " + parents, []query{
			{"foo.example", errLevel},
			{"x.foo.example", errLevel},
			{"other", errLevel},
		}},
		{"table lookup error", "fail:whatever enforce", []query{
			{"foo.example", errLevel},
		}},
		{"regexp has no parent search", `regexp:{{/^foo\.example$$/ enforce}}, opportunistic`, []query{
			{"foo.example", enforce},
			{"x.foo.example", opp},
		}},
		{"no match is enforce", `regexp:{{/^foo\.example$$/ opportunistic+starttls}}`, []query{
			{"foo.example", oppTLS},
			{"other", enforce},
		}},
		{"nested table result is an error", "inline:{{foo.example = hash:/no/where}}", []query{
			{"foo.example", errLevel},
			{"x.foo.example", enforce},
		}},
		{"composite result is an error", "inline:{{foo.example = foo bar}}", []query{
			{"foo.example", errLevel},
		}},
		{"U-label query matches A-label key", "inline:{{foo.xn--1xa.example = opportunistic}} enforce", []query{
			{"foo.π.example", opp},
			{"x.foo.π.example", enforce},
		}},
		{"malformed U-label query is enforce", "inline:{{foo.xn--1xa.example = opportunistic}} disable", []query{
			{"foo.-π.example", enforce},
			{"example", disable},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse(tt.policy, nil)
			require.NoError(t, err)
			for _, q := range tt.queries {
				assert.Equal(t, q.want, p.Lookup(q.nexthop), "%s", q.nexthop)
			}
		})
	}
}

func TestLookupKeys(t *testing.T) {
	p, err := policy.Parse("inline:{{b.example=disable}, {.c.example = opportunistic}, {192.0.2.1=opportunistic+starttls}}, cidr:{{198.51.100.0/24 disable}, {2001:db8::/32 opportunistic}}, monitor", nil)
	require.NoError(t, err)
	for _, q := range []query{
		{"b.example", disable},
		{"B.Example", disable},                   // DICT_FLAG_FOLD_FIX
		{"a.b.example", policy.Monitor},          // bare b.example does not match a subdomain
		{"c.example", policy.Monitor},            // .c.example does not match c.example
		{"x.y.c.example", opp},                   // but matches any subdomain
		{"[b.example]", disable},                 // brackets stripped
		{"b.example:587", disable},               // port stripped
		{"[b.example]:submission", disable},      // both
		{"[192.0.2.1]:25", oppTLS},               // IP literal exact inline key
		{"[192.0.3.1]", policy.Monitor},          // no parent search for IP keys
		{"[198.51.100.7]", disable},              // cidr
		{"[2001:db8::25]:25", opp},               // IPv6 literal
		{"2001:db8::25", opp},                    // bare IPv6, colons kept
		{"198.51.100.7.example", policy.Monitor}, // a name is not matched by cidr
	} {
		assert.Equal(t, q.want, p.Lookup(q.nexthop), "%s", q.nexthop)
	}
	assert.Equal(t, enforce, (*policy.Policy)(nil).Lookup("x"), "nil policy: implicit enforce")
	assert.Equal(t, enforce, policy.New().Lookup("x"), "empty policy: implicit enforce")
}

func TestDefaultPolicy(t *testing.T) {
	vars := func(mydomain string) *policy.ParseOptions {
		return &policy.ParseOptions{Vars: func(name string) (string, bool) {
			if name == "mydomain" {
				return mydomain, true
			}
			return "", false
		}}
	}
	p, err := policy.Parse(policy.DefaultSMTPPolicy, vars("example.com"))
	require.NoError(t, err)
	for _, q := range []query{
		{"example.com", opp},
		{"mail.example.com", opp},
		{"localhost", opp},
		{"[127.0.0.1]:10025", opp}, // content filter
		{"[::1]", opp},
		{"[192.0.2.1]", opp},
		{"example.net", enforce}, // E8: external destinations enforce
		{"notexample.com", enforce},
	} {
		assert.Equal(t, q.want, p.Lookup(q.nexthop), "%s", q.nexthop)
	}
	assert.Equal(t, "inline:{{example.com = opportunistic}, {.example.com = opportunistic}, {localhost = opportunistic}}, cidr:{{0.0.0.0/0 opportunistic}, {::/0 opportunistic}}, enforce", p.String())

	p, err = policy.Parse(policy.DefaultSMTPPolicy, vars("bücher.example"))
	require.NoError(t, err)
	assert.Equal(t, opp, p.Lookup("mx.bücher.example"))
	assert.Equal(t, opp, p.Lookup("xn--bcher-kva.example"))
	assert.Contains(t, p.String(), "{.xn--bcher-kva.example = opportunistic}")

	_, err = policy.Parse(policy.DefaultSMTPPolicy, vars("-π.example"))
	assert.ErrorIs(t, err, policy.ErrIDN)
	_, err = policy.Parse(policy.DefaultSMTPPolicy, nil)
	assert.ErrorIs(t, err, policy.ErrUndefined)

	p, err = policy.Parse(policy.DefaultLMTPPolicy, nil)
	require.NoError(t, err)
	assert.Equal(t, opp, p.Lookup("anything"))
}

func TestParseSyntax(t *testing.T) {
	vars := &policy.ParseOptions{Vars: func(name string) (string, bool) {
		switch name {
		case "mydomain":
			return "example.com", true
		case "internal":
			return "$mydomain", true // values are expanded too
		case "loop":
			return "$loop", true
		}
		return "", false
	}}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"atoms are case-insensitive", "OPPORTUNISTIC", "OPPORTUNISTIC"},
		{"commas and whitespace separate", "inline:{a=disable,b=opportunistic} ,\tenforce", "inline:{{a = disable}, {b = opportunistic}}, enforce"},
		{"continuation lines and comments", "inline:{\n  {a = disable}\n# a comment\n\n  {b = enforce} }\n  enforce", "inline:{{a = disable}, {b = enforce}}, enforce"},
		{"$name ${name} $(name)", "inline:{{$mydomain=disable}, {.${mydomain}=disable}, {x.$(mydomain) = enforce}}", "inline:{{example.com = disable}, {.example.com = disable}, {x.example.com = enforce}}"},
		{"recursive expansion", "inline:{{$internal=disable}}", "inline:{{example.com = disable}}"},
		{"$$ is a dollar", "inline:{{a = $$x}}", "inline:{{a = $$x}}"},
		{"regexp anchor dollar is written $$ (main.cf)", `regexp:{{/^a$$/ enforce}}`, `regexp:{{/^a$$/ enforce}}`},
		{"regexp flags and negation", `regexp:{{!/^A/m disable}, {%a/b% opportunistic}}`, `regexp:{{!/^A/m disable}, {/a\/b/ opportunistic}}`},
		{"unknown atom of any characters (Postfix: error at lookup)", "enforce, en=force, #, {enforce}", "enforce, en=force, #, {enforce}"},
		{"cidr single address", "cidr:{{192.0.2.1 disable}}", "cidr:{{192.0.2.1/32 disable}}"},
		{"domain_to_ascii inline key", "inline:{{.${domain_to_ascii{bücher.example}} = disable}}", "inline:{{.xn--bcher-kva.example = disable}}"},
		{"unsupported table kept", "hash:/etc/postfix/reqtls, lmdb:/x", "hash:/etc/postfix/reqtls, lmdb:/x"},
		{"monitor atom", "monitor", "monitor"},
		{"empty policy", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse(tt.in, vars)
			require.NoError(t, err)
			assert.Equal(t, tt.want, p.String())
			again, err := policy.Parse(p.String(), nil)
			require.NoError(t, err)
			assert.Equal(t, p.String(), again.String(), "round trip")
		})
	}
	_, err := policy.Parse("$loop", vars)
	assert.ErrorIs(t, err, policy.ErrTooLarge)

	p, err := policy.Parse(`regexp:{{!/^a\./ disable}, {/^A\.B$$/ opportunistic}}`, nil)
	require.NoError(t, err)
	assert.Equal(t, disable, p.Lookup("b.example"), "negated rule")
	assert.Equal(t, opp, p.Lookup("A.B"), "pattern tables are case-insensitive")
	assert.Equal(t, opp, p.Lookup("a.b"), "pattern tables are case-insensitive")
}

// TestParseMalformed is the malformed-input table: every input gets a
// typed error with a position, no panic.
func TestParseMalformed(t *testing.T) {
	many := strings.Repeat("{k = enforce} ", 100000)
	tests := []struct {
		name   string
		in     string
		err    error
		offset int
	}{
		{"unbalanced open brace", "inline:{{a = disable}", policy.ErrSyntax, 0},
		{"unbalanced close brace", "enforce }", policy.ErrSyntax, 8},
		{"= without key", "inline:{{ = disable}}", policy.ErrSyntax, 10},
		{"inline entry without =", "inline:{{a disable}}", policy.ErrSyntax, 9},
		{"duplicate inline key", "inline:{a=disable, A=enforce}", policy.ErrSyntax, 19},
		{"1 MB policy", strings.Repeat("enforce ", 1<<17) + "x", policy.ErrTooLarge, policy.MaxPolicySize},
		{"100 000 inline entries", "inline:{" + many + "}", policy.ErrTooLarge, policy.MaxPolicySize},
		{"deeply nested braces", strings.Repeat("{", 100000) + strings.Repeat("}", 100000), policy.ErrSyntax, 8},
		{"nested braces inside a table", "inline:{{{{{{{{{a=b}}}}}}}}}", policy.ErrSyntax, 15},
		{"U-label inline key (Postfix never matches it)", "inline:{{.bücher.example = disable}}", policy.ErrIDN, 9},
		{"lone $ (Postfix: empty macro name)", "regexp:{{/^a$/ enforce}}", policy.ErrSyntax, 12},
		{"$ at the end", "enforce $", policy.ErrSyntax, 8},
		{"table without name", "opportunistic:", policy.ErrSyntax, 0},
		{"bad table type", "é:{}", policy.ErrSyntax, 0},
		{"line not continued", "enforce\nopportunistic", policy.ErrSyntax, 8},
		{"control character", "enforce\x00", policy.ErrSyntax, 7},
		{"cidr host bits", "cidr:{{192.0.2.1/24 enforce}}", policy.ErrSyntax, 7},
		{"cidr bad prefix", "cidr:{{300.0.0.0/8 enforce}}", policy.ErrSyntax, 7},
		{"cidr rule without braces", "cidr:{192.0.2.0/24}", policy.ErrSyntax, 6},
		{"cidr without action", "cidr:{{192.0.2.0/24}}", policy.ErrSyntax, 7},
		{"regexp unterminated", "regexp:{{/abc enforce}}", policy.ErrSyntax, 9},
		{"regexp bad syntax", "regexp:{{/a(/ enforce}}", policy.ErrSyntax, 9},
		{"regexp unsupported flag", "regexp:{{/a/x enforce}}", policy.ErrSyntax, 12},
		{"regexp case-sensitive flag", "regexp:{{/a/i enforce}}", policy.ErrSyntax, 12},
		{"regexp without action", "regexp:{{/a/}}", policy.ErrSyntax, 12},
		{"regexp without delimiter", "regexp:{{abc enforce}}", policy.ErrSyntax, 9},
		{"undefined parameter", "inline:{{$nope = disable}}", policy.ErrUndefined, 9},
		{"unsupported expansion", "${mydomain:x}", policy.ErrSyntax, 0},
		{"empty expansion", "${}", policy.ErrSyntax, 0},
		{"unterminated domain_to_ascii", "${domain_to_ascii{x}", policy.ErrSyntax, 0},
		{"malformed inline U-label", "inline:{{-π.example = disable}}", policy.ErrIDN, 9},
		{"brace in inline key (fuzz crasher: did not print back)", "inline:{{{{{{{{=}}}}}}}0}", policy.ErrSyntax, 16},
		{"brace in inline key", "inline:{{a{x}=b}}", policy.ErrSyntax, 10},
		{"brace in inline value", "inline:{a={b}}", policy.ErrSyntax, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse(tt.in, nil)
			assert.Nil(t, p)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.err)
			var pe *policy.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.offset, pe.Offset)
			assert.True(t, strings.HasPrefix(err.Error(), "policy: "), err.Error())
			assert.Less(t, len(err.Error()), 300, "error text is bounded")
		})
	}
}

func TestBuild(t *testing.T) {
	in, err := policy.Inline(
		policy.Entry{Key: "Example.COM", Level: opp},
		policy.Entry{Key: ".bücher.example", Level: disable},
	)
	require.NoError(t, err)
	cidr, err := policy.CIDR(policy.CIDRRule{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Level: opp})
	require.NoError(t, err)
	re, err := policy.Regexp(policy.RegexpRule{Pattern: `^mx[0-9]+\.example\.net$`, Level: oppTLS},
		policy.RegexpRule{Pattern: "a/b", Level: disable, Negate: true})
	require.NoError(t, err)
	p := policy.New(in, cidr, re, policy.Atom(policy.Monitor))
	assert.Equal(t, `inline:{{example.com = opportunistic}, {.xn--bcher-kva.example = disable}}, cidr:{{10.0.0.0/8 opportunistic}}, regexp:{{/^mx[0-9]+\.example\.net$$/ opportunistic+starttls}, {!/a\/b/ disable}}, monitor`, p.String())
	assert.Equal(t, opp, p.Lookup("example.com"))
	assert.Equal(t, disable, p.Lookup("mx.bücher.example"))
	assert.Equal(t, opp, p.Lookup("[10.1.2.3]"))
	assert.Equal(t, oppTLS, p.Lookup("MX12.example.net"))
	assert.Equal(t, disable, p.Lookup("[192.0.2.1]"), "negated rule matches anything without a/b")

	parsed, err := policy.Parse(p.String(), nil)
	require.NoError(t, err)
	assert.Equal(t, p.String(), parsed.String())

	for _, bad := range []func() error{
		func() error { _, err := policy.Inline(policy.Entry{Key: "", Level: opp}); return err },
		func() error { _, err := policy.Inline(policy.Entry{Key: "a b", Level: opp}); return err },
		func() error {
			_, err := policy.Inline(policy.Entry{Key: "a", Level: opp}, policy.Entry{Key: "A", Level: opp})
			return err
		},
		func() error {
			_, err := policy.CIDR(policy.CIDRRule{Prefix: netip.MustParsePrefix("10.0.0.1/8")})
			return err
		},
		func() error { _, err := policy.CIDR(policy.CIDRRule{}); return err },
		func() error { _, err := policy.Regexp(policy.RegexpRule{Pattern: "a("}); return err },
		func() error { _, err := policy.Regexp(policy.RegexpRule{Pattern: "a}"}); return err },
	} {
		err := bad()
		assert.ErrorIs(t, err, policy.ErrSyntax)
	}
	_, err = policy.Inline(policy.Entry{Key: "-π.example"})
	assert.ErrorIs(t, err, policy.ErrIDN)
}

func TestLookupAllocs(t *testing.T) {
	p, err := policy.Parse(policy.DefaultSMTPPolicy, &policy.ParseOptions{Vars: func(string) (string, bool) { return "example.com", true }})
	require.NoError(t, err)
	hops := []string{"mx.Example.COM", "[192.0.2.1]:25", "example.net", "a.b.c.d.example.org",
		"mx.example.com.", "[IPv6:2001:db8::1]:25", "::ffff:192.0.2.7", "[ ]", strings.Repeat("a", 300)}
	allocs := testing.AllocsPerRun(100, func() {
		for _, h := range hops {
			_ = p.Lookup(h)
		}
	})
	assert.Zero(t, allocs)
}

func ExampleParse() {
	vars := &policy.ParseOptions{Vars: func(name string) (string, bool) {
		return map[string]string{"mydomain": "example.com"}[name], name == "mydomain"
	}}
	p, err := policy.Parse(policy.DefaultSMTPPolicy, vars)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, nexthop := range []string{"mail.example.com", "[192.0.2.25]:25", "example.net"} {
		fmt.Println(nexthop, p.Lookup(nexthop))
	}
	// Output:
	// mail.example.com opportunistic
	// [192.0.2.25]:25 opportunistic
	// example.net enforce
}

func ExampleNew() {
	internal, _ := policy.Inline(policy.Entry{Key: ".example.com", Level: policy.Opportunistic})
	p := policy.New(internal, policy.Atom(policy.OpportunisticSTARTTLS))
	fmt.Println(p)
	fmt.Println(p.Lookup("mx.example.com"), p.Lookup("mx.example.net"))
	// Output:
	// inline:{{.example.com = opportunistic}}, opportunistic+starttls
	// opportunistic opportunistic+starttls
}
