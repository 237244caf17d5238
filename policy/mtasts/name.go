package mtasts

import "strings"

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// skipWSP returns the offset of the first byte at or after i that is not
// WSP (RFC 5234: space or horizontal tab).
func skipWSP(s string, i int) int {
	for i < len(s) && isWSP(s[i]) {
		i++
	}
	return i
}

// validExtName reports whether n is an sts-ext-name (RFC 8461 Section 3.1)
// or sts-policy-ext-name (Section 3.2), which share one grammar:
// (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func validExtName(n string) bool {
	if n == "" || len(n) > 32 || !isAlnum(n[0]) {
		return false
	}
	for i := 1; i < len(n); i++ {
		if c := n[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// ambiguousName reports whether name differs from one of the known field
// names only in letter case. The RFC's names are case-sensitive, so such a
// field is an extension to a strict parser and the known field to a lax
// one; we refuse it rather than pick a side.
func ambiguousName(name string, known ...string) bool {
	for _, k := range known {
		if name != k && strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

// domain checks that s is a Domain of RFC 5321 Section 4.1.2: dot-separated
// labels of letters, digits and hyphens, each starting and ending with a
// letter or digit, at most 63 bytes a label and 253 in all (the DNS limits
// of RFC 1035 Section 2.3.4). It returns s in lower case, or false. A
// trailing dot, an empty label and any non-ASCII byte (a U-label) are
// refused: RFC 8461 Section 3.2 wants A-labels.
func domain(s string) (string, bool) {
	if s == "" || len(s) > 253 {
		return "", false
	}
	label := 0
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 || s[i-1] == '-' {
				return "", false
			}
			label = 0
			continue
		case 'A' <= c && c <= 'Z':
			upper = true
		case c == '-':
			if label == 0 {
				return "", false
			}
		case !isAlnum(c):
			return "", false
		}
		label++
		if label > 63 {
			return "", false
		}
	}
	if label == 0 || s[len(s)-1] == '-' {
		return "", false
	}
	if upper {
		s = strings.ToLower(s)
	}
	return s, true
}

// pattern checks an mx pattern: a Domain, or "*." and a Domain
// (sts-policy-mx-value, RFC 8461 Section 3.2). It returns the pattern in
// lower case, or false.
func pattern(s string) (string, bool) {
	name, wild := strings.CutPrefix(s, "*.")
	d, ok := domain(name)
	switch {
	case !ok:
		return "", false
	case d == name:
		return s, true // already lower case: no copy
	case wild:
		return "*." + d, true
	}
	return d, true
}

// Match reports whether the MX host name mx matches the mx pattern pat as
// RFC 8461 Section 4.1 says: a pattern without a wildcard matches that name
// only; "*.example.com" matches a name with exactly one more label on the
// left ("mx.example.com", but neither "example.com" nor "a.b.example.com").
// Letter case does not matter, and one trailing dot on mx (the DNS root)
// is ignored.
//
// Both must be ASCII: MX names and patterns are compared as A-labels
// (RFC 8461 Section 3.2). Convert a U-label with
// [golang.org/x/net/idna.Lookup] first. A name or pattern that is not a
// valid domain name, including a wildcard anywhere but as the whole
// left-most label ("mx*.example.com", "*.*.example.com"), never matches.
func Match(pat, mx string) bool {
	p, ok := pattern(pat)
	if !ok {
		return false
	}
	h, ok := domain(strings.TrimSuffix(mx, "."))
	if !ok {
		return false
	}
	if rest, wild := strings.CutPrefix(p, "*."); wild {
		// The wildcard is one whole label: mx is <label>.<rest>.
		i := strings.IndexByte(h, '.')
		return i > 0 && h[i+1:] == rest
	}
	return h == p
}
