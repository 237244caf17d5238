package requiretls

import (
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/policy"
)

// ServerOptions configure the server glue. The zero value (or nil) is
// ready to use.
type ServerOptions struct {
	// Received, when true, prepends to each message a Received: trace field
	// (RFC 5321 Section 4.4) whose with-protocol says "ESMTPS" on a TLS
	// session and which carries the comment "(requiretls)" when the message
	// requested REQUIRETLS, as mox does. An EHLO name or recipient that
	// could break the field (a control character, space or one of "()<>;")
	// is written as "unknown" or left out. RFC 8689 defines no trace
	// information (checklist E21); off by default.
	Received bool
	// Hostname is this server's name in the Received field's "by" clause.
	// If empty, the smtp.Server's Domain is used.
	Hostname string
	// Now returns the time written in the Received field. If nil, time.Now
	// is used.
	Now func() time.Time
	// TrustRequireTLSESMTP honours a "Require-TLS-ESMTP: yes" header field
	// as a REQUIRETLS request, as Postfix 3.11 does for every client. Set it
	// only on a listener that nothing but your own trusted hops can reach,
	// such as the return path of a content filter: from anyone else the
	// field would let a plaintext client tag a message. Off by default: the
	// field is then passed on but does not tag the message.
	TrustRequireTLSESMTP bool
	// FilterHeader makes the header section carry the message's tag for a
	// content filter that loses the envelope, as Postfix's
	// requiretls_esmtp_header does: a Required message gets exactly one
	// "Require-TLS-ESMTP: yes" field, and every other message loses any
	// such field, so that no client can forge the tag for the filter's
	// return trip to a trusted listener. A message whose header section
	// cannot be edited safely (a bare CR or LF, see header.SetRaw, or a
	// header section longer than header.MaxHeaderBytes) is refused with
	// [ErrUnsafeHeader]. Off by default.
	FilterHeader bool
}

// ErrUnsafeHeader is the reply to a message whose header section
// [ServerOptions.FilterHeader] cannot edit without risking that two parsers
// disagree on its lines (SMTP smuggling, the bug Postfix 3.11.7 fixed).
var ErrUnsafeHeader = &smtp.SMTPError{
	Code:         554,
	EnhancedCode: smtp.EnhancedCode{5, 6, 0},
	Message:      "Message header cannot be edited safely (bare CR or LF, or too long)",
}

// NewServer returns an smtp.Server for be, wrapped by [NewBackend], with
// REQUIRETLS enabled. The caller sets Addr, Domain, TLSConfig and the rest
// as usual; REQUIRETLS is announced only once a session is under TLS.
func NewServer(be smtp.Backend, opts *ServerOptions) *smtp.Server {
	s := smtp.NewServer(NewBackend(be, opts))
	s.EnableREQUIRETLS = true
	return s
}

// NewBackend wraps be so that its sessions honour RFC 8689 Section 4.1.
// The smtp.Server using it must have EnableREQUIRETLS set (go-smtp then
// announces the keyword only under TLS, and answers 504 to the parameter
// without it); [NewServer] does that.
//
// A wrapped session refuses "MAIL FROM:<...> REQUIRETLS" on a session without
// TLS with [ErrEncryptionNeeded] before the wrapped session sees the command,
// tells a session that implements [Tagger] the tag of each message before its
// data, and prepends a Received field if opts asks for one. Every other call
// reaches be's session unchanged, including AUTH and LMTP data.
func NewBackend(be smtp.Backend, opts *ServerOptions) smtp.Backend {
	var o ServerOptions
	if opts != nil {
		o = *opts // later changes by the caller do not reach running sessions
	}
	opts = &o
	return smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		inner, err := be.NewSession(c)
		if err != nil {
			return nil, err
		}
		s := &session{inner: inner, conn: c, opts: opts}
		_, auth := inner.(smtp.AuthSession)
		_, lmtp := inner.(smtp.LMTPSession)
		switch {
		case auth && lmtp:
			return authLMTPSession{authSession{s}}, nil
		case auth:
			return authSession{s}, nil
		case lmtp:
			return lmtpSession{s}, nil
		}
		return s, nil
	})
}

type session struct {
	inner smtp.Session
	conn  *smtp.Conn
	opts  *ServerOptions

	// The current transaction.
	requireTLS bool
	rcpts      int
	rcpt       string // the only recipient, for the Received field's "for"
}

func (s *session) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	requireTLS := opts != nil && opts.RequireTLS
	// RFC 8689 Section 4.1 and checklist E5: a REQUIRETLS request can only
	// be honoured on a session that is itself protected.
	if requireTLS && !s.isTLS() {
		return ErrEncryptionNeeded
	}
	if err := s.inner.Mail(from, opts); err != nil {
		return err
	}
	s.requireTLS, s.rcpts, s.rcpt = requireTLS, 0, ""
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.inner.Rcpt(to, opts); err != nil {
		return err
	}
	s.rcpts++
	s.rcpt = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	r, err := s.prepare(r)
	if err != nil {
		return err
	}
	return s.inner.Data(r)
}

func (s *session) Reset() {
	s.requireTLS, s.rcpts, s.rcpt = false, 0, ""
	s.inner.Reset()
}

func (s *session) Logout() error { return s.inner.Logout() }

// prepare tells the wrapped session the message's tag, edits the header
// for a content filter and prepends the Received field, as asked to.
func (s *session) prepare(r io.Reader) (io.Reader, error) {
	t, tagger := s.inner.(Tagger)
	if tagger || s.opts.FilterHeader {
		var tag policy.Tag
		var err error
		if tag, r, err = s.scanTag(r); err != nil {
			return nil, err
		}
		if tagger {
			t.SetTag(tag)
		}
	}
	if s.opts.Received {
		r = io.MultiReader(strings.NewReader(s.received()), r)
	}
	return r, nil
}

// received formats the Received trace field (RFC 5321 Section 4.4).
func (s *session) received() string {
	proto := "ESMTP"
	if s.conn.Server().LMTP {
		proto = "LMTP"
	}
	if s.isTLS() {
		proto += "S" // RFC 3848
	}
	by := s.opts.Hostname
	if by == "" {
		by = s.conn.Server().Domain
	}
	now := time.Now
	if s.opts.Now != nil {
		now = s.opts.Now
	}
	// The EHLO argument and the recipient come from the client, and go-smtp
	// lets any byte but a space through, a bare CR included: copied into
	// the header section as they are, they could add lines of their own.
	helo := s.conn.Hostname()
	if !traceSafe(helo) {
		helo = "unknown"
	}
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(helo)
	if ip, _, err := net.SplitHostPort(s.conn.Conn().RemoteAddr().String()); err == nil {
		b.WriteString(" ([")
		if strings.Contains(ip, ":") {
			b.WriteString("IPv6:")
		}
		b.WriteString(ip)
		b.WriteString("])")
	}
	b.WriteString("\r\n\tby ")
	b.WriteString(by)
	b.WriteString(" with ")
	b.WriteString(proto)
	if s.requireTLS {
		b.WriteString(" (requiretls)")
	}
	if s.rcpts == 1 && traceSafe(s.rcpt) {
		b.WriteString("\r\n\tfor <")
		b.WriteString(s.rcpt)
		b.WriteString(">")
	}
	b.WriteString("; ")
	b.WriteString(now().Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// traceSafe reports whether a value from the client may be copied into the
// Received field: no control character, space or DEL that could break the
// line, and none of "()<>;" that delimit its clauses (RFC 5321 Section 4.4).
func traceSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c == 0x7f || strings.IndexByte("()<>;", c) >= 0 {
			return false
		}
	}
	return v != ""
}

// authSession forwards AUTH to a wrapped smtp.AuthSession.
type authSession struct{ *session }

func (s authSession) AuthMechanisms() []string {
	return s.inner.(smtp.AuthSession).AuthMechanisms()
}

func (s authSession) Auth(mech string) (sasl.Server, error) {
	return s.inner.(smtp.AuthSession).Auth(mech)
}

// lmtpSession forwards LMTP data to a wrapped smtp.LMTPSession.
type lmtpSession struct{ *session }

func (s lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	r, err := s.prepare(r)
	if err != nil {
		return err
	}
	return s.inner.(smtp.LMTPSession).LMTPData(r, status)
}

type authLMTPSession struct{ authSession }

func (s authLMTPSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	return lmtpSession(s.authSession).LMTPData(r, status)
}
