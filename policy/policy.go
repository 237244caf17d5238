package policy

import (
	"fmt"
	"strconv"

	"github.com/requiretls/go-requiretls/tlsstatus"
)

// Tag is what a message asks of delivery, kept with the message from receipt
// to delivery (RFC 8689 Section 4.1). The zero Tag is [Default].
type Tag uint8

const (
	// Default: neither REQUIRETLS nor "TLS-Required: No". Delivery follows
	// the sender's normal TLS policy; REQUIRETLS is never sent.
	Default Tag = iota
	// Required: the MAIL parameter REQUIRETLS (RFC 8689 Section 4.1), or a
	// trusted "Require-TLS-ESMTP: yes" header (Postfix).
	Required
	// NotRequired: a valid "TLS-Required: No" header and no REQUIRETLS
	// (RFC 8689 Section 3, Section 4.2.2).
	NotRequired
)

// Signals are what a message says about its TLS requirement, from the
// envelope and the header, as [Signals.Tag] reads them. Naming the fields
// keeps the two from being swapped.
type Signals struct {
	// RequireTLS: the MAIL FROM parameter REQUIRETLS was given (RFC 8689
	// Section 4.1), or a "Require-TLS-ESMTP: yes" header the receiver
	// chose to honour (Postfix; header.Facts.RequireTLSESMTP from a
	// trusted source).
	RequireTLS bool
	// TLSRequiredNo: the header has a valid "TLS-Required: No" field
	// (RFC 8689 Section 3), as header.Facts.TLSRequiredNo reports it.
	TLSRequiredNo bool
}

// Tag derives the message's tag. REQUIRETLS wins: with it "the
// TLS-Required header field MUST be ignored" (RFC 8689 Section 4.1).
func (s Signals) Tag() Tag {
	switch {
	case s.RequireTLS:
		return Required
	case s.TLSRequiredNo:
		return NotRequired
	}
	return Default
}

var tagNames = [...]string{
	Default:     "default",
	Required:    "required",
	NotRequired: "not-required",
}

// String returns "default", "required", "not-required", or "tag(N)" for a
// value out of range.
func (t Tag) String() string {
	return enumName(uint8(t), "tag", tagNames[:]...)
}

// ParseTag parses a Tag's name as [Tag.String] writes it: "default",
// "required" or "not-required", ignoring ASCII case. Anything else,
// including "tag(N)", is an error wrapping [ErrUnknownTag], returned with
// [Required], the strictest tag, so that a caller who drops the error
// still fails closed.
func ParseTag(s string) (Tag, error) {
	for i, n := range tagNames {
		if equalFoldASCII(s, n) {
			return Tag(i), nil
		}
	}
	return Required, &ParseError{Input: s, Err: ErrUnknownTag, Msg: "unknown tag " + quote(s)}
}

// MarshalText returns the tag's name, as [Tag.String] does, so that a queue
// stores it by name: encoding/json writes "required", not 1, for a struct
// field or a map key. A value out of range is an error wrapping
// [ErrUnknownTag]; it is never written as a name that would read back as
// another tag.
func (t Tag) MarshalText() ([]byte, error) {
	if int(t) >= len(tagNames) {
		return nil, fmt.Errorf("policy: cannot store %v: %w", t, ErrUnknownTag)
	}
	return []byte(tagNames[t]), nil
}

// UnmarshalText parses text with [ParseTag]. On error it sets *t to
// [Required], the strictest tag, and returns the error. Note that
// encoding/json calls it only for a JSON string: a missing key or null
// leaves the Tag as it was, [Default] in a new value, so a queue that must
// not lose a tag should check that the field is there.
func (t *Tag) UnmarshalText(text []byte) error {
	v, err := ParseTag(string(text))
	*t = v
	return err
}

// Stage is how far a delivery attempt has got: which facts of an [Attempt]
// are known. Facts of later stages are ignored.
type Stage uint8

const (
	// BeforeConnect: only [Attempt.Auth] is known.
	BeforeConnect Stage = iota
	// AfterEHLO: the first EHLO reply is known ([Attempt.STARTTLSOffered]).
	AfterEHLO
	// AfterSTARTTLS: the STARTTLS outcome is known ([Attempt.Handshake],
	// [Attempt.Cert]).
	AfterSTARTTLS
	// AfterTLSEHLO: the EHLO reply after TLS is known
	// ([Attempt.RequireTLSAnnounced]). Only this EHLO counts for REQUIRETLS
	// (RFC 8689 Section 2; RFC 3207 Section 4.2).
	AfterTLSEHLO
)

// String returns the stage's name, e.g. "after-tls-ehlo", or "stage(N)".
func (s Stage) String() string {
	return enumName(uint8(s), "stage", "before-connect", "after-ehlo", "after-starttls", "after-tls-ehlo")
}

// enumName returns names[v], or prefix(v) for a value out of range.
func enumName(v uint8, prefix string, names ...string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return prefix + "(" + strconv.Itoa(int(v)) + ")"
}

// Auth is how the caller's TLS policy can authenticate the server, known
// before connecting (RFC 8689 Section 2, second and third bullets). The zero
// Auth is [AuthNone].
type Auth uint8

const (
	// AuthNone: TLS may be used but the server cannot be authenticated
	// (Postfix security levels "may" and "encrypt", or an MX lookup that
	// was neither DNSSEC-signed nor validated by MTA-STS).
	AuthNone Auth = iota
	// AuthNoEncryption: the TLS policy disables encryption (Postfix level
	// "none"). STARTTLS is not used even when offered.
	AuthNoEncryption
	// AuthDANE: DANE TLSA records from a DNSSEC-signed zone for a
	// DNSSEC-secured next hop (RFC 7672; Postfix "dane", "dane-only").
	AuthDANE
	// AuthMTASTS: the MX host name is validated by an MTA-STS policy
	// (RFC 8461 Section 4.1) and the certificate is checked with PKIX. A
	// policy in mode "none" validates nothing (RFC 8461 Section 5: treat the
	// domain as having no policy); RFC 8689 does not say whether "testing"
	// counts, so that is the caller's choice (the strict one is "enforce"
	// only).
	AuthMTASTS
	// AuthDNSSECMX: the MX RRset is DNSSEC-validated and the certificate is
	// checked with PKIX against the MX name.
	AuthDNSSECMX
	// AuthStaticPKIX: the next hop was not found by an MX lookup (a static
	// relay or submission server, or a domain without MX records delivered
	// to through its A or AAAA record) and the certificate is checked with
	// PKIX against that name. RFC 8689 Section 4.2.1 asks for a secure MX
	// lookup only when there was one; the certificate check still applies.
	AuthStaticPKIX
)

// String returns the name, e.g. "mta-sts", or "auth(N)".
func (a Auth) String() string {
	return enumName(uint8(a), "auth", "none", "no-encryption", "dane", "mta-sts", "dnssec-mx", "static-pkix")
}

// canAuthenticate reports whether the policy can authenticate the server
// (Postfix: the effective TLS level is a TLS_MUST_MATCH level).
func (a Auth) canAuthenticate() bool { return a >= AuthDANE && a <= AuthStaticPKIX }

// Handshake is the outcome of the STARTTLS command. The zero Handshake is
// [HandshakeFailed], so that a forgotten fact never counts as success.
type Handshake uint8

const (
	// HandshakeFailed: the TLS handshake failed; the session is unusable.
	HandshakeFailed Handshake = iota
	// HandshakeRefused: the server answered STARTTLS with an error reply;
	// the session is still usable in plaintext.
	HandshakeRefused
	// HandshakeOK: TLS is up.
	HandshakeOK
)

// String returns "failed", "refused", "ok", or "handshake(N)".
func (h Handshake) String() string {
	return enumName(uint8(h), "handshake", "failed", "refused", "ok")
}

// Cert is what certificate verification found after the handshake. The zero
// Cert is [CertUntrusted].
type Cert uint8

const (
	// CertUntrusted: no trust chain to a trusted root and no DANE match.
	CertUntrusted Cert = iota
	// CertNameMismatch: the chain is trusted but no DNS-ID or CN-ID matches
	// the host name (RFC 8689 Section 4.2.1 step 4).
	CertNameMismatch
	// CertAuthenticated: PKIX-valid with a matching name, or matched by DANE
	// (a DANE-EE(3) match needs no name match, RFC 7671 Section 5.1, which
	// RFC 8689 Section 4.2.1 accepts through RFC 7672).
	CertAuthenticated
)

// String returns "untrusted", "name-mismatch", "authenticated", or "cert(N)".
func (c Cert) String() string {
	return enumName(uint8(c), "cert", "untrusted", "name-mismatch", "authenticated")
}

// Attempt is what is known about one delivery attempt to one host. Fill it
// stage by stage and call [Evaluate] after each stage.
type Attempt struct {
	Tag        Tag    // the message's tag
	NullSender bool   // the reverse path is empty (a bounce; RFC 8689 Section 5)
	Level      Level  // the enforcement level for the next hop ([Policy.Lookup]); used only for Required messages
	MoreHosts  bool   // more hosts remain after this one (RFC 8689 Section 4.2.1: try each MX)
	Host       string // the server's host name, for the reason text

	Stage Stage // which of the facts below are known

	// BeforeConnect.
	Auth Auth // how this host can be authenticated
	// TLSLevel is the TLS security level in effect for this host, in
	// Postfix's words (smtp_tls_security_level, after a "dane" level fell
	// back for lack of usable TLSA records): none, may, encrypt,
	// fingerprint, halfdane, dane, dane-only, verify or secure. Evaluate
	// enforces it for every message as Postfix does: from "encrypt" up TLS
	// is required (4.7.4 without it), above "encrypt" the certificate must
	// be authenticated ([Cert], 4.7.5 otherwise). It is slot 0 of the
	// logged tls= field ([Field]). Empty means "may" ("none" with
	// AuthNoEncryption), as before this field was enforced; any other name
	// is treated as the strictest level and logged as "unknown". A message
	// tagged NotRequired caps it at "may" (RFC 8689 Section 4.2.2).
	TLSLevel tlsstatus.Name

	// AfterEHLO.
	STARTTLSOffered bool // the first EHLO reply lists STARTTLS; with implicit TLS (RFC 8314) report true

	// AfterSTARTTLS.
	Handshake     Handshake // how STARTTLS (or the implicit TLS handshake) ended
	STARTTLSReply string    // the server's reply when it refused STARTTLS, for the reason text
	Cert          Cert      // what certificate verification found; meaningful only with HandshakeOK

	// AfterTLSEHLO.
	RequireTLSAnnounced bool // the EHLO reply after TLS lists REQUIRETLS (with implicit TLS, RFC 8314, the first EHLO)
}

// Action is what the caller must do next.
type Action uint8

const (
	// Continue: nothing decided yet; go on to the next stage.
	Continue Action = iota + 1
	// SendRequireTLS: send MAIL FROM with the REQUIRETLS parameter
	// (RFC 8689 Section 4.2.1, last step).
	SendRequireTLS
	// SendWithout: send without REQUIRETLS. For a Required message this is
	// a downgrade and [Decision.RetHdrs] is set.
	SendWithout
	// Skip: this host fails; QUIT and try the next host (RFC 8689
	// Section 4.2.1). The code and reason are those to report if it turns
	// out to be the last one.
	Skip
	// Bounce: no more hosts; return the message to the sender with the
	// code and reason (RFC 8689 Section 4.2.1: MUST NOT transmit, MUST send
	// a non-delivery notification).
	Bounce
	// Defer: try again later (4.7.10 policy configuration error; on the
	// last host, 4.7.5 TLS handshake failure, or a TLS security level not
	// met: 4.7.4 no TLS, 4.7.5 certificate not verified).
	Defer
)

// String returns the action's name, e.g. "send-requiretls".
func (a Action) String() string {
	switch a {
	case Continue:
		return "continue"
	case SendRequireTLS:
		return "send-requiretls"
	case SendWithout:
		return "send-without"
	case Skip:
		return "skip"
	case Bounce:
		return "bounce"
	case Defer:
		return "defer"
	case 0:
		return "none"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Code is the enhanced status code (RFC 3463) of a failure.
// Convert it for go-smtp with smtp.EnhancedCode(c.Enhanced()).
type Code uint8

const (
	// NoCode: no failure, so no status code.
	NoCode Code = iota
	// CodeSupportRequired is 5.7.30, "REQUIRETLS support required" (RFC
	// 8689 Section 4.2.1 and Section 7): the next hop cannot carry the
	// message onwards with REQUIRETLS. Evaluate uses it when the server
	// announced no REQUIRETLS after TLS, and, like Postfix 3.11, when it
	// offered no STARTTLS at all.
	CodeSupportRequired
	// CodeEncryptionNeeded is 5.7.10, "Encryption needed" (RFC 8689
	// Section 4.2.1, RFC 5248). Evaluate uses it, like Postfix 3.11, when
	// STARTTLS was refused, when no server certificate was matched, and
	// when the TLS security level cannot match certificates at all.
	CodeEncryptionNeeded
	// CodePolicyError is 4.7.10, a temporary policy failure: the
	// REQUIRETLS policy lookup failed (a configuration error) or the
	// facts given to Evaluate are invalid. The message is deferred, never
	// bounced, like Postfix.
	CodePolicyError
	// CodeCryptoFailure is 4.7.5, "Cryptographic failure" (RFC 3463
	// X.7.5): the TLS handshake failed, or the TLS security level
	// requires an authenticated server certificate and it was not. The
	// message is deferred (Postfix "Cannot start TLS: handshake failure",
	// "Server certificate not verified").
	CodeCryptoFailure
	// CodeSecurityNotSupported is 4.7.4, "Security features not
	// supported" (RFC 3463 X.7.4): the TLS security level requires TLS
	// and the server did not offer STARTTLS or refused it. The message is
	// deferred (Postfix "TLS is required, but was not offered by host").
	CodeSecurityNotSupported
)

// Enhanced returns the code as three numbers, e.g. [5 7 30]; zero for NoCode.
func (c Code) Enhanced() [3]int {
	switch c {
	case CodeSupportRequired:
		return [3]int{5, 7, 30}
	case CodeEncryptionNeeded:
		return [3]int{5, 7, 10}
	case CodePolicyError:
		return [3]int{4, 7, 10}
	case CodeCryptoFailure:
		return [3]int{4, 7, 5}
	case CodeSecurityNotSupported:
		return [3]int{4, 7, 4}
	}
	return [3]int{}
}

// String returns the dotted form, e.g. "5.7.30", or "" for NoCode.
func (c Code) String() string {
	switch c {
	case CodeSupportRequired:
		return "5.7.30"
	case CodeEncryptionNeeded:
		return "5.7.10"
	case CodePolicyError:
		return "4.7.10"
	case CodeCryptoFailure:
		return "4.7.5"
	case CodeSecurityNotSupported:
		return "4.7.4"
	}
	return ""
}

// Outcome is one decision: the action, its status code, the feature to log
// in the REQUIRETLS slot of Postfix's tls= field, and the reason text.
type Outcome struct {
	Action Action // what the caller must do next
	Code   Code   // NoCode unless Action is Skip, Bounce or Defer
	// Feature is the REQUIRETLS slot of the tls= log field, e.g.
	// "!requiretls:nostarttls". It is the zero (inactive) Feature when
	// REQUIRETLS is not requested, the level is Disable, or the policy
	// lookup failed (Postfix does not activate the slot then).
	Feature tlsstatus.Feature

	why    reason
	host   string
	detail string
	// violated: the TLS security level was not met (slot 0 of the tls=
	// field is "!LEVEL").
	violated bool
}

// Decision is what [Evaluate] decided for one stage of one attempt.
type Decision struct {
	Outcome // what to do now: action, status code, feature to log, reason

	// WouldEnforce is, for the level [Monitor] only, what [Enforce] would
	// have decided; its Action is zero for every other level.
	WouldEnforce Outcome

	// RetHdrs asks the caller to send RET=HDRS instead of the sender's RET
	// when it sends without REQUIRETLS a message that requested it under a
	// level that let it go without (opportunistic, opportunistic+starttls,
	// monitor), to limit what a later bounce can expose (RFC 8689 Section 5
	// returns only headers for REQUIRETLS mail; Postfix 3.11 does this
	// too). Not under [Disable], where the request is ignored and the
	// sender's RET is kept, as in Postfix. Never set for an empty reverse
	// path: a DSN carries no RET (RFC 3461 Section 6.1).
	RetHdrs bool

	// CapTLS: the message is tagged "TLS-Required: No". Cap the TLS security
	// level at opportunistic (use STARTTLS if offered, fall back to
	// plaintext) and ignore the recipient domain's DANE and MTA-STS policies
	// (RFC 8689 Section 3, Section 4.2.2, Section 8.4).
	CapTLS bool

	// PlaintextFallback reports whether the policy permits retrying this
	// host without TLS after a failed handshake. It is false when the level
	// requires TLS (Enforce, OpportunisticSTARTTLS) or the TLS security
	// level is above "may", as in Postfix.
	PlaintextFallback bool
}

// Evaluate decides what to do at the attempt's stage. It is pure and does
// not allocate; the reason text is formatted on demand.
//
// The TLS security level ([Attempt.TLSLevel]) is enforced for every
// message, as Postfix enforces smtp_tls_security_level: a host that does
// not meet it is skipped while more hosts remain, and the message is
// deferred on the last one. When both the TLS security level and
// REQUIRETLS fail, the REQUIRETLS failure is reported (Postfix: "REQUIRETLS
// failure must take precedence").
//
// Values out of range never lower a requirement: an unknown [Tag] is
// treated as [Required], an unknown [Level] as [ConfigError] (4.7.10), and
// an unknown [Stage], or an unknown [Auth], [Handshake] or [Cert] at a
// stage where it is known, defers the message with [CodePolicyError]
// whatever its tag and level.
//
// Safety property (tested exhaustively): for a Required message with a
// non-empty reverse path under [Enforce], the only send decision is
// [SendRequireTLS], and only when the host can be authenticated, TLS is up,
// the certificate is authenticated and REQUIRETLS was announced after TLS
// (RFC 8689 Section 2, Section 4.2.1). [SendRequireTLS] is never decided
// without TLS, for any input.
func Evaluate(a Attempt) Decision {
	var d Decision
	if !a.known() {
		// A fact out of range (a caller bug or corrupted state) is not
		// guessed at: nothing is sent on it.
		d.Outcome = Outcome{Action: Defer, Code: CodePolicyError, why: whyInvalid, host: a.Host}
		return d
	}
	if a.Tag == Default || a.Tag == NotRequired { // an unknown Tag counts as Required
		d.Outcome, d.PlaintextFallback = unrequired(&a)
		d.CapTLS = a.Tag == NotRequired
		return d
	}
	switch a.Level {
	case Disable:
		// Postfix: the request is ignored; nothing is logged for it, and
		// the sender's RET is kept.
		d.Outcome, d.PlaintextFallback = unrequired(&a)
		return d
	case Enforce, OpportunisticSTARTTLS, Opportunistic:
		d.Outcome, d.PlaintextFallback = required(&a, a.Level)
	case Monitor:
		d.Outcome, d.PlaintextFallback = required(&a, Opportunistic)
		d.WouldEnforce, _ = required(&a, Enforce)
	default: // ConfigError, or a Level value we do not know: never relax.
		if a.NullSender {
			// RFC 8689 Section 5: a bounce must not be held back by the
			// REQUIRETLS policy, not even a broken one.
			d.Outcome, d.PlaintextFallback = required(&a, Opportunistic)
		} else {
			d.Outcome = Outcome{Action: Defer, Code: CodePolicyError, why: whyConfig, host: a.Host}
		}
	}
	// A downgrade: REQUIRETLS was requested and the level let it go.
	d.RetHdrs = d.Action == SendWithout && !a.NullSender
	return d
}

// security is what a TLS security level requires of a session, in
// Postfix's order (tls.h).
type security uint8

const (
	secNone    security = iota // "none": no TLS
	secMay                     // "may": TLS if offered
	secEncrypt                 // "encrypt": TLS required
	secMatch                   // "fingerprint" and above: TLS and an authenticated certificate
)

// security returns the TLS security level in effect and its name for the
// log: a.TLSLevel, its default when empty, the strictest for a name that
// is not a level, capped at "may" for a NotRequired message.
func (a *Attempt) security() (tlsstatus.Name, security) {
	name, sec := a.TLSLevel, secMatch
	switch name {
	case "":
		name, sec = tlsstatus.May, secMay
		if a.Auth == AuthNoEncryption {
			name, sec = tlsstatus.None, secNone
		}
	case tlsstatus.None:
		sec = secNone
	case tlsstatus.May:
		sec = secMay
	case tlsstatus.Encrypt:
		sec = secEncrypt
	case tlsstatus.Fingerprint, tlsstatus.HalfDANE, tlsstatus.DANE, tlsstatus.DANEOnly, tlsstatus.Verify, tlsstatus.Secure:
	default:
		// Not a level we know: never relax, and never log caller text.
		name = tlsstatus.Unknown
	}
	if a.Tag == NotRequired && sec > secMay {
		// RFC 8689 Section 4.2.2; Postfix caps the level at "may".
		name, sec = tlsstatus.May, secMay
	}
	return name, sec
}

// plaintext reports whether the session stays without TLS: STARTTLS was
// not offered, or the TLS policy disables encryption.
func (a *Attempt) plaintext() bool {
	_, sec := a.security()
	return !a.STARTTLSOffered || a.Auth == AuthNoEncryption || sec == secNone
}

// tlsUp reports whether TLS is up at a's stage.
func (a *Attempt) tlsUp() bool {
	return a.Stage >= AfterSTARTTLS && !a.plaintext() && a.Handshake == HandshakeOK
}

// Field returns the tls= log field Postfix would write for the attempt a
// and the decision d that [Evaluate] made for it, e.g. "verify/requiretls"
// or "!verify/!requiretls:nocertmatch". Slot 0 is the TLS security level
// ([Attempt.TLSLevel]): "!LEVEL" when the host did not meet it, "LEVEL"
// once TLS is up, "LEVEL:none" when the message goes out in plaintext, and
// "LEVEL?" when the attempt ended (or has not yet got) before any of those.
// Slot 1 is [Outcome.Feature], the REQUIRETLS slot, left out when inactive.
func Field(a Attempt, d Decision) tlsstatus.Field {
	name, _ := a.security()
	f := tlsstatus.Feature{Name: name}
	switch {
	case d.violated:
		f.Violation = true
	case a.known() && a.tlsUp():
	case d.Action == SendWithout:
		if name != tlsstatus.None {
			f.Final = tlsstatus.None
		}
	default:
		f.Undecided = true
	}
	return tlsstatus.Field{f, d.Feature}
}

// known reports whether every fact that counts at a.Stage is in range.
func (a *Attempt) known() bool {
	switch {
	case a.Stage > AfterTLSEHLO, a.Auth > AuthStaticPKIX:
		return false
	case a.Stage >= AfterSTARTTLS:
		return a.Handshake <= HandshakeOK && a.Cert <= CertAuthenticated
	}
	return true
}

// unrequired decides for a message that does not (or no longer) request
// REQUIRETLS: use STARTTLS when offered (RFC 8689 Section 3, "SHOULD
// negotiate STARTTLS"), and veto only what the TLS security level vetoes.
func unrequired(a *Attempt) (Outcome, bool) {
	_, sec := a.security()
	o := Outcome{Action: Continue, host: a.Host}
	switch {
	case a.Stage == BeforeConnect:
	case a.plaintext():
		if sec >= secEncrypt {
			return levelFail(a, o, whyTLSNotOffered), false
		}
		o.Action = SendWithout
	case a.Stage == AfterEHLO:
	case a.Handshake == HandshakeRefused:
		if sec >= secEncrypt {
			o.detail = a.STARTTLSReply
			return levelFail(a, o, whyTLSRefused), false
		}
		o.Action = SendWithout
	case a.Handshake != HandshakeOK:
		o = handshakeFailed(a, o)
	case sec == secMatch && a.Cert != CertAuthenticated:
		return levelFail(a, o, whyCertNotVerified), false
	case a.Stage == AfterSTARTTLS:
	default:
		o.Action = SendWithout
	}
	return o, sec <= secMay
}

// required decides for a message that requests REQUIRETLS at the given
// level (Enforce, OpportunisticSTARTTLS or Opportunistic), following Postfix
// 3.11's smtp_connect.c and smtp_proto.c, with the empty reverse path
// exemption of RFC 8689 Section 5.
func required(a *Attempt, level Level) (Outcome, bool) {
	if a.NullSender {
		// RFC 8689 Section 4.2.1 applies only "for which the MAIL FROM
		// return-path is not empty"; Section 5: SHOULD NOT discard.
		level = Opportunistic
	}
	_, sec := a.security()
	strict := level == Enforce || level == OpportunisticSTARTTLS
	// Postfix PLAINTEXT_FALLBACK_OK: only at "may" and when REQUIRETLS
	// does not require TLS.
	fallback := !strict && sec <= secMay
	o := Outcome{
		Action:  Continue,
		Feature: tlsstatus.Feature{Name: tlsstatus.RequireTLS, Undecided: true},
		host:    a.Host,
	}

	// Stage 1: can this host be authenticated at all?
	switch {
	case level == Enforce && !a.Auth.canAuthenticate():
		// Postfix logs nocertmatch under enforce even for level none.
		return fail(a, o, CodeEncryptionNeeded, whyCertLevel, tlsstatus.NoCertMatch), false
	case level == OpportunisticSTARTTLS && (a.Auth == AuthNoEncryption || sec == secNone):
		return fail(a, o, CodeEncryptionNeeded, whyNoEncryption, tlsstatus.NoEncryption), false
	case a.Stage == BeforeConnect:
		return o, fallback
	}

	// Stage 2: STARTTLS offered? RFC 8689 Section 8.2: "REQUIRETLS detects
	// the failure of STARTTLS and declines to send the message". Postfix
	// decides both slots, then reports the REQUIRETLS failure first.
	if a.plaintext() {
		o.violated = sec >= secEncrypt
		switch {
		case strict:
			// RFC 8689 maps no code to a server without STARTTLS;
			// Postfix uses 5.7.30 here, not 5.7.10, and so do we.
			return fail(a, o, CodeSupportRequired, whyNoSTARTTLS, tlsstatus.NoSTARTTLS), false
		case o.violated:
			return levelFail(a, o, whyTLSNotOffered), false
		}
		return downgrade(o, whyNoSTARTTLS), true
	}
	if a.Stage == AfterEHLO {
		return o, fallback
	}

	// Stage 3: TLS up, certificate authenticated?
	switch a.Handshake {
	case HandshakeOK:
	case HandshakeRefused:
		o.detail = a.STARTTLSReply
		o.violated = sec >= secEncrypt
		switch {
		case strict:
			return fail(a, o, CodeEncryptionNeeded, whyRefused, tlsstatus.NoSTARTTLS), false
		case o.violated:
			return levelFail(a, o, whyTLSRefused), false
		}
		return downgrade(o, whyRefused), true
	default:
		// The REQUIRETLS slot stays undecided.
		return handshakeFailed(a, o), fallback
	}
	authenticated := a.Auth.canAuthenticate() && a.Cert == CertAuthenticated
	if sec == secMatch && a.Cert != CertAuthenticated {
		o.violated = true
	}
	switch {
	case level == Enforce && !authenticated:
		// RFC 8689 Section 8.2: "requires successful certificate
		// validation before sending the message".
		why := whyCertUntrusted
		if a.Cert == CertNameMismatch {
			why = whyCertMismatch
		}
		return fail(a, o, CodeEncryptionNeeded, why, tlsstatus.NoCertMatch), false
	case o.violated:
		// Compliant for REQUIRETLS, not for the TLS security level.
		o.Feature = tlsstatus.Feature{Name: tlsstatus.RequireTLS, Final: tlsstatus.NoCertMatch}
		return levelFail(a, o, whyCertNotVerified), false
	case a.Stage == AfterSTARTTLS:
		return o, fallback
	}

	// Stage 4: REQUIRETLS in the EHLO reply after TLS (RFC 8689 Section 2).
	if !a.RequireTLSAnnounced {
		if level == Enforce {
			return fail(a, o, CodeSupportRequired, whyNoRequireTLS, tlsstatus.None), false
		}
		return downgrade(o, whyNotOffered), fallback
	}
	o.Action = SendRequireTLS
	o.Feature = tlsstatus.Feature{Name: tlsstatus.RequireTLS}
	if !authenticated {
		// Compliant under the opportunistic levels: Postfix logs the
		// outcome, requiretls:nocertmatch, not a violation.
		o.Feature.Final = tlsstatus.NoCertMatch
	}
	return o, fallback
}

// fail turns a failed requirement into Skip (more hosts remain: the 5xx is
// soft until the last host, so that the next MX is tried, as in Postfix
// 3.11) or Bounce.
func fail(a *Attempt, o Outcome, code Code, why reason, final tlsstatus.Name) Outcome {
	o.Action = Bounce
	if a.MoreHosts {
		o.Action = Skip
	}
	o.Code = code
	o.why = why
	o.Feature = tlsstatus.Feature{Name: tlsstatus.RequireTLS, Final: final, Violation: true}
	if why == whyCertLevel || why == whyNoEncryption {
		o.detail = string(a.TLSLevel)
		if o.detail == "" {
			o.detail = string(tlsstatus.May)
			if a.Auth == AuthNoEncryption {
				o.detail = string(tlsstatus.None)
			}
		}
	}
	return o
}

// downgrade sends without REQUIRETLS, logged as requiretls:none.
func downgrade(o Outcome, why reason) Outcome {
	o.Action = SendWithout
	o.why = why
	o.Feature = tlsstatus.Feature{Name: tlsstatus.RequireTLS, Final: tlsstatus.None}
	return o
}

// levelFail is a host that does not meet the TLS security level: next
// host, or defer (Postfix smtp_site_fail with a 4.7.x code): 4.7.5 for a
// certificate not authenticated, 4.7.4 for no TLS.
func levelFail(a *Attempt, o Outcome, why reason) Outcome {
	o.Action = Defer
	if a.MoreHosts {
		o.Action = Skip
	}
	o.Code = CodeSecurityNotSupported
	if why == whyCertNotVerified {
		o.Code = CodeCryptoFailure
	}
	o.why = why
	o.violated = true
	return o
}

// handshakeFailed makes the session unusable: next host, or defer (4.7.5).
func handshakeFailed(a *Attempt, o Outcome) Outcome {
	o.Action = Defer
	if a.MoreHosts {
		o.Action = Skip
	}
	o.Code = CodeCryptoFailure
	o.why = whyHandshake
	return o
}
