package policy

import "strconv"

// reason selects the Postfix 3.11 wording of a decision's reason text.
type reason uint8

const (
	whyNone          reason = iota
	whyCertLevel            // enforce, before connecting
	whyNoEncryption         // opportunistic+starttls, before connecting
	whyNoSTARTTLS           // no STARTTLS in the EHLO reply
	whyRefused              // STARTTLS answered with an error
	whyHandshake            // TLS handshake failure
	whyCertMismatch         // trusted chain, no name match
	whyCertUntrusted        // no trusted chain
	whyNoRequireTLS         // enforce, no REQUIRETLS after TLS
	whyNotOffered           // downgrade, no REQUIRETLS after TLS
	whyConfig               // policy configuration error
	whyInvalid              // a fact of the attempt is out of range

	// The TLS security level, whatever the tag.
	whyTLSNotOffered   // no STARTTLS
	whyTLSRefused      // STARTTLS answered with an error
	whyCertNotVerified // certificate not authenticated
)

const prefix = "Sender requested REQUIRETLS, but "

// Reason returns the reason text in Postfix's wording, e.g. "Sender
// requested REQUIRETLS, but no server was found that supports REQUIRETLS.
// The last attempted server was mx.example.com". It is empty when there is
// nothing to explain (Continue, SendRequireTLS, an untagged send).
func (o Outcome) Reason() string {
	if o.why == whyNone {
		return ""
	}
	return string(o.AppendReason(make([]byte, 0, 160)))
}

// AppendReason appends [Outcome.Reason] to b, for logging without
// allocation.
func (o Outcome) AppendReason(b []byte) []byte {
	last := ". The last attempted server was "
	switch o.why {
	case whyCertLevel:
		b = append(b, prefix+"my configured TLS security level "...)
		b = append(b, '\'')
		b = appendPrintable(b, o.detail)
		b = append(b, "' disables certificate matching"...)
	case whyNoEncryption:
		b = append(b, prefix+"my configured TLS security level "...)
		b = append(b, '\'')
		b = appendPrintable(b, o.detail)
		b = append(b, "' disables encryption"...)
	case whyNoSTARTTLS:
		b = append(b, prefix+"TLS service was not offered by host "...)
		return appendHost(b, o.host)
	case whyRefused:
		return appendRefusedTLS(append(b, prefix+"host "...), o)
	case whyHandshake:
		return append(b, "Cannot start TLS: handshake failure"...)
	case whyTLSNotOffered:
		b = append(b, "TLS is required, but was not offered by host "...)
		return appendHost(b, o.host)
	case whyTLSRefused:
		return appendRefusedTLS(append(b, "TLS is required, but host "...), o)
	case whyCertNotVerified:
		return append(b, "Server certificate not verified"...)
	case whyCertMismatch:
		b = append(b, prefix+"no matching server certificate was found"...)
	case whyCertUntrusted:
		b = append(b, prefix+"no trusted server certificate was found"...)
	case whyNoRequireTLS:
		b = append(b, prefix+"no server was found that supports REQUIRETLS"...)
	case whyNotOffered:
		b = append(b, prefix+"REQUIRETLS support was not offered by host "...)
		return appendHost(b, o.host)
	case whyConfig:
		b = append(b, "REQUIRETLS policy configuration error"...)
	case whyInvalid:
		b = append(b, "REQUIRETLS policy error: unknown delivery attempt facts"...)
	default:
		return b
	}
	b = append(b, last...)
	return appendHost(b, o.host)
}

func appendHost(b []byte, host string) []byte {
	if host == "" {
		return append(b, "(unknown)"...)
	}
	return appendPrintable(b, host)
}

// appendPrintable appends s with control characters and non-ASCII bytes
// escaped, so that a server reply or host name can never inject CR/LF into
// a log line or a DSN.
func appendPrintable(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b = append(b, c)
			continue
		}
		b = append(b, `\x`...)
		b = strconv.AppendUint(b, uint64(c)>>4, 16)
		b = strconv.AppendUint(b, uint64(c)&15, 16)
	}
	return b
}

// appendRefusedTLS appends "HOST refused to start TLS", and the server's
// reply after a colon when there is one.
func appendRefusedTLS(b []byte, o Outcome) []byte {
	b = appendHost(b, o.host)
	b = append(b, " refused to start TLS"...)
	if o.detail != "" {
		b = append(b, ": "...)
		b = appendPrintable(b, o.detail)
	}
	return b
}
