package mtasts

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error of this package wraps one of them (except a
// read error passed on by [ReadPolicy]); branch on them with [errors.Is].
var (
	// ErrRecordSyntax: a _mta-sts TXT record does not follow RFC 8461
	// Section 3.1. The domain has no usable MTA-STS record.
	ErrRecordSyntax = errors.New("mtasts: malformed MTA-STS TXT record")
	// ErrNoRecord: none of the TXT records of _mta-sts.<domain> is an
	// MTA-STS record (RFC 8461 Section 3.1).
	ErrNoRecord = errors.New("mtasts: no MTA-STS TXT record")
	// ErrMultipleRecords: more than one TXT record of _mta-sts.<domain> is
	// an MTA-STS record; RFC 8461 Section 3.1 says to treat the domain as
	// having no available policy.
	ErrMultipleRecords = errors.New("mtasts: more than one MTA-STS TXT record")
	// ErrPolicySyntax: a policy file does not follow RFC 8461 Section 3.2,
	// or a required field is missing or duplicated.
	ErrPolicySyntax = errors.New("mtasts: malformed MTA-STS policy")
	// ErrTooLarge: a policy file is larger than [MaxPolicySize].
	ErrTooLarge = errors.New("mtasts: MTA-STS policy too large")
	// ErrUnknownMode: a [Policy] built in Go has a [Mode] other than
	// enforce, testing or none.
	ErrUnknownMode = errors.New("mtasts: unknown MTA-STS policy mode")
	// ErrMXNotAllowed: the policy is in mode enforce and the MX host does
	// not match any of its mx patterns. RFC 8461 Section 5: the sender
	// MUST NOT deliver to that host.
	ErrMXNotAllowed = errors.New("mtasts: MX host not allowed by the MTA-STS policy")
)

// ParseError records where a TXT record or policy file failed to parse.
type ParseError struct {
	Input  string // the text that was parsed (truncated to 64 bytes in Error)
	Offset int    // byte offset of the problem in Input
	Msg    string // what is wrong
	Err    error  // the sentinel: ErrRecordSyntax, ErrPolicySyntax or ErrTooLarge
}

// Error describes the problem, its offset and the start of the input.
func (e *ParseError) Error() string {
	in := e.Input
	if len(in) > 64 {
		in = in[:64] + "..."
	}
	return "mtasts: " + e.Msg + " at offset " + strconv.Itoa(e.Offset) + " in " + strconv.Quote(in)
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }
