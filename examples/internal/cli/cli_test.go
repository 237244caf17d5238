package cli

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

type backend struct{}

func (backend) NewSession(*smtp.Conn) (smtp.Session, error) { return nil, smtp.ErrAuthUnsupported }

// TestServeStopsWhenCancelledAtOnce: a program told to stop at the moment
// it starts still stops. go-smtp's Shutdown closes only the listeners
// Serve has registered, so a Shutdown that runs before Serve's goroutine
// has registered l left Serve accepting forever, and Serve never returned.
func TestServeStopsWhenCancelledAtOnce(t *testing.T) {
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, smtp.NewServer(backend{}), l, time.Second, func() {}) }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after its context was cancelled")
		}
	}
}
