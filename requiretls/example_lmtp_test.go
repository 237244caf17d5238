package requiretls_test

import (
	"context"
	"errors"
	"log"
	"strings"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

// A relay hands its mail to a local message store over LMTP on a
// UNIX-domain socket, with Postfix's default lmtp_requiretls_policy
// (opportunistic, looked up with $myhostname for a socket): a REQUIRETLS
// message goes there without the parameter, since the socket has no TLS,
// and the store's reply for each recipient says whom to bounce.
func ExampleDialer_lmtp() {
	pol, err := policy.Parse(policy.DefaultLMTPPolicy, nil)
	if err != nil {
		log.Fatal(err)
	}
	const myhostname = "mx.example.org"
	d := &requiretls.Dialer{LocalName: myhostname, LMTP: true}
	conn, err := d.Dial(context.Background(), "unix:/run/dovecot/lmtp", policy.Attempt{
		Tag:   policy.Required,
		Level: pol.Lookup(myhostname),
		Host:  myhostname,
	})
	var pe *requiretls.PolicyError
	if errors.As(err, &pe) {
		log.Printf("%s tls=%s: %s", pe.Decision.Action, pe.Field(), pe.Decision.Reason())
		return
	} else if err != nil {
		log.Fatal(err) // a network error: try again later
	}
	defer conn.Close()
	if err := conn.Mail("alice@example.net", nil); err != nil {
		log.Fatal(err)
	}
	for _, rcpt := range []string{"bob@example.org", "carol@example.org"} {
		if err := conn.Rcpt(rcpt, nil); err != nil {
			log.Printf("%s: %v", rcpt, err) // refused at RCPT: bounce or retry it
		}
	}
	replies, err := conn.LMTPData(strings.NewReader("Subject: hello\r\n\r\nHello.\r\n"))
	if err != nil && replies == nil {
		log.Fatal(err) // nobody got it: try again later
	}
	for rcpt, reply := range replies {
		if reply.Err != nil {
			log.Printf("%s: %v", rcpt, reply.Err) // 5xx: bounce this recipient, else retry it
		} else {
			log.Printf("%s: delivered (250 %s)", rcpt, reply.Text)
		}
	}
	conn.Quit()
	log.Printf("tls=%s", conn.Field()) // tls=may:none/requiretls:none
}
