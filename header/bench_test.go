package header

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// realisticHeader builds a message whose header section is about size bytes
// in fields fields, shaped like real mail: a Received chain, a folded
// DKIM-Signature, ARC and authentication results, list headers, and
// TLS-Required: No near the end; then a blank line and a 64 KB body.
func realisticHeader(size, fields int) []byte {
	var b bytes.Buffer
	fixed := []string{
		"Return-Path: <bounce-123@lists.example.org>",
		"Delivered-To: alice@example.com",
		"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=2024;\r\n\th=from:to:subject:date:message-id:tls-required;\r\n\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR",
		"Authentication-Results: mx.example.com; dkim=pass header.d=example.org;\r\n spf=pass smtp.mailfrom=lists.example.org; dmarc=pass header.from=example.org",
		"From: Bob <bob@example.org>",
		"To: Alice <alice@example.com>",
		"Subject: Your certificate expired yesterday",
		"Date: Mon, 2 Mar 2026 10:00:00 +0000",
		"Message-ID: <20260302100000.12345@example.org>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"List-Id: <announce.lists.example.org>",
		"List-Unsubscribe: <mailto:leave@lists.example.org>",
	}
	n := fields - len(fixed) - 1
	per := (size - 600) / max(n, 1)
	for i := range n {
		line := fmt.Sprintf("Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d])\r\n\tby mx.example.com with ESMTPS id %08x; Mon, 2 Mar 2026 10:00:%02d +0000", i, i, i%250, i*7919, i%60)
		if pad := per - len(line) - 2; pad > 0 {
			line += "\r\n\t(" + strings.Repeat("x", pad) + ")"
		}
		b.WriteString(line + "\r\n")
	}
	for _, l := range fixed {
		b.WriteString(l + "\r\n")
	}
	b.WriteString(LineTLSRequiredNo + "\r\n\r\n")
	b.WriteString(strings.Repeat("body line with some text in it, not a header at all.\r\n", 64<<10/56))
	return b.Bytes()
}

// BenchmarkScan compares the fast path with the obvious alternative,
// textproto.ReadHeader followed by Get, on a 4 KB / 30-field header and on a
// 64 KB header.
func BenchmarkScan(b *testing.B) {
	for _, c := range []struct {
		name         string
		size, fields int
	}{{"4KB-30fields", 4 << 10, 30}, {"64KB", 64 << 10, 200}} {
		msg := realisticHeader(c.size, c.fields)
		_, end, _ := Scan(msg)
		b.Run(c.name+"/ours", func(b *testing.B) {
			b.SetBytes(int64(end))
			b.ReportAllocs()
			for b.Loop() {
				f, _, err := Scan(msg)
				if err != nil || !f.TLSRequiredNo {
					b.Fatal(f, err)
				}
			}
		})
		b.Run(c.name+"/alternative", func(b *testing.B) {
			b.SetBytes(int64(end))
			b.ReportAllocs()
			for b.Loop() {
				h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
				if err != nil || CheckTLSRequired(h.Get(FieldTLSRequired)) != nil || h.Get(FieldRequireTLSESMTP) != "" {
					b.Fatal(err)
				}
			}
		})
	}
}

// scaleHeader is a header section of fields fields of about 100 octets
// (Received-like lines, then "TLS-Required: No"), then a 1 KB body.
func scaleHeader(fields int) []byte {
	var b bytes.Buffer
	for i := range fields - 1 {
		fmt.Fprintf(&b, "Received: from relay%d.example.net ([192.0.2.%d]) by mx.example.com with ESMTPS id %08x\r\n", i, i%250, i*7919)
	}
	b.WriteString(LineTLSRequiredNo + "\r\n\r\n")
	b.WriteString(strings.Repeat("body line with some text in it, not a header at all.\r\n", 1<<10/56))
	return b.Bytes()
}

// BenchmarkReadHead shows how the cost of reading a message's header
// section grows with its number of fields (10, 100, 1000): ReadHead
// ("ours"), ReadHeadBuf with a reused 4 KiB buffer ("pooled", what the
// server glue does), and textproto.ReadHeader then Get ("alternative"),
// on the same messages in the same run; ns/field is the time per field.
func BenchmarkReadHead(b *testing.B) {
	for _, fields := range []int{10, 100, 1000} {
		msg := scaleHeader(fields)
		buf := make([]byte, 0, readHeadStep)
		for _, impl := range []struct {
			name string
			read func(*bytes.Reader) bool
		}{
			{"ours", func(r *bytes.Reader) bool { _, f, err := ReadHead(r); return err == nil && f.TLSRequiredNo }},
			{"pooled", func(r *bytes.Reader) bool { _, f, err := ReadHeadBuf(r, buf); return err == nil && f.TLSRequiredNo }},
			{"alternative", func(r *bytes.Reader) bool {
				h, err := textproto.ReadHeader(bufio.NewReader(r))
				return err == nil && CheckTLSRequired(h.Get(FieldTLSRequired)) == nil
			}},
		} {
			b.Run(fmt.Sprintf("fields=%d/%s", fields, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				r := bytes.NewReader(msg)
				for b.Loop() {
					r.Reset(msg)
					if !impl.read(r) {
						b.Fatal("TLS-Required: No not found")
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(fields), "ns/field")
			})
		}
	}
}

// BenchmarkScanFields scans the same headers of 10, 100 and 1000 fields
// (TLS-Required: No last) to show that the cost per field stays flat as the
// header grows; ns/field is the time per op divided by the number of fields.
func BenchmarkScanFields(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		in := scaleHeader(n)
		b.Run(fmt.Sprintf("fields=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				f, _, err := Scan(in)
				if err != nil || !f.TLSRequiredNo {
					b.Fatal(f, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/field")
		})
	}
}
