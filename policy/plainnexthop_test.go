package policy_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

// TestPlainNextHopAgrees is the differential test of Lookup's fast path:
// wherever plainNextHop decides a next hop, the general parseNextHop gives
// the same name, not an IP address, and valid. The inputs are the FuzzLookup
// seeds (spellings, malformed next hops, the stored corpus), each with the
// variants FuzzLookup derives, and 200 000 generated strings over an
// alphabet of the characters the rules turn on (case, ".", "-", "_",
// digits, "x"/"n" for A-labels, hex, brackets, ":", non-ASCII), with labels
// and names around the 63- and 253-byte limits.
func TestPlainNextHopAgrees(t *testing.T) {
	inputs := plainNextHopInputs(t)
	fast := 0
	for _, s := range inputs {
		p := policy.PlainNextHop(s)
		if !p.OK {
			continue
		}
		fast++
		if g := policy.ParseNextHop(s); g != p {
			assert.Equal(t, g, p, "next hop %q", s)
		}
	}
	// The fast path must decide a fair share, or the test proves nothing.
	assert.Greater(t, fast, 20000, "inputs decided by the fast path")
	assert.GreaterOrEqual(t, len(inputs), 200000)
	t.Logf("%d inputs, %d decided by the fast path", len(inputs), fast)
}

// FuzzPlainNextHop is TestPlainNextHopAgrees for any string: where the
// fast path of Lookup decides, the general path agrees.
func FuzzPlainNextHop(f *testing.F) {
	for _, s := range plainNextHopInputs(f)[:2000] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p := policy.PlainNextHop(s); p.OK {
			if g := policy.ParseNextHop(s); g != p {
				t.Fatalf("%q: fast path %+v, general path %+v", s, p, g)
			}
		}
	})
}

// plainNextHopInputs returns the inputs of TestPlainNextHopAgrees.
func plainNextHopInputs(t testing.TB) []string {
	var inputs []string
	for _, g := range spellings {
		inputs = append(inputs, g...)
	}
	inputs = append(inputs, malformedNextHops...)
	inputs = append(inputs, "foo.example", "x.foo.π.example", "foo.-π.example", "[192.0.2.1]:25", "[2001:db8::1]", "other:25",
		"xn--bcher-kva.example", "a.xn--bcher-kva", "xn-.example", "1.2.3.4", "1.2.3.4.", "a.0x1f", "a.0x1g", "a.1e", "0x.a",
		strings.Repeat("a", 63)+".example", strings.Repeat("a", 64)+".example",
		strings.Repeat("a.", 126)+"a", strings.Repeat("a.", 126)+"ab", strings.Repeat("a.", 126)+"a.")
	files, err := filepath.Glob("testdata/fuzz/FuzzLookup/*")
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(string(data), "\n")[1:] {
			if s, ok := strings.CutPrefix(line, "string("); ok {
				if u, err := strconv.Unquote(strings.TrimSuffix(s, ")")); err == nil {
					inputs = append(inputs, u)
				}
			}
		}
	}
	for _, s := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, asciiUpper(s), strings.ToLower(s), s+".", s+"..", "["+s+"]", s+":25", "."+s, "x"+s, s+"-")
	}
	rng := rand.New(rand.NewPCG(16, 8689))
	const alphabet = "aaaaxxnn---__...0123456789fAXNZ:[]é\x00 "
	const label = "abxn-_09f"
	for i := range 200000 {
		var b strings.Builder
		if i%2 == 0 { // any string
			for range rng.IntN(24) {
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
		} else { // labels joined by dots, near the length limits at times
			for l := range 1 + rng.IntN(5) {
				if l > 0 {
					b.WriteByte('.')
				}
				n := 1 + rng.IntN(5)
				if rng.IntN(10) == 0 {
					n = 61 + rng.IntN(4)
				}
				for range n {
					b.WriteByte(label[rng.IntN(len(label))])
				}
			}
			if rng.IntN(10) == 0 {
				s := strings.Repeat(b.String()+".", 253/(b.Len()+1)+1)
				b.Reset()
				b.WriteString(s[:min(len(s), 250+rng.IntN(6))])
			}
			if rng.IntN(4) == 0 { // one character from the whole alphabet
				s := []byte(b.String())
				s[rng.IntN(len(s))] = alphabet[rng.IntN(len(alphabet))]
				b.Reset()
				b.Write(s)
			}
		}
		inputs = append(inputs, b.String())
	}
	return inputs
}
