package policy

import "strings"

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

// ParseLevel parses an action atom, case-insensitively as Postfix does
// (strcasecmp). "error" parses to [ConfigError]. Anything else is an error
// wrapping [ErrUnknownLevel].
func ParseLevel(s string) (Level, error) {
	if l, ok := parseAtom(s); ok {
		return l, nil
	}
	return ConfigError, &ParseError{Input: s, Err: ErrUnknownLevel, Msg: "unknown policy action " + quote(s)}
}

func parseAtom(s string) (Level, bool) {
	for i, n := range levelNames {
		if strings.EqualFold(s, n) {
			return Level(i), true
		}
	}
	return ConfigError, false
}
