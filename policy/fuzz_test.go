package policy_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/requiretls/go-requiretls/policy"
)

var fuzzSeeds = []string{
	"inline:{{.example=disable},{.foo.example=enforce},{bar.foo.example=opportunistic+starttls}}, opportunistic",
	"nonsense, inline:{{a=b}}",
	"fail:whatever enforce",
	`regexp:{{/^foo\.example$$/ enforce}}, opportunistic`,
	"inline:{{foo.example = hash:/no/where}}",
	"inline:{{foo.example = foo bar}}",
	"inline:{{foo.xn--1xa.example = opportunistic}} disable",
	"inline:{{example.com=opportunistic}, {.example.com=opportunistic}, {localhost=opportunistic}}, cidr:{{0.0.0.0/0 opportunistic}, {::/0 opportunistic}}, enforce",
	"inline:{\n  {a = disable}\n# c\n  {b = enforce} }\n  monitor",
	`regexp:{{!/^A/m disable}, {#a/b# opportunistic}}, cidr:{{192.0.2.1 disable}}`,
	"inline:{{a = $$x}}, ${x}, $(y), ${domain_to_ascii{bücher.example}}",
	"inline:{{{{{{{{{a=b}}}}}}}}}",
	"enforce }",
	"static:{ disable }, static:opportunistic, static:{foo bar}",
	"cidr:{{!192.0.2.0/24 disable}, {! ! 2001:db8::/32 opportunistic}}",
	`pcre:{{/^foo\.example$$/msA disable}, {!/(?=x)/ enforce}, {/\Qa.\E/ opportunistic}}`,
	"texthash:th, cidr:cidr, regexp:regexp, pcre:pcre, texthash:th-dup, hash:/x",
	"#, {enforce}, en=force, $",
}

// fuzzVars defines $x as "ok" and nothing else, so expansion is exercised,
// and reads the table files of the table tests.
var fuzzVars = &policy.ParseOptions{
	Vars:     func(name string) (string, bool) { return "ok", name == "x" },
	ReadFile: withFiles.ReadFile,
}

// FuzzParse checks that Parse never panics, that every error is typed,
// and that a parsed policy prints to a string that parses back to the same
// policy (same text, same lookups).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "a.foo.example")
	}
	f.Fuzz(func(t *testing.T, s, nexthop string) {
		p, err := policy.Parse(s, fuzzVars)
		if err != nil {
			var pe *policy.ParseError
			if !errors.As(err, &pe) || pe.Unwrap() == nil {
				t.Fatalf("untyped error %v", err)
			}
			if p != nil {
				t.Fatal("policy with error")
			}
			return
		}
		out := p.String()
		again, err := policy.Parse(out, fuzzVars)
		if err != nil {
			t.Fatalf("printed policy %q does not parse: %v", out, err)
		}
		if again.String() != out {
			t.Fatalf("round trip: %q != %q", again.String(), out)
		}
		if a, b := p.Lookup(nexthop), again.Lookup(nexthop); a != b {
			t.Fatalf("lookup %q: %v != %v after round trip", nexthop, a, b)
		}
	})
}

// FuzzLookup checks that Lookup never panics and returns a valid level,
// that the implicit default is enforce, and that spelling variants of a
// next hop (case, trailing dot, brackets, port, "[IPv6:...]",
// IPv4-mapped IPv6) select the same level: a variant is either the same
// destination and looks up the same, or it is malformed and looks up as
// enforce (issue 12 item 6).
func FuzzLookup(f *testing.F) {
	hops := []string{"foo.example", "x.foo.π.example", "foo.-π.example", "[192.0.2.1]:25", "[2001:db8::1]", "other:25"}
	for _, g := range spellings {
		hops = append(hops, g...)
	}
	hops = append(hops, malformedNextHops...)
	for _, s := range append(fuzzSeeds, spellingPolicy, `regexp:{{/^bank\.example$$/ enforce}}, cidr:{{192.0.2.0/24 enforce}}, disable`) {
		for _, h := range hops {
			f.Add(s, h)
		}
	}
	f.Fuzz(func(t *testing.T, s, nexthop string) {
		if l := policy.New().Lookup(nexthop); l != policy.Enforce {
			t.Fatalf("empty policy gave %v", l)
		}
		p, err := policy.Parse(s, fuzzVars)
		if err != nil {
			return
		}
		l := p.Lookup(nexthop)
		if _, err := policy.ParseLevel(l.String()); err != nil {
			t.Fatalf("invalid level %v", l)
		}
		same := func(v string) {
			if got := p.Lookup(v); got != l {
				t.Fatalf("%q gives %v, its spelling %q gives %v", nexthop, l, v, got)
			}
		}
		sameOrMalformed := func(v string) {
			if got := p.Lookup(v); got != l && got != policy.Enforce {
				t.Fatalf("%q gives %v, its spelling %q gives %v", nexthop, l, v, got)
			}
		}
		same(asciiUpper(nexthop))
		for _, v := range []string{nexthop + ".", "[" + nexthop + "]", "[" + nexthop + "]:25", nexthop + ":smtp"} {
			sameOrMalformed(v)
		}
		if a, err := netip.ParseAddr(nexthop); err == nil && a.Zone() == "" {
			same("[" + nexthop + "]:25")
			if a.Is4() {
				same("::ffff:" + nexthop)
				same("[IPv6:::ffff:" + nexthop + "]")
			} else {
				same("[IPv6:" + nexthop + "]")
			}
		} else if l != policy.Enforce && !strings.ContainsAny(nexthop, "[]:") && !strings.HasSuffix(nexthop, ".") && utf8.RuneCountInString(nexthop) == len(nexthop) {
			// An ASCII name that looked up (IDNA can map other characters
			// to "."): the same name in other spellings.
			same(nexthop + ".")
			same("[" + nexthop + ".]:25")
			same(nexthop + ":25")
		}
	})
}

// asciiUpper upper-cases ASCII letters only: Unicode case mapping can
// change a name ("ß" becomes "SS").
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// FuzzParseLevel checks the atom round trip.
func FuzzParseLevel(f *testing.F) {
	for _, s := range []string{"enforce", "OPPORTUNISTIC+starttls", "opportunistic", "disable", "monitor", "error", "nonsense", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := policy.ParseLevel(s)
		if err != nil {
			if !errors.Is(err, policy.ErrUnknownLevel) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if again, err := policy.ParseLevel(l.String()); err != nil || again != l {
			t.Fatalf("round trip %q -> %v -> %v, %v", s, l, again, err)
		}
	})
}
