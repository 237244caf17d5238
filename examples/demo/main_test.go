package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/examples/internal/runtest"
)

func TestDemoText(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), nil, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	s := out.String()
	for _, want := range []string{
		"tls=verify/requiretls, dsn=2.0.0, status=sent",
		"tls=verify/!requiretls:none, dsn=5.7.30, status=bounced",
		"tls=!verify/!requiretls:nostarttls, dsn=5.7.30, status=bounced",
		"tls=!verify/!requiretls:nocertmatch, dsn=5.7.10, status=bounced",
		"tls=verify/requiretls:none, dsn=2.0.0, status=sent (250 2.0.0 OK: queued)\n   server: MAIL FROM had REQUIRETLS: false, RET=(none)",
		"RET=HDRS",
		"Content-Type: text/rfc822-headers",
		"enforce would have decided bounce 5.7.30",
		"9 lines: 9 deliveries",
		"9. no REQUIRETLS, tagged by source network\n",
		"  #  case ", " requiretls policy ", // issue 15: the column says which policy it is
		"\n  requiretls policy: how strictly the sender enforces",
	} {
		assert.Contains(t, s, want)
	}
	// R46 R47: the body is never in a bounce; the demo prints the line
	// only in its own explanation.
	assert.Equal(t, 3, strings.Count(s, secretLine))
	assert.NotContains(t, s, "YES (this is a bug)")
}

func TestDemoJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"-json"}, &out, &errOut), errOut.String())
	var doc struct {
		Cases []result `json:"cases"`
		Tally struct {
			Lines int `json:"lines"`
		} `json:"tally"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
	require.Len(t, doc.Cases, len(cases))
	for _, c := range doc.Cases {
		assert.True(t, c.AsExpected, c.Title)
		assert.False(t, c.BodyInDSN, c.Title)
	}
	assert.Equal(t, len(cases), doc.Tally.Lines)
}

// TestDemoFlags: a usage error is one line on stderr with a hint and exit
// status 2, as in the other programs; -h is the usage on stdout, exit 0.
func TestDemoFlags(t *testing.T) {
	runtest.AssertFails(t, run, `demo: unexpected argument "extra" (see -h)`, "extra")
	runtest.AssertFails(t, run, "demo: flag provided but not defined: -nope (see -h)", "-nope")
	runtest.AssertHelp(t, run, "usage: demo", "-json", "Exit status")
}

func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(ctx, nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "interrupted")
}
