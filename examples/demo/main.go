// Command demo walks through what go-requiretls does, on loopback, with no
// flags and no files. It grows with the library; today it shows the
// tlsstatus vocabulary Postfix 3.11 logs for REQUIRETLS outcomes.
package main

import (
	"fmt"
	"os"

	"github.com/requiretls/go-requiretls/tlsstatus"
)

func main() {
	for _, s := range []string{
		"dane/requiretls",
		"may/requiretls:none",
		"may?/!requiretls:nocertmatch",
		"may:none/!requiretls:nostarttls",
	} {
		f, err := tlsstatus.ParseField(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		fmt.Printf("tls=%-34s %d feature(s)\n", f, len(f))
	}
}
