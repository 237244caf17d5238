//go:build !race

package hostile

// Race is true when the race detector is on; see race.go.
const Race = false

const huge = 1 << 30 // the "1 GiB" inputs
