package requiretls

import "github.com/requiretls/go-requiretls/policy"

// Tagger is implemented by a session, wrapped by [NewBackend], that wants to
// know the tag of each message it receives: RFC 8689 Section 4.1 says the
// server MUST tag the message and keep the tag for onward relay. SetTag is
// called once per message, before Data or LMTPData.
type Tagger interface {
	SetTag(tag policy.Tag)
}

// tag is the tag of the message of the current transaction.
func (s *session) tag() policy.Tag {
	return policy.TagOf(s.requireTLS, false)
}
