// Package ciskip is test support: a test that may skip when something it
// needs is missing (the Postfix source, openssl, an IPv6 loopback) calls
// [Skip], which skips on a developer's machine but fails under CI, where
// .ci/run sets REQUIRETLS_CI=1 and every such precondition must hold. So a
// CI run can never pass by silently leaving a case out.
//
// Only test code imports it (_test.go files and test-support packages).
package ciskip

import (
	"os"
	"testing"
)

// Skip skips t with reason, or fails it when REQUIRETLS_CI is set.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("REQUIRETLS_CI") != "" {
		t.Fatalf("%s (REQUIRETLS_CI is set: CI must not skip this)", reason)
	}
	t.Skip(reason)
}
