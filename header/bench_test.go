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
				if err != nil || ParseTLSRequired(h.Get(FieldTLSRequired)) != nil || h.Get(FieldRequireTLSESMTP) != "" {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScanFields scans headers of 10, 100 and 1000 fields (each about
// 90 bytes, TLS-Required: No last) to show that the cost per field stays
// flat as the header grows; ns/field is the time per op divided by the
// number of fields.
func BenchmarkScanFields(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var msg bytes.Buffer
		for i := range n - 1 {
			fmt.Fprintf(&msg, "X-Trace-%d: hop %d via relay%d.example.net with ESMTPS id %08x; Mon, 2 Mar 2026\r\n", i, i, i, i*7919)
		}
		msg.WriteString(LineTLSRequiredNo + "\r\n\r\nbody\r\n")
		in := msg.Bytes()
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
