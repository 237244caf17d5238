package policy

import (
	"net/netip"
	"strings"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/net/idna"
)

// maxName is the longest host name, without the trailing dot (RFC 1035
// Section 2.3.4: 255 octets on the wire); maxLabel the longest label.
const (
	maxName  = 253
	maxLabel = 63
)

// nextHop is a next-hop destination in the one form policy tables see:
// name is a lower-case A-label host name without a trailing dot, or the
// canonical text of addr (RFC 5952 for IPv6; an IPv4-mapped IPv6 address
// is written and stored as its IPv4 address). name is read only: it may
// share the bytes of the caller's string (see [plainNextHop]).
type nextHop struct {
	name []byte
	addr netip.Addr // valid for an IP address
}

// plainNextHop is the fast path of [parseNextHop] for the common case, a
// next hop already in normal form: a valid lower-case ASCII host name
// without A-labels, optionally with one trailing dot. It checks in one pass
// what parseNextHop checks in several, and its name is s itself (without
// the dot), not a copy. ok is false for anything else (upper case,
// brackets, a port, an IP address, a non-ASCII name or an A-label, an
// invalid name), which parseNextHop then decides. Where ok is true the
// result is parseNextHop's, byte for byte (TestPlainNextHopAgrees).
func plainNextHop(s string) (h nextHop, ok bool) {
	n := len(s)
	if n > 0 && s[n-1] == '.' {
		n--
	}
	if n == 0 || n > maxName {
		return h, false
	}
	// One pass: each byte is checked against the class table; each label
	// (at its dot, or at the end) against the rules of validName and for
	// an A-label.
	start, last := 0, 0 // of the current and of the last label
	for i := 0; i <= n; i++ {
		if i < n {
			if k := nameClass[s[i]]; k != cDot {
				if k == cBad { // also upper case, ":", "[", non-ASCII
					return h, false
				}
				continue
			}
		}
		if i == start || i-start > maxLabel || s[start] == '-' || s[i-1] == '-' || strings.HasPrefix(s[start:i], "xn--") {
			return h, false // an A-label, if valid, is for IDNA to check
		}
		start, last = i+1, start
	}
	if isNumber(s[last:n]) { // refused, or an IPv4 address
		return h, false
	}
	// Read only (see nextHop), so sharing the string's bytes is safe.
	return nextHop{name: unsafe.Slice(unsafe.StringData(s), n)}, true
}

// parseNextHop normalises a next hop into buf (see [Policy.Lookup] for the
// accepted forms). ok is false when s is not exactly one host name or IP
// address; the caller must then fail closed. Callers try [plainNextHop]
// first.
func parseNextHop(s string, buf *[maxName]byte) (h nextHop, ok bool) {
	host, bracketed, ok := splitNextHop(s)
	if !ok {
		return h, false
	}
	if bracketed && len(host) >= 5 && strings.EqualFold(host[:5], "IPv6:") {
		// RFC 5321 Section 4.1.3 IPv6 address literal.
		a, err := netip.ParseAddr(host[5:])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return h, false
		}
		return addrHop(a, buf), true
	}
	if mayBeIP(host) { // avoid ParseAddr's error allocation for names
		a, err := netip.ParseAddr(host)
		if err == nil {
			if a.Zone() != "" {
				return h, false // a zone is not part of the policy's address space
			}
			return addrHop(a, buf), true
		}
		if strings.IndexByte(host, ':') >= 0 {
			return h, false
		}
	}
	name, ok := normalizeName(host, buf)
	if !ok || !validName(name) {
		return h, false
	}
	return nextHop{name: name}, true
}

// addrHop is the next hop of an IP address; an IPv4-mapped IPv6 address
// is its IPv4 address.
func addrHop(a netip.Addr, buf *[maxName]byte) nextHop {
	a = a.Unmap()
	return nextHop{name: a.AppendTo(buf[:0]), addr: a}
}

// unmapPrefix returns an IPv4-mapped IPv6 prefix (within ::ffff:0:0/96) as
// the IPv4 prefix it means, so that it matches IPv4 next hops.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// splitNextHop removes "[ ]" and ":port" or ":service" from a next hop,
// as Postfix's host_port() does: "[host]", "[host]:port", "host:port",
// "host". A bare IPv6 address (more than one colon) has no port.
func splitNextHop(s string) (host string, bracketed, ok bool) {
	port := ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", false, false
		}
		host, bracketed = s[1:end], true
		switch rest := s[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			port = rest[1:]
		default:
			return "", false, false
		}
	} else {
		host = s
		if i := strings.IndexByte(s, ':'); i >= 0 && strings.LastIndexByte(s, ':') == i {
			host, port = s[:i], s[i+1:]
		}
	}
	return host, bracketed, validPort(port)
}

// validPort accepts what Postfix accepts after the host: nothing, a port
// number 1-65535, or a service name (a letter, then letters, digits, "-"
// and "_").
func validPort(p string) bool {
	if p == "" {
		return true
	}
	if c := p[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		n := 0
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' || n > 65535 {
				return false
			}
			n = n*10 + int(p[i]-'0')
		}
		return n >= 1 && n <= 65535
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !isNameChar(c) && c != '-' {
			return false
		}
	}
	return true
}

// normalizeName converts a host name to lower-case A-labels and removes
// one trailing dot (the root). A name with a U-label or an A-label goes
// through IDNA (UTS #46 lookup); a name IDNA refuses is not ok. The result
// is in buf when the name fits (always, for a valid ASCII name). Invalid
// UTF-8 and U+FFFD are refused: IDNA would turn both into the same A-label.
func normalizeName(s string, buf *[maxName]byte) ([]byte, bool) {
	if !isASCII(s) || hasALabel(s) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
			return nil, false
		}
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return nil, false
		}
		s = a
	}
	s = strings.TrimSuffix(s, ".")
	if len(s) > len(buf) {
		return nil, false
	}
	b := buf[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b, true
}

// hasALabel reports whether a label of s starts with "xn--" in any case.
func hasALabel(s string) bool {
	for {
		if len(s) >= 4 && s[2] == '-' && s[3] == '-' && strings.EqualFold(s[:2], "xn") {
			return true
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return false
		}
		s = s[i+1:]
	}
}

// Character classes of host names.
const (
	cBad uint8 = iota
	cDigit
	cLetter // and "_"
	cHyphen
	cDot
)

var nameClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLetter
	}
	t['_'], t['-'], t['.'] = cLetter, cHyphen, cDot
	return t
}()

// validName is Postfix's valid_hostname() for a lower-case name: labels of
// letters, digits, "-" and "_", 1 to 63 bytes, not starting or ending with
// "-", at most 253 bytes in all. In addition the last label must not be a
// number, decimal or "0x" hexadecimal: inet_aton() reads "1.2.3" and
// "0x7f.1" as IPv4 addresses, so such a name means two different things to
// two parsers.
func validName(s []byte) bool {
	if len(s) == 0 || len(s) > maxName {
		return false
	}
	start := 0 // of the current label
	for i, c := range s {
		switch nameClass[c] {
		case cBad:
			return false
		case cDot:
			if i == start || s[i-1] == '-' {
				return false
			}
			start = i + 1
			continue
		case cHyphen:
			if i == start {
				return false
			}
		}
		if i-start >= maxLabel {
			return false
		}
	}
	return start < len(s) && s[len(s)-1] != '-' && !isNumber(s[start:])
}

// isNumber reports whether a label is a decimal or "0x" hexadecimal number.
func isNumber[T string | []byte](l T) bool {
	hex := len(l) >= 2 && l[0] == '0' && l[1] == 'x'
	if hex {
		l = l[2:]
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; nameClass[c] != cDigit && !(hex && 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// normalizeKey normalises an inline table key as [Policy.Lookup] normalises
// a next hop, so that the two always meet: a host name, a ".parent" domain
// or an IP address. ok is false for a key no next hop could match.
func normalizeKey(key string) (string, bool) {
	var buf [maxName]byte
	if a, err := netip.ParseAddr(key); err == nil {
		if a.Zone() != "" {
			return "", false
		}
		return a.Unmap().String(), true
	}
	parent := strings.HasPrefix(key, ".")
	name, ok := normalizeName(strings.TrimPrefix(key, "."), &buf)
	if !ok || !validName(name) {
		return "", false
	}
	if parent {
		return "." + string(name), true
	}
	return string(name), true
}
