package requiretls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// Dialer opens SMTP client sessions in which every step that RFC 8689
// Section 4.2.1 conditions is taken only when [policy.Evaluate] allows it:
// before connecting, after the first EHLO, after STARTTLS and after the EHLO
// that follows TLS. The zero Dialer is ready to use.
//
// go-smtp's client cannot send STARTTLS on a session it has already greeted
// (its only STARTTLS entry points EHLO as "localhost" and hide the reply), so
// the Dialer speaks the first part of the session itself: greeting, EHLO,
// STARTTLS, the TLS handshake and the EHLO after it. It then hands the
// connection to an smtp.Client, which sends its own EHLO (one extra round
// trip) and carries on with MAIL, RCPT and DATA.
type Dialer struct {
	// LocalName is the name sent in EHLO. If empty, "localhost" is used.
	LocalName string
	// TLSConfig configures STARTTLS (or implicit TLS). If nil, the system
	// roots are used and ServerName is the host of the address dialled.
	//
	// The handshake itself never fails on the certificate: the Dialer
	// verifies it after the fact and reports the result to the policy as
	// [policy.Cert], so that opportunistic levels can still use TLS. With
	// VerifyConnection set, that function decides whether the server is
	// authenticated (for DANE, RFC 7672); otherwise it is PKIX against
	// RootCAs and ServerName (RFC 8689 Section 4.2.1 steps 3 and 4).
	// Because crypto/tls's own verification is off, the ConnectionState
	// VerifyConnection sees has no VerifiedChains: verify PeerCertificates.
	TLSConfig *tls.Config
	// ImplicitTLS starts TLS at connection time (RFC 8314, port 465)
	// instead of with STARTTLS. Its first EHLO counts as the post-TLS one
	// (checklist E22).
	ImplicitTLS bool
	// Timeout bounds each step of Dial: the greeting, each EHLO (the
	// smtp.Client's included), STARTTLS and the TLS handshake. If zero, 5
	// minutes (RFC 5321 Section 4.5.3.2). The context passed to Dial bounds
	// the whole; neither applies once Dial has returned.
	Timeout time.Duration
}

// Conn is a session that policy allowed to go on to MAIL FROM.
type Conn struct {
	// Client carries on the session: call [Conn.Mail] rather than
	// Client.Mail, then Client.Rcpt, Client.Data, Client.Quit.
	//
	// Client reads through a wrapper that replays the greeting the Dialer
	// consumed, so Client.TLSConnectionState reports no TLS even when the
	// session is under TLS, and [CheckMail] refuses it: use the TLS field.
	Client *smtp.Client
	// Decision is the last decision: SendRequireTLS or SendWithout.
	Decision policy.Decision
	// Attempt holds the facts the decision was made on.
	Attempt policy.Attempt
	// TLS is the state of the TLS session, nil without TLS.
	TLS *tls.ConnectionState
	// CertErr is why the certificate was not authenticated, nil if it was
	// or if there was no TLS. See tlsstatus.ClassifyTLSError for logging it.
	CertErr error
	// EHLO is the reply to the first EHLO, TLSEHLO to the one after TLS
	// (nil without TLS), line by line without reply codes.
	EHLO, TLSEHLO []string
}

// Mail sends MAIL FROM as the decision requires: with the REQUIRETLS
// parameter for SendRequireTLS, without it otherwise, and RET=HDRS instead of
// the sender's RET when a REQUIRETLS message is sent without it (Postfix
// "Fix 20250825"; go-smtp sends RET only to a server that offers DSN).
// When REQUIRETLS cannot be sent after all (the smtp.Client's own EHLO
// reply lacks the keyword as go-smtp spells it), the error wraps
// [ErrREQUIRETLSRequired] and nothing is sent.
func (c *Conn) Mail(from string, opts *smtp.MailOptions) error {
	var o smtp.MailOptions
	if opts != nil {
		o = *opts
	}
	o.RequireTLS = c.Decision.Action == policy.SendRequireTLS
	if o.RequireTLS && c.TLS == nil {
		// Evaluate never decides so; this guards the invariant (RFC 8689
		// Section 2: "MUST only be specified" on a TLS session).
		return fmt.Errorf("requiretls: REQUIRETLS decided without TLS: %w", ErrEncryptionNeeded)
	}
	if ok, _ := c.Client.Extension(Keyword); o.RequireTLS && !ok {
		// The policy matched the keyword case-insensitively (RFC 5321
		// Section 2.4); go-smtp matches it as sent and would refuse with
		// an error callers cannot match.
		return fmt.Errorf("requiretls: smtp.Client sees no REQUIRETLS in the EHLO reply: %w", ErrREQUIRETLSRequired)
	}
	if c.Decision.RetHdrs {
		o.Return = smtp.DSNReturnHeaders
	}
	return c.Client.Mail(from, &o)
}

// Field returns the tls= log field of this session, e.g. "verify/requiretls".
func (c *Conn) Field() tlsstatus.Field {
	return logField(c.Attempt, c.TLS != nil, false, c.Decision.Feature)
}

// PolicyError is returned by [Dialer.Dial] when the policy decided to skip
// this host, bounce or defer the message. It wraps [ErrREQUIRETLSRequired]
// for 5.7.30 and [ErrEncryptionNeeded] for 5.7.10, and the network or TLS
// error that led to the decision, if any.
type PolicyError struct {
	Decision policy.Decision
	Attempt  policy.Attempt
	CertErr  error // why the certificate was not authenticated, if it was not
	Err      error // the I/O or handshake error behind the decision, if any
}

func (e *PolicyError) Error() string {
	s := "requiretls: " + e.Decision.Action.String() + " " + e.Decision.Code.String() + ": " + e.Decision.Reason()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the reply sentinel matching the decision's code and the
// underlying error.
func (e *PolicyError) Unwrap() []error {
	var errs []error
	switch e.Decision.Code {
	case policy.Code5730:
		errs = append(errs, ErrREQUIRETLSRequired)
	case policy.Code5710:
		errs = append(errs, ErrEncryptionNeeded)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Reply returns the decision as an SMTP reply, as a relay reports it to its
// own client or in a DSN's Diagnostic-Code.
func (e *PolicyError) Reply() *smtp.SMTPError {
	code := 550
	switch e.Decision.Code {
	case policy.Code5710:
		code = 523
	case policy.Code4710, policy.Code475:
		code = 451
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(e.Decision.Code.Enhanced()), Message: e.Decision.Reason()}
}

// Field returns the tls= log field of the failed attempt, e.g.
// "may/!requiretls:nostarttls".
func (e *PolicyError) Field() tlsstatus.Field {
	tlsUp := e.Attempt.Stage >= policy.AfterSTARTTLS && e.Attempt.Handshake == policy.HandshakeOK
	return logField(e.Attempt, tlsUp, e.Decision.Action == policy.Defer || e.Attempt.Stage == policy.BeforeConnect, e.Decision.Feature)
}

// logField builds the two slots Postfix logs: the TLS security level (with
// ":none" when the session stayed in plaintext) and REQUIRETLS.
func logField(a policy.Attempt, tlsUp, undecided bool, reqtls tlsstatus.Feature) tlsstatus.Field {
	level := a.TLSLevel
	if level == "" {
		level = tlsstatus.May
		if a.Auth == policy.AuthNoEncryption {
			level = tlsstatus.None
		}
	}
	slot0 := tlsstatus.Feature{Name: level, Undecided: undecided}
	if !tlsUp && !undecided && level != tlsstatus.None {
		slot0.Final = tlsstatus.None
	}
	return tlsstatus.Field{slot0, reqtls}
}

// Dial connects to addr ("host:port") and runs the session up to MAIL FROM,
// evaluating a at each stage; a.Stage and the facts of later stages are
// filled in by Dial. When the policy decides Skip, Bounce or Defer, Dial
// sends QUIT, closes the connection and returns a [*PolicyError]. Network
// errors before any decision are returned as they are: treat them as a
// temporary failure of this host ("requiretls?" in Postfix's log). When ctx
// ends first, the error wraps ctx.Err().
func (d *Dialer) Dial(ctx context.Context, addr string, a policy.Attempt) (*Conn, error) {
	a.Stage = policy.BeforeConnect
	if dec := policy.Evaluate(a); isFinal(dec.Action) {
		return nil, &PolicyError{Decision: dec, Attempt: a}
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("requiretls: %w", err)
	}
	cfg := d.tlsConfig(host)
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("requiretls: connect: %w", err)
	}
	s := &dialSession{d: d, a: a, ctx: ctx, conn: raw, cfg: cfg}
	c, err := s.run()
	if err != nil {
		raw.Close()
		var pe *PolicyError
		if cerr := ctxErr(ctx); cerr != nil && !errors.Is(err, cerr) && !(errors.As(err, &pe) && pe.Err == nil) {
			// The I/O error (or the failed handshake the policy judged)
			// is only the way the cancellation showed.
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, err
	}
	return c, nil
}

// ctxErr is ctx.Err(), also when ctx's deadline has passed but its timer has
// not fired yet: connection deadlines follow ctx's, so an I/O timeout can be
// seen a moment before ctx reports it.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func isFinal(a policy.Action) bool {
	return a == policy.Skip || a == policy.Bounce || a == policy.Defer
}

func (d *Dialer) tlsConfig(host string) *tls.Config {
	var cfg *tls.Config
	if d.TLSConfig != nil {
		cfg = d.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// dialSession is the client side of one session until MAIL FROM.
type dialSession struct {
	d    *Dialer
	a    policy.Attempt
	ctx  context.Context
	conn net.Conn
	lim  *limitedConn // under text: bounds each reply
	text *textproto.Conn
	cfg  *tls.Config

	tls     *tls.ConnectionState
	certErr error
	ehlo    []string
	tlsEHLO []string
}

func (s *dialSession) run() (*Conn, error) {
	// s.conn becomes the TLS connection later; its deadlines are raw's.
	raw := s.conn
	stop := context.AfterFunc(s.ctx, func() { raw.SetDeadline(aLongTimeAgo) })
	defer stop()

	if s.d.ImplicitTLS {
		if err := s.handshake(); err != nil {
			s.a.Stage = policy.AfterSTARTTLS
			s.a.STARTTLSOffered = true
			return nil, s.fail(policy.Evaluate(s.a), err)
		}
	}
	if s.text == nil {
		s.newText()
	}
	if _, _, err := s.exchange("", 220); err != nil {
		return nil, fmt.Errorf("requiretls: greeting: %w", err)
	}
	lines, err := s.hello()
	if err != nil {
		return nil, err
	}
	s.ehlo = lines

	// Stage 2: after the first EHLO.
	s.a.Stage = policy.AfterEHLO
	s.a.STARTTLSOffered = s.d.ImplicitTLS || hasKeyword(lines, "STARTTLS")
	dec := policy.Evaluate(s.a)
	switch {
	case isFinal(dec.Action):
		return nil, s.fail(dec, nil)
	case dec.Action != policy.Continue:
		return s.handOver(dec)
	}

	// Stage 3: after STARTTLS (or the implicit TLS handshake).
	s.a.Stage = policy.AfterSTARTTLS
	if !s.d.ImplicitTLS {
		code, msg, err := s.exchange("STARTTLS", 220)
		switch {
		case code >= 400 && code < 600:
			s.a.Handshake = policy.HandshakeRefused
			s.a.STARTTLSReply = fmt.Sprintf("%d %s", code, strings.ReplaceAll(msg, "\n", " "))
		case err != nil:
			return nil, fmt.Errorf("requiretls: STARTTLS: %w", err)
		default:
			if err := s.handshake(); err != nil {
				return nil, s.fail(policy.Evaluate(s.a), err)
			}
		}
	}
	if s.tls != nil {
		s.a.Handshake = policy.HandshakeOK
		s.a.Cert = certFact(s.certErr)
	}
	dec = policy.Evaluate(s.a)
	switch {
	case isFinal(dec.Action):
		return nil, s.fail(dec, nil)
	case dec.Action != policy.Continue:
		return s.handOver(dec)
	}

	// Stage 4: the EHLO after TLS; only it counts (RFC 3207 Section 4.2).
	if s.d.ImplicitTLS {
		s.tlsEHLO = s.ehlo
		s.ehlo = nil
	} else {
		if s.tlsEHLO, err = s.hello(); err != nil {
			return nil, err
		}
	}
	s.a.Stage = policy.AfterTLSEHLO
	s.a.RequireTLSAnnounced = Offered(s.tlsEHLO, true)
	dec = policy.Evaluate(s.a)
	if isFinal(dec.Action) {
		return nil, s.fail(dec, nil)
	}
	return s.handOver(dec)
}

// aLongTimeAgo is a deadline that makes pending and future I/O fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// deadline is when an exchange starting now must end: Timeout from now, or
// ctx's deadline if that is sooner.
func (s *dialSession) deadline() time.Time {
	timeout := s.d.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	if d, ok := s.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return deadline
}

// setDeadline sets t on conn, or a past deadline once ctx is done. Checking
// ctx after setting t means a cancellation is never overwritten: either it
// is seen here, or the AfterFunc in run sets its deadline after this one.
func (s *dialSession) setDeadline(conn net.Conn, t time.Time) {
	conn.SetDeadline(t)
	if s.ctx.Err() != nil {
		conn.SetDeadline(aLongTimeAgo)
	}
}

// exchange sends cmd (none if empty) and reads one reply.
func (s *dialSession) exchange(cmd string, want int) (int, string, error) {
	s.setDeadline(s.conn, s.deadline())
	s.lim.left = maxReply
	if cmd != "" {
		if err := s.text.PrintfLine("%s", cmd); err != nil {
			return 0, "", err
		}
	}
	code, msg, err := s.text.ReadResponse(want)
	var te *textproto.Error
	if errors.As(err, &te) {
		// The same error type the smtp.Client returns after hand-over.
		return code, msg, replyError(te)
	}
	if err == nil && s.text.R.Buffered() > 0 {
		// A server may not send before it is asked; bytes that arrive
		// early could be injected before TLS (CVE-2011-0411 class).
		return code, msg, errors.New("requiretls: unexpected data after the reply")
	}
	return code, msg, err
}

// replyError turns an unexpected reply into an *smtp.SMTPError, reading the
// enhanced status code (RFC 3463) at the start of its text if there is one.
func replyError(te *textproto.Error) *smtp.SMTPError {
	se := &smtp.SMTPError{Code: te.Code, Message: te.Msg}
	if first, rest, ok := strings.Cut(te.Msg, " "); ok {
		var ec smtp.EnhancedCode
		if n, _ := fmt.Sscanf(first, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); n == 3 && first == fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2]) {
			se.EnhancedCode, se.Message = ec, rest
		}
	}
	return se
}

// maxReply bounds the bytes of one reply the Dialer reads (greeting, EHLO,
// STARTTLS). net/textproto takes lines without a reply code as part of a
// multi-line reply, so a server that never ends one would otherwise cost
// memory until the timeout; real EHLO replies are well under 4 KiB.
const maxReply = 64 << 10

var errReplyTooLong = errors.New("requiretls: reply longer than 64 KiB")

// limitedConn fails reads once left bytes have been read.
type limitedConn struct {
	net.Conn
	left int
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errReplyTooLong
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

// newText starts reading and writing commands on s.conn.
func (s *dialSession) newText() {
	s.lim = &limitedConn{Conn: s.conn}
	s.text = textproto.NewConn(s.lim)
}

// hello sends EHLO, and HELO if EHLO is refused (no extensions then).
func (s *dialSession) hello() ([]string, error) {
	name := helloName(s.d.LocalName)
	code, msg, err := s.exchange("EHLO "+name, 250)
	if err == nil {
		return strings.Split(msg, "\n"), nil
	}
	if code != 500 && code != 502 {
		return nil, fmt.Errorf("requiretls: EHLO: %w", err)
	}
	if _, _, err := s.exchange("HELO "+name, 250); err != nil {
		return nil, fmt.Errorf("requiretls: HELO: %w", err)
	}
	return nil, nil
}

// handshake runs TLS on s.conn, recording whether the certificate is
// authenticated without letting a bad one fail the handshake.
func (s *dialSession) handshake() error {
	cfg := s.cfg.Clone()
	verify := s.cfg.VerifyConnection
	if verify == nil {
		verify = func(cs tls.ConnectionState) error { return verifyPKIX(cs, s.cfg) }
	}
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		s.certErr = verify(cs)
		return nil
	}
	tc := tls.Client(s.conn, cfg)
	s.setDeadline(s.conn, s.deadline())
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.a.Handshake = policy.HandshakeFailed
		return fmt.Errorf("requiretls: TLS handshake: %w", err)
	}
	cs := tc.ConnectionState()
	s.conn, s.tls = tc, &cs
	s.newText()
	return nil
}

func verifyPKIX(cs tls.ConnectionState, cfg *tls.Config) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("requiretls: no server certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName:       cfg.ServerName,
		Roots:         cfg.RootCAs,
		Intermediates: inter,
		CurrentTime:   timeOf(cfg),
	})
	return err
}

func timeOf(cfg *tls.Config) time.Time {
	if cfg.Time != nil {
		return cfg.Time()
	}
	return time.Now()
}

func certFact(err error) policy.Cert {
	var he x509.HostnameError
	switch {
	case err == nil:
		return policy.CertAuthenticated
	case errors.As(err, &he):
		return policy.CertNameMismatch
	}
	return policy.CertUntrusted
}

// fail ends the session after a decision not to send here.
func (s *dialSession) fail(dec policy.Decision, err error) error {
	if s.text != nil && err == nil {
		s.exchange("QUIT", 221) // best effort: the host is being left anyway
	}
	return &PolicyError{Decision: dec, Attempt: s.a, CertErr: s.certErr, Err: err}
}

// handOver gives the greeted connection to an smtp.Client. go-smtp reads a
// greeting before its first command, so the Dialer replays one. The
// Client's EHLO is still part of Dial: Timeout and ctx bound it.
func (s *dialSession) handOver(dec policy.Decision) (*Conn, error) {
	greeted := &replayConn{Conn: s.conn, pending: []byte("220 go-requiretls session resumed\r\n"), dialing: s}
	c := smtp.NewClient(greeted)
	if err := c.Hello(helloName(s.d.LocalName)); err != nil {
		return nil, fmt.Errorf("requiretls: EHLO: %w", err)
	}
	greeted.dialing = nil
	s.conn.SetDeadline(time.Time{})
	return &Conn{
		Client: c, Decision: dec, Attempt: s.a, TLS: s.tls, CertErr: s.certErr,
		EHLO: s.ehlo, TLSEHLO: s.tlsEHLO,
	}, nil
}

func helloName(n string) string {
	if n == "" {
		return "localhost"
	}
	return n
}

// replayConn returns pending before reading from the connection. While
// dialing is set, the deadlines the smtp.Client sets are kept within the
// Dialer's.
type replayConn struct {
	net.Conn
	pending []byte
	dialing *dialSession
}

func (c *replayConn) SetDeadline(t time.Time) error {
	if c.dialing == nil {
		return c.Conn.SetDeadline(t)
	}
	if d := c.dialing.deadline(); t.IsZero() || d.Before(t) {
		t = d
	}
	c.dialing.setDeadline(c.Conn, t)
	return nil
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
