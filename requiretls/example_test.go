package requiretls_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
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
	var plaintext tls.ConnectionState // go-smtp's Client.TLSConnectionState without TLS
	afterHandshake := tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	fmt.Println(requiretls.Offered(preTLS, &plaintext), requiretls.Offered(postTLS, &afterHandshake))
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

func ExampleDialer_Dial() {
	ctx := context.Background()
	vars := map[string]string{"mydomain": "example.org"}
	pol, err := policy.Parse(policy.DefaultSMTPPolicy, &policy.ParseOptions{
		Vars: func(name string) (string, bool) { v, ok := vars[name]; return v, ok },
	})
	if err != nil {
		log.Fatal(err)
	}
	d := &requiretls.Dialer{LocalName: "mx.example.org"}
	conn, err := d.Dial(ctx, "mx.example.net:25", policy.Attempt{
		Tag:   policy.Required, // the message came with MAIL FROM:<...> REQUIRETLS
		Level: pol.Lookup("example.net"),
		Host:  "mx.example.net",
		Auth:  policy.AuthMTASTS, // the caller validated the MX with MTA-STS
	})
	var pe *requiretls.PolicyError
	if errors.As(err, &pe) {
		// Skip this MX, bounce with pe.Reply() (5.7.30 or 5.7.10), or defer.
		log.Printf("%s tls=%s: %s", pe.Decision.Action, pe.Field(), pe.Decision.Reason())
		return
	} else if err != nil {
		log.Fatal(err) // a network error: try again later
	}
	defer conn.Close()
	if err := conn.Mail("alice@example.org", nil); err != nil { // REQUIRETLS only if decided
		log.Fatal(err)
	}
	if err := conn.Rcpt("bob@example.net", nil); err != nil {
		log.Fatal(err)
	}
	w, err := conn.Data()
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(w, "Subject: hello\r\n\r\nHello, Bob.\r\n")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	conn.Quit()
	log.Printf("tls=%s", conn.Field())
}

// A PolicyError from the Dialer is matched the go-smtp way: errors.As with
// *smtp.SMTPError gives the reply to report, with the reason of the
// decision, and errors.Is tells the two refusals apart.
func ExamplePolicyError() {
	err := error(&requiretls.PolicyError{Decision: policy.Evaluate(policy.Attempt{
		Tag: policy.Required, Level: policy.Enforce, Stage: policy.BeforeConnect,
		Host: "mx.example.net", TLSLevel: tlsstatus.Encrypt, // TLS without certificate checks
	})})
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		fmt.Println(se.Code, se.EnhancedCode)
		fmt.Println(se.Message)
	}
	fmt.Println(errors.Is(err, requiretls.ErrEncryptionNeeded), errors.Is(err, requiretls.ErrSupportRequired))
	// Output:
	// 523 [5 7 10]
	// Sender requested REQUIRETLS, but my configured TLS security level 'encrypt' disables certificate matching. The last attempted server was mx.example.net
	// true false
}

// A bounce goes out through the same Dialer: dsn.Compose writes the DSN and
// says how to send it, with the null reverse path "MAIL FROM:<>". The tag
// given to Dial is the request: with Envelope.RequireTLS the DSN is sent
// with REQUIRETLS where the next hop has it, and, because its reverse path
// is null, still delivered where it has not (RFC 8689 Section 5).
func ExampleDialer_Dial_bounce() {
	original := strings.NewReader("From: bob@example.net\r\nSubject: plans\r\n\r\nThe body is never returned.\r\n")
	var msg bytes.Buffer
	env, err := dsn.Compose(&msg, &dsn.Report{
		From:         "MAILER-DAEMON@mx.example.org",
		To:           "bob@example.net", // the original's envelope sender
		ReportingMTA: "dns; mx.example.org",
		Recipients: []dsn.Recipient{{
			FinalRecipient: "rfc822; alice@example.com",
			Action:         dsn.ActionFailed,
			Status:         "5.7.30",
			DiagnosticCode: "smtp; 550 5.7.30 REQUIRETLS support required",
		}},
		RequireTLS: true, // the original came with MAIL FROM:<...> REQUIRETLS
	}, original)
	if err != nil {
		log.Fatal(err)
	}
	tag := policy.Default
	if env.RequireTLS {
		tag = policy.Required
	}
	d := &requiretls.Dialer{LocalName: "mx.example.org", Logger: slog.Default()}
	conn, err := d.Dial(context.Background(), "192.0.2.25:25", policy.Attempt{
		Tag:        tag,
		NullSender: true, // a DSN: RFC 8689 Section 5 never lets REQUIRETLS discard it
		Level:      policy.Enforce,
		Host:       "mx.example.net",
		Auth:       policy.AuthMTASTS,
	})
	if err != nil {
		log.Fatal(err) // defer the DSN and try again later
	}
	defer conn.Close()
	if err := conn.Mail("", nil); err != nil { // MAIL FROM:<>, REQUIRETLS only if decided
		log.Fatal(err)
	}
	if err := conn.Rcpt("bob@example.net", nil); err != nil {
		log.Fatal(err)
	}
	w, err := conn.Data()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	conn.Quit()
}

// A Dialer for a real MTA: connections from a chosen source address, and
// one log record per decision.
func ExampleDialer_hooks() {
	src := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.10")}, Timeout: time.Minute}
	d := &requiretls.Dialer{
		LocalName:   "mx.example.org",
		Timeout:     time.Minute,
		DialContext: src.DialContext,
		Logger:      slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	}
	_ = d // d.Dial logs e.g. {"time":"...","level":"INFO","msg":"requiretls dial","host":"mx.example.net","addr":"192.0.2.25:25","action":"send-requiretls","tls":"verify/requiretls"}
}
