package mtasts_test

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/mtasts"
)

func ExampleParseRecord() {
	r, err := mtasts.ParseRecord("v=STSv1; id=20160831085700Z;")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.ID)
	_, err = mtasts.ParseRecord("v=STSv1; id=2016-08-31")
	fmt.Println(err)
	// Output:
	// 20160831085700Z
	// mtasts: id is not 1 to 32 letters and digits at offset 12 in "v=STSv1; id=2016-08-31"
}

func ExampleFindRecord() {
	// All TXT records of _mta-sts.example.com, as net.Resolver.LookupTXT
	// returns them.
	txts := []string{"v=spf1 -all", "v=STSv1; id=20190429T010101;"}
	r, err := mtasts.FindRecord(txts)
	fmt.Println(r.ID, err)

	_, err = mtasts.FindRecord(append(txts, "v=STSv1; id=other;"))
	fmt.Println(errors.Is(err, mtasts.ErrMultipleRecords))
	// Output:
	// 20190429T010101 <nil>
	// true
}

func ExampleParsePolicy() {
	// The body of https://mta-sts.example.com/.well-known/mta-sts.txt
	// (RFC 8461 Section 3.2).
	p, err := mtasts.ParsePolicy("version: STSv1\n" +
		"mode: enforce\n" +
		"mx: mail.example.com\n" +
		"mx: *.example.net\n" +
		"mx: backupmx.example.com\n" +
		"max_age: 604800\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Mode, p.MX, p.MaxAge)

	_, err = mtasts.ParsePolicy("version: STSv1\nmode: enforce\nmode: none\nmx: mail.example.com\nmax_age: 604800\n")
	fmt.Println(err)
	// Output:
	// enforce [mail.example.com *.example.net backupmx.example.com] 604800
	// mtasts: duplicate mode field at offset 29 in "version: STSv1\nmode: enforce\nmode: none\nmx: mail.example.com\nmax..."
}

func ExampleMatch() {
	for _, mx := range []string{"mail.example.com", "MAIL.example.com.", "example.com", "foo.bar.example.com"} {
		fmt.Println(mx, mtasts.Match("*.example.com", mx))
	}
	// Output:
	// mail.example.com true
	// MAIL.example.com. true
	// example.com false
	// foo.bar.example.com false
}

// The facts for one delivery attempt to an MX host, before connecting and
// after STARTTLS, for policy.Evaluate.
func ExamplePolicy_Auth() {
	p, _ := mtasts.ParsePolicy("version: STSv1\r\nmode: enforce\r\nmx: *.mail.protection.outlook.com\r\nmax_age: 604800\r\n")

	// Before connecting.
	mx := "contoso-com.mail.protection.outlook.com"
	auth, err := p.Auth(mx, nil)
	fmt.Println("validated by MTA-STS:", auth == policy.AuthMTASTS, err)

	// After STARTTLS: the certificate was verified with PKIX for the MX
	// name (tls.Config.ServerName = mx); verifyErr is the result.
	var verifyErr error
	fmt.Println("authenticated:", mtasts.Cert(mx, mx, verifyErr) == policy.CertAuthenticated)
	fmt.Println("name mismatch:", mtasts.Cert(mx, mx, x509.HostnameError{Host: mx}) == policy.CertNameMismatch)

	// An MX host the enforce policy does not list must not be used.
	_, err = p.Auth("mx.attacker.example", nil)
	fmt.Println(err)
	// Output:
	// validated by MTA-STS: true <nil>
	// authenticated: true
	// name mismatch: true
	// mtasts: MX host not allowed by the MTA-STS policy: "mx.attacker.example"
}
