package dsn

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzNeedleStart: needleStart finds the longest end of a window that a
// delimiter may continue from, as trying every length would.
func FuzzNeedleStart(f *testing.F) {
	f.Add([]byte("text\r\n--bou"), "bound", "other")
	f.Add([]byte("--"), "b", "bb")
	f.Add([]byte("x---b"), "--b", "--bc")
	f.Add([]byte(""), "x", "y")
	f.Fuzz(func(t *testing.T, b []byte, n1, n2 string) {
		needles := [][]byte{[]byte("--" + n1), []byte("--" + n2)}
		want := 0
		for _, n := range needles {
			for k := 1; k < len(n) && k <= len(b); k++ {
				if bytes.HasSuffix(b, n[:k]) {
					want = max(want, k)
				}
			}
		}
		if got := needleStart(b, needles); got != want {
			t.Fatalf("needleStart(%q, %q) = %d, want %d", b, needles, got, want)
		}
	})
}

// FuzzRedactDSNInPlace: the bytes of a reader that offers them, scanned in
// place whatever the chunks they come in, give the output and the error of
// the same bytes through a plain io.Reader. Seeded with the golden files
// and the table inputs.
func FuzzRedactDSNInPlace(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b, uint16(16)) // read into the scanner's buffer
		}
	}
	for _, in := range redactDSNTableInputs() {
		f.Add(in, uint16(9000)) // over 8 KiB: scanned in place
	}
	redact := func(r io.Reader) string {
		var b bytes.Buffer
		err := RedactDSN(&b, r, nil)
		return b.String() + "\x00" + errText(err)
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint16) {
		want := redact(readerOnly{bytes.NewReader(in)})
		for name, r := range map[string]io.Reader{
			"bytes.Reader": bytes.NewReader(in),
			"WriterTo":     &chunkWriterTo{b: in, overwrite: true},
			"bufio.Reader": bufio.NewReaderSize(readerOnly{bytes.NewReader(in)}, int(size)),
		} {
			if got := redact(r); got != want {
				t.Fatalf("%s of %q:\n%q\nplain reader:\n%q", name, in, got, want)
			}
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzIndexAny: indexAny finds the first occurrence of any needle, and
// indexByte finds what bytes.IndexByte does, wherever the slice starts.
func FuzzIndexAny(f *testing.F) {
	f.Add([]byte("text\r\n--bound\r\n--other"), "bound", "other", uint8(0))
	f.Add([]byte("x---b--bc"), "b", "bc", uint8(3))
	f.Add(bytes.Repeat([]byte("lorem ipsum-"), 40), "ipsum", "x", uint8(31))
	f.Fuzz(func(t *testing.T, b []byte, n1, n2 string, off uint8) {
		b = b[min(int(off), len(b)):]
		needles := [][]byte{[]byte("--" + n1), []byte("--" + n2)}
		want := -1
		for _, n := range needles {
			if i := bytes.Index(b, n); i >= 0 && (want < 0 || i < want) {
				want = i
			}
		}
		if got := indexAny(b, needles); got != want {
			t.Fatalf("indexAny(%q, %q) = %d, want %d", b, needles, got, want)
		}
		if got, want := indexByte(b, '-'), bytes.IndexByte(b, '-'); got != want {
			t.Fatalf("indexByte(%q) = %d, want %d", b, got, want)
		}
	})
}
