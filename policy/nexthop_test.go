package policy_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

// spellingPolicy is the policy of issue 12 item 6, with cidr rules and an
// IDN key added. Its fallback is weaker than every rule, so a spelling that
// misses its rule shows up as opportunistic.
const spellingPolicy = "inline:{ {bank.example = enforce}, {xn--bcher-kva.example = enforce}, {.partner.example = opportunistic+starttls} }, " +
	"cidr:{ {192.0.2.0/24 enforce}, {2001:db8::/32 enforce} }, opportunistic"

// spellings are groups of next hops that name the same destination: every
// member of a group must look up as the first one does (RFC 8689 Section
// 4.2.1 enforcement must not depend on how the destination is written).
var spellings = [][]string{
	{"bank.example", "BANK.Example", "bank.example.", "[bank.example]", "[bank.example.]", "[BANK.EXAMPLE.]:smtp",
		"bank.example:25", "bank.example.:25", "[bank.example]:25", "[bank.example]:", "bank.example:"},
	{"mx1.bank.example", "mx1.bank.example.", "[MX1.bank.example.]:25"},
	{"x.partner.example", "X.Partner.Example.", "[x.partner.example.]"},
	{"bücher.example", "BÜCHER.example", "bücher.example.", "xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE.",
		"[bücher.example]:25", "bücher\u3002example"},
	{"192.0.2.7", "[192.0.2.7]", "[192.0.2.7]:25", "192.0.2.7:25", "::ffff:192.0.2.7", "[::ffff:192.0.2.7]",
		"[IPv6:::ffff:192.0.2.7]", "[ipv6:::FFFF:c000:0207]:25", "::ffff:c000:207", "[IPV6:0:0:0:0:0:ffff:192.0.2.7]"},
	{"2001:db8::1", "[2001:db8::1]", "[IPv6:2001:db8::1]", "[IPV6:2001:DB8:0:0:0:0:0:1]:25", "2001:0db8::0001", "[ipv6:2001:db8::1]:smtp"},
	{"[198.51.100.1]", "198.51.100.1", "[IPv6:::ffff:198.51.100.1]"},
	{longName, strings.ToUpper(longName), longName + ".", "[" + longName + ".]:25"},
}

// longName has the longest label (63 bytes) and the longest name (253).
var longName = strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 55) + ".x0_-y"

// malformedNextHops cannot be normalised unambiguously; each must look up
// as enforce whatever the policy says, like Postfix's malformed IDN.
var malformedNextHops = []string{
	"", "[", "]", "[]", "[ ]", "[bank.example", "bank.example]", "[bank.example]x", "[bank.example]]", "[[bank.example]]",
	"[bank.example]:2 5", "bank.example:25x", "bank.example:99999", "bank.example:0", "bank.example:-", "bank.example:a:b",
	"[bank.example:25]", "[IPv6:garbage]", "[IPv6:]", "[IPv6:192.0.2.7]", "[IPv6:bank.example]", "[IPv6:2001:db8::1%eth0]",
	"fe80::1%eth0", "[fe80::1%25eth0]", "2001:db8::1::2", "bank .example", "bank.example ", " bank.example", "\tbank.example",
	"bank\x00.example", "bank.example\r\n", "bank..example", ".bank.example", "bank.example..", ".", "..", "-bank.example",
	"bank-.example", "bank.-example", strings.Repeat("a", 64) + ".example", "x" + longName, longName + "..",
	"1.2.3", "192.000.002.007", "192.0.2.256", "0x7f.0.0.1", "123", "xn--a.example", "xn--cafe-yvc.example",
	"foo.-π.example", "\xff.example", "bank/example", "bank@example", "bank*.example", "*.bank.example",
}

// TestLookupSpellings is issue 12 item 6: a spelling variant of a next hop
// (trailing dot, brackets, port, case, A-label or U-label, IPv4-mapped
// IPv6, "[IPv6:...]" address literal) selects the same level as the plain
// form, so it can never select a weaker one.
func TestLookupSpellings(t *testing.T) {
	p, err := policy.Parse(spellingPolicy, nil)
	require.NoError(t, err)
	want := map[string]policy.Level{
		"bank.example":      enforce,
		"mx1.bank.example":  opp, // Postfix: a bare key matches no subdomain; ".bank.example" would
		"x.partner.example": oppTLS,
		"bücher.example":    enforce,
		"192.0.2.7":         enforce,
		"2001:db8::1":       enforce,
		"[198.51.100.1]":    opp,
		longName:            opp,
	}
	for _, group := range spellings {
		for _, s := range group {
			assert.Equal(t, want[group[0]], p.Lookup(s), "%q (a spelling of %q)", s, group[0])
		}
	}
}

// TestLookupMalformed: a next hop that cannot be normalised unambiguously
// never falls through to a weaker rule; it is enforce, whatever the policy.
func TestLookupMalformed(t *testing.T) {
	for _, pol := range []string{spellingPolicy, "disable", "inline:{{bank.example = disable}}, cidr:{{0.0.0.0/0 disable}, {::/0 disable}}, regexp:{{/./ disable}}, disable"} {
		p, err := policy.Parse(pol, nil)
		require.NoError(t, err)
		for _, s := range malformedNextHops {
			assert.Equal(t, enforce, p.Lookup(s), "%q under %q", s, pol)
		}
	}
}

// TestLookupMappedAddress: an IPv4 address and its IPv4-mapped IPv6 form
// are one destination, looked up as the IPv4 address; a cidr: rule for an
// IPv4-mapped prefix is the IPv4 rule it means. IPv6 rules such as "::/0"
// match neither spelling (Postfix matches the IPv4 spelling the same way).
func TestLookupMappedAddress(t *testing.T) {
	for _, tt := range []struct {
		policy string
		want   policy.Level
	}{
		{"cidr:{{192.0.2.0/24 enforce}}, opportunistic", enforce},
		{"cidr:{{::/0 disable}}, enforce", enforce},
		{"cidr:{{0.0.0.0/0 opportunistic}, {::/0 opportunistic}}, enforce", opp}, // Postfix's default
		{"inline:{{192.0.2.7 = disable}}, enforce", disable},
		{"regexp:{{/^192\\.0\\.2\\.7$$/ disable}}, enforce", disable},
	} {
		p, err := policy.Parse(tt.policy, nil)
		require.NoError(t, err)
		for _, s := range []string{"192.0.2.7", "[::ffff:192.0.2.7]", "[IPv6:::ffff:c000:207]:25"} {
			assert.Equal(t, tt.want, p.Lookup(s), "%q under %q", s, tt.policy)
		}
	}
	// Postfix matches IPv4-mapped keys and prefixes against IPv6 next hops
	// only, which Lookup passes on as IPv4: Parse refuses them.
	for _, s := range []string{"cidr:{{::ffff:192.0.2.0/120 enforce}}", "cidr:{{::ffff:0:0/96 disable}}", "inline:{{::ffff:192.0.2.7 = disable}}"} {
		_, err := policy.Parse(s, nil)
		assert.Error(t, err, s)
	}
	p, err := policy.Parse("cidr:{{::fffe:0:0/95 disable}}", nil)
	require.NoError(t, err)
	assert.Equal(t, "cidr:{{::fffe:0:0/95 disable}}", p.String())
	c, err := policy.CIDR(policy.CIDRRule{Prefix: netip.MustParsePrefix("::ffff:10.0.0.0/104"), Level: disable})
	require.NoError(t, err)
	assert.Equal(t, "cidr:{{10.0.0.0/8 disable}}", c.String())
}

// TestInlineKeysNormalised: Parse accepts an inline key only in the form
// Postfix compares (folded to lower case): a key with a trailing dot, a
// non-canonical IPv6 address, an IPv4-mapped address or a U-label matches
// no normalised next hop in Postfix, so it is refused with the form to
// write (issue 18 part 1). Inline, from Go values, normalises them. A key
// no next hop can ever match is refused rather than left as a rule that
// silently never applies.
func TestInlineKeysNormalised(t *testing.T) {
	p, err := policy.Parse("inline:{{Bank.Example = enforce}, {.Partner.Example = enforce}, {2001:db8::1 = enforce}, {xn--bcher-kva.example = enforce}}, opportunistic", nil)
	require.NoError(t, err)
	assert.Equal(t, "inline:{{bank.example = enforce}, {.partner.example = enforce}, {2001:db8::1 = enforce}, {xn--bcher-kva.example = enforce}}, opportunistic", p.String())
	for _, s := range []string{"bank.example", "mx.partner.example", "[IPv6:2001:db8::1]", "bücher.example"} {
		assert.Equal(t, enforce, p.Lookup(s), s)
	}
	for key, want := range map[string]string{"Bank.Example.": "bank.example", "2001:DB8:0::1": "2001:db8::1", "::FFFF:192.0.2.7": "192.0.2.7", "bücher.example": "xn--bcher-kva.example"} {
		_, err := policy.Parse("inline:{{"+key+" = enforce}}", nil)
		assert.ErrorIs(t, err, policy.ErrIDN, key)
		in, err := policy.Inline(policy.Entry{Key: key, Level: enforce})
		require.NoError(t, err, key)
		assert.Equal(t, "inline:{{"+want+" = enforce}}", in.String())
	}
	for _, key := range []string{".0.2.1", "[bank.example]", "bank.example:25", "bank..example", "-bank.example", "..bank", ".", "1.2.3", "fe80::1%eth0", "bank_.example:x", "a*b"} {
		_, err := policy.Parse("inline:{{"+key+" = enforce}}", nil)
		assert.ErrorIs(t, err, policy.ErrIDN, key)
		_, err = policy.Inline(policy.Entry{Key: key, Level: enforce})
		assert.ErrorIs(t, err, policy.ErrIDN, key)
	}
}

// TestRegexpSeesNormalisedName: pattern tables match the normalised name,
// and a case-sensitive rule (Postfix's "i" flag) is refused: it would make
// "BANK.example" and "bank.example" select different levels.
func TestRegexpSeesNormalisedName(t *testing.T) {
	p, err := policy.Parse(`regexp:{{/^bank\.example$$/ enforce}}, opportunistic`, nil)
	require.NoError(t, err)
	for _, s := range spellings[0] {
		assert.Equal(t, enforce, p.Lookup(s), s)
	}
	_, err = policy.Parse(`regexp:{{/^bank\.example$$/i enforce}}, opportunistic`, nil)
	assert.ErrorIs(t, err, policy.ErrSyntax)
}

// TestRegexpRefusesUnsetFlags: a rule built in Go whose inline options turn
// caseless matching off ("(?-i)") would never match the lower-case next hop,
// so the caller's enforce rule would be dropped for the weaker level after
// it. Regexp refuses it as Parse refuses it in a pcre: table.
func TestRegexpRefusesUnsetFlags(t *testing.T) {
	for _, pat := range []string{`(?-i)^BANK\.example$`, `^(?i-s:bank)\.example$`, `x|(?^)BANK`} {
		_, err := policy.Regexp(policy.RegexpRule{Pattern: pat, Level: policy.Enforce})
		assert.ErrorIs(t, err, policy.ErrSyntax, pat)
	}
	for _, pat := range []string{`^bank\.example$`, `^(?i:bank)\.example$`, `^a\(?-i\)$`, `^(?:a-b)$`} {
		_, err := policy.Regexp(policy.RegexpRule{Pattern: pat, Level: policy.Enforce})
		assert.NoError(t, err, pat)
	}
	item, err := policy.Regexp(policy.RegexpRule{Pattern: `^bank\.example$`, Level: policy.Enforce})
	require.NoError(t, err)
	assert.Equal(t, policy.Enforce, policy.New(item, policy.Atom(policy.Disable)).Lookup("BANK.example"))
}
