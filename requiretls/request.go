package requiretls

import (
	"errors"
	"net"
	"strings"

	"github.com/requiretls/go-requiretls/policy"
)

// RequestPolicy makes the server glue tag messages Required that did not
// ask for it, by where they come from or where they go: the question the
// Postfix REQUIRETLS README leaves open ("perhaps there needs to be a
// parameter setting to request REQUIRETLS for specific email sources or
// contexts?"). A submission server can tag all mail of one group of users,
// a relay all mail from one internal network. A tagged message is handled
// exactly as if its MAIL command had carried REQUIRETLS (RFC 8689 Section
// 4.1): a [Tagger] gets [policy.Required], the Received field says
// "(requiretls)", and delivery must then meet RFC 8689 Section 4.2.
//
// A request policy only ever raises a requirement. A message whose MAIL
// carried REQUIRETLS stays Required whatever the tables say, and no table
// value makes a message NotRequired. A "TLS-Required: No" field does not
// undo the tag: REQUIRETLS wins (RFC 8689 Section 4.1, "the TLS-Required
// header field MUST be ignored"), and the field is passed on unchanged, as
// for a message whose MAIL carried REQUIRETLS.
//
// The tables are looked up in this order, each as soon as its key is
// known: Client, Identity and Sender at MAIL, Recipient at each RCPT. The
// first that requests REQUIRETLS tags the whole transaction (a message has
// one tag, so a recipient that requests it tags the message for its other
// recipients too); the order only decides which key the Logger names.
// A nil table is not looked up.
//
// On a session without TLS, a command whose key requests REQUIRETLS is
// refused with [ErrEncryptionNeeded] (523 5.7.10), before the wrapped
// session sees it, exactly as "MAIL FROM:<...> REQUIRETLS" is: RFC 8689
// Section 4.1 lets a server accept REQUIRETLS only over TLS. Tagging the
// message anyway and leaving delivery to enforce it would promise a
// protection its first hop never had, and nobody would learn of it; the
// refusal tells the client at once, and it can retry with STARTTLS. So a
// Client or Sender hit refuses MAIL, a Recipient hit refuses that RCPT
// (others may still be accepted), on a plaintext session.
type RequestPolicy struct {
	// Client is keyed by the client's IP address in canonical form
	// ("192.0.2.1", "2001:db8::1"; an IPv4-mapped address as IPv4): cidr:
	// tables and inline: address keys match it. A client without an IP
	// address (a UNIX socket) is looked up as "", which requests REQUIRETLS.
	Client *RequestTable
	// Identity is keyed by the identity AUTH authenticated (RFC 4954), as
	// the wrapped session reports it through [AuthIdentity]. It is looked
	// up only after a successful AUTH. If the wrapped session does not
	// implement AuthIdentity, every message of an authenticated client is
	// tagged Required (the identity is unknown, so the strictest reading
	// applies). Keys are names in host name syntax (letters, digits, "-",
	// "_", "."), compared without regard to case: an identity with any
	// other character, such as "alice@example.com", requests REQUIRETLS.
	Identity *RequestTable
	// Sender is keyed by the domain of the MAIL FROM address (what follows
	// its last "@"; a domain literal such as "[192.0.2.1]" is its
	// address, so cidr: matches it). inline: keys ".example.com" match
	// subdomains, as in the delivery policy. The null reverse path "<>" (a
	// bounce) is not looked up; an address without "@" is looked up as "",
	// which requests REQUIRETLS.
	Sender *RequestTable
	// Recipient is keyed by the domain of each RCPT TO address, as Sender.
	Recipient *RequestTable
}

// AuthIdentity is implemented by a session, wrapped by [NewBackend], that
// tells the glue whom AUTH authenticated, for [RequestPolicy.Identity]: the
// glue itself does not decode SASL exchanges, which only the session's own
// sasl.Server understands. AuthIdentity is called at MAIL, after AUTH
// succeeded.
type AuthIdentity interface {
	// AuthIdentity returns the identity the session's AUTH exchange
	// authenticated, the key looked up in [RequestPolicy.Identity].
	AuthIdentity() string
}

// RequestTable is one table of a [RequestPolicy]: a policy in the syntax of
// Postfix's smtp_requiretls_policy, whose values say whether a key requests
// REQUIRETLS. A RequestTable is immutable and safe for concurrent use.
type RequestTable struct {
	p *policy.Policy
}

// ParseRequestTable parses a request table, such as
//
//	cidr:{ {10.0.0.0/8 enforce} {0.0.0.0/0 disable} }
//	inline:{ {lawfirm.example = enforce} {.lawfirm.example = enforce} }
//	regexp:{ {/^partner-/ enforce} }
//	static:enforce
//
// with [policy.Parse], which gives the syntax, its tables (inline:,
// cidr:, regexp:, pcre:, static:, and file tables through opts.ReadFile)
// and its errors. The items are looked up in order and the first hit
// decides, as in the delivery policy. A value "disable" means that the key
// does not request REQUIRETLS; every other value requests it: "enforce",
// but also, as the strictest reading, any other word ("require" is fine),
// a table that fails, and a key the lookup cannot read. A key that no item
// matches does not request REQUIRETLS.
func ParseRequestTable(s string, opts *policy.ParseOptions) (*RequestTable, error) {
	// A final "disable" tells "no item matched" from a match: the policy's
	// own no-match value is Enforce. As a continuation line it is read
	// after whatever s ends with, a comment line included.
	const noMatch = "\n disable"
	p, err := policy.Parse(s+noMatch, opts)
	var pe *policy.ParseError
	if errors.As(err, &pe) && len(pe.Input) >= len(noMatch) && strings.TrimLeft(pe.Input[len(pe.Input)-len(noMatch):], " \n") == "disable" {
		// The error shows what the caller wrote (after main.cf line
		// joining and $name expansion), not the final "disable".
		e := *pe
		e.Input = pe.Input[:len(pe.Input)-len(noMatch)]
		return nil, &e
	}
	if err != nil {
		return nil, err
	}
	return &RequestTable{p: p}, nil
}

// Requests reports whether key requests REQUIRETLS. It is false for a nil
// table.
func (t *RequestTable) Requests(key string) bool {
	return t != nil && t.p.Lookup(key) != policy.Disable
}

// Key kinds, as the Logger names them in its "requested_by" attribute.
const (
	byClient    = "client"
	byIdentity  = "identity"
	bySender    = "sender"
	byRecipient = "recipient"
)

// requestAtMail returns which key, known at MAIL, requests REQUIRETLS for a
// message from from, or "". It is called with mu held.
func (s *session) requestAtMail(from string) string {
	r := s.opts.Request
	switch {
	case r == nil:
		return ""
	case r.Client.Requests(clientIP(s.conn.Conn().RemoteAddr())):
		return byClient
	case r.Identity != nil && s.authenticated && r.Identity.Requests(s.authIdentity()):
		return byIdentity
	case from != "" && r.Sender.Requests(domainOf(from)):
		return bySender
	}
	return ""
}

// authIdentity is the identity the wrapped session says AUTH
// authenticated, or "" (which requests REQUIRETLS) if it does not say.
func (s *session) authIdentity() string {
	if a, ok := s.inner.(AuthIdentity); ok {
		return a.AuthIdentity()
	}
	return ""
}

// clientIP is the key of [RequestPolicy.Client].
func clientIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip := t.AddrPort().Addr().Unmap().WithZone(""); ip.IsValid() {
			return ip.String()
		}
	}
	return ""
}

// domainOf returns what follows the last "@" of an address, or "".
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}
