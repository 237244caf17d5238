package policy

import (
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/net/idna"
)

// Policy is a parsed smtp_requiretls_policy: items evaluated in order, the
// first atom or table hit decides. The zero Policy (or nil) has no items and
// looks everything up as [Enforce]. A Policy is immutable and safe for
// concurrent use.
type Policy struct {
	items []Item
}

// Item is one element of a policy: an action atom or a table. Build items
// with [Atom], [Inline], [CIDR] and [Regexp], or parse them with [Parse].
type Item struct {
	kind   itemKind
	text   string  // atom text as written, or "type:name" of an unsupported table
	result result  // atom
	inline *inline // inline:
	cidr   []cidrRule
	re     []reRule
}

type itemKind uint8

const (
	kindAtom itemKind = iota
	kindInline
	kindCIDR
	kindRegexp
	kindFail // a table this package cannot open: every lookup fails
)

// result is a table value: its text as written, and the level it means
// (ConfigError when it is not exactly one known atom).
type result struct {
	text  string
	level Level
}

func newResult(text string) result {
	return result{text: text, level: resultLevel(text)}
}

// resultLevel maps a table result to a level: a nested table (":") or a
// composite result (whitespace, comma) is an error, as is an unknown atom
// (Postfix smtp_reqtls_policy_eval).
func resultLevel(text string) Level {
	if strings.ContainsAny(text, ": \t\r\n,") {
		return ConfigError
	}
	l, _ := parseAtom(text)
	return l
}

type inline struct {
	m    map[string]result
	keys []string // in the order given, for printing
}

type cidrRule struct {
	prefix netip.Prefix
	result result
}

type reRule struct {
	re      *regexp.Regexp
	pattern string // RE2 source, without the (?i) we add
	fold    bool   // case-insensitive (the Postfix default)
	negate  bool   // !/pattern/
	multi   bool   // the m flag
	result  result
}

// New returns a policy of the given items.
func New(items ...Item) *Policy {
	return &Policy{items: items}
}

// Atom returns an action atom item; it matches every next hop.
func Atom(l Level) Item {
	return Item{kind: kindAtom, text: l.String(), result: result{text: l.String(), level: l}}
}

// Entry is one key of an [Inline] table. The key is a domain name, a
// ".parent" domain pattern, or an IP address; U-labels are converted to
// A-labels.
type Entry struct {
	Key   string
	Level Level
}

// Inline returns an inline: table (a fixed-string table: ".parent" keys
// match subdomains). It fails on an empty, duplicate or malformed key.
func Inline(entries ...Entry) (Item, error) {
	t := &inline{m: make(map[string]result, len(entries)), keys: make([]string, 0, len(entries))}
	for _, e := range entries {
		if err := t.add(e.Key, result{text: e.Level.String(), level: e.Level}, 0); err != nil {
			return Item{}, err
		}
	}
	return Item{kind: kindInline, inline: t}, nil
}

// badKeyChars cannot appear in an inline key: they separate items, entries
// and key from value, or start an expansion, so a key holding one could not
// be printed back in Postfix syntax.
const badKeyChars = " \t\r\n,{}=$"

func (t *inline) add(key string, r result, off int) error {
	if i := strings.IndexAny(key, badKeyChars); i >= 0 {
		return &ParseError{Input: key, Offset: off + i, Err: ErrSyntax, Msg: "invalid character in inline key"}
	}
	k, err := normalizeKey(key)
	if err != nil {
		return &ParseError{Input: key, Offset: off, Err: ErrIDN, Msg: "malformed domain name " + quote(key)}
	}
	if k == "" {
		return &ParseError{Input: key, Offset: off, Err: ErrSyntax, Msg: "empty key"}
	}
	if _, dup := t.m[k]; dup {
		return &ParseError{Input: key, Offset: off, Err: ErrSyntax, Msg: "duplicate key " + quote(k)}
	}
	t.m[k] = r
	t.keys = append(t.keys, k)
	return nil
}

// normalizeKey lower-cases a table key and converts U-labels to A-labels
// (a leading "." is kept). Postfix leaves non-ASCII keys alone, so they can
// never match; we convert them instead (see Parse).
func normalizeKey(key string) (string, error) {
	if isASCII(key) {
		return strings.ToLower(key), nil
	}
	dot := strings.HasPrefix(key, ".")
	a, err := idna.Lookup.ToASCII(strings.TrimPrefix(key, "."))
	if err != nil {
		return "", err
	}
	if dot {
		a = "." + a
	}
	return a, nil
}

// CIDRRule is one rule of a [CIDR] table.
type CIDRRule struct {
	Prefix netip.Prefix // must be the network address (no host bits), like Postfix
	Level  Level
}

// CIDR returns a cidr: table, matched against IP-literal next hops in
// order. It fails on an invalid prefix or one with host bits set.
func CIDR(rules ...CIDRRule) (Item, error) {
	out := make([]cidrRule, 0, len(rules))
	for _, r := range rules {
		if !r.Prefix.IsValid() || r.Prefix.Masked() != r.Prefix {
			return Item{}, &ParseError{Input: r.Prefix.String(), Err: ErrSyntax, Msg: "invalid network prefix"}
		}
		out = append(out, cidrRule{prefix: r.Prefix, result: result{text: r.Level.String(), level: r.Level}})
	}
	return Item{kind: kindCIDR, cidr: out}, nil
}

// RegexpRule is one rule of a [Regexp] table.
type RegexpRule struct {
	Pattern       string // Go RE2 syntax, matched against the whole next-hop name
	Level         Level
	CaseSensitive bool // Postfix's "i" flag; matching is case-insensitive by default
	Negate        bool // Postfix's "!/pattern/": match when the pattern does not
}

// Regexp returns a regexp: table. Only the full next-hop name is matched;
// there is no ".parent" search. It fails on a pattern that does not
// compile or whose braces do not balance (Postfix could not read it back).
func Regexp(rules ...RegexpRule) (Item, error) {
	out := make([]reRule, 0, len(rules))
	for _, r := range rules {
		if !balanced(r.Pattern) {
			return Item{}, &ParseError{Input: r.Pattern, Err: ErrSyntax, Msg: "unbalanced braces in pattern"}
		}
		rr := reRule{pattern: r.Pattern, fold: !r.CaseSensitive, negate: r.Negate, result: result{text: r.Level.String(), level: r.Level}}
		if err := rr.compile(); err != nil {
			return Item{}, &ParseError{Input: r.Pattern, Err: ErrSyntax, Msg: err.Error()}
		}
		out = append(out, rr)
	}
	return Item{kind: kindRegexp, re: out}, nil
}

func (r *reRule) compile() error {
	flags := ""
	if r.fold {
		flags += "i"
	}
	if r.multi {
		flags += "m"
	}
	src := r.pattern
	if flags != "" {
		src = "(?" + flags + ")" + src
	}
	re, err := regexp.Compile(src)
	r.re = re
	return err
}

func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// maxKey is the longest next-hop name looked up without allocating; a DNS
// name has at most 253 characters.
const maxKey = 256

// Lookup returns the enforcement level for a TLS next-hop destination, as
// Postfix 3.11's smtp_reqtls_policy_eval does:
//
//   - "[" "]" and ":port" are stripped, so "[192.0.2.1]:25" looks up
//     "192.0.2.1" (matched by cidr: tables);
//   - a non-ASCII name is converted to its A-label form; if that fails the
//     result is [Enforce] at once, whatever the policy says;
//   - fixed-string tables (inline:) also try ".parent" keys for names that
//     are not IP addresses: "a.b.example" tries "a.b.example", ".b.example",
//     ".example" (never "b.example");
//   - regexp: tables see only the full name, in its original case (their
//     matching is case-insensitive by default, as in Postfix);
//   - the first atom or table hit decides; a table that fails, an unknown
//     atom, or a result that is not one atom gives [ConfigError];
//   - no match gives [Enforce].
//
// Lookup allocates nothing for ASCII names of up to 255 bytes.
func (p *Policy) Lookup(nexthop string) Level {
	key := stripNextHop(nexthop)
	var addr netip.Addr
	isIP := false
	if mayBeIP(key) { // avoid ParseAddr's error allocation for names
		var err error
		addr, err = netip.ParseAddr(key)
		isIP = err == nil
	}
	if !isIP && !isASCII(key) {
		a, err := idna.Lookup.ToASCII(key)
		if err != nil {
			// Postfix: "malformed next-hop destination ... using default
			// policy 'enforce'".
			return Enforce
		}
		key = a
	}
	var buf [maxKey]byte
	var kb []byte
	if len(key) <= len(buf) {
		kb = buf[:len(key)]
		for i := 0; i < len(key); i++ {
			c := key[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			kb[i] = c
		}
	} else {
		kb = []byte(strings.ToLower(key))
	}
	if p == nil {
		return Enforce
	}
	for i := range p.items {
		if l, ok := p.items[i].lookup(kb, key, addr, isIP); ok {
			return l
		}
	}
	return Enforce
}

// lookup looks up the lower-cased key in fixed tables and the key as given
// in pattern tables (which are case-insensitive by default, as in Postfix).
func (it *Item) lookup(key []byte, name string, addr netip.Addr, isIP bool) (Level, bool) {
	switch it.kind {
	case kindAtom:
		return it.result.level, true
	case kindInline:
		if r, ok := it.inline.m[string(key)]; ok {
			return r.level, true
		}
		if isIP {
			return 0, false
		}
		for i := 1; i < len(key); i++ {
			if key[i] == '.' {
				if r, ok := it.inline.m[string(key[i:])]; ok {
					return r.level, true
				}
			}
		}
	case kindCIDR:
		if !isIP {
			return 0, false
		}
		for _, r := range it.cidr {
			if r.prefix.Contains(addr) {
				return r.result.level, true
			}
		}
	case kindRegexp:
		for _, r := range it.re {
			if r.re.MatchString(name) != r.negate {
				return r.result.level, true
			}
		}
	default: // kindFail
		return ConfigError, true
	}
	return 0, false
}

// mayBeIP reports whether s could be an IP address: IPv6 has a colon (ports
// are already stripped), IPv4 only digits and dots.
func mayBeIP(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return s != ""
}

// stripNextHop removes "[ ]" and ":port" or ":service" from a next hop.
func stripNextHop(s string) string {
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			return s[1:i]
		}
		return s
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.LastIndexByte(s, ':') == i {
		return s[:i] // host:port; a bare IPv6 address has several colons
	}
	return s
}
