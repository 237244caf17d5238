package readpattern

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEveryPatternYieldsTheInput(t *testing.T) {
	in := []byte("Subject: x\r\n\r\nline one\nline two\r\nno newline at the end")
	for _, p := range All(50, 1) {
		got, err := io.ReadAll(p.New(in))
		require.NoError(t, err, p.Name)
		assert.Equal(t, in, got, p.Name)
	}
}

func TestLinesReadsOneLinePerRead(t *testing.T) {
	r := Fixed[4].New([]byte("a\nbc\r\n\nd"))
	var reads []string
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			reads = append(reads, string(buf[:n]))
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"a\n", "bc\r\n", "\n", "d"}, reads)
}

// TestCheckFindsReadSizeDependence shows Check failing on a function whose
// output depends on the read sizes: it keeps only the first Read.
func TestCheckFindsReadSizeDependence(t *testing.T) {
	firstRead := func(r io.Reader) ([]byte, error) {
		buf := make([]byte, 1<<16)
		n, err := r.Read(buf)
		if err == io.EOF {
			err = nil
		}
		return buf[:n], err
	}
	assert.Error(t, Check(All(10, 1), []byte("hello, world\n"), firstRead))

	readAll := func(r io.Reader) ([]byte, error) {
		var b bytes.Buffer
		_, err := bufio.NewReader(r).WriteTo(&b)
		return b.Bytes(), err
	}
	assert.NoError(t, Check(All(10, 1), []byte("hello, world\n"), readAll))
}
