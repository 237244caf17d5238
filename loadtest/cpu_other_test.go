//go:build !unix

package loadtest

import "time"

// cpuTime is not measured here; BenchmarkLoad then reports 0 cpu-ns/op,
// and BenchmarkLoadPairs NaN overheads.
func cpuTime() time.Duration { return 0 }
