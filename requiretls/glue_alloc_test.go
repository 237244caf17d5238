package requiretls

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/policy"
)

// discardSession is a wrapped session that reads each message to its end
// and counts its bytes; keep, when set, keeps the reader past Data.
type discardSession struct {
	n    int64
	tag  policy.Tag
	keep io.Reader
}

func (s *discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *discardSession) SetTag(t policy.Tag)                  { s.tag = t }
func (s *discardSession) Reset()                               {}
func (s *discardSession) Logout() error                        { return nil }
func (s *discardSession) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	s.n, s.keep = n, r
	return err
}

// glueMessage is a message of about 1.5 KB shaped like the load test's,
// with "TLS-Required: No" when no is set.
func glueMessage(no bool) []byte {
	var b bytes.Buffer
	b.WriteString("Received: from client.test (localhost [127.0.0.1])\r\n\tby mx.test with ESMTPS id 0001; Mon, 2 Mar 2026 10:00:00 +0000\r\n")
	b.WriteString("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=2026;\r\n\th=from:to:subject:date:message-id;\r\n\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\r\n")
	b.WriteString("From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: glue\r\nMIME-Version: 1.0\r\n")
	if no {
		b.WriteString("TLS-Required: No\r\n")
	}
	b.WriteString("\r\n" + strings.Repeat("A line of the body, plain text that nobody parses, of some length.\r\n", 16))
	return b.Bytes()
}

// TestGlueDataAllocatesNothing (issue 16): with the default options, the
// glue's Data costs no allocation per message over the wrapped session's
// own: the header buffer comes from a pool and the reader is the
// session's. Before, it cost the 4 KiB buffer of header.ReadHead, a
// lower-case copy of the header and two readers.
func TestGlueDataAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		requireTLS bool
		no         bool
		want       policy.Tag
	}{
		{"Default", false, false, policy.Default},
		{"TLS-Required: No", false, true, policy.NotRequired},
		{"REQUIRETLS", true, false, policy.Required},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &discardSession{}
			s := &session{inner: inner, opts: &ServerOptions{}}
			msg := glueMessage(tc.no)
			r := bytes.NewReader(msg)
			allocs := testing.AllocsPerRun(200, func() {
				s.txn = transaction{requireTLS: tc.requireTLS, tls: true}
				r.Reset(msg)
				if err := s.Data(r); err != nil {
					t.Fatal(err)
				}
			})
			// Under the race detector, sync.Pool drops a quarter of what it
			// is given back, and each miss allocates a buffer.
			limit := 0.0
			if hostile.Race {
				limit = 1
			}
			assert.LessOrEqual(t, allocs, limit)
			assert.Equal(t, int64(len(msg)), inner.n)
			assert.Equal(t, tc.want, inner.tag)
		})
	}
}

// TestGlueReaderAfterData: a wrapped session that keeps its reader past
// Data, against go-smtp's contract, reads no byte of the pooled buffer,
// which a later message may be using: it gets an error.
func TestGlueReaderAfterData(t *testing.T) {
	inner := &discardSession{}
	s := &session{inner: inner, opts: &ServerOptions{}}
	require.NoError(t, s.Data(bytes.NewReader(glueMessage(false))))
	n, err := inner.keep.Read(make([]byte, 64))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, errReaderReleased)
}

// TestGlueMessagesIntact (R23): many sessions at once through a real
// go-smtp server, each message with its own bytes and some with header
// sections past the pooled 4 KiB, arrive byte for byte: no session reads
// another's pooled buffer. Run it with -race.
func TestGlueMessagesIntact(t *testing.T) {
	pki := newTestPKI(t)
	addr, rec := startServer(t, pki, nil, true)
	const sessions, perSession = 8, 12
	want := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		var msgs []string
		for j := range perSession {
			id := fmt.Sprintf("%d-%d", i, j)
			pad := strings.Repeat("X-Pad: "+strings.Repeat(id, 10)+"\r\n", (i*perSession+j)*7%150)
			msg := "Subject: " + id + "\r\n" + pad + "\r\n" + strings.Repeat("body "+id+"\r\n", j*50)
			msgs = append(msgs, msg)
			want[msg] = true
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendMessages(addr, pki, msgs)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, got := rec.snapshot()
	require.Len(t, got, sessions*perSession)
	for _, m := range got {
		assert.True(t, want[m.data], "a message arrived changed: %.80q", m.data)
		delete(want, m.data)
	}
}

func sendMessages(addr string, pki interface{ ClientConfig() *tls.Config }, msgs []string) error {
	c, err := smtp.DialTLS(addr, pki.ClientConfig())
	if err != nil {
		return err
	}
	defer c.Close()
	for _, msg := range msgs {
		if err := c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader(msg)); err != nil {
			return err
		}
	}
	return c.Quit()
}

// mentionsReference is mentions as it was: a lower-case copy of b.
func mentionsReference(b []byte, name string) bool {
	return bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(name)))
}

// mentionsSeeds are header sections from the hostile corpus and spellings
// of Require-TLS-ESMTP in every case, with "İ" (which bytes.ToLower makes
// an "i"), the Kelvin sign, invalid UTF-8 and cut short.
func mentionsSeeds() [][]byte {
	seeds := hostile.HeaderSections(300, 21)
	for _, in := range hostile.All() {
		seeds = append(seeds, in.Prefix(8<<10))
	}
	for _, v := range []string{
		"Require-TLS-ESMTP: yes", "REQUIRE-TLS-ESMTP:", "require-tls-esmtp", "Requİre-TLS-ESMTP: yes",
		"REQUİRE-TLS-ESMTP", "Require-TLS-ESMTP"[:16], "Require-TLS-\xffESMTP", "\xc4Require-TLS-ESMTP",
		"Require-TLS-ESMTP\xc4", "Requ\xc4\xb0re-TLS-ESMTP", "Requ\xc4re-TLS-ESMTP", "\u212a Require-TLS-ESMTP",
		"X: a\r\nRRequire-TLS-ESMTP\r\n\r\n", "Requıre-TLS-ESMTP", "Re\u0301quire-TLS-ESMTP",
	} {
		seeds = append(seeds, []byte(v), []byte("Subject: x\r\n"+v+"\r\n\r\nbody"))
	}
	return seeds
}

// TestMentionsLikeToLower: mentions, which reads b in place, finds the
// field name exactly where the lower-case copy it replaced did.
func TestMentionsLikeToLower(t *testing.T) {
	const name = "Require-TLS-ESMTP"
	for _, b := range mentionsSeeds() {
		assert.Equal(t, mentionsReference(b, name), mentions(b, name), "%.120q", b)
	}
	assert.True(t, mentions([]byte("x: Requİre-TLS-ESMTP"), name), `"İ" lowers to "i"`)
	assert.False(t, mentions([]byte("Requıre-TLS-ESMTP"), name), `"ı" does not`)
}

// FuzzMentions compares mentions with the lower-case copy it replaced.
func FuzzMentions(f *testing.F) {
	for _, b := range mentionsSeeds() {
		f.Add(b, "Require-TLS-ESMTP")
	}
	f.Add([]byte("x: Requ\u0130re-TLS"), "Require-")
	f.Add([]byte("-TLS-ESMTP"), "-tls-esmtp")
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		for i := 0; i < len(name); i++ {
			if name[i] >= utf8.RuneSelf {
				return // mentions takes an ASCII name
			}
		}
		if name == "" || strings.ContainsRune("iIkK", rune(name[0])) {
			return // nor one starting with a letter non-ASCII characters lower to
		}
		if got, want := mentions(b, name), mentionsReference(b, name); got != want {
			t.Fatalf("mentions(%q, %q) = %v, bytes.ToLower says %v", b, name, got, want)
		}
	})
}
