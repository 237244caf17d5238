package policy_test

import (
	"errors"
	"testing"

	"github.com/requiretls/go-requiretls/policy"
)

var fuzzSeeds = []string{
	"inline:{{.example=disable},{.foo.example=enforce},{bar.foo.example=opportunistic+starttls}}, opportunistic",
	"nonsense, inline:{{a=b}}",
	"fail:whatever enforce",
	`regexp:{{/^foo\.example$/ enforce}}, opportunistic`,
	"inline:{{foo.example = hash:/no/where}}",
	"inline:{{foo.example = foo bar}}",
	"inline:{{foo.xn--1xa.example = opportunistic}} disable",
	"inline:{{example.com=opportunistic}, {.example.com=opportunistic}, {localhost=opportunistic}}, cidr:{{0.0.0.0/0 opportunistic}, {::/0 opportunistic}}, enforce",
	"inline:{\n  {a = disable}\n# c\n  {b = enforce} }\n  monitor",
	`regexp:{{!/^A/i disable}, {#a/b# opportunistic}}, cidr:{{192.0.2.1 disable}}`,
	"inline:{{a = $$x}}, ${x}, $(y), ${domain_to_ascii{bücher.example}}",
	"inline:{{{{{{{{{a=b}}}}}}}}}",
	"enforce }",
}

// fuzzVars defines $x as "ok" and nothing else, so expansion is exercised.
var fuzzVars = &policy.ParseOptions{Vars: func(name string) (string, bool) { return "ok", name == "x" }}

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
		again, err := policy.Parse(out, nil)
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
// and that the implicit default is enforce.
func FuzzLookup(f *testing.F) {
	for _, s := range fuzzSeeds {
		for _, h := range []string{"foo.example", "x.foo.π.example", "foo.-π.example", "[192.0.2.1]:25", "[2001:db8::1]", "other:25"} {
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
	})
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
