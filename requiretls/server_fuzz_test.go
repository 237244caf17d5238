package requiretls

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/internal/readpattern"
	"github.com/requiretls/go-requiretls/policy"
)

// headerPathMessages are messages for the glue's header path: the cases of
// the server table tests, and the edges of the header scanner.
var headerPathMessages = []string{
	"",
	"\r\n",
	body,
	"Subject: x\r\n\r\nbody\r\n",
	"TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n",
	"Subject: x\r\nTLS-Required:\r\n no\r\n\r\nbody\r\n",
	"TLS-Required: No\r\nTLS-Required: maybe\r\n\r\nbody\r\n",
	"Subject: x\r\n\r\nTLS-Required: No\r\nRequire-TLS-ESMTP: yes\r\n",
	"Require-TLS-ESMTP: yes\r\nSubject: x\r\n\r\nbody\r\n",
	"Require-TLS-ESMTP: YES\r\nTLS-Required: No\r\n\r\nbody\r\n",
	"require-tls-esmtp: yes (x)\r\nSubject: x\r\nRequire-TLS-ESMTP:\r\n yes\r\nRequire-TLS-ESMTP: yes\x00\r\n\r\nbody\r\n",
	"Require-TLS-ESMTP: maybe\r\nSubject: x\r\n\r\nbody\r\n",
	"Subject: x\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n",
	"Subject: x\n.\r\nMAIL FROM:<evil@example.org>\r\n\r\nbody\r\n",
	"Subject: a\rRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n",
	" Require-TLS-ESMTP: yes\r\n\r\nbody\r\n",
	": x\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n",
	"Subject: x\r\nnot a field\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n",
	"Subject: no end of header\r\nRequire-TLS-ESMTP: yes",
	"TLS-Required: No\r",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nRequire-TLS-ESMTP: yes\r\n\r\nx\r\n--b--\r\n",
	"Subject: " + strings.Repeat("x", 5000) + "\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n",
	filler(header.MaxHeaderBytes-100) + "Require-TLS-ESMTP: yes\r\n\r\nbody\r\n",
	filler(header.MaxHeaderBytes) + "Require-TLS-ESMTP: yes\r\n\r\nbody\r\n",
}

// headerPathOptions are the option sets that change the header path.
var headerPathOptions = []ServerOptions{
	{},
	{FilterHeader: true},
	{TrustRequireTLSESMTP: true},
	{TrustRequireTLSESMTP: true, FilterHeader: true},
}

// errNotTagged stands for a wrapped session that was not told a tag.
var errNotTagged = errors.New("the wrapped session was not told a tag")

// runHeaderPath runs the glue's DATA path (prepare, as Data calls it) over
// r for a transaction with or without REQUIRETLS, and returns the tag the
// wrapped session was told and the bytes it would read. A refusal must
// tell the wrapped session nothing, and an accepted message must be tagged.
func runHeaderPath(opts ServerOptions, requireTLS bool, r io.Reader) (policy.Tag, []byte, error) {
	inner := &recSession{r: &recorder{}}
	s := &session{inner: inner, opts: &opts, txn: transaction{requireTLS: requireTLS}}
	out, _, err := s.prepare(r)
	switch {
	case err != nil && inner.cur.tagged:
		return inner.cur.tag, nil, errors.New("tagged, yet refused")
	case err != nil:
		return policy.Default, nil, err
	case !inner.cur.tagged:
		return policy.Default, nil, errNotTagged
	}
	b, err := io.ReadAll(out)
	return inner.cur.tag, b, err
}

// Issue 13, and DESIGN.md "streaming output is a function of the input
// bytes alone": the glue's header path gives the same bytes, the same tag
// and the same error whatever the chunking of the client's data (one read,
// one byte or one line per read, random chunks), for every option set, on
// the table messages and on the shared hostile corpus.
func TestServerHeaderPathReadPatterns(t *testing.T) {
	var inputs [][]byte
	for _, m := range headerPathMessages {
		inputs = append(inputs, []byte(m))
	}
	for _, in := range hostile.All() {
		inputs = append(inputs, in.Prefix(header.MaxHeaderBytes+64<<10))
	}
	for _, opts := range headerPathOptions {
		for _, requireTLS := range []bool{false, true} {
			f := func(r io.Reader) ([]byte, error) {
				tag, out, err := runHeaderPath(opts, requireTLS, r)
				return append([]byte(tag.String()+"\n"), out...), err
			}
			for i, in := range inputs {
				patterns := readpattern.All(8, uint64(i))
				if len(in) > 64<<10 {
					patterns = bigPatterns(uint64(i))
				}
				assert.NoError(t, readpattern.Check(patterns, in, f), "%+v requireTLS=%v input %d (%.40q)", opts, requireTLS, i, in)
			}
		}
	}
}

// bigPatterns are the read patterns for inputs past MaxHeaderBytes: all but
// one byte per Read, which costs a million reads and tests nothing that the
// small inputs do not; under the race detector (ten times slower, and
// nothing to find in this single goroutine) one read, half reads and one
// random chunking.
func bigPatterns(seed uint64) []readpattern.Pattern {
	var ps []readpattern.Pattern
	for _, p := range readpattern.All(1, seed) {
		if p.Name != "iotest.OneByteReader" {
			ps = append(ps, p)
		}
	}
	if hostile.Race {
		return []readpattern.Pattern{ps[0], ps[1], ps[len(ps)-1]}
	}
	return ps
}

// FuzzServerHeaderPath checks the invariants of the glue's header path
// (RFC 8689 Section 4.1; issue 12): it never panics; it refuses only with
// ErrUnsafeHeader or ErrHeaderTooLarge, and then tells the wrapped session
// nothing; REQUIRETLS on MAIL always gives Required; the output has no
// Require-TLS-ESMTP field unless the tag is Required, none at all from an
// untrusted source unless FilterHeader adds it, and exactly
// "Require-TLS-ESMTP: yes" once for a Required message with FilterHeader;
// the body is passed on byte for byte.
func FuzzServerHeaderPath(f *testing.F) {
	for _, m := range headerPathMessages {
		if len(m) < 64<<10 {
			f.Add([]byte(m), uint8(0))
			f.Add([]byte(m), uint8(7))
		}
	}
	for _, in := range hostile.All() {
		f.Add(in.Prefix(512), uint8(1))
	}
	f.Fuzz(func(t *testing.T, msg []byte, mode uint8) {
		requireTLS := mode&1 != 0
		opts := ServerOptions{TrustRequireTLSESMTP: mode&2 != 0, FilterHeader: mode&4 != 0}
		tag, out, err := runHeaderPath(opts, requireTLS, bytes.NewReader(msg))
		if err != nil {
			require.True(t, errors.Is(err, ErrUnsafeHeader) || errors.Is(err, ErrHeaderTooLarge), "untyped refusal %v", err)
			return
		}
		if requireTLS {
			require.Equal(t, policy.Required, tag, "R25: REQUIRETLS on MAIL always wins")
		}
		if tag == policy.Required && opts.FilterHeader {
			again, err := header.SetRaw(out, header.LineRequireTLSESMTPYes)
			require.NoError(t, err)
			require.Equal(t, out, again, "exactly one Require-TLS-ESMTP: yes")
		} else if tag != policy.Required || !opts.TrustRequireTLSESMTP {
			stripped, err := header.RemoveRaw(out, header.FieldRequireTLSESMTP)
			if mentions(out, header.FieldRequireTLSESMTP) {
				require.NoError(t, err)
			}
			if err == nil {
				require.Equal(t, out, stripped, "no Require-TLS-ESMTP field (tag %v, %+v)", tag, opts)
			}
		}
		if _, inEnd, _ := header.Scan(msg); inEnd >= 0 {
			_, outEnd, _ := header.Scan(out)
			require.GreaterOrEqual(t, outEnd, 0)
			require.Equal(t, msg[inEnd:], out[outEnd:], "the body is passed on unchanged")
		}
	})
}
