package header

import "bytes"

// SetRaw returns a copy of msg whose header section carries the field line
// (for example [LineRequireTLSESMTPYes]) exactly once, for callers that
// stream messages without parsing them, such as a content-filter proxy.
// msg is a whole message or at least its whole header section; bytes after
// the header section are copied unchanged, so a proxy passes only the header
// section it has buffered (see [Scan]) and streams the body after it.
//
// If the header has exactly that field already, byte for byte, the result
// equals msg. Otherwise every field with the same name is removed and line is
// inserted, followed by CRLF, at the end of the header section: before the
// blank line, or at the end of msg, after a CRLF that ends the last line if
// it had none. Insertion and removal happen only between whole fields, so a
// folded field is never split, and every other byte is kept.
//
// Because every parser must agree on where the inserted line lands, SetRaw
// refuses every header section [Scan] calls ambiguous (a line that is not a
// header field before the blank line, such as ": x", a bare CR or LF,
// white space before a colon, a continuation of white space only, a
// line over 998 octets), and a last line at the end of msg that is not a
// complete field. It returns a *ParseError wrapping [ErrAmbiguous] with the
// offset. Postfix, for example, ends the header section at ": x", so a field
// inserted after it would be body to Postfix; this is the class of bug
// Postfix 3.11.7 fixed (SMTP smuggling through its Require-TLS-ESMTP
// insertion). msg is message content, not the dot-stuffed DATA stream:
// dot-stuffing happens after, on the result.
//
// line must be "Name: value" on one line of printable US-ASCII and white
// space, at most 998 bytes (RFC 5322 Section 2.1.1), else [ErrInvalidField].
// A header section longer than [MaxHeaderBytes] gives [ErrHeaderTooLong].
func SetRaw(msg []byte, line string) ([]byte, error) {
	name, err := fieldLineName(line)
	if err != nil {
		return nil, err
	}
	return editRaw(msg, name, line)
}

// RemoveRaw returns a copy of msg without any field named name (matched
// case-insensitively) in its header section, keeping every other byte. Use
// it to strip Require-TLS-ESMTP from a message from an untrusted source
// before it reaches a content filter (see [Source]). It refuses the same
// inputs as [SetRaw].
func RemoveRaw(msg []byte, name string) ([]byte, error) {
	for i := range len(name) {
		if !isFtext(name[i]) {
			return nil, newParseError(name, i, ErrInvalidField, "invalid character in field name")
		}
	}
	if name == "" {
		return nil, newParseError(name, 0, ErrInvalidField, "empty field name")
	}
	return editRaw(msg, name, "")
}

// editRaw removes every field called name and, if line is not empty,
// inserts line at the end of the header section.
func editRaw(msg []byte, name, line string) ([]byte, error) {
	lim := msg
	if len(lim) > MaxHeaderBytes {
		lim = lim[:MaxHeaderBytes]
	}
	w := walker{b: lim, final: len(msg) == len(lim)}
	matches, same := 0, false
	for {
		f, ok := w.next()
		if !ok {
			break
		}
		if asciiEqualFold(lim[f.start:f.nameEnd], name) {
			matches++
			same = line != "" && string(lim[f.start:f.end]) == line+"\r\n"
		}
	}
	if w.amb != nil {
		return nil, w.amb
	}
	if w.kind == endEOF && len(msg) > len(lim) {
		return nil, newParseError(lim[MaxHeaderBytes-maxQuotedLine:], MaxHeaderBytes, ErrHeaderTooLong,
			"no end of the header section within MaxHeaderBytes")
	}
	if matches == 1 && same {
		return bytes.Clone(msg), nil
	}

	out := make([]byte, 0, len(msg)+len(line)+4)
	w = walker{b: lim, final: w.final}
	prev := 0
	for {
		f, ok := w.next()
		if !ok {
			break
		}
		if asciiEqualFold(lim[f.start:f.nameEnd], name) {
			out = append(out, msg[prev:f.start]...)
			prev = f.end
		}
	}
	out = append(out, msg[prev:w.insertAt]...)
	if line != "" {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\r', '\n') // the header ran to the end of msg without a line ending
		}
		out = append(out, line...)
		out = append(out, '\r', '\n')
	}
	return append(out, msg[w.insertAt:]...), nil
}

// lineAt returns the line of msg containing offset off, for error messages.
func lineAt(msg []byte, off int) []byte {
	start := bytes.LastIndexByte(msg[:off], '\n') + 1
	end := min(len(msg), start+maxQuotedLine)
	return msg[start:end]
}

// fieldLineName checks a field line to insert and returns its name.
func fieldLineName(line string) (string, error) {
	if len(line) > 998 {
		return "", newParseError(line, 998, ErrInvalidField, "line longer than 998 bytes")
	}
	colon := -1
	for i := range len(line) {
		c := line[i]
		switch {
		case c == ':' && colon < 0:
			colon = i
		case colon < 0 && !isFtext(c):
			return "", newParseError(line, i, ErrInvalidField, "invalid character in field name")
		case colon >= 0 && !isWSP(c) && (c < 33 || c > 126):
			return "", newParseError(line, i, ErrInvalidField, "invalid character in field value")
		}
	}
	if colon <= 0 {
		return "", newParseError(line, max(colon, 0), ErrInvalidField, "no field name and colon")
	}
	return line[:colon], nil
}
