package dsn

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// readerOnly hides bytes.Reader's WriteTo, so that io.Copy really copies
// and every contender reads the same bytes through Read.
type readerOnly struct{ io.Reader }

func body10MB() string {
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
	return strings.Repeat(line, 10<<20/len(line))
}

func BenchmarkRedactMessage10MB(b *testing.B) {
	in := []byte(msgHeader + body10MB())
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if err := RedactMessage(io.Discard, readerOnly{bytes.NewReader(in)}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// go-message: read the entity, write its header into a
	// text/rfc822-headers part with go-message's writer, and consume the
	// body as an entity pipeline does.
	b.Run("gomessage", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			gomessageRedactMessage(b, readerOnly{bytes.NewReader(in)}, true)
		}
	})
	// The same, stopping after the header (go-message does not require
	// the body to be read).
	b.Run("gomessage-header-only", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			gomessageRedactMessage(b, readerOnly{bytes.NewReader(in)}, false)
		}
	})
	b.Run("iocopy", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.Copy(io.Discard, readerOnly{bytes.NewReader(in)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func gomessageRedactMessage(b *testing.B, r io.Reader, drain bool) {
	e, err := message.Read(r)
	if err != nil {
		b.Fatal(err)
	}
	var h message.Header
	h.Set("Content-Type", "text/rfc822-headers")
	w, err := message.CreateWriter(io.Discard, h)
	if err != nil {
		b.Fatal(err)
	}
	if err := textproto.WriteHeader(w, e.Header.Header); err != nil {
		b.Fatal(err)
	}
	w.Close()
	if drain {
		io.Copy(io.Discard, e.Body)
	}
}

func BenchmarkRedactDSN10MB(b *testing.B) {
	const bd = "bench-boundary"
	in := []byte("Content-Type: multipart/report; report-type=delivery-status; boundary=" + bd + "\r\n\r\n" +
		"--" + bd + "\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--" + bd + "\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822;a@b\r\nAction: failed\r\nStatus: 5.7.30\r\n\r\n" +
		"--" + bd + "\r\nContent-Type: message/rfc822\r\n\r\n" + msgHeader + body10MB() + "\r\n--" + bd + "--\r\n")
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if err := RedactDSN(io.Discard, readerOnly{bytes.NewReader(in)}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gomessage", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			gomessageRedactDSN(b, readerOnly{bytes.NewReader(in)})
		}
	})
	b.Run("iocopy", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.Copy(io.Discard, readerOnly{bytes.NewReader(in)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// gomessageRedactDSN does RedactDSN's job with go-message's entity reader
// and writer: copy each part, replacing message/rfc822 by its header.
func gomessageRedactDSN(b *testing.B, r io.Reader) {
	e, err := message.Read(r)
	if err != nil {
		b.Fatal(err)
	}
	w, err := message.CreateWriter(io.Discard, e.Header)
	if err != nil {
		b.Fatal(err)
	}
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		mt, _, _ := p.Header.ContentType()
		if mt != "message/rfc822" {
			pw, err := w.CreatePart(p.Header)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(pw, p.Body)
			pw.Close()
			continue
		}
		var h message.Header
		h.Set("Content-Type", "text/rfc822-headers")
		pw, err := w.CreatePart(h)
		if err != nil {
			b.Fatal(err)
		}
		br := bufio.NewReader(p.Body)
		oh, err := textproto.ReadHeader(br)
		if err != nil {
			b.Fatal(err)
		}
		textproto.WriteHeader(pw, oh)
		pw.Close()
		io.Copy(io.Discard, br)
	}
	w.Close()
}
