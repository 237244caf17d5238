package requiretls

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

// errDuplicateRcpt is returned by [Conn.Rcpt] on an LMTP session for a
// recipient already accepted in the transaction.
var errDuplicateRcpt = errors.New("recipient given twice in one LMTP transaction")

// errNoReply is the [LMTPReply.Err] of a recipient that Conn.Rcpt accepted
// but go-smtp read no reply for.
var errNoReply = errors.New("no LMTP reply for the recipient")

// errNotLMTP is returned by [Conn.LMTPData] on an SMTP session.
var errNotLMTP = errors.New("requiretls: LMTPData on a session not dialled with Dialer.LMTP")

// LMTPReply is an LMTP server's reply after DATA for one recipient.
type LMTPReply struct {
	// Err is nil when the server took the message for the recipient.
	// Otherwise it is the server's refusal, an *smtp.SMTPError (bounce the
	// recipient on 5xx, retry it on 4xx), or the error that kept the reply
	// from arriving: whether the recipient got the message is then unknown
	// (retry it; RFC 5321 Section 6.1 prefers a duplicate to a loss).
	Err error
	// Text is the text of the server's 250 reply (often with a queue or
	// message id, for the log), empty when Err is not nil.
	Text string
}

// LMTPData sends DATA on an LMTP session ([Dialer.LMTP]), copies the
// message from r and reads the server's reply for each recipient that
// [Conn.Rcpt] got accepted (RFC 2033 Section 4.2). It returns one entry per
// such recipient, keyed by the address as given to Rcpt.
//
// err is not nil when the transaction failed as a whole. When DATA was
// refused or the message could not be written, the map is nil: no
// recipient got the message. When the message was sent but a reply did not
// arrive, each recipient without a reply has err as its [LMTPReply.Err]. A
// refusal for some recipients only is not an err.
func (c *Conn) LMTPData(r io.Reader) (map[string]LMTPReply, error) {
	if !c.lmtp {
		return nil, errNotLMTP
	}
	w, err := c.Client.Data()
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, r); err != nil {
		return nil, fmt.Errorf("requiretls: LMTP message: %w", err)
	}
	ok, err := w.CloseWithLMTPResponse()
	var refused smtp.LMTPDataError
	errors.As(err, &refused)
	if _, only := err.(smtp.LMTPDataError); only {
		err = nil // refusals for some recipients, the session is fine
	}
	out := make(map[string]LMTPReply, len(c.rcpts))
	for _, rcpt := range c.rcpts {
		switch {
		case ok[rcpt] != nil:
			out[rcpt] = LMTPReply{Text: ok[rcpt].StatusText}
		case refused[rcpt] != nil:
			out[rcpt] = LMTPReply{Err: refused[rcpt]}
		case err != nil:
			out[rcpt] = LMTPReply{Err: err}
		default:
			// go-smtp read no reply for it: the transaction was changed on
			// Client behind Conn's back. Not a success.
			out[rcpt] = LMTPReply{Err: fmt.Errorf("requiretls: %w: %q", errNoReply, rcpt)}
		}
	}
	return out, err
}
