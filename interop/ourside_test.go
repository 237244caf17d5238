//go:build interop

package interop

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/requiretls/go-requiretls/policy"
)

// ourSide is one way of running our receiving side.
type ourSide struct {
	Name      string
	Plaintext bool // it can run with no TLS at all
	// Start runs it on a loopback port; received stops nothing but returns
	// the messages accepted so far, each with its tag.
	Start func(t *testing.T, mode listenMode) (addr string, received func() []message)
}

func (s ourSide) direction() string { return "peer client → " + s.Name }

var ourSides = []ourSide{
	{Name: "requiretls glue (in-process)", Plaintext: true, Start: ourServer},
	{Name: "examples/server", Start: startExampleServer},
}

// binDir holds programs the suite builds; TestMain removes it.
var binDir string

// built holds, per program under examples/, the result of building it.
var built struct {
	sync.Mutex
	path map[string]string
}

// buildExample builds examples/name once per run and returns its path.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if p, ok := built.path[name]; ok {
		return p
	}
	p := filepath.Join(binDir, name)
	out, err := exec.Command("go", "build", "-o", p, "../examples/"+name).CombinedOutput()
	require.NoError(t, err, "go build ../examples/%s: %s", name, out)
	if built.path == nil {
		built.path = map[string]string{}
	}
	built.path[name] = p
	return p
}

var (
	listeningLine = regexp.MustCompile(`listening on (\S+) \(`)
	messageLine   = regexp.MustCompile(`message from=<([^>]*)> to=<.*> tag=(\S+) session=\S+ size=\d+ file=(\S+)`)
)

// startExampleServer runs examples/server with the test CA's certificate.
// received stops the server (SIGTERM, as an operator would) so that its log
// is complete, then reads the messages it logged and stored.
func startExampleServer(t *testing.T, mode listenMode) (string, func() []message) {
	t.Helper()
	require.NotEqual(t, plaintextOnly, mode, "examples/server always offers TLS")
	out := t.TempDir()
	args := []string{"-listen", "127.0.0.1:0", "-cert", os.Getenv("INTEROP_CERT"), "-key", os.Getenv("INTEROP_KEY"),
		"-out", out, "-hostname", "ours.interop.test"}
	if mode == implicitTLS {
		args = append(args, "-implicit-tls")
	}
	cmd := exec.Command(buildExample(t, "server"), args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())

	var (
		lines []string
		done  = make(chan struct{})
		addr  = make(chan string, 1)
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var stopped []message
	stop := sync.OnceValue(func() []message {
		assert.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		<-done
		assert.NoError(t, cmd.Wait(), "examples/server exit status; its output:\n%q", lines)
		for _, l := range lines {
			m := messageLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			data, err := os.ReadFile(m[3])
			assert.NoError(t, err)
			stopped = append(stopped, message{From: m[1], Tag: parseTag(t, m[2]), Data: string(data)})
		}
		return stopped
	})
	t.Cleanup(func() { stop() })

	select {
	case a := <-addr:
		return a, stop
	case <-done:
		require.FailNow(t, "examples/server did not start", "%q", lines)
		return "", nil
	}
}

func parseTag(t *testing.T, s string) policy.Tag {
	for _, tag := range []policy.Tag{policy.Default, policy.Required, policy.NotRequired} {
		if tag.String() == s {
			return tag
		}
	}
	assert.Failf(t, "examples/server log", "unknown tag %q", s)
	return policy.Default
}
