package header

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "update golden files")

// TestSetRawGolden runs SetRaw(msg, "Require-TLS-ESMTP: yes") on every
// testdata/setraw/*.eml and compares with the .golden file: the output
// bytes, or "error: ..." for the inputs it must refuse. The cases are the
// ones that would have caught the Postfix 3.11.7 SMTP-smuggling bug: bare
// LF, bare CR, a leading "." line, a header section without a final blank
// line, a message with no body.
func TestSetRawGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/setraw/*.eml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			msg, err := os.ReadFile(file)
			require.NoError(t, err)
			got, err := SetRaw(msg, LineRequireTLSESMTPYes)
			if err != nil {
				got = []byte("error: " + err.Error() + "\n")
			} else {
				checkInserted(t, msg, got, LineRequireTLSESMTPYes)
			}
			golden := strings.TrimSuffix(file, ".eml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

// checkInserted asserts the properties every SetRaw result has: the header
// has the field exactly once and valid, the output has no bare CR or LF that
// msg did not have, and removing the inserted line (and any same-named field
// from msg) gives msg back, byte for byte.
func checkInserted(t *testing.T, msg, out []byte, line string) {
	t.Helper()
	name, err := fieldLineName(line)
	require.NoError(t, err)
	count := 0
	w := walker{b: out}
	for {
		f, ok := w.next()
		if !ok {
			break
		}
		if asciiEqualFold(out[f.start:f.nameEnd], name) {
			count++
			assert.Equal(t, line+"\r\n", string(out[f.start:f.end]), "inserted field")
		}
	}
	assert.Equal(t, 1, count, "R21: exactly one field")
	assert.Equal(t, bareEnds(msg), bareEnds(out), "no new bare CR or LF")

	stripped, err := RemoveRaw(msg, name)
	require.NoError(t, err)
	back, err := RemoveRaw(out, name)
	require.NoError(t, err)
	if !bytes.Equal(stripped, back) {
		// The only other change allowed: a CRLF that ends an unterminated last header line.
		assert.Equal(t, string(stripped)+"\r\n", string(back), "everything else unchanged")
	}
}

// bareEnds counts CRs not followed by LF and LFs not preceded by CR.
func bareEnds(b []byte) (n int) {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') || c == '\n' && (i == 0 || b[i-1] != '\r') {
			n++
		}
	}
	return n
}

func TestSetRawIdempotent(t *testing.T) {
	for _, line := range []string{LineRequireTLSESMTPYes, LineTLSRequiredNo} {
		msg := []byte("From: a@example.org\r\nTLS-Required: yes\r\nSubject: hi\r\n\r\nbody\r\n")
		once, err := SetRaw(msg, line)
		require.NoError(t, err)
		twice, err := SetRaw(once, line)
		require.NoError(t, err)
		assert.Equal(t, string(once), string(twice), "R21 %s", line)
	}
	msg := []byte("From: a@example.org\r\n\r\nbody\r\n")
	once, err := SetRaw(msg, LineTLSRequiredNo)
	require.NoError(t, err)
	f, _, err := Scan(once)
	require.NoError(t, err)
	assert.Equal(t, Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, f, "R18 inserted field is read back")
}

func TestRemoveRaw(t *testing.T) {
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"trust boundary strips every copy", "Require-TLS-ESMTP: yes\r\nFrom: a\r\nrequire-tls-esmtp:\r\n yes\r\n\r\nRequire-TLS-ESMTP: yes\r\n",
			"From: a\r\n\r\nRequire-TLS-ESMTP: yes\r\n"},
		{"nothing to remove", "From: a\r\n\r\nbody", "From: a\r\n\r\nbody"},
		{"last field without line ending", "From: a\r\nRequire-TLS-ESMTP: yes", "From: a\r\n"},
		{"similar name kept", "X-Require-TLS-ESMTP: yes\r\n\r\n", "X-Require-TLS-ESMTP: yes\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RemoveRaw([]byte(tc.msg), FieldRequireTLSESMTP)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
	_, err := RemoveRaw([]byte("A: 1\nB: 2\r\n\r\n"), FieldRequireTLSESMTP)
	assert.ErrorIs(t, err, ErrAmbiguous)
	_, err = RemoveRaw(nil, "Bad Name")
	assert.ErrorIs(t, err, ErrInvalidField)
	_, err = RemoveRaw(nil, "")
	assert.ErrorIs(t, err, ErrInvalidField)
}

func TestSetRawInvalidLine(t *testing.T) {
	for _, line := range []string{
		"", ": yes", "No colon", "Bad Name: yes", "Name: yes\r\nInjected: 1", "Name: yes\n", "Name: yes\r",
		"Name: \x00", "Name: caf\xc3\xa9", "Name: " + strings.Repeat("x", 999),
	} {
		_, err := SetRaw([]byte("A: 1\r\n\r\n"), line)
		assert.ErrorIs(t, err, ErrInvalidField, "%q", line)
		var pe *ParseError
		assert.True(t, errors.As(err, &pe), "%q", line)
	}
}

func TestSetRawErrorOffset(t *testing.T) {
	_, err := SetRaw([]byte("From: a\r\nTo: b\nSubject: c\r\n\r\n"), LineRequireTLSESMTPYes)
	var pe *ParseError
	require.True(t, errors.As(err, &pe))
	assert.ErrorIs(t, err, ErrAmbiguous)
	assert.Equal(t, 14, pe.Offset)
	assert.Equal(t, "To: b\nSubject: c\r\n\r\n", pe.Line)
}
