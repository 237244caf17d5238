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

// BenchmarkRedactMessage10MB redacts a message with a 10 MB body to its
// header. Ours never reads the body; the fair comparison is
// "gomessage-header-only" (go-message reading and writing the header only);
// "gomessage-full-read" also drains the body, as an entity pipeline does,
// and "iocopy" reads everything.
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
	b.Run("gomessage-full-read", func(b *testing.B) {
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

// dsnOf returns a delivery status notification whose returned message
// has a body of about size bytes.
func dsnOf(size int) []byte {
	const bd = "bench-boundary"
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
	return []byte("Content-Type: multipart/report; report-type=delivery-status; boundary=" + bd + "\r\n\r\n" +
		"--" + bd + "\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--" + bd + "\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822;a@b\r\nAction: failed\r\nStatus: 5.7.30\r\n\r\n" +
		"--" + bd + "\r\nContent-Type: message/rfc822\r\n\r\n" + msgHeader + strings.Repeat(line, max(size/len(line), 1)) + "\r\n--" + bd + "--\r\n")
}

// floor reads r through an 8 KiB buffer and scans each chunk once with
// bytes.IndexByte for a byte that does not occur: it reads everything and
// looks at every byte once, the least any redaction of the whole input
// can do.
func floor(b *testing.B, r io.Reader, buf []byte) {
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], 0) >= 0 {
			b.Fatal("NUL in the input")
		}
		if err == io.EOF {
			return
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedactDSN10MB redacts a DSN that returns a 10 MB message, read
// through a plain io.Reader, against the floor (see floor: read
// everything through an 8 KiB buffer and scan every byte once), io.Copy
// to io.Discard, and go-message doing the same redaction (gomessageRedactDSN).
// "bytes.Reader", "strings.Reader", "bytes.Buffer" and "bufio.Reader" give
// RedactDSN and the floor a reader that offers its bytes (io.WriterTo, or
// a buffer over a plain reader), which RedactDSN scans in place; the floor
// still reads them through Read.
func BenchmarkRedactDSN10MB(b *testing.B) {
	benchRedactDSN(b, dsnOf(10<<20), true)
}

// BenchmarkRedactDSNSize redacts DSNs of 1 KB to 100 MB (plain io.Reader)
// against the floor, to show that the cost per byte stays flat.
func BenchmarkRedactDSNSize(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"1KB", 1 << 10}, {"100KB", 100 << 10}, {"10MB", 10 << 20}, {"100MB", 100 << 20}} {
		in := dsnOf(c.size)
		b.Run(c.name, func(b *testing.B) { benchRedactDSN(b, in, false) })
	}
}

func benchRedactDSN(b *testing.B, in []byte, all bool) {
	buf := make([]byte, 8<<10)
	type input struct {
		name string
		r    func() io.Reader
	}
	inputs := []input{{"reader", func() io.Reader { return readerOnly{bytes.NewReader(in)} }}}
	if all {
		str := string(in)
		inputs = append(inputs,
			input{"bytes.Reader", func() io.Reader { return bytes.NewReader(in) }},
			input{"strings.Reader", func() io.Reader { return strings.NewReader(str) }},
			// Reading does not change in, so every Buffer may own it.
			input{"bytes.Buffer", func() io.Reader { return bytes.NewBuffer(in) }},
			input{"bufio.Reader", func() io.Reader { return bufio.NewReader(readerOnly{bytes.NewReader(in)}) }})
	}
	for _, input := range inputs {
		b.Run(input.name+"/ours", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := RedactDSN(io.Discard, input.r(), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(input.name+"/floor", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				floor(b, input.r(), buf)
			}
		})
		if input.name != "reader" || !all {
			continue
		}
		b.Run(input.name+"/iocopy", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.Copy(io.Discard, input.r()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(input.name+"/gomessage", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				gomessageRedactDSN(b, input.r())
			}
		})
	}
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
