//go:build race

package hostile

// Race is true when the race detector is on. It makes every copy about ten
// times slower, so the huge inputs shrink to 64 MiB: still streamed, still
// far above every memory bound the tests assert.
const Race = true

const huge = 64 << 20
