package dsn_test

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/dsn"
)

// refusingBackend is a go-smtp server that records the RET parameter and
// refuses every recipient as an MTA without REQUIRETLS support would
// (RFC 8689 Section 4.2.1: 5.7.30).
type refusingBackend struct{ ret chan smtp.DSNReturn }

func (b refusingBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return b, nil }
func (b refusingBackend) Mail(_ string, opts *smtp.MailOptions) error {
	b.ret <- opts.Return
	return nil
}
func (refusingBackend) Rcpt(string, *smtp.RcptOptions) error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 30}, Message: "REQUIRETLS support required"}
}
func (refusingBackend) Data(io.Reader) error { return nil }
func (refusingBackend) Reset()               {}
func (refusingBackend) Logout() error        { return nil }

// The recipient block of a DSN, from go-smtp's error for a refused RCPT,
// and the original's RET parameter, from the MAIL options a go-smtp server
// received: dsn.Ret is go-smtp's smtp.DSNReturn with the same values
// ("FULL", "HDRS"), so a conversion is all it takes.
func ExampleRecipientFromReply() {
	be := refusingBackend{ret: make(chan smtp.DSNReturn, 1)}
	srv := smtp.NewServer(be)
	srv.Domain, srv.EnableDSN = "mx.example.com", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Mail("alice@example.org", &smtp.MailOptions{Return: smtp.DSNReturnFull}); err != nil {
		fmt.Println(err)
		return
	}
	ret := dsn.Ret(<-be.ret) // what the receiving side stores with the message

	var se *smtp.SMTPError
	if err := c.Rcpt("bob@example.com", nil); errors.As(err, &se) {
		rc, err := dsn.RecipientFromReply("bob@example.com", "mx.example.com",
			dsn.SMTPReply{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: se.Message})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ret == dsn.RetFull)
		fmt.Println(rc.FinalRecipient)
		fmt.Println(rc.Action)
		fmt.Println(rc.Status)
		fmt.Println(rc.RemoteMTA)
		fmt.Println(rc.DiagnosticCode)
	}
	// Output:
	// true
	// rfc822; bob@example.com
	// failed
	// 5.7.30
	// dns; mx.example.com
	// smtp; 550 5.7.30 REQUIRETLS support required
}
