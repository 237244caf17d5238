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

// BenchmarkLookupInline looks up a lower-case host name in inline tables of
// 10 to 1 000 000 entries (a scale of 10× to 100 000× its smallest size),
// against a plain Go map lookup of the same key ("map") and against the
// work a caller would do to get Lookup's case-insensitivity from a map
// ("ToLower+map": strings.ToLower, which does not copy a lower-case name,
// then the map). Each table has entries "host0.example.net" upwards; the key
// is an entry in the middle.
func BenchmarkLookupInline(b *testing.B) {
	for _, n := range []int{10, 1000, 100000, 1000000} {
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
		key := "host" + strconv.Itoa(n/2) + ".example.net"
		if p.Lookup(key) != policy.Opportunistic {
			b.Fatal("lookup failed")
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
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
			b.Run("ToLower+map", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sinkLevel = m[strings.ToLower(key)]
				}
			})
		})
	}
}

// BenchmarkLookupMixedCase looks up a mixed-case host name with a port
// ("Host50000.Example.NET:25", the general path) in a 100 000-entry inline
// table, against strings.ToLower plus a map lookup of the name without the
// port (which allocates the lower-case copy).
func BenchmarkLookupMixedCase(b *testing.B) {
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
	key, name := "Host50000.Example.NET:25", "Host50000.Example.NET"
	if p.Lookup(key) != policy.Opportunistic || m[strings.ToLower(name)] != policy.Opportunistic {
		b.Fatal("lookup failed")
	}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkLevel = p.Lookup(key)
		}
	})
	b.Run("ToLower+map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkLevel = m[strings.ToLower(name)]
		}
	})
}
