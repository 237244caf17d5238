package requiretls

import "strings"

// Offered reports whether an EHLO reply announces REQUIRETLS.
//
// lines are the lines of the reply in order, with or without their
// "250-"/"250 " prefixes; the first line is the greeting and never counts.
// The keyword is matched case-insensitively (RFC 5321 Section 2.4) and any
// parameters after it are ignored (checklist E7).
//
// tls tells whether the EHLO was sent on a TLS session, after STARTTLS or with
// implicit TLS. Only such a reply counts (RFC 8689 Section 4.2.1 item 4,
// RFC 3207 Section 4.2; checklist E22): with tls false, Offered is false
// whatever the lines say.
func Offered(lines []string, tls bool) bool {
	return tls && hasKeyword(lines, Keyword)
}

// hasKeyword reports whether an EHLO reply, as [Offered] takes it, announces
// kw.
func hasKeyword(lines []string, kw string) bool {
	for i, line := range lines {
		if i == 0 {
			continue
		}
		if len(line) >= 4 && isDigits(line[:3]) && (line[3] == '-' || line[3] == ' ') {
			line = line[4:]
		}
		k, _, _ := strings.Cut(line, " ")
		if strings.EqualFold(k, kw) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
