package policy_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/requiretls/go-requiretls/policy"
)

var (
	sinkDecision policy.Decision
	sinkLevel    policy.Level
	sinkString   string
	sinkBytes    []byte
)

// BenchmarkEvaluate compares one evaluation (with the reason appended to a
// reused buffer) against the obvious alternative of formatting the reason
// eagerly with fmt.Sprintf.
func BenchmarkEvaluate(b *testing.B) {
	a := with(func(a *policy.Attempt) { a.RequireTLSAnnounced = false })
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			sinkDecision = policy.Evaluate(a)
			buf = sinkDecision.AppendReason(buf[:0])
		}
		sinkBytes = buf
	})
	b.Run("sprintf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkDecision = policy.Evaluate(a)
			sinkString = fmt.Sprintf("Sender requested REQUIRETLS, but no server was found that supports REQUIRETLS. The last attempted server was %s", a.Host)
		}
	})
}

// BenchmarkLookupDefault looks up an external and an internal next hop in
// the Postfix 3.11 default policy, against a strings.ToLower plus map
// lookup of the same names.
func BenchmarkLookupDefault(b *testing.B) {
	p, err := policy.Parse(policy.DefaultSMTPPolicy, &policy.ParseOptions{Vars: func(string) (string, bool) { return "example.com", true }})
	if err != nil {
		b.Fatal(err)
	}
	hosts := []string{"mx1.Example.NET", "mail.example.com"}
	m := map[string]policy.Level{"example.com": policy.Opportunistic, ".example.com": policy.Opportunistic, "localhost": policy.Opportunistic}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, h := range hosts {
				sinkLevel = p.Lookup(h)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, h := range hosts {
				sinkLevel = m[strings.ToLower(h)]
			}
		}
	})
}

// BenchmarkLookupInline100k compares a lookup in a 100 000-entry inline
// table with a plain Go map lookup of the same key.
func BenchmarkLookupInline100k(b *testing.B) {
	const n = 100000
	entries := make([]policy.Entry, n)
	m := make(map[string]policy.Level, n)
	for i := range entries {
		k := "host" + strconv.Itoa(i) + ".example.net"
		entries[i] = policy.Entry{Key: k, Level: policy.Opportunistic}
		m[k] = policy.Opportunistic
	}
	in, err := policy.Inline(entries...)
	if err != nil {
		b.Fatal(err)
	}
	p := policy.New(in)
	key := "host77777.example.net"
	if p.Lookup(key) != policy.Opportunistic {
		b.Fatal("lookup failed")
	}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkLevel = p.Lookup(key)
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkLevel = m[key]
		}
	})
}
