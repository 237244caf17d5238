package header_test

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/requiretls/go-requiretls/header"
)

func ExampleInspect() {
	msg := "From: bob@example.org\r\nTLS-Required: No\r\n\r\nYour certificate expired.\r\n"
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(msg)))
	if err != nil {
		panic(err)
	}
	f := header.Inspect(h)
	fmt.Println(f.TLSRequiredNo, f.TLSRequiredFields, f.RequireTLSESMTP)
	// Output: true 1 false
}

func ExampleInspect_malformed() {
	msg := "TLS-Required: No (please)\r\nTLS-Required: No\r\n\r\n"
	h, _ := textproto.ReadHeader(bufio.NewReader(strings.NewReader(msg)))
	f := header.Inspect(h)
	fmt.Println(f.TLSRequiredNo, f.TLSRequiredFields)
	fmt.Printf("ignoring malformed header: %q\n", f.Malformed[0])
	// Output:
	// false 2
	// ignoring malformed header: "TLS-Required: No (please)"
}

func ExampleScan() {
	msg := []byte("Subject: hi\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n")
	f, end, err := header.Scan(msg)
	if err != nil {
		panic(err)
	}
	fmt.Println(f.RequireTLSESMTP, f.TLSRequiredNo, end)
	// Output: true false 39
}

func ExampleScanReader() {
	msg := "TLS-Required: no\r\n\r\nA long body that ScanReader does not buffer.\r\n"
	f, rest, err := header.ScanReader(strings.NewReader(msg))
	if err != nil {
		panic(err)
	}
	all, _ := io.ReadAll(rest) // the whole message, for the rest of the pipeline
	fmt.Println(f.TLSRequiredNo, len(all) == len(msg))
	// Output: true true
}

func ExampleCheckTLSRequired() {
	for _, v := range []string{" No", " no", "\r\n NO", " Yes", " No (reason)"} {
		fmt.Printf("%q %v\n", v, header.CheckTLSRequired(v) == nil)
	}
	// Output:
	// " No" true
	// " no" true
	// "\r\n NO" true
	// " Yes" false
	// " No (reason)" false
}

func ExampleSetTLSRequiredNo() {
	var h textproto.Header
	h.Add("From", "bob@example.org")
	header.SetTLSRequiredNo(&h)
	header.SetTLSRequiredNo(&h) // idempotent: still one field
	var b strings.Builder
	_ = textproto.WriteHeader(&b, h)
	fmt.Print(strings.ReplaceAll(b.String(), "\r\n", "\n"))
	// Output:
	// TLS-Required: No
	// From: bob@example.org
}

func ExampleReceive() {
	msg := "Require-TLS-ESMTP: yes\r\nFrom: someone@example.net\r\n\r\n"
	h, _ := textproto.ReadHeader(bufio.NewReader(strings.NewReader(msg)))
	// From an SMTP client: the Postfix-only field is stripped, not honoured.
	f := header.Receive(&h, header.Untrusted)
	fmt.Println(f.RequireTLSESMTP, h.Has(header.FieldRequireTLSESMTP))
	// Output: false false
}

func ExampleSetRaw() {
	msg := []byte("From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n")
	out, err := header.SetRaw(msg, header.LineRequireTLSESMTPYes)
	if err != nil {
		panic(err) // for example a bare LF in the header: reject the message
	}
	fmt.Printf("%q\n", out)
	_, err = header.SetRaw([]byte("From: a\nSubject: hi\r\n\r\n"), header.LineRequireTLSESMTPYes)
	fmt.Println(err)
	// Output:
	// "From: a@example.org\r\nSubject: hi\r\nRequire-TLS-ESMTP: yes\r\n\r\nbody\r\n"
	// header: ambiguous line structure: bare LF in the header section at offset 7 in "From: a\nSubject: hi\r\n\r\n"
}

func ExampleRemoveRaw() {
	msg := []byte("Require-TLS-ESMTP: yes\r\nFrom: a@example.org\r\n\r\nbody\r\n")
	out, _ := header.RemoveRaw(msg, header.FieldRequireTLSESMTP)
	fmt.Printf("%q\n", out)
	// Output: "From: a@example.org\r\n\r\nbody\r\n"
}
