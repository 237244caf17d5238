package mtasts

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/requiretls/go-requiretls/policy"
)

// Options changes how [Policy.Auth] reads a policy. A nil *Options means
// the zero Options.
type Options struct {
	// Testing counts a policy in mode testing like one in mode enforce for
	// authentication: an MX host that matches it gets
	// [policy.AuthMTASTS]. An MX host that does not match is still not
	// refused (RFC 8461 Section 5: testing only reports). The zero value,
	// false, is the strict choice: only enforce authenticates.
	Testing bool
}

// Auth is the before-connect fact for delivery to the MX host mx under
// policy p, for [policy.Attempt.Auth] (RFC 8689 Section 2 and RFC 8461
// Section 4.1):
//
//   - mode enforce, mx matches: [policy.AuthMTASTS];
//   - mode enforce, mx does not match: [policy.AuthNone] and an error
//     wrapping [ErrMXNotAllowed]. The host MUST NOT be used for any
//     message (RFC 8461 Section 5): do not connect, try the next MX, and
//     if none is left defer rather than bounce, so that a newer policy
//     can be fetched (RFC 8461 Section 5.1). A message tagged
//     "TLS-Required: No" ignores the policy altogether
//     ([policy.Decision.CapTLS]; RFC 8689 Section 4.2.2);
//   - mode testing: [policy.AuthMTASTS] if mx matches and opts.Testing is
//     set, else [policy.AuthNone];
//   - mode none: [policy.AuthNone] (RFC 8461 Section 5: as if there were no
//     policy);
//   - any other mode (a Policy built in Go): [policy.AuthNone] and an error
//     wrapping [ErrUnknownMode].
//
// AuthMTASTS says only that the MX name is validated. The connection is
// authenticated when, after STARTTLS, the certificate also verifies for
// that same name: see [Cert]. [policy.AuthNone] lets a caller with other
// means (DANE, a DNSSEC-signed MX) supply its own fact instead.
func (p Policy) Auth(mx string, opts *Options) (policy.Auth, error) {
	testing := opts != nil && opts.Testing
	switch p.Mode {
	case ModeEnforce:
		if !p.Match(mx) {
			return policy.AuthNone, fmt.Errorf("%w: %q", ErrMXNotAllowed, mx)
		}
		return policy.AuthMTASTS, nil
	case ModeTesting:
		if testing && p.Match(mx) {
			return policy.AuthMTASTS, nil
		}
		return policy.AuthNone, nil
	case ModeNone:
		return policy.AuthNone, nil
	}
	return policy.AuthNone, fmt.Errorf("%w: %q", ErrUnknownMode, string(p.Mode))
}

// Cert is the after-STARTTLS fact for [policy.Attempt.Cert]: what PKIX
// verification of the MX host's certificate found (RFC 8461 Section 4.2:
// a trust chain to a root the sender trusts, not expired, and a subject
// alternative name DNS-ID matching the MX host name per RFC 6125).
//
// verifiedFor is the host name the chain was verified against
// ([crypto/x509.VerifyOptions.DNSName], or the [crypto/tls.Config]
// ServerName), and verifyErr is the verification's result. Go's
// crypto/x509 implements the RFC 6125 DNS-ID rules (and, like the RFC,
// never falls back to the common name).
//
// It returns [policy.CertAuthenticated] only when verifyErr is nil and
// verifiedFor is mx (ignoring letter case and one trailing dot): a chain
// verified for another name, or for no name, says nothing about mx and is
// [policy.CertNameMismatch]. A [crypto/x509.HostnameError] anywhere in
// verifyErr's chain is [policy.CertNameMismatch]; every other error is
// [policy.CertUntrusted].
func Cert(mx, verifiedFor string, verifyErr error) policy.Cert {
	if verifyErr != nil {
		var he x509.HostnameError
		if errors.As(verifyErr, &he) {
			return policy.CertNameMismatch
		}
		return policy.CertUntrusted
	}
	want, ok1 := domain(strings.TrimSuffix(mx, "."))
	got, ok2 := domain(strings.TrimSuffix(verifiedFor, "."))
	if !ok1 || !ok2 || want != got {
		return policy.CertNameMismatch
	}
	return policy.CertAuthenticated
}
