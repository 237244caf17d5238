package dsn

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"

	"github.com/requiretls/go-requiretls/internal/readpattern"
)

const fuzzMark = "MRKFUZZBODY"

// FuzzRedactMessage: no panic; the output is a MIME entity go-message
// reads; the body (which starts with a marker) never appears in it.
func FuzzRedactMessage(f *testing.F) {
	f.Add([]byte("Subject: s\r\nFrom: a@b"), []byte("body\r\n"))
	f.Add([]byte("From x\nSubject: s\n continued"), []byte("--b\n"))
	f.Add([]byte("TLS-Required: No\nSubject: r\xc3\xa9"), []byte(""))
	f.Add([]byte(" bad"), []byte("x"))
	f.Fuzz(func(t *testing.T, hdr, body []byte) {
		in := string(hdr) + "\r\n\r\n" + fuzzMark + string(body)
		// The same output and error whatever the Read sizes (issue 13).
		if err := readpattern.Check(readpattern.Fixed, []byte(in), func(r io.Reader) ([]byte, error) {
			var b bytes.Buffer
			err := RedactMessage(&b, r, nil)
			return b.Bytes(), err
		}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := RedactMessage(&out, strings.NewReader(in), nil); err != nil {
			return
		}
		if bytes.Contains(out.Bytes(), []byte(fuzzMark)) {
			t.Fatalf("body leaked: %q", out.String())
		}
		e, err := message.Read(&out)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		if _, err := io.Copy(io.Discard, e.Body); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRedactDSN fuzzes the human-readable part and the returned header
// section of a DSN whose returned body starts with a marker: no panic; the
// marker never appears in the output; a redacted DSN redacts to itself.
func FuzzRedactDSN(f *testing.F) {
	f.Add([]byte("hi"), []byte("Subject: s"))
	f.Add([]byte("--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\nx\n--c--\n"), []byte("Subject: s\n\nmore"))
	f.Add([]byte(""), []byte("Subject: s\n--b\n\nX: y"))
	f.Add([]byte("--b--\n"), []byte(""))
	// Lines readers disagree on (issue 12 item 1): near delimiters, a
	// delimiter with another line ending, bare CRs, empty field names.
	f.Add([]byte("--bx\n--b-x\n--b-- text"), []byte("Subject: s\r\rX: y"))
	f.Add([]byte("x\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nS: s\r\n\r\nbody"), []byte(": x\nSubject: s"))
	f.Add([]byte("a\rContent-Type: message/rfc822"), []byte("Subject: s\r"))
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err == nil {
			f.Add(b[:min(len(b), 400)], b[len(b)/2:])
		}
	}
	f.Fuzz(func(t *testing.T, human, hdr []byte) {
		in := "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
			"--b\nContent-Type: text/plain\n\n" + string(human) + "\n" +
			"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822;a@b\nAction: failed\nStatus: 5.7.30\n\n" +
			"--b\nContent-Type: message/rfc822\n\n" + string(hdr) + "\n\n" + fuzzMark + "\n--b--\n"
		var out bytes.Buffer
		err := RedactDSN(&out, strings.NewReader(in), nil)
		if bytes.Contains(out.Bytes(), []byte(fuzzMark)) {
			t.Fatalf("body leaked (err %v): %q", err, out.String())
		}
		// The same output and error whatever the Read sizes (issue 13).
		if err := readpattern.Check(readpattern.Fixed, []byte(in), func(r io.Reader) ([]byte, error) {
			var b bytes.Buffer
			err := RedactDSN(&b, r, nil)
			return b.Bytes(), err
		}); err != nil {
			t.Fatal(err)
		}
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := RedactDSN(&again, bytes.NewReader(out.Bytes()), nil); err != nil {
			t.Fatalf("redacted output does not redact again: %v\n%q", err, out.String())
		}
		if again.String() != out.String() {
			t.Fatalf("a second redaction changes the output:\n%q\n%q", out.String(), again.String())
		}
	})
}

// FuzzParsePartType: no panic; an accepted header section has at most one
// Content-Type and one Content-Transfer-Encoding, a lower-case type that
// go-message reads the same way, and a token as its encoding.
func FuzzParsePartType(f *testing.F) {
	for _, s := range []string{
		"Content-Type: message/rfc822 (returned message)\n",
		"Content-Type: Message/RFC822; name=\"a (b); c\"\n",
		"Content-Type: multipart/report; Report-Type=\"delivery-status\";\n\tBOUNDARY=\"b\"\n",
		"Content-Type: multipart/report; boundary*0=a; boundary*1=b\n",
		"Content-Type: multipart/report; boundary=\"=?us-ascii?q?b?=\"\n",
		"Content-Transfer-Encoding: quoted-printable (x)\n",
		"Content-Transfer-Encoding: \"base64\"\n",
		"Content-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n",
		"Content-Transfer-Encoding:\n 8BIT\nContent-Type: text/plain;\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		pt, err := parsePartType(raw)
		if err != nil {
			return
		}
		if len(fieldValues(raw, "Content-Type")) > 1 || len(fieldValues(raw, "Content-Transfer-Encoding")) > 1 {
			t.Fatalf("duplicate field accepted: %q", raw)
		}
		if pt.media != strings.ToLower(pt.media) || pt.cte != "" && !isToken(pt.cte) {
			t.Fatalf("accepted %q as %+v", raw, pt)
		}
	})
}

// FuzzRedactDSNInput fuzzes whole bounces, seeded with the real ones and
// the inputs of the table tests: no panic; the same output and error for
// every fixed read pattern (issue 13); an accepted output is read by
// go-message and redacts to itself, byte for byte.
func FuzzRedactDSNInput(f *testing.F) {
	files, _ := filepath.Glob("testdata/dsn-real/*.eml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, in := range redactDSNTableInputs() {
		f.Add(in)
	}
	redact := func(r io.Reader) ([]byte, error) {
		var b bytes.Buffer
		err := RedactDSN(&b, r, nil)
		return b.Bytes(), err
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := readpattern.Check(readpattern.Fixed, in, redact); err != nil {
			t.Fatal(err)
		}
		out, err := redact(bytes.NewReader(in))
		if err != nil {
			return
		}
		if _, err := message.Read(bytes.NewReader(out)); err != nil && !message.IsUnknownCharset(err) && !bytes.HasPrefix(out, []byte("From ")) {
			t.Fatalf("output does not parse: %v\n%q", err, out)
		}
		again, err := redact(bytes.NewReader(out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("a second redaction changes the output (err %v):\n%q\n%q", err, out, again)
		}
	})
}

// FuzzNotification: no panic reading any delivery-status content; the
// part written from it has one line ending throughout, no line that could
// be a delimiter, and every recipient block's address.
func FuzzNotification(f *testing.F) {
	f.Add([]byte("Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.7.30\r\nDiagnostic-Code: smtp; 550 5.7.30\r\n no\r\n"), "\r\n")
	f.Add([]byte("\n\nFinal-Recipient: rfc822;a@b\n\n\nFinal-Recipient: x\rAction: \x00\n"), "\n")
	f.Add([]byte(" continued\r\nReporting-MTA\r\n\r\n\tx\r\n--b\r\n"), "\r\n")
	f.Fuzz(func(t *testing.T, status []byte, eol string) {
		if eol != "\r\n" {
			eol = "\n"
		}
		part := notification(status, eol)
		if !bytes.HasSuffix(part, []byte(eol+eol)) {
			t.Fatalf("part does not end with a blank line: %q", part)
		}
		for _, l := range strings.SplitAfter(string(part), eol) {
			if strings.HasPrefix(l, "--") || strings.ContainsAny(strings.TrimSuffix(l, eol), "\r\n") {
				t.Fatalf("bad line %q in %q", l, part)
			}
		}
	})
}

// FuzzRecipientFromReply: any reply and address either fail with
// ErrInvalidReport or give a recipient block that Compose accepts.
func FuzzRecipientFromReply(f *testing.F) {
	f.Add("bob@example.com", "mx.example.com", 550, 5, 7, 30, "REQUIRETLS support required")
	f.Add("jos\u00e9@example.com", "", 451, -1, -1, -1, "a\r\nb")
	f.Add("a", "b", 250, 2, 0, 0, "")
	f.Fuzz(func(t *testing.T, rcpt, mta string, code, e0, e1, e2 int, msg string) {
		rc, err := RecipientFromReply(rcpt, mta, SMTPReply{code, [3]int{e0, e1, e2}, msg})
		if err != nil {
			if !errors.Is(err, ErrInvalidReport) {
				t.Fatal(err)
			}
			return
		}
		rep := &Report{From: "a", To: "b", ReportingMTA: "dns; x", Recipients: []Recipient{rc}}
		if err := rep.validate(); err != nil {
			t.Fatalf("%+v: %v", rc, err)
		}
	})
}

// fieldValues returns the unfolded values of the fields called name.
func fieldValues(raw []byte, name string) []string {
	var vs []string
	eachField(raw, func(n, lines []byte) {
		if n != nil && bytes.EqualFold(n, []byte(name)) {
			vs = append(vs, string(unfold(nil, lines)))
		}
	})
	return vs
}
