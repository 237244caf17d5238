package header

import (
	"bytes"

	"github.com/emersion/go-message/textproto"
)

// SetTLSRequiredNo makes h carry exactly one TLS-Required field, spelled
// "TLS-Required: No" (RFC 8689 Section 3: a message MUST NOT carry more
// than one). Any other TLS-Required field is removed first. If h already has
// exactly that single field it is left where it is, so calling
// SetTLSRequiredNo twice changes nothing.
//
// Only a sender that wants TLS not to be required adds the field; a message
// with no preference gets none (RFC 8689 Section 4.3, read as "when the
// sender wants TLS not to be required": adding it to every message would
// switch off MTA-STS and DANE for ordinary mail).
//
// The field is added as raw bytes: go-message's Header.Add would write the
// canonical MIME form "Tls-Required". Like any go-message addition it goes
// at the top of the header.
func SetTLSRequiredNo(h *textproto.Header) { setOnly(h, FieldTLSRequired, LineTLSRequiredNo) }

// RemoveTLSRequired removes every TLS-Required field from h.
func RemoveTLSRequired(h *textproto.Header) { h.Del(FieldTLSRequired) }

// SetRequireTLSESMTP makes h carry exactly one Require-TLS-ESMTP field,
// spelled "Require-TLS-ESMTP: yes" as Postfix 3.11 writes it, in the same
// way as [SetTLSRequiredNo].
func SetRequireTLSESMTP(h *textproto.Header) {
	setOnly(h, FieldRequireTLSESMTP, LineRequireTLSESMTPYes)
}

// RemoveRequireTLSESMTP removes every Require-TLS-ESMTP field from h.
func RemoveRequireTLSESMTP(h *textproto.Header) { h.Del(FieldRequireTLSESMTP) }

func setOnly(h *textproto.Header, name, line string) {
	want := line + "\r\n"
	fields := h.FieldsByKey(name)
	if fields.Len() == 1 && fields.Next() {
		if raw, err := fields.Raw(); err == nil && bytes.Equal(raw, []byte(want)) {
			return
		}
	}
	h.Del(name)
	h.AddRaw([]byte(want))
}

// Source says where a message came from, for the trust boundary on
// Require-TLS-ESMTP.
type Source int

const (
	// Untrusted is any source the caller does not control: SMTP clients,
	// submission. The zero value, so forgetting to choose is safe.
	Untrusted Source = iota
	// Trusted is a path the caller controls end to end, such as the return
	// path of its own content filter or a local re-injection.
	Trusted
)

// Receive applies the trust boundary and then reports the Facts of h.
//
// From an Untrusted source every Require-TLS-ESMTP field is removed from h,
// so it is neither honoured nor relayed: only the REQUIRETLS MAIL parameter
// may ask for REQUIRETLS there (RFC 8689 Section 4.1). From a Trusted source
// the field is kept and honoured. This goes beyond Postfix 3.11, which
// honours the field from any client, so that anyone can tag a message that
// way, even over plaintext. TLS-Required is left alone in both cases: it is
// standard, anyone may send it (RFC 8689 Section 4.1: a server MUST tag the
// message with it), and the caller must still let a REQUIRETLS MAIL
// parameter override it (RFC 8689 Section 4.1: the field is then ignored).
func Receive(h *textproto.Header, src Source) Facts {
	if src != Trusted {
		RemoveRequireTLSESMTP(h)
	}
	return Inspect(*h)
}
