package requiretls

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type offeredCase struct {
	name  string
	lines []string
	tls   bool // the reply came on a TLS session (handshakeDone), else nil state
	want  bool
}

// handshakeDone is the state of a TLS session as Offered needs it.
var handshakeDone = &tls.ConnectionState{HandshakeComplete: true}

// stateIf is handshakeDone when tls is true, nil otherwise.
func stateIf(tls bool) *tls.ConnectionState {
	if tls {
		return handshakeDone
	}
	return nil
}

func TestOffered(t *testing.T) {
	for _, tc := range offeredCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Offered(tc.lines, stateIf(tc.tls)))
		})
	}
}

// TestOfferedNeedsCompletedHandshakeE22: only a reply on a TLS session
// whose handshake completed counts (R16, E22; RFC 8689 Section 4.2.1, RFC
// 3207 Section 4.2). A caller that passes go-smtp's TLSConnectionState
// without looking at its ok still fails closed, since a plaintext client
// returns a zero state.
func TestOfferedNeedsCompletedHandshakeE22(t *testing.T) {
	announces := []string{"mx.example Hello", "REQUIRETLS"}
	assert.False(t, Offered(announces, nil), "no TLS state")
	assert.False(t, Offered(announces, &tls.ConnectionState{}), "zero state")
	assert.False(t, Offered(announces, &tls.ConnectionState{Version: tls.VersionTLS13}), "handshake not complete")
	assert.True(t, Offered(announces, handshakeDone))

	pki := newTestPKI(t)
	t.Run("go-smtp plaintext client: zero state", func(t *testing.T) {
		addr, _ := startServer(t, pki, nil, false)
		c, err := smtp.Dial(addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Hello("client.test"))
		cs, ok := c.TLSConnectionState()
		require.False(t, ok)
		assert.False(t, Offered(announces, &cs))
	})
	t.Run("real handshake on implicit TLS", func(t *testing.T) {
		addr := startImplicitTLS(t, pki, &recorder{}, false)
		raw := dialRaw(t, addr, pki.ClientConfig())
		_, lines := raw.cmd("EHLO client.test")
		cs := raw.tlsState()
		require.NotNil(t, cs)
		assert.True(t, Offered(lines, cs))

		c, err := smtp.DialTLS(addr, pki.ClientConfig())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Hello("client.test"))
		gs, ok := c.TLSConnectionState()
		require.True(t, ok)
		assert.True(t, Offered(lines, &gs))
	})
}

// offeredCases are EHLO replies as the Dialer reads them (net/textproto
// keeps lines with another reply code, prefix included).
var offeredCases = []offeredCase{
	{"R16 post-TLS EHLO with keyword", []string{"mx.example Hello", "PIPELINING", "REQUIRETLS"}, true, true},
	{"R16 keyword before TLS does not count", []string{"mx.example Hello", "REQUIRETLS"}, false, false},
	{"R5 lower case keyword", []string{"mx.example", "requiretls"}, true, true},
	{"with reply codes", []string{"250-mx.example", "250-STARTTLS", "250 REQUIRETLS"}, true, true},
	{"E7 parameters ignored", []string{"250-mx.example", "250 REQUIRETLS whatever=1"}, true, true},
	{"absent", []string{"250-mx.example", "250-SIZE 1000", "250 8BITMIME"}, true, false},
	{"prefix is not the keyword", []string{"mx.example", "REQUIRETLSX"}, true, false},
	{"greeting line never counts", []string{"REQUIRETLS"}, true, false},
	{"E22 implicit TLS counts as TLS", []string{"250-mx.example", "250 REQUIRETLS"}, true, true},
	{"empty", nil, true, false},
	{"R5 lower case with reply code", []string{"250-mx.example", "250 requiretls"}, true, true},
	{"R5 mixed case, continuation line", []string{"250-mx.example", "250-RequireTls", "250 SIZE 10"}, true, true},
	{"E7 parameters after lower case", []string{"250-mx.example", "250-requiretls x y", "250 SIZE"}, true, true},
	{"reply code 251 does not count", []string{"250-mx.example", "251-REQUIRETLS", "250 SIZE 10"}, true, false},
	{"reply code 999 does not count", []string{"250-mx.example", "999 REQUIRETLS"}, true, false},
	{"reply code 550 does not count", []string{"250-mx.example", "550 requiretls"}, true, false},
	{"no separator after the code", []string{"250-mx.example", "250REQUIRETLS"}, true, false},
	{"two-digit code", []string{"250-mx.example", "25-REQUIRETLS"}, true, false},
	{"four-digit code", []string{"250-mx.example", "2500 REQUIRETLS"}, true, false},
	{"tab is no separator", []string{"250-mx.example", "250 REQUIRETLS\tx"}, true, false},
	{"space before keyword", []string{"250-mx.example", "250  REQUIRETLS"}, true, false},
	{"empty keyword line", []string{"250-mx.example", "250 "}, true, false},
	{"non-ASCII look-alike", []string{"250-mx.example", "250 requiretl\u017f"}, true, false},
	{"keyword syntax: leading hyphen", []string{"250-mx.example", "250 -REQUIRETLS"}, true, false},
	// A line longer than RFC 5321 Section 4.5.3.1.5 allows (512 octets with
	// code and CRLF) is not read at all, keyword included: not offered, so
	// an enforce policy bounces rather than trusting a broken reply.
	{"line over 512 octets", []string{"250-mx.example", "250 REQUIRETLS " + strings.Repeat("x", 500)}, true, false},
	{"line of 512 octets", []string{"250-mx.example", "250 REQUIRETLS " + strings.Repeat("x", 512-len("250 REQUIRETLS \r\n"))}, true, true},
}

// FuzzOffered checks that Offered never panics, that no reply counts
// without TLS, and that an smtp.Client handed the reply as the Dialer hands
// it over (canonicalEHLO) sees REQUIRETLS exactly when Offered does: go-smtp
// and the policy never disagree on what the next hop announced.
func FuzzOffered(f *testing.F) {
	for _, tc := range offeredCases {
		f.Add(strings.Join(tc.lines, "\n"))
	}
	f.Fuzz(func(t *testing.T, reply string) {
		lines := strings.Split(reply, "\n")
		if Offered(lines, nil) || Offered(lines, &tls.ConnectionState{}) {
			t.Fatalf("Offered(%q) without a completed handshake = true", lines)
		}
		want := Offered(lines, handshakeDone)
		conn, other := net.Pipe()
		other.Close()
		defer conn.Close()
		c := smtp.NewClient(&replayConn{Conn: conn, pending: []byte("220 mx\r\n"), hello: "EHLO localhost\r\n", reply: canonicalEHLO(lines)})
		if err := c.Hello("localhost"); err != nil {
			t.Fatalf("canonical reply for %q refused: %v", lines, err)
		}
		if got, _ := c.Extension(Keyword); got != want {
			t.Fatalf("lines %q: Offered %v, smtp.Client sees REQUIRETLS %v", lines, want, got)
		}
	})
}
