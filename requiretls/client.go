package requiretls

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// CheckMail reports whether a message may be sent with REQUIRETLS on c, as
// RFC 8689 Section 2 requires of the session: it must be under TLS (after
// STARTTLS or with implicit TLS), and the EHLO reply received under TLS must
// announce REQUIRETLS. Call it before c.Mail with MailOptions.RequireTLS.
//
// The error wraps [ErrEncryptionNeeded] (5.7.10) when the session is not
// under TLS, and [ErrREQUIRETLSRequired] (5.7.30) when the keyword is missing,
// so errors.Is and errors.As with *smtp.SMTPError both work; go-smtp's own
// check returns a plain error that callers cannot match.
//
// Whether the server's certificate was authenticated is the caller's TLS
// configuration's business (RFC 8689 Section 4.2.1); the policy package
// decides what to do with that fact.
func CheckMail(c *smtp.Client) error {
	if _, ok := c.TLSConnectionState(); !ok {
		return fmt.Errorf("requiretls: session is not under TLS: %w", ErrEncryptionNeeded)
	}
	// go-smtp forgets the pre-TLS EHLO reply at STARTTLS and sends EHLO
	// again, so this is the post-TLS reply (RFC 3207 Section 4.2).
	if ok, _ := c.Extension(Keyword); !ok {
		return fmt.Errorf("requiretls: next hop does not announce REQUIRETLS after TLS: %w", ErrREQUIRETLSRequired)
	}
	return nil
}
