package mtasts

import "strings"

// Record is an MTA-STS TXT record, published at _mta-sts.<domain> (RFC 8461
// Section 3.1). Its version is always "STSv1".
type Record struct {
	// ID identifies the current policy: 1 to 32 letters and digits. A
	// sender refetches the policy when it changes (RFC 8461 Section 5.1).
	ID string
	// Extensions are the fields other than v and id, in record order.
	Extensions []Extension
}

// Extension is a name=value field of a [Record] that RFC 8461 does not define.
type Extension struct {
	Name  string // sts-ext-name: a letter or digit, then up to 31 letters, digits, "_", "-" or "."
	Value string // sts-ext-value: printable US-ASCII except "=" and ";"
}

const recordVersion = "v=STSv1"

// ParseRecord parses the text of one _mta-sts TXT record (its strings
// concatenated without spaces, as RFC 8461 Section 3.1 says and as
// [net.Resolver.LookupTXT] returns them) following the grammar of RFC 8461
// Section 3.1 exactly:
//
//   - it begins with "v=STSv1" (case-sensitive);
//   - fields are separated by ";" with optional spaces or tabs around it,
//     and a final ";" is optional;
//   - "id=" appears exactly once, with 1 to 32 letters and digits;
//   - other fields are extensions, name=value, kept in [Record.Extensions].
//
// Beyond the grammar, and because two parsers would disagree on them, it
// refuses a second "v=" field and field names that differ from "v" or "id"
// only in letter case. Errors are *[ParseError] wrapping [ErrRecordSyntax].
// To apply the rule for a name with several TXT records, use [FindRecord].
func ParseRecord(txt string) (Record, error) {
	var r Record
	fail := func(off int, msg string) (Record, error) {
		return Record{}, &ParseError{Input: txt, Offset: off, Msg: msg, Err: ErrRecordSyntax}
	}
	if !strings.HasPrefix(txt, recordVersion) {
		return fail(0, `record does not begin with "v=STSv1"`)
	}
	hasID := false
	i := len(recordVersion)
	for {
		// sts-field-delim = *WSP ";" *WSP
		j := skipWSP(txt, i)
		if j == len(txt) && j == i {
			break // no final ";"
		}
		if j == len(txt) || txt[j] != ';' {
			return fail(j, `expected ";"`)
		}
		j = skipWSP(txt, j+1)
		if j == len(txt) {
			break // final delimiter
		}
		eq := strings.IndexByte(txt[j:], '=')
		if eq < 0 {
			return fail(j, `field without "="`)
		}
		name := txt[j : j+eq]
		if !validExtName(name) {
			return fail(j, "invalid field name")
		}
		if name == "v" || ambiguousName(name, "v", "id") {
			return fail(j, "field name "+name+" is ambiguous")
		}
		v := j + eq + 1
		i = v
		for i < len(txt) && isExtValueChar(txt[i]) {
			i++
		}
		if i < len(txt) && !isWSP(txt[i]) && txt[i] != ';' {
			return fail(i, "invalid character in field value")
		}
		value := txt[v:i]
		if value == "" {
			return fail(v, "empty field value")
		}
		if name != "id" {
			r.Extensions = append(r.Extensions, Extension{Name: name, Value: value})
			continue
		}
		if hasID {
			return fail(j, "duplicate id field")
		}
		if !validID(value) {
			return fail(v, "id is not 1 to 32 letters and digits")
		}
		r.ID, hasID = value, true
	}
	if !hasID {
		return fail(len(txt), "no id field")
	}
	return r, nil
}

// isExtValueChar: sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E).
func isExtValueChar(c byte) bool {
	return c >= 0x21 && c <= 0x7e && c != ';' && c != '='
}

// validID: sts-id value = 1*32(ALPHA / DIGIT).
func validID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// String returns the record in its canonical form, e.g.
// "v=STSv1; id=20160831085700Z;", extensions after the id.
func (r Record) String() string {
	var b strings.Builder
	b.WriteString(recordVersion + "; id=")
	b.WriteString(r.ID)
	b.WriteByte(';')
	for _, e := range r.Extensions {
		b.WriteByte(' ')
		b.WriteString(e.Name)
		b.WriteByte('=')
		b.WriteString(e.Value)
		b.WriteByte(';')
	}
	return b.String()
}

// FindRecord applies RFC 8461 Section 3.1 to all TXT records of
// _mta-sts.<domain>, one string per record (each record's strings
// concatenated, as [net.Resolver.LookupTXT] returns them): records that do
// not begin with "v=STSv1" are discarded; if none remains it returns
// [ErrNoRecord], if more than one remains [ErrMultipleRecords], otherwise
// what [ParseRecord] returns for it. Any error means the domain has no
// available MTA-STS policy right now; it does not by itself remove a cached
// policy (RFC 8461 Section 3.1 and Section 5.1).
//
// A record counts as beginning with "v=STSv1" when the text is followed by
// ";", a space, a tab or the end. The RFC's own "v=STSv1;" would discard a
// record that its grammar allows ("v=STSv1 ; id=1", RFC 8461 erratum 6285);
// counting it instead means such a record either is the only one or makes
// the set ambiguous, never that it is silently overlooked.
func FindRecord(txts []string) (Record, error) {
	var found string
	n := 0
	for _, t := range txts {
		rest, ok := strings.CutPrefix(t, recordVersion)
		if !ok || rest != "" && rest[0] != ';' && !isWSP(rest[0]) {
			continue
		}
		found = t
		n++
	}
	switch n {
	case 0:
		return Record{}, ErrNoRecord
	case 1:
		return ParseRecord(found)
	}
	return Record{}, ErrMultipleRecords
}
