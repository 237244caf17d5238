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

	// ReadFile returns the content of a table file named in the policy
	// (texthash:/path, and cidr:, regexp: or pcre: with a path instead of
	// "{...}"); os.ReadFile will do. If ReadFile is nil, such a table is an
	// error wrapping [ErrTable]: this package itself does no I/O.
	ReadFile func(name string) ([]byte, error)
}

// Parse parses the value of Postfix's smtp_requiretls_policy or
// lmtp_requiretls_policy parameter, as written in main.cf:
//
//   - continuation lines start with whitespace; lines that are empty or
//     whose first non-space character is "#" are ignored, except the first
//     (in main.cf it follows "name =");
//   - $name, ${name}, $(name) and ${domain_to_ascii{...}} are expanded
//     through opts.Vars; "$$" is a literal "$" (so a regexp anchor is
//     written "$$", as in main.cf); any other "$" is an error, as in
//     Postfix ("empty macro name");
//   - items are separated by whitespace or commas; "{...}" groups are kept
//     whole;
//   - an item is an action atom (case-insensitive; see [ParseLevel]; any
//     other word parses and looks up as [ConfigError], as in Postfix) or a
//     table "type:name": inline:{ {key = value} ... } (or key=value),
//     static:{value} or static:value, cidr:{ {[!]prefix action} ... },
//     regexp:{ {[!]/pattern/flags action} ... },
//     pcre:{ {[!]/pattern/flags action} ... }, and from files read through
//     opts.ReadFile, texthash:/path and cidr:, regexp: or pcre: with a path.
//
// Parse refuses, with an error naming the construct, what it cannot read
// exactly as Postfix 3.11.6 would, so a policy never means a different
// table here than in Postfix (interop/postfixpolicy checks this against
// Postfix's own parser):
//
//   - other table types (hash:, lmdb:, fail:, ...) parse, but every lookup
//     in them gives [ConfigError], as Postfix does for a table it cannot
//     open (where Postfix cannot open one at start-up it stops instead);
//   - an inline or texthash key must be a host name, ".parent" domain or IP
//     address in the form Postfix compares with the next hop: lower-case
//     ASCII (A-labels), no trailing dot, canonical IP address text (RFC
//     5952), not IPv4-mapped. Postfix never matches "bücher.example",
//     "a.example." or "2001:DB8:0::1" against the next hops [Policy.Lookup]
//     passes on, so such a key is an error wrapping [ErrIDN] that gives the
//     form to write; so is a key nothing could match. A duplicate key is an
//     error (Postfix warns and keeps one);
//   - a cidr: rule is "[!]prefix action" with a network address prefix or a
//     single address, not IPv4-mapped (Postfix matches those only against
//     IPv6 next hops, which Lookup passes on as IPv4); IF/ENDIF blocks are
//     not supported;
//   - regexp: is read with Go's RE2, refusing what POSIX (glibc) and RE2
//     read differently: escapes other than of punctuation and \w \W \s \S
//     \b \B, a backslash in a bracket expression, "(?" and "{,". The only
//     flag is "m";
//   - pcre: is read with RE2, refusing each construct RE2 cannot express
//     (backreferences, lookahead and lookbehind, atomic groups, possessive
//     quantifiers, recursion and subroutine calls, conditionals, \C, \K, verbs
//     (*...), \v \h \R \X \N, inline options that unset flags, {,n}). Flags:
//     "A" anchors the pattern; "m", "s", "E", "U", "X" cannot change whether
//     a next hop matches; "x" is refused;
//   - the regexp and pcre flag "i" (case-sensitive matching) is refused,
//     because patterns see the next hop normalised to lower case
//     ([Policy.Lookup]); so is a rule that starts with "#", which Postfix
//     reads as a comment line;
//   - a rule Postfix would skip with a warning (a bad pattern, host bits in
//     a cidr prefix, an unknown flag, a rule without action, a table file
//     line without key and value, or a continuation line first) is an error;
//   - so are text Postfix reads in its own way: control characters (Postfix
//     stops at a NUL), unbalanced braces, an inline entry without key or
//     with a brace in its value;
//   - an undefined $name is an error wrapping [ErrUndefined] (Postfix
//     silently expands it to nothing), and so is a ${name?...} or
//     ${name:...} expansion.
//
// Errors wrap [ErrSyntax], [ErrUndefined], [ErrIDN], [ErrTooLarge] or
// [ErrTable] in a *[ParseError]; offsets refer to the input after $name
// expansion, which is the input itself when it has no "$", or, for an
// error in a table file, to the file's content.
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
	ps := parser{}
	if opts != nil {
		ps.readFile = opts.ReadFile
	}
	p := &Policy{}
	err = tokens(expanded, 0, len(expanded), 0, func(start, end int) error {
		it, err := ps.parseItem(expanded, start, end)
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
		case trimmed == "" || trimmed[0] == '#' && start > 0:
			// main.cf: the first line follows "name =", so it is never
			// a comment line.
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
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 == len(s) {
			return "", &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "'$' at the end (write $$ for a literal '$')"}
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
			// Postfix: "empty macro name", a fatal configuration error.
			return "", &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "'$' not followed by a parameter name (write $$ for a literal '$', e.g. a regexp anchor)"}
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

func isSep(c byte) bool { return isSpace(c) || c == ',' }

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

// parser holds what item parsing needs besides the text.
type parser struct {
	readFile func(name string) ([]byte, error)
}

func (ps *parser) parseItem(s string, start, end int) (Item, error) {
	tok := s[start:end]
	colon := strings.IndexByte(tok, ':')
	if colon < 0 {
		// Any other word is kept: it looks up as ConfigError (Postfix:
		// "unknown policy action").
		return Item{kind: kindAtom, text: tok, result: newResult(tok)}, nil
	}
	typ, body := tok[:colon], tok[colon+1:]
	for i := 0; i < len(typ); i++ {
		if !isAtomChar(typ[i]) {
			return Item{}, &ParseError{Input: s, Offset: start + i, Err: ErrSyntax, Msg: "invalid character in table type " + quote(typ)}
		}
	}
	if typ == "" || body == "" {
		return Item{}, &ParseError{Input: s, Offset: start, Err: ErrSyntax, Msg: "table " + quote(tok) + " is not in type:name form"}
	}
	bodyStart := start + colon + 1
	inner := body[0] == '{' && matchBrace(body, 0) == len(body)-1
	rules := func(f func(s string, start, end int) error) error {
		return tokens(s, bodyStart+1, bodyStart+len(body)-1, 1, func(ts, te int) error {
			bs, be, ok := braced(s, ts, te)
			if !ok {
				return &ParseError{Input: s, Offset: ts, Err: ErrSyntax, Msg: typ + " rule not in braces: want {rule}"}
			}
			if bs < be && s[bs] == '#' {
				// Postfix reads each rule as a table file line: a comment.
				return &ParseError{Input: s, Offset: bs, Err: ErrSyntax, Msg: typ + " rule starts with '#', which Postfix reads as a comment"}
			}
			return f(s, bs, be)
		})
	}
	switch {
	case typ == "static":
		// Postfix dict_static: the name, or the text inside its braces,
		// trimmed, is the result of every lookup.
		value := body
		if body[0] == '{' {
			if !inner {
				return Item{}, &ParseError{Input: s, Offset: bodyStart, Err: ErrSyntax, Msg: "static:{...} with text after its closing brace"}
			}
			value = strings.TrimSpace(body[1 : len(body)-1])
		}
		return Item{kind: kindAtom, text: tok, result: newResult(value)}, nil
	case typ == "inline" && inner:
		return parseInline(s, bodyStart+1, bodyStart+len(body)-1)
	case (typ == "cidr" || typ == "regexp" || typ == "pcre") && inner:
		t := newRuleTable(typ)
		if err := rules(t.add); err != nil {
			return Item{}, err
		}
		return t.item(tok), nil
	case typ == "texthash" || typ == "cidr" || typ == "regexp" || typ == "pcre":
		return ps.fileTable(s, start, typ, body)
	}
	// A table this package cannot open (hash:, lmdb:, fail:, ...): every
	// lookup fails, as in Postfix for a table that cannot be opened.
	return Item{kind: kindFail, text: tok}, nil
}

// fileTable reads a table from a file through the caller's ReadFile.
func (ps *parser) fileTable(s string, start int, typ, name string) (Item, error) {
	tok := typ + ":" + name
	if ps.readFile == nil {
		return Item{}, &ParseError{Input: s, Offset: start, Err: ErrTable, Msg: "table " + quote(tok) + " is a file, and ParseOptions.ReadFile is nil"}
	}
	b, err := ps.readFile(name)
	if err != nil {
		return Item{}, &ParseError{Input: s, Offset: start, Err: ErrTable, Msg: "table " + quote(tok) + ": " + err.Error()}
	}
	if len(b) > MaxPolicySize {
		return Item{}, &ParseError{Input: s, Offset: start, Err: ErrTooLarge, Msg: "table " + quote(tok) + " longer than 1 MiB"}
	}
	text, err := logicalLines(string(b))
	if err == nil {
		if typ == "texthash" {
			it, err := parseTexthash(text)
			if err == nil {
				return Item{kind: kindText, text: tok, inner: &it}, nil
			}
			return Item{}, inFile(err, tok)
		}
		t := newRuleTable(typ)
		err = eachLine(text, t.add)
		if err == nil {
			it := t.item(tok)
			return Item{kind: kindText, text: tok, inner: &it}, nil
		}
	}
	return Item{}, inFile(err, tok)
}

// inFile names the table in an error found in its file.
func inFile(err error, table string) error {
	if pe, ok := err.(*ParseError); ok {
		pe.Msg = "in " + table + ": " + pe.Msg
	}
	return err
}

// logicalLines applies Postfix's readllines() to a table file without
// changing any offset: comment and blank lines become spaces, and so does
// the newline before a continuation line. What is left are logical lines,
// one a line.
func logicalLines(s string) (string, error) {
	if err := checkControls(s); err != nil {
		return "", err
	}
	b := []byte(s)
	seen := false // a logical line has started
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
			if end < len(b) {
				b[end] = ' '
			}
		case line[0] == ' ' || line[0] == '\t':
			if !seen {
				return "", &ParseError{Input: s, Offset: start, Err: ErrSyntax, Msg: "continuation line without a line before it"}
			}
			if start > 0 {
				b[start-1] = ' ' // join with the line before
			}
		default:
			seen = true
		}
		start = end + 1
	}
	return string(b), nil
}

// eachLine calls f with the trimmed bounds of each non-empty line.
func eachLine(s string, f func(s string, start, end int) error) error {
	for start := 0; start < len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		ls, le := start, end
		for ls < le && isSpace(s[ls]) {
			ls++
		}
		for le > ls && isSpace(s[le-1]) {
			le--
		}
		if ls < le {
			if err := f(s, ls, le); err != nil {
				return err
			}
		}
		start = end + 1
	}
	return nil
}

// parseTexthash reads a texthash: file: "key whitespace value" lines, a
// fixed-string table like inline:.
func parseTexthash(s string) (Item, error) {
	t := &inline{m: make(map[string]result)}
	err := eachLine(s, func(s string, start, end int) error {
		sp := strings.IndexAny(s[start:end], " \t\r")
		if sp < 0 {
			return &ParseError{Input: s, Offset: start, Err: ErrSyntax, Msg: "want key whitespace value"}
		}
		return t.addParsed(s, start, s[start:start+sp], newResult(strings.TrimSpace(s[start+sp:end])))
	})
	if err != nil {
		return Item{}, err
	}
	return Item{kind: kindInline, inline: t}, nil
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
		return t.addParsed(s, ts, key, newResult(value))
	})
	if err != nil {
		return Item{}, err
	}
	return Item{kind: kindInline, inline: t}, nil
}

// addParsed adds a key written in a policy or table file. Unlike [Inline],
// it refuses a U-label key: Postfix compares keys as written with the
// A-label form of the next hop, so such a key never matches there.
func (t *inline) addParsed(s string, off int, key string, r result) error {
	if !isASCII(key) {
		return &ParseError{Input: s, Offset: off, Err: ErrIDN, Msg: "key " + quote(key) + " is not ASCII: Postfix never matches a U-label key, write its A-label form"}
	}
	if err := t.add(key, r, off); err != nil {
		pe := err.(*ParseError)
		pe.Input = s
		return pe
	}
	// Postfix folds a key to lower case and compares it with the next hop
	// as written; a key that Lookup would normalise further ("a.example.",
	// "2001:DB8:0::1", "::ffff:192.0.2.1") matches there only next hops
	// that Lookup never passes on.
	if k := t.keys[len(t.keys)-1]; k != strings.ToLower(key) {
		return &ParseError{Input: s, Offset: off, Err: ErrIDN, Msg: "key " + quote(key) + " is not in normal form: Postfix would match it as written; write " + quote(k)}
	}
	return nil
}

// ruleTable collects the rules of a cidr:, regexp: or pcre: table.
type ruleTable struct {
	typ     string
	cidr    []cidrRule
	re      []reRule
	verbose bool // print as written: a feature print.go cannot write back
}

func newRuleTable(typ string) *ruleTable { return &ruleTable{typ: typ} }

func (t *ruleTable) add(s string, start, end int) error {
	switch t.typ {
	case "cidr":
		r, err := parseCIDRRule(s, start, end)
		if err != nil {
			return err
		}
		t.cidr = append(t.cidr, r)
		t.verbose = t.verbose || r.negate
	default:
		r, err := parseRegexpRule(s, start, end, t.typ == "pcre")
		if err != nil {
			return err
		}
		t.re = append(t.re, r)
		t.verbose = t.verbose || t.typ == "pcre"
	}
	return nil
}

// item returns the table; tok is its text, printed as written when the
// table has a feature only its own text says.
func (t *ruleTable) item(tok string) Item {
	it := Item{kind: kindCIDR, cidr: t.cidr}
	if t.typ != "cidr" {
		it = Item{kind: kindRegexp, re: t.re}
	}
	if t.verbose {
		return Item{kind: kindText, text: tok, inner: &it}
	}
	return it
}

// parseCIDRRule parses "[!]prefix action" (Postfix dict_cidr; each "!"
// inverts the match, within the address family of the prefix).
func parseCIDRRule(s string, start, end int) (cidrRule, error) {
	var r cidrRule
	i := start
	for ; i < end && (s[i] == '!' || isSpace(s[i])); i++ {
		if s[i] == '!' {
			r.negate = !r.negate
		}
	}
	rule := s[i:end]
	sp := strings.IndexAny(rule, " \t\r\n")
	if sp < 0 {
		return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "cidr rule without action"}
	}
	pat := rule[:sp]
	if strings.EqualFold(pat, "if") || strings.EqualFold(pat, "endif") {
		return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "cidr IF/ENDIF blocks are not supported"}
	}
	prefix, err := netip.ParsePrefix(pat)
	if err != nil {
		addr, aerr := netip.ParseAddr(pat)
		if aerr != nil || addr.Zone() != "" {
			return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "invalid cidr pattern " + quote(pat)}
		}
		prefix = netip.PrefixFrom(addr, addr.BitLen())
	}
	if prefix.Masked() != prefix {
		return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "non-null host address bits in " + quote(pat)}
	}
	if prefix.Addr().Is4In6() {
		// Postfix matches it against IPv6 next hops only, and Lookup
		// passes those on as IPv4 addresses.
		return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "IPv4-mapped prefix " + quote(pat) + ": write the IPv4 prefix"}
	}
	r.prefix, r.result = unmapPrefix(prefix), newResult(strings.TrimSpace(rule[sp:]))
	return r, nil
}

// parseRegexpRule parses "[!]/pattern/flags action" of a regexp: table
// (POSIX, read as RE2) or a pcre: table (read as RE2, refusing what RE2
// cannot express).
func parseRegexpRule(s string, start, end int, pcre bool) (reRule, error) {
	r := reRule{}
	i := start
	for ; i < end && (s[i] == '!' || pcre && isSpace(s[i])); i++ {
		if s[i] == '!' {
			r.negate = !r.negate
		}
	}
	if i >= end || isNameChar(s[i]) || isSpace(s[i]) || s[i] == '\\' {
		return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "regexp rule does not start with a delimiter such as '/'"}
	}
	delim := s[i]
	var pat strings.Builder
	j := i + 1
	for ; j < end && s[j] != delim; j++ {
		if s[j] == '\\' && j+1 < end {
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
	if j >= end {
		return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "unterminated regular expression"}
	}
	j++
	anchored := false
	for ; j < end && !isSpace(s[j]); j++ {
		switch c := s[j]; {
		case c == 'm':
			r.multi = !r.multi
		case c == 'i':
			return r, &ParseError{Input: s, Offset: j, Err: ErrSyntax, Msg: "regexp flag \"i\" (case-sensitive matching) is not supported: next hops are matched in lower case"}
		case pcre && c == 'A':
			anchored = !anchored
		case pcre && (c == 's' || c == 'E' || c == 'U' || c == 'X'):
			// No effect on a match of a next hop: it holds no newline,
			// and greediness does not change whether a pattern matches.
		default:
			return r, &ParseError{Input: s, Offset: j, Err: ErrSyntax, Msg: "unsupported regexp flag " + quote(s[j:j+1])}
		}
	}
	value := strings.TrimSpace(s[j:end])
	if value == "" {
		return r, &ParseError{Input: s, Offset: j, Err: ErrSyntax, Msg: "regexp rule without action"}
	}
	r.pattern = pat.String()
	if !pcre {
		if c := unsupportedPOSIX(r.pattern); c != "" {
			return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "regexp pattern uses " + c + ", which POSIX and Go's RE2 read differently"}
		}
	} else {
		if c := unsupportedPCRE(r.pattern); c != "" {
			return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: "pcre pattern uses " + c + ", which Go's RE2 cannot express"}
		}
		if anchored {
			r.pattern = `\A(?:` + r.pattern + `)`
		}
	}
	r.result = newResult(value)
	if err := r.compile(); err != nil {
		return r, &ParseError{Input: s, Offset: i, Err: ErrSyntax, Msg: err.Error()}
	}
	return r, nil
}

// unsetFlags returns the inline options at the start of rest, the text
// after "(?", when they unset a flag ("-" or "^"): that could turn caseless
// matching off, and a pattern then never matches the lower-case next hop.
func unsetFlags(rest string) string {
	if k := strings.IndexAny(rest, ":)"); k >= 0 && strings.ContainsAny(rest[:k], "-^") {
		return rest[:k]
	}
	return ""
}

// unsupportedPCRE names the first PCRE construct in p that RE2 either
// refuses or would read differently, or returns "".
func unsupportedPCRE(p string) string {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			if i+1 >= len(p) {
				return "a trailing backslash"
			}
			i++
			switch c := p[i]; {
			case '1' <= c && c <= '9', c == 'g', c == 'k':
				return "a backreference (\\" + string(c) + ")"
			case c == 'C':
				return "\\C (one code unit)"
			case c == 'K':
				return "\\K (reset match start)"
			case c == 'G':
				return "\\G"
			case c == 'Q':
				// Quoted text: skip to \E, it holds no construct.
				if e := strings.Index(p[i:], `\E`); e >= 0 {
					i += e + 1
				} else {
					i = len(p)
				}
			case strings.IndexByte("hHvVRXNeoc0uUlLZ", c) >= 0:
				return "the escape \\" + string(c) + " (different or absent in RE2)"
			}
		case '(':
			if i+1 < len(p) && p[i+1] == '*' {
				return "a backtracking verb or option (*...)"
			}
			if i+1 < len(p) && p[i+1] == '?' {
				rest := p[i+2:]
				switch {
				case strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "!"):
					return "a lookahead (?= or (?!"
				case strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!"):
					return "a lookbehind (?<= or (?<!"
				case strings.HasPrefix(rest, ">"):
					return "an atomic group (?>"
				case strings.HasPrefix(rest, "|"):
					return "a branch reset group (?|"
				case strings.HasPrefix(rest, "("):
					return "a conditional group (?("
				case strings.HasPrefix(rest, "#"):
					return "a comment group (?#"
				case strings.HasPrefix(rest, "R") || strings.HasPrefix(rest, "&") || strings.HasPrefix(rest, "P>") ||
					len(rest) > 0 && (rest[0] == '+' || rest[0] == '-' || '0' <= rest[0] && rest[0] <= '9') && !strings.HasPrefix(rest, "-i") && !strings.HasPrefix(rest, "-m") && !strings.HasPrefix(rest, "-s") && !strings.HasPrefix(rest, "-U"):
					return "recursion or a subroutine call"
				case strings.HasPrefix(rest, "C"):
					return "a callout (?C"
				}
				// Inline options: RE2 reads i, m, s and U as PCRE does.
				if opts := unsetFlags(rest); opts != "" {
					return "inline options that unset flags (?" + opts
				}
			}
		case '*', '+', '?', '}':
			if i+1 < len(p) && p[i+1] == '+' {
				return "a possessive quantifier (" + p[i:i+2] + ")"
			}
		case '{':
			if i+1 < len(p) && p[i+1] == ',' {
				return "a quantifier {,n} (a literal in RE2 and older PCRE2)"
			}
		case '[':
			// Skip a character class, where these characters are literal.
			j := i + 1
			if j < len(p) && p[j] == '^' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for ; j < len(p) && p[j] != ']'; j++ {
				if p[j] == '\\' {
					j++
					if j < len(p) && strings.IndexByte("hHvVRXNeoc0123456789C", p[j]) >= 0 {
						return "the escape \\" + string(p[j]) + " in a character class (different or absent in RE2)"
					}
				} else if p[j] == '[' && j+1 < len(p) && p[j+1] == ':' {
					if e := strings.Index(p[j:], ":]"); e >= 0 {
						if strings.HasPrefix(p[j:], "[:<:]") || strings.HasPrefix(p[j:], "[:>:]") {
							return "a word boundary [[:<:]] or [[:>:]]"
						}
						j += e + 1
					}
				}
			}
			i = j
		}
	}
	return ""
}

func isAtomChar(c byte) bool {
	return isNameChar(c) || c == '+' || c == '-' || c == '.'
}

// unsupportedPOSIX names the first construct of p that Postfix's POSIX
// regular expressions (glibc regcomp, REG_EXTENDED) and RE2 read
// differently, or returns "": an escape other than of punctuation or of
// \w \W \s \S \b \B (glibc: \< \> are word edges, \d is "d"; RE2: "<",
// digits), a backslash in a bracket expression (a literal there), "(?"
// and "{,".
func unsupportedPOSIX(p string) string {
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case inClass && c == '\\':
			return "a backslash in a bracket expression"
		case inClass && c == '[' && i+1 < len(p) && (p[i+1] == ':' || p[i+1] == '.' || p[i+1] == '='):
			if e := strings.Index(p[i+2:], string(p[i+1])+"]"); e >= 0 {
				i += e + 3
			}
		case inClass && c == ']':
			inClass = false
		case inClass:
		case c == '[':
			inClass = true
			if i+1 < len(p) && p[i+1] == '^' {
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				i++
			}
		case c == '\\':
			if i+1 >= len(p) {
				return "a trailing backslash"
			}
			i++
			if n := p[i]; isNameChar(n) && strings.IndexByte("wWsSbB", n) < 0 || n >= 0x80 || strings.IndexByte("<>`'", n) >= 0 {
				return "the escape \\" + string(n)
			}
		case c == '(' && i+1 < len(p) && p[i+1] == '?':
			return "\"(?\""
		case c == '{' && i+1 < len(p) && p[i+1] == ',':
			return "\"{,\""
		}
	}
	return ""
}
