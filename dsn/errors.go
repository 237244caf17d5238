package dsn

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them,
// most through a [*ParseError] that records where in the input it was found.
var (
	// ErrNotDSN: the input is not an RFC 3464 delivery status notification
	// (top level not multipart/report with report-type=delivery-status, or no
	// message/delivery-status part). Nothing is redacted; the caller decides.
	ErrNotDSN = errors.New("dsn: not a delivery status notification")

	// ErrMalformed: the MIME structure cannot be followed with certainty
	// (bad header syntax, missing or mismatched boundary, missing final
	// boundary, nesting too deep). Redacting such input could leak body bytes,
	// so it is refused.
	ErrMalformed = errors.New("dsn: malformed message")

	// ErrHeaderTooLarge: a header section is longer than Options.MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("dsn: header section too large")

	// ErrEncoded: a returned-message part, or a multipart, has a transfer
	// encoding other than 7bit, 8bit or binary (base64, quoted-printable or
	// an unknown one), so its header section or its delimiters cannot be
	// found without decoding it. Refused rather than guessed.
	ErrEncoded = errors.New("dsn: returned part is transfer-encoded")

	// ErrInvalidReport: a [Report] given to [Compose] has a missing or invalid
	// field (RFC 3464 Section 2), or a value that would inject a line break.
	ErrInvalidReport = errors.New("dsn: invalid report")
)

// ParseError records where in the input a problem was found. It wraps one of
// the package's sentinel errors, so both errors.Is and errors.As work.
//
// Unlike the ParseError of the other packages, it keeps no copy of the
// input (a DSN's bytes may include the message it returns), and its Offset
// is an int64: it counts bytes of a stream, which may be longer than an int
// can hold on a 32-bit platform (as in [io.Seeker]).
type ParseError struct {
	Offset int64  // byte offset into the input of the line at fault
	Msg    string // what is wrong; never contains input bytes
	Err    error  // the sentinel: ErrNotDSN, ErrMalformed, ErrHeaderTooLarge or ErrEncoded
}

// Error describes the problem and its offset.
func (e *ParseError) Error() string {
	return fmt.Sprintf("%v at offset %d: %s", e.Err, e.Offset, e.Msg)
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }
