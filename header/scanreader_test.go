package header

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestScanReader(t *testing.T) {
	msg := realisticHeader(4<<10, 30) // 64 KB body after a 4 KB header
	for _, tc := range []struct {
		name string
		r    func(io.Reader) io.Reader
	}{
		{"whole reads", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(msg)}
			f, rest, err := ScanReader(tc.r(cr))
			require.NoError(t, err)
			assert.Equal(t, Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, f)
			assert.LessOrEqual(t, cr.n, 16<<10, "the body is not buffered")
			all, err := io.ReadAll(rest)
			require.NoError(t, err)
			assert.Equal(t, msg, all, "the message is replayed whole")
		})
	}
}

func TestScanReaderShortMessage(t *testing.T) {
	f, rest, err := ScanReader(bytes.NewReader([]byte("TLS-Required: No\r\n")))
	require.NoError(t, err)
	assert.True(t, f.TLSRequiredNo, "R24 header-only message")
	all, _ := io.ReadAll(rest)
	assert.Equal(t, "TLS-Required: No\r\n", string(all))
}

func TestScanReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader([]byte("TLS-Required: No\r\n")), iotest.ErrReader(boom))
	f, _, err := ScanReader(r)
	assert.ErrorIs(t, err, boom)
	assert.False(t, f.TLSRequiredNo, "E3 unread fields might be malformed: never relax")
}
