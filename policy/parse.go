package policy

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// DefaultSMTPPolicy is Postfix 3.11's default smtp_requiretls_policy
// (src/global/mail_params.h): opportunistic for $mydomain, its subdomains,
// localhost and every IP-literal next hop, enforce for everything else.
// Parsing it needs a Vars lookup that defines "mydomain".
const DefaultSMTPPolicy = "inline:{{${domain_to_ascii{$mydomain}}=opportunistic}, " +
	"{.${domain_to_ascii{$mydomain}}=opportunistic}, {localhost=opportunistic}}, " +
	"cidr:{{0.0.0.0/0 opportunistic}, {::/0 opportunistic}}, enforce"

// DefaultLMTPPolicy is Postfix 3.11's default lmtp_requiretls_policy.
const DefaultLMTPPolicy = "opportunistic"

// Limits on what Parse accepts, so that memory stays bounded.
const (
	MaxPolicySize = 1 << 20 // bytes, before and after $name expansion
	maxDepth      = 8       // nesting of "{": Postfix policies need 3
	maxExpand     = 8       // nesting of $name values that contain $name
)

// ParseOptions configures [Parse]. A nil *ParseOptions is valid.
type ParseOptions struct {
	// Vars returns the value of a main.cf parameter for $name, ${name} and
	// $(name). If Vars is nil, or returns false, the reference is an error
	// wrapping [ErrUndefined] (Postfix would silently expand it to nothing).
	Vars func(name string) (value string, ok bool)
}

// Parse parses the value of Postfix's smtp_requiretls_policy or
// lmtp_requiretls_policy parameter, as written in main.cf:
//
//   - continuation lines start with whitespace; lines that are empty or
//     whose first non-space character is "#" are ignored;
//   - $name, ${name}, $(name) and ${domain_to_ascii{...}} are expanded
//     through opts.Vars; "$$" is a literal "$", and so is a "$" not
//     followed by a name, "{" or "(" (so regexp anchors need no escaping);
//   - items are separated by whitespace or commas; "{...}" groups are kept
//     whole;
//   - an item is an action atom (case-insensitive; see [ParseLevel]) or a
//     table "type:{...}": inline:{ {key = value} ... } (or key=value),
//     cidr:{ {prefix action} ... }, regexp:{ {/pattern/flags action} ... }.
//
// Differences from Postfix, all failing closed:
//   - an atom made of characters no atom has is a syntax error; an unknown
//     atom that looks like one parses and looks up as [ConfigError], as in
//     Postfix (which finds it only at lookup time);
//   - other table types (hash:, lmdb:, pcre:, fail:, ...) and tables in files
//     parse, but every lookup in them gives [ConfigError], as Postfix does
//     for a table it cannot open: this package does no I/O;
//   - inline keys are normalised as [Policy.Lookup] normalises next hops
//     (lower case, no trailing dot, U-labels to A-labels, canonical IP
//     addresses), so that they can match; a key that is not a host name,
//     ".parent" domain or IP address is an error wrapping [ErrIDN] (Postfix
//     keeps it, and it never matches); a duplicate inline key is an error;
//   - regexp: uses Go's RE2, not POSIX regular expressions: no
//     back-references, no \< \>, Perl classes such as \d are available;
//     the only flag is "m"; "x", if/endif and $n substitution are not
//     supported; and "i" (case-sensitive matching) is refused, because
//     patterns see the next hop normalised to lower case ([Policy.Lookup]);
//   - a cidr: rule is "{prefix action}" with a network address prefix or a
//     single address; "!" negation is not supported.
//
// Errors wrap [ErrSyntax], [ErrUndefined], [ErrIDN] or [ErrTooLarge] in a
// *[ParseError]; offsets refer to the input after $name expansion, which is
// the input itself when it has no "$".
func Parse(s string, opts *ParseOptions) (*Policy, error) {
	if len(s) > MaxPolicySize {
		return nil, &ParseError{Input: s, Offset: MaxPolicySize, Err: ErrTooLarge, Msg: "policy longer than 1 MiB"}
	}
	joined, err := joinLines(s)
	if err != nil {
		return nil, err
	}
	var vars func(string) (string, bool)
	if opts != nil {
		vars = opts.Vars
	}
	e := expander{vars: vars}
	expanded, err := e.expand(joined, 0)
	if err != nil {
		return nil, err
	}
	if len(expanded) > MaxPolicySize {
		return nil, &ParseError{Input: s, Err: ErrTooLarge, Msg: "policy longer than 1 MiB after expansion"}
	}
	p := &Policy{}
	err = tokens(expanded, 0, len(expanded), 0, func(start, end int) error {
		it, err := parseItem(expanded, start, end)
		if err == nil {
			p.items = append(p.items, it)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// joinLines applies main.cf line rules without changing any offset: the
// newline of a continuation line and every comment line become spaces.
func joinLines(s string) (string, error) {
	if !strings.ContainsAny(s, "\n#") {
		return s, checkControls(s)
	}
	b := []byte(s)
	first := true
	for start := 0; start < len(b); {
		end := start
		for end < len(b) && b[end] != '\n' {
			end++
		}
		line := b[start:end]
		trimmed := strings.TrimLeft(string(line), " \t\r")
		switch {
		case trimmed == "" || trimmed[0] == '#':
			for i := range line {
				line[i] = ' '
			}
		case !first && line[0] != ' ' && line[0] != '\t':
			return "", &ParseError{Input: s, Offset: start, Err: ErrSyntax, Msg: "line does not start with whitespace (not a continuation line)"}
		default:
			first = false
		}
		if end < len(b) {
			b[end] = ' '
		}
		start = end + 1
	}
	out := string(b)
	return out, checkControls(out)
}

func checkControls(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			return &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "control character"}
		}
	}
	return nil
}

type expander struct {
	vars func(string) (string, bool)
}

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// expand performs main.cf $name expansion on s.
func (e *expander) expand(s string, depth int) (string, error) {
	if strings.IndexByte(s, '$') < 0 {
		return s, nil
	}
	if depth > maxExpand {
		return "", &ParseError{Input: s, Err: ErrTooLarge, Msg: "$name expansion nested too deeply"}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		n := s[i+1]
		switch {
		case n == '$':
			b.WriteByte('$')
			i += 2
		case n == '{' || n == '(':
			close := byte('}')
			if n == '(' {
				close = ')'
			}
			j := i + 2
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			name := s[i+2 : j]
			if name == "" {
				return "", &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "missing parameter name after " + quote(s[i:i+2])}
			}
			var val string
			var err error
			switch {
			case j < len(s) && s[j] == close:
				val, err = e.lookup(s, i, name, depth)
				j++
			case name == "domain_to_ascii" && n == '{' && j < len(s) && s[j] == '{':
				end := matchBrace(s, j)
				if end < 0 || end+1 >= len(s) || s[end+1] != '}' {
					return "", &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "unterminated ${domain_to_ascii{...}}"}
				}
				if val, err = e.expand(s[j+1:end], depth+1); err == nil {
					val, err = domainToASCII(s, i, val)
				}
				j = end + 2
			default:
				return "", &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "unsupported expansion " + quote(s[i:min(j+1, len(s))])}
			}
			if err != nil {
				return "", err
			}
			b.WriteString(val)
			i = j
		case isNameChar(n):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			val, err := e.lookup(s, i, s[i+1:j], depth)
			if err != nil {
				return "", err
			}
			b.WriteString(val)
			i = j
		default:
			b.WriteByte('$') // e.g. the anchor in /^foo$/
			i++
		}
		if b.Len() > MaxPolicySize {
			return "", &ParseError{Input: s, Offset: i, Err: ErrTooLarge, Msg: "policy longer than 1 MiB after expansion"}
		}
	}
	return b.String(), nil
}

func (e *expander) lookup(s string, off int, name string, depth int) (string, error) {
	if e.vars != nil {
		if v, ok := e.vars(name); ok {
			return e.expand(v, depth+1)
		}
	}
	return "", &ParseError{Input: s, Offset: off, Err: ErrUndefined, Msg: "undefined parameter $" + name}
}

// domainToASCII is Postfix 3.11's ${domain_to_ascii{...}}: the name itself
// if it is ASCII, its A-label form otherwise.
func domainToASCII(s string, off int, name string) (string, error) {
	if isASCII(name) {
		return name, nil
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", &ParseError{Input: s, Offset: off, Err: ErrIDN, Msg: "domain_to_ascii: malformed domain name " + quote(name)}
	}
	return a, nil
}

// matchBrace returns the index of the "}" that closes the "{" at s[i], or -1.
func matchBrace(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

func isSep(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ','
}

// tokens splits s[start:end] into items separated by whitespace or commas,
// keeping "{...}" groups whole (Postfix mystrtokq with CHARS_BRACE), and
// calls f with each item's bounds. depth is the brace depth of s[start:end].
func tokens(s string, start, end, depth int, f func(start, end int) error) error {
	for i := start; i < end; {
		if isSep(s[i]) {
			i++
			continue
		}
		tok := i
		level := 0
		for ; i < end && (level > 0 || !isSep(s[i])); i++ {
			switch s[i] {
			case '{':
				level++
				if depth+level > maxDepth {
					return &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "braces nested too deeply"}
				}
			case '}':
				level--
				if level < 0 {
					return &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "unbalanced '}'"}
				}
			}
		}
		if level > 0 {
			return &ParseError{Input: s, Offset: tok, Err: ErrSyntax, Msg: "unbalanced '{'"}
		}
		if err := f(tok, i); err != nil {
			return err
		}
	}
	return nil
}

func isAtomChar(c byte) bool {
	return isNameChar(c) || c == '+' || c == '-' || c == '.'
}

func parseItem(s string, start, end int) (Item, error) {
	tok := s[start:end]
	colon := strings.IndexByte(tok, ':')
	if colon < 0 {
		for i := 0; i < len(tok); i++ {
			if !isAtomChar(tok[i]) {
				return Item{}, &ParseError{Input: s, Offset: start + i, Err: ErrSyntax, Msg: "invalid character in policy action " + quote(tok)}
			}
		}
		// An unknown atom is kept: it looks up as ConfigError (Postfix).
		return Item{kind: kindAtom, text: tok, result: newResult(tok)}, nil
	}
	typ, body := tok[:colon], tok[colon+1:]
	for i := 0; i < len(typ); i++ {
		if !isAtomChar(typ[i]) {
			return Item{}, &ParseError{Input: s, Offset: start + i, Err: ErrSyntax, Msg: "invalid character in table type " + quote(typ)}
		}
	}
	if typ == "" {
		return Item{}, &ParseError{Input: s, Offset: start, Err: ErrSyntax, Msg: "missing table type before ':'"}
	}
	bodyStart := start + colon + 1
	inner := len(body) >= 2 && body[0] == '{' && body[len(body)-1] == '}'
	if !inner {
		return Item{kind: kindFail, text: tok}, nil
	}
	var it Item
	var err error
	switch typ {
	case "inline":
		it, err = parseInline(s, bodyStart+1, bodyStart+len(body)-1)
	case "cidr":
		it, err = parseCIDR(s, bodyStart+1, bodyStart+len(body)-1)
	case "regexp":
		it, err = parseRegexp(s, bodyStart+1, bodyStart+len(body)-1)
	default:
		return Item{kind: kindFail, text: tok}, nil
	}
	return it, err
}

// braced returns the inside of a "{...}" rule, trimmed, or ok=false.
func braced(s string, start, end int) (int, int, bool) {
	if end-start < 2 || s[start] != '{' || s[end-1] != '}' {
		return start, end, false
	}
	start, end = start+1, end-1
	for start < end && isSpace(s[start]) {
		start++
	}
	for end > start && isSpace(s[end-1]) {
		end--
	}
	return start, end, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func parseInline(s string, start, end int) (Item, error) {
	t := &inline{m: make(map[string]result)}
	err := tokens(s, start, end, 1, func(ts, te int) error {
		if bs, be, ok := braced(s, ts, te); ok {
			ts, te = bs, be
		}
		eq := strings.IndexByte(s[ts:te], '=')
		if eq < 0 {
			return &ParseError{Input: s, Offset: ts, Err: ErrSyntax, Msg: "inline entry without '='"}
		}
		key := strings.TrimSpace(s[ts : ts+eq])
		if key == "" {
			return &ParseError{Input: s, Offset: ts + eq, Err: ErrSyntax, Msg: "'=' without key"}
		}
		value := strings.TrimSpace(s[ts+eq+1 : te])
		if i := strings.IndexAny(value, "{}"); i >= 0 {
			// A braced result could not be printed back; Postfix would
			// reject it at lookup as a nested table anyway.
			return &ParseError{Input: s, Offset: strings.Index(s[ts:te], value) + ts + i, Err: ErrSyntax, Msg: "brace in inline value"}
		}
		if err := t.add(key, newResult(value), ts); err != nil {
			pe := err.(*ParseError)
			pe.Input = s
			return pe
		}
		return nil
	})
	if err != nil {
		return Item{}, err
	}
	return Item{kind: kindInline, inline: t}, nil
}

func parseCIDR(s string, start, end int) (Item, error) {
	var rules []cidrRule
	err := tokens(s, start, end, 1, func(ts, te int) error {
		bs, be, ok := braced(s, ts, te)
		if !ok {
			return &ParseError{Input: s, Offset: ts, Err: ErrSyntax, Msg: "cidr rule not in braces: want {prefix action}"}
		}
		rule := s[bs:be]
		sp := strings.IndexAny(rule, " \t\r\n")
		if sp < 0 {
			return &ParseError{Input: s, Offset: bs, Err: ErrSyntax, Msg: "cidr rule without action"}
		}
		pat := rule[:sp]
		prefix, err := netip.ParsePrefix(pat)
		if err != nil {
			addr, aerr := netip.ParseAddr(pat)
			if aerr != nil || addr.Zone() != "" {
				return &ParseError{Input: s, Offset: bs, Err: ErrSyntax, Msg: "invalid cidr pattern " + quote(pat)}
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		if prefix.Masked() != prefix {
			return &ParseError{Input: s, Offset: bs, Err: ErrSyntax, Msg: "non-null host address bits in " + quote(pat)}
		}
		rules = append(rules, cidrRule{prefix: unmapPrefix(prefix), result: newResult(strings.TrimSpace(rule[sp:]))})
		return nil
	})
	if err != nil {
		return Item{}, err
	}
	return Item{kind: kindCIDR, cidr: rules}, nil
}

func parseRegexp(s string, start, end int) (Item, error) {
	var rules []reRule
	err := tokens(s, start, end, 1, func(ts, te int) error {
		bs, be, ok := braced(s, ts, te)
		if !ok {
			return &ParseError{Input: s, Offset: ts, Err: ErrSyntax, Msg: "regexp rule not in braces: want {/pattern/ action}"}
		}
		r := reRule{}
		i := bs
		if i < be && s[i] == '!' {
			r.negate = true
			i++
		}
		if i >= be || isNameChar(s[i]) || isSpace(s[i]) || s[i] == '\\' {
			return &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "regexp rule does not start with a delimiter such as '/'"}
		}
		delim := s[i]
		var pat strings.Builder
		j := i + 1
		for ; j < be && s[j] != delim; j++ {
			if s[j] == '\\' && j+1 < be {
				if s[j+1] == delim && delim != '/' {
					pat.WriteByte(delim)
					j++
					continue
				}
				pat.WriteByte('\\')
				j++
			}
			pat.WriteByte(s[j])
		}
		if j >= be {
			return &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "unterminated regular expression"}
		}
		j++
		for ; j < be && !isSpace(s[j]); j++ {
			switch s[j] {
			case 'm':
				r.multi = true
			case 'i':
				return &ParseError{Input: s, Offset: j, Err: ErrSyntax, Msg: "regexp flag \"i\" (case-sensitive matching) is not supported: next hops are matched in lower case"}
			default:
				return &ParseError{Input: s, Offset: j, Err: ErrSyntax, Msg: "unsupported regexp flag " + quote(s[j:j+1])}
			}
		}
		value := strings.TrimSpace(s[j:be])
		if value == "" {
			return &ParseError{Input: s, Offset: j, Err: ErrSyntax, Msg: "regexp rule without action"}
		}
		r.pattern = pat.String()
		r.result = newResult(value)
		if err := r.compile(); err != nil {
			return &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: err.Error()}
		}
		rules = append(rules, r)
		return nil
	})
	if err != nil {
		return Item{}, err
	}
	return Item{kind: kindRegexp, re: rules}, nil
}
