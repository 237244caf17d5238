package dsn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/internal/hostile"
)

// dsnHeapBound is a generous bound on the memory the package promises:
// an 8 KiB buffer plus Options.MaxHeaderBytes (100 KiB by default), per
// level of a structure at most 8 deep. A buffered 1 GiB body is far above.
const dsnHeapBound = 32 << 20

func checkDSNErr(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	typed := errors.Is(err, dsn.ErrNotDSN) || errors.Is(err, dsn.ErrMalformed) ||
		errors.Is(err, dsn.ErrHeaderTooLarge) || errors.Is(err, dsn.ErrEncoded) || errors.Is(err, dsn.ErrInvalidReport)
	assert.True(t, typed, "%s: untyped error %v", what, err)
	assert.Less(t, len(err.Error()), 4096, "%s: error text bounded", what)
}

// TestHostileCorpus runs every input of the shared hostile corpus through
// RedactMessage, RedactDSN and Compose (REQUIRETLS, RET=FULL): a typed error
// or a bounded output, never a byte of a body in the output even on error
// (RFC 8689 Section 5, R46, R47), and a bounded heap whatever the input
// size, 1 GiB included.
func TestHostileCorpus(t *testing.T) {
	rep := func() *dsn.Report {
		return &dsn.Report{
			From: "MAILER-DAEMON@mx.example.org", To: "alice@example.org",
			Date: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), ReportingMTA: "dns; mx.example.org",
			Recipients: []dsn.Recipient{{FinalRecipient: "rfc822;bob@example.net", Action: dsn.ActionFailed, Status: "5.7.30"}},
			RequireTLS: true, Ret: dsn.RetFull, Boundary: "hostile-boundary",
		}
	}
	for _, in := range hostile.All() {
		t.Run(in.Name, func(t *testing.T) {
			for _, e := range []struct {
				name     string
				run      func(w *hostile.TailWriter) error
				maxBytes int64 // bound on the output
			}{
				{"RedactMessage", func(w *hostile.TailWriter) error {
					return dsn.RedactMessage(w, in.Reader(), nil)
				}, dsn.DefaultMaxHeaderBytes + 4<<10},
				{"RedactDSN", func(w *hostile.TailWriter) error {
					return dsn.RedactDSN(w, in.Reader(), nil)
				}, in.Size() + 64<<10},
				{"Compose", func(w *hostile.TailWriter) error {
					_, err := dsn.Compose(w, rep(), in.Reader())
					return err
				}, dsn.DefaultMaxHeaderBytes + 8<<10},
			} {
				var w hostile.TailWriter
				var err error
				peak := hostile.PeakHeap(func() { err = e.run(&w) })
				checkDSNErr(t, err, e.name)
				assert.False(t, w.Leaked, "%s: a body byte reached the output (err %v)", e.name, err)
				assert.LessOrEqual(t, w.N, e.maxBytes, "%s: output bounded", e.name)
				assert.Less(t, peak, uint64(dsnHeapBound), "%s: heap", e.name)
			}
		})
	}
}
