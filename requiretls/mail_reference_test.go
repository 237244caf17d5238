package requiretls

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseMailReference is ParseMail as it was before the single-allocation
// rewrite (commit 6102232): the reference TestParseMailMatchesReference
// compares the production parser with, error for error and offset for
// offset. It is test code only; do not use it elsewhere.
func parseMailReference(line string) (*Mail, error) {
	p := refParser{in: line}
	return p.parse()
}

type refParser struct {
	in  string
	pos int
}

func (p *refParser) fail(sentinel error, msg string) error {
	return &ParseError{Input: p.in, Offset: p.pos, Msg: msg, Err: sentinel}
}

func (p *refParser) parse() (*Mail, error) {
	s := strings.TrimSuffix(p.in, "\r\n")
	if len(s)+len("\r\n") > maxLineLimit {
		p.pos = maxLineLimit - len("\r\n")
		return nil, p.fail(ErrTooLong, strconv.Itoa(len(s)+2)+" octets")
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		p.pos = i
		return nil, p.fail(ErrSyntax, "bare CR or LF")
	}
	if len(s) < len("MAIL FROM:") || !strings.EqualFold(s[:len("MAIL FROM:")], "MAIL FROM:") {
		return nil, p.fail(ErrSyntax, `not a "MAIL FROM:" command`)
	}
	p.pos = len("MAIL FROM:")
	m := &Mail{}
	from, err := p.reversePath(s)
	if err != nil {
		return nil, err
	}
	m.From = from
	for p.pos < len(s) {
		if s[p.pos] != ' ' {
			return nil, p.fail(ErrSyntax, "expected a space before a parameter")
		}
		p.pos++
		start := p.pos
		prm, err := p.param(s)
		if err != nil {
			return nil, err
		}
		if m.Param(prm.Keyword) != nil {
			p.pos = start
			return nil, p.fail(ErrDuplicate, strconv.Quote(prm.Keyword))
		}
		m.Params = append(m.Params, prm)
	}
	if refUTF8Path(m.From) && m.Param("SMTPUTF8") == nil {
		p.pos = len("MAIL FROM:")
		return nil, p.fail(ErrSyntax, "UTF-8 in the reverse path without SMTPUTF8")
	}
	limit := BaseLineLimit
	for _, prm := range m.Params {
		limit += refLineIncrements[prm.Keyword]
	}
	if n := len(s) + len("\r\n"); n > limit {
		p.pos = limit - len("\r\n")
		return nil, p.fail(ErrTooLong, strconv.Itoa(n)+" octets, limit "+strconv.Itoa(limit))
	}
	return m, nil
}

func refUTF8Path(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// reversePath parses Reverse-path = Path / "<>" at p.pos and returns the
// mailbox without its source route.
func (p *refParser) reversePath(s string) (string, error) {
	if p.pos >= len(s) || s[p.pos] != '<' {
		return "", p.fail(ErrSyntax, `expected "<"`)
	}
	p.pos++
	if strings.HasPrefix(s[p.pos:], ">") {
		p.pos++
		return "", nil
	}
	if p.pos < len(s) && s[p.pos] == '@' { // A-d-l ":"
		for {
			p.pos++ // '@'
			if err := p.domain(s); err != nil {
				return "", err
			}
			if p.pos < len(s) && s[p.pos] == ',' && p.pos+1 < len(s) && s[p.pos+1] == '@' {
				p.pos++
				continue
			}
			break
		}
		if p.pos >= len(s) || s[p.pos] != ':' {
			return "", p.fail(ErrSyntax, `expected ":" after source route`)
		}
		p.pos++
	}
	start := p.pos
	if err := p.localPart(s); err != nil {
		return "", err
	}
	if p.pos >= len(s) || s[p.pos] != '@' {
		return "", p.fail(ErrSyntax, `expected "@" in mailbox`)
	}
	p.pos++
	if p.pos < len(s) && s[p.pos] == '[' {
		if err := p.addressLiteral(s); err != nil {
			return "", err
		}
	} else if err := p.domain(s); err != nil {
		return "", err
	}
	if p.pos >= len(s) || s[p.pos] != '>' {
		return "", p.fail(ErrSyntax, `expected ">"`)
	}
	from := s[start:p.pos]
	p.pos++
	return from, nil
}

// localPart parses Dot-string / Quoted-string (RFC 5321 Section 4.1.2,
// extended with UTF-8 by RFC 6531 Section 3.3).
func (p *refParser) localPart(s string) error {
	if p.pos < len(s) && s[p.pos] == '"' {
		p.pos++
		for p.pos < len(s) {
			c := s[p.pos]
			switch {
			case c == '"':
				p.pos++
				return nil
			case c == '\\':
				if p.pos+1 >= len(s) || s[p.pos+1] < 32 || s[p.pos+1] > 126 {
					return p.fail(ErrSyntax, "bad quoted-pair")
				}
				p.pos += 2
			case c >= 32 && c <= 126:
				p.pos++
			case c >= utf8.RuneSelf:
				if err := p.utf8Char(s); err != nil {
					return err
				}
			default:
				return p.fail(ErrSyntax, "control character in quoted local part")
			}
		}
		return p.fail(ErrSyntax, "unterminated quoted local part")
	}
	return p.dotString(s, refIsAtext)
}

func (p *refParser) dotString(s string, ok func(byte) bool) error {
	for {
		start := p.pos
		for p.pos < len(s) {
			if c := s[p.pos]; ok(c) {
				p.pos++
			} else if c >= utf8.RuneSelf {
				if err := p.utf8Char(s); err != nil {
					return err
				}
			} else {
				break
			}
		}
		if p.pos == start {
			return p.fail(ErrSyntax, "empty atom")
		}
		if p.pos >= len(s) || s[p.pos] != '.' {
			return nil
		}
		p.pos++
	}
}

func (p *refParser) utf8Char(s string) error {
	r, n := utf8.DecodeRuneInString(s[p.pos:])
	if r == utf8.RuneError && n <= 1 {
		return p.fail(ErrSyntax, "invalid UTF-8")
	}
	p.pos += n
	return nil
}

// domain parses sub-domain *("." sub-domain), sub-domain = Let-dig
// [Ldh-str], U-labels allowed (RFC 6531 Section 3.3).
func (p *refParser) domain(s string) error {
	start := p.pos
	if err := p.dotString(s, refIsLdh); err != nil {
		return err
	}
	for label := range strings.SplitSeq(s[start:p.pos], ".") {
		if label[0] == '-' || label[len(label)-1] == '-' {
			p.pos = start
			return p.fail(ErrSyntax, "domain label starts or ends with a hyphen")
		}
	}
	return nil
}

// addressLiteral parses "[" 1*dcontent "]" (RFC 5321 Section 4.1.3); the
// contents are checked only for the allowed characters.
func (p *refParser) addressLiteral(s string) error {
	p.pos++ // '['
	start := p.pos
	for p.pos < len(s) && s[p.pos] != ']' {
		if c := s[p.pos]; c < 33 || c > 126 || c == '[' || c == '\\' {
			return p.fail(ErrSyntax, "bad character in address literal")
		}
		p.pos++
	}
	if p.pos == start || p.pos >= len(s) {
		return p.fail(ErrSyntax, "bad address literal")
	}
	p.pos++
	return nil
}

func refIsAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func refIsLdh(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// param parses esmtp-param = esmtp-keyword ["=" esmtp-value] at p.pos.
func (p *refParser) param(s string) (Param, error) {
	start := p.pos
	for p.pos < len(s) && (refIsLdh(s[p.pos])) {
		p.pos++
	}
	kw := s[start:p.pos]
	if kw == "" || kw[0] == '-' {
		p.pos = start
		return Param{}, p.fail(ErrParam, "bad esmtp-keyword")
	}
	prm := Param{Keyword: strings.ToUpper(kw)}
	if p.pos < len(s) && s[p.pos] == '=' {
		p.pos++
		vstart := p.pos
		for p.pos < len(s) && s[p.pos] != ' ' {
			if c := s[p.pos]; c < 33 || c > 126 || c == '=' {
				return Param{}, p.fail(ErrParam, "bad character in esmtp-value")
			}
			p.pos++
		}
		if p.pos == vstart {
			return Param{}, p.fail(ErrParam, "empty esmtp-value")
		}
		prm.Value, prm.HasValue = s[vstart:p.pos], true
	} else if p.pos < len(s) && s[p.pos] != ' ' {
		return Param{}, p.fail(ErrParam, "bad character in esmtp-keyword")
	}
	if detail := refCheckKnown(prm); detail != "" {
		p.pos = start
		if prm.Keyword == Keyword {
			return Param{}, p.fail(ErrValue, detail)
		}
		return Param{}, p.fail(ErrParam, detail)
	}
	return prm, nil
}

// refCheckKnown applies the value rules of the parameters' defining RFCs and
// returns what is wrong, or "".
func refCheckKnown(prm Param) string {
	v := prm.Value
	switch prm.Keyword {
	case Keyword, "SMTPUTF8": // RFC 8689 Section 2 item 4; RFC 6531 Section 3.4
		if prm.HasValue {
			return prm.Keyword + " takes no value"
		}
		return ""
	case "SIZE": // RFC 1870 Section 6: 1*20DIGIT
		if len(v) > 20 || strings.Trim(v, "0123456789") != "" {
			return "SIZE needs 1 to 20 digits"
		}
	case "BODY": // RFC 6152, RFC 3030
		switch strings.ToUpper(v) {
		case "7BIT", "8BITMIME", "BINARYMIME":
		default:
			return "unknown BODY value"
		}
	case "RET": // RFC 3461 Section 4.3
		switch strings.ToUpper(v) {
		case "FULL", "HDRS":
		default:
			return "unknown RET value"
		}
	case "ENVID", "AUTH": // RFC 3461 Section 4.4, RFC 4954 Section 5
		if !refIsXtext(v) {
			return prm.Keyword + " value is not xtext"
		}
	}
	if !prm.HasValue {
		switch prm.Keyword {
		case "SIZE", "BODY", "RET", "ENVID", "AUTH":
			return prm.Keyword + " needs a value"
		}
	}
	return ""
}

// refIsXtext reports whether s is xtext (RFC 3461 Section 4): printable ASCII
// other than "+" and "=", or "+" and two upper-case hex digits.
func refIsXtext(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			if i+2 >= len(s) || !refIsUpperHex(s[i+1]) || !refIsUpperHex(s[i+2]) {
				return false
			}
			i += 2
		case c < 33 || c > 126 || c == '=':
			return false
		}
	}
	return true
}

func refIsUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

var refLineIncrements = map[string]int{Keyword: LineIncrement, "SIZE": 26, "AUTH": 500}
