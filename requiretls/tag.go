package requiretls

import (
	"bytes"
	"errors"
	"io"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/policy"
)

// Tagger is implemented by a session, wrapped by [NewBackend], that wants to
// know the tag of each message it receives: RFC 8689 Section 4.1 says the
// server MUST tag the message and keep the tag for onward relay. SetTag is
// called once per message, just before Data or LMTPData and on the same
// goroutine (for BDAT, go-smtp's Data goroutine), never while another call
// into the session runs. A message refused before its data reaches the
// session (see [ErrUnsafeHeader]) gets no SetTag.
type Tagger interface {
	SetTag(tag policy.Tag)
}

// scanTag reads the message's header section from r (never its body) and
// returns the message's tag and a reader that yields the whole message,
// with its header edited.
//
// The tag is Required for the REQUIRETLS parameter, or for a valid
// "Require-TLS-ESMTP: yes" field when the options trust it; NotRequired for a
// valid "TLS-Required: No" without either (RFC 8689 Section 4.1, R24, R25);
// Default otherwise. A Required message gets exactly one
// "Require-TLS-ESMTP: yes" with [ServerOptions.FilterHeader]; a message
// from an untrusted source, or one that is not Required, loses every
// Require-TLS-ESMTP field. A header section that cannot be read to its end
// or edited safely gives the error to answer, and no tag.
func (s *session) scanTag(r io.Reader) (policy.Tag, io.Reader, error) {
	head, facts, err := header.ReadHead(r)
	if err != nil {
		return policy.Default, nil, headerError(err)
	}
	trusted := s.opts.TrustRequireTLSESMTP
	tag := policy.TagOf(s.txn.requireTLS || trusted && facts.RequireTLSESMTP, facts.TLSRequiredNo)
	switch {
	case s.opts.FilterHeader && tag == policy.Required:
		head, err = header.SetRaw(head, header.LineRequireTLSESMTPYes)
	case (!trusted || tag != policy.Required) && mentions(head, header.FieldRequireTLSESMTP):
		// Malformed copies too ("yes\x00", "yes (x)"): a later reader
		// might be more lenient than ours.
		head, err = header.RemoveRaw(head, header.FieldRequireTLSESMTP)
	}
	if err != nil {
		return policy.Default, nil, headerError(err)
	}
	return tag, io.MultiReader(bytes.NewReader(head), r), nil
}

// headerError is the reply to a message whose header section
// header.ReadHead could not read to its end, or header.SetRaw or
// header.RemoveRaw could not edit. A read error of the message data is
// go-smtp's own, and answered as it is.
func headerError(err error) error {
	var pe *header.ParseError
	switch {
	case errors.Is(err, header.ErrHeaderTooLong):
		return ErrHeaderTooLarge
	case errors.As(err, &pe):
		return ErrUnsafeHeader
	}
	return err
}

// mentions reports whether b contains name, ignoring ASCII case.
func mentions(b []byte, name string) bool {
	return bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(name)))
}
