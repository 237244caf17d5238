package dsn

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
)

// TestRedactDSNPostfixCaptures runs RedactDSN on DSNs that Postfix 3.11.6
// itself wrote and sent (captured by interop/postfix_dsn_test.go, verbatim,
// with CRLF as they came over SMTP), so the check runs without Postfix:
//
//   - requiretls.eml, smtputf8.eml: bounces of REQUIRETLS messages, which
//     Postfix redacted (requiretls_redact_dsn = yes) to text/rfc822-headers
//     and message/global-headers. They come out byte for byte (R46, R47).
//   - full.eml: a bounce of a message without REQUIRETLS that asked for
//     RET=FULL, with the whole message as message/rfc822 and a
//     hostile.Secret in its body. It comes out headers only (full.golden,
//     -update rewrites it), with no byte of the body, its human-readable
//     part regenerated (it could quote the body), readable by go-message,
//     and unchanged by a second RedactDSN.
func TestRedactDSNPostfixCaptures(t *testing.T) {
	const dir = "testdata/postfix-3.11.6"
	for _, name := range []string{"requiretls", "smtputf8"} {
		t.Run("R46 R47/"+name+" already redacted", func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, name+".eml"))
			require.NoError(t, err)
			require.Contains(t, string(in), "Content-Description: Undelivered Message Headers\r\n")
			var out bytes.Buffer
			require.NoError(t, RedactDSN(&out, bytes.NewReader(in), nil))
			assert.Equal(t, string(in), out.String())
		})
	}
	t.Run("R46/full returned whole", func(t *testing.T) {
		in, err := os.ReadFile(filepath.Join(dir, "full.eml"))
		require.NoError(t, err)
		require.Contains(t, string(in), hostile.Secret)
		require.Contains(t, string(in), "Content-Type: message/rfc822\r\n")
		var out bytes.Buffer
		require.NoError(t, RedactDSN(&out, bytes.NewReader(in), nil))
		golden := filepath.Join(dir, "full.golden")
		if *update {
			require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err)
		assert.Equal(t, string(want), out.String())
		assert.NotContains(t, out.String(), hostile.Secret)
		assert.Contains(t, out.String(), "Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n")
		// The body was returned, so the human-readable part, which may
		// quote it, is regenerated; everything around it is Postfix's, byte
		// for byte, including its top-level "TLS-Required: no" (Postfix 3.11
		// §4.2) and the delivery report.
		notice := strings.Index(string(in), "\r\n--0B2CB98E002.1796170467/postfix.interop.test\r\nContent-Description: Notification\r\n")
		report := strings.Index(string(in), "\r\n--0B2CB98E002.1796170467/postfix.interop.test\r\nContent-Description: Delivery report\r\n")
		returned := strings.Index(string(in), "Content-Description: Undelivered Message\r\n")
		require.True(t, 0 < notice && notice < report && report < returned)
		assert.Equal(t, string(in[:notice]), out.String()[:notice])
		assert.Contains(t, out.String()[:notice], "\r\nTLS-Required: no\r\n")
		assert.Contains(t, out.String(), string(in[report:returned]))
		assert.NotContains(t, out.String(), "It's attached below", "Postfix's text about the returned body is gone with it")
		assert.Contains(t, out.String(), "only its header\r\nis returned below, not its body.")

		// Opting in to the human-readable part as written keeps it.
		var kept bytes.Buffer
		require.NoError(t, RedactDSN(&kept, bytes.NewReader(in), &Options{UnsafeKeepHumanReadable: true}))
		assert.Equal(t, string(in[:returned]), kept.String()[:returned])
		assert.NotContains(t, kept.String(), hostile.Secret)
		parseMIME(t, out.Bytes())

		var again bytes.Buffer
		require.NoError(t, RedactDSN(&again, bytes.NewReader(out.Bytes()), nil))
		assert.Equal(t, out.String(), again.String())
	})
}
