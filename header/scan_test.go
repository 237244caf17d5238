package header

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScan(t *testing.T) {
	for _, tc := range headerCases {
		t.Run(tc.name, func(t *testing.T) {
			f, end, err := Scan([]byte(tc.hdr))
			require.NoError(t, err)
			assert.Equal(t, tc.want, f)
			wantEnd := -1 // the first blank line ends every header in the table
			for _, blank := range []string{"\r\n\r\n", "\n\n"} {
				if i := strings.Index(tc.hdr, blank); i >= 0 && (wantEnd < 0 || i+len(blank) < wantEnd) {
					wantEnd = i + len(blank)
				}
			}
			assert.Equal(t, wantEnd, end)
		})
	}
}

func TestScanEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		end  int
	}{
		{"blank CRLF line", "A: 1\r\n\r\nbody", 8},
		{"empty header", "\r\nbody", 2},
		{"body with bare LF and NUL", "A: 1\r\n\r\n\n\x00\r", 8},
		{"prefix: no end yet", "A: 1\r\nB: 2", -1},
		{"prefix: half a blank line", "A: 1\r\n\r", -1},
		{"prefix: name without colon yet", "A: 1\r\nSubj", -1},
		{"no body at all", "A: 1\r\n", -1},
		{"empty input", "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, end, err := Scan([]byte(tc.msg))
			require.NoError(t, err)
			assert.Equal(t, tc.end, end)
		})
	}
}

// TestScanPrefixes feeds every prefix of a message to Scan: once the header
// section has ended, every longer prefix gives the same answer as the whole
// message, which is what a server scanning as it receives relies on.
func TestScanPrefixes(t *testing.T) {
	msg := []byte("From: a@example.org\r\nTLS-Required:\r\n No\r\nRequire-TLS-ESMTP: yes\r\n\r\nTLS-Required: Yes\r\n")
	want, wantEnd, err := Scan(msg)
	require.NoError(t, err)
	require.Equal(t, Facts{TLSRequiredNo: true, TLSRequiredFields: 1, RequireTLSESMTP: true}, want)
	for n := range len(msg) + 1 {
		f, end, err := Scan(msg[:n])
		require.NoError(t, err)
		if n < wantEnd {
			assert.Equal(t, -1, end, "prefix %d", n)
		} else {
			assert.Equal(t, wantEnd, end, "prefix %d", n)
			assert.Equal(t, want, f, "prefix %d", n)
		}
	}
}

func TestScanAllocs(t *testing.T) {
	msg := realisticHeader(4<<10, 30)
	allocs := testing.AllocsPerRun(100, func() {
		f, _, _ := Scan(msg)
		if !f.TLSRequiredNo {
			panic("fixture lost its TLS-Required: No")
		}
	})
	assert.Zero(t, allocs)
}
