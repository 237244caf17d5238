package hostile

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReaderMatchesBytes(t *testing.T) {
	for _, in := range All() {
		t.Run(in.Name, func(t *testing.T) {
			if in.Streamed() {
				n, err := io.Copy(io.Discard, in.Reader())
				require.NoError(t, err)
				assert.Equal(t, in.Size(), n)
				assert.Greater(t, n, int64(huge-64), "streamed inputs are the 1 GiB ones")
				return
			}
			got, err := io.ReadAll(in.Reader())
			require.NoError(t, err)
			assert.Equal(t, string(in.Bytes()), string(got))
			assert.Equal(t, in.Size(), int64(len(got)))
		})
	}
}

func TestCorpusCoversBrief(t *testing.T) {
	names := map[string]bool{}
	for _, in := range All() {
		assert.False(t, names[in.Name], "duplicate %s", in.Name)
		names[in.Name] = true
	}
	for _, want := range []string{"line-10MiB-in-header", "fields-100000", "nul", "bare-cr", "bare-lf",
		"invalid-utf8", "mime-nested-10000", "mime-missing-boundary-param", "body-1GiB"} {
		assert.True(t, names[want], want)
	}
}

func TestTailWriterFindsSecretAcrossWrites(t *testing.T) {
	s := "prefix " + Secret + " suffix"
	for cut := range len(s) {
		var w TailWriter
		w.Write([]byte(s[:cut]))
		w.Write([]byte(s[cut:]))
		assert.True(t, w.Leaked, "cut at %d", cut)
		assert.Equal(t, int64(len(s)), w.N)
	}
	var w TailWriter
	for _, c := range []byte(Secret) {
		w.Write([]byte{c})
	}
	assert.True(t, w.Leaked, "one byte at a time")
	var clean TailWriter
	clean.Write([]byte(strings.Repeat(Secret[:len(Secret)-1]+"x", 100)))
	assert.False(t, clean.Leaked)
}

func TestPeakHeapSeesAllocation(t *testing.T) {
	var keep []byte
	peak := PeakHeap(func() { keep = bytes.Repeat([]byte("x"), 64<<20) })
	assert.Greater(t, peak, uint64(60<<20))
	assert.Len(t, keep, 64<<20)
}
