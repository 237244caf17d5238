package dane

import (
	"encoding/hex"
	"strconv"
)

// Usage is the certificate usage field of a TLSA record (RFC 6698
// Section 2.1.1), named as in RFC 7218 Section 2.1.
type Usage uint8

const (
	UsagePKIXTA Usage = 0 // PKIX-TA: CA constraint; unusable for SMTP (RFC 7672 Section 3.1.3)
	UsagePKIXEE Usage = 1 // PKIX-EE: service certificate constraint; unusable for SMTP (RFC 7672 Section 3.1.3)
	UsageDANETA Usage = 2 // DANE-TA: trust anchor assertion (RFC 7672 Section 3.1.2)
	UsageDANEEE Usage = 3 // DANE-EE: domain-issued certificate (RFC 7672 Section 3.1.1)
)

// Selector is the selector field of a TLSA record: which part of a
// certificate is matched (RFC 6698 Section 2.1.2, RFC 7218 Section 2.2).
type Selector uint8

const (
	SelectorCert Selector = 0 // Cert: the full certificate, DER
	SelectorSPKI Selector = 1 // SPKI: the SubjectPublicKeyInfo, DER
)

// MatchingType is the matching type field of a TLSA record: how the selected
// content is compared (RFC 6698 Section 2.1.3, RFC 7218 Section 2.3).
type MatchingType uint8

const (
	MatchFull   MatchingType = 0 // Full: the selected content itself
	MatchSHA256 MatchingType = 1 // SHA2-256: its SHA-256 digest
	MatchSHA512 MatchingType = 2 // SHA2-512: its SHA-512 digest
)

// String returns the RFC 7218 acronym with the number, e.g. "DANE-EE(3)".
func (u Usage) String() string {
	return name([]string{"PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE"}, "usage", uint8(u))
}

// String returns the RFC 7218 acronym with the number, e.g. "SPKI(1)".
func (s Selector) String() string {
	return name([]string{"Cert", "SPKI"}, "selector", uint8(s))
}

// String returns the RFC 7218 acronym with the number, e.g. "SHA2-256(1)".
func (m MatchingType) String() string {
	return name([]string{"Full", "SHA2-256", "SHA2-512"}, "matching-type", uint8(m))
}

func name(names []string, unknown string, v uint8) string {
	n := unknown
	if int(v) < len(names) {
		n = names[v]
	}
	return n + "(" + strconv.Itoa(int(v)) + ")"
}

// Record is one TLSA record's RDATA (RFC 6698 Section 2.1). Records come
// from the caller's DNSSEC-validated lookup of _25._tcp.<TLSA base domain>.
type Record struct {
	Usage        Usage        // which certificate the record constrains, and how (RFC 7218 names: DANE-TA, DANE-EE, ...)
	Selector     Selector     // whether Data matches the full certificate or its public key
	MatchingType MatchingType // whether Data is the selected content itself or its SHA-256 or SHA-512 digest
	Data         []byte       // the certificate association data
}

// Usable reports whether the record can authenticate an SMTP server: usage
// DANE-TA(2) or DANE-EE(3) (RFC 7672 Section 3.1.3), a known selector and
// matching type, and data of the digest's length (RFC 7671 Section 4).
// Verification ignores the others (RFC 7672 Section 2.2).
func (r Record) Usable() bool {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE || r.Selector > SelectorSPKI {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return len(r.Data) > 0
	case MatchSHA256:
		return len(r.Data) == 32
	case MatchSHA512:
		return len(r.Data) == 64
	}
	return false
}

// String returns the presentation form (RFC 6698 Section 2.2), e.g.
// "3 1 1 0123...ef", with the data in lower-case hexadecimal and no spaces.
// [ParseRecord] reads it back.
func (r Record) String() string {
	b := make([]byte, 0, 12+2*len(r.Data))
	b = strconv.AppendUint(b, uint64(r.Usage), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.Selector), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.MatchingType), 10)
	b = append(b, ' ')
	return string(hex.AppendEncode(b, r.Data))
}

// RDATA returns the wire form (RFC 6698 Section 2.1). [ParseRDATA] reads it
// back.
func (r Record) RDATA() []byte {
	return append([]byte{byte(r.Usage), byte(r.Selector), byte(r.MatchingType)}, r.Data...)
}

// Size limits. A DNS RDATA is at most 65535 octets (RFC 1035 Section 3.2.1),
// three of them the fixed fields.
const (
	maxRDATA = 65535
	maxData  = maxRDATA - 3
	maxText  = 4 * maxRDATA // presentation text, whitespace included
)

// ParseRDATA parses the wire form of a TLSA record (RFC 6698 Section 2.1):
// usage, selector and matching type octets, then the certificate
// association data, which must not be empty. The record does not share
// memory with b. Unknown field values parse; [Record.Usable] tells whether
// the record counts.
func ParseRDATA(b []byte) (Record, error) {
	switch {
	case len(b) > maxRDATA:
		return Record{}, &ParseError{Offset: maxRDATA, Msg: "RDATA longer than 65535 octets", Err: ErrTooLarge}
	case len(b) < 3:
		return Record{}, &ParseError{Offset: len(b), Msg: "RDATA shorter than its three fixed fields", Err: ErrTruncated}
	case len(b) == 3:
		return Record{}, &ParseError{Offset: 3, Msg: "no certificate association data", Err: ErrTruncated}
	}
	return Record{Usage(b[0]), Selector(b[1]), MatchingType(b[2]), append([]byte(nil), b[3:]...)}, nil
}

// ParseRecord parses the presentation form of a TLSA record's RDATA (RFC
// 6698 Section 2.2): three decimal numbers from 0 to 255 (at most three
// digits each, so "03" as GnuTLS's danetool writes it is read), then the
// certificate association data in hexadecimal, which may contain
// whitespace (space, tab, CR, LF) anywhere, as in a zone file. One pair of
// parentheses may group the fields, as in zone-file and danetool output:
// "( 3 1 1 ab\n cd )". The owner name, class and type are not part of it.
// The RFC 3597 generic form ("\# 35 ...") and comments are refused.
func ParseRecord(s string) (Record, error) {
	if len(s) > maxText {
		return Record{}, &ParseError{Input: s, Offset: maxText, Msg: "longer than 262140 bytes", Err: ErrTooLarge}
	}
	p := textParser{s: s}
	var fields [3]uint8
	for i := range fields {
		if err := p.space(i > 0); err != nil {
			return Record{}, err
		}
		n, err := p.number()
		if err != nil {
			return Record{}, err
		}
		fields[i] = n
	}
	if err := p.space(true); err != nil {
		return Record{}, err
	}
	data, err := p.hexData()
	if err != nil {
		return Record{}, err
	}
	return Record{Usage(fields[0]), Selector(fields[1]), MatchingType(fields[2]), data}, nil
}

// textParser reads the presentation form. paren is 0 before "(", 1 inside
// the group, 2 after ")".
type textParser struct {
	s     string
	i     int
	paren int
}

func (p *textParser) fail(msg string) error {
	return &ParseError{Input: p.s, Offset: p.i, Msg: msg, Err: ErrSyntax}
}

// space skips whitespace and parentheses; need says at least one separator
// must be there.
func (p *textParser) space(need bool) error {
	start := p.i
	for ; p.i < len(p.s); p.i++ {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
		case '(':
			if p.paren != 0 {
				return p.fail("unexpected '('")
			}
			p.paren = 1
		case ')':
			if p.paren != 1 {
				return p.fail("unexpected ')'")
			}
			p.paren = 2
		default:
			if need && p.i == start {
				return p.fail("missing space between fields")
			}
			return nil
		}
	}
	return nil
}

// number reads one decimal field, 0 to 255, at most three digits.
func (p *textParser) number() (uint8, error) {
	start := p.i
	v := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		if p.i-start == 3 {
			return 0, p.fail("number longer than three digits")
		}
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
	}
	switch {
	case p.i == start && p.i == len(p.s):
		return 0, p.fail("missing field")
	case p.i == start:
		return 0, p.fail("not a decimal number")
	case v > 255:
		p.i = start
		return 0, p.fail("number larger than 255")
	}
	return uint8(v), nil
}

// hexData reads the rest: hexadecimal digits, whitespace, and the closing
// parenthesis if one was opened.
func (p *textParser) hexData() ([]byte, error) {
	data := make([]byte, 0, len(p.s)/2-p.i/2)
	half, odd := byte(0), false
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case c == ')' && p.paren == 1:
			p.paren = 2
			continue
		default:
			return nil, p.fail("not a hexadecimal digit")
		}
		if p.paren == 2 {
			return nil, p.fail("data after ')'")
		}
		if odd {
			data = append(data, half<<4|v)
		} else {
			half = v
		}
		odd = !odd
	}
	switch {
	case p.paren == 1:
		return nil, p.fail("missing ')'")
	case odd:
		return nil, p.fail("odd number of hexadecimal digits")
	case len(data) == 0:
		return nil, p.fail("missing certificate association data")
	case len(data) > maxData:
		return nil, &ParseError{Input: p.s, Offset: p.i, Msg: "certificate association data longer than 65532 octets", Err: ErrTooLarge}
	}
	return data, nil
}
