// Command probe answers the question operators ask most about RFC 8689:
// could a REQUIRETLS message be delivered to this server?
//
// Usage:
//
//	probe [-cafile FILE] [-servername NAME] [-implicit-tls] [-timeout D] host:port
//	probe -conformance [-cafile FILE] [-servername NAME] [-implicit-tls] [-timeout D] host:port
//
// It connects, says EHLO, starts TLS, verifies the certificate, says EHLO
// again and QUITs; it never sends mail. It prints both EHLO replies, the
// TLS version, the certificate verdict, and one verdict line in the
// notation of Postfix's tls= log field, for example
//
//	verdict: tls=verify/requiretls                (exit status 0)
//	verdict: tls=!verify/!requiretls:nocertmatch  (certificate not verified)
//	verdict: tls=verify/!requiretls:none          (no REQUIRETLS after TLS)
//	verdict: tls=!verify/!requiretls:nostarttls   (no STARTTLS)
//
// which is what Postfix 3.11 logs for those servers with
// smtp_requiretls_policy = enforce and smtp_tls_security_level = verify.
//
// The certificate is checked with PKIX against -cafile (the system roots
// if absent) and -servername (the host if absent), as a sender does for a
// next hop it did not find by MX lookup (checklist E14, E23). The verdict
// is what a sender at the "enforce" level would decide (RFC 8689 Section
// 4.2.1 steps 4 and 5).
//
// The probe walks the session at the "monitor" level of package policy:
// it goes as far as opportunistic delivery would, so that it sees the EHLO
// after TLS even when the certificate fails, and reads what enforce would
// have decided from Decision.WouldEnforce. An enforce attempt would stop
// at the first failure and show less.
//
// An implicit-TLS port (465) sends no SMTP greeting until TLS has started,
// so a STARTTLS probe of one waits for -timeout: the probe then tries a TLS
// handshake and, if the port speaks TLS, says to add -implicit-tls. With
// -implicit-tls against a STARTTLS port the handshake fails at once on the
// plaintext greeting, and the probe says to drop it.
//
// With -conformance it tests the server's receiving side against RFC 8689
// instead, still without sending mail: it says EHLO, STARTTLS and MAIL
// FROM:<> with REQUIRETLS in the ways a server must accept or refuse, RSET
// after each MAIL the server accepted and QUIT, never RCPT or DATA. Each
// MAIL under TLS gets a fresh connection, so that one refusal cannot change
// the next answer. It prints one line per check, PASS, FAIL or SKIP, what
// the server answered and the RFC section:
//
//  1. REQUIRETLS not offered in the EHLO reply before TLS (Section 2 bullet
//     4 and RFC 3207 Section 4.2: an offer before TLS is worthless);
//  2. MAIL FROM:<> REQUIRETLS refused without TLS (Section 2: the option
//     MUST only be used on a session that employs TLS);
//  3. REQUIRETLS offered in the EHLO reply after STARTTLS, or on implicit
//     TLS (Section 2 bullet 4);
//  4. MAIL FROM:<> REQUIRETLS=x refused (Section 2: the parameter has no
//     value);
//  5. MAIL FROM:<> REQUIRETLS REQUIRETLS refused (no RFC says; refusing is
//     what RFC 3461 Section 4.5 asks for a repeated RET or ENVID);
//  6. MAIL FROM:<> REQUIRETLS accepted after TLS (Section 4.1).
//
// Checks 1, 2 and 5 test inferences, not MUSTs on a server; their lines say
// so. A check that cannot run says SKIP and why: 3 to 6 without STARTTLS
// (or when STARTTLS or its handshake fails), 1 and 2 with -implicit-tls.
// The certificate must verify as above, since REQUIRETLS is only used
// where it does.
//
// Exit status: 0 when a REQUIRETLS message could be delivered there under
// enforce, 1 when not (including a failed TLS handshake), 2 on a usage
// error or when the server cannot be reached or stops answering. With
// -conformance: 0 when no check failed and check 6 passed, 1 otherwise, 2
// as before (also for a failed handshake with -implicit-tls).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/requiretls/go-requiretls/examples/internal/cli"
	"github.com/requiretls/go-requiretls/examples/internal/pki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

func main() { cli.Main(run) }

// config is what the flags and the argument say.
type config struct {
	addr, host  string
	tls         *tls.Config
	implicitTLS bool
	conformance bool
	timeout     time.Duration
}

func parseFlags(args []string, stdout io.Writer) (*config, error) {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	cafile := fs.String("cafile", "", "trusted CA certificates `file` (PEM); default: the system roots")
	servername := fs.String("servername", "", "`name` the certificate must match; default: the host")
	implicitTLS := fs.Bool("implicit-tls", false, "start TLS at connection time (RFC 8314, port 465) instead of STARTTLS")
	conformance := fs.Bool("conformance", false, "check the server against RFC 8689 instead: six PASS/FAIL/SKIP lines (never sends mail)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on a server that does not answer within this `duration`")
	if err := cli.Parse(fs, args, stdout,
		"usage: probe [flags] host:port\n\nDoes this server support REQUIRETLS (RFC 8689)? Never sends mail. Flags:",
		"\nExit status: 0 a REQUIRETLS message could be delivered there under enforce\n(with -conformance: no check failed and REQUIRETLS works after TLS),\n1 it could not (a check failed), 2 usage error or server unreachable."); err != nil {
		return nil, err // reported by run, on one line
	}
	if fs.NArg() != 1 {
		return nil, errors.New("want one host:port argument")
	}
	c := &config{addr: fs.Arg(0), implicitTLS: *implicitTLS, conformance: *conformance, timeout: *timeout}
	host, port, err := net.SplitHostPort(c.addr)
	if err != nil {
		return nil, err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return nil, fmt.Errorf("%q: want host:port", c.addr)
	}
	if *timeout <= 0 {
		return nil, errors.New("-timeout must be positive")
	}
	c.host = host
	if c.tls, err = cli.ClientTLS(host, *servername, *cafile); err != nil {
		return nil, err
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stdout)
	if err != nil {
		return cli.UsageError(stderr, "probe", err) // 0 after -h
	}
	if c.conformance {
		return conform(ctx, c, stdout, stderr)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	d := requiretls.Dialer{TLSConfig: c.tls, ImplicitTLS: c.implicitTLS, Timeout: c.timeout}
	// Walk the whole session (opportunistic levels stop at nothing but a
	// failed handshake), then judge its facts as enforce at TLS security
	// level verify would.
	conn, err := d.Dial(ctx, c.addr, policy.Attempt{
		Tag:      policy.Required,
		Level:    policy.Opportunistic,
		Auth:     policy.AuthStaticPKIX, // a name given by hand, checked with PKIX
		TLSLevel: tlsstatus.May,
		Host:     c.tls.ServerName,
	})
	var pe *requiretls.PolicyError
	if err != nil && !errors.As(err, &pe) {
		hint := ""
		if !c.implicitTLS && errors.Is(err, context.DeadlineExceeded) && speaksTLS(parent, c.addr, c.timeout) {
			hint = "; the port speaks TLS from the first byte: probe it with -implicit-tls"
		}
		fmt.Fprintf(stderr, "probe: %s: %v%s\n", c.addr, err, hint)
		return 2
	}
	fmt.Fprintf(stdout, "probe: %s, certificate name %s\n", c.addr, c.tls.ServerName)
	if pe != nil {
		// At these levels only a failed TLS handshake ends the session
		// before MAIL FROM.
		fmt.Fprintf(stdout, "TLS: failed: %v\n", pe)
		if rhe := (tls.RecordHeaderError{}); errors.As(pe, &rhe) {
			fmt.Fprintln(stdout, "hint: the server answered in plaintext: probe without -implicit-tls to use STARTTLS")
		}
		return verdict(stdout, pe.Attempt)
	}
	defer conn.Close()

	if conn.EHLO != nil {
		printReply(stdout, "EHLO:", conn.EHLO)
	}
	switch {
	case conn.TLS != nil:
		how := "STARTTLS"
		if c.implicitTLS {
			how = "implicit TLS"
		}
		fmt.Fprintf(stdout, "%s: %s, %s\n", how, tls.VersionName(conn.TLS.Version), tls.CipherSuiteName(conn.TLS.CipherSuite))
		leaf := conn.TLS.PeerCertificates[0]
		fp := pki.Fingerprint(tls.Certificate{Certificate: [][]byte{leaf.Raw}})
		if conn.CertErr == nil {
			fmt.Fprintf(stdout, "certificate: verified for %s (SHA-256 %s)\n", c.tls.ServerName, fp)
		} else {
			// The RFC 8460 result type, as a TLSRPT report would name it.
			why := tlsstatus.ClassifyTLSError(conn.CertErr).Reason
			fmt.Fprintf(stdout, "certificate: NOT verified, %s: %v (SHA-256 %s)\n", why, conn.CertErr, fp)
		}
		printReply(stdout, "EHLO after TLS:", conn.TLSEHLO)
	case conn.Attempt.Handshake == policy.HandshakeRefused:
		fmt.Fprintf(stdout, "STARTTLS: refused: %s\n", conn.Attempt.STARTTLSReply)
	default:
		fmt.Fprintln(stdout, "STARTTLS: not offered")
	}
	if err := conn.Quit(); err != nil {
		fmt.Fprintf(stderr, "probe: %s: QUIT: %v\n", c.addr, err)
		return 2
	}
	return verdict(stdout, conn.Attempt)
}

// speaksTLS reports whether addr completes a TLS handshake at once, as an
// implicit-TLS port (RFC 8314, 465) does and a STARTTLS port does not. It
// is asked only after the SMTP greeting did not come: such a server waits
// for a ClientHello and says nothing. The certificate does not matter
// here, and nothing is sent after the handshake.
func speaksTLS(ctx context.Context, addr string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, min(timeout, 5*time.Second))
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// verdict prints the tls= field that Postfix would log for the facts of a
// under smtp_requiretls_policy enforce and smtp_tls_security_level verify,
// and returns the exit status.
func verdict(w io.Writer, a policy.Attempt) int {
	a.Level, a.TLSLevel = policy.Enforce, tlsstatus.Verify
	enforce := policy.Evaluate(a)
	fmt.Fprintf(w, "verdict: tls=%s\n", policy.Field(a, enforce))
	if enforce.Action == policy.SendRequireTLS {
		fmt.Fprintln(w, "  a REQUIRETLS message can be delivered here under enforce")
		return 0
	}
	fmt.Fprintf(w, "  under enforce a REQUIRETLS message would not be sent here: %s %s\n", enforce.Code, enforce.Reason())
	return 1
}

func printReply(w io.Writer, title string, lines []string) {
	fmt.Fprintln(w, title)
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
