package requiretls

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

// R15 R16: errors.As with *smtp.SMTPError, the go-smtp idiom, yields the
// reply of the decision (its reason names the certificate check that
// failed), not the sentinel's generic text; errors.Is against the
// sentinels still matches.
func TestPolicyErrorAsGivesTheSpecificReply(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t) // a CA the client does not trust
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	required := policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.test"}

	for _, tc := range []struct {
		name     string
		peer     peer
		sentinel *smtp.SMTPError
		reason   string
	}{
		{"R15 untrusted certificate", startPeer(t, other, true), ErrEncryptionNeeded, "no trusted server certificate was found"},
		{"R16 no REQUIRETLS after TLS", startPeer(t, pki, false), ErrREQUIRETLSRequired, "no server was found that supports REQUIRETLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dialPeer(t, d, tc.peer.addr, required)
			var pe *PolicyError
			require.ErrorAs(t, err, &pe)
			wrapped := fmt.Errorf("relay: %w", err)

			var se *smtp.SMTPError
			require.ErrorAs(t, wrapped, &se)
			assert.Equal(t, pe.Reply(), se)
			assert.Contains(t, se.Message, tc.reason)
			assert.NotEqual(t, tc.sentinel.Message, se.Message)
			assert.ErrorIs(t, wrapped, tc.sentinel)
		})
	}
}

// A decision without a reply code leaves errors.As to the error behind it.
func TestPolicyErrorAsWithoutCode(t *testing.T) {
	behind := &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "going away"}
	err := error(&PolicyError{Err: behind})
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	assert.Same(t, behind, se)
}

// Conn is the whole sending side: Rcpt, Data, Quit and TLSConnectionState
// need no trip through Client, and TLSConnectionState tells the truth on a
// TLS session (Client's cannot: see Conn.Client).
func TestConnSendsAMessage(t *testing.T) {
	pki := newTestPKI(t)
	p := startPeer(t, pki, true)
	d := &Dialer{LocalName: "client.test", TLSConfig: pki.ClientConfig()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, p.addr, policy.Attempt{Tag: policy.Required, Level: policy.Enforce, Auth: policy.AuthStaticPKIX, TLSLevel: tlsstatus.Verify, Host: "mx.test"})
	require.NoError(t, err)
	defer c.Close()

	cs, ok := c.TLSConnectionState()
	require.True(t, ok)
	assert.True(t, cs.HandshakeComplete)
	assert.NotEmpty(t, cs.PeerCertificates)

	require.NoError(t, c.Mail("a@example.org", nil))
	require.NoError(t, c.Rcpt("b@example.org", nil))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, body)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Quit())

	msgs := mustMessages(p)
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].requireTLS)
	assert.Equal(t, body, msgs[0].data)
}

// Without TLS, TLSConnectionState says so.
func TestConnTLSConnectionStatePlaintext(t *testing.T) {
	p := startPeer(t, nil, false)
	c, err := dialPeer(t, &Dialer{}, p.addr, policy.Attempt{Host: "mx.test"})
	require.NoError(t, err)
	_, ok := c.TLSConnectionState()
	assert.False(t, ok)
}
