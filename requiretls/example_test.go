package requiretls_test

import (
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

func ExampleParseMail() {
	m, err := requiretls.ParseMail("MAIL FROM:<roger@example.org> REQUIRETLS")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.From, m.RequireTLS())

	_, err = requiretls.ParseMail("MAIL FROM:<roger@example.org> REQUIRETLS=YES")
	reply := requiretls.ReplyFor(err)
	fmt.Println(errors.Is(err, requiretls.ErrValue), reply.Code, reply.EnhancedCode, reply.Message)
	// Output:
	// roger@example.org true
	// true 501 [5 5 4] REQUIRETLS takes no value
}

func ExampleOffered() {
	preTLS := []string{"mx.example.net Hello", "STARTTLS", "REQUIRETLS"}
	postTLS := []string{"mx.example.net Hello", "PIPELINING", "requiretls"}
	fmt.Println(requiretls.Offered(preTLS, false), requiretls.Offered(postTLS, true))
	// Output: false true
}

// queue is a stand-in for a real message store.
type queue struct{}

func (queue) NewSession(*smtp.Conn) (smtp.Session, error) { return &queueSession{}, nil }

type queueSession struct{ tag policy.Tag }

func (s *queueSession) SetTag(tag policy.Tag)                { s.tag = tag } // requiretls.Tagger
func (s *queueSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *queueSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *queueSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (s *queueSession) Reset()                               {}
func (s *queueSession) Logout() error                        { return nil }

func ExampleNewServer() {
	s := requiretls.NewServer(queue{}, &requiretls.ServerOptions{Received: true})
	s.Addr = "127.0.0.1:2525"
	s.Domain = "mx.example.net"
	// s.TLSConfig = ...: without it, no session is ever under TLS and every
	// REQUIRETLS request is refused with 523 5.7.10.
	log.Fatal(s.ListenAndServe())
}

func ExampleCheckMail() {
	c, err := smtp.DialStartTLS("mx.example.net:25", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := requiretls.CheckMail(c); err != nil {
		var se *smtp.SMTPError
		errors.As(err, &se)
		log.Fatalf("cannot send with REQUIRETLS: %d %v", se.Code, se.EnhancedCode)
	}
	if err := c.Mail("roger@example.org", &smtp.MailOptions{RequireTLS: true}); err != nil {
		log.Fatal(err)
	}
}
