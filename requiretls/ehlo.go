package requiretls

import (
	"crypto/tls"
	"strings"
)

// Offered reports whether an EHLO reply received on a TLS session
// announces REQUIRETLS.
//
// lines are the lines of the reply in order, with or without their
// "250-"/"250 " prefixes; the first line is the greeting and never counts.
// A line that starts with any other reply code ("251-REQUIRETLS") is not
// part of a 250 reply and never counts either. The keyword is matched
// case-insensitively (RFC 5321 Section 2.4) and any parameters after it are
// ignored (the IANA registration gives the keyword no parameters, but a
// server that adds some still supports the extension).
//
// cs is the state of the TLS session the EHLO was sent on, after STARTTLS
// or with implicit TLS (RFC 8314; there the first EHLO is the one after
// TLS). Only such a reply counts (RFC 8689 Section 4.2.1 step 5, RFC 3207
// Section 4.2: what a server says before TLS cannot be trusted): Offered is
// false whatever the lines say when cs is nil or its handshake is not
// complete. So the state go-smtp returns can be passed as it comes, even
// without looking at its ok, which is false with a zero state:
//
//	cs, _ := c.TLSConnectionState()
//	announced := requiretls.Offered(lines, &cs)
func Offered(lines []string, cs *tls.ConnectionState) bool {
	return cs != nil && cs.HandshakeComplete && hasKeyword(lines, Keyword)
}

// hasKeyword reports whether an EHLO reply, as [Offered] takes it, announces
// kw.
func hasKeyword(lines []string, kw string) bool {
	for i, line := range lines {
		if k, _, ok := ehloLine(line); ok && i > 0 && strings.EqualFold(k, kw) {
			return true
		}
	}
	return false
}

// ehloLine splits one line of an EHLO reply into its keyword and
// parameters (RFC 5321 Section 4.1.1.1: ehlo-line = ehlo-keyword *( SP
// ehlo-param )), after removing a "250-" or "250 " prefix. ok is false for a
// line with another reply code (net/textproto keeps such lines, prefix
// included, in the text of a multi-line reply), for a line longer than
// RFC 5321 allows (Section 4.5.3.1.5: 512 octets with code and CRLF), and
// for a keyword that is not ALPHA / DIGIT *(ALPHA / DIGIT / "-"): Unicode
// case folding would otherwise match look-alikes such as "REQUIRETLſ".
func ehloLine(line string) (keyword, params string, ok bool) {
	if len(line) >= 4 && isDigits(line[:3]) && (line[3] == '-' || line[3] == ' ') {
		if line[:3] != "250" {
			return "", "", false
		}
		line = line[4:]
	}
	if len(line) > maxReplyLine-len("250-\r\n") {
		return "", "", false
	}
	keyword, params, _ = strings.Cut(line, " ")
	if keyword == "" || keyword[0] == '-' {
		return "", "", false
	}
	for _, c := range []byte(keyword) {
		if lower := c | 0x20; !('a' <= lower && lower <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "", "", false
		}
	}
	return keyword, params, true
}

// maxReplyLine is the longest reply line RFC 5321 allows, code and CRLF
// included (Section 4.5.3.1.5).
const maxReplyLine = 512

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
