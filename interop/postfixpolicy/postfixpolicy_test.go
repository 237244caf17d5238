//go:build interop

package postfixpolicy

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/idna"

	"github.com/requiretls/go-requiretls/interop/internal/postfixsrc"
	"github.com/requiretls/go-requiretls/policy"
)

const generated = 5000

// pcase is one policy string with the parameters it may refer to, the
// files its tables may name, and its next-hop queries.
type pcase struct {
	policy  string
	vars    map[string]string
	files   map[string]string // base name in the case's folder -> content
	queries []string
}

// verdict is what Postfix did with a case.
type verdict struct {
	refused  string // a fatal error, or a main.cf error, "" if it parsed
	warnings []string
	levels   []policy.Level
}

// TestPostfixPolicyDifferential (issue 14 item 7, issue 18 part 1): every
// case goes through Postfix 3.11.6 and through policy.Parse + Lookup; each
// disagreement must be one of the divergences the policy package documents.
func TestPostfixPolicyDifferential(t *testing.T) {
	harness := buildHarness(t)
	dir := t.TempDir()
	cases := append(handWritten(dir), generate(dir, generated, 20261202)...)
	for i := range cases {
		cases[i].queries = withNormalForms(cases[i].queries)
	}
	pf := runHarness(t, harness, dir, cases)

	classes := map[string]int{}
	queries, parsed, same := 0, 0, 0
	for i, c := range cases {
		v := pf[i]
		queries += len(c.queries)
		p, err := policy.Parse(c.policy, options(dir, c))
		switch {
		case err != nil && v.refused != "":
			classes["agree: both refuse"]++
			continue
		case err != nil:
			classes[refusalClass(err, v)]++
			continue
		case v.refused != "" && failsEveryLookup(p, c.queries):
			classes["divergence: table Postfix cannot open at start-up (fatal): every lookup is error"]++
			continue
		case v.refused != "":
			t.Errorf("%q: Postfix refuses it (%s), policy.Parse accepts it as %q", c.policy, v.refused, p)
			continue
		}
		parsed++
		agree := true
		for j, q := range c.queries {
			ours, theirs := p.Lookup(q), v.levels[j]
			if ours == theirs {
				same++
				continue
			}
			agree = false
			class := lookupClass(q, ours, theirs, c.queries, v.levels)
			if class == "" {
				t.Errorf("%q: next hop %q: Postfix %v, policy.Lookup %v (Postfix warnings %q)", c.policy, q, theirs, ours, v.warnings)
				continue
			}
			classes[class]++
		}
		if agree {
			classes["agree: same verdict for every query"]++
		}
	}
	names := make([]string, 0, len(classes))
	for k := range classes {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Printf("postfixpolicy: %d policy strings (%d hand-written, %d generated), %d next-hop queries through Postfix 3.11.6 smtp_reqtls_policy and policy.Parse+Lookup\n",
		len(cases), len(cases)-generated, generated, queries)
	fmt.Printf("postfixpolicy: %d policies parse on both sides, with %d lookups equal; by class (policies, or lookups for lookup divergences):\n", parsed, same)
	for _, k := range names {
		fmt.Printf("postfixpolicy:   %6d  %s\n", classes[k], k)
	}
	if parsed < len(cases)/4 || same < queries/4 {
		t.Fatalf("only %d of %d policies parse on both sides, %d of %d lookups equal: the corpus tests too little", parsed, len(cases), same, queries)
	}
}

// options gives Parse the case's parameters and its files, read from the
// folder the harness reads them from.
func options(dir string, c pcase) *policy.ParseOptions {
	return &policy.ParseOptions{
		Vars: func(name string) (string, bool) {
			v, ok := c.vars[name]
			return v, ok
		},
		ReadFile: os.ReadFile,
	}
}

// refusalClass names why Parse refused a policy that Postfix accepted: a
// deliberate divergence documented in the policy package (fail closed).
func refusalClass(err error, v verdict) string {
	var pe *policy.ParseError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Msg
	}
	if strings.HasPrefix(msg, "in ") {
		msg = "in a table file: " + msg[strings.Index(msg, ": ")+2:]
	}
	msg = quoted.ReplaceAllString(msg, "…")
	how := "Postfix accepts"
	if len(v.warnings) > 0 {
		how = "Postfix warns and drops the rule"
	}
	return "divergence: refused by Parse, " + how + ": " + strings.TrimSpace(msg)
}

var quoted = regexp.MustCompile(`"(\\.|[^"\\])*"`)

// failsEveryLookup reports whether p defers every well-formed next hop.
func failsEveryLookup(p *policy.Policy, qs []string) bool {
	for _, q := range qs {
		if l := p.Lookup(q); l != policy.ConfigError && policy.New(policy.Atom(policy.Disable)).Lookup(q) != policy.Enforce {
			return false
		}
	}
	return true
}

// lookupClass names a documented lookup divergence, or "" for a defect.
func lookupClass(q string, ours, theirs policy.Level, qs []string, pf []policy.Level) string {
	if ours == policy.Monitor {
		ours = policy.ConfigError // for Postfix an unknown action
		if theirs == ours {
			return "divergence: monitor is our atom (Postfix: unknown action, error)"
		}
	}
	if ours == policy.Enforce && policy.New(policy.Atom(policy.Disable)).Lookup(q) == policy.Enforce {
		return "divergence: malformed next hop gives enforce"
	}
	n := normalForm(q)
	for i, o := range qs {
		if o == n && n != q && pf[i] == ours {
			return "divergence: next hop normalised before lookup"
		}
	}
	return ""
}

// normalForm is a next hop as policy.Lookup sees it: lower case, no
// trailing dot, A-labels, canonical IP address text.
func normalForm(q string) string {
	if a, err := netip.ParseAddr(q); err == nil {
		return a.Unmap().String()
	}
	s := strings.TrimSuffix(q, ".")
	if a, err := idna.Lookup.ToASCII(s); err == nil {
		s = a
	}
	return strings.ToLower(s)
}

// withNormalForms adds each query's normal form, so that a lookup
// difference caused by normalisation shows as such.
func withNormalForms(qs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, q := range qs {
		for _, s := range []string{q, normalForm(q)} {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// postfixTree finds the tarball and the tree interop/run built from it.
func postfixTree(t *testing.T) string {
	tarball := postfixsrc.Tarball(t, "postfixpolicy")
	root := "/var/tmp/go-requiretls-postfix-3.11.6-" + postfixsrc.TarballSHA256[:12]
	if sbin := os.Getenv("INTEROP_POSTFIX_SBIN"); sbin != "" {
		root = filepath.Dir(sbin)
	}
	tree := filepath.Join(root, "src", "postfix")
	_, err := os.Stat(filepath.Join(tree, "lib", "libutil.a"))
	require.NoError(t, err, "the Postfix tree built from %s is missing: run interop/run, which builds it", tarball)
	return tree
}

// buildHarness compiles testdata/harness.c with Postfix's policy module,
// its dict_open() and PCRE table (with PCRE2, which the interop/run build
// may lack) and its libraries.
func buildHarness(t *testing.T) string {
	t.Helper()
	tree := postfixTree(t)
	_, err := os.Stat("/usr/include/pcre2.h")
	require.NoError(t, err, "PCRE2 headers missing: apt-get install libpcre2-dev")
	return postfixsrc.Compile(t, "postfixpolicy", "-O1", "-w", "-DLINUX6", "-DHAS_PCRE=2", "-I", tree+"/include", "-I", tree+"/src/smtp",
		tree+"/src/smtp/smtp_reqtls_policy.c", tree+"/src/util/dict_open.c", tree+"/src/util/dict_pcre.c",
		tree+"/lib/libglobal.a", tree+"/lib/libutil.a",
		"-lpcre2-8", "-lssl", "-lcrypto", "-ldb", "-lnsl", "-lresolv", "-ldl", "-licui18n", "-licuuc", "-licudata")
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

// runHarness writes every case's files under dir and asks Postfix.
func runHarness(t *testing.T, bin, dir string, cases []pcase) []verdict {
	t.Helper()
	var in bytes.Buffer
	for _, c := range cases {
		for name, content := range c.files {
			path := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			// Postfix reads a table file again, after a second, when it
			// was changed in the second it was opened.
			past := time.Now().Add(-time.Hour)
			require.NoError(t, os.Chtimes(path, past, past))
		}
		fmt.Fprintf(&in, "P %s\n", hexOf(c.policy))
		for k, v := range c.vars {
			fmt.Fprintf(&in, "V %s %s\n", hexOf(k), hexOf(v))
		}
		for _, q := range c.queries {
			fmt.Fprintf(&in, "Q %s\n", hexOf(q))
		}
		in.WriteString("E\n")
	}
	out := postfixsrc.Run(t, bin, &in)
	var vs []verdict
	v := verdict{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		tag, arg, _ := strings.Cut(sc.Text(), " ")
		text, _ := hex.DecodeString(arg)
		switch tag {
		case "W":
			v.warnings = append(v.warnings, string(text))
		case "L":
		case "F", "X":
			v.refused = string(text)
		case "R":
			for _, f := range strings.Fields(arg) {
				n, err := strconv.Atoi(f)
				require.NoError(t, err)
				v.levels = append(v.levels, map[int]policy.Level{3: policy.Enforce, 2: policy.OpportunisticSTARTTLS,
					1: policy.Opportunistic, 0: policy.Disable, -1: policy.ConfigError}[n])
			}
		case "D":
			if arg != "0" && v.refused == "" {
				v.refused = "exit status " + arg
			}
			if v.refused == "" {
				require.Len(t, v.levels, len(cases[len(vs)].queries), "case %q", cases[len(vs)].policy)
			}
			vs = append(vs, v)
			v = verdict{}
		}
	}
	require.Len(t, vs, len(cases), "one verdict per case")
	return vs
}

// Next hops every case is asked about, besides its own.
var commonQueries = []string{
	"foo.example", "x.foo.example", "bar.foo.example", "other", "example", "FOO.Example", "foo.example.",
	"192.0.2.1", "192.0.2.200", "10.1.2.3", "2001:db8::1", "2001:DB8:0::1", "::ffff:192.0.2.1",
	"foo.xn--1xa.example", "foo.\u03c0.example", "x.foo.\u03c0.example", "foo.-\u03c0.example",
	"b\u00fccher.example", "xn--bcher-kva.example", "a..b", "1.2.3", "",
}

func queries(extra ...string) []string {
	return append(append([]string(nil), commonQueries...), extra...)
}

// handWritten are the cases of Postfix's smtp_reqtls_policy_test.c
// (written as main.cf values: "$$" for a regexp anchor), and one or more
// for each feature and each error.
func handWritten(dir string) []pcase {
	parents := "inline:{{.example = disable},{.foo.example = enforce},{bar.foo.example = opportunistic+starttls}}"
	vars := map[string]string{"mydomain": "foo.example", "relay": "bar.foo.example", "nested": "$mydomain", "u": "b\u00fccher.example"}
	var out []pcase
	add := func(s string) { out = append(out, pcase{policy: s, vars: vars, queries: queries()}) }
	for _, s := range []string{
		// smtp_reqtls_policy_test.c
		parents + ",opportunistic",
		"inline:{{.foo.example = enforce},{bar.foo.example = opportunistic+starttls}},nonsense",
		"nonsense,inline:{{.foo.example = enforce},{bar.foo.example = debug}},nonsense",
		"fail:whatever enforce",
		`regexp:{{/^foo\.example$$/ enforce}}, opportunistic`,
		`regexp:{{/^foo\.example$$/ opportunistic+starttls}}`,
		"inline:{{foo.example = hash:/no/where}}",
		"inline:{{foo.example = foo bar}}",
		"inline:{{foo.xn--1xa.example = opportunistic}} enforce",
		"inline:{{foo.xn--1xa.example = opportunistic}} disable",
		// atoms
		"enforce", "DISABLE", "Opportunistic+STARTTLS", "opportunistic", "error", "monitor", "nonsense",
		"disable enforce", "disable,enforce", " , disable ,, ", "",
		// inline
		"inline:{foo.example=disable}", "inline:{ {foo.example = disable} , {.example=opportunistic} }",
		"inline:{{FOO.Example=disable}}", "inline:{{foo.example.=disable}}", "inline:{{192.0.2.1=disable}}",
		"inline:{{2001:db8::1=disable}}", "inline:{{2001:DB8:0::1=disable}}", "inline:{{::ffff:192.0.2.1=disable}}",
		"inline:{{example=disable}}", "inline:{{.=disable}}", "inline:{{xn--bcher-kva.example=disable}}",
		"inline:{{b\u00fccher.example=disable}}", "inline:{{foo.example=disable},{foo.example=enforce}}",
		"inline:{{foo.example=}}", "inline:{{=disable}}", "inline:{{foo.example}}", "inline:{{a=b}",
		"inline:{{foo.example=disable}} trailing}", "inline:{{foo.example={disable}}}",
		// parent matching
		"inline:{{.example=disable}}", "inline:{{.foo.example=disable},{example=enforce}}, opportunistic",
		// cidr
		"cidr:{{192.0.2.0/24 disable}}", "cidr:{{192.0.2.1 disable}, {0.0.0.0/0 opportunistic}}",
		"cidr:{{192.0.2.1/24 disable}}", "cidr:{{2001:db8::/32 disable}}", "cidr:{{::ffff:192.0.2.0/120 disable}}",
		"cidr:{{::/0 disable}}", "cidr:{{!192.0.2.0/24 disable}}", "cidr:{{! ! 192.0.2.0/24 disable}}",
		"cidr:{{192.0.2.0/24}}", "cidr:{192.0.2.0/24 disable}", "cidr:{{[192.0.2.1] disable}}", "cidr:{{bogus disable}}",
		"cidr:{{192.0.2.0/24 disable}, {if 10.0.0.0/8}, {10.1.0.0/16 opportunistic}, {endif}}",
		// regexp
		"regexp:{{/example/ disable}}", "regexp:{{!/^bar/ disable}}", "regexp:{{/FOO/ disable}}",
		"regexp:{{/FOO/i disable}}", "regexp:{{/foo/m disable}}", "regexp:{{/foo/x disable}}", "regexp:{{/foo/q disable}}",
		"regexp:{{#foo#  disable}}", `regexp:{{/a\/b/ disable}}`, "regexp:{{/(/ disable}}", "regexp:{{/foo/}}",
		"regexp:{{/foo disable}}", `regexp:{{/^[[:alpha:]]+\.example$$/ disable}}`, `regexp:{{/\.example$$/ disable}}`,
		`regexp:{{/^(foo|bar)\./ disable}}`, `regexp:{{/^(.)\1/ disable}}`, `regexp:{{/\<foo/ disable}}`,
		`regexp:{{/\d/ disable}}`,
		// pcre
		"pcre:{{/example/ disable}}", `pcre:{{/^foo\.example$$/ disable}}`, "pcre:{{!/^bar/ disable}}",
		"pcre:{{/FOO/i disable}}", "pcre:{{/foo/x disable}}", "pcre:{{/foo/msEUA disable}}", "pcre:{{/foo/A disable}}",
		"pcre:{{/oo/A disable}}", "pcre:{{/foo/q disable}}", `pcre:{{/\d/ disable}}`, `pcre:{{/^(.)\1/ disable}}`,
		"pcre:{{/foo(?=\\.)/ disable}}", "pcre:{{/(?<!x)foo/ disable}}", "pcre:{{/(?>foo)/ disable}}",
		"pcre:{{/fo*+/ disable}}", `pcre:{{/\C/ disable}}`, "pcre:{{/(?R)?/ disable}}", "pcre:{{/(?i)foo/ disable}}",
		"pcre:{{/(?-i)FOO/ disable}}", "pcre:{{/x{,3}/ disable}}", "pcre:{{/oo/A disable}, {/fo/A opportunistic}}",
		`pcre:{{/\Afoo\Q.\E/ disable}}`, "pcre:{{/(a)?(?(1)b|c)/ disable}}", "pcre:{{/(*UTF)foo/ disable}}", `pcre:{{/a\Kb/ disable}}`,
		`pcre:{{/foo\v/ disable}}`, "pcre:{{/(foo)(?1)/ disable}}", "pcre:{{/foo/msEUX disable}}", `regexp:{{/[\.]/ disable}}`,
		"regexp:{{/(?i)foo/ disable}}", "cidr:{{!2001:db8::/32 disable}}", "cidr:{{if 10.0.0.0/8}, {endif}}", "static:{a}b",
		"static:opportunistic", "static:{hash:/x}", "lmdb:/etc/postfix/x, disable", "#, {enforce}", "cidr:", `pcre:{{/\Afoo/ disable}}`, `pcre:{{/\.example\z/ disable}}`,
		`pcre:{{/\Qfoo.\E/ disable}}`, "pcre:{{/(/ disable}}",
		// static
		"static:{disable}", "static:{ disable }", "static:disable", "static:{foo bar}", "static:{}", "static:{disable, enforce}",
		"static:{hash:/x}", "static:{monitor}",
		// $name expansion
		"inline:{{$mydomain=disable}}", "inline:{{${mydomain}=disable}}", "inline:{{$(mydomain)=disable}}",
		"inline:{{$nested=disable}}", "inline:{{$relay=disable}}, $$", "inline:{{$undefined=disable}}, opportunistic",
		"inline:{{${domain_to_ascii{$u}}=disable}}", "inline:{{$u=disable}}", "$", "enforce $", "enforce $/", "$$",
		"${mydomain", "${}", "${mydomain?disable}", "${undefined:disable}", "inline:{{.${domain_to_ascii{$mydomain}}=disable}}",
		policy.DefaultSMTPPolicy,
		// atoms of odd characters
		"#", "enforce #", "# comment", "{enforce}", "enforce }", "{", "}", "opportunistic:", ":x",
		// main.cf lines
		"inline:{\n  {foo.example = disable}\n# comment\n  {.example = opportunistic}}\n  enforce",
		"inline:{\n  {foo.example = disable}\n  # comment\n  }",
		"enforce\nnext = line",
		"enforce\n\n  disable",
		"enforce\x00disable",
	} {
		add(s)
	}
	// Tables in files (issue 18 part 1): Postfix reads them itself, Parse
	// through ParseOptions.ReadFile.
	for _, f := range []struct{ name, content, policy string }{
		{"th1", "foo.example disable\n.example opportunistic\n# comment\nbar.foo.example\n  enforce\n", "texthash:%s, opportunistic+starttls"},
		{"th2", "FOO.Example disable\n", "texthash:%s"},
		{"th3", "foo.example\n", "texthash:%s"},
		{"th4", "foo.example. disable\n", "texthash:%s"},
		{"th5", " foo.example disable\n", "texthash:%s"},
		{"th6", "foo.example disable\nfoo.example enforce\n", "texthash:%s"},
		{"th7", "b\u00fccher.example disable\n", "texthash:%s"},
		{"cf1", "192.0.2.0/24 disable\n!10.0.0.0/8 opportunistic\n", "cidr:%s"},
		{"cf2", "# c\n2001:db8::/32\n  disable\n", "cidr:%s, enforce"},
		{"rf1", "/^foo\\.example$/ disable\n!/^bar/ opportunistic\n", "regexp:%s"},
		{"rf2", "#foo# disable\n", "regexp:%s"},
		{"pf1", "/^foo\\.example$/ disable\n/(?=x)/ enforce\n", "pcre:%s"},
		{"pf2", "/^FOO/ disable\n", "pcre:%s, opportunistic"},
		{"hash", "foo.example disable\n", "hash:%s"},
	} {
		path := filepath.Join(dir, f.name)
		out = append(out, pcase{policy: fmt.Sprintf(f.policy, path), files: map[string]string{f.name: f.content}, queries: queries()})
	}
	out = append(out, pcase{policy: "texthash:" + filepath.Join(dir, "missing"), queries: queries()})
	return out
}

// Pieces the generated policies are made of.
var (
	genAtoms   = []string{"enforce", "disable", "opportunistic", "opportunistic+starttls", "error", "monitor", "Disable", "nonsense"}
	genValues  = []string{"enforce", "disable", "opportunistic", "opportunistic+starttls", "error", "monitor", "OPPORTUNISTIC", "foo bar", "hash:/x", "bogus"}
	genKeys    = []string{"example", ".example", "foo.example", ".foo.example", "bar.foo.example", "x.foo.example", "other", "FOO.example", "foo.example.", "xn--1xa.example", ".xn--1xa.example", "foo.xn--1xa.example", "192.0.2.1", "2001:db8::1", "xn--bcher-kva.example"}
	genCIDRs   = []string{"192.0.2.0/24", "192.0.2.1", "192.0.2.200/32", "0.0.0.0/0", "10.0.0.0/8", "::/0", "2001:db8::/32", "2001:db8::1", "::ffff:192.0.2.0/120", "!192.0.2.0/24", "!10.0.0.0/8", "192.0.2.1/24"}
	genRegexps = []string{`/example/`, `/^foo\.example$$/`, `!/^bar/`, `/\.foo\./`, `/^[a-z]+\.example$$/`, `#foo#`, `/^(x|bar)\./`, `/1/`, `/^192\.0\.2\./`, `/::/`, `/xn--/`, `/^other$$/`, `/^$$/`, `/FOO/`}
	genFlags   = []string{"", "", "", "m", "i"}
	genPFlags  = []string{"", "", "", "m", "s", "A", "i", "x"}
	genSeps    = []string{", ", " ", ",", "\n  "}
)

// generate makes n policy strings from the pieces above, each with the
// common queries.
func generate(dir string, n int, seed uint64) []pcase {
	r := rand.New(rand.NewPCG(seed, seed))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	var files map[string]string // of the case being made
	nfiles := 0
	rules := func(f func() string) string {
		var parts []string
		for range 1 + r.IntN(4) {
			parts = append(parts, "{"+f()+"}")
		}
		return strings.Join(parts, pick([]string{", ", " ", ","}))
	}
	item := func() string {
		switch r.IntN(8) {
		case 0:
			return pick(genAtoms)
		case 1, 2:
			return "inline:{" + rules(func() string { return pick(genKeys) + pick([]string{"=", " = "}) + pick(genValues) }) + "}"
		case 3:
			return "cidr:{" + rules(func() string { return pick(genCIDRs) + " " + pick(genValues) }) + "}"
		case 4:
			return "regexp:{" + rules(func() string { return pick(genRegexps) + pick(genFlags) + " " + pick(genValues) }) + "}"
		case 5:
			return "pcre:{" + rules(func() string { return pick(genRegexps) + pick(genPFlags) + " " + pick(genValues) }) + "}"
		case 6:
			return "static:{" + pick(genValues) + "}"
		default:
			nfiles++
			name := fmt.Sprintf("gen%d", nfiles)
			var lines []string
			for range 1 + r.IntN(4) {
				lines = append(lines, pick(genKeys)+pick([]string{" ", "\t", "  "})+pick(genValues))
			}
			files[name] = strings.Join(lines, "\n") + "\n"
			return "texthash:" + filepath.Join(dir, name)
		}
	}
	out := make([]pcase, n)
	for i := range out {
		files = map[string]string{}
		var items []string
		for range 1 + r.IntN(3) {
			items = append(items, item())
		}
		out[i] = pcase{policy: strings.Join(items, pick(genSeps)), files: files, queries: queries()}
	}
	return out
}
