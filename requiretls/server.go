package requiretls

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
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
	// information, so this is an addition; off by default.
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
	// field would let a plaintext client tag a message. The field is passed
	// on when it tags the message; every Require-TLS-ESMTP field of a
	// message it does not tag (a malformed one, say) is removed.
	//
	// Off by default: every Require-TLS-ESMTP field, valid or malformed, is
	// then removed before the wrapped session sees the message, as
	// header.Receive does for a header.Untrusted source, so that no later
	// hop that honours it (Postfix honours it from anyone) can be made to
	// by an untrusted client.
	TrustRequireTLSESMTP bool
	// FilterHeader makes the header section carry the message's tag for a
	// content filter that loses the envelope, as Postfix's
	// requiretls_esmtp_header does: a Required message gets exactly one
	// "Require-TLS-ESMTP: yes" field (any other copy is removed), and every
	// other message loses every such field, so that no client can forge the
	// tag for the filter's return trip to a trusted listener. Off by
	// default.
	FilterHeader bool
	// Request, if not nil, tags Required the messages its tables select by
	// client address, AUTH identity, sender or recipient domain, as if MAIL
	// had carried REQUIRETLS; on a session without TLS their MAIL or RCPT is
	// refused. See [RequestPolicy].
	Request *RequestPolicy
	// Logger, if not nil, gets one record for each message the glue sees
	// the data of, and for each MAIL or RCPT it refuses: the client's
	// address, whether the session is under TLS, whether MAIL asked for
	// REQUIRETLS, which key of the Request policy asked for it instead
	// ("requested_by": client, identity, sender or recipient), the
	// message's tag, and the error the message was refused with, if any
	// (by the glue or by the wrapped session). Accepted messages are
	// logged at level Info, refused ones at Warn.
	Logger *slog.Logger
}

// Whatever the options, the glue reads each message's header section to
// its end before the wrapped session sees any of it, because a field past
// the part read could change the tag or need to be removed. A header
// section it cannot read to its end, or cannot edit safely, is refused:
//
//   - longer than header.MaxHeaderBytes (1 MiB): [ErrHeaderTooLarge];
//   - ambiguous, that is a line that go-message, Postfix and RFC 5322 could
//     read differently (an empty field name, white space before the colon,
//     a bare CR or LF, a line over 998 octets; see header.ErrAmbiguous), or
//     an edit header.SetRaw or header.RemoveRaw refuses: [ErrUnsafeHeader];
//   - a read error of the message data (go-smtp's smtp.ErrDataTooLarge,
//     smtp.ErrDataReset for an aborted BDAT): that error.
//
// The wrapped session's Data is then not called, so a [Tagger] never gets
// a tag from an unfinished scan.
var (
	// ErrUnsafeHeader is the reply to a message whose header section the
	// glue cannot read or edit without risking that two parsers disagree on
	// its lines (SMTP smuggling, the bug Postfix 3.11.7 fixed).
	ErrUnsafeHeader = &smtp.SMTPError{
		Code:         554,
		EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message:      "Message header section is ambiguous and cannot be edited safely",
	}
	// ErrHeaderTooLarge is the reply to a message whose header section is
	// longer than header.MaxHeaderBytes: a field past that point could
	// change the message's tag unseen. 552 5.3.4, as go-smtp answers a
	// message over its size limit (smtp.ErrDataTooLarge).
	ErrHeaderTooLarge = &smtp.SMTPError{
		Code:         552,
		EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message:      "Message header section too large",
	}
)

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
// tags Required the transactions opts.Request selects (see [RequestPolicy]),
// reads each message's header section to its end (refusing one it cannot,
// see [ErrUnsafeHeader]), removes or adds Require-TLS-ESMTP fields as opts
// says, tells a session that implements [Tagger] the tag of each message
// before its data, and prepends a Received field if opts asks for one.
// Every other call reaches be's session unchanged, including AUTH and LMTP
// data.
//
// As go-smtp's Session.Data asks, the wrapped session's Data (or LMTPData)
// must consume its reader before it returns, and not keep it: the glue
// reuses the reader's buffer for a later message, and a read after Data
// has returned fails.
//
// The wrapped session is never called from two goroutines at once, except
// for Logout, which go-smtp may call from Server.Close. go-smtp runs the
// Data of a BDAT (CHUNKING) transaction on a goroutine of its own and may
// reset the transaction meanwhile; the wrapper then holds Reset back until
// that Data has returned (go-smtp ends its input first), so Data sees the
// tag of its own transaction. go-smtp holds the Conn's lock while it calls
// Reset, so Data must not call the Conn's Session or Close methods.
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

	// mu is held for every call into inner but Logout and AUTH. go-smtp
	// v0.26.0 calls Data for BDAT (CHUNKING, RFC 3030) on a goroutine of its
	// own, and Reset (RSET, EHLO, a failed chunk) from its command loop
	// while that Data may still run; go-smtp closes the chunk pipe first,
	// so a waiting Reset only waits for Data to see the end of its input.
	// The wrapped session thus sees its calls one at a time, in order, as
	// with DATA, and the tag it gets is that of the transaction its Data
	// belongs to. Logout takes no lock: go-smtp's Conn.Close calls it
	// before it closes the connection that a DATA still reads.
	mu  sync.Mutex
	txn transaction
	// authenticated is set when AUTH succeeds, on go-smtp's command loop,
	// which also runs MAIL. STARTTLS ends the session.
	authenticated bool
	msg           messageReader // what inner's Data reads; see scanTag
	tag           policy.Tag    // the current message's tag, once prepare knows it
}

// transaction is what the glue knows of the current mail transaction. It
// is taken at MAIL, on go-smtp's command loop: the Conn's hostname and
// connection change under EHLO and STARTTLS on that loop, which may run
// while a BDAT Data reads its message on another goroutine.
type transaction struct {
	requireTLS  bool   // MAIL carried REQUIRETLS, or requestedBy is set
	requestedBy string // the key kind of the Request policy that tagged it
	tls         bool   // under TLS at MAIL (STARTTLS ends every transaction)
	helo        string // the client's EHLO argument
	remote      net.Addr
	rcpts       int
	rcpt        string // the only recipient, for the Received field's "for"
}

// isTLS reports whether the session is under TLS, as the ok of
// s.conn.TLSConnectionState does, without copying the connection state.
func (s *session) isTLS() bool {
	_, ok := s.conn.Conn().(*tls.Conn)
	return ok
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	txn := transaction{requireTLS: opts != nil && opts.RequireTLS, tls: s.isTLS(), helo: s.conn.Hostname(), remote: s.conn.Conn().RemoteAddr()}
	if !txn.requireTLS {
		txn.requestedBy = s.requestAtMail(from)
		txn.requireTLS = txn.requestedBy != ""
	}
	// RFC 8689 Section 4.1: a REQUIRETLS request can only be honoured on
	// a session that is itself protected.
	if txn.requireTLS && !txn.tls {
		s.log(txn, nil, ErrEncryptionNeeded)
		return ErrEncryptionNeeded
	}
	if err := s.inner.Mail(from, opts); err != nil {
		return err
	}
	s.txn = txn
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	requested := !s.txn.requireTLS && s.opts.Request != nil && s.opts.Request.Recipient.Requests(domainOf(to))
	if requested && !s.txn.tls {
		// As at MAIL: RFC 8689 Section 4.1, no REQUIRETLS without TLS.
		s.log(transaction{requireTLS: true, requestedBy: byRecipient, remote: s.txn.remote, helo: s.txn.helo}, nil, ErrEncryptionNeeded)
		return ErrEncryptionNeeded
	}
	if err := s.inner.Rcpt(to, opts); err != nil {
		return err
	}
	if requested {
		s.txn.requireTLS, s.txn.requestedBy = true, byRecipient
	}
	s.txn.rcpts++
	s.txn.rcpt = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.msg.release()
	r, tag, err := s.prepare(r)
	if err == nil {
		err = s.inner.Data(r)
	}
	s.log(s.txn, tag, err)
	return err
}

func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txn = transaction{}
	s.inner.Reset()
}

func (s *session) Logout() error { return s.inner.Logout() }

// prepare reads the message's header section, works out its tag, edits
// the header (see [session.scanTag]), tells the wrapped session the tag and
// prepends the Received field, as asked to, and returns what the wrapped
// session is to read and the tag. It is called with mu held.
//
// A message whose header section cannot be read to its end is refused
// before the wrapped session sees anything of it. That is also what keeps
// a BDAT Data that go-smtp started late, after a Reset and the next MAIL,
// from taking the next transaction for its own: go-smtp closed its input
// before that Reset, so its first read fails.
func (s *session) prepare(r io.Reader) (io.Reader, *policy.Tag, error) {
	tag, r, err := s.scanTag(r)
	if err != nil {
		return nil, nil, err
	}
	s.tag = tag // a field, so that the tag's address does not escape per message
	if t, ok := s.inner.(Tagger); ok {
		t.SetTag(tag)
	}
	if s.opts.Received {
		r = io.MultiReader(strings.NewReader(s.received()), r)
	}
	return r, &s.tag, nil
}

// log writes the record of a message of txn to the Logger, if there is one:
// its tag (nil when the header section was refused before one was known)
// and the error it was refused with.
func (s *session) log(txn transaction, tag *policy.Tag, err error) {
	if s.opts.Logger == nil {
		return
	}
	attrs := []slog.Attr{slog.Bool("session_tls", txn.tls), slog.Bool("requiretls", txn.requireTLS && txn.requestedBy == "")}
	if txn.requestedBy != "" {
		attrs = append(attrs, slog.String("requested_by", txn.requestedBy))
	}
	if txn.remote != nil {
		attrs = append(attrs, slog.String("remote", txn.remote.String()))
	}
	if tag != nil {
		attrs = append(attrs, slog.String("tag", tag.String()))
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.opts.Logger.LogAttrs(context.Background(), level, "requiretls message", attrs...)
}

// received formats the Received trace field (RFC 5321 Section 4.4).
func (s *session) received() string {
	proto := "ESMTP"
	if s.conn.Server().LMTP {
		proto = "LMTP"
	}
	if s.txn.tls {
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
	helo := s.txn.helo
	if !traceSafe(helo) {
		helo = "unknown"
	}
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(helo)
	if ip, _, err := net.SplitHostPort(s.txn.remote.String()); err == nil {
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
	if s.txn.requireTLS {
		b.WriteString(" (requiretls)")
	}
	if s.txn.rcpts == 1 && traceSafe(s.txn.rcpt) {
		b.WriteString("\r\n\tfor <")
		b.WriteString(s.txn.rcpt)
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
	srv, err := s.inner.(smtp.AuthSession).Auth(mech)
	if err != nil || srv == nil {
		return srv, err
	}
	return authWatch{srv, s.session}, nil
}

// authWatch notes a successful AUTH for [RequestPolicy.Identity]: go-smtp
// answers 235 when Next is done without error.
type authWatch struct {
	sasl.Server
	s *session
}

func (a authWatch) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := a.Server.Next(response)
	if done && err == nil {
		a.s.authenticated = true
	}
	return challenge, done, err
}

// lmtpSession forwards LMTP data to a wrapped smtp.LMTPSession.
type lmtpSession struct{ *session }

func (s lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.msg.release()
	r, tag, err := s.prepare(r)
	if err == nil {
		err = s.inner.(smtp.LMTPSession).LMTPData(r, status)
	}
	s.log(s.txn, tag, err)
	return err
}

type authLMTPSession struct{ authSession }

func (s authLMTPSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	return lmtpSession(s.authSession).LMTPData(r, status)
}
