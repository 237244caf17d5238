package ciskip

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSkipFailsUnderCI runs a skipping test in a child process with and
// without REQUIRETLS_CI: it must skip (pass) without, and fail with.
func TestSkipFailsUnderCI(t *testing.T) {
	if os.Getenv("CISKIP_CHILD") != "" {
		Skip(t, "precondition missing")
		return
	}
	run := func(ci string) error {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSkipFailsUnderCI$")
		cmd.Env = append(os.Environ(), "CISKIP_CHILD=1", "REQUIRETLS_CI="+ci)
		return cmd.Run()
	}
	assert.NoError(t, run(""), "a developer run skips")
	assert.Error(t, run("1"), "a CI run fails")
}
