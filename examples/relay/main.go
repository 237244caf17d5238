// Command relay is a small, real SMTP relay that enforces REQUIRETLS
// (RFC 8689 Section 4.2.1) on the way out. It accepts mail like
// examples/server and delivers each message to one next hop, running every
// stage of the delivery through policy.Evaluate (with requiretls.Dialer),
// under a per-destination policy written in Postfix 3.11's
// smtp_requiretls_policy syntax.
//
// Usage:
//
//	relay -nexthop HOST:PORT -bounce-dir DIR [-policy POLICY] [-tls-level verify|may|none]
//	      [-tlsa FILE] [-mta-sts FILE [-mta-sts-testing]]
//	      [-cafile FILE] [-servername NAME] [-listen ADDR] [-cert FILE -key FILE]
//	      [-implicit-tls] [-hostname NAME] [-timeout D] [-lmtp]
//
// # Delivery is synchronous
//
// The relay has no queue. It holds its reply to the client's DATA until its
// one delivery attempt is over, and answers with the outcome:
//
//   - delivered: 250;
//   - temporary failure (the next hop is down or says 4xx, a TLS handshake
//     failure, a policy configuration error): the 4xx reply, so that the
//     client's queue retries; the relay keeps nothing;
//   - final failure (the policy bounces the message, RFC 8689 Section 4.2.1,
//     or the next hop says 5xx): the relay bounces it as any MTA that has
//     accepted a message must (RFC 5321 Section 6.1). It composes the DSN
//     with package dsn, headers only for a REQUIRETLS message (RFC 8689
//     Section 5), writes it to -bounce-dir as ID.eml, logs where, and
//     answers 250: the sender learns of the failure from the DSN, and a
//     5xx as well would tell it twice. Sending the DSN is left out.
//     A message with an empty reverse path is never bounced (RFC 5321
//     Section 6.1): its client gets the 5xx instead.
//
// It accepts one recipient per transaction (others get 452 and the client
// sends them in another transaction, RFC 5321 Section 4.5.3.1.10), so that
// the reply to DATA is the outcome of exactly one delivery.
//
// # TLS to the next hop
//
// -tls-level is the TLS security level for the next hop, in Postfix's
// words ([policy.Attempt.TLSLevel], which policy enforces as Postfix does;
// it is slot 0 of the tls= log field), and sets the fact that policy needs
// before connecting, [policy.Attempt.Auth]:
//
//   - verify (default): the next hop is configured by hand, not found by an
//     MX lookup (checklist E14), so a certificate that verifies with PKIX
//     against -cafile (system roots if absent) and -servername (the next
//     hop's host if absent) authenticates it: policy.AuthStaticPKIX. Every
//     message then needs TLS (else 4.7.4) and that certificate (else
//     4.7.5), except one with "TLS-Required: No", for which policy caps the
//     level at may and logs it so (RFC 8689 Section 4.2.2).
//   - may: TLS when offered, no certificate check: policy.AuthNone. Under
//     enforce a REQUIRETLS message then bounces before connecting.
//   - none: no TLS: policy.AuthNoEncryption.
//
// # LMTP
//
// -lmtp delivers to the next hop with LMTP (RFC 2033), as Postfix's lmtp(8)
// delivers to a message store such as Dovecot, under the same staged
// REQUIRETLS policy; -policy then defaults to Postfix's
// lmtp_requiretls_policy (policy.DefaultLMTPPolicy, opportunistic).
// -nexthop may then also be a UNIX-domain socket, "unix:/path": its policy
// key is -hostname, as Postfix looks up $myhostname for a socket, and so is
// the name its certificate must carry (unless -servername). A socket that
// offers no STARTTLS needs -tls-level may or none. The store replies for
// the one recipient after DATA; a refusal there bounces or defers as at
// RCPT.
//
// # DANE and MTA-STS
//
// The relay looks up no TLSA records and fetches no MTA-STS policy: it
// takes what a DNSSEC-validating resolver or an HTTPS client would have
// returned from static files, and hands them to requiretls.Dialer as facts
// ([requiretls.Dialer.TLSA], [requiretls.Dialer.MTASTS]). The next hop is
// then treated as an MX host found by an MX lookup, named -servername (or
// the -nexthop host), and the facts, not -tls-level, set
// [policy.Attempt.Auth] and the TLS security level; -tls-level cannot be
// given with them.
//
//   - -tlsa FILE: the next hop's TLSA records (the "secure" RRset of
//     _25._tcp.NAME), one per line in presentation form, e.g.
//     "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";
//     empty lines and lines starting with "#" are skipped. The next hop is
//     authenticated by DANE (RFC 7672), at level dane: a DANE-EE(3) record
//     needs no CA and no name, a DANE-TA(2) record a chain the server sends
//     to the matched trust anchor and -servername in the certificate. When
//     no record is usable for SMTP (PKIX-TA(0), PKIX-EE(1), unknown
//     parameters) the level is encrypt and nothing authenticates the next
//     hop: under enforce a REQUIRETLS message bounces before connecting.
//     A record that does not parse stops the relay at start.
//   - -mta-sts FILE: the recipient domain's MTA-STS policy file (RFC 8461
//     Section 3.2, as fetched from
//     https://mta-sts.DOMAIN/.well-known/mta-sts.txt). In mode enforce a
//     next hop its mx patterns list is authenticated by PKIX for NAME
//     against -cafile, at level secure; one they do not list is never
//     connected to (RFC 8461 Section 5): the message bounces with 5.7.10
//     when it asked for REQUIRETLS under enforce, and gets 451 4.7.0
//     otherwise. Mode testing authenticates only with -mta-sts-testing;
//     mode none never (the relay then treats the next hop as without a
//     policy, at level may).
//
// With both, the TLSA records win (RFC 8461 Section 2). A message with
// "TLS-Required: No" ignores both (RFC 8689 Section 4.2.2).
//
// # Logs
//
// Each line on standard output has a syslog prefix. Delivery lines have
// Postfix's format, with the tls= field, so that tlsstatus.ParseLine and
// examples/tally read them:
//
//	Nov 29 12:00:00 localhost relay/smtp[4711]: 3F2A81C0D4: to=<bob@example.net>,
//	relay=localhost[127.0.0.1]:2525, delay=0.05, delays=0.01/0/0.03/0.01,
//	tls=verify/requiretls, dsn=2.0.0, status=sent (250 2.0.0 OK: queued)
//
// (one line). -policy defaults to Postfix 3.11's smtp_requiretls_policy
// (policy.DefaultSMTPPolicy): opportunistic for $mydomain, localhost and IP
// addresses, enforce elsewhere; $mydomain is -hostname without its first
// label, or "localdomain".
//
// It stops cleanly on SIGINT or SIGTERM, letting deliveries in progress
// finish, and exits 0. It exits 2 on a usage error or when it cannot start,
// with a one-line message.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/dsn"
	"github.com/requiretls/go-requiretls/examples/internal/cli"
	"github.com/requiretls/go-requiretls/examples/internal/pki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/dane"
	"github.com/requiretls/go-requiretls/policy/mtasts"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

func main() { cli.Main(run) }

// config is what the flags say.
type config struct {
	listen, certFile, keyFile, hostname string
	implicitTLS                         bool

	nexthop, host, port string
	socket              string // the path of a UNIX-domain socket next hop, else ""
	lmtp                bool   // deliver with LMTP (RFC 2033)
	policy              *policy.Policy
	tlsLevel            tlsstatus.Name
	auth                policy.Auth
	tls                 *tls.Config // for the next hop
	tlsa                []dane.Record
	sts                 *mtasts.Policy
	stsTesting          bool
	bounceDir           string
	timeout             time.Duration
}

// tlsLevels maps -tls-level to what policy must know before connecting.
var tlsLevels = map[tlsstatus.Name]policy.Auth{
	tlsstatus.Verify: policy.AuthStaticPKIX,
	tlsstatus.May:    policy.AuthNone,
	tlsstatus.None:   policy.AuthNoEncryption,
}

func parseFlags(args []string, stdout io.Writer) (*config, error) {
	var c config
	var policyText, level, cafile, servername, tlsaFile, stsFile string
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.StringVar(&c.nexthop, "nexthop", "", "deliver every message to this `host:port`, or with -lmtp to unix:/path (required)")
	fs.BoolVar(&c.lmtp, "lmtp", false, "deliver with LMTP (RFC 2033) instead of SMTP")
	fs.StringVar(&c.bounceDir, "bounce-dir", "", "write the DSN of each message that cannot be delivered to `dir` (required)")
	fs.StringVar(&policyText, "policy", policy.DefaultSMTPPolicy, "REQUIRETLS `policy` per next hop, Postfix smtp_requiretls_policy syntax")
	fs.StringVar(&level, "tls-level", "verify", "TLS security `level` for the next hop: verify, may or none")
	fs.StringVar(&cafile, "cafile", "", "CA certificates `file` (PEM) that the next hop's certificate must chain to; default: the system roots")
	fs.StringVar(&servername, "servername", "", "`name` the next hop's certificate must match; default: its host")
	fs.StringVar(&tlsaFile, "tlsa", "", "authenticate the next hop by DANE with the TLSA records in `file`, one per line (\"3 1 1 HEX\")")
	fs.StringVar(&stsFile, "mta-sts", "", "authenticate the next hop as an MX host under the MTA-STS policy in `file`")
	fs.BoolVar(&c.stsTesting, "mta-sts-testing", false, "let an MTA-STS policy in mode testing authenticate the next hop")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "give up on a delivery attempt after this `duration`")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:2526", "`address` to accept mail on")
	fs.StringVar(&c.certFile, "cert", "", "certificate chain `file` (PEM) for clients; with -key. Default: a self-signed certificate made at start")
	fs.StringVar(&c.keyFile, "key", "", "private key `file` (PEM); with -cert")
	fs.BoolVar(&c.implicitTLS, "implicit-tls", false, "accept with TLS from the first byte (RFC 8314) instead of offering STARTTLS")
	fs.StringVar(&c.hostname, "hostname", "localhost", "this relay's `name`, for the greeting, Received fields and DSNs")
	if err := cli.Parse(fs, args, stdout,
		"usage: relay -nexthop HOST:PORT -bounce-dir DIR [flags]\n\nAn SMTP relay that enforces REQUIRETLS (RFC 8689) towards one next hop. Flags:",
		"\nExit status: 0 after SIGINT or SIGTERM, 2 on a usage error or when it cannot start."); err != nil {
		return nil, err // reported by run, on one line
	}

	var err error
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.nexthop == "":
		return nil, errors.New("-nexthop is required")
	case c.bounceDir == "":
		return nil, errors.New("-bounce-dir is required")
	case (c.certFile == "") != (c.keyFile == ""):
		return nil, errors.New("-cert and -key go together")
	case c.hostname == "" || strings.ContainsAny(c.hostname, " \t\r\n"):
		return nil, fmt.Errorf("-hostname %q: not a host name", c.hostname)
	case c.timeout <= 0:
		return nil, errors.New("-timeout must be positive")
	}
	if path, ok := strings.CutPrefix(c.nexthop, "unix:"); ok {
		if !c.lmtp || path == "" {
			return nil, fmt.Errorf("-nexthop %q: a UNIX-domain socket needs -lmtp and a path", c.nexthop)
		}
		c.socket, c.host = path, c.hostname // Postfix: $myhostname for a socket
	} else if c.host, c.port, err = net.SplitHostPort(c.nexthop); err != nil {
		return nil, fmt.Errorf("-nexthop: %w", err)
	} else if n, err := strconv.Atoi(c.port); err != nil || n < 1 || n > 65535 || c.host == "" {
		return nil, fmt.Errorf("-nexthop %q: want host:port", c.nexthop)
	}
	if c.lmtp && !flagSet(fs, "policy") {
		policyText = policy.DefaultLMTPPolicy
	}
	var ok bool
	c.tlsLevel = tlsstatus.Name(level)
	if c.auth, ok = tlsLevels[c.tlsLevel]; !ok {
		return nil, fmt.Errorf("-tls-level %q: want verify, may or none", level)
	}
	if tlsaFile != "" || stsFile != "" {
		if flagSet(fs, "tls-level") {
			return nil, errors.New("-tls-level cannot be given with -tlsa or -mta-sts: they set the level")
		}
		// An MX host: only the facts can authenticate it, and they set
		// the level (requiretls.Dialer.TLSA, MTASTS).
		c.auth, c.tlsLevel = policy.AuthNone, ""
	}
	if c.stsTesting && stsFile == "" {
		return nil, errors.New("-mta-sts-testing needs -mta-sts")
	}
	if tlsaFile != "" {
		if c.tlsa, err = readTLSA(tlsaFile); err != nil {
			return nil, err
		}
	}
	if stsFile != "" {
		if c.sts, err = readPolicy(stsFile); err != nil {
			return nil, err
		}
	}
	if c.policy, err = policy.Parse(policyText, &policy.ParseOptions{Vars: vars(c.hostname)}); err != nil {
		return nil, fmt.Errorf("-policy: %w", err)
	}
	if fi, err := os.Stat(c.bounceDir); err != nil {
		return nil, fmt.Errorf("-bounce-dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("-bounce-dir %s: not a directory", c.bounceDir)
	}
	if c.tls, err = cli.ClientTLS(c.host, servername, cafile); err != nil {
		return nil, err
	}
	return &c, nil
}

// flagSet reports whether the flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// readTLSA reads TLSA records in presentation form, one per line. A line
// that does not parse, or a file without records, is refused: guessing
// would change how the next hop is authenticated.
func readTLSA(path string) ([]dane.Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-tlsa: %w", err)
	}
	var records []dane.Record
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := dane.ParseRecord(line)
		if err != nil {
			return nil, fmt.Errorf("-tlsa %s:%d: %w", path, i+1, err)
		}
		records = append(records, r)
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("-tlsa %s: no TLSA records in it", path)
	}
	return records, nil
}

// readPolicy reads an MTA-STS policy file.
func readPolicy(path string) (*mtasts.Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-mta-sts: %w", err)
	}
	defer f.Close()
	p, err := mtasts.ReadPolicy(f)
	if err != nil {
		return nil, fmt.Errorf("-mta-sts %s: %w", path, err)
	}
	return &p, nil
}

// vars gives the policy its main.cf parameters: only $mydomain, which
// Postfix derives from $myhostname the same way.
func vars(hostname string) func(string) (string, bool) {
	mydomain := "localdomain"
	if _, parent, ok := strings.Cut(hostname, "."); ok && parent != "" {
		mydomain = parent
	}
	return func(name string) (string, bool) {
		if name == "mydomain" {
			return mydomain, true
		}
		return "", false
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stdout)
	if err != nil {
		return cli.UsageError(stderr, "relay", err) // 0 after -h
	}
	r := &relay{config: c, log: log.New(stdout, "", 0), pid: os.Getpid()}

	cert, err := cli.Certificate(c.certFile, c.keyFile, c.hostname)
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	r.logf("relay/master", "certificate for %s, SHA-256 fingerprint %s", cert.Leaf.Subject.CommonName, pki.Fingerprint(cert))
	r.logf("relay/master", "next hop %s, %s, requiretls policy %s", c.nexthop, c.describeTLS(), c.policy.Lookup(c.policyKey()))

	srv := requiretls.NewServer(r, &requiretls.ServerOptions{Received: true, Hostname: c.hostname})
	srv.Domain = c.hostname
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.MaxMessageBytes = 25 << 20
	srv.MaxRecipients = 1 // one delivery per DATA reply; see the package doc
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	srv.ErrorLog = log.New(stderr, "relay: ", log.LstdFlags)

	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	if c.implicitTLS {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	r.logf("relay/master", "listening on %s", l.Addr())

	// Until SIGINT or SIGTERM; then the deliveries in progress get their
	// -timeout, and ten seconds more, to finish.
	stopping := func() { r.logf("relay/master", "shutting down") }
	if err := cli.Serve(ctx, srv, l, c.timeout+10*time.Second, stopping); err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	return 0
}

// policyKey is the key of the next hop in -policy: -hostname for a UNIX
// socket (Postfix's $myhostname), else -nexthop.
func (c *config) policyKey() string {
	if c.socket != "" {
		return c.hostname
	}
	return c.nexthop
}

// describeTLS says how the next hop is to be authenticated, for the log.
func (c *config) describeTLS() string {
	var facts []string
	if c.tlsa != nil {
		usable := 0
		for _, r := range c.tlsa {
			if r.Usable() {
				usable++
			}
		}
		facts = append(facts, fmt.Sprintf("%d TLSA records (%d usable)", len(c.tlsa), usable))
	}
	if c.sts != nil {
		facts = append(facts, fmt.Sprintf("MTA-STS policy mode %s (testing counts: %t)", c.sts.Mode, c.stsTesting))
	}
	if facts == nil {
		return "tls-level " + string(c.tlsLevel)
	}
	return "MX host " + c.tls.ServerName + " with " + strings.Join(facts, " and ")
}

// relay is the smtp.Backend; each session hands it messages to deliver.
type relay struct {
	*config
	log *log.Logger
	pid int
}

// logf writes one line with a syslog prefix, as Postfix logs.
func (r *relay) logf(program, format string, args ...any) {
	r.log.Printf("%s %s %s[%d]: %s", time.Now().Format(time.Stamp), r.hostname, program, r.pid, fmt.Sprintf(format, args...))
}

func (r *relay) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{r: r, conn: c}, nil
}

// message is one accepted message with its one recipient.
type message struct {
	id         string
	from, to   string
	tag        policy.Tag // RFC 8689 Section 4.1, kept for onward relay
	requireTLS bool       // MAIL FROM had REQUIRETLS
	body       smtp.BodyType
	data       []byte
	received   time.Time // MAIL FROM
	queued     time.Time // end of DATA
}

// session implements requiretls.Tagger: the glue tells it each message's
// tag before Data.
type session struct {
	r    *relay
	conn *smtp.Conn
	m    message
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.m = message{from: from, received: time.Now()}
	if opts != nil {
		s.m.requireTLS, s.m.body = opts.RequireTLS, opts.Body
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = to
	return nil
}

func (s *session) SetTag(t policy.Tag) { s.m.tag = t }

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r) // bounded by the server's MaxMessageBytes
	if err != nil {
		return err
	}
	m := s.m
	m.id, m.data, m.queued = queueID(), data, time.Now()
	s.r.logf("relay/smtpd", "%s: client=[%s], helo=%s, from=<%s>, tag=%s, size=%d",
		m.id, remoteIP(s.conn), s.conn.Hostname(), m.from, m.tag, len(data))
	return s.r.deliver(&m)
}

func (s *session) Reset()        { s.m = message{} }
func (s *session) Logout() error { return nil }

// result is the outcome of one delivery attempt.
type result struct {
	status    tlsstatus.Status
	reply     *smtp.SMTPError // for the client, the DSN and the dsn= field
	reason    string          // for the log, Postfix-worded
	relay     string          // "host[addr]:port" or "none"
	field     tlsstatus.Field
	connected time.Time
}

// deliver makes the one attempt, logs it, and returns the reply to DATA
// (nil for 250).
func (r *relay) deliver(m *message) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	start := time.Now()
	res := r.attempt(ctx, m)
	r.logDelivery(m, res, start)

	switch {
	case res.status == tlsstatus.Sent:
		return nil
	case res.status == tlsstatus.Deferred, m.from == "":
		// No queue: the client retries. A bounce is never bounced.
		return res.reply
	}
	path, env, err := r.bounce(m, res)
	if err != nil {
		r.logf("relay/bounce", "%s: cannot write the non-delivery notification: %v", m.id, err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Cannot write the non-delivery notification"}
	}
	r.logf("relay/bounce", "%s: sender non-delivery notification: %s (to <%s>, MAIL FROM:<>, requiretls=%t)", m.id, path, m.from, env.RequireTLS)
	return nil
}

// attempt delivers m to the next hop. requiretls.Dialer asks
// policy.Evaluate at each stage (before connecting, after EHLO, after
// STARTTLS, after the EHLO under TLS) and stops the session when the policy
// says so, RFC 8689 Section 4.2.1.
func (r *relay) attempt(ctx context.Context, m *message) result {
	a := policy.Attempt{
		Tag:        m.tag,
		NullSender: m.from == "",
		Level:      r.policy.Lookup(r.policyKey()),
		Host:       r.tls.ServerName,
		Auth:       r.auth,
		TLSLevel:   r.tlsLevel,
	}
	// Until a decision is made, both slots are undecided ("verify?/requiretls?").
	res := result{relay: "none", field: policy.Field(a, policy.Evaluate(a))}

	addr, peer := "unix:"+r.socket, r.host+"["+r.socket+"]" // Postfix's relay= for a socket
	if r.socket == "" {
		addrs, err := net.DefaultResolver.LookupHost(ctx, r.host)
		if err != nil {
			return res.temporary(smtp.EnhancedCode{4, 4, 3}, "Host or domain name not found: "+err.Error())
		}
		addr, peer = net.JoinHostPort(addrs[0], r.port), fmt.Sprintf("%s[%s]:%s", r.host, addrs[0], r.port)
	}
	d := requiretls.Dialer{LocalName: r.hostname, TLSConfig: r.tls, Timeout: r.timeout, LMTP: r.lmtp,
		TLSA: r.tlsa, MTASTS: r.sts, MTASTSOptions: &mtasts.Options{Testing: r.stsTesting}}
	conn, err := d.Dial(ctx, addr, a)
	var pe *requiretls.PolicyError
	switch {
	case errors.As(err, &pe):
		res.field, res.reply, res.reason = pe.Field(), pe.Reply(), pe.Decision.Reason()
		if pe.Attempt.Stage != policy.BeforeConnect {
			res.relay = peer
		}
		res.status = tlsstatus.Deferred
		if pe.Decision.Action == policy.Bounce {
			res.status = tlsstatus.Bounced
		}
		return res
	case errors.Is(err, mtasts.ErrMXNotAllowed), errors.Is(err, mtasts.ErrUnknownMode):
		// RFC 8461 Section 5: this host must not be used; Section 5.1:
		// defer, so that a newer policy can be fetched.
		return res.temporary(smtp.EnhancedCode{4, 7, 0}, err.Error())
	case err != nil:
		return res.temporary(smtp.EnhancedCode{4, 4, 1}, "connect to "+peer+": "+err.Error())
	}
	defer conn.Close()
	res.relay, res.connected, res.field = peer, time.Now(), conn.Field()

	// Conn.Mail adds REQUIRETLS when the policy decided so, and RET=HDRS
	// when a REQUIRETLS message goes without it.
	if err := conn.Mail(m.from, &smtp.MailOptions{Body: m.body}); err != nil {
		return res.failed(err, "MAIL FROM")
	}
	if err := conn.Rcpt(m.to, nil); err != nil {
		return res.failed(err, "RCPT TO")
	}
	var text string
	if r.lmtp {
		// LMTP: one reply per recipient after DATA (RFC 2033 Section 4.2);
		// m has one.
		replies, err := conn.LMTPData(bytes.NewReader(m.data))
		switch {
		case replies == nil:
			return res.failed(err, "DATA")
		case err != nil:
			return res.failed(err, "end of DATA")
		case replies[m.to].Err != nil:
			return res.failed(replies[m.to].Err, "end of DATA")
		}
		text = replies[m.to].Text
	} else {
		w, err := conn.Data()
		if err != nil {
			return res.failed(err, "DATA")
		}
		if _, err := w.Write(m.data); err != nil {
			return res.failed(err, "end of DATA")
		}
		resp, err := w.CloseWithResponse()
		if err != nil {
			return res.failed(err, "end of DATA")
		}
		text = resp.StatusText
	}
	conn.Quit()
	res.status = tlsstatus.Sent
	res.reply = &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: text}
	res.reason = "250 " + oneLine(text)
	return res
}

// temporary sets a 4xx outcome of our own.
func (res result) temporary(code smtp.EnhancedCode, reason string) result {
	res.status, res.reason = tlsstatus.Deferred, oneLine(reason)
	res.reply = &smtp.SMTPError{Code: 451, EnhancedCode: code, Message: res.reason}
	return res
}

// failed sets the outcome of an error from the next hop after the session
// was set up: its reply decides (5xx bounces, 4xx defers).
func (res result) failed(err error, command string) result {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return res.temporary(smtp.EnhancedCode{4, 4, 2}, "lost connection with "+res.relay+" while sending "+command+": "+err.Error())
	}
	res.reply = se
	res.reason = fmt.Sprintf("host %s said: %s (in reply to %s command)", res.relay, replyText(se), command)
	res.status = tlsstatus.Deferred
	if se.Code/100 == 5 {
		res.status = tlsstatus.Bounced
	}
	return res
}

// logDelivery writes the Postfix-style delivery status line.
func (r *relay) logDelivery(m *message, res result, start time.Time) {
	now := time.Now()
	conn := time.Duration(0)
	send := now.Sub(start)
	if !res.connected.IsZero() {
		conn, send = res.connected.Sub(start), now.Sub(res.connected)
	}
	d := tlsstatus.Delivery{
		Time:    now.Format(time.Stamp),
		Host:    r.hostname,
		Program: r.program(),
		PID:     r.pid,
		QueueID: m.id,
		To:      m.to,
		Relay:   res.relay,
		Delay:   seconds(now.Sub(m.received)),
		Delays:  seconds(m.queued.Sub(m.received)) + "/0/" + seconds(conn) + "/" + seconds(send),
		TLS:     res.field,
		DSN:     enhanced(res.reply),
		Status:  res.status,
		Reason:  res.reason,
	}
	r.log.Print(d.String())
}

// program is the delivery agent's name in the log, as Postfix's smtp and
// lmtp.
func (r *relay) program() string {
	if r.lmtp {
		return "relay/lmtp"
	}
	return "relay/smtp"
}

// bounce writes the DSN for m to the bounce directory. dsn.Compose returns
// headers only for a REQUIRETLS message whatever RET said (RFC 8689
// Section 5), and says in env how the DSN must be sent.
func (r *relay) bounce(m *message, res result) (string, dsn.Envelope, error) {
	remoteMTA := ""
	if res.relay != "none" {
		remoteMTA = r.host
	}
	rcpt, err := dsn.RecipientFromReply(m.to, remoteMTA, dsn.SMTPReply{
		Code: res.reply.Code, EnhancedCode: res.reply.EnhancedCode, Message: res.reply.Message})
	if err != nil {
		return "", dsn.Envelope{}, err
	}
	rcpt.LastAttemptDate = time.Now()
	rep := &dsn.Report{
		From:         "MAILER-DAEMON@" + r.hostname + " (Mail Delivery System)",
		To:           m.from,
		MsgID:        "<" + m.id + ".DSN@" + r.hostname + ">",
		ReportingMTA: "dns; " + r.hostname,
		ArrivalDate:  m.received,
		Recipients:   []dsn.Recipient{rcpt},
		RequireTLS:   m.requireTLS,
	}
	f, err := os.CreateTemp(r.bounceDir, ".dsn-*")
	if err != nil {
		return "", dsn.Envelope{}, err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	env, err := dsn.Compose(f, rep, bytes.NewReader(m.data))
	if errors.Is(err, dsn.ErrMalformed) || errors.Is(err, dsn.ErrHeaderTooLarge) {
		// The original's header cannot be read (Compose wrote nothing):
		// bounce without it rather than not at all.
		env, err = dsn.Compose(f, rep, strings.NewReader(""))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", env, err
	}
	path := filepath.Join(r.bounceDir, m.id+".eml")
	return path, env, os.Rename(f.Name(), path)
}

// queueID returns a Postfix-like short queue ID: upper-case hex.
func queueID() string {
	var b [5]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func remoteIP(c *smtp.Conn) string {
	host, _, err := net.SplitHostPort(c.Conn().RemoteAddr().String())
	if err != nil {
		return "unknown"
	}
	return host
}

// enhanced returns the enhanced status code of a reply, or one made from
// its class when the server sent none.
func enhanced(se *smtp.SMTPError) string {
	if ec := se.EnhancedCode; ec[0] >= 2 && ec[0] <= 5 && ec[1] >= 0 && ec[2] >= 0 {
		return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	return fmt.Sprintf("%d.0.0", se.Code/100)
}

// replyText formats a reply on one line: "550 5.7.30 text".
func replyText(se *smtp.SMTPError) string {
	return fmt.Sprintf("%d %s %s", se.Code, enhanced(se), oneLine(se.Message))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
}
