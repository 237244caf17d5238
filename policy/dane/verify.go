package dane

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/requiretls/go-requiretls/policy"
)

// Reasons a session was not authenticated, as SMTP TLS Reporting result
// types (RFC 8460 Section 4.3), for [Result.Reason]. The certificate ones
// are the values of the tlsstatus package's Reason constants.
const (
	ReasonTLSAInvalid             = "tlsa-invalid"              // no usable TLSA record (RFC 8460 Section 4.3.2)
	ReasonCertificateNotTrusted   = "certificate-not-trusted"   // usable records, none matched
	ReasonCertificateExpired      = "certificate-expired"       // DANE-TA(2): a certificate of the chain has expired (or is not yet valid)
	ReasonCertificateHostMismatch = "certificate-host-mismatch" // DANE-TA(2): no reference identifier matched
	ReasonValidationFailure       = "validation-failure"        // DANE-TA(2): the chain is invalid otherwise
)

// Options configures [Verify] and [VerifyConnection]. A nil *Options means
// the zero Options.
type Options struct {
	// Names are reference identifiers a DANE-TA(2) match may find in the
	// server certificate besides the host passed to Verify: for example the
	// MX host name before CNAME expansion when host is the expanded TLSA
	// base domain, or the next-hop domain (RFC 7672 Section 3.2.2). Only
	// DNS names count: IP addresses and names containing "*" are ignored,
	// here and as host.
	Names []string
	// Time is when DANE-TA(2) chains must be valid. If zero, time.Now() at
	// each verification.
	Time time.Time
}

// Result is the outcome of a verification.
type Result struct {
	// Cert is the fact for [policy.Attempt.Cert]: CertAuthenticated when a
	// usable record matched and every check passed, CertNameMismatch when
	// a DANE-TA(2) chain was valid but no name matched, and CertUntrusted
	// otherwise.
	Cert policy.Cert
	// Reason is "" when authenticated, and otherwise an RFC 8460 result
	// type, one of the Reason constants: ReasonTLSAInvalid when all records
	// are unusable, ReasonCertificateNotTrusted when usable records did not
	// match.
	Reason string
	// Detail says what happened in one line for a log, e.g.
	// "DANE-EE(3) SPKI(1) SHA2-256(1) matched the server certificate".
	Detail string
	// Record is the record that authenticated the server; the zero Record
	// when none did.
	Record Record
	// Usable is how many of the records were usable ([Record.Usable]).
	Usable int

	err   error // sentinel; nil when authenticated
	cause error // the crypto/x509 error, if any
}

// Authenticated reports whether the server is authenticated by DANE.
func (r Result) Authenticated() bool { return r.Cert == policy.CertAuthenticated }

// Err returns nil when the server is authenticated, and otherwise an
// [*Error] wrapping ErrUnusable, ErrNoMatch, ErrChain or ErrName.
func (r Result) Err() error {
	if r.Authenticated() {
		return nil
	}
	return &Error{Result: r}
}

// Verify checks a TLS session's server certificates, as the server sent them
// (state.PeerCertificates; crypto/tls's own verification plays no part),
// against the TLSA records of the server, for SMTP (RFC 7672 Section 3). host
// is the TLSA base domain, the name DANE-TA(2) certificates must match
// (RFC 7672 Section 3.2.2); opts may add others. The records must be the
// DNSSEC-validated ("secure") TLSA RRset of host: checking that is the
// caller's.
//
// The server is authenticated when one usable record matches:
//   - DANE-EE(3): the end-entity certificate (selector Cert) or its public
//     key (SPKI) matches; its names and validity dates are not checked
//     (RFC 7672 Section 3.1.1);
//   - DANE-TA(2): a certificate of the chain, or with "2 1 0" a public key
//     given in full (RFC 7671 Section 5.2.2), matches and becomes the only
//     trust anchor; then the end-entity certificate must chain to it (with
//     the other sent certificates as intermediates, valid at opts.Time,
//     extended key usage serverAuth where present) and match host or one of
//     opts.Names as a DNS name in its subjectAltName, a wildcard matching
//     one left-most label (RFC 7672 Section 3.1.2, Section 3.2; crypto/x509
//     VerifyHostname, which ignores the subject's common name).
//
// PKIX-TA(0) and PKIX-EE(1) records, unknown selectors and matching types and
// digests of the wrong length are unusable and ignored (RFC 7672 Section
// 3.1.3, Section 2.2). With no usable record the server is not
// authenticated (Reason ReasonTLSAInvalid, Err wraps ErrUnusable): RFC 7672
// Section 2.2 allows only unauthenticated TLS then. Anything else that goes
// wrong leaves it unauthenticated too; Verify never fails open.
func Verify(state tls.ConnectionState, records []Record, host string, opts *Options) Result {
	return newVerifier(records, host, opts).verify(state.PeerCertificates)
}

// VerifyConnection returns a function for tls.Config.VerifyConnection that
// runs [Verify] with the records on every handshake and returns
// [Result.Err], wrapped in a *tls.CertificateVerificationError so that
// crypto/tls and the tlsstatus package treat it as a certificate failure.
//
// Set InsecureSkipVerify in the same tls.Config (the requiretls Dialer does
// so itself): crypto/tls would otherwise first verify the chain with PKIX
// against RootCAs and ServerName, which DANE does not require (a DANE-EE(3)
// server often has a self-signed certificate), and only then call this
// function. The records are read when VerifyConnection is called; do not
// modify them afterwards.
func VerifyConnection(records []Record, host string, opts *Options) func(tls.ConnectionState) error {
	v := newVerifier(records, host, opts)
	return func(cs tls.ConnectionState) error {
		if err := v.verify(cs.PeerCertificates).Err(); err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
		}
		return nil
	}
}

// verifier holds the usable records and the reference identifiers.
type verifier struct {
	ee, ta []Record
	names  []string
	time   time.Time
	total  int
}

func newVerifier(records []Record, host string, opts *Options) *verifier {
	v := &verifier{total: len(records)}
	if opts == nil {
		opts = &Options{}
	}
	v.time = opts.Time
	for _, n := range append([]string{host}, opts.Names...) {
		if referenceName(n) {
			v.names = append(v.names, n)
		}
	}
	for _, r := range records {
		switch {
		case !r.Usable():
		case r.Usage == UsageDANEEE:
			v.ee = append(v.ee, r)
		default:
			v.ta = append(v.ta, r)
		}
	}
	return v
}

// referenceName reports whether n can be a reference identifier: a DNS
// name (RFC 7672 Section 3.2.2). An IP address would match an IP address
// subjectAltName, and a name with "*" would match a wildcard literally
// (crypto/x509 VerifyHostname); neither is a TLSA base domain.
func referenceName(n string) bool {
	if n == "" || strings.Contains(n, "*") {
		return false
	}
	_, err := netip.ParseAddr(strings.Trim(n, "[]"))
	return err != nil
}

// verify returns the first success, or else the failure that got furthest:
// a name mismatch after a valid chain, then an invalid chain, then no match.
func (v *verifier) verify(certs []*x509.Certificate) Result {
	usable := len(v.ee) + len(v.ta)
	if usable == 0 {
		detail := "none of " + strconv.Itoa(v.total) + " TLSA records is usable for SMTP"
		if v.total == 0 {
			detail = "no TLSA records"
		}
		return Result{Reason: ReasonTLSAInvalid, err: ErrUnusable, Detail: detail}
	}
	best := Result{
		Reason: ReasonCertificateNotTrusted, Usable: usable, err: ErrNoMatch,
		Detail: "no TLSA record matches the server certificate chain (" + strconv.Itoa(usable) + " usable)",
	}
	if len(certs) == 0 {
		best.Detail = "the server sent no certificate"
		return best
	}
	leaf := certs[0]
	for _, r := range v.ee {
		if matches(r, leaf) {
			return Result{Cert: policy.CertAuthenticated, Record: r, Usable: usable,
				Detail: recordName(r) + " matched the server certificate"}
		}
	}
	c := chainChecker{v: v, certs: certs}
	for _, r := range v.ta {
		matched := false
		for _, ta := range certs {
			if !matches(r, ta) {
				continue
			}
			matched = true
			if c.tried(ta) {
				continue
			}
			res := c.check(r, ta, "trust anchor "+subject(ta))
			if res.Authenticated() {
				return res
			}
			best = worse(best, res)
		}
		if matched || r.Selector != SelectorSPKI || r.MatchingType != MatchFull {
			continue
		}
		for _, ta := range issuedByKey(r.Data, certs) {
			if c.tried(ta) {
				continue
			}
			res := c.check(r, ta, "the trust anchor key, which issued "+subject(ta))
			if res.Authenticated() {
				return res
			}
			best = worse(best, res)
		}
	}
	return best
}

// worse returns the failure that got further.
func worse(a, b Result) Result {
	rank := func(r Result) int {
		switch r.err {
		case ErrName:
			return 2
		case ErrChain:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// chainChecker builds chains from the sent certificates to a DANE-TA(2)
// trust anchor, trying each matched certificate once.
type chainChecker struct {
	v     *verifier
	certs []*x509.Certificate
	inter *x509.CertPool
	done  []*x509.Certificate
}

// tried reports whether ta was already checked (a server may send a
// certificate twice, and several records may match it), and remembers it.
func (c *chainChecker) tried(ta *x509.Certificate) bool {
	for _, d := range c.done {
		if d.Equal(ta) {
			return true
		}
	}
	c.done = append(c.done, ta)
	return false
}

// check builds a chain from the end-entity certificate to ta, the only
// trust anchor, then checks the reference identifiers.
func (c *chainChecker) check(r Record, ta *x509.Certificate, what string) Result {
	usable := len(c.v.ee) + len(c.v.ta)
	if c.inter == nil {
		c.inter = x509.NewCertPool()
		for _, cert := range c.certs[1:] {
			c.inter.AddCert(cert)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	now := c.v.time
	if now.IsZero() {
		now = time.Now()
	}
	leaf := c.certs[0]
	prefix := recordName(r) + " matched " + what
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: c.inter, CurrentTime: now}); err != nil {
		reason := ReasonValidationFailure
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			reason = ReasonCertificateExpired
		}
		return Result{Reason: reason, Usable: usable, err: ErrChain, cause: err,
			Detail: prefix + " but the chain is not valid: " + err.Error()}
	}
	var nameErr error = x509.HostnameError{Certificate: leaf}
	for _, n := range c.v.names {
		if nameErr = leaf.VerifyHostname(n); nameErr == nil {
			return Result{Cert: policy.CertAuthenticated, Record: r, Usable: usable,
				Detail: prefix + "; the chain is valid and the certificate matches " + n}
		}
	}
	return Result{Cert: policy.CertNameMismatch, Reason: ReasonCertificateHostMismatch, Usable: usable,
		err: ErrName, cause: nameErr,
		Detail: prefix + "; the chain is valid but the certificate matches none of " + quoteNames(c.v.names)}
}

// issuedByKey returns the sent certificates signed by the public key a
// "2 1 0" record gives in full, for when the server omits the trust anchor
// certificate (RFC 7671 Section 5.2.2). Each is then checked as the trust
// anchor's stand-in: its own validity and constraints still apply. It
// returns nil when the data is not a public key crypto/x509 can use.
func issuedByKey(spki []byte, certs []*x509.Certificate) []*x509.Certificate {
	key, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil
	}
	anchor := &x509.Certificate{PublicKey: key, Version: 3, BasicConstraintsValid: true, IsCA: true}
	switch key.(type) {
	case *rsa.PublicKey:
		anchor.PublicKeyAlgorithm = x509.RSA
	case *ecdsa.PublicKey:
		anchor.PublicKeyAlgorithm = x509.ECDSA
	case ed25519.PublicKey:
		anchor.PublicKeyAlgorithm = x509.Ed25519
	default:
		return nil
	}
	var issued []*x509.Certificate
	for _, c := range certs {
		if c.CheckSignatureFrom(anchor) == nil {
			issued = append(issued, c)
		}
	}
	return issued
}

// matches reports whether r's data matches the selected part of cert.
func matches(r Record, cert *x509.Certificate) bool {
	content := cert.Raw
	if r.Selector == SelectorSPKI {
		content = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case MatchSHA256:
		sum := sha256.Sum256(content)
		return bytes.Equal(r.Data, sum[:])
	case MatchSHA512:
		sum := sha512.Sum512(content)
		return bytes.Equal(r.Data, sum[:])
	}
	return bytes.Equal(r.Data, content)
}

func recordName(r Record) string {
	return r.Usage.String() + " " + r.Selector.String() + " " + r.MatchingType.String()
}

func subject(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return strconv.Quote(s)
	}
	return "(empty subject)"
}

func quoteNames(names []string) string {
	if len(names) == 0 {
		return "(no host name given)"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
