//go:build !amd64

package ringbuf

// cpuRelax is a no-op where there is no PAUSE-like instruction wired up.
func cpuRelax() {}
