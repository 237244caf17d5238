package policy

import "fmt"

// Level is the REQUIRETLS enforcement level for a destination: an action
// atom of Postfix 3.11's smtp_requiretls_policy, plus [Monitor]. The zero
// Level is [Enforce], Postfix's implicit default when no policy matches.
type Level uint8

const (
	// Enforce: require an authenticated server (secure MX lookup and a
	// matched certificate), TLS and REQUIRETLS after STARTTLS; otherwise try
	// the next host, then bounce (RFC 8689 Section 4.2.1).
	Enforce Level = iota
	// OpportunisticSTARTTLS: require STARTTLS; send REQUIRETLS if the server
	// announces it, otherwise deliver as if it was not requested.
	OpportunisticSTARTTLS
	// Opportunistic: require nothing; send REQUIRETLS if TLS is up and the
	// server announces it, otherwise deliver as if it was not requested.
	Opportunistic
	// Disable: ignore the REQUIRETLS request.
	Disable
	// Monitor (ours, not Postfix): deliver as Opportunistic, and report in
	// [Decision.WouldEnforce] what Enforce would have decided.
	Monitor
	// ConfigError is Postfix's "error" result: a broken policy (unknown
	// atom, failing table, table result that is not one atom). Delivery is
	// deferred with 4.7.10; it never bounces.
	ConfigError
)

var levelNames = [...]string{
	Enforce:               "enforce",
	OpportunisticSTARTTLS: "opportunistic+starttls",
	Opportunistic:         "opportunistic",
	Disable:               "disable",
	Monitor:               "monitor",
	ConfigError:           "error",
}

// String returns the Postfix atom, e.g. "opportunistic+starttls", or
// "error" for ConfigError and for any value out of range.
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return levelNames[ConfigError]
}

// ParseLevel parses an action atom, ignoring ASCII case as Postfix does
// (strcasecmp): "diſable", with a long s that Unicode case folding equates
// with "s", is not "disable". "error" parses to [ConfigError]. Anything
// else is an error wrapping [ErrUnknownLevel], returned with ConfigError.
func ParseLevel(s string) (Level, error) {
	if l, ok := parseAtom(s); ok {
		return l, nil
	}
	return ConfigError, &ParseError{Input: s, Err: ErrUnknownLevel, Msg: "unknown policy action " + quote(s)}
}

func parseAtom(s string) (Level, bool) {
	for i, n := range levelNames {
		if equalFoldASCII(s, n) {
			return Level(i), true
		}
	}
	return ConfigError, false
}

// equalFoldASCII reports whether s equals the lower-case ASCII name n,
// ignoring ASCII case only.
func equalFoldASCII(s, n string) bool {
	if len(s) != len(n) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != n[i] {
			return false
		}
	}
	return true
}

// MarshalText returns the Postfix atom, as [Level.String] does, so that a
// queue or a configuration stores a Level by name: encoding/json writes
// "opportunistic+starttls", not 1, for a struct field or a map key. A value
// out of range is an error wrapping [ErrUnknownLevel] (String would write
// "error" for it); it is never written as a name that reads back as a
// different level.
func (l Level) MarshalText() ([]byte, error) {
	if int(l) >= len(levelNames) {
		return nil, fmt.Errorf("policy: cannot store level(%d): %w", uint8(l), ErrUnknownLevel)
	}
	return []byte(levelNames[l]), nil
}

// UnmarshalText parses text with [ParseLevel]. On error it sets *l to
// [ConfigError], which never delivers, and returns the error.
func (l *Level) UnmarshalText(text []byte) error {
	v, err := ParseLevel(string(text))
	*l = v
	return err
}
