package hostile

import (
	"math/rand/v2"
	"strings"
)

// HeaderSections returns n messages, reproducible from seed, whose header
// sections are made of the line shapes on which header parsers disagree
// (go-message's textproto.ReadHeader, Postfix's is_header_buf, RFC 5322):
// empty names, white space before the colon, control, NUL, DEL and 8-bit
// bytes in names and values, bare CR, bare LF and CR-only line ends,
// continuation lines (first, white space only), lines around 998 and 2048
// octets, mbox "From " lines, colons in odd places, lone dots, and
// mixtures of them, among ordinary fields (TLS-Required and
// Require-TLS-ESMTP in several spellings included). Half of the sections
// use ordinary shapes only, so that the inputs a parser accepts are many.
// Each ends with a blank line and a body, at the end of input, or in the
// middle of a line.
func HeaderSections(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	out := make([][]byte, n)
	for i := range out {
		out[i] = headerSection(rng, i%2 == 0)
	}
	return out
}

var (
	fieldNames = []string{
		"TLS-Required", "tls-required", "TLS-REQUIRED", "Require-TLS-ESMTP", "require-tls-esmtp",
		"From", "To", "Subject", "Received", "X-A", "Content-Type", "RequireTLS", "X-TLS-Required",
	}
	fieldValues = []string{
		"No", " No", " no", "No ", " yes", " Yes", " x", "", " a: b", " :", " caf\xc3\xa9",
		" a\x01b", " <a@example.org>", " from a by b; Mon, 2 Mar 2026 10:00:00 +0000",
	}
	oddNames = []string{
		"", " ", "X ", "X\t", "X A", "X\xe9", "\xc3\xa9", "X\x01", "X\x7f", "X\x00Y", "\x00",
		"From x", ">From x", ".", "..", "X\r", "\rX", "X\x0bY", "X\x0c",
	}
	oddValues = []string{
		" a\x00b", " a\rb", " a\r", "\r", " \x00", " No\x00", " \xff\xfe", "\x0bNo", ":", "::", " a\nb",
	}
	oddLines = []string{
		"", " ", "\t", " \t ", "From a@example.org Mon Jan  1 00:00:00 2024", ">From a@example.org",
		".", "not a header", "a b: c", ":", "::", ": :", "\x00", "\r", "\xff", " x", "\tx",
	}
	lineEnds    = []string{"\r\n", "\n", "\r", "\r\r\n", ""}
	blankLines  = []string{"\r\n", "\n", "\r\r\n", " \r\n"}
	longLengths = []int{996, 997, 998, 999, 1000, 2046, 2047, 2048, 2049, 3000}
)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// headerSection writes one message; plain sections use ordinary lines only.
func headerSection(rng *rand.Rand, plain bool) []byte {
	var b strings.Builder
	lines := 1 + rng.IntN(8)
	for range lines {
		b.WriteString(headerLine(rng, plain))
		switch {
		case plain || rng.IntN(6) > 0:
			b.WriteString("\r\n")
		default:
			b.WriteString(pick(rng, lineEnds))
		}
	}
	switch rng.IntN(8) {
	case 0: // the header section runs to the end of the input
	case 1: // an unfinished last line
		b.WriteString(pick(rng, fieldNames))
	default:
		if plain || rng.IntN(4) > 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteString(pick(rng, blankLines))
		}
		b.WriteString("TLS-Required: No\r\nRequire-TLS-ESMTP: yes\r\nbody\r\n")
	}
	return []byte(b.String())
}

// headerLine returns one line without its line ending.
func headerLine(rng *rand.Rand, plain bool) string {
	r := rng.IntN(10)
	if plain {
		r %= 4
	}
	switch r {
	case 0, 1: // an ordinary field
		return pick(rng, fieldNames) + ":" + pick(rng, fieldValues)
	case 2: // an ordinary continuation line
		return pick(rng, []string{" folded", "\tfolded", "  No"})
	case 3: // a long line, still ordinary when at most 998 octets
		n := pick(rng, longLengths)
		if plain {
			n = min(n, 998)
		}
		if rng.IntN(4) == 0 && !plain {
			return strings.Repeat("N", n) + ": v"
		}
		return "X-Long: " + strings.Repeat("v", max(n-8, 0))
	case 4, 5:
		return pick(rng, oddNames) + ":" + pick(rng, fieldValues)
	case 6:
		return pick(rng, fieldNames) + ":" + pick(rng, oddValues)
	case 7:
		return pick(rng, oddNames) + pick(rng, []string{" :", "\t:", " : ", ""}) + pick(rng, fieldValues)
	default:
		return pick(rng, oddLines)
	}
}
