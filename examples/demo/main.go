// Command demo is a tour of go-requiretls in one process, on loopback, with
// generated certificates: no flags, no files, a few seconds.
//
// It starts four real go-smtp receivers:
//
//	mx-requiretls  STARTTLS with a trusted certificate, announces REQUIRETLS after TLS (our server glue)
//	mx-starttls    STARTTLS with a trusted certificate, no REQUIRETLS (plain go-smtp, as most of the Internet)
//	mx-plaintext   no STARTTLS at all
//	mx-badcert     REQUIRETLS after TLS, but a self-signed certificate the sender cannot verify
//
// and a sender built on package policy and the requiretls client glue, then
// walks through the cases RFC 8689 and Postfix 3.11 care about. For each it
// prints the Postfix-style delivery log line with its tls= field, and it ends
// with the tally of REQUIRETLS states that Postfix's README proposes as an
// experiment.
//
// Usage:
//
//	go run ./examples/demo [-json]
//
// Exit status: 0 when every case ended as expected, 1 when one did not,
// 2 on a usage or setup error.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/requiretls/go-requiretls/examples/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the results as JSON instead of text")
	err := cli.Parse(fs, args, stdout,
		"usage: demo [-json]\n\nWalks through RFC 8689 REQUIRETLS delivery cases against real SMTP servers on loopback. Flags:",
		"\nExit status: 0 every case ended as expected, 1 one did not, 2 usage or setup error.")
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		return cli.UsageError(stderr, "demo", err) // 0 after -h
	}

	lab, err := startLab()
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	defer lab.close()

	var results []result
	for _, c := range cases {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "demo: interrupted")
			return 2
		}
		results = append(results, lab.play(ctx, c))
	}
	report := lab.tally.Report()

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Cases []result `json:"cases"`
			Tally any      `json:"tally"`
		}{results, report}); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 2
		}
	} else {
		printText(stdout, results)
		fmt.Fprintln(stdout, "\nThe tally of these deliveries (what examples/tally prints for a real maillog):")
		fmt.Fprintln(stdout)
		if err := report.WriteText(stdout); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 2
		}
	}
	for _, r := range results {
		if !r.AsExpected {
			fmt.Fprintf(stderr, "demo: case %d did not end as expected: %s\n", r.Number, r.Outcome)
			return 1
		}
	}
	return 0
}

// legend explains the summary table's columns under it.
const legend = `
  requiretls policy: how strictly the sender enforces a REQUIRETLS request for this destination
  (Postfix smtp_requiretls_policy); a TLS-Required: No message is exempt, and a bounce is never discarded for it.
  tls=: what the delivery did, as Postfix logs it: TLS security level/REQUIRETLS outcome; "!" marks a requirement not met.`

func printText(w io.Writer, results []result) {
	fmt.Fprintln(w, "go-requiretls demo: RFC 8689 REQUIRETLS against real SMTP servers on loopback")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tcase\trequiretls policy\ttls=\toutcome")
	for _, r := range results {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", r.Number, r.Title, r.Policy, r.TLS, r.Outcome)
	}
	tw.Flush()
	fmt.Fprintln(w, legend)
	shownDSN := false
	for _, r := range results {
		fmt.Fprintf(w, "\n%d. %s\n", r.Number, r.Title)
		fmt.Fprintf(w, "   %s\n", r.Why)
		fmt.Fprintf(w, "   log:    %s\n", r.LogLine)
		if r.Receiver != "" {
			fmt.Fprintf(w, "   server: %s\n", r.Receiver)
		}
		if r.Monitor != "" {
			fmt.Fprintf(w, "   monitor: %s\n", r.Monitor)
		}
		if r.DSN != "" && !shownDSN {
			shownDSN = true
			fmt.Fprintf(w, "   The bounce returned to the sender (composed by package dsn):\n")
			for _, line := range strings.Split(strings.TrimRight(r.DSN, "\r\n"), "\n") {
				fmt.Fprintf(w, "   | %s\n", strings.TrimRight(line, "\r"))
			}
		}
		if r.DSN != "" {
			fmt.Fprintf(w, "   The original body line %q appears in the bounce: %s\n", secretLine, yesNo(r.BodyInDSN))
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "YES (this is a bug)"
	}
	return "no (redacted, RFC 8689 Section 5)"
}
