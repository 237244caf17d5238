package tlsstatus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// TLS failure reasons, the result types of SMTP TLS Reporting (RFC 8460
// Section 4.3), for [TLSFailure.Reason].
const (
	ReasonCertificateHostMismatch = "certificate-host-mismatch" // no name in the certificate matches the server's host name
	ReasonCertificateExpired      = "certificate-expired"       // the certificate is expired (or not yet valid)
	ReasonCertificateNotTrusted   = "certificate-not-trusted"   // no chain to a trusted root, e.g. self-signed
	ReasonValidationFailure       = "validation-failure"        // any other certificate verification failure
)

// TLSFailure is what [ClassifyTLSError] found.
type TLSFailure struct {
	// Feature is the REQUIRETLS feature Postfix 3.11 logs when the error
	// ends a delivery attempt under the "enforce" policy:
	// "!requiretls:nocertmatch" when the server certificate was not
	// matched (RFC 8689 Section 4.2.1 step 4), "requiretls?" when the
	// handshake failed otherwise (Postfix defers with "4.7.5 Cannot start
	// TLS: handshake failure"). Under "opportunistic+starttls" Postfix logs
	// a certificate failure as compliant: clear Violation to get
	// "requiretls:nocertmatch".
	Feature Feature
	// Reason is the RFC 8460 result type of a certificate failure, one of
	// the Reason constants, or "" for other handshake failures.
	Reason string
}

// ClassifyTLSError maps an error from a crypto/tls handshake or a
// crypto/x509 verification (as returned by tls.Conn.Handshake, or by
// go-smtp's StartTLS, which wraps it) to what Postfix would log, so that Go
// delivery code can log the same tls= field. A nil error gives the zero
// TLSFailure.
func ClassifyTLSError(err error) TLSFailure {
	if err == nil {
		return TLSFailure{}
	}
	if reason := certificateReason(err); reason != "" {
		return TLSFailure{
			Feature: Feature{Name: RequireTLS, Final: NoCertMatch, Violation: true},
			Reason:  reason,
		}
	}
	return TLSFailure{Feature: Feature{Name: RequireTLS, Undecided: true}}
}

// certificateReason returns the RFC 8460 result type of a certificate
// verification error, or "" if err is not one. crypto/tls returns the
// x509 errors as values; pointers to them are matched too, as callers
// sometimes wrap them that way.
func certificateReason(err error) string {
	var (
		host   x509.HostnameError
		hostP  *x509.HostnameError
		inv    x509.CertificateInvalidError
		invP   *x509.CertificateInvalidError
		ca     x509.UnknownAuthorityError
		caP    *x509.UnknownAuthorityError
		verify *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &host) || errors.As(err, &hostP):
		return ReasonCertificateHostMismatch
	case errors.As(err, &inv) || errors.As(err, &invP):
		if invP != nil {
			inv = *invP
		}
		if inv.Reason == x509.Expired {
			return ReasonCertificateExpired // also "not yet valid": x509 does not tell them apart
		}
		return ReasonValidationFailure
	case errors.As(err, &ca) || errors.As(err, &caP):
		return ReasonCertificateNotTrusted
	case isOtherX509Error(err) || errors.As(err, &verify):
		return ReasonValidationFailure
	}
	return ""
}

// isOtherX509Error reports whether err is one of the remaining
// crypto/x509 verification errors.
func isOtherX509Error(err error) bool {
	var (
		constraint x509.ConstraintViolationError
		insecure   x509.InsecureAlgorithmError
		critical   x509.UnhandledCriticalExtension
		roots      x509.SystemRootsError
	)
	return errors.As(err, &constraint) || errors.As(err, &insecure) ||
		errors.As(err, &critical) || errors.As(err, &roots)
}
