package tlsstatus_test

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// tallyHeapBound is generous: ReadLog holds one line of at most
// MaxLineBytes and a Tally at most MaxKeys keys per table.
const tallyHeapBound = 32 << 20

func checkStatusErr(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	assert.ErrorIs(t, err, tlsstatus.ErrSyntax, what)
	var pe *tlsstatus.ParseError
	assert.True(t, errors.As(err, &pe), "%s: not a *ParseError: %T", what, err)
	assert.Less(t, len(err.Error()), 4096, "%s: error text bounded", what)
}

// TestHostileCorpus gives every input of the shared hostile corpus to the
// parsers as a field, a feature and a log line, line by line to a Tally,
// and whole (1 GiB included) to Tally.ReadLog: a typed error or a bounded
// result, and a bounded heap for ReadLog.
func TestHostileCorpus(t *testing.T) {
	for _, in := range hostile.All() {
		t.Run(in.Name, func(t *testing.T) {
			b := in.Prefix(4 << 20)
			s := string(b)

			fl, err := tlsstatus.ParseField(s)
			checkStatusErr(t, err, "ParseField")
			if err == nil {
				again, err := tlsstatus.ParseField(fl.String())
				assert.NoError(t, err)
				assert.Equal(t, fl, again, "ParseField round-trips")
			}
			_, err = tlsstatus.ParseFeature(s)
			checkStatusErr(t, err, "ParseFeature")

			var tally tlsstatus.Tally
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(nil, len(b)+1)
			for sc.Scan() {
				d, ok, err := tlsstatus.ParseLine(sc.Text())
				checkStatusErr(t, err, "ParseLine")
				if ok {
					again, ok, err := tlsstatus.ParseLine(d.String())
					assert.True(t, ok)
					assert.NoError(t, err)
					assert.Equal(t, d, again, "ParseLine round-trips")
				}
				checkStatusErr(t, tally.AddLine(sc.Text()), "AddLine")
			}
			require.NoError(t, sc.Err())

			var rlog tlsstatus.Tally
			peak := hostile.PeakHeap(func() { err = rlog.ReadLog(in.Reader()) })
			assert.NoError(t, err, "ReadLog returns only read errors")
			r := rlog.Report()
			assert.Equal(t, r.Lines, r.Skipped+r.Malformed+r.Total.Deliveries, "every line counted once")
			assert.LessOrEqual(t, len(r.Domains), 10001)
			assert.LessOrEqual(t, len(r.Relays), 10001)
			assert.Less(t, peak, uint64(tallyHeapBound), "ReadLog heap")
		})
	}
}
