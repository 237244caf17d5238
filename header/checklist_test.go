package header

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleA2 is the example message of RFC 8689 Appendix A.2: a report of a
// certificate problem, sent with TLS not required.
const exampleA2 = "From: Roger Reporter <roger@example.org>\r\n" +
	"To: Andy Admin <admin@example.com>\r\n" +
	"Subject: Certificate problem?\r\n" +
	"TLS-Required: No\r\n" +
	"Date: Fri, 18 Jan 2019 10:26:55 -0800\r\n" +
	"Message-ID: <5c421a6f79c0e_d153ff8286d45c468473@mail.example.org>\r\n" +
	"\r\n" +
	"Your certificate expired yesterday.\r\n"

// R17: the header field asks that the recipient's TLS policy be ignored,
// for example to report an expired certificate. The A.2 report must be
// read as that request by every reader of this package.
func TestR17ReportOfMisconfiguredServer(t *testing.T) {
	want := Facts{TLSRequiredNo: true, TLSRequiredFields: 1}

	f, end, err := Scan([]byte(exampleA2))
	require.NoError(t, err)
	assert.Equal(t, want, f, "Scan")
	assert.Equal(t, strings.Index(exampleA2, "Your"), end)

	assert.Equal(t, want, Inspect(readHeader(t, exampleA2)), "Inspect")

	f, _, err = ScanReader(strings.NewReader(exampleA2))
	require.NoError(t, err)
	assert.Equal(t, want, f, "ScanReader")
}

// R40: a sender that does not want TLS required MUST include the field; one
// that has no preference adds none (E16). What it writes must be read back
// by a receiver as the request (R40, second sentence: Section 4.1).
func TestR40SenderIncludesTLSRequired(t *testing.T) {
	withoutField := strings.Replace(exampleA2, "TLS-Required: No\r\n", "", 1)

	t.Run("R40 go-message header", func(t *testing.T) {
		h := readHeader(t, withoutField)
		require.Equal(t, Facts{}, Inspect(h), "E16: no preference, no field")
		SetTLSRequiredNo(&h)
		out := writeHeader(t, h)
		assert.Equal(t, 1, strings.Count(strings.ToLower(out), "tls-required:"))
		f, _, err := Scan([]byte(out + "\r\nbody\r\n"))
		require.NoError(t, err)
		assert.Equal(t, Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, f)
	})
	t.Run("R40 raw message", func(t *testing.T) {
		out, err := SetRaw([]byte(withoutField), LineTLSRequiredNo)
		require.NoError(t, err)
		f, _, err := Scan(out)
		require.NoError(t, err)
		assert.Equal(t, Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, f)
		assert.True(t, strings.HasSuffix(string(out), "\r\n\r\nYour certificate expired yesterday.\r\n"), "body untouched")
	})
}

// R55: the registered field name is "TLS-Required". Every writer emits that
// spelling byte for byte (go-message alone would write "Tls-Required"), and
// readers match it case-insensitively, as field names are.
func TestR55RegisteredFieldName(t *testing.T) {
	assert.Equal(t, "TLS-Required", FieldTLSRequired)

	h := readHeader(t, "From: a\r\n\r\n")
	SetTLSRequiredNo(&h)
	assert.True(t, strings.HasPrefix(writeHeader(t, h), "TLS-Required: No\r\n"))

	raw, err := SetRaw([]byte("From: a\r\n\r\n"), LineTLSRequiredNo)
	require.NoError(t, err)
	assert.Equal(t, "From: a\r\nTLS-Required: No\r\n\r\n", string(raw))

	for _, name := range []string{"tls-required", "TLS-REQUIRED", "Tls-Required"} {
		f, _, err := Scan([]byte(name + ": No\r\n\r\n"))
		require.NoError(t, err)
		assert.True(t, f.TLSRequiredNo, name)
	}
}

// R51 E11: a mediator that reoriginates a delivered message (the envelope is
// gone) can still apply the message's requirement, because both directions
// survive in the stored header: Require-TLS-ESMTP for REQUIRETLS (written by
// the receiving server's FilterHeader option or SetRequireTLSESMTP) and
// TLS-Required: No for TLS not required. Which one wins is the caller's
// policy.Signals.Tag (REQUIRETLS, R25).
func TestR51ReoriginationKeepsTheTag(t *testing.T) {
	const stored = "From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name  string
		lines []string
		want  Facts
	}{
		{"R51 E11 REQUIRETLS survives delivery", []string{LineRequireTLSESMTPYes}, Facts{RequireTLSESMTP: true}},
		{"R51 E11 TLS-Required: No survives delivery", []string{LineTLSRequiredNo}, Facts{TLSRequiredNo: true, TLSRequiredFields: 1}},
		{"R51 E11 both are kept for the caller to rank", []string{LineTLSRequiredNo, LineRequireTLSESMTPYes},
			Facts{TLSRequiredNo: true, TLSRequiredFields: 1, RequireTLSESMTP: true}},
		{"R51 E11 E16 no requirement stays none", nil, Facts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(stored)
			for _, l := range tc.lines {
				var err error
				msg, err = SetRaw(msg, l)
				require.NoError(t, err)
			}
			// Delivered to a mailbox, read back by the mediator.
			_, f, err := ReadHead(strings.NewReader(string(msg)))
			require.NoError(t, err)
			assert.Equal(t, tc.want, f)
		})
	}
}
