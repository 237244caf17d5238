package dsn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHeaderBoundaryRule: in every header section the redactor walks (the
// top level, each part's, the returned message's) a line is a field (a
// name of US-ASCII 33..126 but ':', optional WSP, ':'), a continuation
// (SP or HTAB first, not the first line), or the blank line that ends the
// section. Any other line is one that readers disagree on: Postfix's
// is_header_buf ends the header there, go-message skips an empty name or
// fails, and readers that end lines at a bare CR see more fields than
// Postfix and go-message do. Such a section is refused with ErrMalformed,
// never copied and never used to find a part or a boundary (issue 12
// item 1; R46). The same holds for delimiter lines (RFC 2046 Section
// 5.1.1): a line that starts with "--" and a boundary and is not exactly a
// delimiter is one for Postfix, ends a part and fails in go-message when
// SP, HTAB, CR, LF or "-" follows, and is text for the rest.
//
// The rows marked guard passed before this test was written; the others
// failed (a bare CR let a body line through as a header line; a
// CR-only bounce was called "no body", ErrNotDSN).
func TestHeaderBoundaryRule(t *testing.T) { checkRedactCases(t, headerBoundaryCases()) }

func headerBoundaryCases() []redactCase {
	const head = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n"
	const ds = "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822;a@b\nAction: failed\nStatus: 5.7.30\n\n"
	const ret = "--b\nContent-Type: message/rfc822\n\nSubject: s\n\n" + marker + "\n"
	return []redactCase{
		{"guard: empty name at the top", "From: a\n: x\n" + head + "\n" + ds + ret + "--b--\n", ErrMalformed},
		{"guard: empty name in a part header", head + "\n" + ds + "--b\n: x\nContent-Type: message/rfc822\n\nSubject: s\n\n" + marker + "\n--b--\n", ErrMalformed},
		{"guard: empty name in the returned header", head + "\n" + ds + "--b\nContent-Type: message/rfc822\n\nSubject: s\n : y\n: x\n\n" + marker + "\n--b--\n", ErrMalformed},
		{"guard: name with DEL", "Fr\x7fom: a\n" + head + "\n" + ds + "--b--\n", ErrMalformed},
		{"guard: name with a space", "Sub ject: a\n" + head + "\n" + ds + "--b--\n", ErrMalformed},
		{"guard: first line a continuation", " From: a\n" + head + "\n" + ds + "--b--\n", ErrMalformed},
		{"bare CR in the mbox From_ line", "From x\rContent-Type: text/plain\n" + head + "\n" + ds + ret + "--b--\n", ErrMalformed},
		{"guard: CR CR LF line", head + "\r\r\n" + ds + "--b--\n", ErrMalformed},
		{"guard: whitespace-only continuation", head + " \n\n" + ds + ret + "--b--\n", nil},
		{"guard: WSP before the colon", "Subject\t : a\n" + head + "\n" + ds + ret + "--b--\n", nil},
		{"bare CR at the top", "Subject: a\rX-Evil: b\n" + head + "\n" + ds + ret + "--b--\n", ErrMalformed},
		{"bare CR in a part header", head + "\n--b\nX-A: b\rContent-Type: message/rfc822\nContent-Type: text/plain\n\nSubject: s\n\n" + marker + "\n" + ds + "--b--\n", ErrMalformed},
		{"bare CR in the returned header", head + "\n" + ds + "--b\nContent-Type: message/rfc822\n\nSubject: s\r\r" + marker + "\n\nx\n--b--\n", ErrMalformed},
		{"CR-only bounce", strings.ReplaceAll(head+"\n"+ds+ret+"--b--\n", "\n", "\r"), ErrMalformed},
		{"delimiter ending in CR CR LF", head + "\n" + ds + "--b\r\r\nContent-Type: message/rfc822\n\nSubject: s\n\n" + marker + "\n--b--\n", ErrMalformed},
		{"near delimiter in a kept part", head + "\n--b\nContent-Type: text/plain\n\nhi\n--b-x\n" + ds + ret + "--b--\n", ErrMalformed},
		{"guard: near final delimiter", head + "\n" + ds + ret + "--b--x\n", ErrMalformed},
		{"longer boundary in a kept part", head + "\n--b\nContent-Type: text/plain\n\nhi\n--bx\n" + ds + ret + "--b--\n", ErrMalformed},
		{"near delimiter in the returned body", head + "\n" + ds + ret + "--b-- not a delimiter\n" + marker + "\n--b--\n", ErrMalformed},
	}
}

// TestHeaderBoundaryRuleMessage: RedactMessage and Compose read the
// original's header section by the same rule (issue 12 item 1).
func TestHeaderBoundaryRuleMessage(t *testing.T) {
	for name, in := range map[string]string{
		"guard: empty name": "Subject: a\n: x\n\n" + marker + "\n",
		"bare CR":           "Subject: a\r" + marker + ": x\n\nbody\n",
		"CR only":           "Subject: a\r\r" + marker + "\r",
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			assert.ErrorIs(t, RedactMessage(&out, strings.NewReader(in), nil), ErrMalformed)
			assert.NotContains(t, out.String(), marker)
			out.Reset()
			_, err := Compose(&out, testReport(), strings.NewReader(in))
			assert.ErrorIs(t, err, ErrMalformed)
			assert.NotContains(t, out.String(), marker)
		})
	}
}

// TestDelimiterLineEndings: go-message takes the line ending of a
// multipart's first delimiter line for all of them, and with CRLF it finds
// a delimiter only after a CRLF; so a later delimiter with another line
// ending, or after a bare LF, is text to go-message and a delimiter to
// Postfix and to a line reader. The part after it would be kept while
// go-message reads it as the returned message's body, so it is refused
// (RFC 2046 Section 5.1.1, R46). The refused rows failed before the rule.
func TestDelimiterLineEndings(t *testing.T) { checkRedactCases(t, delimiterEndingCases()) }

func delimiterEndingCases() []redactCase {
	const top = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
	const ds = "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822;a@b\r\nAction: failed\r\nStatus: 5.7.30\r\n\r\n--b--\r\n"
	// A human-readable multipart/mixed holding a returned message, then
	// a text part that go-message reads as that message's body.
	nested := func(second, text string) string {
		return top + "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: message/rfc822\r\n\r\nSubject: s\r\n\r\nbody" +
			second + "Content-Type: text/plain\r\n\r\n" + text + "\r\n--c--\r\n" + ds
	}
	// The OK rows keep the text part: it holds no marker.
	crlf := nested("\r\n--c\r\n", "a text part")
	lf := strings.ReplaceAll(crlf, "\r\n", "\n")
	return []redactCase{
		{"LF delimiter after CRLF ones", nested("\n--c\n", marker), ErrMalformed},
		{"CRLF delimiter after a bare LF", nested("\n--c\r\n", marker), ErrMalformed},
		{"CRLF delimiter after LF ones", strings.Replace(nested("\r\n--c\r\n", marker), "\r\n--c\r\nContent-Type: message/rfc822", "\n--c\nContent-Type: message/rfc822", 1), ErrMalformed},
		{"top-level LF after CRLF", top + "--b\r\nContent-Type: text/plain\r\n\r\nhi\n--b\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n--b--\r\n", ErrMalformed},
		// One line ending throughout, LF or CRLF, is fine, and so is a
		// body line ending in CRLF before an LF delimiter.
		{"CRLF throughout", crlf, nil},
		{"LF throughout", lf, nil},
		{"CRLF body line in LF mode", strings.Replace(lf, "body\n", "body\r\n", 1), nil},
		// go-message reads the preamble line by line: the first
		// delimiter needs no CRLF before it.
		{"first CRLF delimiter after an LF line", strings.Replace(crlf, "boundary=b\r\n\r\n", "boundary=b\r\n\r\npreamble\n", 1), nil},
	}
}
