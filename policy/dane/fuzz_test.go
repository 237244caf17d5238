package dane_test

import (
	"bytes"
	"crypto/x509"
	"testing"

	"github.com/requiretls/go-requiretls/policy/dane"
)

// checkRoundTrip checks that a parsed record prints to a presentation form
// and a wire form that both parse back to the same record.
func checkRoundTrip(t *testing.T, r dane.Record) {
	t.Helper()
	again, err := dane.ParseRecord(r.String())
	if err != nil {
		t.Fatalf("ParseRecord(%q) of String(): %v", r.String(), err)
	}
	wire, err := dane.ParseRDATA(r.RDATA())
	if err != nil {
		t.Fatalf("ParseRDATA of RDATA(): %v", err)
	}
	if again.Usage != r.Usage || again.Selector != r.Selector || again.MatchingType != r.MatchingType ||
		!bytes.Equal(again.Data, r.Data) || !bytes.Equal(wire.RDATA(), r.RDATA()) {
		t.Fatalf("round trip: %v became %v and %v", r, again, wire)
	}
}

// checkParseError checks that an error is a *ParseError wrapping a
// sentinel, with an offset inside the input.
func checkParseError(t *testing.T, err error, n int) {
	t.Helper()
	if !isParseError(err) {
		t.Fatalf("untyped error %v", err)
	}
	pe := err.(*dane.ParseError)
	if pe.Offset < 0 || pe.Offset > n {
		t.Fatalf("offset %d outside input of %d bytes", pe.Offset, n)
	}
}

// FuzzParseRecord: ParseRecord never panics, fails only with a typed error,
// and what it parses round-trips through String and RDATA.
func FuzzParseRecord(f *testing.F) {
	for _, tc := range goodRecords {
		f.Add(tc.in)
	}
	for _, tc := range badRecords {
		if len(tc.in) < 1024 {
			f.Add(tc.in)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := dane.ParseRecord(s)
		if err != nil {
			checkParseError(t, err, len(s))
			return
		}
		checkRoundTrip(t, r)
	})
}

// FuzzParseRDATA: ParseRDATA never panics, fails only with a typed error,
// and what it parses writes back to exactly its input and round-trips
// through the presentation form.
func FuzzParseRDATA(f *testing.F) {
	for _, tc := range goodRecords {
		r, err := dane.ParseRecord(tc.in)
		if err == nil {
			f.Add(r.RDATA())
		}
	}
	f.Add([]byte{})
	f.Add([]byte{3, 1})
	f.Add([]byte{3, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := dane.ParseRDATA(b)
		if err != nil {
			checkParseError(t, err, len(b))
			return
		}
		if !bytes.Equal(r.RDATA(), b) {
			t.Fatalf("RDATA() = %x, want %x", r.RDATA(), b)
		}
		checkRoundTrip(t, r)
	})
}

// FuzzVerify feeds arbitrary TLSA records (wire form, several per input)
// and chain orders to Verify against a fixed hierarchy. It checks the
// fail-closed invariants: no panic; authenticated only by a usable DANE
// record that matches, by the RFC 6698 Section 2.1 definition, a sent
// certificate (or, for "2 1 0", is a key); never authenticated with no
// usable record; and the sentinel always agrees with Cert.
func FuzzVerify(f *testing.F) {
	h := newHierarchy(f)
	nodes := []*node{h.leaf, h.inter, h.root, h.expired, h.wrongName, h.unrelated}
	for _, r := range []dane.Record{
		tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert),
		tlsa(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA256, h.root.cert),
		tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchFull, h.root.cert),
		tlsa(dane.UsagePKIXEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert),
		tlsa(dane.UsageDANETA, dane.SelectorSPKI, dane.MatchSHA512, h.unrelated.cert),
	} {
		f.Add(r.RDATA(), []byte{0, 1, 2})
		f.Add(r.RDATA(), []byte{4, 2, 1, 5})
	}
	f.Fuzz(func(t *testing.T, rdata, order []byte) {
		var recs []dane.Record
		// Split rdata into records at every 0xff 0xff pair, a cheap framing.
		for _, part := range bytes.Split(rdata, []byte{0xff, 0xff}) {
			if r, err := dane.ParseRDATA(part); err == nil {
				recs = append(recs, r)
			}
		}
		var chain []*node
		for i, b := range order {
			if i == 8 {
				break
			}
			chain = append(chain, nodes[int(b)%len(nodes)])
		}
		res := dane.Verify(state(chain...), recs, host, nil)
		usable := 0
		for _, r := range recs {
			if r.Usable() {
				usable++
			}
		}
		if res.Usable != usable {
			t.Fatalf("Usable = %d, want %d", res.Usable, usable)
		}
		if (res.Err() == nil) != res.Authenticated() {
			t.Fatalf("Err %v disagrees with Cert %v", res.Err(), res.Cert)
		}
		if !res.Authenticated() {
			return
		}
		r := res.Record
		if usable == 0 || !r.Usable() {
			t.Fatalf("authenticated by unusable record %v", r)
		}
		if r.Usage == dane.UsageDANEEE {
			if !bytes.Equal(tlsa(r.Usage, r.Selector, r.MatchingType, chain[0].cert).Data, r.Data) {
				t.Fatalf("DANE-EE %v authenticated a leaf it does not match", r)
			}
			return
		}
		for _, n := range chain {
			if bytes.Equal(tlsa(r.Usage, r.Selector, r.MatchingType, n.cert).Data, r.Data) {
				return
			}
		}
		if r.Selector != dane.SelectorSPKI || r.MatchingType != dane.MatchFull {
			t.Fatalf("DANE-TA %v authenticated without matching a sent certificate", r)
		}
		if _, err := x509.ParsePKIXPublicKey(r.Data); err != nil {
			t.Fatalf("DANE-TA %v authenticated with no key", r)
		}
	})
}
