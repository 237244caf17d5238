package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/examples/internal/pki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// receiver is one of the lab's SMTP servers.
type receiver struct {
	name   string
	addr   string
	server *smtp.Server
	store  *store
}

// requestClients is the request policy of the sender's own submission
// server: mail from the firm's internal network 10.0.0.0/8 is tagged
// Required as if MAIL had carried REQUIRETLS (requiretls.RequestPolicy).
const requestClients = "cidr:{ {10.0.0.0/8 enforce} }"

// lab holds the receivers, the sender's trust anchors and request policy,
// and the tally.
type lab struct {
	ca        *pki.CA
	receivers map[string]*receiver
	request   *requiretls.RequestTable
	tally     tlsstatus.Tally
	queueID   int
}

func startLab() (*lab, error) {
	ca, err := pki.NewCA("go-requiretls demo CA")
	if err != nil {
		return nil, err
	}
	trusted, err := ca.Issue("localhost", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	selfSigned, err := pki.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	request, err := requiretls.ParseRequestTable(requestClients, nil)
	if err != nil {
		return nil, err
	}
	l := &lab{ca: ca, receivers: map[string]*receiver{}, request: request}
	for _, spec := range []struct {
		name     string
		glue     bool // announce REQUIRETLS after TLS (requiretls.NewServer)
		certific *tls.Certificate
	}{
		{"mx-requiretls", true, &trusted},
		{"mx-starttls", false, &trusted},
		{"mx-plaintext", false, nil},
		{"mx-badcert", true, &selfSigned},
	} {
		r, err := startReceiver(spec.name, spec.glue, spec.certific)
		if err != nil {
			l.close()
			return nil, err
		}
		l.receivers[spec.name] = r
	}
	return l, nil
}

func startReceiver(name string, glue bool, cert *tls.Certificate) (*receiver, error) {
	st := &store{}
	var s *smtp.Server
	if glue {
		s = requiretls.NewServer(st, &requiretls.ServerOptions{Received: true, Hostname: name})
	} else {
		s = smtp.NewServer(st)
	}
	s.Domain = name
	s.EnableDSN = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	if cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go s.Serve(ln)
	return &receiver{name: name, addr: ln.Addr().String(), server: s, store: st}, nil
}

func (l *lab) close() {
	for _, r := range l.receivers {
		r.server.Close()
	}
}

// store is the receivers' backend: it keeps what each message's envelope
// said, and the tag the requiretls glue worked out for it.
type store struct {
	mu   sync.Mutex
	last received
}

// received is what a receiver saw of the last message.
type received struct {
	requireTLS bool
	ret        smtp.DSNReturn
	tag        policy.Tag
	tagged     bool
}

func (st *store) NewSession(*smtp.Conn) (smtp.Session, error) { return &storeSession{st: st}, nil }

func (st *store) lastMessage() received {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last
}

type storeSession struct {
	st  *store
	cur received
}

func (s *storeSession) SetTag(tag policy.Tag) { s.cur.tag, s.cur.tagged = tag, true } // requiretls.Tagger

func (s *storeSession) Mail(_ string, opts *smtp.MailOptions) error {
	s.cur = received{}
	if opts != nil {
		s.cur.requireTLS, s.cur.ret = opts.RequireTLS, opts.Return
	}
	return nil
}

func (s *storeSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *storeSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.last = s.cur
	return nil
}

func (s *storeSession) Reset()        {}
func (s *storeSession) Logout() error { return nil }
