package dsn

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomMessage returns a message whose body holds mark, and whose header
// section cannot (values are lower case, mark is upper case).
func randomMessage(r *rand.Rand, mark, eol string) string {
	names := []string{"From", "To", "Subject", "Date", "Message-ID", "Received", "X-Mailer", "DKIM-Signature", "TLS-Required", "Content-Type"}
	var b strings.Builder
	for range 1 + r.IntN(12) {
		b.WriteString(names[r.IntN(len(names))] + ": " + word(r))
		for range r.IntN(3) { // folded continuation lines
			b.WriteString(eol + "\t" + word(r))
		}
		b.WriteString(eol)
	}
	b.WriteString(eol)
	lines := []string{"hello", "--", "-- ", "--b", "--b-x", "Subject: not a header", "", mark, "--" + word(r)}
	b.WriteString(mark + eol)
	for range r.IntN(30) {
		b.WriteString(lines[r.IntN(len(lines))] + eol)
	}
	if r.IntN(2) == 0 {
		b.WriteString(mark) // no final line ending
	}
	return b.String()
}

func word(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz <>@.;=-"
	n := 1 + r.IntN(40)
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return strings.TrimSpace(string(b)) + "x"
}

// TestPropertyNoBodyBytes: thousands of random messages whose bodies hold a
// random marker, through every entry point; the marker never appears in
// any output (RFC 8689 Section 5, R43, R46, R47).
func TestPropertyNoBodyBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(8689, 5))
	for i := range 3000 {
		mark := fmt.Sprintf("MRK%016X", r.Uint64())
		eol := []string{"\n", "\r\n"}[r.IntN(2)]
		msg := randomMessage(r, mark, eol)

		var out bytes.Buffer
		require.NoError(t, RedactMessage(&out, strings.NewReader(msg), nil), "case %d", i)
		require.NotContains(t, out.String(), mark, "RedactMessage case %d", i)

		out.Reset()
		rep := testReport()
		rep.Ret = RetFull
		_, err := Compose(&out, rep, strings.NewReader(msg))
		require.NoError(t, err)
		require.NotContains(t, out.String(), mark, "Compose case %d", i)

		returnedType := []string{"message/rfc822", "text/rfc822-headers", "message/global", "text/plain", "message/partial"}[r.IntN(5)]
		human := []string{"hi", "--b-not-a-delimiter", "-- \n--", ""}[r.IntN(4)]
		dsn := "Content-Type: multipart/report; report-type=delivery-status; boundary=b" + eol + eol +
			"--b" + eol + "Content-Type: text/plain" + eol + eol + human + eol +
			"--b" + eol + "Content-Type: message/delivery-status" + eol + eol + "Reporting-MTA: dns; x" + eol + eol +
			"Final-Recipient: rfc822;a@b" + eol + "Action: failed" + eol + "Status: 5.7.30" + eol + eol +
			"--b" + eol + "Content-Type: " + returnedType + eol + eol + msg + eol + "--b--" + eol
		out.Reset()
		err = RedactDSN(&out, strings.NewReader(dsn), nil)
		require.NotContains(t, out.String(), mark, "RedactDSN case %d (err %v)", i, err)
	}
}
