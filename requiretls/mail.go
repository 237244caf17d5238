package requiretls

import (
	"errors"
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
	// Section 2 item 4, checklist E4). Wraps ErrParam.
	ErrValue = &paramError{"requiretls: REQUIRETLS takes no value"}
	// ErrDuplicate: a parameter appears twice (RFC 3461 Section 4.4 forbids
	// it for RET and ENVID; this parser rejects every duplicate, including
	// REQUIRETLS, checklist E6). Wraps ErrParam.
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
	Err    error  // one of the package's sentinel errors
	Detail string // what was found, for people
}

func (e *ParseError) Error() string {
	return e.Err.Error() + ": " + e.Detail + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }

// Reply returns the SMTP reply a server should send for e; see [ReplyFor].
func (e *ParseError) Reply() *smtp.SMTPError { return ReplyFor(e) }

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

// lineIncrements are the octets by which an extension's parameter raises the
// limit on the MAIL command line.
var lineIncrements = map[string]int{
	Keyword: LineIncrement, // RFC 8689 Section 2 item 9
	"SIZE":  26,            // RFC 1870 Section 6
	"AUTH":  500,           // RFC 4954 Section 5
}

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
func ParseMail(line string) (*Mail, error) {
	p := mailParser{in: line}
	return p.parse()
}

type mailParser struct {
	in  string
	pos int
}

func (p *mailParser) fail(sentinel error, detail string) error {
	return &ParseError{Input: p.in, Offset: p.pos, Err: sentinel, Detail: detail}
}

func (p *mailParser) parse() (*Mail, error) {
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
	if utf8Path(m.From) && m.Param("SMTPUTF8") == nil {
		p.pos = len("MAIL FROM:")
		return nil, p.fail(ErrSyntax, "UTF-8 in the reverse path without SMTPUTF8")
	}
	limit := BaseLineLimit
	for _, prm := range m.Params {
		limit += lineIncrements[prm.Keyword]
	}
	if n := len(s) + len("\r\n"); n > limit {
		p.pos = limit - len("\r\n")
		return nil, p.fail(ErrTooLong, strconv.Itoa(n)+" octets, limit "+strconv.Itoa(limit))
	}
	return m, nil
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
	return p.dotString(s, isAtext)
}

func (p *mailParser) dotString(s string, ok func(byte) bool) error {
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
	if err := p.dotString(s, isLdh); err != nil {
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
func (p *mailParser) addressLiteral(s string) error {
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

func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isLdh(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// param parses esmtp-param = esmtp-keyword ["=" esmtp-value] at p.pos.
func (p *mailParser) param(s string) (Param, error) {
	start := p.pos
	for p.pos < len(s) && (isLdh(s[p.pos])) {
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
	if detail := checkKnown(prm); detail != "" {
		p.pos = start
		if prm.Keyword == Keyword {
			return Param{}, p.fail(ErrValue, detail)
		}
		return Param{}, p.fail(ErrParam, detail)
	}
	return prm, nil
}

// checkKnown applies the value rules of the parameters' defining RFCs and
// returns what is wrong, or "".
func checkKnown(prm Param) string {
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
		if !isXtext(v) {
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
