package dsn

import (
	"bytes"
	"io"
	"strings"
)

var crlfBytes, lfBytes = []byte("\r\n"), []byte("\n")

// eolBytes returns a line ending, "\r\n", "\n" or "", as bytes that are
// never written to.
func eolBytes(eol string) []byte {
	switch eol {
	case "\r\n":
		return crlfBytes
	case "\n":
		return lfBytes
	}
	return nil
}

// outBuffer holds RedactDSN's output until the whole input has been read:
// whether the human-readable part may be kept is known only at the end.
// It holds no returned body, so it stays small; past max it fails.
type outBuffer struct {
	bytes.Buffer
	max int
}

var errOutputTooLarge = errString("redacted DSN too large to buffer")

func (b *outBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errOutputTooLarge
	}
	return b.Buffer.Write(p)
}

// cutWriter passes the first n bytes to w and drops the rest, noting in
// *cut that it did.
type cutWriter struct {
	w   io.Writer
	n   int
	cut *bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.n {
		c.n, *c.cut = 0, true
		return len(p), nil
	}
	c.n -= len(p)
	return c.w.Write(p)
}

// dropWriter receives a preamble or epilogue that RedactDSN drops, and
// tells whether it could hold part of the original: anything but white
// space and, where allowed, Postfix's preamble text.
type dropWriter struct {
	head [len(preambleText) + 8]byte
	n    int
}

func (d *dropWriter) Write(p []byte) (int, error) {
	if d.n < len(d.head) {
		copy(d.head[d.n:], p)
	}
	d.n += len(p)
	return len(p), nil
}

func (d *dropWriter) content(preambleOK bool) bool {
	if d.n > len(d.head) {
		return true
	}
	t := bytes.Trim(d.head[:d.n], " \t\r\n")
	return len(t) > 0 && !(preambleOK && string(t) == preambleText)
}

// notification writes the human-readable part that replaces one RedactDSN
// may not keep: the part header and text that [Compose] writes for a
// REQUIRETLS message with the same delivery-status fields, with the given
// line ending, up to the line ending that belongs to the next delimiter.
// It holds nothing but values of the delivery-status part, which is copied
// anyway.
func notification(status []byte, eol string) []byte {
	text := strings.ReplaceAll(humanText(statusReport(status)), "\n", eol)
	b := make([]byte, 0, 128+len(text)+len(eol))
	for _, f := range notificationFields {
		b = append(append(b, f...), eol...)
	}
	return append(append(b, text...), eol...)
}

// notificationFields are the part header of the human-readable part that
// notification writes, with the blank line after it.
var notificationFields = []string{"Content-Description: Notification", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""}

// statusReport reads the fields that the human-readable text names from a
// message/delivery-status content (RFC 3464 Section 2.1: the per-message
// fields, then one block per recipient, separated by blank lines). Values
// are unfolded; line breaks and other control bytes become spaces.
func statusReport(status []byte) *Report {
	rep := &Report{RequireTLS: true}
	var rc *Recipient
	var storage [8]string
	fields := storage[:0]
	flush := func() {
		for _, f := range fields {
			name, value, _ := strings.Cut(f, ":")
			value = strings.TrimSpace(value)
			switch {
			case rc == nil && strings.EqualFold(name, "Reporting-MTA"):
				rep.ReportingMTA = value
			case rc != nil && strings.EqualFold(name, "Final-Recipient"):
				rc.FinalRecipient = value
			case rc != nil && strings.EqualFold(name, "Action"):
				rc.Action = Action(value)
			case rc != nil && strings.EqualFold(name, "Diagnostic-Code"):
				rc.DiagnosticCode = value
			}
		}
		fields = fields[:0]
	}
	group := 0
	for l := range strings.SplitSeq(string(status), "\n") {
		l = strings.Map(func(r rune) rune {
			if r < ' ' && r != '\t' || r == 0x7f {
				return ' '
			}
			return r
		}, strings.TrimSuffix(l, "\r"))
		switch {
		case strings.TrimSpace(l) == "":
			if len(fields) > 0 {
				flush()
				group++
			}
		case (l[0] == ' ' || l[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1] += l
		default:
			if len(fields) == 0 && group > 0 {
				rep.Recipients = append(rep.Recipients, Recipient{})
				rc = &rep.Recipients[len(rep.Recipients)-1]
			}
			fields = append(fields, l)
		}
	}
	flush()
	return rep
}
