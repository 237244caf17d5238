package dsn

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "update golden files")

const marker = "BODY-SECRET"

// parseMIME walks a message with go-message, reading every part, and
// fails the test if go-message cannot parse it.
func parseMIME(t testing.TB, b []byte) {
	t.Helper()
	if bytes.HasPrefix(b, []byte("From ")) { // mbox envelope line
		b = b[bytes.IndexByte(b, '\n')+1:]
	}
	e, err := message.Read(bytes.NewReader(b))
	if err != nil && !message.IsUnknownCharset(err) {
		require.NoError(t, err)
	}
	require.NoError(t, e.Walk(func(path []int, part *message.Entity, err error) error {
		if message.IsUnknownCharset(err) {
			err = nil
		}
		if err != nil {
			return err
		}
		if part.MultipartReader() != nil {
			return nil
		}
		_, err = io.Copy(io.Discard, part.Body)
		if message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
			return nil
		}
		return err
	}))
}

// Golden files: our own Postfix-, Exim- and go-smtp-MTA-shaped DSNs that
// returned the full message, redacted (R46, R47).
func TestRedactDSNGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run("R46/"+filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			require.NoError(t, err)
			require.Contains(t, string(in), marker)
			var out bytes.Buffer
			require.NoError(t, RedactDSN(&out, bytes.NewReader(in), nil))
			golden := strings.TrimSuffix(f, ".eml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())
			assert.NotContains(t, out.String(), marker)
			assert.Contains(t, out.String(), "Content-Description: Undelivered Message Headers")
			parseMIME(t, out.Bytes())

			// Redacting the redacted DSN changes nothing (issue 13 part 3).
			var again bytes.Buffer
			require.NoError(t, RedactDSN(&again, bytes.NewReader(out.Bytes()), nil))
			assert.Equal(t, out.String(), again.String())
		})
	}
}

func TestRedactDSNGlobal(t *testing.T) {
	in, err := os.ReadFile("testdata/gosmtp-global.eml")
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, RedactDSN(&out, bytes.NewReader(in), nil))
	// RFC 6533 Section 4.3: message/global becomes message/global-headers.
	assert.Contains(t, out.String(), "Content-Type: message/global-headers\r\n")
	assert.Contains(t, out.String(), "Content-Disposition: attachment")
	assert.NotContains(t, out.String(), "Content-Type: message/global\r\n")
}

func TestRedactDSNAllowList(t *testing.T) {
	in, err := os.ReadFile("testdata/postfix-full.eml")
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, RedactDSN(&out, bytes.NewReader(in), &Options{Fields: []string{"message-id", "Date", "From", "To"}}))
	_, returned, ok := strings.Cut(out.String(), "Content-Type: text/rfc822-headers\nContent-Transfer-Encoding: 8bit\n\n")
	require.True(t, ok)
	assert.Equal(t, "From: Alice <alice@example.org>\nTo: Bob <bob@example.com>\nDate: Tue, 4 Mar 2025 09:59:50 +0100\nMessage-ID: <q1@example.org>\n\n--4ABC1DEF23.1741078800/mx.example.net--\n", returned)
}

// Every byte outside the returned part is kept (the issue's "byte for
// byte" requirement).
func TestRedactDSNKeepsOtherParts(t *testing.T) {
	in, err := os.ReadFile("testdata/postfix-full.eml")
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, RedactDSN(&out, bytes.NewReader(in), &Options{UnsafeKeepHumanReadable: true}))
	cut := strings.Index(string(in), "Content-Description: Undelivered Message\n")
	require.Positive(t, cut)
	assert.Equal(t, string(in[:cut]), out.String()[:cut])

	// By default the human-readable part is written anew (the bounce
	// returned the body); the top-level header and the delivery-status
	// part are still copied.
	out.Reset()
	require.NoError(t, RedactDSN(&out, bytes.NewReader(in), nil))
	human := strings.Index(string(in), "Content-Description: Notification\n")
	ds := strings.Index(string(in), "--4ABC1DEF23.1741078800/mx.example.net\nContent-Description: Delivery report")
	require.Positive(t, human)
	require.Positive(t, ds)
	assert.True(t, strings.HasPrefix(out.String(), string(in[:human])))
	assert.Contains(t, out.String(), string(in[ds:cut]))
}

// redactCase is one RedactDSN input and its decided outcome.
type redactCase struct {
	name string
	in   string
	want error // nil: redacted, or passed through
}

// checkRedactCases runs each case through RedactDSN: no body marker in the
// output, even on error; the decided sentinel in a *ParseError, or an
// output go-message reads.
func checkRedactCases(t *testing.T, cases []redactCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := RedactDSN(&out, strings.NewReader(tc.in), nil)
			assert.NotContains(t, out.String(), marker)
			if tc.want == nil {
				if assert.NoError(t, err) {
					parseMIME(t, out.Bytes())
				}
				return
			}
			assert.ErrorIs(t, err, tc.want)
			var pe *ParseError
			assert.True(t, errors.As(err, &pe), "want a *ParseError, got %T", err)
		})
	}
}

func TestRedactDSNErrors(t *testing.T) { checkRedactCases(t, redactErrorCases()) }

func redactErrorCases() []redactCase {
	const head = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
	const ds = "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822;a@b\nAction: failed\nStatus: 5.7.30\n\n"
	return []redactCase{
		{"R46 returned part redacted", head + ds + "--b\nContent-Type: message/rfc822\n\nSubject: s\n\n" + marker + "\n--b--\n", nil},
		{"no returned part passes through", head + ds + "--b--\n", nil},
		{"not multipart", "Content-Type: text/plain\n\n" + marker + "\n", ErrNotDSN},
		{"multipart/mixed bounce", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n" + marker + "\n--b--\n", ErrNotDSN},
		{"feedback report", "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n--b--\n", ErrNotDSN},
		{"no delivery-status part", head + "--b\nContent-Type: text/plain\n\nhi\n--b--\n", ErrNotDSN},
		{"header only", head[:len(head)-1], ErrNotDSN},
		{"no delimiter lines", head + "Subject: s\n\n" + marker + "\n", ErrMalformed},
		{"wrong boundary", head + "--c\nContent-Type: message/rfc822\n\nSubject: s\n\n" + marker + "\n--c--\n", ErrMalformed},
		{"missing final boundary", head + ds + "--b\nContent-Type: message/rfc822\n\nSubject: s\n\n" + marker + "\n", ErrMalformed},
		{"missing boundary parameter", "Content-Type: multipart/report; report-type=delivery-status\n\n--b--\n", ErrMalformed},
		{"nested multipart closed by parent", head + "--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nhi\n--b--\n", ErrMalformed},
		{"nested multipart without delimiter", head + "--b\nContent-Type: multipart/alternative; boundary=c\n\nhi\n--b--\n", ErrMalformed},
		{"two content types", head + ds + "--b\nContent-Type: text/plain\nContent-Type: message/rfc822\n\nSubject: s\n\n" + marker + "\n--b--\n", ErrMalformed},
		{"returned body without header section", head + ds + "--b\nContent-Type: text/plain\n\n" + marker + "\n--b--\n", ErrMalformed},
		{"returned multipart after delivery-status", head + ds + "--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\n" + marker + "\n--c--\n--b--\n", ErrMalformed},
		{"base64 returned part", head + ds + "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogcwoKQk9EWQ==\n--b--\n", ErrEncoded},
		{"header too large", "X-Big: " + strings.Repeat("a", DefaultMaxHeaderBytes) + "\n" + head, ErrHeaderTooLarge},
		{"long preamble skipped, not held", head + strings.Repeat("x", DefaultMaxHeaderBytes+1) + "\n--b--\n", ErrNotDSN},
		{"nested boundary equal to the parent's", head + "--b\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\n" + marker + "\n--b--\n--b--\n", ErrMalformed},
		{"digest part defaults to message/rfc822", head + "--b\nContent-Type: multipart/digest; boundary=c\n\n--c\n\nSubject: s\n\n" + marker + "\n--c--\n" + ds[len("--b\nContent-Type: text/plain\n\nhi\n"):] + "--b--\n", nil},
		{"nesting too deep", "Content-Type: multipart/report; report-type=delivery-status; boundary=b0\n\n" + nest(9), ErrMalformed},
	}
}

func nest(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("--b" + string(rune('0'+i-1)) + "\nContent-Type: multipart/mixed; boundary=b" + string(rune('0'+i)) + "\n\n")
	}
	return b.String()
}
