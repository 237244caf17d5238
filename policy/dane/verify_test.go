package dane_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

var (
	usages    = []dane.Usage{dane.UsagePKIXTA, dane.UsagePKIXEE, dane.UsageDANETA, dane.UsageDANEEE}
	selectors = []dane.Selector{dane.SelectorCert, dane.SelectorSPKI}
	matchings = []dane.MatchingType{dane.MatchFull, dane.MatchSHA256, dane.MatchSHA512}
)

// assertResult checks the parts of a result that always go together.
func assertResult(t *testing.T, r dane.Result, cert policy.Cert, sentinel error, reason string) {
	t.Helper()
	assert.Equal(t, cert, r.Cert, r.Detail)
	assert.Equal(t, reason, r.Reason, r.Detail)
	assert.NotEmpty(t, r.Detail)
	if sentinel == nil {
		assert.NoError(t, r.Err())
		assert.True(t, r.Authenticated())
		return
	}
	assert.ErrorIs(t, r.Err(), sentinel, r.Detail)
	assert.False(t, r.Authenticated())
	assert.Zero(t, r.Record, "a failed result names no record")
}

// E15; RFC 7672 Section 3.1: every usage × selector × matching type, the
// record computed from first principles for the certificate it names (the
// leaf for the EE usages, the root and the intermediate for the TA ones),
// against a server that sends leaf, intermediate and root. The DANE usages
// authenticate; the PKIX usages are unusable for SMTP (Section 3.1.3), so a
// set holding only them authenticates nothing and says so. A record one bit
// off never matches.
func TestVerifyEveryParameterCombination(t *testing.T) {
	h := newHierarchy(t)
	cs := state(h.leaf, h.inter, h.root)
	for _, u := range usages {
		for _, s := range selectors {
			for _, m := range matchings {
				targets := []*node{h.leaf}
				if u == dane.UsageDANETA || u == dane.UsagePKIXTA {
					targets = []*node{h.root, h.inter}
				}
				for _, target := range targets {
					rec := tlsa(u, s, m, target.cert)
					t.Run(rec.Usage.String()+" "+rec.Selector.String()+" "+rec.MatchingType.String()+" "+target.cert.Subject.CommonName, func(t *testing.T) {
						r := dane.Verify(cs, []dane.Record{rec}, host, nil)
						if u == dane.UsagePKIXTA || u == dane.UsagePKIXEE {
							assertResult(t, r, policy.CertUntrusted, dane.ErrUnusable, dane.ReasonTLSAInvalid)
							assert.Zero(t, r.Usable)
							return
						}
						assertResult(t, r, policy.CertAuthenticated, nil, "")
						assert.Equal(t, rec, r.Record)
						assert.Equal(t, 1, r.Usable)

						off := rec
						off.Data = append([]byte(nil), rec.Data...)
						off.Data[len(off.Data)-1] ^= 1
						r = dane.Verify(cs, []dane.Record{off}, host, nil)
						assertResult(t, r, policy.CertUntrusted, dane.ErrNoMatch, dane.ReasonCertificateNotTrusted)
					})
				}
			}
		}
	}
}

// E15; RFC 7672 Section 3.1.1, RFC 7671 Section 5.1: DANE-EE(3) ignores the
// certificate's names and dates, and its chain: a self-signed leaf, an
// expired one, one not yet valid, one for another name all authenticate.
func TestVerifyDANEEEIgnoresNamesDatesAndChain(t *testing.T) {
	h := newHierarchy(t)
	self := issue(t, certSpec{cn: "whatever"}, nil)
	for name, leaf := range map[string]*node{
		"expired": h.expired, "not yet valid": h.notYet, "wrong name": h.wrongName,
		"self-signed, no names": self, "no serverAuth": h.clientOnly,
	} {
		t.Run(name, func(t *testing.T) {
			rec := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, leaf.cert)
			r := dane.Verify(state(leaf, h.unrelated), []dane.Record{rec}, host, nil)
			assertResult(t, r, policy.CertAuthenticated, nil, "")
			assert.Equal(t, "DANE-EE(3) SPKI(1) SHA2-256(1) matched the server certificate", r.Detail)
		})
	}
	t.Run("matches only the end-entity certificate", func(t *testing.T) {
		rec := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.inter.cert)
		r := dane.Verify(state(h.leaf, h.inter, h.root), []dane.Record{rec}, host, nil)
		assertResult(t, r, policy.CertUntrusted, dane.ErrNoMatch, dane.ReasonCertificateNotTrusted)
	})
}

// RFC 7672 Section 3.1.2: with DANE-TA(2) the chain must be valid: an
// expired or not yet valid leaf, a leaf without serverAuth, or an expired
// opts.Time is refused, with the crypto/x509 error wrapped.
func TestVerifyDANETAChecksTheChain(t *testing.T) {
	h := newHierarchy(t)
	ta := []dane.Record{tlsa(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA256, h.root.cert)}
	t.Run("expired leaf", func(t *testing.T) {
		r := dane.Verify(state(h.expired, h.inter, h.root), ta, host, nil)
		assertResult(t, r, policy.CertUntrusted, dane.ErrChain, dane.ReasonCertificateExpired)
		var inv x509.CertificateInvalidError
		require.ErrorAs(t, r.Err(), &inv)
		assert.Equal(t, x509.Expired, inv.Reason)
		assert.Equal(t, tlsstatus.ReasonCertificateExpired, tlsstatus.ClassifyTLSError(r.Err()).Reason)
	})
	t.Run("not yet valid leaf", func(t *testing.T) {
		r := dane.Verify(state(h.notYet, h.inter, h.root), ta, host, nil)
		assertResult(t, r, policy.CertUntrusted, dane.ErrChain, dane.ReasonCertificateExpired)
	})
	t.Run("valid now, checked at a time after expiry", func(t *testing.T) {
		r := dane.Verify(state(h.leaf, h.inter, h.root), ta, host, &dane.Options{Time: time.Now().Add(72 * time.Hour)})
		assertResult(t, r, policy.CertUntrusted, dane.ErrChain, dane.ReasonCertificateExpired)
	})
	t.Run("expired now, checked at a time it was valid", func(t *testing.T) {
		r := dane.Verify(state(h.expired, h.inter, h.root), ta, host, &dane.Options{Time: time.Now().Add(-36 * time.Hour)})
		// The root and intermediate were not valid then either.
		assertResult(t, r, policy.CertUntrusted, dane.ErrChain, dane.ReasonCertificateExpired)
	})
	t.Run("leaf without serverAuth", func(t *testing.T) {
		r := dane.Verify(state(h.clientOnly, h.inter, h.root), ta, host, nil)
		assertResult(t, r, policy.CertUntrusted, dane.ErrChain, dane.ReasonValidationFailure)
	})
	t.Run("the anchor matched but is not an issuer of the leaf", func(t *testing.T) {
		rec := []dane.Record{tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchSHA256, h.unrelated.cert)}
		r := dane.Verify(state(h.leaf, h.unrelated, h.inter, h.root), rec, host, nil)
		assertResult(t, r, policy.CertUntrusted, dane.ErrChain, dane.ReasonValidationFailure)
		var ua x509.UnknownAuthorityError
		assert.ErrorAs(t, r.Err(), &ua)
	})
	t.Run("a chain from another root (wrong chain)", func(t *testing.T) {
		other := newHierarchy(t)
		r := dane.Verify(state(other.leaf, other.inter, other.root), ta, host, nil)
		assertResult(t, r, policy.CertUntrusted, dane.ErrNoMatch, dane.ReasonCertificateNotTrusted)
	})
}

// RFC 7672 Section 3.2.2, RFC 7671 Section 5.2.2: a DANE-TA(2) chain must
// also carry the TLSA base domain or a name the caller adds, as a DNS
// subjectAltName; a wildcard covers one left-most label.
func TestVerifyDANETANameCheck(t *testing.T) {
	h := newHierarchy(t)
	ta := []dane.Record{tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchSHA512, h.inter.cert)}
	ipLeaf := issue(t, certSpec{cn: host, dns: []string{host}, ips: []string{"192.0.2.25", "2001:db8::25"}}, h.inter)
	for _, tc := range []struct {
		name  string
		leaf  *node
		host  string
		extra []string
		ok    bool
	}{
		{"base domain", h.leaf, host, nil, true},
		{"base domain with trailing dot", h.leaf, host + ".", nil, true},
		{"base domain in other case", h.leaf, "MX.Example.COM", nil, true},
		{"wrong name", h.wrongName, host, nil, false},
		{"wrong name, matched by an extra name", h.wrongName, host, []string{"example.net", "mail.other.example"}, true},
		{"wildcard, one label", h.wildcard, host, nil, true},
		{"wildcard, two labels", h.wildcard, "a.mx.example.com", nil, false},
		{"wildcard, the parent itself", h.wildcard, "example.com", nil, false},
		{"no name given", h.leaf, "", nil, false},
		{"only an extra name", h.leaf, "", []string{host}, true},
		{"the common name does not count", issue(t, certSpec{cn: host}, h.inter), host, nil, false},
		{"a parent domain is not the name", h.leaf, "example.com", nil, false},
		{"an IP address is not a reference identifier", ipLeaf, "192.0.2.25", []string{"[192.0.2.25]", "2001:db8::25"}, false},
		{"a wildcard is not a reference identifier", h.wildcard, "*.example.com", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dane.Verify(state(tc.leaf, h.inter, h.root), ta, tc.host, &dane.Options{Names: tc.extra})
			if tc.ok {
				assertResult(t, r, policy.CertAuthenticated, nil, "")
				return
			}
			assertResult(t, r, policy.CertNameMismatch, dane.ErrName, dane.ReasonCertificateHostMismatch)
			var he x509.HostnameError
			assert.ErrorAs(t, r.Err(), &he)
		})
	}
}

// RFC 7672 Section 3.1.2: servers send their chain in odd orders; the
// trust anchor may be included or not. Every order works as long as the
// matched anchor is sent, or given in full as "2 1 0" (RFC 7671 Section
// 5.2.2).
func TestVerifyChainOrders(t *testing.T) {
	h := newHierarchy(t)
	rootCert := tlsa(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA256, h.root.cert)
	rootKey := tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchFull, h.root.cert)
	rootKeyDigest := tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchSHA256, h.root.cert)
	interKey := tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchFull, h.inter.cert)
	interCert := tlsa(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA512, h.inter.cert)
	ee := tlsa(dane.UsageDANEEE, dane.SelectorCert, dane.MatchSHA256, h.leaf.cert)
	for _, tc := range []struct {
		name  string
		chain []*node
		rec   dane.Record
		ok    bool
	}{
		{"in order", []*node{h.leaf, h.inter, h.root}, rootCert, true},
		{"reversed after the leaf", []*node{h.leaf, h.root, h.inter}, rootCert, true},
		{"duplicated", []*node{h.leaf, h.inter, h.inter, h.root, h.root}, rootCert, true},
		{"extra unrelated certificates", []*node{h.leaf, h.unrelated, h.inter, h.expired, h.root}, rootCert, true},
		{"leaf repeated", []*node{h.leaf, h.leaf, h.inter, h.root}, rootCert, true},
		{"root not sent, root by digest", []*node{h.leaf, h.inter}, rootKeyDigest, false},
		{"root not sent, root key in full", []*node{h.leaf, h.inter}, rootKey, true},
		{"root sent, root key in full", []*node{h.leaf, h.inter, h.root}, rootKey, true},
		{"intermediate as anchor, root not sent", []*node{h.leaf, h.inter}, interCert, true},
		{"intermediate not sent, its key in full", []*node{h.leaf}, interKey, true},
		{"intermediate missing, root sent", []*node{h.leaf, h.root}, rootCert, false},
		{"intermediate missing, root key in full", []*node{h.leaf}, rootKey, false},
		{"DANE-EE, leaf alone", []*node{h.leaf}, ee, true},
		{"DANE-EE, leaf not first", []*node{h.inter, h.leaf, h.root}, ee, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dane.Verify(state(tc.chain...), []dane.Record{tc.rec}, host, nil)
			if tc.ok {
				assertResult(t, r, policy.CertAuthenticated, nil, "")
				return
			}
			assert.False(t, r.Authenticated(), r.Detail)
			assert.Error(t, r.Err())
		})
	}
}

// RFC 7672 Section 2.2: unusable records are ignored; if all are, the
// server is not authenticated, and the result says so (ErrUnusable,
// tlsa-invalid), distinct from usable records that do not match. A
// malformed record that would match byte for byte counts for nothing.
func TestVerifyUnusableRecords(t *testing.T) {
	h := newHierarchy(t)
	cs := state(h.leaf, h.inter, h.root)
	ee := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert)
	short := ee
	short.Data = ee.Data[:31]
	long := ee
	long.Data = append(append([]byte(nil), ee.Data...), 0)
	wrongType := ee
	wrongType.MatchingType = dane.MatchSHA512 // a SHA-256 digest labelled SHA-512
	unknownSel, unknownMT, unknownUsage := ee, ee, ee
	unknownSel.Selector, unknownMT.MatchingType, unknownUsage.Usage = 2, 3, 4
	pkixEE := tlsa(dane.UsagePKIXEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert)
	pkixTA := tlsa(dane.UsagePKIXTA, dane.SelectorCert, dane.MatchFull, h.root.cert)
	empty := dane.Record{Usage: dane.UsageDANEEE, Selector: dane.SelectorCert, MatchingType: dane.MatchFull}
	unusable := []dane.Record{short, long, wrongType, unknownSel, unknownMT, unknownUsage, pkixEE, pkixTA, empty}

	r := dane.Verify(cs, unusable, host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrUnusable, dane.ReasonTLSAInvalid)
	assert.Zero(t, r.Usable)
	assert.Equal(t, "none of 9 TLSA records is usable for SMTP", r.Detail)

	r = dane.Verify(cs, nil, host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrUnusable, dane.ReasonTLSAInvalid)
	assert.Equal(t, "no TLSA records", r.Detail)

	r = dane.Verify(tls.ConnectionState{}, unusable, host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrUnusable, dane.ReasonTLSAInvalid)

	other := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.inter.cert)
	r = dane.Verify(cs, append(unusable, other), host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrNoMatch, dane.ReasonCertificateNotTrusted)
	assert.Equal(t, 1, r.Usable)
	assert.False(t, errors.Is(r.Err(), dane.ErrUnusable))

	r = dane.Verify(cs, append(unusable, ee), host, nil)
	assertResult(t, r, policy.CertAuthenticated, nil, "")
	assert.Equal(t, ee, r.Record)
}

// Fail closed on the odd inputs: no certificate, a "2 1 0" record whose
// data is not a key, and records whose data is a valid key of a type
// crypto/x509 cannot check signatures with.
func TestVerifyFailsClosed(t *testing.T) {
	h := newHierarchy(t)
	ee := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert)
	r := dane.Verify(tls.ConnectionState{}, []dane.Record{ee}, host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrNoMatch, dane.ReasonCertificateNotTrusted)
	assert.Equal(t, "the server sent no certificate", r.Detail)

	notAKey := dane.Record{Usage: dane.UsageDANETA, Selector: dane.SelectorSPKI, MatchingType: dane.MatchFull, Data: []byte{0x30, 0}}
	r = dane.Verify(state(h.leaf, h.inter), []dane.Record{notAKey}, host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrNoMatch, dane.ReasonCertificateNotTrusted)

	// A "2 1 0" key that signed none of the sent certificates.
	leafKey := tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchFull, h.wrongName.cert)
	r = dane.Verify(state(h.leaf, h.inter), []dane.Record{leafKey}, host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrNoMatch, dane.ReasonCertificateNotTrusted)
}

// When several records match, one success is enough, and a failure
// reports the one that got furthest: a name mismatch after a valid chain
// over an invalid chain over no match.
func TestVerifySeveralRecords(t *testing.T) {
	h := newHierarchy(t)
	cs := state(h.wrongName, h.unrelated, h.inter, h.root)
	noMatch := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert)
	badChain := tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchSHA256, h.unrelated.cert)
	badName := tlsa(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA256, h.root.cert)
	good := tlsa(dane.UsageDANEEE, dane.SelectorCert, dane.MatchFull, h.wrongName.cert)

	for _, order := range [][]dane.Record{{noMatch, badChain, badName}, {badName, badChain, noMatch}, {badChain, noMatch, badName}} {
		r := dane.Verify(cs, order, host, nil)
		assertResult(t, r, policy.CertNameMismatch, dane.ErrName, dane.ReasonCertificateHostMismatch)
		assert.Equal(t, 3, r.Usable)
	}
	r := dane.Verify(cs, []dane.Record{noMatch, badChain}, host, nil)
	assertResult(t, r, policy.CertUntrusted, dane.ErrChain, dane.ReasonValidationFailure)
	r = dane.Verify(cs, []dane.Record{badName, noMatch, badChain, good}, host, nil)
	assertResult(t, r, policy.CertAuthenticated, nil, "")
	assert.Equal(t, good, r.Record)
}

// The Reason constants are the RFC 8460 result types tlsstatus uses.
func TestReasonsAreTLSStatusReasons(t *testing.T) {
	assert.Equal(t, tlsstatus.ReasonCertificateNotTrusted, dane.ReasonCertificateNotTrusted)
	assert.Equal(t, tlsstatus.ReasonCertificateExpired, dane.ReasonCertificateExpired)
	assert.Equal(t, tlsstatus.ReasonCertificateHostMismatch, dane.ReasonCertificateHostMismatch)
	assert.Equal(t, tlsstatus.ReasonValidationFailure, dane.ReasonValidationFailure)
}

// handshake runs a real TLS handshake over net.Pipe: the server sends
// chain, the client verifies with VerifyConnection.
func handshake(t testing.TB, chain tls.Certificate, verify func(tls.ConnectionState) error) error {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{chain}})
		done <- srv.HandshakeContext(context.Background())
		s.Close()
	}()
	cli := tls.Client(c, &tls.Config{ServerName: host, InsecureSkipVerify: true, VerifyConnection: verify})
	err := cli.HandshakeContext(context.Background())
	c.Close()
	<-done
	return err
}

// VerifyConnection over a real handshake: a match lets the handshake
// succeed; a failure fails it with an error that errors.Is/As and
// tlsstatus.ClassifyTLSError understand as a certificate failure
// (!requiretls:nocertmatch, E15).
func TestVerifyConnectionHandshake(t *testing.T) {
	h := newHierarchy(t)
	chain := tlsCert(h.leaf, h.inter, h.root)
	ee := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert)
	ta := tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchSHA256, h.root.cert)

	require.NoError(t, handshake(t, chain, dane.VerifyConnection([]dane.Record{ee}, host, nil)))
	require.NoError(t, handshake(t, chain, dane.VerifyConnection([]dane.Record{ta}, host, nil)))
	require.NoError(t, handshake(t, tlsCert(h.expired, h.inter), dane.VerifyConnection(
		[]dane.Record{tlsa(dane.UsageDANEEE, dane.SelectorCert, dane.MatchSHA512, h.expired.cert)}, host, nil)))

	err := handshake(t, chain, dane.VerifyConnection([]dane.Record{ta}, "mx.other.example", nil))
	assert.ErrorIs(t, err, dane.ErrName)
	var he x509.HostnameError
	assert.ErrorAs(t, err, &he)
	var cve *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &cve)
	var de *dane.Error
	if assert.ErrorAs(t, err, &de) {
		assert.Equal(t, policy.CertNameMismatch, de.Result.Cert)
	}
	assert.Equal(t, "!requiretls:nocertmatch", tlsstatus.ClassifyTLSError(err).Feature.String())

	other := tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.inter.cert)
	err = handshake(t, chain, dane.VerifyConnection([]dane.Record{other}, host, nil))
	assert.ErrorIs(t, err, dane.ErrNoMatch)
	assert.Equal(t, "!requiretls:nocertmatch", tlsstatus.ClassifyTLSError(err).Feature.String())

	err = handshake(t, chain, dane.VerifyConnection(nil, host, nil))
	assert.ErrorIs(t, err, dane.ErrUnusable)
	assert.Equal(t, "!requiretls:nocertmatch", tlsstatus.ClassifyTLSError(err).Feature.String())
}
