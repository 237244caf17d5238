package dsn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
)

// TestHostileShapes: bounce shapes that put the original body in the
// output before (issue 13 part 2), each now redacted without a body byte
// or refused (R43, R46):
//
//   - the returned message as a text/plain part before the delivery-status
//     part: every top-level part but the first and the delivery-status
//     part is a returned part (RFC 3464 Section 2 and RFC 6522 Section 3
//     allow one human-readable part, first);
//   - the original in a preamble or an epilogue, top level or nested:
//     RFC 2046 Section 5.1.1 says to ignore both, so both are dropped (a
//     non-empty top-level preamble becomes the fixed text Postfix writes);
//   - in every bounce that returned body bytes (or had text in a preamble
//     or epilogue), the human-readable part, which might quote them, is
//     written anew from the delivery-status fields;
//   - a returned part without part headers whose content starts with
//     header-shaped lines: by MIME that content is a text/plain body, so
//     none of it is kept;
//   - a CR-only (classic Mac) bounce, longer than the read buffer: refused
//     as malformed (bare CR), not as "no body" or "too large".
func TestHostileShapes(t *testing.T) {
	for _, tc := range hostileShapeCases() {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := RedactDSN(&out, strings.NewReader(tc.in), nil)
			assert.NotContains(t, out.String(), hostile.Secret)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.NotContains(t, err.Error(), "too large")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, out.String())
			parseMIME(t, out.Bytes())
			var again bytes.Buffer
			require.NoError(t, RedactDSN(&again, bytes.NewReader(out.Bytes()), nil))
			assert.Equal(t, out.String(), again.String(), "a second redaction changes nothing")
		})
	}
}

// shapeCase is a hostile bounce shape and its redaction.
type shapeCase struct {
	name string
	in   string
	want string // expected output when err is nil
	err  error
}

func hostileShapeCases() []shapeCase {
	const secret = hostile.Secret
	const head = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
	const human = "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
	const ds = "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822;a@b\nAction: failed\nStatus: 5.7.30\n\n"
	// What replaces human when the bounce returned body bytes, which it
	// might quote: a part written from the delivery-status fields.
	const regen = "--b\nContent-Description: Notification\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
		"This is the mail system at x.\n\nThis is a report on the delivery of your message.\n" +
		"Your message requested REQUIRETLS (RFC 8689); only its header\nis returned below, not its body.\n\n<a@b>: failed\n\n"
	return []shapeCase{
		{
			name: "returned text/plain before the delivery-status part",
			in:   head + human + "--b\nContent-Type: text/plain\n\nSubject: s\n\n" + secret + "\n" + ds + "--b--\n",
			want: head + regen + "--b\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\nSubject: s\n\n" + ds + "--b--\n",
		},
		{
			name: "original in the top-level preamble",
			in:   head + "Subject: s\n\n" + secret + "\n\n" + human + ds + "--b--\n",
			want: head + "This is a MIME-encapsulated message.\n\n" + regen + ds + "--b--\n",
		},
		{
			name: "empty top-level preamble stays empty",
			in:   head + human + ds + "--b--\n",
			want: head + human + ds + "--b--\n",
		},
		{
			name: "preamble of one line ending stays",
			in:   head + "\n" + human + ds + "--b--\n",
			want: head + "\n" + human + ds + "--b--\n",
		},
		{
			name: "original in a nested preamble and epilogue",
			in: head + "--b\nContent-Type: multipart/alternative; boundary=c\n\n" + secret + " preamble\n" +
				"--c\nContent-Type: text/plain\n\nhi\n--c--\n" + secret + " epilogue\n" + ds + "--b--\n",
			want: head + regen + ds + "--b--\n",
		},
		{
			name: "nested multipart, empty preamble and epilogue, kept",
			in: head + "--b\nContent-Type: multipart/alternative; boundary=c\n\n" +
				"--c\nContent-Type: text/plain\n\nhi\n--c--\n\n" + ds + "--b--\n",
			want: head + "--b\nContent-Type: multipart/alternative; boundary=c\n\n" +
				"--c\nContent-Type: text/plain\n\nhi\n--c--\n\n" + ds + "--b--\n",
		},
		{
			// The part with the original in its epilogue is written anew,
			// with the line endings of the top-level multipart.
			name: "LF multipart in a CRLF one, epilogue dropped",
			in: strings.ReplaceAll(head+"--b\nContent-Type: multipart/alternative; boundary=c\n\n", "\n", "\r\n") +
				"--c\nContent-Type: text/plain\n\nhi\n--c--\n" + secret + "\r\n" + strings.ReplaceAll(ds+"--b--\n", "\n", "\r\n"),
			want: strings.ReplaceAll(head+regen+ds+"--b--\n", "\n", "\r\n"),
		},
		{
			name: "returned part without part headers",
			in:   head + human + ds + "--b\n\nSubject: s\n" + secret + ": y\n\nmore\n--b--\n",
			want: head + regen + ds + "--b\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n\n--b--\n",
		},
		{
			name: "CR-only bounce longer than the buffer",
			in:   strings.ReplaceAll(head+strings.Repeat("X-Pad: y\n", 2000)+human+ds+"--b\nContent-Type: message/rfc822\n\nSubject: s\n\n"+secret+"\n--b--\n", "\n", "\r"),
			err:  ErrMalformed,
		},
	}
}

// TestComposeFallback: when RedactDSN refuses a bounce, the caller must
// not send it as it is; it composes a fresh DSN from what it knows, and
// that works even when the original's header cannot be read (an empty
// original).
func TestComposeFallback(t *testing.T) {
	var out bytes.Buffer
	_, err := Compose(&out, testReport(), strings.NewReader(""))
	require.NoError(t, err)
	parseMIME(t, out.Bytes())
	assert.Contains(t, out.String(), "Content-Type: text/rfc822-headers\r\n")
}
