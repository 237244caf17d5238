package header

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers branch with [errors.Is].
var (
	// ErrMalformed: a TLS-Required or Require-TLS-ESMTP value other than the
	// single defined one (RFC 8689 Section 3; Postfix 3.11). A malformed
	// TLS-Required field never relaxes TLS (RFC 8689 Section 3 defines only "No").
	ErrMalformed = errors.New("header: malformed field")

	// ErrAmbiguous: parsers could disagree on the lines of the header
	// section or on where it ends, so it is neither trusted to relax TLS
	// nor edited: a line that is not a header field before the blank line
	// (": x", a first line starting with white space, an mbox "From "
	// line, a NUL in a name), a bare CR or LF, white space before a colon, a
	// continuation of white space only, or a line longer than 998 octets.
	// Postfix ends the header section at such a non-field line while
	// go-message skips or refuses it, so a field after it would be header
	// to one and body to the other: the SMTP-smuggling class Postfix
	// 3.11.7 fixed in its header insertion.
	ErrAmbiguous = errors.New("header: ambiguous line structure")

	// ErrHeaderTooLong: the header section is longer than [MaxHeaderBytes].
	ErrHeaderTooLong = errors.New("header: header section too long")

	// ErrInvalidField: a field given to [SetRaw] or [RemoveRaw] is not a
	// single line "Name: value" of printable US-ASCII.
	ErrInvalidField = errors.New("header: invalid field to insert")
)

// ParseError records what failed and where. It wraps one of the sentinel
// errors above; use errors.As to get the position.
type ParseError struct {
	Line   string // the value or message line containing the problem, cut to 80 bytes
	Offset int    // byte offset of the problem in the parsed value or message
	Msg    string // what is wrong
	Err    error  // the sentinel: ErrMalformed, ErrAmbiguous, ErrHeaderTooLong or ErrInvalidField
}

// maxQuotedLine bounds how much input a ParseError keeps, so a 10 MB header
// line neither stays alive in memory nor becomes a 10 MB error string.
const maxQuotedLine = 80

func newParseError[T string | []byte](line T, off int, sentinel error, msg string) *ParseError {
	if len(line) > maxQuotedLine {
		line = line[:maxQuotedLine]
	}
	return &ParseError{Line: string(line), Offset: off, Msg: msg, Err: sentinel}
}

// Error describes the problem, its offset and the line it is on.
func (e *ParseError) Error() string {
	return e.Err.Error() + ": " + e.Msg + " at offset " + strconv.Itoa(e.Offset) +
		" in " + strconv.Quote(e.Line)
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }
