// Package postfixsrc gives the differential tests under interop (the
// packages postfixheader and postfixpolicy) what they share: the Postfix
// 3.11.6 source tarball they test against, the files they extract from it,
// and the gcc build and the run of their C harness (testdata/harness.c).
//
// It depends on the standard library and testify alone, so that it builds
// and vets without the "interop" build tag that its users carry.
package postfixsrc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/requiretls/go-requiretls/internal/ciskip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Postfix release, as in interop/run and the README next to the tarball.
const (
	TarballName   = "postfix-3.11.6-src.tar.gz"
	TarballSHA256 = "0409f07144b71d7bf809116b0c50d5a351cf0a2d15e3a45be9cd452ec900357e"
)

// Tarball returns the path of the Postfix tarball: $REQUIRETLS_POSTFIX_SRC,
// or else shared/peers/postfix-3.11.6 beside the repository, seen from a
// package two folders below interop. Without the tarball it prints one
// line, beginning with who (the calling package's name), and skips t.
func Tarball(t testing.TB, who string) string {
	t.Helper()
	tarball := os.Getenv("REQUIRETLS_POSTFIX_SRC")
	if tarball == "" {
		root, err := filepath.Abs("../../..")
		require.NoError(t, err)
		tarball = filepath.Join(root, "shared", "peers", "postfix-3.11.6", TarballName)
	}
	if _, err := os.Stat(tarball); err != nil {
		fmt.Printf("%s: %s not found (set REQUIRETLS_POSTFIX_SRC): skipping the Postfix differential test\n", who, tarball)
		ciskip.Skip(t, "Postfix source tarball not found")
	}
	return tarball
}

// Extract writes the named members of the tarball (such as
// "postfix/src/global/is_header.c") into dir under their base names, and
// checks the tarball's SHA-256 against TarballSHA256.
func Extract(t testing.TB, tarball, dir string, names ...string) {
	t.Helper()
	f, err := os.Open(tarball)
	require.NoError(t, err)
	defer f.Close()
	sum := sha256.New()
	zr, err := gzip.NewReader(io.TeeReader(f, sum))
	require.NoError(t, err)
	want := map[string]bool{}
	for _, s := range names {
		want[s] = true
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if want[hdr.Name] {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(hdr.Name)), b, 0o644))
			delete(want, hdr.Name)
		}
	}
	_, err = io.Copy(io.Discard, f) // the rest, for the checksum
	require.NoError(t, err)
	require.Empty(t, want, "files missing from %s", tarball)
	require.Equal(t, TarballSHA256, hex.EncodeToString(sum.Sum(nil)), "sha256 of %s", tarball)
}

// Compile compiles the calling package's testdata/harness.c with gcc and
// args (flags, further sources, libraries) into a temporary folder, prints
// how long it took, on a line beginning with who, and returns the
// program's path.
func Compile(t testing.TB, who string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "harness")
	src, err := filepath.Abs("testdata/harness.c")
	require.NoError(t, err)
	start := time.Now()
	out, err := exec.Command("gcc", append([]string{"-o", bin, src}, args...)...).CombinedOutput()
	require.NoError(t, err, "gcc: %s", out)
	fmt.Printf("%s: harness compiled with gcc in %v\n", who, time.Since(start).Round(time.Millisecond))
	return bin
}

// Run runs the harness bin with stdin and returns its standard output; a
// failure fails t with the harness's standard error.
func Run(t testing.TB, bin string, stdin io.Reader) []byte {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "harness: %s", stderr.String())
	return out
}
