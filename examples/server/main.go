// Command server is a receiving SMTP server that honours REQUIRETLS
// (RFC 8689 Section 4.1), built on go-smtp with the requiretls glue. It
// announces REQUIRETLS only on a TLS session, refuses the MAIL parameter on
// a plaintext one (523 5.7.10), tags each message, removes any
// Require-TLS-ESMTP field a client sent (only a trusted hop may set it),
// refuses a header section it cannot read to its end or edit safely
// (552 5.3.4 over 1 MiB, 554 5.6.0 when ambiguous), and stores each message
// with a Received: trace field that says "(requiretls)" when the message
// asked for it.
//
// Usage:
//
//	server [-listen ADDR] [-cert FILE -key FILE] [-write-cert FILE] [-implicit-tls] [-out DIR] [-filter-header] [-hostname NAME]
//	       [-request-client TABLE] [-request-sender TABLE] [-request-recipient TABLE]
//
// Without -cert and -key it makes a self-signed certificate for -hostname,
// 127.0.0.1 and ::1 at start and prints its SHA-256 fingerprint; with
// -write-cert it also writes that certificate to FILE (PEM), which is then
// all a client needs to authenticate it ("probe -cafile FILE"). It logs
// one line per message to standard output, with the message's tag
// ("required", "not-required" or "default"), and with -out writes each
// message to DIR as one .eml file, with a Return-Path field for the
// envelope sender and the Received field for the rest.
//
// The -request-* flags tag Required, as if MAIL had carried REQUIRETLS, the
// messages from a client network, from a sender domain or to a recipient
// domain (requiretls.RequestPolicy): each TABLE is in Postfix's
// smtp_requiretls_policy syntax, with "enforce" to request REQUIRETLS and
// "disable" not to, for example
//
//	server -request-client 'cidr:{ {10.0.0.0/8 enforce} }' -request-sender 'inline:{ {.lawfirm.example = enforce} }'
//
// Table files ("cidr:/etc/request.cidr") are read at start. On a plaintext
// session such a message's MAIL or RCPT is refused with 523 5.7.10.
//
// It stops cleanly on SIGINT or SIGTERM: it closes the listener, lets the
// sessions in progress finish (for up to ten seconds), and exits 0. It exits
// 2 on a usage error or when it cannot start (unreadable certificate, -out
// not a directory, address in use), with a one-line message; it makes no
// certificate and writes no file before it listens.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/examples/internal/cli"
	"github.com/requiretls/go-requiretls/examples/internal/pki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
)

func main() { cli.Main(run) }

// config is what the flags say.
type config struct {
	listen, certFile, keyFile, writeCert, out, hostname string
	implicitTLS, filterHeader                           bool
	request                                             requiretls.RequestPolicy
	requested                                           bool // a -request-* flag was given
}

func parseFlags(args []string, stdout io.Writer) (*config, error) {
	var c config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:2525", "`address` to listen on")
	fs.StringVar(&c.certFile, "cert", "", "certificate chain `file` (PEM); with -key. Default: a self-signed certificate made at start")
	fs.StringVar(&c.keyFile, "key", "", "private key `file` (PEM); with -cert")
	fs.StringVar(&c.writeCert, "write-cert", "", "write the server certificate to `file` (PEM), for a client's -cafile")
	fs.BoolVar(&c.implicitTLS, "implicit-tls", false, "speak TLS from the first byte (RFC 8314, port 465 style) instead of offering STARTTLS")
	fs.StringVar(&c.out, "out", "", "write each accepted message to `dir` as a .eml file")
	fs.BoolVar(&c.filterHeader, "filter-header", false, "add \"Require-TLS-ESMTP: yes\" to REQUIRETLS messages, for content filters")
	fs.StringVar(&c.hostname, "hostname", "localhost", "this server's `name`, for the greeting, the Received field and the generated certificate")
	for _, f := range []struct {
		name, what string
		table      **requiretls.RequestTable
	}{
		{"request-client", "the client's IP address", &c.request.Client},
		{"request-sender", "the sender's domain", &c.request.Sender},
		{"request-recipient", "each recipient's domain", &c.request.Recipient},
	} {
		fs.Func(f.name, "tag Required, as if MAIL carried REQUIRETLS, what `table` (Postfix policy syntax: enforce or disable) selects by "+f.what, func(s string) error {
			t, err := requiretls.ParseRequestTable(s, &policy.ParseOptions{ReadFile: os.ReadFile})
			*f.table, c.requested = t, true
			return err
		})
	}
	if err := cli.Parse(fs, args, stdout,
		"usage: server [flags]\n\nA receiving SMTP server with REQUIRETLS (RFC 8689). Flags:",
		"\nExit status: 0 after SIGINT or SIGTERM, 2 on a usage error or when it cannot start."); err != nil {
		return nil, err // reported by run, on one line
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case (c.certFile == "") != (c.keyFile == ""):
		return nil, errors.New("-cert and -key go together")
	case c.hostname == "" || strings.ContainsAny(c.hostname, " \t\r\n"):
		return nil, fmt.Errorf("-hostname %q: not a host name", c.hostname)
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return nil, fmt.Errorf("-listen %s: %w", c.listen, err)
	}
	if c.out != "" {
		if fi, err := os.Stat(c.out); err != nil {
			return nil, fmt.Errorf("-out: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("-out %s: not a directory", c.out)
		}
	}
	return &c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stdout)
	if err != nil {
		return cli.UsageError(stderr, "server", err) // 0 after -h
	}
	logger := log.New(stdout, "server: ", log.LstdFlags)

	// Listen first: a busy port fails before a certificate is made.
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	defer l.Close()
	cert, err := certificate(c)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	written := ""
	if c.writeCert != "" {
		written = ", written to " + c.writeCert
	}
	logger.Printf("certificate for %s, SHA-256 fingerprint %s%s", cert.Leaf.Subject.CommonName, pki.Fingerprint(cert), written)

	// requiretls.NewServer is the whole REQUIRETLS receiving side: EHLO
	// keyword under TLS only, 523 5.7.10 on plaintext, the tag for
	// session.SetTag and the Received field.
	opts := &requiretls.ServerOptions{
		Received:     true,
		Hostname:     c.hostname,
		FilterHeader: c.filterHeader,
	}
	if c.requested {
		opts.Request = &c.request
	}
	srv := requiretls.NewServer(&backend{out: c.out, log: logger}, opts)
	srv.Domain = c.hostname
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.MaxMessageBytes = 25 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	srv.ErrorLog = log.New(stderr, "server: ", log.LstdFlags)

	mode := "STARTTLS"
	if c.implicitTLS {
		l = tls.NewListener(l, srv.TLSConfig)
		mode = "implicit TLS"
	}
	logger.Printf("listening on %s (%s)", l.Addr(), mode)

	// Until SIGINT or SIGTERM; then the sessions in progress get ten
	// seconds to finish.
	stopping := func() { logger.Print("shutting down") }
	if err := cli.Serve(ctx, srv, l, 10*time.Second, stopping); err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	return 0
}

// certificate loads or makes the server certificate and writes it to
// -write-cert, if given.
func certificate(c *config) (tls.Certificate, error) {
	cert, err := cli.Certificate(c.certFile, c.keyFile, c.hostname)
	if err != nil || c.writeCert == "" {
		return cert, err
	}
	certPEM, _, err := pki.KeyPEM(cert)
	if err == nil {
		err = os.WriteFile(c.writeCert, certPEM, 0o644)
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("-write-cert: %w", err)
	}
	return cert, nil
}

// backend stores messages in out, if set, and logs them.
type backend struct {
	out string
	log *log.Logger
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

// session is one SMTP session. It implements requiretls.Tagger, so the
// glue tells it each message's tag (RFC 8689 Section 4.1) before Data.
type session struct {
	b    *backend
	conn *smtp.Conn
	from string
	to   []string
	tag  policy.Tag
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) SetTag(t policy.Tag) { s.tag = t }

func (s *session) Data(r io.Reader) error {
	// RFC 5321 Section 4.4: the delivering server records the envelope
	// sender in Return-Path; the glue has already prepended Received.
	r = io.MultiReader(strings.NewReader("Return-Path: <"+s.from+">\r\n"), r)
	file, size, err := s.b.store(r)
	if err != nil {
		s.b.log.Printf("from=<%s>: not stored: %v", s.from, err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Message not stored"}
	}
	session := "plaintext"
	if cs, ok := s.conn.TLSConnectionState(); ok {
		session = strings.ReplaceAll(tls.VersionName(cs.Version), " ", "")
	}
	s.b.log.Printf("message from=<%s> to=<%s> tag=%s session=%s size=%d%s",
		s.from, strings.Join(s.to, ">,<"), s.tag, session, size, file)
	return nil
}

func (s *session) Reset() { s.from, s.to, s.tag = "", nil, policy.Default }

func (s *session) Logout() error { return nil }

// store writes the message to a new .eml file in b.out, or discards it,
// and returns " file=PATH" for the log and the size.
func (b *backend) store(r io.Reader) (string, int64, error) {
	if b.out == "" {
		n, err := io.Copy(io.Discard, r)
		return "", n, err
	}
	f, err := os.CreateTemp(b.out, ".incoming-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", n, err
	}
	// Rename so that a reader of the directory never sees half a message.
	unique := strings.TrimPrefix(filepath.Base(f.Name()), ".incoming-")
	name := filepath.Join(b.out, time.Now().UTC().Format("20060102T150405-")+unique+".eml")
	if err := os.Rename(f.Name(), name); err != nil {
		return "", n, err
	}
	return " file=" + name, n, nil
}
