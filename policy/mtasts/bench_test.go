package mtasts_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/internal/testpki"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/policy/mtasts"
)

var (
	sinkPolicy mtasts.Policy
	sinkAuth   policy.Auth
	sinkCert   policy.Cert
	sinkMap    map[string][]string
)

// BenchmarkParsePolicy compares ParsePolicy with the obvious alternative:
// split into lines and cut at the colon, with no validation at all.
func BenchmarkParsePolicy(b *testing.B) {
	in := strings.ReplaceAll(rfcPolicy, "\n", "\r\n")
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := mtasts.ParsePolicy(in)
			if err != nil {
				b.Fatal(err)
			}
			sinkPolicy = p
		}
	})
	b.Run("split", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := map[string][]string{}
			for _, line := range strings.Split(in, "\n") {
				if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":"); ok {
					m[k] = append(m[k], strings.TrimSpace(v))
				}
			}
			sinkMap = m
		}
	})
}

// BenchmarkPerHandshake compares what the package adds to one delivery
// attempt (Policy.Auth before connecting, Cert after STARTTLS) with the TLS
// handshake over loopback that it comes with, certificate verification
// included.
func BenchmarkPerHandshake(b *testing.B) {
	const mx = "contoso-com.mail.protection.outlook.com"
	p, err := mtasts.ParsePolicy("version: STSv1\r\nmode: enforce\r\nmx: *.mail.protection.outlook.com\r\nmax_age: 604800\r\n")
	require.NoError(b, err)
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkAuth, _ = p.Auth(mx, nil)
			sinkCert = mtasts.Cert(mx, mx, nil)
		}
	})
	b.Run("handshake", func(b *testing.B) {
		ca, err := testpki.NewCA("bench CA")
		require.NoError(b, err)
		cert, err := ca.Issue(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "*.mail.protection.outlook.com")
		require.NoError(b, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		defer ln.Close()
		server := &tls.Config{Certificates: []tls.Certificate{cert}}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = tls.Server(c, server).Handshake()
				}()
			}
		}()
		client := &tls.Config{RootCAs: ca.Pool, ServerName: mx}
		b.ReportAllocs()
		for b.Loop() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			if err := tls.Client(c, client).Handshake(); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}
