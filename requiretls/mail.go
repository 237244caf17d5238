package requiretls

import (
	"errors"
	"hash/maphash"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// Errors wrapped by every [*ParseError]. Use errors.Is to branch on them and
// [ReplyFor] to get the reply a server should send.
var (
	// ErrSyntax: the command or its reverse path does not follow RFC 5321
	// Section 4.1.1.2 and 4.1.2.
	ErrSyntax = errors.New("requiretls: syntax error in MAIL command")
	// ErrParam: a parameter does not follow the esmtp-param grammar of
	// RFC 5321 Section 4.1.2 or the value rules of its defining RFC.
	ErrParam = errors.New("requiretls: invalid MAIL parameter")
	// ErrValue: REQUIRETLS was given a value; it takes none (RFC 8689
	// Section 2 item 4: the parameter is the keyword alone). Wraps ErrParam.
	ErrValue = &paramError{"requiretls: REQUIRETLS takes no value"}
	// ErrDuplicate: a parameter appears twice (RFC 3461 Section 4.4 forbids
	// it for RET and ENVID; this parser rejects every duplicate, including
	// a second REQUIRETLS, which no RFC allows or forbids). Wraps ErrParam.
	ErrDuplicate = &paramError{"requiretls: duplicate MAIL parameter"}
	// ErrTooLong: the line is longer than RFC 5321 Section 4.5.3.1.4 allows,
	// counting the increments of the extensions in use.
	ErrTooLong = errors.New("requiretls: MAIL command line too long")
)

type paramError struct{ s string }

func (e *paramError) Error() string { return e.s }
func (e *paramError) Unwrap() error { return ErrParam }

// ParseError reports where a MAIL FROM line failed to parse.
type ParseError struct {
	Input  string // the line as given
	Offset int    // byte offset of the problem in Input
	Msg    string // what is wrong
	Err    error  // the sentinel: ErrSyntax, ErrParam (or ErrValue, ErrDuplicate, which wrap it) or ErrTooLong
}

// Error returns the sentinel's text, what was wrong and its offset.
func (e *ParseError) Error() string {
	return e.Err.Error() + ": " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }

// ReplyFor maps an error of this package to the reply a server should send:
//
//	ErrTooLong                       500 5.5.2 (RFC 5321 Section 4.5.3.1.10)
//	ErrSyntax                        501 5.5.2
//	ErrParam, ErrValue, ErrDuplicate 501 5.5.4 (RFC 3463: invalid command arguments)
//	*smtp.SMTPError                  itself
//	anything else                    451 4.3.0
//
// 501 rather than 555 for a malformed REQUIRETLS parameter: the parameter is
// recognised and implemented, it is the syntax that is wrong.
func ReplyFor(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, ErrTooLong):
		return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	case errors.Is(err, ErrSyntax):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Syntax error in MAIL FROM reverse path"}
	case errors.Is(err, ErrValue):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "REQUIRETLS takes no value"}
	case errors.Is(err, ErrDuplicate):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Duplicate MAIL FROM parameter"}
	case errors.Is(err, ErrParam):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Invalid MAIL FROM parameter"}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Internal error"}
}

// Mail is a parsed MAIL FROM command.
type Mail struct {
	// From is the reverse path without angle brackets; empty for the null
	// reverse path "<>" of a bounce. A source route ("@a,@b:") is accepted
	// and dropped, as RFC 5321 Section 4.1.2 asks.
	From string
	// Params are the parameters in command order, keywords in upper case.
	Params []Param
}

// Param is one esmtp-param (RFC 5321 Section 4.1.2).
type Param struct {
	Keyword  string // upper case, e.g. "REQUIRETLS"
	Value    string // the value as sent (xtext stays encoded)
	HasValue bool   // "KEYWORD=value" rather than "KEYWORD"
}

// RequireTLS reports whether m carries the REQUIRETLS parameter.
func (m *Mail) RequireTLS() bool { return m.Param(Keyword) != nil }

// Param returns the parameter with the given keyword (case-insensitive), or nil.
func (m *Mail) Param(keyword string) *Param {
	for i := range m.Params {
		if strings.EqualFold(m.Params[i].Keyword, keyword) {
			return &m.Params[i]
		}
	}
	return nil
}

// String formats m as a command line without the trailing CRLF. For a Mail
// returned by ParseMail, ParseMail(m.String()) gives m back.
func (m *Mail) String() string {
	var b strings.Builder
	b.Grow(len("MAIL FROM:<>") + len(m.From) + 16*len(m.Params))
	b.WriteString("MAIL FROM:<")
	b.WriteString(m.From)
	b.WriteByte('>')
	for _, p := range m.Params {
		b.WriteByte(' ')
		b.WriteString(p.Keyword)
		if p.HasValue {
			b.WriteByte('=')
			b.WriteString(p.Value)
		}
	}
	return b.String()
}

// BaseLineLimit is the RFC 5321 Section 4.5.3.1.4 limit on a command line,
// CRLF included.
const BaseLineLimit = 512

// maxLineLimit is the longest line any combination of parameters allows;
// longer input is refused before it is parsed.
const maxLineLimit = BaseLineLimit + LineIncrement + 26 + 500

// ParseMail parses a whole MAIL FROM command line, with or without its
// trailing CRLF, strictly after RFC 5321 Section 4.1.1.2 and 4.1.2:
//
//   - the verb and "FROM:" are case-insensitive, and no space may precede
//     the reverse path (RFC 5321 Section 4.1.1.2; many servers tolerate one,
//     this parser does not);
//   - the reverse path is "<>" or a Path with a Mailbox; a mailbox with
//     UTF-8 needs the SMTPUTF8 parameter (RFC 6531 Section 3.3);
//   - parameters are separated by single spaces; keywords are
//     case-insensitive; values follow esmtp-value, and the known keywords
//     their own RFCs: REQUIRETLS and SMTPUTF8 take no value, SIZE is digits,
//     BODY, RET are enumerations, ENVID and AUTH are xtext (RFC 3461
//     Section 4, RFC 4954 Section 5);
//   - a repeated keyword is an error ([ErrDuplicate]);
//   - the line, CRLF included, fits in 512 octets plus the increments of
//     REQUIRETLS (11), SIZE (26) and AUTH (500) when present.
//
// Errors are *ParseError values wrapping one of the package sentinels.
//
// The time ParseMail takes is linear in the length of the line, and a
// successful parse makes one allocation, for the Mail and its Params
// together; only an unknown keyword sent with lower-case letters costs one
// more, for its upper-case copy.
func ParseMail(line string) (*Mail, error) {
	p := mailParser{in: line}
	return p.parse()
}

type mailParser struct {
	in  string
	pos int
}

func (p *mailParser) fail(sentinel error, msg string) error {
	return &ParseError{Input: p.in, Offset: p.pos, Msg: msg, Err: sentinel}
}

func (p *mailParser) parse() (*Mail, error) {
	s := strings.TrimSuffix(p.in, "\r\n")
	if len(s)+len("\r\n") > maxLineLimit {
		p.pos = maxLineLimit - len("\r\n")
		return nil, p.fail(ErrTooLong, strconv.Itoa(len(s)+2)+" octets")
	}
	if i := indexCRLF(s); i >= 0 {
		p.pos = i
		return nil, p.fail(ErrSyntax, "bare CR or LF")
	}
	if len(s) < len("MAIL FROM:") || !strings.EqualFold(s[:len("MAIL FROM:")], "MAIL FROM:") {
		return nil, p.fail(ErrSyntax, `not a "MAIL FROM:" command`)
	}
	p.pos = len("MAIL FROM:")
	from, err := p.reversePath(s)
	if err != nil {
		return nil, err
	}
	// The parameters are checked in one pass that stops at the first bad
	// one, then copied into the result, and then checked for repeats, so
	// that a repeat before a bad parameter is the error reported, as it
	// comes first in the line. The first few are kept on the stack on the
	// way; more are split again from the line once they are counted.
	paramsStart, paramsEnd := p.pos, p.pos
	var first [smallParams]Param
	var seen uint8 // a bit for each known keyword present, see knownBit
	var perr error
	n := 0
	for p.pos < len(s) {
		if s[p.pos] != ' ' {
			perr = p.fail(ErrSyntax, "expected a space before a parameter")
			break
		}
		p.pos++
		prm, k, err := p.param(s)
		if err != nil {
			perr = err
			break
		}
		if n < len(first) {
			first[n] = prm
		}
		seen |= knownBit(k)
		n++
		paramsEnd = p.pos
	}
	m := newMail(n)
	m.From = from
	params := s[paramsStart:paramsEnd]
	if n <= len(first) {
		copy(m.Params, first[:n])
	} else {
		fillParams(m.Params, params)
	}
	if i := firstDuplicate(m.Params); i >= 0 {
		p.pos = paramsStart + paramOffset(params, i)
		return nil, p.fail(ErrDuplicate, strconv.Quote(m.Params[i].Keyword))
	}
	if perr != nil {
		return nil, perr
	}
	if seen&knownBit(kwSMTPUTF8) == 0 && utf8Path(m.From) {
		p.pos = len("MAIL FROM:")
		return nil, p.fail(ErrSyntax, "UTF-8 in the reverse path without SMTPUTF8")
	}
	limit := BaseLineLimit
	for k := kwRequireTLS; k <= kwAUTH; k++ {
		if seen&knownBit(k) != 0 {
			limit += knownKeywords[k].increment
		}
	}
	if n := len(s) + len("\r\n"); n > limit {
		p.pos = limit - len("\r\n")
		return nil, p.fail(ErrTooLong, strconv.Itoa(n)+" octets, limit "+strconv.Itoa(limit))
	}
	return m, nil
}

// indexCRLF returns the index of the first CR or LF in s, or -1.
func indexCRLF(s string) int {
	i, j := strings.IndexByte(s, '\r'), strings.IndexByte(s, '\n')
	if i < 0 || j >= 0 && j < i {
		return j
	}
	return i
}

func utf8Path(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// reversePath parses Reverse-path = Path / "<>" at p.pos and returns the
// mailbox without its source route.
func (p *mailParser) reversePath(s string) (string, error) {
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
func (p *mailParser) localPart(s string) error {
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
	return p.dotString(s, classAtext)
}

// dotString parses atoms of the characters of class (and UTF-8) separated
// by single dots.
func (p *mailParser) dotString(s string, class uint8) error {
	for {
		start := p.pos
		for p.pos < len(s) {
			i := p.pos
			for i < len(s) && charClass[s[i]]&class != 0 {
				i++
			}
			p.pos = i
			if i == len(s) || s[i] < utf8.RuneSelf {
				break
			}
			if err := p.utf8Char(s); err != nil {
				return err
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

func (p *mailParser) utf8Char(s string) error {
	r, n := utf8.DecodeRuneInString(s[p.pos:])
	if r == utf8.RuneError && n <= 1 {
		return p.fail(ErrSyntax, "invalid UTF-8")
	}
	p.pos += n
	return nil
}

// domain parses sub-domain *("." sub-domain), sub-domain = Let-dig
// [Ldh-str], U-labels allowed (RFC 6531 Section 3.3).
func (p *mailParser) domain(s string) error {
	start := p.pos
	if err := p.dotString(s, classLdh); err != nil {
		return err
	}
	d := s[start:p.pos]
	for i := strings.IndexByte(d, '-'); i >= 0; {
		if i == 0 || d[i-1] == '.' || i == len(d)-1 || d[i+1] == '.' {
			p.pos = start
			return p.fail(ErrSyntax, "domain label starts or ends with a hyphen")
		}
		j := strings.IndexByte(d[i+1:], '-')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}

// addressLiteral parses "[" 1*dcontent "]" (RFC 5321 Section 4.1.3); the
// contents are checked only for the allowed characters.
func (p *mailParser) addressLiteral(s string) error {
	p.pos++ // '['
	start := p.pos
	for p.pos < len(s) && s[p.pos] != ']' {
		if charClass[s[p.pos]]&classDcontent == 0 {
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

// Character classes of the MAIL grammar, as bits of charClass.
const (
	classAtext    = 1 << iota // atext, RFC 5321 Section 4.1.2
	classLdh                  // letter, digit or "-"
	classValue                // esmtp-value: %d33-60 / %d62-126 (RFC 5321 Section 4.1.2)
	classDcontent             // dcontent: %d33-90 / %d94-126 (RFC 5321 Section 4.1.3)
)

var charClass = func() (t [256]uint8) {
	for c := 33; c <= 126; c++ {
		t[c] |= classValue | classDcontent
		if isAlnum(byte(c)) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", byte(c)) >= 0 {
			t[c] |= classAtext
		}
		if isAlnum(byte(c)) || c == '-' {
			t[c] |= classLdh
		}
	}
	t['='] &^= classValue
	t['['] &^= classDcontent
	t['\\'] &^= classDcontent
	t[']'] &^= classDcontent
	return t
}()

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// param parses esmtp-param = esmtp-keyword ["=" esmtp-value] at p.pos and
// returns it and which known keyword it is (kwUnknown for any other).
func (p *mailParser) param(s string) (Param, int, error) {
	start := p.pos
	i := start
	for i < len(s) && charClass[s[i]]&classLdh != 0 {
		i++
	}
	p.pos = i
	kw := s[start:i]
	if kw == "" || kw[0] == '-' {
		p.pos = start
		return Param{}, 0, p.fail(ErrParam, "bad esmtp-keyword")
	}
	var value string
	hasValue := false
	if i < len(s) && s[i] == '=' {
		i++
		vstart := i
		for i < len(s) && s[i] != ' ' {
			if charClass[s[i]]&classValue == 0 {
				p.pos = i
				return Param{}, 0, p.fail(ErrParam, "bad character in esmtp-value")
			}
			i++
		}
		p.pos = i
		if i == vstart {
			return Param{}, 0, p.fail(ErrParam, "empty esmtp-value")
		}
		value, hasValue = s[vstart:i], true
	} else if i < len(s) && s[i] != ' ' {
		return Param{}, 0, p.fail(ErrParam, "bad character in esmtp-keyword")
	}
	k := knownKeyword(kw)
	if detail := checkKnown(k, value, hasValue); detail != "" {
		p.pos = start
		if k == kwRequireTLS {
			return Param{}, 0, p.fail(ErrValue, detail)
		}
		return Param{}, 0, p.fail(ErrParam, detail)
	}
	return Param{Keyword: upperKeyword(kw, k), Value: value, HasValue: hasValue}, k, nil
}

// The keywords whose values ParseMail checks, as indexes of knownKeywords.
const (
	kwUnknown = iota
	kwRequireTLS
	kwSIZE
	kwAUTH // the last one with a line increment
	kwSMTPUTF8
	kwBODY
	kwRET
	kwENVID
)

var knownKeywords = [...]struct {
	name      string
	increment int // octets the parameter adds to the line limit
}{
	kwRequireTLS: {Keyword, LineIncrement}, // RFC 8689 Section 2 item 9
	kwSIZE:       {"SIZE", 26},             // RFC 1870 Section 6
	kwAUTH:       {"AUTH", 500},            // RFC 4954 Section 5
	kwSMTPUTF8:   {"SMTPUTF8", 0},
	kwBODY:       {"BODY", 0},
	kwRET:        {"RET", 0},
	kwENVID:      {"ENVID", 0},
}

func knownBit(k int) uint8 { return 1 << k >> 1 } // 0 for kwUnknown

// knownKeyword returns the index in knownKeywords of the keyword kw (letters,
// digits and "-", any case), or kwUnknown.
func knownKeyword(kw string) int {
	for k := kwRequireTLS; k < len(knownKeywords); k++ {
		if name := knownKeywords[k].name; len(name) == len(kw) && upperEqual(kw, name) {
			return k
		}
	}
	return kwUnknown
}

// upperEqual reports whether the ASCII string s, upper-cased, is upper.
func upperEqual(s, upper string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// checkKnown applies the value rules of the known parameters' defining RFCs
// and returns what is wrong, or "".
func checkKnown(k int, v string, hasValue bool) string {
	name := knownKeywords[k].name
	switch k {
	case kwUnknown:
		return ""
	case kwRequireTLS, kwSMTPUTF8: // RFC 8689 Section 2 item 4; RFC 6531 Section 3.4
		if hasValue {
			return name + " takes no value"
		}
		return ""
	case kwSIZE: // RFC 1870 Section 6: 1*20DIGIT
		if len(v) > 20 || !isDigits(v) {
			return "SIZE needs 1 to 20 digits"
		}
	case kwBODY: // RFC 6152, RFC 3030
		if !strings.EqualFold(v, "7BIT") && !strings.EqualFold(v, "8BITMIME") && !strings.EqualFold(v, "BINARYMIME") {
			return "unknown BODY value"
		}
	case kwRET: // RFC 3461 Section 4.3
		if !strings.EqualFold(v, "FULL") && !strings.EqualFold(v, "HDRS") {
			return "unknown RET value"
		}
	case kwENVID, kwAUTH: // RFC 3461 Section 4.4, RFC 4954 Section 5
		if !isXtext(v) {
			return name + " value is not xtext"
		}
	}
	if !hasValue {
		return name + " needs a value"
	}
	return ""
}

// isXtext reports whether s is xtext (RFC 3461 Section 4): printable ASCII
// other than "+" and "=", or "+" and two upper-case hex digits.
func isXtext(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return false
			}
			i += 2
		case c < 33 || c > 126 || c == '=':
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// maxParams bounds the parameters of a line ParseMail reads: each takes at
// least two octets, a space and a keyword character.
const maxParams = (maxLineLimit - len("MAIL FROM:<>\r\n")) / 2

// mailWith is a Mail with room for its parameters, so that both take one
// allocation.
type mailWith[A any] struct {
	m Mail
	p A
}

func withParams[A any](n int, all func(*A) []Param) *Mail {
	x := new(mailWith[A])
	x.m.Params = all(&x.p)[:n:n]
	return &x.m
}

// newMail returns a Mail with n parameters, and with them in the same
// allocation; the sizes grow in powers of two, so at most half the room
// is unused.
func newMail(n int) *Mail {
	switch {
	case n == 0:
		return new(Mail)
	case n == 1:
		return withParams(n, func(a *[1]Param) []Param { return a[:] })
	case n <= 2:
		return withParams(n, func(a *[2]Param) []Param { return a[:] })
	case n <= 4:
		return withParams(n, func(a *[4]Param) []Param { return a[:] })
	case n <= 8:
		return withParams(n, func(a *[8]Param) []Param { return a[:] })
	case n <= 16:
		return withParams(n, func(a *[16]Param) []Param { return a[:] })
	case n <= 32:
		return withParams(n, func(a *[32]Param) []Param { return a[:] })
	case n <= 64:
		return withParams(n, func(a *[64]Param) []Param { return a[:] })
	case n <= 128:
		return withParams(n, func(a *[128]Param) []Param { return a[:] })
	case n <= 256:
		return withParams(n, func(a *[256]Param) []Param { return a[:] })
	}
	return withParams(n, func(a *[maxParams]Param) []Param { return a[:] })
}

// fillParams sets ps from params, the parameters param has checked, each
// after its single space, as param returned them.
func fillParams(ps []Param, params string) {
	for i := range ps {
		params = params[1:]
		end := strings.IndexByte(params, ' ')
		if end < 0 {
			end = len(params)
		}
		kw, v, hasValue := strings.Cut(params[:end], "=")
		ps[i] = Param{Keyword: upperKeyword(kw, knownKeyword(kw)), Value: v, HasValue: hasValue}
		params = params[end:]
	}
}

// upperKeyword returns kw, the known keyword k, in upper case, without
// allocating for a known keyword or one already in upper case.
func upperKeyword(kw string, k int) string {
	if k != kwUnknown {
		return knownKeywords[k].name
	}
	for i := 0; i < len(kw); i++ {
		if 'a' <= kw[i] && kw[i] <= 'z' {
			return strings.ToUpper(kw)
		}
	}
	return kw
}

// paramOffset returns the offset in params of parameter i.
func paramOffset(params string, i int) int {
	off := 0
	for range i + 1 {
		off += strings.IndexByte(params[off:], ' ') + 1
	}
	return off
}

// smallParams is the number of parameters up to which firstDuplicate
// compares each pair: cheaper than hashing that few.
const smallParams = 8

// firstDuplicate returns the index of the first parameter whose keyword an
// earlier one has, or -1. Keywords are in upper case, so equal keywords
// are equal strings. The work is linear in len(ps).
func firstDuplicate(ps []Param) int {
	if len(ps) > smallParams {
		return firstDuplicateHashed(ps)
	}
	for i := 1; i < len(ps); i++ {
		for j := range i {
			if ps[j].Keyword == ps[i].Keyword {
				return i
			}
		}
	}
	return -1
}

// keywordSeed is random for each process, so a client cannot choose
// keywords that collide in firstDuplicateHashed's table.
var keywordSeed = maphash.MakeSeed()

// firstDuplicateHashed is firstDuplicate with an open-addressing set on
// the stack. It has more slots than maxParams, so probing always ends, and
// about three times as many as the distinct keywords a line can hold (36
// of one character, the rest of two or more), so probes stay short.
func firstDuplicateHashed(ps []Param) int {
	var set [1024]uint16 // 1 + the index in ps of the keyword in each slot; 0 for none
	const mask = len(set) - 1
	const _ = uint(len(set) - maxParams - 1) // a compile error if set is too small
	for i := range ps {
		h := int(maphash.String(keywordSeed, ps[i].Keyword)) & mask
		for set[h] != 0 {
			if ps[set[h]-1].Keyword == ps[i].Keyword {
				return i
			}
			h = (h + 1) & mask
		}
		set[h] = uint16(i + 1)
	}
	return -1
}
