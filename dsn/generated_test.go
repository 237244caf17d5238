package dsn

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
)

// bounceGen writes random hostile bounces whose original body holds
// hostile.Secret, mixing the shapes of issue 13 part 2 and issue 12 item 8
// with every line-ending style and nesting depths 1 to 3.
//
// The human-readable part (the first top-level part, or a text part nested
// in it) quotes the original body, in plain text, quoted-printable or
// base64, in half of the bounces that return the body somewhere.
//
// Left out on purpose, because no redactor can tell them from a DSN that
// is fine: a bounce that quotes the body but does not return it, and a
// body line that is exactly a delimiter of an open boundary (every MIME
// reader then sees a new part there).
type bounceGen struct {
	r     *rand.Rand
	lines []string
	body  []string // the original's body lines, planted in this bounce
	quote string   // how the human-readable part quotes them: "", "plain", "quoted-printable", "base64"
	shape string   // quote, nesting depth and line endings of the last bounce
}

func (g *bounceGen) add(ls ...string) { g.lines = append(g.lines, ls...) }

func (g *bounceGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

// original adds a returned message: a header section, a blank line and a
// body of secret lines, some shaped like header fields or near delimiters.
func (g *bounceGen) original(boundary string) {
	g.add("Subject: plans", "From: alice@example.org")
	if g.r.IntN(2) == 0 {
		g.add("Received: from x", "\tby y")
	}
	g.add("")
	for _, l := range g.body {
		g.add(strings.ReplaceAll(l, "BOUNDARY", boundary))
	}
}

// newBody chooses the original's body lines: secret lines, some shaped
// like header fields or near delimiters (BOUNDARY stands for the
// enclosing boundary), and a line that is distinct in every bounce.
func (g *bounceGen) newBody() {
	g.body = g.body[:0]
	for range 1 + g.r.IntN(4) {
		g.body = append(g.body, g.pick("body "+hostile.Secret, hostile.Secret+"-Field: x", "--BOUNDARY-x "+hostile.Secret, "-- "+hostile.Secret, ""))
	}
	g.body = append(g.body, fmt.Sprintf("the launch code is %016x", g.r.Uint64()))
}

// quoted adds the human-readable text that quotes the body, encoded as
// g.quote says, after its part header fields.
func (g *bounceGen) quoted(boundary string) {
	text := "Your message could not be delivered:\n"
	for _, l := range g.body {
		text += "> " + strings.ReplaceAll(l, "BOUNDARY", boundary) + "\n"
	}
	switch g.quote {
	case "plain":
		g.add("")
		g.add(strings.Split(strings.TrimSuffix(text, "\n"), "\n")...)
		return
	case "base64":
		enc := base64.StdEncoding.EncodeToString([]byte(text))
		g.add("Content-Transfer-Encoding: base64", "")
		for len(enc) > 76 {
			g.add(enc[:76])
			enc = enc[76:]
		}
		g.add(enc)
		return
	}
	var b strings.Builder
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	g.add("Content-Transfer-Encoding: quoted-printable", "")
	g.add(strings.Split(strings.TrimSuffix(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n"), "\n")...)
}

// returnedPart adds a part holding the original, with a Content-Type and
// Content-Transfer-Encoding spelled in one of the ways readers agree or
// disagree on.
func (g *bounceGen) returnedPart(boundary string, afterDS bool) {
	g.add("--" + boundary)
	types := []string{"message/rfc822", "Message/RFC822", "message/rfc822 (returned message)", "message/global", `message/rfc822; name="a (b)"`, "text/rfc822-headers"}
	if afterDS {
		types = append(types, "text/plain", "") // mislabelled, or no part header at all
	}
	if ct := g.pick(types...); ct != "" {
		g.add("Content-Type: " + ct)
	} else {
		g.add("")
		g.add("Subject: plans", hostile.Secret+"-Field: x", "", hostile.Secret)
		return
	}
	switch g.r.IntN(6) {
	case 0: // a QP-encoded original whose decoded header ends early
		g.add("Content-Transfer-Encoding: "+g.pick("quoted-printable", "Quoted-Printable", "quoted-printable (x)", `"quoted-printable"`), "")
		g.add("Subject: x=0A=0A"+hostile.Secret+": y", "", "z")
		return
	case 1:
		g.add("Content-Transfer-Encoding: 7bit", "Content-Transfer-Encoding: quoted-printable", "")
		g.add("Subject: x=0A=0A"+hostile.Secret+": y", "", "z")
		return
	case 2:
		g.add("Content-Transfer-Encoding: " + g.pick("7bit", "8bit", "binary", "base64"))
	}
	g.add("")
	g.original(boundary)
}

// human adds the human-readable part, a text part or a multipart nested
// depth-1 more levels, which may hold a returned message after its text.
func (g *bounceGen) human(boundary string, depth int) {
	g.add("--" + boundary)
	if depth <= 1 {
		g.add("Content-Type: text/plain")
		if g.quote == "" {
			g.add("", "Your message could not be delivered.")
			return
		}
		g.quoted(boundary)
		return
	}
	inner := fmt.Sprintf("n%d", depth)
	g.add("Content-Type: multipart/"+g.pick("mixed", "alternative")+"; boundary="+g.pick(inner, `"`+inner+`"`), "")
	if g.r.IntN(2) == 0 {
		g.add(hostile.Secret + " in a nested preamble")
	}
	g.human(inner, depth-1)
	if g.r.IntN(2) == 0 {
		g.returnedPart(inner, false)
	}
	g.add("--" + inner + "--")
	if g.r.IntN(2) == 0 {
		g.add(hostile.Secret + " in a nested epilogue")
	}
}

// bounce returns one generated bounce.
func (g *bounceGen) bounce() string {
	g.lines = g.lines[:0]
	g.newBody()
	preamble, before, after := g.r.IntN(3), g.r.IntN(3) == 0, g.r.IntN(4) != 0
	g.quote = ""
	if preamble == 1 || before || after {
		g.quote = g.pick("", "", "", "plain", "quoted-printable", "base64")
	}
	g.add("From: MAILER-DAEMON@example.net", "Subject: Undelivered", "MIME-Version: 1.0",
		"Content-Type: multipart/report; report-type=delivery-status;", "\tboundary=\"b0\"", "")
	switch preamble {
	case 0:
		g.add("This is a MIME-encapsulated message.", "")
	case 1:
		g.original("b0") // the original in the preamble
	}
	depth := 1 + g.r.IntN(3)
	g.human("b0", depth)
	if before {
		g.returnedPart("b0", true) // before the delivery-status part
	}
	g.add("--b0", "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; mx.example.net", "",
		"Final-Recipient: rfc822; bob@example.com", "Action: failed", "Status: 5.7.30", "")
	if after {
		g.returnedPart("b0", true)
	}
	g.add("--b0--")
	if g.r.IntN(2) == 0 {
		g.add(hostile.Secret + " in the epilogue")
	}
	var b strings.Builder
	style := g.r.IntN(10) // 0..3 CRLF, 4..7 LF, 8 CR only, 9 mixed
	g.shape = fmt.Sprintf("quote=%s depth=%d eol=%s", g.quote, depth, []string{"CRLF", "CRLF", "CRLF", "CRLF", "LF", "LF", "LF", "LF", "CR", "mixed"}[style])
	for _, l := range g.lines {
		b.WriteString(l)
		switch {
		case style < 4:
			b.WriteString("\r\n")
		case style < 8:
			b.WriteString("\n")
		case style == 8:
			b.WriteString("\r")
		default:
			b.WriteString(g.pick("\r\n", "\n", "\r", "\r\r\n"))
		}
	}
	return b.String()
}

// TestGeneratedHostileBounces: 10 000 generated hostile bounces (issue 13
// part 2) through RedactDSN. No output holds the secret, nor any 16-byte
// window of a line of the original body, even on error (R43, R46); every
// error wraps a sentinel; every accepted output is read by go-message and
// redacts to itself.
func TestGeneratedHostileBounces(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	g := &bounceGen{r: rand.New(rand.NewPCG(13, 2))}
	accepted, quoting, shapes := 0, map[string]int{}, map[string]bool{}
	for i := range n {
		in := g.bounce()
		shapes[g.shape] = true
		var out bytes.Buffer
		err := RedactDSN(&out, strings.NewReader(in), nil)
		require.NotContains(t, out.String(), hostile.Secret, "bounce %d (err %v):\n%q", i, err, in)
		for _, l := range g.body {
			for j := 0; j+16 <= len(l); j++ {
				require.NotContains(t, out.String(), l[j:j+16], "bounce %d (err %v):\n%q", i, err, in)
			}
		}
		if err != nil {
			require.True(t, errors.Is(err, ErrNotDSN) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrEncoded) || errors.Is(err, ErrHeaderTooLarge),
				"bounce %d: untyped error %v", i, err)
			continue
		}
		accepted++
		quoting[g.quote]++
		parseMIME(t, out.Bytes())
		var again bytes.Buffer
		require.NoError(t, RedactDSN(&again, bytes.NewReader(out.Bytes()), nil), "bounce %d", i)
		require.Equal(t, out.String(), again.String(), "bounce %d: a second redaction changes the output", i)
	}
	t.Logf("%d generated bounces, %d redacted, %d refused; redacted by quoting: %v", n, accepted, n-accepted, quoting)
	require.Positive(t, accepted)
	for _, q := range []string{"plain", "quoted-printable", "base64"} {
		require.Positive(t, quoting[q], "no redacted bounce quotes the body in %s", q)
	}
	require.Len(t, shapes, 4*3*4, "every quoting, nesting depth and line-ending style, in every combination")
}
