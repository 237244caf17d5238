//go:build unix

package loadtest

import (
	"syscall"
	"time"
)

// cpuTime is the user plus system CPU time the process has used so far.
// Unlike wall time it barely moves when other processes share the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
