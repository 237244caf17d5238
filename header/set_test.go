package header

import (
	"bytes"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeHeader(t *testing.T, h textproto.Header) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, textproto.WriteHeader(&b, h))
	return b.String()
}

func TestSetTLSRequiredNo(t *testing.T) {
	for _, tc := range []struct {
		name, hdr, want string
	}{
		{"R18 exact spelling, not Tls-Required", "From: a\r\n\r\n", "TLS-Required: No\r\nFrom: a\r\n\r\n"},
		{"R21 existing exact field kept in place", "From: a\r\nTLS-Required: No\r\n\r\n", "From: a\r\nTLS-Required: No\r\n\r\n"},
		{"R21 other spelling replaced", "From: a\r\ntls-required: no\r\n\r\n", "TLS-Required: No\r\nFrom: a\r\n\r\n"},
		{"R21 E3 duplicates collapse to one", "TLS-Required: No\r\nFrom: a\r\nTLS-Required: Yes\r\n\r\n", "TLS-Required: No\r\nFrom: a\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := readHeader(t, tc.hdr)
			SetTLSRequiredNo(&h)
			assert.Equal(t, tc.want, writeHeader(t, h))
			SetTLSRequiredNo(&h)
			assert.Equal(t, tc.want, writeHeader(t, h), "idempotent")
			assert.Equal(t, Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, Inspect(h))
		})
	}
}

func TestSetRequireTLSESMTP(t *testing.T) {
	h := readHeader(t, "Require-TLS-ESMTP: YES\r\nFrom: a\r\nRequire-TLS-ESMTP: no\r\n\r\n")
	SetRequireTLSESMTP(&h)
	SetRequireTLSESMTP(&h)
	assert.Equal(t, "Require-TLS-ESMTP: yes\r\nFrom: a\r\n\r\n", writeHeader(t, h), "one field, Postfix spelling")
	assert.Equal(t, Facts{RequireTLSESMTP: true}, Inspect(h))
	RemoveRequireTLSESMTP(&h)
	RemoveRequireTLSESMTP(&h)
	assert.Equal(t, "From: a\r\n\r\n", writeHeader(t, h))
}

func TestRemoveTLSRequired(t *testing.T) {
	h := readHeader(t, "TLS-Required: No\r\nFrom: a\r\ntls-required: yes\r\n\r\n")
	RemoveTLSRequired(&h)
	assert.Equal(t, "From: a\r\n\r\n", writeHeader(t, h))
	assert.Equal(t, Facts{}, Inspect(h), "E16 Default after removal")
}

func TestReceive(t *testing.T) {
	const hdr = "Require-TLS-ESMTP: yes\r\nTLS-Required: No\r\nFrom: a\r\n\r\n"
	for _, tc := range []struct {
		name string
		src  Source
		want Facts
		out  string
	}{
		{"untrusted: Require-TLS-ESMTP stripped and ignored", Untrusted,
			Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, "TLS-Required: No\r\nFrom: a\r\n\r\n"},
		{"zero Source is untrusted", Source(0),
			Facts{TLSRequiredNo: true, TLSRequiredFields: 1}, "TLS-Required: No\r\nFrom: a\r\n\r\n"},
		{"trusted content-filter return: honoured and kept", Trusted,
			Facts{TLSRequiredNo: true, TLSRequiredFields: 1, RequireTLSESMTP: true}, hdr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := readHeader(t, hdr)
			assert.Equal(t, tc.want, Receive(&h, tc.src))
			assert.Equal(t, tc.out, writeHeader(t, h))
		})
	}
}
