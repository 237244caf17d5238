package dsn

import (
	"bytes"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// corpusWant is the decided outcome for each real bounce in
// testdata/dsn-real (see its README for each file's oddities): nil means
// redacted (or passed through when there is nothing to redact).
var corpusWant = map[string]error{
	"arf-12":                   ErrNotDSN, // feedback-report, not a DSN
	"lhost-amavis-01":          nil,       // text/rfc822-headers with a body: cut
	"lhost-amazonworkmail-01":  ErrNotDSN, // multipart/mixed
	"lhost-courier-01":         nil,
	"lhost-exchange2003-02":    ErrNotDSN,    // multipart/mixed
	"lhost-exchange2007-01":    nil,          // nested multipart/alternative kept
	"lhost-exim-29":            nil,          // mbox From_ line, unquoted boundary
	"lhost-googleworkspace-01": nil,          // nested multipart/related kept
	"lhost-kddi-01":            ErrNotDSN,    // multipart/mixed
	"lhost-mailru-01":          ErrNotDSN,    // original inline in text/plain
	"lhost-mcafee-01":          ErrNotDSN,    // Multipart/Mixed
	"lhost-messagingserver-03": ErrMalformed, // no delimiter lines: all in the preamble
	"lhost-messagingserver-07": nil,          // mislabelled text/plain after the DS part: cut
	"lhost-mimecast-02":        nil,          // no returned part: passed through
	"lhost-office365-01":       ErrMalformed, // inner closing delimiter missing
	"lhost-opensmtpd-01":       ErrNotDSN,
	"lhost-opensmtpd-10":       ErrNotDSN, // multipart/mixed
	"lhost-outlook-01":         nil,
	"lhost-postfix-43":         nil, // text/rfc822-headers with a body: cut
	"lhost-postfix-49":         ErrNotDSN,
	"lhost-postfix-62":         nil,
	"lhost-postfix-79":         nil,
	"lhost-postfix-80":         nil,
	"lhost-powermta-01":        nil,
	"lhost-qmail-01":           ErrNotDSN,
	"lhost-qmail-20":           ErrNotDSN,
	"lhost-receivingses-01":    nil,
	"lhost-sendgrid-01":        ErrMalformed, // no closing delimiter
	"lhost-sendmail-38":        nil,
	"lhost-sendmail-41":        nil, // DSN inside the returned message: cut with it
	"lhost-trendmicro-02":      ErrNotDSN,
	"lhost-v5sendmail-01":      ErrNotDSN,
	"lhost-x5-01":              ErrNotDSN,
	"lhost-yahoo-01":           ErrNotDSN,
	"lhost-yandex-01":          nil,
	"lhost-zoho-01":            ErrNotDSN,
	"rfc3464-04":               ErrMalformed, // no delimiter lines
	"rfc3464-09":               ErrNotDSN,    // multipart/mixed re-wrap
	"rfc3464-26":               nil,
	"rhost-aol-05":             nil, // already headers only: unchanged
	"rhost-apple-05":           nil,
	"rhost-facebook-03":        ErrMalformed, // body only, labelled text/plain
	"rhost-google-01":          ErrMalformed, // boundary mismatch
}

// TestRedactDSNCorpus runs every real bounce through RedactDSN: each is
// redacted or refused with its decided sentinel, and no line of a returned
// body ever reaches the output (R43, R46).
func TestRedactDSNCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/dsn-real/*.eml")
	require.NoError(t, err)
	require.Len(t, files, 43)
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "maildir-bsd__"), ".eml")
		want, ok := corpusWant[name]
		require.True(t, ok, "no decided outcome for %s", name)
		t.Run("R46/"+name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			require.NoError(t, err)
			var out bytes.Buffer
			err = RedactDSN(&out, bytes.NewReader(in), nil)
			if want != nil {
				assert.ErrorIs(t, err, want)
			} else {
				require.NoError(t, err)
				parseMIME(t, out.Bytes())
			}
			outLines := map[string]bool{}
			for l := range strings.SplitSeq(strings.ReplaceAll(out.String(), "\r\n", "\n"), "\n") {
				outLines[l] = true
			}
			for _, l := range returnedBodyLines(in) {
				// The part header of a rewritten human-readable part is
				// the redactor's own text, whatever the body holds.
				own := l == "Content-Type: text/plain; charset=utf-8" || l == "Content-Transfer-Encoding: 8bit"
				assert.False(t, outLines[l] && !own, "body line leaked: %q", l)
			}
		})
	}
}

var boundaryRE = regexp.MustCompile(`(?is)\ncontent-type:\s*multipart/[^\n]*(?:\n[ \t][^\n]*)*`)

// returnedBodyLines finds, independently of the redactor, the body lines of
// the returned message in a DSN: the lines after the first blank line of
// every top-level part after the delivery-status part, or of a part labelled
// as a returned message, that appear in no other part.
func returnedBodyLines(in []byte) []string {
	s := strings.ReplaceAll(string(in), "\r\n", "\n")
	m := boundaryRE.FindString("\n" + s)
	_, params, _ := mime.ParseMediaType(strings.TrimSpace(m[strings.Index(m, ":")+1:]))
	b := params["boundary"]
	if b == "" {
		return nil
	}
	parts := strings.Split(s, "\n--"+b)
	afterDS := false
	var bodies []string
	kept := map[string]bool{}
	for i, p := range parts {
		hdr, content, _ := strings.Cut(p, "\n\n")
		if i == 0 { // the top-level header and the preamble
			for l := range strings.SplitSeq(p, "\n") {
				kept[l] = true
			}
			continue
		}
		lh := strings.ToLower(hdr)
		returned := afterDS || strings.Contains(lh, "message/rfc822") || strings.Contains(lh, "rfc822-header") || strings.Contains(lh, "message/global")
		if strings.Contains(lh, "message/delivery-status") || strings.Contains(lh, "message/global-delivery-status") {
			afterDS = true
		}
		if !returned {
			for l := range strings.SplitSeq(p, "\n") {
				kept[l] = true
			}
			continue
		}
		hs, body, ok := strings.Cut(content, "\n\n")
		for l := range strings.SplitSeq(hs, "\n") {
			kept[l] = true // the returned header section is kept
		}
		if ok {
			bodies = append(bodies, body)
		}
	}
	var lines []string
	for _, body := range bodies {
		for l := range strings.SplitSeq(body, "\n") {
			if len(strings.TrimSpace(l)) >= 8 && !kept[l] && !strings.HasPrefix(l, "--") {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// The leak check above must be able to fail: a pass-through leaks.
func TestReturnedBodyLinesFindsBodies(t *testing.T) {
	in, err := os.ReadFile("testdata/dsn-real/maildir-bsd__lhost-postfix-62.eml")
	require.NoError(t, err)
	assert.NotEmpty(t, returnedBodyLines(in))
}

// TestRedactDSNOfPostfixRedactedUnchanged: a DSN that Postfix 3.11
// already redacted (requiretls_redact_dsn, headers only) comes out byte
// for byte as it went in (issue 13 part 3). RedactDSN used to drop the
// headers part's "Content-Transfer-Encoding: 8bit".
func TestRedactDSNOfPostfixRedactedUnchanged(t *testing.T) {
	in, err := os.ReadFile("testdata/dsn-real/maildir-bsd__lhost-postfix-80.eml")
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, RedactDSN(&out, bytes.NewReader(in), nil))
	assert.Equal(t, string(in), out.String())
}
