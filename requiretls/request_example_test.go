package requiretls_test

import (
	"fmt"
	"log"

	"github.com/requiretls/go-requiretls/requiretls"
)

// A relay tags Required all mail from one internal network, except one
// subnet, and all mail of one law firm's domain, as if MAIL had carried
// REQUIRETLS. On a plaintext session such mail is refused with 523 5.7.10.
func ExampleRequestPolicy() {
	clients, err := requiretls.ParseRequestTable("cidr:{ {10.9.0.0/16 disable} {10.0.0.0/8 enforce} }", nil)
	if err != nil {
		log.Fatal(err)
	}
	senders, err := requiretls.ParseRequestTable("inline:{ {lawfirm.example = enforce} {.lawfirm.example = enforce} }", nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := requiretls.NewServer(queue{}, &requiretls.ServerOptions{
		Received: true,
		Request:  &requiretls.RequestPolicy{Client: clients, Sender: senders},
	})
	_ = srv // set Addr, Domain and TLSConfig, then ListenAndServe

	fmt.Println(clients.Requests("10.1.2.3"), clients.Requests("10.9.1.1"), clients.Requests("192.0.2.1"))
	fmt.Println(senders.Requests("mail.lawfirm.example"), senders.Requests("example.org"))
	// Output:
	// true false false
	// true false
}
