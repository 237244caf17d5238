package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A maillog with the three example lines of postfix-3.11 §3, a line in the
// format examples/relay writes, lines of other programs and a malformed
// delivery line.
const maillog = `Oct  1 12:00:00 mx postfix/smtpd[98]: connect from client.example[192.0.2.9]
Oct  1 12:00:01 mx postfix/smtp[4711]: 3F2A81C0D: to=<bob@example.net>, relay=mx1.example.net[192.0.2.25]:25, delay=0.91, delays=0.04/0.01/0.52/0.34, tls=dane/requiretls, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9C1D2E)
Oct  1 12:00:02 mx postfix/smtp[4711]: 3F2A81C0E: to=<bob@example.org>, relay=mx.example.org[198.51.100.7]:25, delay=1.2, delays=0.04/0.01/0.61/0.54, tls=may/requiretls:none, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Oct  1 12:00:03 mx postfix/smtp[4711]: 3F2A81C0F: to=<bob@example.com>, relay=none, delay=0.2, delays=0.04/0.01/0.15/0, tls=may?/!requiretls:nocertmatch, dsn=5.7.10, status=bounced (Sender requested REQUIRETLS, but my configured TLS security level 'may' disables certificate matching. The last attempted server was mx.example.com)
Oct  1 12:00:04 relay.test relay/smtp[321]: 1A2B3C: to=<carol@example.com>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.05, delays=0/0/0.02/0.03, tls=verify/!requiretls:none, dsn=5.7.30, status=bounced (no server was found that supports REQUIRETLS)
Oct  1 12:00:05 mx postfix/qmgr[99]: 3F2A81C0D: removed
Oct  1 12:00:06 mx postfix/smtp[4711]: 3F2A81C10: to=<bob@example.com>, relay=none, delay=0.2, delays=0.04/0.01/0.15/0, tls=may/, dsn=4.4.1, status=deferred (x)
`

func runTally(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = run(ctx, args, stdin, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTallyTextFromStdin(t *testing.T) {
	code, out, errOut := runTally(t, context.Background(), strings.NewReader(maillog))
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, malformedWarning, errOut)
	assert.Contains(t, out, "7 lines: 4 deliveries (0 without a tls= field), 2 other lines skipped, 1 malformed\n")
	for _, want := range []string{
		"requiretls               1           1     0         0        0      REQUIRETLS sent, server certificate matched\n",
		"!requiretls:nocertmatch  1",
		"!requiretls:none         1",
		"requiretls:none          1",
		"total                    4           2     0         2        0\n",
		"REQUIRETLS requested for 4 deliveries: offered by the server 1 (25.0%), not offered 2 (50.0%), unknown 1.",
		"example.com       2",
		"127.0.0.1        1",
	} {
		assert.Contains(t, out, want)
	}
}

func TestTallyJSONFromFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "mail.log")
	require.NoError(t, os.WriteFile(plain, []byte(maillog), 0o600))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte(maillog))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	rotated := filepath.Join(dir, "mail.log.1.gz")
	require.NoError(t, os.WriteFile(rotated, gz.Bytes(), 0o600))

	code, out, errOut := runTally(t, context.Background(), strings.NewReader(maillog), "-json", plain, rotated, "-")
	require.Equal(t, 0, code, errOut)
	var rep struct {
		Lines     int64 `json:"lines"`
		Malformed int64 `json:"malformed"`
		Total     struct {
			Deliveries int64 `json:"deliveries"`
			Bounced    int64 `json:"bounced"`
		} `json:"total"`
		States []struct {
			Key        string `json:"key"`
			Deliveries int64  `json:"deliveries"`
		} `json:"requiretls_states"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, int64(21), rep.Lines)
	assert.Equal(t, int64(3), rep.Malformed)
	assert.Equal(t, int64(12), rep.Total.Deliveries)
	assert.Equal(t, int64(6), rep.Total.Bounced)
	require.NotEmpty(t, rep.States)
	assert.Equal(t, "requiretls", rep.States[0].Key)
	assert.Equal(t, int64(3), rep.States[0].Deliveries)
}

func TestTallyErrors(t *testing.T) {
	dir := t.TempDir()
	notGzip := filepath.Join(dir, "plain.gz")
	require.NoError(t, os.WriteFile(notGzip, []byte(maillog), 0o600))
	missing := filepath.Join(dir, "missing.log")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{missing}, "tally: open " + missing + ": no such file or directory\n"},
		{"missing file after a good one", []string{"-", missing}, "tally: open " + missing + ": no such file or directory\n"},
		{"not gzip", []string{notGzip}, "tally: open " + notGzip + ": gzip: invalid header\n"},
		{"unknown flag", []string{"-xml"}, "tally: flag provided but not defined: -xml (see tally -h)\n"},
		{"bad flag value", []string{"-json=maybe"}, "tally: invalid boolean value \"maybe\" for -json: parse error (see tally -h)\n"},
		{"directory", []string{dir}, "tally: read " + dir + ": read " + dir + ": is a directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runTally(t, context.Background(), strings.NewReader(maillog), tt.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out, "no report on an error")
			assert.Equal(t, tt.want, errOut)
		})
	}
}

const malformedWarning = "tally: malformed lines left out of the tables: 1 (delivery lines that did not parse, or longer than 64 KiB)\n"

// A delivery line that does not parse is said on stderr, so that it is
// seen when the report goes to a file; with -strict the exit status is 1.
// Well-formed input says nothing and exits 0 either way.
func TestTallyMalformed(t *testing.T) {
	code, out, errOut := runTally(t, context.Background(), strings.NewReader(maillog), "-strict")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "1 malformed\n", "the report is printed all the same")
	assert.Equal(t, malformedWarning, errOut)

	twice := maillog + "Oct  1 12:00:07 mx postfix/smtp[4711]: 3F2A81C11: to=<bob@example.com>, tls=\n"
	_, _, errOut = runTally(t, context.Background(), strings.NewReader(twice), "-json")
	assert.Equal(t, "tally: malformed lines left out of the tables: 2 (delivery lines that did not parse, or longer than 64 KiB)\n", errOut)

	good := strings.Join(strings.Split(maillog, "\n")[:6], "\n") + "\n"
	code, _, errOut = runTally(t, context.Background(), strings.NewReader(good), "-strict")
	assert.Equal(t, 0, code)
	assert.Empty(t, errOut)
}

func TestTallyHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		code, out, errOut := runTally(t, context.Background(), nil, arg)
		assert.Equal(t, 0, code)
		assert.Empty(t, errOut)
		assert.True(t, strings.HasPrefix(out, "usage: tally [-json] [-strict] [file ...]\n"), out)
		assert.Contains(t, out, "Exit status: 0")
	}
}

// TestTallyInterrupted: SIGINT/SIGTERM (a cancelled context) stops reading
// an endless stdin and prints the report of what was read.
func TestTallyInterrupted(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		code     int
		out, err string
	}
	res := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"-json"}, pr, &out, &errOut)
		res <- result{code, out.String(), errOut.String()}
	}()
	lines := strings.SplitAfter(maillog, "\n")
	_, err := io.WriteString(pw, lines[1]+lines[2])
	require.NoError(t, err)
	// This write returns only once the reader asks for more input, that is
	// after it has counted the two deliveries above.
	_, err = io.WriteString(pw, lines[0])
	require.NoError(t, err)
	cancel()
	r := <-res
	require.Equal(t, 0, r.code, r.err)
	var rep struct {
		Total struct {
			Deliveries int64 `json:"deliveries"`
		} `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	assert.Equal(t, int64(2), rep.Total.Deliveries)
}
