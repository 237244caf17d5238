package tlsstatus

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/internal/readpattern"
)

// readPatternInputs are Postfix logs as ReadLog meets them: the synthetic
// maillog in LF and CRLF form and without a final newline, malformed
// lines, and lines on each side of MaxLineBytes, where bufio's buffer is
// exactly full.
func readPatternInputs() map[string][]byte {
	var lf, crlf strings.Builder
	for i := range 2 * len(synthLines) * len(synthDomains) {
		line, _, _ := synthLineAt(i)
		lf.WriteString(line + "\n")
		crlf.WriteString(line + "\r\n")
	}
	// pad makes a delivery line of n bytes before its line feed.
	pad := func(n int) string {
		s := synthPrefix + "smtp[1]: A1: to=<u@example.net>, relay=none, delay=0, delays=0/0/0/0, tls=may/requiretls:none, dsn=2.0.0, status=sent ("
		return s + strings.Repeat("p", n-len(s)-1) + ")"
	}
	in := map[string][]byte{
		"synthetic maillog":                 []byte(lf.String()),
		"synthetic CRLF":                    []byte(crlf.String()),
		"no final newline":                  []byte(strings.TrimSuffix(lf.String(), "\n")),
		"empty lines, bare CR":              []byte("\n\n\r\n" + exampleSent + "\r" + exampleBounced + "\n\r\r\n\n" + exampleDowngrad),
		"NUL and 8-bit":                     []byte(exampleSent + "\x00\n" + strings.Replace(exampleBounced, "to=<", "to=<\xff\xfe", 1) + "\n\x00\x00\n"),
		"malformed deliveries":              []byte(synthPrefix + "smtp[1]: A1: to=<\n" + synthPrefix + "smtp[1]: A1: to=<u@x>, status=\n" + exampleSent + " tls=\n"),
		"line of MaxLineBytes-1, then more": []byte(pad(MaxLineBytes-1) + "\n" + exampleSent + "\n"),
		"line of MaxLineBytes, then more":   []byte(pad(MaxLineBytes) + "\n" + exampleSent + "\n"),
		"line of MaxLineBytes-1 at EOF":     []byte(exampleSent + "\n" + pad(MaxLineBytes-1)),
		"line of MaxLineBytes at EOF":       []byte(exampleSent + "\n" + pad(MaxLineBytes)),
		"line of MaxLineBytes+1 at EOF":     []byte(exampleSent + "\n" + pad(MaxLineBytes+1)),
		"overlong lines":                    []byte(exampleSent + "\n" + strings.Repeat("x", 3*MaxLineBytes+7) + "\n" + pad(2*MaxLineBytes) + "\r\n" + exampleBounced),
	}
	for _, h := range hostile.All() { // their start: long lines are covered above
		in["hostile "+h.Name] = h.Prefix(4096)
	}
	return in
}

// readLogResult is everything ReadLog's caller can observe: the report,
// as JSON and as text, and the error.
func readLogResult(r io.Reader) ([]byte, error) {
	var t Tally
	err := t.ReadLog(r)
	rep := t.Report()
	out, jerr := json.Marshal(&rep)
	if jerr != nil {
		return nil, jerr
	}
	var text bytes.Buffer
	if werr := rep.WriteText(&text); werr != nil {
		return nil, werr
	}
	return append(out, text.Bytes()...), err
}

// TestReadLogReadPatterns is issue 13's read-pattern property for
// Tally.ReadLog: the report and the error are byte for byte the same for
// one Read of everything, one byte per Read, half reads, data with io.EOF,
// one line per Read and 1000 random chunkings, on every input.
func TestReadLogReadPatterns(t *testing.T) {
	patterns := readpattern.All(1000, 13)
	for name, in := range readPatternInputs() {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, readpattern.Check(patterns, in, readLogResult))
		})
	}
}

// TestReadLogLineAtLimitWithEOF: a last line of exactly MaxLineBytes bytes
// and no line feed is malformed whether io.EOF comes with its last bytes
// or after them (bufio returns it as a line in the first case and as a
// full buffer in the second).
func TestReadLogLineAtLimitWithEOF(t *testing.T) {
	in := readPatternInputs()["line of MaxLineBytes at EOF"]
	for _, r := range []io.Reader{bytes.NewReader(in), readpattern.Fixed[3].New(in)} {
		var tally Tally
		require.NoError(t, tally.ReadLog(r))
		rep := tally.Report()
		require.Equal(t, int64(2), rep.Lines)
		require.Equal(t, int64(1), rep.Malformed, "the line at the limit")
		require.Equal(t, int64(1), rep.Total.Deliveries)
	}

	// A read error that comes with the last bytes is still returned.
	var tally Tally
	require.ErrorIs(t, tally.ReadLog(&dataWithErr{b: in, err: errBroken}), errBroken)
	require.Equal(t, int64(1), tally.Report().Malformed)
}

// dataWithErr returns err together with the last bytes of b.
type dataWithErr struct {
	b   []byte
	err error
}

func (r *dataWithErr) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	if len(r.b) == 0 {
		return n, r.err
	}
	return n, nil
}
