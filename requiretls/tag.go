package requiretls

import (
	"bytes"
	"io"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/policy"
)

// Tagger is implemented by a session, wrapped by [NewBackend], that wants to
// know the tag of each message it receives: RFC 8689 Section 4.1 says the
// server MUST tag the message and keep the tag for onward relay. SetTag is
// called once per message, before Data or LMTPData.
type Tagger interface {
	SetTag(tag policy.Tag)
}

// scanTag reads the message's header section from r (never its body) and
// returns the message's tag and a reader that yields the whole message,
// with its header edited if [ServerOptions.FilterHeader] asks for it.
//
// The tag is Required for the REQUIRETLS parameter, or for a valid
// "Require-TLS-ESMTP: yes" field when the options trust it; NotRequired for a
// valid "TLS-Required: No" without either (RFC 8689 Section 4.1, R24, R25);
// Default otherwise. A header section the scanner cannot finish (too long,
// read error) yields the facts seen so far, which never relax TLS; the error
// itself is left for the wrapped session, which reads the same bytes.
func (s *session) scanTag(r io.Reader) (policy.Tag, io.Reader, error) {
	head, facts, scanErr := header.ReadHead(r)
	requireTLS := s.requireTLS || s.opts.TrustRequireTLSESMTP && facts.RequireTLSESMTP
	tag := policy.TagOf(requireTLS, facts.TLSRequiredNo)
	if s.opts.FilterHeader {
		// Without the whole header section a forged field could hide
		// past the part read, so an unfinished scan refuses too.
		err := scanErr
		if err == nil && tag == policy.Required {
			head, err = header.SetRaw(head, header.LineRequireTLSESMTPYes)
		} else if err == nil && mentions(head, header.FieldRequireTLSESMTP) {
			// Malformed copies too ("yes\x00", "yes (x)"): a reader on the
			// trusted return path might be more lenient than ours.
			head, err = header.RemoveRaw(head, header.FieldRequireTLSESMTP)
		}
		if err != nil {
			return tag, nil, ErrUnsafeHeader
		}
	}
	return tag, io.MultiReader(bytes.NewReader(head), r), nil
}

// mentions reports whether b contains name, ignoring ASCII case.
func mentions(b []byte, name string) bool {
	return bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(name)))
}
