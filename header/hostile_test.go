package header

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hostile inputs give a typed error or a bounded result, never a panic.

// A 10 MB line is over the 998 octets of RFC 5322 Section 2.1.1: refused
// as ambiguous (Postfix splits it into records) as soon as 998 are read.
func TestHostileLongLine(t *testing.T) {
	msg := []byte("TLS-Required: No\r\nSubject: " + strings.Repeat("x", 10<<20) + "\r\n\r\nbody")
	f, end, err := Scan(msg)
	assert.ErrorIs(t, err, ErrAmbiguous)
	assert.Equal(t, -1, end)
	assert.False(t, f.TLSRequiredNo, "E3 a partly read header never relaxes")
	assert.Less(t, len(err.Error()), 300)

	_, err = SetRaw(msg, LineRequireTLSESMTPYes)
	assert.ErrorIs(t, err, ErrAmbiguous)

	cr := &countingReader{r: bytes.NewReader(msg)}
	f, rest, err := ScanReader(cr)
	assert.ErrorIs(t, err, ErrAmbiguous)
	assert.False(t, f.TLSRequiredNo)
	assert.LessOrEqual(t, cr.n, 4<<10, "refused after the first read")
	n, _ := io.Copy(io.Discard, rest)
	assert.Equal(t, int64(len(msg)), n, "the message is still replayed whole")
}

func TestHostileLongName(t *testing.T) {
	msg := bytes.Repeat([]byte("A"), 10<<20)
	_, _, err := Scan(msg)
	assert.ErrorIs(t, err, ErrAmbiguous, "a line longer than 998 octets")
}

func TestHostileManyFields(t *testing.T) {
	var b bytes.Buffer
	for range 100_000 {
		b.WriteString("TLS-Required: Yes\r\nX: 1\r\n")
	}
	b.WriteString("\r\n")
	f, _, err := Scan(b.Bytes())
	assert.ErrorIs(t, err, ErrHeaderTooLong, "2.3 MB of fields exceed MaxHeaderBytes")
	assert.False(t, f.TLSRequiredNo)
	assert.Len(t, f.Malformed, MaxMalformed, "bounded result")

	// Within the limit: all counted, Malformed still bounded.
	var small bytes.Buffer
	for range 40_000 {
		small.WriteString("TLS-Required: No\r\n")
	}
	small.WriteString("TLS-Required: Yes\r\n\r\n")
	f, _, err = Scan(small.Bytes())
	require.NoError(t, err)
	assert.Equal(t, 40_001, f.TLSRequiredFields)
	assert.False(t, f.TLSRequiredNo, "E3")
	assert.Len(t, f.Malformed, 1)
	h := readHeader(t, small.String())
	assert.Equal(t, f, Inspect(h))
}

func TestHostileBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want Facts
		err  error
	}{
		{"NUL in value", "TLS-Required: No\x00\r\n\r\n", Facts{TLSRequiredFields: 1, Malformed: []string{"TLS-Required: No\x00"}}, nil},
		{"NUL in name ends the header", "TLS\x00Required: No\r\nTLS-Required: No\r\n\r\n", Facts{}, ErrAmbiguous},
		{"invalid UTF-8 value", "TLS-Required: \xff\xfe\r\n\r\n", Facts{TLSRequiredFields: 1, Malformed: []string{"TLS-Required: \xff\xfe"}}, nil},
		{"invalid UTF-8 elsewhere", "Subject: \xc3\x28\r\nTLS-Required: No\r\n\r\n", Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, nil},
		{"8-bit name ends the header", "T\xc9S: x\r\nTLS-Required: No\r\n\r\n", Facts{}, ErrAmbiguous},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := Scan([]byte(tc.msg))
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, f)
			if h, err := readHeaderErr(tc.msg); err == nil {
				assert.Equal(t, tc.want, Inspect(h), "Inspect agrees")
			}
		})
	}
}

func readHeaderErr(s string) (textproto.Header, error) {
	return textproto.ReadHeader(bufio.NewReader(strings.NewReader(s)))
}
