// Command tally reads Postfix maillog lines and prints the REQUIRETLS
// experiment report: how often each state of Postfix 3.11's tls= log field
// was logged, by status, recipient domain and relay, and how many servers
// offered REQUIRETLS (RFC 8689 Section 4.2.1). This is the count Postfix's
// REQUIRETLS_README proposes after turning REQUIRETLS on for all outbound
// mail.
//
// Usage:
//
//	tally [-json] [-strict] [file ...]
//
// With no file, or with "-", it reads standard input. Files ending in ".gz"
// (rotated logs) are decompressed. Lines of other programs are skipped;
// delivery lines that do not parse are counted as malformed in the report
// and, when there are any, said on standard error too: a real maillog has
// the odd one, so they change the exit status only with -strict.
//
// On SIGINT or SIGTERM it stops reading and prints the report of the lines
// read so far, so "tail -f /var/log/mail.log | tally" can be stopped with
// Ctrl-C.
//
// Exit status: 0 when the report was printed, 1 with -strict when some
// delivery line did not parse (the report is printed all the same), 2 on a
// usage error or when a file cannot be opened or read (a one-line message
// on standard error, and no report).
package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/requiretls/go-requiretls/tlsstatus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: tally [-json] [-strict] [file ...]

Reads Postfix maillog lines (files, or standard input when there is no file
or the file is "-"; ".gz" files are decompressed) and prints how often each
REQUIRETLS state of the tls= log field (RFC 8689, Postfix 3.11) was logged.

Flags:
  -json     print the report as JSON instead of text tables
  -strict   exit 1 when a delivery line did not parse (malformed)

Exit status: 0 when the report was printed, 1 with -strict when a delivery
line did not parse, 2 on a usage error or when a file cannot be opened or
read.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tally", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	strict := fs.Bool("strict", false, "exit 1 when a delivery line did not parse")
	fs.SetOutput(io.Discard) // errors are reported below, on one line
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "tally: %v (see tally -h)\n", err)
		return 2
	}

	// Open everything first, so a mistyped name fails before a long read.
	inputs, closeAll, err := open(fs.Args(), stdin)
	defer closeAll()
	if err != nil {
		fmt.Fprintf(stderr, "tally: %v\n", err)
		return 2
	}

	var t tlsstatus.Tally
	done := make(chan error, 1)
	go func() {
		for _, in := range inputs {
			if err := t.ReadLog(in.r); err != nil {
				done <- fmt.Errorf("read %s: %w", in.name, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(stderr, "tally: %v\n", err)
			return 2
		}
	case <-ctx.Done():
		// Interrupted: report what was read so far.
	}

	r := t.Report()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tally: write report: %v\n", err)
		return 2
	}
	if r.Malformed > 0 {
		// Overlong lines count as malformed too (tlsstatus.MaxLineBytes).
		fmt.Fprintf(stderr, "tally: malformed lines left out of the tables: %d (delivery lines that did not parse, or longer than 64 KiB)\n", r.Malformed)
	}
	if *strict && r.Malformed > 0 {
		return 1
	}
	return 0
}

type input struct {
	name string
	r    io.Reader
}

// open opens the named files ("-" is stdin; none means stdin) and returns
// them with a function that closes them all.
func open(names []string, stdin io.Reader) ([]input, func(), error) {
	if len(names) == 0 {
		names = []string{"-"}
	}
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	inputs := make([]input, 0, len(names))
	for _, name := range names {
		if name == "-" {
			inputs = append(inputs, input{"standard input", stdin})
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, closeAll, err // *PathError: "open NAME: no such file or directory"
		}
		closers = append(closers, f)
		var r io.Reader = f
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				return nil, closeAll, fmt.Errorf("open %s: %w", name, err)
			}
			closers = append(closers, zr)
			r = zr
		}
		inputs = append(inputs, input{name, r})
	}
	return inputs, closeAll, nil
}
