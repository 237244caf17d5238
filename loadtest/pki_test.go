package loadtest

import (
	"sync"

	"github.com/requiretls/go-requiretls/internal/testpki"
)

// testPKI is a throw-away CA and a server certificate for 127.0.0.1 and
// localhost, made once per test binary.
var testPKI = sync.OnceValue(func() *testpki.Localhost {
	p, err := testpki.NewLocalhost("loadtest CA")
	if err != nil {
		panic(err)
	}
	return p
})
