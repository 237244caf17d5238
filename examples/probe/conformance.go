package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/requiretls/go-requiretls/requiretls"
)

// Verdicts of one conformance check.
const (
	pass = "PASS"
	fail = "FAIL"
	skip = "SKIP" // the check cannot run on this server (no TLS session to run it on)
)

// check is one statement of RFC 8689 that a receiving server can be seen
// to keep or break from the outside, and where it comes from.
type check struct {
	name string
	cite string
}

// The six checks of -conformance, in the order they run. Checks 1, 2 and
// 5 test what the RFC leaves to inference (checklist E5, E6); their
// citations say so.
var checks = [6]check{
	{"REQUIRETLS not offered before TLS",
		"RFC 8689 Section 2 bullet 4 names the EHLO after STARTTLS; a pre-TLS offer is worthless, RFC 3207 Section 4.2; checklist R16, E5"},
	{"MAIL FROM:<> REQUIRETLS refused without TLS",
		"RFC 8689 Section 2: the option MUST only be specified on a session that employs TLS; checklist R12, R13, E5"},
	{"REQUIRETLS offered after TLS",
		"RFC 8689 Section 2 bullet 4: the server MUST advertise it in the EHLO after STARTTLS (implicit TLS: checklist E22); checklist R16"},
	{"MAIL FROM:<> REQUIRETLS=x refused",
		"RFC 8689 Section 2 items 4 and 8: no value is associated with this parameter; checklist R7, R11, E4"},
	{"MAIL FROM:<> REQUIRETLS REQUIRETLS refused",
		"not specified by RFC 8689 or RFC 5321 Section 4.1.2; refused by analogy with RFC 3461 Section 4.5 (RET, ENVID); checklist E6"},
	{"MAIL FROM:<> REQUIRETLS accepted after TLS",
		"RFC 8689 Section 4.1: the server MUST tag a message sent with it, Section 2 bullet 4: it advertises support; checklist R16, R23"},
}

// result is the outcome of check number id (1 to 6).
type result struct {
	id      int
	verdict string
	detail  string // what the server answered, or why the check was skipped
}

func (r result) String() string {
	c := checks[r.id-1]
	return fmt.Sprintf("%s %d. %s: %s [%s]", r.verdict, r.id, c.name, r.detail, c.cite)
}

// session is a bare SMTP client that sends exactly the commands it is
// given, whether or not the server announced what they use: go-smtp's
// client would refuse to send REQUIRETLS without the keyword, and cannot
// send a value or a duplicate.
type session struct {
	conn   net.Conn
	text   *textproto.Conn
	stop   func() bool // ends the close-on-cancel of the context
	ehlo   []string    // the last EHLO reply, one line each
	closed bool
}

// maxRead bounds what the probe reads from one connection, so that a
// server cannot make it use unbounded memory with an endless reply. The
// replies it reads are a few kilobytes at most.
const maxRead = 1 << 20

var errTooMuch = fmt.Errorf("the server sent more than %d bytes on one connection", maxRead)

// limited is a connection that returns errTooMuch once left bytes are read.
type limited struct {
	net.Conn
	left int
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooMuch
	}
	n, err := l.Conn.Read(p[:min(len(p), l.left)])
	l.left -= n
	return n, err
}

func newText(c net.Conn) *textproto.Conn { return textproto.NewConn(&limited{c, maxRead}) }

// reply is one SMTP reply.
type reply struct {
	code  int
	lines []string
}

// String is the first line of the reply, as a log would show it.
func (r reply) String() string { return fmt.Sprintf("%d %s", r.code, r.lines[0]) }

func (r reply) refused() bool { return r.code >= 400 }

// dialSession connects to c.addr, starting TLS at once with implicit TLS,
// reads the greeting and says EHLO. The whole session must end within
// c.timeout.
func dialSession(ctx context.Context, c *config) (*session, error) {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		conn.Close()
		return nil, err
	}
	if c.implicitTLS {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	s := &session{conn: conn, text: newText(conn), stop: context.AfterFunc(ctx, func() { conn.Close() })}
	r, err := s.read()
	switch {
	case err != nil:
		err = fmt.Errorf("greeting: %w", err)
	case r.code != 220:
		err = fmt.Errorf("greeting: the server refuses the session: %s", r)
	default:
		err = s.hello()
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) read() (reply, error) {
	code, msg, err := s.text.ReadResponse(0) // 0: any code is a reply
	if err != nil {
		return reply{}, err
	}
	return reply{code, strings.Split(msg, "\n")}, nil
}

// cmd sends one command line and reads its reply.
func (s *session) cmd(line string) (reply, error) {
	if err := s.text.PrintfLine("%s", line); err != nil {
		return reply{}, fmt.Errorf("%s: %w", line, err)
	}
	r, err := s.read()
	if err != nil {
		return reply{}, fmt.Errorf("%s: %w", line, err)
	}
	return r, nil
}

// conformanceHelo is the EHLO name of -conformance sessions. It tells
// them apart in the server's log from the other probe's ("localhost"),
// and is a fully qualified name in a reserved domain (RFC 6761 Section
// 6.3), which servers that refuse a bare "localhost" accept.
const conformanceHelo = "conformance.localhost"

// hello says EHLO and keeps the reply.
func (s *session) hello() error {
	r, err := s.cmd("EHLO " + conformanceHelo)
	if err == nil && r.code != 250 {
		err = fmt.Errorf("EHLO: %s", r)
	}
	s.ehlo = r.lines
	return err
}

// offers reports whether the EHLO reply lists the extension keyword kw.
func (s *session) offers(kw string) bool {
	for _, l := range s.ehlo[1:] { // the first line is the greeting
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], kw) {
			return true
		}
	}
	return false
}

// startTLS runs STARTTLS and the EHLO after it. A server that does not
// offer STARTTLS, refuses it or fails the handshake gives the reason in
// why, and err stays nil: that is a finding, not a broken connection.
// After a failed handshake the connection is closed: no SMTP can follow.
func (s *session) startTLS(c *config) (why string, err error) {
	if !s.offers("STARTTLS") {
		return "STARTTLS not offered", nil
	}
	r, err := s.cmd("STARTTLS")
	if err != nil {
		return "", err
	}
	if r.code != 220 {
		return "STARTTLS refused: " + r.String(), nil
	}
	tc := tls.Client(s.conn, c.tls)
	if err := tc.Handshake(); err != nil {
		s.close()
		return fmt.Sprintf("TLS handshake failed: %v", err), nil
	}
	s.conn, s.text = tc, newText(tc)
	return "", s.hello()
}

// mail sends a MAIL command and, if the server accepted it, RSET, so that
// the next command starts a clean transaction. It never sends RCPT or DATA.
func (s *session) mail(line string) (reply, error) {
	r, err := s.cmd(line)
	if err != nil || r.refused() {
		return r, err
	}
	if _, err := s.cmd("RSET"); err != nil {
		return r, err
	}
	return r, nil
}

// quit says QUIT and closes the connection.
func (s *session) quit() error {
	_, err := s.cmd("QUIT")
	s.close()
	return err
}

func (s *session) close() {
	if !s.closed {
		s.closed = true
		s.stop()
		s.conn.Close()
	}
}

// dialTLS opens a session and starts TLS on it (nothing to start with
// implicit TLS). why says why there is no TLS session.
func dialTLS(ctx context.Context, c *config) (s *session, why string, err error) {
	if s, err = dialSession(ctx, c); err != nil || c.implicitTLS {
		return s, "", err
	}
	if why, err = s.startTLS(c); err != nil || why != "" {
		if err == nil && !s.closed {
			err = s.quit()
		}
		s.close()
		return nil, why, err
	}
	return s, "", nil
}

// conform runs the six checks against c.addr and prints one line each,
// then a summary. A refused command may leave a server in a state of its
// own (Exim counts syntax errors, for one), so each MAIL check after TLS
// runs on a fresh connection.
func conform(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rs, err := conformance(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %s: %v\n", c.addr, err)
		return 2
	}
	fmt.Fprintf(stdout, "probe: %s: RFC 8689 conformance of the receiving server (no mail is sent)\n", c.addr)
	failed := 0
	for _, r := range rs {
		fmt.Fprintln(stdout, r)
		if r.verdict == fail {
			failed++
		}
	}
	switch {
	case failed > 0:
		fmt.Fprintf(stdout, "conformance: FAIL, %d of %d checks failed\n", failed, len(rs))
		return 1
	case rs[5].verdict != pass:
		fmt.Fprintf(stdout, "conformance: FAIL, REQUIRETLS cannot be used here: %s\n", rs[5].detail)
		return 1
	}
	fmt.Fprintln(stdout, "conformance: PASS")
	return 0
}

// conformance runs the checks; an error means the server could not be
// reached or stopped answering, and no verdict can be given.
func conformance(ctx context.Context, c *config) ([]result, error) {
	var rs []result
	add := func(ok bool, detail string) {
		v := fail
		if ok {
			v = pass
		}
		rs = append(rs, result{len(rs) + 1, v, detail})
	}
	skipRest := func(why string) {
		for len(rs) < len(checks) {
			rs = append(rs, result{len(rs) + 1, skip, why})
		}
	}

	if c.implicitTLS {
		const why = "implicit TLS: there is no session without TLS to check"
		rs = append(rs, result{1, skip, why}, result{2, skip, why})
	} else {
		s, err := dialSession(ctx, c)
		if err != nil {
			return nil, err
		}
		offered := s.offers(requiretls.Keyword)
		add(!offered, lists("without TLS", offered))
		r, err := s.mail("MAIL FROM:<> " + requiretls.Keyword)
		if err != nil {
			s.close()
			return nil, err
		}
		add(r.refused(), "answered "+r.String())
		if err := s.quit(); err != nil {
			return nil, err
		}
	}

	s, why, err := dialTLS(ctx, c)
	if err != nil {
		return nil, err
	}
	if why != "" {
		skipRest(why + ": no TLS session to check")
		return rs, nil
	}
	offered := s.offers(requiretls.Keyword)
	add(offered, lists("under TLS", offered))

	for i, line := range []string{
		"MAIL FROM:<> " + requiretls.Keyword + "=x",
		"MAIL FROM:<> " + requiretls.Keyword + " " + requiretls.Keyword,
		"MAIL FROM:<> " + requiretls.Keyword,
	} {
		if i > 0 {
			if s, why, err = dialTLS(ctx, c); err != nil {
				return nil, err
			}
			if why != "" { // it worked a moment ago
				return nil, errors.New(why)
			}
		}
		r, err := s.mail(line)
		if err != nil {
			s.close()
			return nil, err
		}
		add(r.refused() == (i < 2), "answered "+r.String())
		if err := s.quit(); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// lists says whether the EHLO reply given where lists the keyword.
func lists(where string, offered bool) string {
	if offered {
		return "the EHLO reply " + where + " lists REQUIRETLS"
	}
	return "the EHLO reply " + where + " does not list REQUIRETLS"
}
