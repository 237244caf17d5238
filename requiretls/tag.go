package requiretls

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

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
	// SetTag receives the tag of the message whose data comes next.
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
//
// The reader is s.msg, over a buffer from headBufs: the caller, holding
// s.mu, calls s.msg.release once the wrapped session's Data has returned,
// whether scanTag succeeded or not.
func (s *session) scanTag(r io.Reader) (policy.Tag, io.Reader, error) {
	buf := headBufs.Get().(*[]byte)
	s.msg = messageReader{buf: buf}
	head, facts, err := header.ReadHeadBuf(r, *buf)
	if err != nil {
		return policy.Default, nil, headerError(err)
	}
	trusted := s.opts.TrustRequireTLSESMTP
	tag := policy.Signals{
		RequireTLS:    s.txn.requireTLS || trusted && facts.RequireTLSESMTP,
		TLSRequiredNo: facts.TLSRequiredNo,
	}.Tag()
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
	s.msg.head, s.msg.rest = head, r
	return tag, &s.msg, nil
}

// headBufs holds the buffers scanTag reads header sections into, so that
// a message whose header section ends in its first 4 KiB costs no
// allocation for it (header.ReadHeadBuf allocates past that, as
// header.ReadHead does).
var headBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// messageReader is the reader the wrapped session's Data gets: the header
// bytes scanTag read (and edited), then the rest of the message. It is a
// field of the session and its buffer comes from headBufs, so that the
// glue costs no allocation per message.
//
// The buffer is given back by release, which Data and LMTPData call once
// the wrapped session's Data has returned: go-smtp's own contract is that
// a session consumes the reader before Data returns, and a wrapped session
// must not keep it past that either, since the next message reuses the
// buffer. A Read after release fails with errReaderReleased instead of
// reading another message's bytes.
type messageReader struct {
	head []byte    // the header bytes not yet read
	rest io.Reader // the rest of the message: go-smtp's reader
	buf  *[]byte   // from headBufs; head may share its storage
}

var errReaderReleased = errors.New("requiretls: message read after Data returned")

func (m *messageReader) Read(p []byte) (int, error) {
	if len(m.head) > 0 {
		n := copy(p, m.head)
		m.head = m.head[n:]
		return n, nil
	}
	if m.rest == nil {
		return 0, errReaderReleased
	}
	return m.rest.Read(p)
}

// release gives the buffer back to headBufs and forgets the message.
func (m *messageReader) release() {
	if m.buf != nil {
		headBufs.Put(m.buf)
	}
	*m = messageReader{}
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

// mentions reports whether b contains name, ignoring case as bytes.ToLower
// does: b is read as UTF-8 (an invalid byte is U+FFFD), and each character
// that unicode.ToLower maps to name's next character matches it, "İ"
// (U+0130) an "i" included. It reads b in place. name is ASCII and does
// not start with "i" or "k", the two letters non-ASCII characters lower to
// (U+0130 and U+212A), so a match starts at an ASCII byte: name's first
// letter in either case.
//
// Most header sections do not mention name at all, and a search for the
// first letter stops at every word that starts with it, so mentions first
// looks for the part of name after its last "i" or "k": only ASCII bytes
// lower to those characters, so a plain ASCII case-insensitive search
// finds every place a match can end in, and mostly none.
func mentions(b []byte, name string) bool {
	if !containsFold(b, name[strings.LastIndexAny(name, "iIkK")+1:]) {
		return false
	}
	f := newCaseFinder(b, name[0])
	for i := f.next(); i < len(b); i = f.next() {
		if lowersTo(b[i:], name) {
			return true
		}
	}
	return false
}

// containsFold reports whether b contains s, ignoring the case of ASCII
// letters. It looks for the first byte of s that is not a letter, which
// has one case only, or else for the first letter in either case.
func containsFold(b []byte, s string) bool {
	if s == "" {
		return true
	}
	a := 0
	for k := range len(s) {
		if asciiLower(s[k]) == asciiUpper(s[k]) {
			a = k
			break
		}
	}
	f := newCaseFinder(b, s[a])
	for i := f.next(); i < len(b); i = f.next() {
		if start := i - a; start >= 0 && len(b)-start >= len(s) && asciiEqualFold(b[start:start+len(s)], s) {
			return true
		}
	}
	return false
}

// caseFinder finds, in order, the offsets in b of an ASCII byte in either
// case, with one bytes.IndexByte search per case ahead.
type caseFinder struct {
	b              []byte
	lo, up         byte
	nextLo, nextUp int // the next offset of lo and of up, or len(b)
}

func newCaseFinder(b []byte, c byte) caseFinder {
	f := caseFinder{b: b, lo: asciiLower(c), up: asciiUpper(c), nextLo: indexFrom(b, asciiLower(c), 0), nextUp: len(b)}
	if f.up != f.lo {
		f.nextUp = indexFrom(b, f.up, 0)
	}
	return f
}

// next returns the next offset, or len(b) when there is none.
func (f *caseFinder) next() int {
	i := min(f.nextLo, f.nextUp)
	if i == len(f.b) {
		return i
	}
	if i == f.nextLo {
		f.nextLo = indexFrom(f.b, f.lo, i+1)
	} else {
		f.nextUp = indexFrom(f.b, f.up, i+1)
	}
	return i
}

// indexFrom returns the index of the first c in b at or after from, or
// len(b).
func indexFrom(b []byte, c byte, from int) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}

// lowersTo reports whether the characters at the start of b lower to
// those of name, one for one.
func lowersTo(b []byte, name string) bool {
	for k := 0; k < len(name); k++ {
		if len(b) == 0 {
			return false
		}
		r, n := rune(b[0]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(b)
		}
		if unicode.ToLower(r) != rune(asciiLower(name[k])) {
			return false
		}
		b = b[n:]
	}
	return true
}

func asciiLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func asciiUpper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// asciiEqualFold reports whether w and s are equal, ignoring the case of
// ASCII letters.
func asciiEqualFold(w []byte, s string) bool {
	if len(w) != len(s) {
		return false
	}
	for k := range len(s) {
		if asciiLower(w[k]) != asciiLower(s[k]) {
			return false
		}
	}
	return true
}
