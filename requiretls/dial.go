package requiretls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
	"github.com/requiretls/go-requiretls/policy/mtasts"
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
// connection to an smtp.Client, which carries on with MAIL, RCPT and DATA.
// The smtp.Client's own EHLO is answered with the reply the policy judged,
// keywords in upper case, and not sent: the client sees the extensions the
// policy saw, "requiretls" included (RFC 5321 Section 2.4 makes keywords
// case-insensitive, go-smtp looks them up in upper case).
//
// The certificate is verified against the MX host name, Attempt.Host (RFC
// 8689 Section 4.2.1 step 4), never against the address dialled, which is
// usually an IP address the caller resolved the name to.
type Dialer struct {
	// LocalName is the name sent in EHLO. If empty, "localhost" is used.
	LocalName string
	// TLSConfig configures STARTTLS (or implicit TLS). If nil, the system
	// roots are used. If its ServerName is empty, the name the certificate
	// must carry, also sent as SNI, is Attempt.Host without a trailing dot,
	// or the IP address of an address literal ("192.0.2.1", "[192.0.2.1]",
	// "[IPv6:2001:db8::1]"); when Host is empty or not a host name, no
	// certificate is authenticated. A ServerName that is set wins.
	//
	// The handshake itself never fails on the certificate: the Dialer
	// verifies it after the fact and reports the result to the policy as
	// [policy.Cert], so that opportunistic levels can still use TLS. With
	// VerifyConnection set, that function decides whether the server is
	// authenticated (for DANE, RFC 7672); otherwise it is PKIX against
	// RootCAs and ServerName (RFC 8689 Section 4.2.1 steps 3 and 4).
	// Because crypto/tls's own verification is off, the ConnectionState
	// VerifyConnection sees has no VerifiedChains: verify PeerCertificates.
	// VerifyConnection cannot be combined with TLSA or MTASTS: Dial
	// refuses to guess which of the two decides.
	TLSConfig *tls.Config
	// TLSA, if not empty, is the TLSA RRset of the MX host, Attempt.Host,
	// as a DNSSEC-validating resolver returned it for _25._tcp.<host> with
	// a "secure" answer (RFC 7672 Section 2.2). The server is then
	// authenticated by DANE and not by PKIX ([dane.Verify], on the
	// certificates as the server sent them; for DANE-TA(2) records the
	// name to match is TLSConfig's ServerName, by default Attempt.Host):
	//
	//   - with at least one usable record, Dial sets Attempt.Auth to
	//     [policy.AuthDANE] and, when Attempt.TLSLevel is empty, the TLS
	//     security level to "dane": a certificate that matches no record
	//     is not used for any message (RFC 7672 Section 2.2; Postfix
	//     level "dane");
	//   - when no record is usable (PKIX-TA(0) and PKIX-EE(1) records,
	//     unknown parameters, [dane.Record.Usable]), the server cannot be
	//     authenticated (RFC 7672 Section 2.2): Attempt.Auth is set to
	//     [policy.AuthNone] and an empty TLSLevel to "encrypt", TLS
	//     without certificate check, as Postfix downgrades "dane". An
	//     enforce REQUIRETLS message is then refused before connecting.
	//
	// A TLSLevel the caller set is kept. The records are ignored for a
	// message tagged [policy.NotRequired], which asks that recipient
	// DANE policies be ignored (RFC 8689 Section 4.2.2). Nil or empty: no
	// DANE (a "secure" answer without records means the host does not
	// use DANE). Do not modify the records while Dial runs. When TLSA is
	// not empty, MTASTS is not consulted: DANE takes precedence (RFC 8461
	// Section 2), also when none of its records is usable: the server
	// then cannot be authenticated at all (RFC 7672 Section 2.2).
	TLSA []dane.Record
	// MTASTS, if not nil, is the MTA-STS policy of the recipient domain
	// (RFC 8461), as the caller fetched it and parsed it with
	// [mtasts.ParsePolicy]. [mtasts.Policy.Auth] judges Attempt.Host, the
	// MX host:
	//
	//   - mode enforce, the MX host matches one of the policy's mx
	//     patterns: Dial sets Attempt.Auth to [policy.AuthMTASTS] and, when
	//     Attempt.TLSLevel is empty, the TLS security level to "secure"
	//     (a certificate that does not verify is not used for any
	//     message, RFC 8461 Section 5). The certificate is verified with
	//     PKIX against TLSConfig's RootCAs for the MX host name (RFC 8461
	//     Section 4.2), whatever TLSConfig's ServerName says;
	//   - mode enforce, no match: the host must not be used (RFC 8461
	//     Section 5) and Dial does not connect. When the policy refuses the
	//     message before connecting (an enforce REQUIRETLS message: 5.7.10),
	//     the [*PolicyError] wraps the MTA-STS error; otherwise the error
	//     returned wraps [mtasts.ErrMXNotAllowed]: try the next MX host,
	//     and defer the message when none is left (RFC 8461 Section 5.1).
	//     A policy whose mode is unknown is refused in the same way
	//     ([mtasts.ErrUnknownMode]);
	//   - mode testing with MTASTSOptions.Testing set, the MX host matches:
	//     as enforce, but the TLS security level is not raised (a policy in
	//     mode testing only reports);
	//   - otherwise (mode none, mode testing without the option, or no
	//     match in mode testing) the policy changes nothing: the host is
	//     handled as without MTA-STS (RFC 8461 Section 5; checklist E17).
	//
	// As with TLSA, a message tagged [policy.NotRequired] ignores the
	// policy (RFC 8689 Section 4.2.2).
	MTASTS *mtasts.Policy
	// MTASTSOptions is given to [mtasts.Policy.Auth]. If nil, only a
	// policy in mode enforce authenticates.
	MTASTSOptions *mtasts.Options
	// ImplicitTLS starts TLS at connection time (RFC 8314, port 465)
	// instead of with STARTTLS. Its first EHLO counts as the post-TLS one
	// (checklist E22).
	ImplicitTLS bool
	// LMTP speaks LMTP (RFC 2033) instead of SMTP, to deliver to a message
	// store or a content filter: LHLO takes the place of EHLO (there is no
	// HELO fallback), and after DATA the server replies once for each
	// recipient: send the message with [Conn.LMTPData] to get those
	// replies. Everything else, STARTTLS and the staged REQUIRETLS policy
	// included, is as for SMTP.
	//
	// LMTP is often spoken over a UNIX-domain socket: give Dial an address
	// "unix:/path/to/socket". Such a socket usually offers no STARTTLS,
	// and the Dialer does not take the socket for a secure channel: a
	// Required message under [policy.Enforce] is refused there (5.7.10
	// before connecting unless Attempt.Auth can authenticate the server,
	// 5.7.30 when STARTTLS is not offered). To deliver to a local store
	// that cannot do TLS, choose the level for it, as Postfix does with
	// lmtp_requiretls_policy (default opportunistic, looked up with the
	// key $myhostname for a UNIX-domain socket): under
	// [policy.Opportunistic] the message goes without REQUIRETLS, logged
	// "requiretls:none" and with RET=HDRS.
	LMTP bool
	// Timeout bounds each step of Dial: connecting (unless DialContext is
	// set), the greeting, each EHLO, STARTTLS and the TLS handshake. If
	// zero, 5 minutes (RFC 5321 Section 4.5.3.2). The context passed to
	// Dial bounds the whole; neither applies once Dial has returned.
	Timeout time.Duration
	// DialContext opens the connection to the address given to Dial, as
	// net.Dialer.DialContext does ("tcp" and "host:port", or "unix" and the
	// socket's path for an address "unix:/path"): set it to choose
	// the source address, go through a proxy, or count connections. If nil,
	// a net.Dialer with Timeout is used.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger, if not nil, gets one record for each Dial: the decision (its
	// action, the MX host, the address, the tls= field as [Conn.Field] or
	// [PolicyError.Field] formats it, and for a refusal its code and
	// reason), or the error when Dial returned before any decision. Sends
	// are logged at level Info, everything else at Warn.
	Logger *slog.Logger
}

// Conn is a session that policy allowed to go on to MAIL FROM. Send the
// message with its methods: [Conn.Mail], [Conn.Rcpt], [Conn.Data], then
// [Conn.Quit] (or [Conn.Close] to abandon it).
type Conn struct {
	// Client is the go-smtp client that carries the session, for what Conn
	// has no method for (Reset, Verify, LMTP). Do not call its Mail: it
	// would not apply the decision ([Conn.Mail] does).
	//
	// Client.TLSConnectionState reports no TLS even on a TLS session, so
	// [CheckMail] refuses Client: use [Conn.TLSConnectionState] (Conn.Mail
	// makes CheckMail's checks itself). go-smtp reports TLS only when the
	// net.Conn given to smtp.NewClient is a *tls.Conn, and it has no way to
	// start a client on a session that is already greeted; the Dialer
	// hands it a wrapper that replays the greeting and the EHLO reply it
	// read itself. Letting go-smtp run STARTTLS instead would give it the
	// *tls.Conn, but then go-smtp would read the EHLO reply after TLS, and
	// it keeps no raw reply for the policy to judge (see [Offered]).
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
	// (nil without TLS), line by line without reply codes. On an LMTP
	// session they are the replies to LHLO.
	EHLO, TLSEHLO []string

	lmtp  bool     // the session speaks LMTP ([Dialer.LMTP])
	rcpts []string // the recipients RCPT accepted in this transaction, on an LMTP session
}

// TLSConnectionState returns the state of the TLS session and true, or
// false when the session is in plaintext. It has the signature of
// smtp.Client's, for code written against either.
func (c *Conn) TLSConnectionState() (tls.ConnectionState, bool) {
	if c.TLS == nil {
		return tls.ConnectionState{}, false
	}
	return *c.TLS, true
}

// Rcpt sends RCPT TO for one recipient, as smtp.Client.Rcpt does. On an
// LMTP session it refuses, sending nothing, a recipient given twice in one
// transaction: the server's two replies after DATA could not be told apart
// (RFC 2033 Section 4.2 pairs them with RCPT commands by order only).
func (c *Conn) Rcpt(to string, opts *smtp.RcptOptions) error {
	if c.lmtp && slices.Contains(c.rcpts, to) {
		return fmt.Errorf("requiretls: %w: %q", errDuplicateRcpt, to)
	}
	if err := c.Client.Rcpt(to, opts); err != nil {
		return err
	}
	if c.lmtp {
		c.rcpts = append(c.rcpts, to)
	}
	return nil
}

// Data sends DATA and returns a writer for the message, as
// smtp.Client.Data does: close it to end the message and get the server's
// reply. On an LMTP session, Close returns an error when the server refused
// the message for any recipient; use [Conn.LMTPData] to learn which.
func (c *Conn) Data() (*smtp.DataCommand, error) {
	return c.Client.Data()
}

// Quit sends QUIT and closes the connection.
func (c *Conn) Quit() error {
	return c.Client.Quit()
}

// Close closes the connection without QUIT, for a session given up.
func (c *Conn) Close() error {
	return c.Client.Close()
}

// Mail sends MAIL FROM as the decision requires: with the REQUIRETLS
// parameter for SendRequireTLS, without it otherwise, and RET=HDRS instead of
// the sender's RET when a REQUIRETLS message is sent without it (Postfix
// "Fix 20250825"; go-smtp sends RET only to a server that offers DSN).
//
// A caller's explicit request is never dropped. opts.RequireTLS true asks
// for REQUIRETLS or nothing: unless the decision is SendRequireTLS, Mail
// sends nothing and returns an error wrapping [ErrEncryptionNeeded]
// (5.7.10: no TLS, or the server not authenticated) or
// [ErrSupportRequired] (5.7.30: no REQUIRETLS after TLS, or a session
// dialled for a message that was not tagged Required), as
// RFC 8689 Section 4.2.1 has it. This is so also for a Required message that
// the level let go without REQUIRETLS (a downgrade): to accept the
// downgrade, leave opts.RequireTLS false; the tag given to Dial is the
// request. Conversely, on a session decided SendRequireTLS, REQUIRETLS is
// sent even when opts.RequireTLS is false: false is go-smtp's zero value,
// which cannot tell "without" from "not said", and never lowers the tag.
func (c *Conn) Mail(from string, opts *smtp.MailOptions) error {
	var o smtp.MailOptions
	if opts != nil {
		o = *opts
	}
	granted := c.Decision.Action == policy.SendRequireTLS
	if o.RequireTLS && !granted {
		if err := refusal(c.TLS, c.CertErr, Offered(c.TLSEHLO, c.TLS)); err != nil {
			return err
		}
		return fmt.Errorf("requiretls: session dialled for a %s message, decided %s: %w", c.Attempt.Tag, c.Decision.Action, ErrSupportRequired)
	}
	if granted && c.TLS == nil {
		// Evaluate never decides so; this guards the invariant (RFC 8689
		// Section 2: "MUST only be specified" on a TLS session).
		return fmt.Errorf("requiretls: REQUIRETLS decided without TLS: %w", ErrEncryptionNeeded)
	}
	o.RequireTLS = granted
	if c.Decision.RetHdrs {
		o.Return = smtp.DSNReturnHeaders
	}
	if err := c.Client.Mail(from, &o); err != nil {
		return err
	}
	c.rcpts = nil // a new transaction (go-smtp forgets its recipients too)
	return nil
}

// Field returns the tls= log field of this session, e.g. "verify/requiretls"
// ([policy.Field] of its attempt and decision).
func (c *Conn) Field() tlsstatus.Field {
	return policy.Field(c.Attempt, c.Decision)
}

// PolicyError is returned by [Dialer.Dial] when the policy decided to skip
// this host, bounce or defer the message. It wraps [ErrSupportRequired]
// for 5.7.30 and [ErrEncryptionNeeded] for 5.7.10, and the network or TLS
// error that led to the decision, if any, for errors.Is.
//
// errors.As with an *smtp.SMTPError target gives [PolicyError.Reply], the
// reply with this decision's reason (which names, say, the certificate
// check that failed), not the sentinel's generic text.
type PolicyError struct {
	Decision policy.Decision // what policy.Evaluate decided: skip, bounce or defer, with its code and reason
	Attempt  policy.Attempt  // the facts it decided on, for the log
	CertErr  error           // why the certificate was not authenticated, if it was not
	Err      error           // the I/O, handshake or MTA-STS error behind the decision, if any
}

// Error returns the action, the code and Postfix's reason text.
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
	case policy.CodeSupportRequired:
		errs = append(errs, ErrSupportRequired)
	case policy.CodeEncryptionNeeded:
		errs = append(errs, ErrEncryptionNeeded)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// As sets an **smtp.SMTPError target to [PolicyError.Reply] and reports
// true; for a decision without a reply code, or another target, it reports
// false and errors.As goes on to the wrapped errors.
func (e *PolicyError) As(target any) bool {
	se, ok := target.(**smtp.SMTPError)
	if !ok || e.Decision.Code == policy.NoCode {
		return false
	}
	*se = e.Reply()
	return true
}

// Reply returns the decision as an SMTP reply, as a relay reports it to its
// own client or in a DSN's Diagnostic-Code.
func (e *PolicyError) Reply() *smtp.SMTPError {
	code := 550
	switch e.Decision.Code {
	case policy.CodeEncryptionNeeded:
		code = 523
	case policy.CodePolicyError, policy.CodeCryptoFailure, policy.CodeSecurityNotSupported:
		code = 451
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(e.Decision.Code.Enhanced()), Message: e.Decision.Reason()}
}

// Field returns the tls= log field of the failed attempt, e.g.
// "may?/!requiretls:nostarttls" ([policy.Field] of its attempt and decision).
func (e *PolicyError) Field() tlsstatus.Field {
	return policy.Field(e.Attempt, e.Decision)
}

// Dial connects to addr ("host:port", or "unix:/path" for a UNIX-domain
// socket, see [Dialer.LMTP]) and runs the session up to MAIL FROM,
// evaluating a at each stage; a.Stage and the facts of later stages are
// filled in by Dial. a.Host is the MX host name the certificate must carry
// (see [Dialer.TLSConfig]); addr is where to connect, usually one of its IP
// addresses. When the policy decides Skip, Bounce or Defer, Dial
// sends QUIT, closes the connection and returns a [*PolicyError]. Network
// errors before any decision are returned as they are: treat them as a
// temporary failure of this host ("requiretls?" in Postfix's log). When ctx
// ends first, the error wraps ctx.Err().
func (d *Dialer) Dial(ctx context.Context, addr string, a policy.Attempt) (*Conn, error) {
	c, err := d.dial(ctx, addr, a)
	if d.Logger != nil {
		d.log(ctx, addr, a.Host, c, err)
	}
	return c, err
}

// log writes the record of one Dial to d.Logger.
func (d *Dialer) log(ctx context.Context, addr, host string, c *Conn, err error) {
	attrs := []slog.Attr{slog.String("host", host), slog.String("addr", addr)}
	var pe *PolicyError
	switch {
	case err == nil:
		attrs = append(attrs, slog.String("action", c.Decision.Action.String()), slog.String("tls", c.Field().String()))
		d.Logger.LogAttrs(ctx, slog.LevelInfo, "requiretls dial", attrs...)
		return
	case errors.As(err, &pe):
		attrs = append(attrs, slog.String("action", pe.Decision.Action.String()), slog.String("tls", pe.Field().String()),
			slog.String("code", pe.Decision.Code.String()), slog.String("reason", pe.Decision.Reason()))
	}
	attrs = append(attrs, slog.String("error", err.Error()))
	d.Logger.LogAttrs(ctx, slog.LevelWarn, "requiretls dial", attrs...)
}

func (d *Dialer) dial(ctx context.Context, addr string, a policy.Attempt) (*Conn, error) {
	if (len(d.TLSA) > 0 || d.MTASTS != nil) && d.TLSConfig != nil && d.TLSConfig.VerifyConnection != nil {
		return nil, errors.New("requiretls: TLSA or MTASTS and TLSConfig.VerifyConnection are set: which one authenticates the server?")
	}
	cfg := d.tlsConfig(a.Host)
	verify, refused := d.facts(&a, cfg)
	a.Stage = policy.BeforeConnect
	if dec := policy.Evaluate(a); isFinal(dec.Action) {
		return nil, &PolicyError{Decision: dec, Attempt: a, Err: refused}
	}
	if refused != nil {
		return nil, refused
	}
	network, addr, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(d.LocalName, "\r\n") {
		// It would end the EHLO command line and start another.
		return nil, errors.New("requiretls: LocalName contains a line break")
	}
	dial := d.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: d.timeout()}).DialContext
	}
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("requiretls: connect: %w", err)
	}
	s := &dialSession{d: d, a: a, ctx: ctx, conn: raw, cfg: cfg, verify: verify}
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

// splitAddr returns the network and address to dial for addr: "unix" and
// the path for "unix:/path", otherwise "tcp" and addr, which must be
// "host:port".
func splitAddr(addr string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return "", "", errors.New("requiretls: empty UNIX-domain socket path")
		}
		return "unix", path, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("requiretls: %w", err)
	}
	return "tcp", addr, nil
}

func isFinal(a policy.Action) bool {
	return a == policy.Skip || a == policy.Bounce || a == policy.Defer
}

// facts applies d.TLSA or d.MTASTS to a (see [Dialer.TLSA] and
// [Dialer.MTASTS]) and returns the function that decides whether the
// server's certificate is authenticated, or the MTA-STS error that forbids
// this host.
func (d *Dialer) facts(a *policy.Attempt, cfg *tls.Config) (func(tls.ConnectionState) error, error) {
	switch {
	case a.Tag == policy.NotRequired:
		// RFC 8689 Section 4.2.2: recipient DANE and MTA-STS policies are
		// ignored.
	case len(d.TLSA) > 0:
		level := tlsstatus.Encrypt
		a.Auth = policy.AuthNone
		if slices.ContainsFunc(d.TLSA, dane.Record.Usable) {
			level, a.Auth = tlsstatus.DANE, policy.AuthDANE
		}
		if a.TLSLevel == "" {
			a.TLSLevel = level
		}
		var opts dane.Options
		if cfg.Time != nil {
			opts.Time = cfg.Time()
		}
		return dane.VerifyConnection(d.TLSA, cfg.ServerName, &opts), nil
	case d.MTASTS != nil:
		auth, err := d.MTASTS.Auth(a.Host, d.MTASTSOptions)
		if err != nil {
			a.Auth = policy.AuthNone
			return nil, fmt.Errorf("requiretls: %w", err)
		}
		if auth != policy.AuthMTASTS {
			break
		}
		a.Auth = auth
		if a.TLSLevel == "" && d.MTASTS.Mode == mtasts.ModeEnforce {
			a.TLSLevel = tlsstatus.Secure
		}
		mx := serverName(a.Host)
		return func(cs tls.ConnectionState) error { return verifyPKIX(cs, cfg, mx) }, nil
	}
	if cfg.VerifyConnection != nil {
		return cfg.VerifyConnection, nil
	}
	return func(cs tls.ConnectionState) error { return verifyPKIX(cs, cfg, cfg.ServerName) }, nil
}

func (d *Dialer) tlsConfig(host string) *tls.Config {
	var cfg *tls.Config
	if d.TLSConfig != nil {
		cfg = d.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName(host)
	}
	return cfg
}

// serverName is the name a certificate must carry for the MX host h (RFC
// 8689 Section 4.2.1 step 4, RFC 7817 Section 3): h without one trailing
// dot, or the address of an IP address or address literal (RFC 5321
// Section 4.1.3). It is "" when h is not a host name: then no certificate
// is authenticated (an empty name would let x509 accept any).
func serverName(h string) string {
	if inner, ok := strings.CutPrefix(h, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		tagged := len(inner) > 5 && strings.EqualFold(inner[:5], "IPv6:")
		if tagged {
			inner = inner[5:]
		}
		addr, err := netip.ParseAddr(inner)
		if !ok || err != nil || addr.Zone() != "" || tagged && !addr.Is6() {
			return ""
		}
		return addr.String()
	}
	if addr, err := netip.ParseAddr(h); err == nil {
		if addr.Zone() != "" {
			return ""
		}
		return addr.String()
	}
	h = strings.TrimSuffix(h, ".")
	for _, label := range strings.Split(h, ".") {
		if label == "" || strings.ContainsFunc(label, notInName) {
			return ""
		}
	}
	return h
}

// notInName reports whether r cannot be part of a host name or of a name
// x509 would match: controls, space, and the characters of address
// literals, ports, paths and wildcards.
func notInName(r rune) bool {
	return r <= ' ' || r == 0x7f || strings.ContainsRune("[]:/\\*", r)
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
	// verify decides whether the certificate is authenticated: PKIX,
	// TLSConfig.VerifyConnection or DANE.
	verify func(tls.ConnectionState) error

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
	if s.d.ImplicitTLS {
		s.tlsEHLO = lines // E22: the first EHLO is under TLS
	} else {
		s.ehlo = lines
	}

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
	if isFinal(dec.Action) {
		return nil, s.fail(dec, nil)
	}

	// Stage 4: the EHLO after TLS; only it counts (RFC 3207 Section 4.2).
	// It is sent whenever STARTTLS succeeded: MAIL needs it whatever the
	// decision.
	if s.tls != nil && !s.d.ImplicitTLS {
		if s.tlsEHLO, err = s.hello(); err != nil {
			return nil, err
		}
	}
	if dec.Action != policy.Continue {
		return s.handOver(dec)
	}
	s.a.Stage = policy.AfterTLSEHLO
	s.a.RequireTLSAnnounced = Offered(s.tlsEHLO, s.tls)
	dec = policy.Evaluate(s.a)
	if isFinal(dec.Action) {
		return nil, s.fail(dec, nil)
	}
	return s.handOver(dec)
}

// aLongTimeAgo is a deadline that makes pending and future I/O fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// timeout is Timeout or its default.
func (d *Dialer) timeout() time.Duration {
	if d.Timeout == 0 {
		return 5 * time.Minute
	}
	return d.Timeout
}

// deadline is when an exchange starting now must end: Timeout from now, or
// ctx's deadline if that is sooner.
func (s *dialSession) deadline() time.Time {
	deadline := time.Now().Add(s.d.timeout())
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

// hello sends EHLO, and HELO if EHLO is refused (no extensions then); on
// an LMTP session LHLO, which has no fallback (RFC 2033 Section 4.1).
func (s *dialSession) hello() ([]string, error) {
	name := helloName(s.d.LocalName)
	verb := s.d.helloVerb()
	code, msg, err := s.exchange(verb+" "+name, 250)
	if err == nil {
		return strings.Split(msg, "\n"), nil
	}
	if s.d.LMTP || code != 500 && code != 502 {
		return nil, fmt.Errorf("requiretls: %s: %w", verb, err)
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
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		s.certErr = s.verify(cs)
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

var errNoServerName = errors.New("requiretls: no host name to verify the certificate against")

// VerifyCertificate checks the server certificate of a TLS session as the
// [Dialer] does, for delivery code that runs its own SMTP session: the
// chain the server sent (cs.PeerCertificates, as a handshake with
// InsecureSkipVerify leaves it) must verify against cfg.RootCAs (the
// system roots when nil) at cfg.Time, for the MX host name mx, not the
// address dialled (RFC 8689 Section 4.2.1 authenticates the name; an
// address literal such as "[192.0.2.1]" is checked as that address). It
// returns the fact for [policy.Attempt].Cert and, when that is not
// policy.CertAuthenticated, why: an empty mx, no certificate, an untrusted
// chain or a name mismatch (an x509.HostnameError) never authenticate.
func VerifyCertificate(cs tls.ConnectionState, cfg *tls.Config, mx string) (policy.Cert, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	err := verifyPKIX(cs, cfg, serverName(mx))
	return certFact(err), err
}

// verifyPKIX verifies the server's chain against cfg.RootCAs for name.
func verifyPKIX(cs tls.ConnectionState, cfg *tls.Config, name string) error {
	if name == "" {
		// x509 skips the name check for an empty DNSName.
		return errNoServerName
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("requiretls: no server certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName:       name,
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
// greeting and sends EHLO before its first command, so the Dialer replays a
// greeting and answers that EHLO with the last EHLO reply it read itself;
// nothing goes over the wire.
func (s *dialSession) handOver(dec policy.Decision) (*Conn, error) {
	lines := s.ehlo
	if s.tls != nil {
		lines = s.tlsEHLO
	}
	name := helloName(s.d.LocalName)
	greeted := &replayConn{
		Conn:    s.conn,
		pending: []byte("220 go-requiretls session resumed\r\n"),
		hello:   s.d.helloVerb() + " " + name + "\r\n",
		reply:   canonicalEHLO(lines),
	}
	c := smtp.NewClient(greeted)
	if s.d.LMTP {
		c = smtp.NewClientLMTP(greeted)
	}
	if err := c.Hello(name); err != nil {
		return nil, fmt.Errorf("requiretls: %s: %w", s.d.helloVerb(), err)
	}
	s.conn.SetDeadline(time.Time{})
	return &Conn{
		Client: c, Decision: dec, Attempt: s.a, TLS: s.tls, CertErr: s.certErr,
		EHLO: s.ehlo, TLSEHLO: s.tlsEHLO, lmtp: s.d.LMTP,
	}, nil
}

// canonicalEHLO is an EHLO reply with the extensions of lines, as [Offered]
// reads them, keywords in upper case: what go-smtp looks up. Lines that are
// not part of the 250 reply are left out. A HELO session (no lines) gets a
// reply without extensions.
func canonicalEHLO(lines []string) []byte {
	out := []string{"go-requiretls"}
	for i, line := range lines {
		if k, params, ok := ehloLine(line); ok && i > 0 {
			line = strings.ToUpper(k)
			if params != "" {
				line += " " + params
			}
			out = append(out, line)
		}
	}
	var b strings.Builder
	for i, line := range out {
		sep := "-"
		if i == len(out)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + line + "\r\n")
	}
	return []byte(b.String())
}

// helloVerb is the greeting command: EHLO, or LHLO for LMTP.
func (d *Dialer) helloVerb() string {
	if d.LMTP {
		return "LHLO"
	}
	return "EHLO"
}

func helloName(n string) string {
	if n == "" {
		return "localhost"
	}
	return n
}

// replayConn returns pending before reading from the connection, and
// answers the first command written, which must be hello, with reply
// instead of sending it.
type replayConn struct {
	net.Conn
	pending []byte
	hello   string
	reply   []byte // nil once given
	written []byte
}

var errUnexpectedCommand = errors.New("requiretls: smtp.Client did not start with the expected EHLO")

func (c *replayConn) Write(p []byte) (int, error) {
	if c.reply == nil {
		return c.Conn.Write(p)
	}
	c.written = append(c.written, p...)
	switch {
	case string(c.written) == c.hello:
		c.pending = append(c.pending, c.reply...)
		c.reply, c.written = nil, nil
	case len(c.written) >= len(c.hello) || !strings.HasPrefix(c.hello, string(c.written)):
		return 0, errUnexpectedCommand
	}
	return len(p), nil
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
