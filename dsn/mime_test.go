package dsn

import "testing"

// TestRedactDSNMIMEFields: Content-Type and Content-Transfer-Encoding are
// read as MIME reads them (RFC 2045 Sections 5.1 and 6.1: case-insensitive
// names, quoted-string values), and a value that two parsers could read
// differently (an RFC 5322 comment, which go-message does not strip and
// Postfix does; a duplicate field; RFC 2231 or RFC 2047 forms of the
// boundary, which go-message decodes) is refused, never guessed (issue 12
// item 8; R46: a misread returned part leaks its body).
func TestRedactDSNMIMEFields(t *testing.T) { checkRedactCases(t, mimeFieldCases()) }

func mimeFieldCases() []redactCase {
	const head = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
	const ds = "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822;a@b\nAction: failed\nStatus: 5.7.30\n\n"
	const tail = "--b--\n"
	// A QP-encoded returned message whose decoded header ends after
	// "Subject: x": read undecoded, the body is one more header line.
	const qpMessage = "\nSubject: x=0A=0A" + marker + ": y\n\nz\n"
	// A returned message nested where only its type marks it: inside the
	// human-readable part, before the delivery-status part.
	nested := func(ct string) string {
		return head + "--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\nContent-Type: text/plain\n\nhi\n--c\nContent-Type: " + ct +
			"\n\nSubject: s\n\n" + marker + "\n--c--\n" + ds + tail
	}
	returned := func(fields string) string {
		return head + ds + "--b\n" + fields + "\n\nSubject: s\n\n" + marker + "\n" + tail
	}
	return []redactCase{
		{"CTE with a comment", head + ds + "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable (x)\n" + qpMessage + tail, ErrMalformed},
		{"CTE quoted", head + ds + "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: \"quoted-printable\"\n" + qpMessage + tail, ErrMalformed},
		{"two CTE fields", head + ds + "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: quoted-printable\n" + qpMessage + tail, ErrMalformed},
		{"CTE in upper case", head + ds + "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: Quoted-Printable\n" + qpMessage + tail, ErrEncoded},
		{"CTE folded", head + ds + "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding:\n quoted-printable\n" + qpMessage + tail, ErrEncoded},
		{"CTE empty", returned("Content-Type: message/rfc822\nContent-Transfer-Encoding:"), ErrMalformed},
		{"CTE unknown on a returned part", returned("Content-Type: message/rfc822\nContent-Transfer-Encoding: x-uuencode"), ErrEncoded},
		{"CTE 8BIT on a returned part", returned("Content-Type: message/rfc822\nContent-Transfer-Encoding: 8BIT"), nil},
		{"two CTE fields in a kept part", head + "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n\nhi\n" + ds + tail, ErrMalformed},
		{"two CTE fields at the top", "Content-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: 8bit\n" + head + ds + tail, ErrMalformed},
		{"top level base64", "Content-Transfer-Encoding: base64\n" + head + ds + tail, ErrEncoded},
		{"type with a comment", nested("message/rfc822 (returned message)"), ErrMalformed},
		{"type with a leading comment", nested("(returned) message/rfc822"), ErrMalformed},
		{"parameter with a comment", nested("message/rfc822; x=y (z)"), ErrMalformed},
		{"broken parameter", nested("message/rfc822; x="), ErrMalformed},
		{"space around the slash", nested("message / rfc822"), ErrMalformed},
		{"type in mixed case", nested("Message/RFC822"), nil},
		{"returned type quoted parameters", nested(`message/rfc822; name="a (b); c"`), nil},
		{"top-level parameters quoted and in upper case", "Content-Type: multipart/report; Report-Type=\"delivery-status\"; BOUNDARY=\"b\"\n\n" + ds + tail, nil},
		{"top-level type with a comment", "Content-Type: multipart/report (dsn); report-type=delivery-status; boundary=b\n\n" + ds + tail, ErrMalformed},
		{"two Content-Type fields at the top", "Content-Type: text/plain\n" + head + ds + tail, ErrMalformed},
		{"boundary in RFC 2231 continuations", "Content-Type: multipart/report; report-type=delivery-status; boundary*0=b; boundary*1=\"\"\n\n" + ds + tail, ErrMalformed},
		{"boundary as an RFC 2047 encoded word", "Content-Type: multipart/report; report-type=delivery-status; boundary=\"=?us-ascii?q?b?=\"\n\n--=?us-ascii?q?b?=\n\n" + marker + "\n--=?us-ascii?q?b?=--\n", ErrMalformed},
		{"duplicate parameter", "Content-Type: multipart/report; report-type=delivery-status; boundary=b; boundary=c\n\n" + ds + tail, ErrMalformed},
	}
}
