// Package cli is the command-line plumbing that the example programs
// server, relay, probe and demo share: running under SIGINT and SIGTERM, parsing
// flags with a one-line error and -h help on standard output, the server
// certificate from -cert and -key (or a self-signed one), the client TLS
// configuration from -cafile and -servername, and serving until stopped.
// Each program keeps its own flags and its main flow; only these
// mechanical steps live here.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/examples/internal/pki"
)

// Main calls run with the command-line arguments and the standard streams,
// cancels its context on SIGINT or SIGTERM, and exits with the status run
// returns.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Parse parses args with fs, which prints nothing itself: errors are for
// the caller to report on one line. On -h or -help it writes the usage to
// stdout (head, the flags, then exitStatus) and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, stdout io.Writer, head, exitStatus string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, head)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fmt.Fprintln(stdout, exitStatus)
	}
	return err
}

// UsageError reports err from Parse, or from the checks of the flags that
// follow it, and returns the exit status: 0 for -h (the usage is already
// on standard output), else 2 after one line on stderr, prefixed with the
// program's name.
func UsageError(stderr io.Writer, program string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v (see -h)\n", program, err)
	return 2
}

// Certificate loads the key pair from certFile and keyFile, or, when
// certFile is empty, makes a self-signed one for hostname and the loopback
// addresses.
func Certificate(certFile, keyFile, hostname string) (tls.Certificate, error) {
	if certFile == "" {
		return pki.SelfSigned(hostname, "127.0.0.1", "::1")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("-cert/-key: %w", err)
	}
	return cert, nil
}

// ClientTLS returns the TLS configuration for a client of host: the server
// certificate must match servername (host if empty) and chain to a CA in
// cafile (the system roots if empty).
func ClientTLS(host, servername, cafile string) (*tls.Config, error) {
	c := &tls.Config{ServerName: host}
	if servername != "" {
		c.ServerName = servername
	}
	if cafile != "" {
		pem, err := os.ReadFile(cafile)
		if err != nil {
			return nil, fmt.Errorf("-cafile: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-cafile %s: no PEM certificate in it", cafile)
		}
	}
	return c, nil
}

// Serve runs srv on l until ctx is done. Then it calls stopping, closes the
// listener, lets the sessions in progress finish for up to grace, closes
// the rest, and returns nil. It returns the error of a server that stops by
// itself.
func Serve(ctx context.Context, srv *smtp.Server, l net.Listener, grace time.Duration, stopping func()) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stopping()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close() // sessions still open after the grace period
	}
	// go-smtp closes only the listeners Serve has registered: one that
	// Serve's goroutine had not registered yet would be accepted on forever.
	l.Close()
	<-served
	return nil
}
