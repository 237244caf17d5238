package dsn

import (
	"bytes"
	"encoding/base64"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
)

// secretBody is the returned body of the human-part tests: the secret,
// and a line long enough that a 16-byte window of it is distinctive.
const secretBody = "Dear Bob, " + hostile.Secret + "\r\nthe launch code is 7d3f-91ab-c044-e2e5-0b1d.\r\n"

// quotingBounce is a Postfix-shaped bounce whose human-readable part
// quotes the returned body, with the given part header and content.
func quotingBounce(humanHeader, humanBody string) string {
	return "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\n" + humanHeader + "\r\n" + humanBody + "\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.7.30\r\n" +
		"Diagnostic-Code: smtp; 550 5.7.30 REQUIRETLS needed\r\n\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: plans\r\n\r\n" + secretBody + "\r\n--b--\r\n"
}

// assertNoBody fails when out holds the secret or any 16-byte window of
// the returned body (R43, R46: the body, not only the marker).
func assertNoBody(t *testing.T, out []byte, body string) {
	t.Helper()
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		for i := 0; i+16 <= len(line); i++ {
			if bytes.Contains(out, []byte(line[i:i+16])) {
				t.Fatalf("output holds body bytes %q:\n%s", line[i:i+16], out)
			}
		}
	}
}

func qpEncode(s string) string {
	// A soft line break in the middle and the '=' escape, as MTAs write it.
	s = strings.ReplaceAll(s, "=", "=3D")
	return s[:20] + "=\r\n" + s[20:]
}

// humanQuoteCases are bounces whose human-readable part quotes the
// returned body, in plain text, quoted-printable, base64, and in a nested
// part. They also go through the read-pattern property and seed
// FuzzRedactDSNInput.
func humanQuoteCases() map[string]string {
	quoted := "Your message could not be delivered:\r\n> " + strings.ReplaceAll(secretBody, "\r\n", "\r\n> ")
	return map[string]string{
		"plain":            quotingBounce("Content-Type: text/plain\r\n", quoted),
		"quoted-printable": quotingBounce("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n", qpEncode(quoted)),
		"base64":           quotingBounce("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n", base64.StdEncoding.EncodeToString([]byte(quoted))),
		"nested":           quotingBounce("Content-Type: multipart/alternative; boundary=n\r\n", "--n\r\nContent-Type: text/plain\r\n\r\n"+quoted+"\r\n--n--\r\n"),
	}
}

// TestRedactDSNHumanPartQuotingBody (R43, R46, issue 13 part 2): several
// MTAs quote the returned body in the human-readable part, in plain text,
// quoted-printable or base64. By default RedactDSN replaces that part with
// one written from the delivery-status fields, so no body byte is kept.
func TestRedactDSNHumanPartQuotingBody(t *testing.T) {
	for name, in := range humanQuoteCases() {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, RedactDSN(&out, strings.NewReader(in), nil))
			assertNoBody(t, out.Bytes(), secretBody)
			parseMIME(t, out.Bytes())
			assert.Contains(t, out.String(), "--b\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n"+
				"Content-Transfer-Encoding: 8bit\r\n\r\nThis is the mail system at mx.example.net.\r\n")
			assert.Contains(t, out.String(), "<bob@example.com>: failed: smtp; 550 5.7.30 REQUIRETLS needed\r\n\r\n--b\r\n")
			var again bytes.Buffer
			require.NoError(t, RedactDSN(&again, bytes.NewReader(out.Bytes()), nil))
			assert.Equal(t, out.String(), again.String(), "idempotent")
		})
	}
}

// TestRedactDSNUnsafeKeepHumanReadable: the opt-in keeps the part as it
// came, quoting and all.
func TestRedactDSNUnsafeKeepHumanReadable(t *testing.T) {
	in := quotingBounce("Content-Type: text/plain\r\n", "quoted: "+hostile.Secret)
	var out bytes.Buffer
	require.NoError(t, RedactDSN(&out, strings.NewReader(in), &Options{UnsafeKeepHumanReadable: true}))
	assert.Contains(t, out.String(), "--b\r\nContent-Type: text/plain\r\n\r\nquoted: "+hostile.Secret+"\r\n--b\r\n")
}

// TestRedactDSNCorpusHumanPart: over the 43 real bounces, the default and
// UnsafeKeepHumanReadable agree on every error, and their outputs differ
// only in the human-readable part, which is written anew exactly in the 15
// accepted bounces that return the body (none of the real ones quotes
// body text in it: what they share with the returned part is header
// lines). The 5 headers-only ones (one with a blank line after the
// returned header) come out the same.
func TestRedactDSNCorpusHumanPart(t *testing.T) {
	files, err := filepath.Glob("testdata/dsn-real/*.eml")
	require.NoError(t, err)
	require.Len(t, files, 43)
	var kept []string
	changed := 0
	for _, f := range files {
		in, err := os.ReadFile(f)
		require.NoError(t, err)
		var safe, unsafe bytes.Buffer
		errSafe := RedactDSN(&safe, bytes.NewReader(in), nil)
		errUnsafe := RedactDSN(&unsafe, bytes.NewReader(in), &Options{UnsafeKeepHumanReadable: true})
		require.Equal(t, errUnsafe, errSafe, f)
		if errSafe != nil {
			continue
		}
		if bytes.Equal(safe.Bytes(), unsafe.Bytes()) {
			kept = append(kept, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "maildir-bsd__"), ".eml"))
			continue
		}
		changed++
		// Same up to the end of the first delimiter line, same from the
		// second top-level delimiter line on.
		_, params, err := mime.ParseMediaType(mustTopType(t, safe.Bytes()))
		require.NoError(t, err, f)
		delim := []byte("--" + params["boundary"])
		s, u := safe.Bytes(), unsafe.Bytes()
		first := bytes.Index(u, delim)
		require.Positive(t, first, f)
		eol := bytes.IndexByte(u[first:], '\n') + first + 1
		assert.Equal(t, string(u[:eol]), string(s[:eol]), f)
		assert.Equal(t, string(u[eol+bytes.Index(u[eol:], delim):]), string(s[eol+bytes.Index(s[eol:], delim):]), f)
		assert.Contains(t, string(s[eol:]), "Content-Description: Notification", f)
	}
	assert.Equal(t, 15, changed)
	assert.Equal(t, []string{"lhost-mimecast-02", "lhost-postfix-80", "lhost-powermta-01", "lhost-receivingses-01", "rhost-aol-05"}, kept)
}

// mustTopType returns the Content-Type of a message.
func mustTopType(t *testing.T, msg []byte) string {
	t.Helper()
	if bytes.HasPrefix(msg, []byte("From ")) { // mbox envelope line
		msg = msg[bytes.IndexByte(msg, '\n')+1:]
	}
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil && !message.IsUnknownCharset(err) {
		require.NoError(t, err)
	}
	return e.Header.Get("Content-Type")
}

// TestRedactDSNRegeneratesComposeText: the part written anew is the one
// Compose writes for a REQUIRETLS message: a composed DSN with body bytes
// planted after its returned header (so its human-readable part is
// replaced) redacts to the composed DSN, byte for byte.
func TestRedactDSNRegeneratesComposeText(t *testing.T) {
	rep := testReport()
	rep.Recipients = append(rep.Recipients, Recipient{FinalRecipient: "rfc822; carol@example.com", Action: ActionDelayed, Status: "4.4.1"})
	var composed bytes.Buffer
	_, err := Compose(&composed, rep, strings.NewReader("Subject: s\r\n\r\nbody\r\n"))
	require.NoError(t, err)
	planted := strings.Replace(composed.String(), "Subject: s\r\n\r\n", "Subject: s\r\n\r\n"+hostile.Secret+"\r\n", 1)
	require.NotEqual(t, composed.String(), planted)
	var redacted bytes.Buffer
	require.NoError(t, RedactDSN(&redacted, strings.NewReader(planted), nil))
	assert.Equal(t, composed.String(), redacted.String())
}
