package requiretls_test

import (
	"context"
	"errors"
	"log"
	"strings"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
	"github.com/requiretls/go-requiretls/policy/mtasts"
	"github.com/requiretls/go-requiretls/requiretls"
)

// A caller whose DNSSEC-validating resolver returned the TLSA records of
// _25._tcp.mx.example.net gives them to the Dialer, which authenticates
// the server by DANE and reports policy.AuthDANE itself: no certificate
// code, no CA.
func ExampleDialer_dane() {
	var records []dane.Record
	for _, rr := range []string{ // the TLSA RRset, from a "secure" answer only
		"3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6",
	} {
		r, err := dane.ParseRecord(rr)
		if err != nil {
			log.Fatal(err) // a record that does not parse: treat the RRset as bogus
		}
		records = append(records, r)
	}
	d := &requiretls.Dialer{LocalName: "mx.example.org", TLSA: records}
	conn, err := d.Dial(context.Background(), "[2001:db8::25]:25", policy.Attempt{
		Tag:   policy.Required,
		Level: policy.Enforce,
		Host:  "mx.example.net", // Auth and the TLS security level come from the records
	})
	var pe *requiretls.PolicyError
	if errors.As(err, &pe) {
		log.Printf("tls=%s: %s", pe.Field(), pe.Decision.Reason()) // e.g. tls=!dane/!requiretls:nocertmatch
		return
	} else if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	log.Printf("tls=%s", conn.Field()) // tls=dane/requiretls, then Mail, Rcpt, Data
}

// A caller that fetched the recipient domain's MTA-STS policy gives it to
// the Dialer for each MX host: a host the policy lists is authenticated
// with PKIX for its name (policy.AuthMTASTS); one it does not list is not
// connected to.
func ExampleDialer_mtaSTS() {
	// https://mta-sts.example.net/.well-known/mta-sts.txt, fetched by the caller.
	body := "version: STSv1\r\nmode: enforce\r\nmx: *.example.net\r\nmax_age: 604800\r\n"
	sts, err := mtasts.ReadPolicy(strings.NewReader(body))
	if err != nil {
		log.Fatal(err) // as a failed fetch: keep a cached policy if there is one
	}
	d := &requiretls.Dialer{LocalName: "mx.example.org", MTASTS: &sts}
	for _, mx := range []string{"mx1.example.net", "backup.example.com"} {
		conn, err := d.Dial(context.Background(), mx+":25", policy.Attempt{
			Tag: policy.Required, Level: policy.Enforce, Host: mx, MoreHosts: mx != "backup.example.com",
		})
		if errors.Is(err, mtasts.ErrMXNotAllowed) {
			continue // RFC 8461 Section 5: never this host; under enforce REQUIRETLS also a *PolicyError
		} else if err != nil {
			continue // skip, network error: next MX
		}
		log.Printf("tls=%s", conn.Field()) // tls=secure/requiretls, then Mail, Rcpt, Data
		conn.Close()
		return
	}
}
