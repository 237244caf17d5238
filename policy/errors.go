package policy

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error of this package wraps one of them.
var (
	ErrSyntax       = errors.New("policy: syntax error")          // the policy string does not parse
	ErrUnknownLevel = errors.New("policy: unknown policy action") // not an action atom
	ErrUnknownTag   = errors.New("policy: unknown tag")           // not a Tag's name (ParseTag, Tag.UnmarshalText)
	ErrUndefined    = errors.New("policy: undefined parameter")   // $name has no value
	ErrIDN          = errors.New("policy: malformed domain name") // a key is not a host name, .parent domain or IP address, or has no A-label form
	ErrTooLarge     = errors.New("policy: policy too large")      // a size limit was exceeded
	ErrTable        = errors.New("policy: table file not read")   // a table is in a file, and ParseOptions.ReadFile is nil or failed
)

// ParseError records where a policy string or atom failed to parse.
type ParseError struct {
	Input  string // the text that was parsed (truncated to 64 bytes in Error)
	Offset int    // byte offset of the problem in Input
	Msg    string // what is wrong
	Err    error  // the sentinel: ErrSyntax, ErrUnknownLevel, ErrUnknownTag, ErrUndefined, ErrIDN, ErrTooLarge or ErrTable
}

// Error describes the problem, its offset and the start of the input.
func (e *ParseError) Error() string {
	in := e.Input
	if len(in) > 64 {
		in = in[:64] + "..."
	}
	return "policy: " + e.Msg + " at offset " + strconv.Itoa(e.Offset) + " in " + strconv.Quote(in)
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
