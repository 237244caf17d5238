package requiretls

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"
)

// CheckMail reports whether a message may be sent with REQUIRETLS on c, as
// RFC 8689 Section 2 and Section 4.2.1 require of the session: it must be
// under TLS (after STARTTLS or with implicit TLS), the handshake must have
// completed with the server's certificate chain verified for the server's
// name, and the EHLO reply received under TLS must announce REQUIRETLS. Call
// it before c.Mail with MailOptions.RequireTLS.
//
// The certificate counts as verified when crypto/tls verified it during
// the handshake (the ConnectionState has VerifiedChains): against the
// tls.Config's RootCAs, or the system roots, and its ServerName, which
// go-smtp sets to the host of the address dialled when it is empty. Set
// ServerName to the MX host name (RFC 8689 Section 4.2.1 step 4): a
// certificate for the IP address dialled does not authenticate an MX host.
// A session with InsecureSkipVerify is never authenticated here; for DANE
// use the [Dialer] and its TLSConfig.VerifyConnection.
//
// The error wraps [ErrEncryptionNeeded] (5.7.10) when the session is not
// under TLS, the handshake failed or the server is not authenticated, and
// [ErrSupportRequired] (5.7.30) when the keyword is missing, so errors.Is
// and errors.As with *smtp.SMTPError both work; go-smtp's own check returns
// a plain error that callers cannot match.
func CheckMail(c *smtp.Client) error {
	if _, ok := c.TLSConnectionState(); !ok {
		return refusal(nil, nil, false)
	}
	// go-smtp forgets the pre-TLS EHLO reply at STARTTLS and sends EHLO
	// again, so this is the post-TLS reply (RFC 3207 Section 4.2). That
	// EHLO is also where go-smtp runs the handshake of smtp.DialStartTLS,
	// and Extension does not return its error: the ConnectionState below
	// shows it.
	announced, _ := c.Extension(Keyword)
	cs, _ := c.TLSConnectionState()
	var authErr error
	if len(cs.VerifiedChains) == 0 {
		authErr = errNotVerified
	}
	return refusal(&cs, authErr, announced)
}

var errNotVerified = errors.New("requiretls: the server's certificate was not verified in the TLS handshake")

// refusal says why a message must not be sent with REQUIRETLS on a session,
// or nil if it may: cs is the session's TLS state (nil without TLS),
// authErr why the server is not authenticated (nil if it is), announced
// whether the EHLO reply under TLS lists REQUIRETLS. RFC 8689 Section 4.2.1
// names 5.7.10 for a session without authenticated TLS and 5.7.30 for a
// next hop without REQUIRETLS.
func refusal(cs *tls.ConnectionState, authErr error, announced bool) error {
	switch {
	case cs == nil:
		return fmt.Errorf("requiretls: session is not under TLS: %w", ErrEncryptionNeeded)
	case !cs.HandshakeComplete:
		return fmt.Errorf("requiretls: TLS handshake did not complete: %w", ErrEncryptionNeeded)
	case authErr != nil:
		return fmt.Errorf("requiretls: server not authenticated: %w (%w)", ErrEncryptionNeeded, authErr)
	case !announced:
		return fmt.Errorf("requiretls: next hop does not announce REQUIRETLS after TLS: %w", ErrSupportRequired)
	}
	return nil
}
