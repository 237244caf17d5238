package dsn_test

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/requiretls/go-requiretls/dsn"
)

func ExampleRedactMessage() {
	msg := "From: alice@example.org\nSubject: plans\n\nThe body is never returned.\n"
	if err := dsn.RedactMessage(os.Stdout, strings.NewReader(msg), nil); err != nil {
		fmt.Println(err)
	}
	// Output:
	// Content-Description: Undelivered Message Headers
	// Content-Type: text/rfc822-headers
	//
	// From: alice@example.org
	// Subject: plans
}

func ExampleRedactDSN() {
	bounce := "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nDelivery failed.\n" +
		"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n" +
		"Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.7.30\n\n" +
		"--b\nContent-Type: message/rfc822\n\nSubject: plans\n\nsecret body\n--b--\n"
	var out strings.Builder
	err := dsn.RedactDSN(&out, strings.NewReader(bounce), nil)
	fmt.Println(err, strings.Contains(out.String(), "secret body"))
	fmt.Print(out.String()[strings.LastIndex(out.String(), "--b\n"):])
	// Output:
	// <nil> false
	// --b
	// Content-Description: Undelivered Message Headers
	// Content-Type: text/rfc822-headers
	//
	// Subject: plans
	//
	// --b--
}

func ExampleCompose() {
	rep := &dsn.Report{
		From:         "MAILER-DAEMON@mx.example.net",
		To:           "alice@example.org",
		ReportingMTA: "dns; mx.example.net",
		Date:         time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC),
		Recipients: []dsn.Recipient{{
			FinalRecipient: "rfc822; bob@example.com",
			Action:         dsn.ActionFailed,
			Status:         "5.7.30",
			DiagnosticCode: "smtp; 550 5.7.30 REQUIRETLS support required",
		}},
		RequireTLS: true,        // the original was sent with REQUIRETLS ...
		Ret:        dsn.RetFull, // ... so RET=FULL is disregarded (RFC 8689 Section 5)
	}
	var out strings.Builder
	env, err := dsn.Compose(&out, rep, strings.NewReader("Subject: plans\r\n\r\nsecret body\r\n"))
	fmt.Println(err, strings.Contains(out.String(), "secret body"), strings.Contains(out.String(), "text/rfc822-headers"))
	fmt.Printf("MAIL FROM:<> REQUIRETLS=%v full=%v\n", env.RequireTLS, env.Full)
	// Output:
	// <nil> false true
	// MAIL FROM:<> REQUIRETLS=false full=false
}
