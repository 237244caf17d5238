package policy

import (
	"net/netip"
	"regexp"
	"strings"
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
	inner  *Item // kindText: the table that looks up
}

type itemKind uint8

const (
	kindAtom itemKind = iota
	kindInline
	kindCIDR
	kindRegexp
	kindFail // a table this package cannot open: every lookup fails
	kindText // a parsed table printed as written (a file, pcre:, cidr "!"); inner looks up
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
	negate bool // "!prefix": matches addresses of its family outside it
	result result
}

type reRule struct {
	re      *regexp.Regexp
	pattern string // RE2 source, without the (?i) we add
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

// Entry is one key of an [Inline] table. The key is a host name, a
// ".parent" domain pattern, or an IP address, normalised as
// [Policy.Lookup] normalises next hops (so "Example.COM." is
// "example.com", a U-label becomes an A-label, "::ffff:192.0.2.1" is
// "192.0.2.1").
type Entry struct {
	Key   string // the next hop, ".parent" domain or IP address to match
	Level Level  // the enforcement level for a next hop the key matches
}

// Inline returns an inline: table (a fixed-string table: ".parent" keys
// match subdomains). It fails on an empty or duplicate key, and on a key
// no next hop could match (wrapping [ErrIDN]).
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
	if key == "" {
		return &ParseError{Input: key, Offset: off, Err: ErrSyntax, Msg: "empty key"}
	}
	k, ok := normalizeKey(key)
	if !ok {
		return &ParseError{Input: key, Offset: off, Err: ErrIDN, Msg: "not a host name, .parent domain or IP address: " + quote(key)}
	}
	if _, dup := t.m[k]; dup {
		return &ParseError{Input: key, Offset: off, Err: ErrSyntax, Msg: "duplicate key " + quote(k)}
	}
	t.m[k] = r
	t.keys = append(t.keys, k)
	return nil
}

// CIDRRule is one rule of a [CIDR] table.
type CIDRRule struct {
	Prefix netip.Prefix // must be the network address (no host bits), like Postfix
	Level  Level        // the enforcement level for a next-hop address in Prefix
}

// CIDR returns a cidr: table, matched against IP-literal next hops in
// order. It fails on an invalid prefix or one with host bits set. An
// IPv4-mapped IPv6 prefix is stored as its IPv4 prefix (see [Policy.Lookup]).
func CIDR(rules ...CIDRRule) (Item, error) {
	out := make([]cidrRule, 0, len(rules))
	for _, r := range rules {
		if !r.Prefix.IsValid() || r.Prefix.Masked() != r.Prefix {
			return Item{}, &ParseError{Input: r.Prefix.String(), Err: ErrSyntax, Msg: "invalid network prefix"}
		}
		out = append(out, cidrRule{prefix: unmapPrefix(r.Prefix), result: result{text: r.Level.String(), level: r.Level}})
	}
	return Item{kind: kindCIDR, cidr: out}, nil
}

// RegexpRule is one rule of a [Regexp] table.
type RegexpRule struct {
	Pattern string // Go RE2 syntax, matched case-insensitively against the normalised next hop (see [Policy.Lookup])
	Level   Level  // the enforcement level for a next hop the rule matches
	Negate  bool   // Postfix's "!/pattern/": match when the pattern does not
}

// Regexp returns a regexp: table. Only the full next-hop name is matched;
// there is no ".parent" search. Matching is always case-insensitive: the
// name is normalised to lower case first, so a case-sensitive pattern
// would only ever match some spellings of a name. It fails on a pattern that does not
// compile, whose braces do not balance (Postfix could not read it back), or
// whose inline options unset a flag, as "(?-i)" turns caseless matching off
// (such a rule would silently never match, and a weaker one after it would).
func Regexp(rules ...RegexpRule) (Item, error) {
	out := make([]reRule, 0, len(rules))
	for _, r := range rules {
		if !balanced(r.Pattern) {
			return Item{}, &ParseError{Input: r.Pattern, Err: ErrSyntax, Msg: "unbalanced braces in pattern"}
		}
		if opts := inlineUnsetFlags(r.Pattern); opts != "" {
			return Item{}, &ParseError{Input: r.Pattern, Err: ErrSyntax, Msg: "inline options that unset flags (?" + opts}
		}
		rr := reRule{pattern: r.Pattern, negate: r.Negate, result: result{text: r.Level.String(), level: r.Level}}
		if err := rr.compile(); err != nil {
			return Item{}, &ParseError{Input: r.Pattern, Err: ErrSyntax, Msg: err.Error()}
		}
		out = append(out, rr)
	}
	return Item{kind: kindRegexp, re: out}, nil
}

func (r *reRule) compile() error {
	flags := "(?i)"
	if r.multi {
		flags = "(?im)"
	}
	re, err := regexp.Compile(flags + r.pattern)
	r.re = re
	return err
}

// inlineUnsetFlags returns the first inline options group of pattern that
// unsets a flag (see unsetFlags), or "". An escaped parenthesis opens no group.
func inlineUnsetFlags(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		switch {
		case pattern[i] == '\\':
			i++
		case strings.HasPrefix(pattern[i:], "(?"):
			if opts := unsetFlags(pattern[i+2:]); opts != "" {
				return opts
			}
		}
	}
	return ""
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

// Lookup returns the enforcement level for a TLS next-hop destination, as
// Postfix 3.11's smtp_reqtls_policy_eval does, after normalising the next
// hop so that every spelling of one destination selects the same level.
//
// Lookup accepts a host name or an IP address, optionally in brackets and
// optionally followed by ":port" or ":service" (Postfix's host_port()):
// "mx.example", "mx.example.:25", "[mx.example]:submission", "192.0.2.1",
// "[192.0.2.1]:25", "2001:db8::1" (bare, no port), "[2001:db8::1]",
// "[IPv6:2001:db8::1]:25" (RFC 5321 Section 4.1.3). It normalises:
//
//   - a host name to lower case, without one trailing dot (the root), with
//     U-labels converted to A-labels and A-labels checked (IDNA, UTS #46);
//   - an IP address to its canonical text (RFC 5952), and an IPv4-mapped
//     IPv6 address ("::ffff:192.0.2.1") to its IPv4 address. cidr: rules
//     for IPv4-mapped prefixes ("::ffff:192.0.2.0/120") are stored as the
//     IPv4 prefixes they mean; other IPv6 rules, such as "::/0", do not
//     match IPv4 addresses, however written. (Postfix matches
//     "::ffff:192.0.2.1" against IPv6 rules only, so it could select a
//     different level than "192.0.2.1".)
//
// Anything else gives [Enforce] at once, whatever the policy says: an empty
// name, unbalanced brackets, text after "]", a bad port, a name with a
// character other than letters, digits, "-", "_" and ".", an empty or
// over-long label, a label that starts or ends with "-", a name longer than
// 253 bytes, a name whose last label is a number ("1.2.3",
// "192.000.002.007", "0x7f.0.0.1": inet_aton reads them as addresses), an
// IPv6 zone, "[IPv6:...]" around something that is not an IPv6 address,
// invalid UTF-8, and a name IDNA refuses. Postfix does the same for a malformed U-label
// ("malformed next-hop destination"); it refuses the other forms in its
// configuration instead.
//
// Then, as in Postfix:
//
//   - the first atom or table hit decides; a table that fails, an unknown
//     atom, or a result that is not one atom gives [ConfigError];
//   - fixed-string tables (inline:) also try ".parent" keys for names that
//     are not IP addresses: "a.b.example" tries "a.b.example", ".b.example",
//     ".example". A bare key "b.example" does not match "a.b.example"
//     (Postfix's parent_domain_matches_subdomains does not apply here);
//   - cidr: tables match IP addresses only; regexp: tables match the
//     normalised name (or address text), case-insensitively;
//   - no match gives [Enforce].
//
// Lookup allocates nothing for ASCII names without A-labels, nor for IP
// addresses, unless the policy has a regexp: table.
func (p *Policy) Lookup(nexthop string) Level {
	h, ok := plainNextHop(nexthop)
	if !ok {
		var buf [maxName]byte // declared here: zeroing it costs the fast path
		h, ok = parseNextHop(nexthop, &buf)
	}
	if !ok {
		// Postfix: "malformed next-hop destination ... using default
		// policy 'enforce'".
		return Enforce
	}
	if p == nil {
		return Enforce
	}
	var text string // h.name as a string, made once if a regexp: table needs it
	for i := range p.items {
		if l, ok := p.items[i].lookup(h, &text); ok {
			return l
		}
	}
	return Enforce
}

// lookup looks up a normalised next hop in one item. Pattern tables match
// *text, which is set from h.name when empty: regexp would keep a []byte
// argument, which would move every lookup's buffer to the heap.
func (it *Item) lookup(h nextHop, text *string) (Level, bool) {
	key := h.name
	switch it.kind {
	case kindAtom:
		return it.result.level, true
	case kindInline:
		if r, ok := it.inline.m[string(key)]; ok {
			return r.level, true
		}
		if h.addr.IsValid() {
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
		if !h.addr.IsValid() {
			return 0, false
		}
		for _, r := range it.cidr {
			if r.prefix.Addr().Is4() == h.addr.Is4() && r.prefix.Contains(h.addr) != r.negate {
				return r.result.level, true
			}
		}
	case kindRegexp:
		if *text == "" {
			*text = string(key)
		}
		for _, r := range it.re {
			if r.re.MatchString(*text) != r.negate {
				return r.result.level, true
			}
		}
	case kindText:
		return it.inner.lookup(h, text)
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
