package mtasts

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mode is a policy's mode (RFC 8461 Section 5).
type Mode string

const (
	// ModeEnforce: the sender MUST NOT deliver to an MX host that does not
	// match the policy, fails certificate validation or lacks STARTTLS.
	ModeEnforce Mode = "enforce"
	// ModeTesting: failures are only reported (RFC 8460), mail still flows.
	ModeTesting Mode = "testing"
	// ModeNone: treat the domain as having no active policy.
	ModeNone Mode = "none"
)

// MaxMaxAge is the largest max_age in seconds, about a year (RFC 8461
// Section 3.2).
const MaxMaxAge = 31557600

// MaxPolicySize is the largest policy file [ParsePolicy] accepts, 64 KiB.
// Real policies are a few hundred bytes. RFC 8461 Section 3.3 asks senders
// to bound the fetch; 64 KiB is what common implementations (mox, for one)
// read of the HTTPS response body.
const MaxPolicySize = 64 << 10

// Policy is an MTA-STS policy file, served at
// https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 Section 3.2).
// Its version is always "STSv1". Fields the RFC does not define are not
// kept (RFC 8461 Section 3.2: they are ignored).
type Policy struct {
	Mode Mode // enforce, testing or none (RFC 8461 Section 5)
	// MX are the mx patterns in file order, in lower case: host names
	// ("mail.example.com") or a wildcard for one left-most label
	// ("*.example.net"). Empty only in mode none.
	MX []string
	// MaxAge is how long, in seconds, the sender may cache the policy
	// (0 to MaxMaxAge).
	MaxAge int
}

// ParsePolicy parses a policy file following the grammar of RFC 8461
// Section 3.2 exactly:
//
//   - lines end in LF or CRLF, the last one optionally; a bare CR, an empty
//     line or a line that is not "name:value" is an error;
//   - field names and the values of version and mode are case-sensitive;
//     spaces and tabs may follow the ":" and end a line;
//   - version ("STSv1"), mode ("enforce", "testing" or "none") and max_age
//     (1 to 10 digits) must each appear exactly once, in any order;
//   - mx must appear at least once unless the mode is none, each value a
//     domain name of A-labels, optionally "*." and a domain name;
//   - other fields are ignored, but must be well-formed.
//
// A max_age above MaxMaxAge is read as MaxMaxAge: the grammar allows ten
// digits and the text caps the value.
//
// Where RFC 8461 is lax, this parser fails closed and refuses the policy:
// RFC 8461 Section 3.2 keeps the first of duplicated fields, but parsers in
// the wild keep the last, so a duplicated version, mode or max_age is an
// error; an invalid mx pattern ("mx*.example.com", a U-label, a trailing
// dot) is an error rather than a pattern that never matches; a field name
// that differs from a defined one only in case ("Mode") is an error rather
// than an extension. A refused policy is a failed policy fetch to the
// caller: keep using a cached policy (RFC 8461 Section 5.1), or deliver as
// if the domain had none.
//
// Errors are *[ParseError] wrapping [ErrPolicySyntax] or, for input longer
// than MaxPolicySize, [ErrTooLarge].
func ParsePolicy(s string) (Policy, error) {
	var p Policy
	fail := func(off int, msg string) (Policy, error) {
		return Policy{}, &ParseError{Input: s, Offset: off, Msg: msg, Err: ErrPolicySyntax}
	}
	if len(s) > MaxPolicySize {
		return Policy{}, &ParseError{Input: s, Offset: MaxPolicySize, Msg: "policy larger than " + strconv.Itoa(MaxPolicySize) + " bytes", Err: ErrTooLarge}
	}
	if s == "" {
		return fail(0, "empty policy")
	}
	var hasVersion, hasMaxAge bool
	for off := 0; off < len(s); {
		line, next := s[off:], len(s)
		if nl := strings.IndexByte(line, '\n'); nl >= 0 {
			// sts-policy-term = LF / CRLF
			line, next = line[:nl], off+nl+1
			line = strings.TrimSuffix(line, "\r")
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return fail(off, `line without ":"`)
		}
		name := line[:colon]
		if !validExtName(name) {
			return fail(off, "invalid field name")
		}
		if ambiguousName(name, "version", "mode", "max_age", "mx") {
			return fail(off, "field name "+name+" is ambiguous")
		}
		// field-delim = ":" *WSP; a field may be followed by *WSP.
		v := skipWSP(line, colon+1)
		value := strings.TrimRight(line[v:], " \t")
		voff := off + v
		// sts-policy-ext-value: no CTLs; UTF-8 (RFC 3629) allowed.
		if bad := strings.IndexFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }); bad >= 0 {
			return fail(voff+bad, "control character in field value")
		}
		if !utf8.ValidString(value) {
			return fail(voff, "invalid UTF-8 in field value")
		}
		if value == "" {
			return fail(voff, "empty field value")
		}
		dup := false
		switch name {
		case "version":
			if value != "STSv1" {
				return fail(voff, "unsupported version")
			}
			dup, hasVersion = hasVersion, true
		case "mode":
			switch m := Mode(value); m {
			case ModeEnforce, ModeTesting, ModeNone:
				dup, p.Mode = p.Mode != "", m
			default:
				return fail(voff, "unknown mode")
			}
		case "max_age":
			n, ok := maxAge(value)
			if !ok {
				return fail(voff, "max_age is not 1 to 10 digits")
			}
			dup, hasMaxAge, p.MaxAge = hasMaxAge, true, n
		case "mx":
			pat, ok := pattern(value)
			if !ok {
				return fail(voff, "invalid mx pattern")
			}
			p.MX = append(p.MX, pat)
		}
		if dup {
			return fail(off, "duplicate "+name+" field")
		}
		off = next
		if off < len(s) && (s[off] == '\n' || strings.HasPrefix(s[off:], "\r\n")) {
			return fail(off, "empty line")
		}
	}
	switch {
	case !hasVersion:
		return fail(len(s), "no version field")
	case p.Mode == "":
		return fail(len(s), "no mode field")
	case !hasMaxAge:
		return fail(len(s), "no max_age field")
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return fail(len(s), "no mx field")
	}
	return p, nil
}

// maxAge parses sts-policy-max-age-value = 1*10(DIGIT), capped at MaxMaxAge.
func maxAge(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n int64 // up to 9999999999, more than a 32-bit int holds
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return int(min(n, MaxMaxAge)), true
}

// ReadPolicy reads a policy file from r (the body of the HTTPS response)
// and parses it with [ParsePolicy]. It reads at most MaxPolicySize+1 bytes,
// so memory stays bounded whatever r holds; a longer body is [ErrTooLarge].
// A read error is returned wrapped, and wraps none of the sentinels.
func ReadPolicy(r io.Reader) (Policy, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxPolicySize+1))
	if err != nil {
		return Policy{}, fmt.Errorf("mtasts: reading policy: %w", err)
	}
	return ParsePolicy(string(b))
}

// String returns the policy file in canonical form: version, mode, the mx
// patterns in order, max_age, each line ending in CRLF.
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: ")
	b.WriteString(string(p.Mode))
	b.WriteString("\r\n")
	for _, mx := range p.MX {
		b.WriteString("mx: ")
		b.WriteString(mx)
		b.WriteString("\r\n")
	}
	b.WriteString("max_age: ")
	b.WriteString(strconv.Itoa(p.MaxAge))
	b.WriteString("\r\n")
	return b.String()
}

// Match reports whether the MX host name mx matches one of the policy's mx
// patterns (RFC 8461 Section 4.1); see the function [Match] for the rules.
// It says nothing about the mode: use [Policy.Auth] to decide delivery.
func (p Policy) Match(mx string) bool {
	for _, pat := range p.MX {
		if Match(pat, mx) {
			return true
		}
	}
	return false
}
