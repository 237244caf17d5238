package requiretls

import "github.com/emersion/go-smtp"

// ExtensionName is the textual name of the extension (RFC 8689 Section 2
// item 1).
const ExtensionName = "Require TLS"

// Keyword is both the EHLO keyword and the MAIL FROM parameter of the
// extension (RFC 8689 Section 2 items 2 and 4). It takes no value.
const Keyword = "REQUIRETLS"

// LineIncrement is by how many octets a MAIL FROM command line may exceed
// the RFC 5321 limit when it carries " REQUIRETLS" (RFC 8689 Section 2 item 5).
const LineIncrement = len(" " + Keyword) // 11

var (
	// ErrSupportRequired is the reply of RFC 8689 Section 4.2.1 for a
	// message that cannot be sent because the next hop does not support
	// REQUIRETLS: 550 5.7.30 (RFC 8689 Section 7.2).
	ErrSupportRequired = &smtp.SMTPError{
		Code:         550,
		EnhancedCode: smtp.EnhancedCode{5, 7, 30},
		Message:      "REQUIRETLS support required",
	}

	// ErrEncryptionNeeded is the reply for a message that needs TLS where
	// none could be had: 523 5.7.10 (RFC 8689 Section 4.2.1, RFC 5248). The
	// server glue returns it for REQUIRETLS on a session without TLS.
	ErrEncryptionNeeded = &smtp.SMTPError{
		Code:         523,
		EnhancedCode: smtp.EnhancedCode{5, 7, 10},
		Message:      "Encryption needed: REQUIRETLS requires a TLS session",
	}
)
