package header_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/internal/hostile"
)

// heapBound is a generous bound on what the fast path may hold: ReadHead
// promises about 2*MaxHeaderBytes; a buffered 1 GiB input is far above.
const heapBound = 32 << 20

// checkHeaderErr: nil, or a typed error of this package.
func checkHeaderErr(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	typed := errors.Is(err, header.ErrMalformed) || errors.Is(err, header.ErrAmbiguous) ||
		errors.Is(err, header.ErrHeaderTooLong) || errors.Is(err, header.ErrInvalidField)
	assert.True(t, typed, "%s: untyped error %v", what, err)
	var pe *header.ParseError
	assert.True(t, errors.As(err, &pe), "%s: not a *ParseError: %T", what, err)
	assert.Less(t, len(err.Error()), 4096, "%s: error text bounded", what)
}

// checkFacts: bounded, and never relaxing on an error (E2, E3).
func checkFacts(t *testing.T, f header.Facts, err error, what string) {
	t.Helper()
	assert.LessOrEqual(t, len(f.Malformed), header.MaxMalformed, what)
	for _, m := range f.Malformed {
		assert.LessOrEqual(t, len(m), header.MaxMalformedLen, what)
	}
	if err != nil {
		assert.False(t, f.TLSRequiredNo, "%s: E3 an unfinished header never relaxes TLS", what)
	}
}

// TestHostileCorpus runs every input of the shared hostile corpus through
// every entry point: a typed error or a bounded result, and for the
// streaming fast path (ScanReader, ReadHead) a bounded heap whatever the
// input size, 1 GiB included.
func TestHostileCorpus(t *testing.T) {
	for _, in := range hostile.All() {
		t.Run(in.Name, func(t *testing.T) {
			var f header.Facts
			var err error
			var n int64
			peak := hostile.PeakHeap(func() {
				var rest io.Reader
				f, rest, err = header.ScanReader(in.Reader())
				n, _ = io.Copy(io.Discard, rest)
			})
			checkHeaderErr(t, err, "ScanReader")
			checkFacts(t, f, err, "ScanReader")
			assert.Equal(t, in.Size(), n, "ScanReader replays every byte")
			assert.Less(t, peak, uint64(heapBound), "ScanReader heap")

			var head []byte
			peak = hostile.PeakHeap(func() { head, f, err = header.ReadHead(in.Reader()) })
			checkHeaderErr(t, err, "ReadHead")
			checkFacts(t, f, err, "ReadHead")
			assert.LessOrEqual(t, len(head), 2*header.MaxHeaderBytes+8<<10, "ReadHead keeps a bounded head")
			assert.Less(t, peak, uint64(heapBound), "ReadHead heap")

			// The in-memory entry points get the input itself, or for the
			// 1 GiB inputs their first 4 MiB (past every limit).
			b := in.Prefix(4 << 20)
			f, end, err := header.Scan(b)
			checkHeaderErr(t, err, "Scan")
			checkFacts(t, f, err, "Scan")
			assert.True(t, end >= -1 && end <= len(b), "Scan end %d", end)

			out, err := header.SetRaw(b, header.LineRequireTLSESMTPYes)
			checkHeaderErr(t, err, "SetRaw")
			if err == nil {
				assert.LessOrEqual(t, len(out), len(b)+len(header.LineRequireTLSESMTPYes)+4)
				g, _, _ := header.Scan(out)
				assert.True(t, g.RequireTLSESMTP, "SetRaw's field is seen")
			}
			out, err = header.RemoveRaw(b, header.FieldRequireTLSESMTP)
			checkHeaderErr(t, err, "RemoveRaw")
			if err == nil {
				assert.LessOrEqual(t, len(out), len(b))
				g, _, _ := header.Scan(out)
				assert.False(t, g.RequireTLSESMTP, "RemoveRaw leaves no valid field")
			}
			checkHeaderErr(t, header.CheckTLSRequired(string(b)), "CheckTLSRequired")
			checkHeaderErr(t, header.CheckRequireTLSESMTP(string(b)), "CheckRequireTLSESMTP")

			if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(b))); err == nil {
				checkFacts(t, header.Inspect(h), nil, "Inspect")
				g := header.Receive(&h, header.Untrusted)
				checkFacts(t, g, nil, "Receive")
				assert.False(t, g.RequireTLSESMTP, "Receive strips Require-TLS-ESMTP from an untrusted source")
				header.SetTLSRequiredNo(&h)
				header.SetRequireTLSESMTP(&h)
				require.Len(t, h.Values(header.FieldTLSRequired), 1, "R21")
				require.Len(t, h.Values(header.FieldRequireTLSESMTP), 1)
			}
		})
	}
}
