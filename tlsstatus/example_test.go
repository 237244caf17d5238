package tlsstatus_test

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/requiretls/go-requiretls/tlsstatus"
)

func ExampleParseField() {
	fl, err := tlsstatus.ParseField("may?/!requiretls:nocertmatch")
	if err != nil {
		fmt.Println(err)
		return
	}
	rt, _ := fl.Lookup(tlsstatus.RequireTLS)
	fmt.Println(fl, len(fl))
	fmt.Println(rt.Final, "violation:", rt.Violation)

	// Postfix's documentation mentions "requiretls:nomatch", which its code
	// never logs: it parses, but is not a known state.
	f, _ := tlsstatus.ParseFeature("requiretls:nomatch")
	fmt.Println(f, f.Known())
	// Output:
	// may?/!requiretls:nocertmatch 2
	// nocertmatch violation: true
	// requiretls:nomatch false
}

func ExampleFeature_String() {
	// What delivery code logs after a downgrade under opportunistic+starttls.
	fl := tlsstatus.Field{
		{Name: tlsstatus.May},
		{Name: tlsstatus.RequireTLS, Final: tlsstatus.None},
	}
	fmt.Println("tls=" + fl.String())
	// Output: tls=may/requiretls:none
}

func ExampleParseLine() {
	line := "Oct  1 12:00:00 mx postfix/smtp[4711]: 3F2A81C0D: to=<bob@example.org>, relay=mx.example.org[198.51.100.7]:25, delay=1.2, delays=0.04/0.01/0.61/0.54, tls=may/requiretls:none, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
	d, ok, err := tlsstatus.ParseLine(line)
	if !ok || err != nil {
		fmt.Println(ok, err)
		return
	}
	rt, _ := d.RequireTLS()
	fmt.Println(d.QueueID, d.Domain(), d.RelayHost(), d.Status, rt)

	_, ok, err = tlsstatus.ParseLine("Oct  1 12:00:00 mx postfix/qmgr[99]: 3F2A81C0D: removed")
	fmt.Println("qmgr line:", ok, err)
	// Output:
	// 3F2A81C0D example.org mx.example.org sent requiretls:none
	// qmgr line: false <nil>
}

func ExampleTally() {
	maillog := `Oct  1 12:00:00 mx postfix/smtp[1]: A1: to=<a@example.net>, relay=mx1.example.net[192.0.2.25]:25, delay=0.9, delays=0/0/0.5/0.4, tls=dane/requiretls, dsn=2.0.0, status=sent (250 Ok)
Oct  1 12:00:01 mx postfix/smtp[1]: A2: to=<b@example.org>, relay=mx.example.org[198.51.100.7]:25, delay=1.2, delays=0/0/0.6/0.6, tls=may/!requiretls:none, dsn=5.7.30, status=bounced (no server was found that supports REQUIRETLS)
Oct  1 12:00:02 mx postfix/qmgr[2]: A2: removed
`
	var t tlsstatus.Tally
	if err := t.ReadLog(strings.NewReader(maillog)); err != nil {
		fmt.Println(err)
		return
	}
	r := t.Report()
	for _, row := range r.States {
		fmt.Printf("%-18s %d  %s\n", row.Key, row.Deliveries, row.Meaning)
	}
	fmt.Println("offered:", r.Total.Offered, "of", r.Total.Requested)
	// Output:
	// requiretls         1  REQUIRETLS sent, server certificate matched
	// !requiretls:none   1  not sent: TLS, but no REQUIRETLS after STARTTLS (enforce)
	// offered: 1 of 2
}

func ExampleTally_LogValue() {
	var t tlsstatus.Tally
	_ = t.AddLine("postfix/smtp[1]: A1: to=<a@example.net>, relay=none, delay=0, delays=0/0/0/0, tls=may?/!requiretls:nostarttls, dsn=5.7.30, status=bounced (no TLS)")
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	log.Info("experiment", "tally", &t)
	// Output: level=INFO msg=experiment tally.lines=1 tally.deliveries=1 tally.malformed=0 tally.requiretls.!requiretls:nostarttls=1
}

func ExampleClassifyTLSError() {
	// err as returned by a TLS handshake whose certificate names another host.
	var err error = &x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"mx.example.org"}}, Host: "mx.example.net"}
	f := tlsstatus.ClassifyTLSError(err)
	fmt.Println(f.Feature, f.Reason)

	// Under opportunistic+starttls the same failure is compliant.
	f.Feature.Violation = false
	fmt.Println(f.Feature)
	// Output:
	// !requiretls:nocertmatch certificate-host-mismatch
	// requiretls:nocertmatch
}
