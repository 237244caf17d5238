//go:build interop

package interop

import (
	"bufio"
	"bytes"
	"github.com/requiretls/go-requiretls/internal/ciskip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/internal/hostile"
)

// postfixEnv returns the variables interop/run exports for the Postfix cases
// of issue 14 items 4 to 6. Without the Postfix source the cases are skipped,
// as TestPostfix's are; with it, a missing variable fails.
func postfixEnv(t *testing.T, keys ...string) map[string]string {
	t.Helper()
	if _, err := os.Stat(postfixDir); err != nil {
		ciskip.Skip(t, "Postfix cases skipped: "+postfixDir+" not found")
	}
	env := map[string]string{}
	for _, k := range append(keys, "INTEROP_POSTFIX_LOG", "INTEROP_POSTFIX_CONFIG", "INTEROP_POSTFIX_SBIN") {
		env[k] = os.Getenv(k)
		require.NotEmpty(t, env[k], "%s is not set: interop/run exports it when it starts Postfix", k)
	}
	return env
}

// startMailbox serves a mailbox on addr: go-smtp without our glue, so no
// REQUIRETLS; STARTTLS with the test CA's certificate, SMTPUTF8 and DSN. It
// refuses recipients whose local part starts with "reject" (550 5.1.1), so
// that Postfix has a reason to bounce a message that did not ask for
// REQUIRETLS.
func startMailbox(t *testing.T, addr, domain string) *recorder {
	t.Helper()
	box := &recorder{rcpt: func(_ *recorded, to string) error {
		if strings.HasPrefix(to, "reject") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
		}
		return nil
	}}
	s := smtp.NewServer(box)
	s.Domain, s.EnableSMTPUTF8, s.EnableDSN = domain, true, true
	s.TLSConfig = serverTLS(t)
	serve(t, s, addr, false)
	return box
}

// postfixSubmit gives msg to Postfix's sendmail with the extra arguments.
func postfixSubmit(t *testing.T, env map[string]string, msg string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(env["INTEROP_POSTFIX_SBIN"], "sendmail"), append([]string{"-C", env["INTEROP_POSTFIX_CONFIG"]}, args...)...)
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "sendmail %q: %s", args, out)
}

// waitLong polls cond for up to two minutes: Postfix's queue manager, bounce
// daemon and smtp(8) take several steps, and the machine is shared.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "waited 2 minutes for %s", what)
	}
}

// dsnShape is the MIME structure of a DSN, as go-message reads it.
type dsnShape struct {
	Type          string   // the top-level media type and its report-type
	Parts         []string // the media type of each part, in order
	TLSRequiredNo bool     // a top-level "TLS-Required: No" field
}

func shapeOf(t *testing.T, b []byte) dsnShape {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(b))
	require.NoError(t, err, "go-message reads the DSN")
	mt, params, err := e.Header.ContentType()
	require.NoError(t, err)
	s := dsnShape{Type: mt + "; report-type=" + params["report-type"],
		TLSRequiredNo: strings.EqualFold(strings.TrimSpace(e.Header.Get("TLS-Required")), "no")}
	mr := e.MultipartReader()
	require.NotNil(t, mr, "the DSN is multipart")
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "go-message reads every part")
		pt, _, err := p.Header.ContentType()
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, p.Body)
		require.NoError(t, err)
		s.Parts = append(s.Parts, pt)
	}
	return s
}

// deliveryStatus reads the first per-recipient block of a DSN's
// delivery-status part (RFC 3464 Section 2.3), which Postfix writes in 7bit.
func deliveryStatus(t *testing.T, b []byte) textproto.Header {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(b))
	require.NoError(t, err)
	mr := e.MultipartReader()
	require.NotNil(t, mr)
	for {
		p, err := mr.NextPart()
		require.NoError(t, err, "no delivery-status part")
		if pt, _, _ := p.Header.ContentType(); strings.HasSuffix(pt, "delivery-status") {
			br := bufio.NewReader(p.Body)
			_, err := textproto.ReadHeader(br) // per-message fields
			require.NoError(t, err)
			h, err := textproto.ReadHeader(br)
			require.NoError(t, err)
			return h
		}
	}
}

// dsnGoldenDir holds captures of Postfix's DSNs, for the dsn package's own
// test that runs without Postfix (dsn/postfix_capture_test.go). They are
// written verbatim, not normalised: INTEROP_UPDATE_GOLDEN=1 interop/run
// -run TestPostfixDSN rewrites them.
const dsnGoldenDir = "../dsn/testdata/postfix-3.11.6"

// postfixDSNDirection is the MATRIX.md direction of the DSN rows.
const postfixDSNDirection = "Postfix bounce → dsn.RedactDSN, dsn.Compose (compared)"

// TestPostfixDSN has Postfix 3.11.6 bounce three messages and deliver its
// DSNs to a mailbox of the test: a REQUIRETLS message (redacted by
// requiretls_redact_dsn = yes to text/rfc822-headers, RFC 8689 Section 5,
// R46, R47), its SMTPUTF8 variant (message/global-headers, RFC 6533), and
// a message without REQUIRETLS that asked for RET=FULL (message/rfc822).
// Each goes through dsn.RedactDSN (a redacted one comes out byte for byte,
// the full one headers only) and is compared with dsn.Compose for the same
// failure: the same MIME structure, the same envelope advice, and
// "TLS-Required: No" copied under the same rule (Postfix 3.11 §4.2: only
// when the original had it and did not request REQUIRETLS).
func TestPostfixDSN(t *testing.T) {
	env := postfixEnv(t, "INTEROP_POSTFIX_DSN_NEXTHOP")
	box := startMailbox(t, env["INTEROP_POSTFIX_DSN_NEXTHOP"], "dsn.nexthop.interop.test")
	const from = "alice@dsn-return.interop.test"
	tests := []struct {
		name       string
		requireTLS bool
		utf8       bool
		rcpt       string
		subject    string
		status     string // of the failed recipient
		parts      []string
	}{
		{"requiretls", true, false, "bob@dsn-fail.interop.test", "interop dsn requiretls", "5.7.30",
			[]string{"text/plain", "message/delivery-status", "text/rfc822-headers"}},
		{"smtputf8", true, true, "bob@dsn-fail.interop.test", "interop dsn smtputf8 Grüße", "5.7.30",
			[]string{"text/plain", "message/global-delivery-status", "message/global-headers"}},
		{"full", false, false, "reject-full@dsn-fail.interop.test", "interop dsn full", "5.1.1",
			[]string{"text/plain", "message/delivery-status", "message/rfc822"}},
	}
	originals := map[string]string{}
	for _, tc := range tests {
		// Every original carries TLS-Required: No; only the one without
		// REQUIRETLS may pass it on to its DSN (RFC 8689 Section 4.1).
		msg := "From: <" + from + ">\r\nTo: <" + tc.rcpt + ">\r\nSubject: " + tc.subject + "\r\n" +
			"Message-ID: <" + tc.name + ".dsn@interop.test>\r\nTLS-Required: No\r\n\r\n" +
			"body " + hostile.Secret + " " + tc.name + "\r\nSubject: " + hostile.Secret + " (a body line that looks like a field)\r\n"
		originals[tc.name] = msg
		args := []string{"-f", from, "-R", "full"}
		if tc.requireTLS {
			args = append(args, "-O", "requiretls=yes")
		}
		if tc.utf8 {
			args = append(args, "-O", "smtputf8=yes")
		}
		postfixSubmit(t, env, msg, append(args, tc.rcpt)...)
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := "RedactDSN byte for byte; "
			if !tc.requireTLS {
				want = "RedactDSN cuts the body, go-message reads it; "
			}
			expect(t, peer{Name: "Postfix (bounce, requiretls_redact_dsn = yes)", Version: os.Getenv("INTEROP_VERSION_POSTFIX")},
				postfixDSNDirection, tc.name+" DSN ("+strings.Join(tc.parts, ", ")+")",
				want+"dsn.Compose for the same failure: same MIME structure, same TLS-Required: No rule, same envelope (MAIL FROM:<>, no REQUIRETLS)")
			id := "<" + tc.name + ".dsn@interop.test>"
			var got recorded
			waitLong(t, "Postfix's DSN about "+id, func() bool {
				var ok bool
				got, ok = box.find(func(m recorded) bool { return bytes.Contains(m.Data, []byte("Message-ID: "+id)) })
				return ok
			})
			pf := got.Data
			assert.Equal(t, "", got.From, "a DSN is sent from the null reverse path")
			assert.Equal(t, []string{from}, got.Rcpt)
			assert.False(t, got.RequireTLS, "Postfix sends the DSN without REQUIRETLS (requiretls_redact_dsn = yes)")
			assert.Equal(t, tc.utf8, got.UTF8, "SMTPUTF8 on the DSN's MAIL FROM")
			if tc.requireTLS {
				assert.NotContains(t, string(pf), hostile.Secret, "a body byte in Postfix's DSN of a REQUIRETLS message")
			}

			shape := shapeOf(t, pf)
			assert.Equal(t, dsnShape{Type: "multipart/report; report-type=delivery-status", Parts: tc.parts, TLSRequiredNo: !tc.requireTLS},
				shape, "Postfix's DSN")
			ds := deliveryStatus(t, pf)
			assert.Equal(t, tc.status, ds.Get("Status"))
			assert.Equal(t, "failed", ds.Get("Action"))

			// Through RedactDSN.
			var red bytes.Buffer
			require.NoError(t, dsn.RedactDSN(&red, bytes.NewReader(pf), nil))
			if tc.requireTLS {
				assert.Equal(t, string(pf), red.String(), "a DSN Postfix redacted comes out byte for byte")
			} else {
				assert.Contains(t, string(pf), hostile.Secret, "Postfix returned the full message (RET=FULL)")
				assert.NotContains(t, red.String(), hostile.Secret, "RedactDSN left a body byte")
				redShape := shapeOf(t, red.Bytes())
				assert.Equal(t, []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}, redShape.Parts)
				assert.Equal(t, shape.TLSRequiredNo, redShape.TLSRequiredNo, "RedactDSN keeps the top-level header")
				var again bytes.Buffer
				require.NoError(t, dsn.RedactDSN(&again, bytes.NewReader(red.Bytes()), nil))
				assert.Equal(t, red.String(), again.String(), "RedactDSN of its own output changes nothing")
			}

			// dsn.Compose for the same failure, side by side.
			var ours bytes.Buffer
			envl, err := dsn.Compose(&ours, &dsn.Report{
				From: "MAILER-DAEMON@ours.interop.test", To: from, ReportingMTA: "dns; ours.interop.test",
				RequireTLS: tc.requireTLS, Ret: dsn.RetFull, SMTPUTF8: tc.utf8,
				Recipients: []dsn.Recipient{{
					FinalRecipient: "rfc822;" + tc.rcpt, Action: dsn.ActionFailed, Status: ds.Get("Status"),
					RemoteMTA: ds.Get("Remote-MTA"), DiagnosticCode: ds.Get("Diagnostic-Code"),
				}},
			}, strings.NewReader(originals[tc.name]))
			require.NoError(t, err)
			assert.Equal(t, shape, shapeOf(t, ours.Bytes()), "dsn.Compose's DSN against Postfix's")
			assert.Equal(t, got.RequireTLS, envl.RequireTLS, "REQUIRETLS on the DSN: Compose's advice against Postfix's MAIL FROM")
			assert.Equal(t, tc.parts[2] == "message/rfc822", envl.Full, "full return: Compose's advice against Postfix's DSN")
			if tc.requireTLS {
				assert.NotContains(t, ours.String(), hostile.Secret)
			}

			if os.Getenv("INTEROP_UPDATE_GOLDEN") != "" {
				require.NoError(t, os.MkdirAll(dsnGoldenDir, 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dsnGoldenDir, tc.name+".eml"), pf, 0o644))
			}
			golden, err := os.ReadFile(filepath.Join(dsnGoldenDir, tc.name+".eml"))
			require.NoError(t, err, "the golden capture (INTEROP_UPDATE_GOLDEN=1 interop/run -run TestPostfixDSN writes it)")
			assert.Equal(t, shape, shapeOf(t, golden), "the golden capture has the structure of today's DSN")
		})
	}
}
