package main

import (
	"fmt"
	"github.com/requiretls/go-requiretls/internal/ciskip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmePrelude declares what the README's Go snippets take as given: the
// caller's backend, TLS configuration, context and delivery facts.
const readmePrelude = `package readme

import (
	"context"
	"crypto/tls"
	"log"

	"github.com/emersion/go-smtp"

	"github.com/requiretls/go-requiretls/header"
	"github.com/requiretls/go-requiretls/policy"
	"github.com/requiretls/go-requiretls/requiretls"
	"github.com/requiretls/go-requiretls/tlsstatus"
)

var (
	_ = log.Fatal
	_ = policy.Parse
	_ = requiretls.NewServer
	_ = tlsstatus.Verify
)

type inputs struct {
	backend            smtp.Backend
	tlsConfig          *tls.Config
	ctx                context.Context
	envelopeREQUIRETLS bool
	facts              header.Facts
	moreMX             bool
	auth               policy.Auth
}
`

// TestREADMESnippetsCompile (issue 15): every Go snippet of README.md
// compiles against the packages as they are, so a reader who copies one
// gets code that builds. Each snippet becomes the body of a function that
// has the caller's inputs in scope.
func TestREADMESnippetsCompile(t *testing.T) {
	if testing.Short() {
		ciskip.Skip(t, "builds a package with the go command")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	snippets := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, snippets, "README.md has Go snippets")

	var src strings.Builder
	src.WriteString(readmePrelude)
	for i, m := range snippets {
		body := m[1]
		fmt.Fprintf(&src, "\nfunc snippet%d(in inputs) error {\n", i)
		src.WriteString("\tbackend, tlsConfig, ctx, envelopeREQUIRETLS, facts, moreMX, auth := in.backend, in.tlsConfig, in.ctx, in.envelopeREQUIRETLS, in.facts, in.moreMX, in.auth\n")
		src.WriteString("\t_, _, _, _, _, _, _ = backend, tlsConfig, ctx, envelopeREQUIRETLS, facts, moreMX, auth\n")
		src.WriteString(body)
		for _, v := range []string{"conn", "err", "s", "pol"} {
			if regexp.MustCompile(`\b` + v + `\b[^:=]*:=`).MatchString(body) {
				fmt.Fprintf(&src, "\t_ = %s\n", v)
			}
		}
		src.WriteString("\treturn nil\n}\n")
	}

	// A directory whose name starts with "_" is inside the module, so the
	// snippets see its packages, but outside every "./..." pattern.
	dir, err := os.MkdirTemp("../..", "_readme-snippets-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "readme.go"), []byte(src.String()), 0o644))
	cmd := exec.Command("go", "vet", "./"+filepath.Base(dir))
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README.md's Go snippets do not compile:\n%s\n--- generated source:\n%s", out, src.String())
	}
}
