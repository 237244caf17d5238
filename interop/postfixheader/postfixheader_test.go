//go:build interop

package postfixheader

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/internal/hostile"
	"github.com/requiretls/go-requiretls/interop/internal/postfixsrc"
)

const corpusSize = 100_000

// sources are the files of the tarball the harness compiles with.
var sources = []string{"postfix/src/global/is_header.c", "postfix/src/global/is_header.h", "postfix/src/util/sys_defs.h"}

// postfixEnd is what the harness reports for one input.
type postfixEnd struct {
	names []string // field names, as in the message
	kind  string   // "blank", "text" or "eof"
	body  int      // offset of the first body byte
}

// TestPostfixHeaderBoundary (issue 12): for every generated header section
// that header.Scan accepts, Postfix's smtpd+cleanup model around its own
// is_header_buf() finds the same end and the same field names (and so does
// go-message); for every one that header.SetRaw edits, Postfix finds the
// inserted Require-TLS-ESMTP field in the header section, exactly once.
func TestPostfixHeaderBoundary(t *testing.T) {
	harness := buildHarness(t, postfixsrc.Tarball(t, "postfixheader"))

	corpus := append(fixedSections(), hostile.HeaderSections(corpusSize, 20261201)...)
	type edit struct{ in, out int } // indices into corpus and outs
	var outs [][]byte
	var edits []edit
	for i, b := range corpus {
		if out, err := header.SetRaw(b, header.LineRequireTLSESMTPYes); err == nil {
			edits = append(edits, edit{i, len(outs)})
			outs = append(outs, out)
		}
	}
	ends := runHarness(t, harness, append(append([][]byte(nil), corpus...), outs...))
	pf, pfOut := ends[:len(corpus)], ends[len(corpus):]

	accepted := 0
	for i, b := range corpus {
		facts, end, err := header.Scan(b)
		if err != nil || end < 0 && len(b) > 0 && b[len(b)-1] != '\n' {
			continue // refused, or an unfinished last line Scan leaves for later
		}
		accepted++
		p := pf[i]
		switch {
		case end >= 0 && (p.kind != "blank" || p.body != end):
			t.Fatalf("%.200q: Scan ends at %d, Postfix %s at %d", b, end, p.kind, p.body)
		case end < 0 && p.kind != "eof":
			t.Fatalf("%.200q: Scan runs to the end, Postfix ends %s at %d", b, p.kind, p.body)
		}
		gm, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(b)))
		require.NoError(t, err, "%.200q: go-message", b)
		var gmNames []string
		for fs := gm.Fields(); fs.Next(); {
			gmNames = append(gmNames, fs.Key())
		}
		if !sameNames(gmNames, p.names) {
			t.Fatalf("%.200q: names: Postfix %q, go-message %q", b, p.names, gmNames)
		}
		if n := count(p.names, header.FieldTLSRequired); n != facts.TLSRequiredFields {
			t.Fatalf("%.200q: Postfix sees %d TLS-Required fields, Scan %d", b, n, facts.TLSRequiredFields)
		}
	}
	for _, e := range edits {
		in, out, p := pf[e.in], outs[e.out], pfOut[e.out]
		if n := count(p.names, header.FieldRequireTLSESMTP); n != 1 {
			t.Fatalf("%.200q: Postfix sees %d Require-TLS-ESMTP fields in SetRaw's %.200q", corpus[e.in], n, out)
		}
		if !sameNames(without(in.names, header.FieldRequireTLSESMTP), without(p.names, header.FieldRequireTLSESMTP)) ||
			in.kind != p.kind || in.kind == "text" || p.body-in.body != len(out)-len(corpus[e.in]) {
			t.Fatalf("%.200q: SetRaw's %.200q is %q/%s/%d for Postfix, the input %q/%s/%d",
				corpus[e.in], out, p.names, p.kind, p.body, in.names, in.kind, in.body)
		}
	}
	fmt.Printf("postfixheader: %d header sections through Postfix 3.11.6 is_header_buf: %d accepted by header.Scan, %d edited by header.SetRaw, all agree\n",
		len(corpus), accepted, len(edits))
	if accepted < len(corpus)/5 || len(edits) < len(corpus)/5 {
		t.Fatalf("only %d accepted and %d edited of %d: the corpus tests too little", accepted, len(edits), len(corpus))
	}
}

// fixedSections are the shapes of issue 12, ahead of the generated ones.
func fixedSections() [][]byte {
	var out [][]byte
	for _, s := range []string{
		": x\r\nTLS-Required: No\r\n\r\nbody\r\n",
		"Subject: x\r\n: x\r\nTo: b\r\n\r\n",
		"X : y\r\nTLS-Required: No\r\n\r\n",
		"From a@example.org Mon Jan  1 00:00:00 2024\r\nTLS-Required: No\r\n\r\n",
		" X: y\r\n\r\n",
		"X: y\r\n \r\n\r\n",
		"X\x00Y: z\r\n\r\n",
		"X: a\rb\r\n\r\n",
		"X: y\n\n",
		"X: " + strings.Repeat("a", 995) + "\r\n\r\n",
		"X: " + strings.Repeat("a", 3000) + "\r\n\r\n",
		strings.Repeat("N", 3000) + ": v\r\n\r\n",
		"TLS-Required: No\r\n",
		"Subject: x",
		"",
	} {
		out = append(out, []byte(s))
	}
	return out
}

// buildHarness extracts the Postfix files into a temporary folder and
// compiles them with testdata/harness.c.
func buildHarness(t *testing.T, tarball string) string {
	t.Helper()
	dir := t.TempDir()
	postfixsrc.Extract(t, tarball, dir, sources...)
	return postfixsrc.Compile(t, "postfixheader", "-O2", "-DLINUX6", "-I", dir, filepath.Join(dir, "is_header.c"))
}

// runHarness feeds every input to the harness and parses its answers.
func runHarness(t *testing.T, bin string, inputs [][]byte) []postfixEnd {
	t.Helper()
	var stdin bytes.Buffer
	for _, b := range inputs {
		stdin.WriteString(strconv.Itoa(len(b)) + "\n")
		stdin.Write(b)
	}
	out := postfixsrc.Run(t, bin, &stdin)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, len(inputs), "one answer per input")
	ends := make([]postfixEnd, len(lines))
	for i, l := range lines {
		fields := strings.Fields(l)
		require.GreaterOrEqual(t, len(fields), 2, "answer %q", l)
		e := &ends[i]
		for _, h := range fields[:len(fields)-2] {
			name, err := hex.DecodeString(h)
			require.NoError(t, err, "answer %q", l)
			e.names = append(e.names, string(name))
		}
		var err error
		e.kind = strings.TrimPrefix(fields[len(fields)-2], "=")
		e.body, err = strconv.Atoi(fields[len(fields)-1])
		require.NoError(t, err, "answer %q", l)
	}
	return ends
}

// sameNames compares field names as mail does, ignoring ASCII case.
func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func count(names []string, name string) int {
	n := 0
	for _, s := range names {
		if strings.EqualFold(s, name) {
			n++
		}
	}
	return n
}

func without(names []string, name string) []string {
	var out []string
	for _, s := range names {
		if !strings.EqualFold(s, name) {
			out = append(out, s)
		}
	}
	return out
}
