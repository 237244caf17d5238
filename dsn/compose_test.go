package dsn

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const original = "Received: from client.example.org by mx.example.net\r\n" +
	"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: plans\r\n" +
	"Message-ID: <p1@example.org>\r\nDate: Tue, 4 Mar 2025 09:59:50 +0100\r\n" +
	"Require-TLS-ESMTP: yes\r\n\r\nHello " + marker + " body\r\n"

func testReport() *Report {
	when := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	return &Report{
		From: "MAILER-DAEMON@mx.example.net (Mail Delivery System)", To: "alice@example.org",
		Date: when, MsgID: "<dsn1@mx.example.net>", ReportingMTA: "dns; mx.example.net",
		EnvID: "QQ314159", ArrivalDate: when.Add(-time.Minute), Boundary: "dsn-test-boundary",
		Recipients: []Recipient{{
			OriginalRecipient: "rfc822;bob@example.com", FinalRecipient: "rfc822; bob@example.com",
			Action: ActionFailed, Status: "5.7.30", RemoteMTA: "dns; mx.example.com",
			DiagnosticCode: "smtp; 550 5.7.30 REQUIRETLS support required", LastAttemptDate: when,
		}},
		RequireTLS: true, Ret: RetFull,
	}
}

func compose(t *testing.T, rep *Report, orig string) (string, Envelope) {
	t.Helper()
	var out bytes.Buffer
	env, err := Compose(&out, rep, strings.NewReader(orig))
	require.NoError(t, err)
	parseMIME(t, out.Bytes())
	checkRFC3464(t, out.String())
	return out.String(), env
}

// checkRFC3464 is a second, independent parser written from the RFC 3464
// Section 2 grammar: multipart/report with report-type=delivery-status, a
// message/delivery-status part of per-message fields with Reporting-MTA,
// then per-recipient blocks each with Final-Recipient, Action and Status.
func checkRFC3464(t *testing.T, dsn string) {
	t.Helper()
	head, body, ok := strings.Cut(dsn, "\r\n\r\n")
	require.True(t, ok, "no header/body separator")
	unfolded := strings.ReplaceAll(head, "\r\n\t", " ")
	m := regexp.MustCompile(`(?im)^Content-Type: multipart/report;.*report-type=delivery-status;.*boundary="([^"]+)"`).FindStringSubmatch(unfolded)
	require.NotNil(t, m, "top level is not multipart/report; report-type=delivery-status")
	delim := "\r\n--" + m[1]
	require.True(t, strings.HasSuffix(body, delim+"--\r\n"), "missing close delimiter")
	parts := strings.Split(strings.TrimSuffix(body, delim+"--\r\n"), delim+"\r\n")[1:]
	require.Len(t, parts, 3, "RFC 3464 Section 2: three parts")
	dsHead, ds, ok := strings.Cut(parts[1], "\r\n\r\n")
	require.True(t, ok)
	require.Regexp(t, `(?i)^Content-Type: message/(global-)?delivery-status$`, regexp.MustCompile(`(?im)^Content-Type:[^\r\n]*`).FindString(dsHead))
	groups := strings.Split(strings.TrimSuffix(ds, "\r\n"), "\r\n\r\n")
	require.GreaterOrEqual(t, len(groups), 2, "per-message fields and at least one recipient")
	fields := func(g string) map[string]string {
		f := map[string]string{}
		for l := range strings.SplitSeq(g, "\r\n") {
			k, v, ok := strings.Cut(l, ":")
			require.True(t, ok, "not a field: %q", l)
			require.Regexp(t, `^[A-Za-z-]+$`, k)
			f[strings.ToLower(k)] = strings.TrimSpace(v)
		}
		return f
	}
	assert.Regexp(t, `^[a-z]+;`, fields(groups[0])["reporting-mta"])
	for _, g := range groups[1:] {
		f := fields(g)
		assert.Regexp(t, `^[A-Za-z0-9-]+;`, f["final-recipient"])
		assert.Regexp(t, `^(failed|delayed|delivered|relayed|expanded)$`, f["action"])
		assert.Regexp(t, `^[245]\.\d{1,3}\.\d{1,3}$`, f["status"])
	}
}

func TestComposeGolden(t *testing.T) {
	out, env := compose(t, testReport(), original)
	if *update {
		require.NoError(t, os.WriteFile("testdata/composed-requiretls.golden", []byte(out), 0o644))
	}
	want, err := os.ReadFile("testdata/composed-requiretls.golden")
	require.NoError(t, err)
	assert.Equal(t, string(want), out)
	assert.Equal(t, Envelope{}, env)
}

func TestComposeRequireTLS(t *testing.T) {
	t.Run("R46 R47 RET=FULL disregarded with REQUIRETLS", func(t *testing.T) {
		out, env := compose(t, testReport(), original)
		assert.NotContains(t, out, marker)
		assert.Contains(t, out, "Content-Type: text/rfc822-headers\r\n")
		assert.Contains(t, out, "Subject: plans\r\n")
		assert.NotContains(t, out, "message/rfc822")
		assert.False(t, env.Full)
	})
	t.Run("RET=FULL honoured without REQUIRETLS", func(t *testing.T) {
		rep := testReport()
		rep.RequireTLS = false
		out, env := compose(t, rep, original)
		assert.Contains(t, out, marker)
		assert.Contains(t, out, "Content-Type: message/rfc822\r\n")
		assert.True(t, env.Full)
	})
	t.Run("SMTPUTF8 original: global delivery status, as Postfix writes it", func(t *testing.T) {
		out, _ := compose(t, testReport(), original)
		assert.Contains(t, out, "Content-Type: message/delivery-status\r\n", "ASCII fields, no SMTPUTF8")
		rep := testReport()
		rep.SMTPUTF8 = true
		out, _ = compose(t, rep, original)
		assert.Contains(t, out, "Content-Type: message/global-delivery-status\r\n") // RFC 6533 Section 6
		assert.NotContains(t, out, "Content-Type: message/delivery-status\r\n")
	})
	t.Run("RET=FULL not for a delay report", func(t *testing.T) {
		rep := testReport()
		rep.RequireTLS = false
		rep.Recipients[0].Action, rep.Recipients[0].Status = ActionDelayed, "4.7.10"
		out, env := compose(t, rep, original)
		assert.NotContains(t, out, marker)
		assert.False(t, env.Full)
		assert.Contains(t, out, "Subject: Delayed Mail (still being retried)\r\n")
		assert.Contains(t, out, "Content-Description: Message Headers\r\n")
	})
	t.Run("R44 Postfix default: DSN sent without REQUIRETLS", func(t *testing.T) {
		_, env := compose(t, testReport(), original)
		assert.False(t, env.RequireTLS)
	})
	t.Run("R44 mox alternative: DSN keeps REQUIRETLS", func(t *testing.T) {
		rep := testReport()
		rep.KeepRequireTLS = true
		out, env := compose(t, rep, original)
		assert.True(t, env.RequireTLS)
		assert.NotContains(t, out, marker)
	})
	t.Run("Require-TLS-ESMTP never at the DSN top level", func(t *testing.T) {
		out, _ := compose(t, testReport(), original)
		top, _, _ := strings.Cut(out, "\r\n\r\n")
		assert.NotContains(t, strings.ToLower(top), "require-tls-esmtp")
		assert.Contains(t, out, "Require-TLS-ESMTP: yes\r\n") // inside the returned headers
	})
	t.Run("R46 SMTPUTF8 original gives message/global-headers", func(t *testing.T) {
		out, _ := compose(t, testReport(), "From: Ren\u00e9 <ren\u00e9@exemple.example>\r\n\r\n"+marker)
		assert.Contains(t, out, "Content-Type: message/global-headers\r\n")
		assert.NotContains(t, out, marker)
	})
	t.Run("allow-list", func(t *testing.T) {
		rep := testReport()
		rep.Options = &Options{Fields: []string{"Message-ID"}}
		out, _ := compose(t, rep, original)
		_, ret, _ := strings.Cut(out, "Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n")
		assert.Equal(t, "Message-ID: <p1@example.org>\r\n\r\n--dsn-test-boundary--\r\n", ret)
	})
}

func TestComposeTLSRequiredNo(t *testing.T) {
	const no = "TLS-Required: No\r\n"
	tests := []struct {
		name       string
		requireTLS bool
		orig       string
		want       bool
	}{
		{"R25 copied when the original had it without REQUIRETLS", false, no + "Subject: s\r\n\r\nx", true},
		{"R25 not copied when REQUIRETLS was requested", true, no + "Subject: s\r\n\r\nx", false},
		{"not copied when the original had none", false, "Subject: s\r\n\r\nx", false},
		{"E3 duplicated valid No follows header.Inspect", false, no + no + "Subject: s\r\n\r\nx", true},
		{"E3 not copied when one copy is not No", false, no + "TLS-Required: Yes\r\n\r\nx", false},
		{"E2 not copied when malformed", false, "TLS-Required: No (comment)\r\n\r\nx", false},
		{"not copied with Require-TLS-ESMTP", false, no + "Require-TLS-ESMTP: yes\r\n\r\nx", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := testReport()
			rep.RequireTLS = tc.requireTLS
			out, _ := compose(t, rep, tc.orig)
			top, _, _ := strings.Cut(out, "\r\n\r\n")
			assert.Equal(t, tc.want, strings.Contains(top, "\r\n"+no))
		})
	}
}

func TestComposeInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Report)
	}{
		{"no recipients", func(r *Report) { r.Recipients = nil }},
		{"no reporting MTA", func(r *Report) { r.ReportingMTA = "" }},
		{"bad status", func(r *Report) { r.Recipients[0].Status = "5.7" }},
		{"bad action", func(r *Report) { r.Recipients[0].Action = "bounced" }},
		{"untyped recipient", func(r *Report) { r.Recipients[0].FinalRecipient = "bob@example.com" }},
		{"header injection", func(r *Report) { r.Recipients[0].DiagnosticCode = "smtp; 550\r\nBcc: x@y" }},
		{"envid too long", func(r *Report) { r.EnvID = strings.Repeat("x", 101) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := testReport()
			tc.edit(rep)
			_, err := Compose(io.Discard, rep, strings.NewReader(original))
			assert.ErrorIs(t, err, ErrInvalidReport)
		})
	}
	_, err := Compose(io.Discard, testReport(), strings.NewReader("not a header\r\n\r\n"+marker))
	assert.ErrorIs(t, err, ErrMalformed)
}

// The composed DSN can be redacted again and read back with go-message.
func TestComposeRoundTrip(t *testing.T) {
	rep := testReport()
	rep.RequireTLS = false
	out, _ := compose(t, rep, original)
	var red bytes.Buffer
	require.NoError(t, RedactDSN(&red, strings.NewReader(out), nil))
	assert.NotContains(t, red.String(), marker)
	e, err := message.Read(&red)
	require.NoError(t, err)
	mr := e.MultipartReader()
	require.NotNil(t, mr)
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		mt, _, _ := p.Header.ContentType()
		types = append(types, mt)
	}
	assert.Equal(t, []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}, types)
}

// TestRedactDSNOfComposeUnchanged: a DSN made by Compose is already
// redacted, and RedactDSN leaves it byte for byte as it is (issue 13
// part 3), with ASCII and with 8-bit returned headers, for a failure and
// for a delay. Compose used to
// write Content-Type before Content-Description in the headers part,
// and RedactDSN, like Postfix, the other way round.
func TestRedactDSNOfComposeUnchanged(t *testing.T) {
	delayed := testReport()
	delayed.Recipients[0].Action, delayed.Recipients[0].Status = ActionDelayed, "4.7.10"
	for _, tc := range []struct {
		rep  *Report
		orig string
	}{
		{testReport(), "Subject: s\r\nFrom: a@b\r\n\r\nbody\r\n"},
		{testReport(), "Subject: r\xc3\xa9sum\xc3\xa9\r\n\r\nbody\r\n"},
		{delayed, "Subject: s\r\n\r\nbody\r\n"}, // "Message Headers"
	} {
		var composed, redacted bytes.Buffer
		_, err := Compose(&composed, tc.rep, strings.NewReader(tc.orig))
		require.NoError(t, err)
		require.NoError(t, RedactDSN(&redacted, bytes.NewReader(composed.Bytes()), nil))
		assert.Equal(t, composed.String(), redacted.String())
	}
}

// TestComposeStatusDatesWithoutDayName: the delivery-status dates
// (RFC 3464 Sections 2.2.5, 2.3.7, 2.3.8: RFC 5322 date-time, whose day
// name is optional) are written without the day name, which mox's DSN
// parser rejects (issue 13 part 3); the DSN's own Date field keeps it.
func TestComposeStatusDatesWithoutDayName(t *testing.T) {
	rep := testReport()
	rep.Recipients[0].WillRetryUntil = rep.Date.Add(time.Hour)
	out, _ := compose(t, rep, original)
	assert.Contains(t, out, "\r\nDate: Tue, 04 Mar 2025 10:00:00 +0000\r\n")
	assert.Contains(t, out, "\r\nArrival-Date: 04 Mar 2025 09:59:00 +0000\r\n")
	assert.Contains(t, out, "\r\nLast-Attempt-Date: 04 Mar 2025 10:00:00 +0000\r\n")
	assert.Contains(t, out, "\r\nWill-Retry-Until: 04 Mar 2025 11:00:00 +0000\r\n")
}

// TestComposeMessageID (issue 15 item 7): a DSN gets a Message-ID when the
// caller gives none (RFC 5322 Section 3.6.4 says every message SHOULD have
// one): 26 random characters at the Reporting-MTA's host name, or at
// "invalid" (RFC 6761) when that is no domain name. One given is kept.
func TestComposeMessageID(t *testing.T) {
	re := regexp.MustCompile("\r\nMessage-ID: <([A-Z2-7]{26})@([^>]+)>\r\n")
	ids := map[string]bool{}
	for _, tc := range []struct{ mta, host string }{
		{"dns; mx.example.net", "mx.example.net"},
		{"dns;mx-1.example.net", "mx-1.example.net"},
		{"dns; [192.0.2.1]", "invalid"},
		{"x-local; mail server 1", "invalid"},
		{"dns; mx..example.net", "invalid"},
	} {
		rep := testReport()
		rep.MsgID, rep.ReportingMTA = "", tc.mta
		var b bytes.Buffer
		_, err := Compose(&b, rep, strings.NewReader(""))
		require.NoError(t, err)
		m := re.FindStringSubmatch(b.String())
		require.NotNil(t, m, tc.mta)
		assert.Equal(t, tc.host, m[2], tc.mta)
		assert.False(t, ids[m[1]], "unique")
		ids[m[1]] = true
		parseMIME(t, b.Bytes())
	}
	rep := testReport()
	var b bytes.Buffer
	_, err := Compose(&b, rep, strings.NewReader(""))
	require.NoError(t, err)
	assert.Contains(t, b.String(), "\r\nMessage-ID: "+rep.MsgID+"\r\n")
	assert.Equal(t, 1, strings.Count(b.String(), "Message-ID:"))
}
