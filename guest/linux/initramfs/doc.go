// Package initramfs is the user space of hindsight's Linux guest: a u-root
// initramfs whose init runs test.sh (at /etc/test.sh in the archive), which
// runs hsdemo between two markers and then the shell on the console.
//
// It is its own Go module so that its go.sum pins u-root, gobusybox and
// every module they need without touching the hypervisor's go.mod: after
// one `go mod download`, guest/linux/linux.mk installs the u-root tool from
// this module and builds the archive with GOPROXY=off, the same bit for bit
// each run. tools.go names the packages the archive is built from.
//
// cmd/hsdemo is the workload test.sh runs: goroutines, timers and a
// CPU-bound loop whose result line is deterministic, so that a recorded run
// and its replay can be compared by their output.
package initramfs
