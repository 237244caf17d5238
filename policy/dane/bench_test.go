package dane_test

import (
	"testing"

	"github.com/requiretls/go-requiretls/policy/dane"
)

// BenchmarkVerify is the verification cost per handshake, next to the
// handshake itself (TLS 1.3, ECDSA P-256, over net.Pipe) in the same run:
//
//	go test -run '^$' -bench . -benchmem ./policy/dane/
func BenchmarkVerify(b *testing.B) {
	h := newHierarchy(b)
	cs := state(h.leaf, h.inter, h.root)
	ee := []dane.Record{tlsa(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, h.leaf.cert)}
	ta := []dane.Record{tlsa(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA256, h.root.cert)}
	chain := tlsCert(h.leaf, h.inter, h.root)

	b.Run("DANE-EE 3 1 1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !dane.Verify(cs, ee, host, nil).Authenticated() {
				b.Fatal("not authenticated")
			}
		}
	})
	b.Run("DANE-TA 2 0 1, 3-cert chain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !dane.Verify(cs, ta, host, nil).Authenticated() {
				b.Fatal("not authenticated")
			}
		}
	})
	b.Run("handshake, no verification", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := handshake(b, chain, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handshake with DANE-TA 2 0 1", func(b *testing.B) {
		verify := dane.VerifyConnection(ta, host, nil)
		b.ReportAllocs()
		for b.Loop() {
			if err := handshake(b, chain, verify); err != nil {
				b.Fatal(err)
			}
		}
	})
}
