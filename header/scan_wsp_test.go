package header

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAllWSP: allWSP, which tells a continuation line of white space only
// (RFC 5322 Section 4.2, obsolete and ambiguous), answers as the
// bytes.Trim it replaced.
func TestAllWSP(t *testing.T) {
	for _, in := range []string{"", " ", "\t", " \t \t", " x", "\tx ", "x", " \r", "\v", "\u00a0", " \x00"} {
		assert.Equal(t, len(bytes.Trim([]byte(in), " \t")) == 0, allWSP([]byte(in)), "%q", in)
	}
}
