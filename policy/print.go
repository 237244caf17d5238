package policy

import "strings"

// String returns the policy in Postfix syntax, on one line, e.g.
// "inline:{{example.com = opportunistic}}, cidr:{{0.0.0.0/0 opportunistic}}, enforce".
// Parse(p.String(), opts) gives back an equivalent policy (opts supplying
// ReadFile if the policy names table files). "$" is written as "$$".
func (p *Policy) String() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	for i := range p.items {
		if i > 0 {
			b.WriteString(", ")
		}
		p.items[i].write(&b)
	}
	return b.String()
}

// String returns the item in Postfix syntax.
func (it Item) String() string {
	var b strings.Builder
	it.write(&b)
	return b.String()
}

func (it *Item) write(b *strings.Builder) {
	switch it.kind {
	case kindAtom, kindFail, kindText:
		writeText(b, it.text)
	case kindInline:
		b.WriteString("inline:{")
		for i, k := range it.inline.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('{')
			writeText(b, k)
			b.WriteString(" = ")
			writeText(b, it.inline.m[k].text)
			b.WriteByte('}')
		}
		b.WriteByte('}')
	case kindCIDR:
		b.WriteString("cidr:{")
		for i, r := range it.cidr {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('{')
			b.WriteString(r.prefix.String())
			b.WriteByte(' ')
			writeText(b, r.result.text)
			b.WriteByte('}')
		}
		b.WriteByte('}')
	case kindRegexp:
		b.WriteString("regexp:{")
		for i, r := range it.re {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('{')
			if r.negate {
				b.WriteByte('!')
			}
			b.WriteByte('/')
			writePattern(b, r.pattern)
			b.WriteByte('/')
			if r.multi {
				b.WriteByte('m')
			}
			b.WriteByte(' ')
			writeText(b, r.result.text)
			b.WriteByte('}')
		}
		b.WriteByte('}')
	}
}

// writeText writes s, doubling each "$" (main.cf: "$$" is a "$").
func writeText(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' {
			b.WriteByte('$')
		}
	}
}

// writePattern writes an RE2 pattern between "/" delimiters: an unescaped
// "/" becomes "\/", which RE2 reads as "/".
func writePattern(b *strings.Builder, p string) {
	var w strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			w.WriteByte(c)
			w.WriteByte(p[i+1])
			i++
		case c == '/':
			w.WriteString(`\/`)
		default:
			w.WriteByte(c)
		}
	}
	writeText(b, w.String())
}
