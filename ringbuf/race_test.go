//go:build race

package ringbuf

// raceEnabled scales the concurrent tests down under the race detector,
// which slows every instrumented access by an order of magnitude.
const raceEnabled = true
