package dane

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error of this package wraps one of them, so that
// callers can branch with errors.Is.
var (
	// Parsing TLSA records.
	ErrSyntax    = errors.New("dane: TLSA syntax error")     // the presentation form does not parse
	ErrTruncated = errors.New("dane: TLSA RDATA truncated")  // the wire form is shorter than its fields
	ErrTooLarge  = errors.New("dane: TLSA record too large") // larger than a DNS RDATA can be (65535 octets)

	// Verifying a TLS session ([Result.Err], [VerifyConnection]).
	ErrUnusable = errors.New("dane: no usable TLSA records")                        // RFC 7672 Section 2.2: all records unusable
	ErrNoMatch  = errors.New("dane: no TLSA record matches the server certificate") // usable records, none matched
	ErrChain    = errors.New("dane: no valid chain to the DANE-TA trust anchor")    // DANE-TA(2) matched, the chain is invalid or expired
	ErrName     = errors.New("dane: server certificate does not match the host")    // DANE-TA(2) chain valid, no reference identifier matched
)

// ParseError records where a TLSA record failed to parse.
type ParseError struct {
	Input  string // the presentation text; empty for wire RDATA
	Offset int    // byte offset of the problem in the input
	Msg    string // what is wrong
	Err    error  // the sentinel: ErrSyntax, ErrTruncated or ErrTooLarge
}

// Error describes the problem, with at most 64 bytes of the input.
func (e *ParseError) Error() string {
	where := " in RDATA"
	if e.Input != "" {
		in := e.Input
		if len(in) > 64 {
			in = in[:64] + "..."
		}
		where = " in " + strconv.Quote(in)
	}
	return "dane: " + e.Msg + " at offset " + strconv.Itoa(e.Offset) + where
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

// Error is why a TLS session was not authenticated, as returned by
// [Result.Err] and by the function [VerifyConnection] returns. It wraps one
// of ErrUnusable, ErrNoMatch, ErrChain or ErrName and, where there is one,
// the crypto/x509 error behind it (an x509.CertificateInvalidError for an
// expired chain, an x509.HostnameError for a name mismatch).
type Error struct {
	Result Result // the failed result; Result.Detail says what happened
}

// Error returns the result's detail text.
func (e *Error) Error() string { return "dane: " + e.Result.Detail }

// Unwrap returns the sentinel and the crypto/x509 cause, if any.
func (e *Error) Unwrap() []error {
	if e.Result.cause == nil {
		return []error{e.Result.err}
	}
	return []error{e.Result.err, e.Result.cause}
}
