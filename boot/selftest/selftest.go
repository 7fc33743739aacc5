// Package selftest checks, on the machine, that the Go runtime works on top
// of package boot: every line it prints is a marker the emulator tests
// match ("selftest: PASS name ..." / "selftest: FAIL name ...", and finally
// "selftest: ALL PASS" or "selftest: FAILED").
package selftest

import (
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hindsight/boot"
)

type result struct {
	w      io.Writer
	failed int
}

func (r *result) check(name string, ok bool, format string, args ...any) {
	status := "PASS"
	if !ok {
		status = "FAIL"
		r.failed++
	}
	fmt.Fprintf(r.w, "selftest: %s %s: %s\n", status, name, fmt.Sprintf(format, args...))
}

// Run executes every check and returns the exit status (0: all passed).
func Run(w io.Writer) int {
	r := &result{w: w}
	fmt.Fprintf(w, "selftest: start, %d CPU(s) from %s\n", boot.NumCPU(), boot.CPUSource())

	r.check("cpus", boot.NumCPU() == runtime.NumCPU() && runtime.NumCPU() >= 1,
		"online=%d runtime.NumCPU=%d GOMAXPROCS=%d", boot.NumCPU(), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	goroutinesOnCPUs(r)
	gcCycles(r)
	sleep(r)
	preemption(r)
	nilDereference(r)
	pinned(r)
	threadTime(r)

	vdso(r)
	modules(r)
	st := boot.ReadStats()
	r.check("syscalls", st.Unimplemented == 0, "%d system calls, %d unimplemented", st.Syscalls, st.Unimplemented)
	if r.failed > 0 {
		fmt.Fprintf(w, "selftest: FAILED (%d checks)\n", r.failed)
		return 1
	}
	fmt.Fprintln(w, "selftest: ALL PASS")
	return 0
}

// goroutinesOnCPUs runs busy goroutines until each CPU has been seen.
func goroutinesOnCPUs(r *result) {
	n := boot.NumCPU()
	var seen [64]atomic.Bool
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	for g := 0; g < 2*n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				seen[boot.CurrentCPU()].Store(true)
				all := true
				for i := 0; i < n; i++ {
					all = all && seen[i].Load()
				}
				if all {
					return
				}
				for i := 0; i < 10000; i++ {
				}
			}
		}()
	}
	wg.Wait()
	var list []int
	for i := 0; i < n; i++ {
		if seen[i].Load() {
			list = append(list, i)
		}
	}
	r.check("goroutines", len(list) == n, "goroutines ran on CPUs %v of %d", list, n)
}

var sink [][]byte

func gcCycles(r *result) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 12; i++ {
		for j := 0; j < 64; j++ {
			sink = append(sink, make([]byte, 16<<10))
		}
		sink = nil
		runtime.GC()
	}
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	n := after.NumGC - before.NumGC
	r.check("gc", n >= 10, "%d GC cycles, heap %d KiB", n, after.HeapAlloc>>10)
}

func sleep(r *result) {
	start := time.Now()
	time.Sleep(50 * time.Millisecond)
	d := time.Since(start)
	r.check("sleep", d >= 50*time.Millisecond && d <= 80*time.Millisecond, "time.Sleep(50ms) took %v", d)
}

// preemption: a loop without calls must not stop the world forever; the GC
// preempts it asynchronously (SIGURG).
func preemption(r *result) {
	var stop atomic.Bool
	started := make(chan struct{})
	go func() {
		close(started)
		x := 0
		for !stop.Load() {
			x++
		}
		_ = x
	}()
	<-started
	runtime.Gosched()
	done := make(chan struct{})
	go func() {
		runtime.GC() // needs to preempt the loop
		close(done)
	}()
	select {
	case <-done:
		r.check("preempt", true, "a call-free loop was preempted for GC")
	case <-time.After(3 * time.Second):
		r.check("preempt", false, "GC did not complete while a call-free loop ran")
	}
	stop.Store(true)
}

type node struct {
	next *node
	v    int
}

func nilDereference(r *result) {
	var msg string
	func() {
		defer func() {
			if e := recover(); e != nil {
				msg = fmt.Sprint(e)
			}
		}()
		var n *node
		_ = n.v
	}()
	r.check("nilderef", msg != "", "recovered: %s", msg)
}

func pinned(r *result) {
	target := boot.NumCPU() - 1
	res := make(chan string)
	go func() {
		if err := boot.Pin(target); err != nil {
			res <- err.Error()
			return
		}
		for i := 0; i < 200; i++ {
			if c := boot.CurrentCPU(); c != target {
				res <- fmt.Sprintf("thread pinned to CPU%d ran on CPU%d", target, c)
				return
			}
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
				runtime.Gosched()
			}
		}
		res <- ""
	}()
	msg := <-res
	r.check("pinned", msg == "", "thread pinned to CPU%d stayed there %s", target, msg)
}

// threadTime: a pinned thread's own time (boot.ThreadTSC) follows the TSC
// while it computes and stands nearly still while it sleeps. The bounds are
// loose on purpose: other threads may share the CPU, and an emulator's
// clock is coarse.
func threadTime(r *result) {
	res := make(chan string)
	go func() {
		if err := boot.Pin(boot.NumCPU() - 1); err != nil {
			res <- err.Error()
			return
		}
		hz := boot.ReadStats().TSCHz
		// Each own-time window lies inside its TSC window (read the TSC
		// first at the start and last at the end), so own <= wall holds.
		t0 := boot.TSC()
		c0 := boot.ThreadTSC()
		for boot.TSC()-t0 < hz/50 { // 20 ms busy
		}
		busyOwn := boot.ThreadTSC() - c0
		busy := boot.TSC() - t0
		t1 := boot.TSC()
		c1 := boot.ThreadTSC()
		time.Sleep(50 * time.Millisecond)
		sleptOwn := boot.ThreadTSC() - c1
		slept := boot.TSC() - t1
		msg := fmt.Sprintf("busy 20 ms: %d%% own time; asleep 50 ms: %d%% own time",
			busyOwn*100/busy, sleptOwn*100/slept)
		if busyOwn < busy/2 || busyOwn > busy || sleptOwn > slept/4 {
			msg = "FAIL " + msg
		}
		res <- msg
	}()
	msg := <-res
	r.check("threadtime", !strings.HasPrefix(msg, "FAIL") && strings.Contains(msg, "own time"), "%s", strings.TrimPrefix(msg, "FAIL "))
}

// vdso: time.Now must not enter the kernel (the vDSO serves
// clock_gettime), unless the machine runs with vdso=off.
func vdso(r *result) {
	const n = 1000
	before := boot.ReadStats().Syscalls
	for i := 0; i < n; i++ {
		time.Now()
	}
	calls := boot.ReadStats().Syscalls - before
	if boot.VDSO() {
		r.check("vdso", calls < n/10, "%d time.Now calls made %d system calls", n, calls)
	} else {
		r.check("vdso", calls >= n, "vdso=off: %d time.Now calls made %d system calls", n, calls)
	}
}

// modules takes 16 MiB of physical frames (zeroed by the allocator, and
// contiguous, so they come from the first free range past the low ones,
// where QEMU puts the modules right after the image), then prints each
// multiboot module's string, place, size and CRC-32 (IEEE, as gzip's): the emulator tests
// compare it with the file's, so the bytes must have survived the runtime's
// frames, these and the guest RAM reservation. The check fails if a module
// overlaps guest RAM or the frames.
func modules(r *result) {
	const grabPages = 4096
	grab, err := boot.AllocPhys(grabPages, 4096)
	if err != nil {
		r.check("modules", false, "%v", err)
		return
	}
	mods := boot.Modules()
	guests := boot.GuestMemory()
	overlaps := 0
	for i, m := range mods {
		fmt.Fprintf(r.w, "selftest: module %d: %s: %d bytes at %#x, crc32 %08x\n", i, m.Cmdline, m.Size, m.Base, crc32.ChecksumIEEE(m.Bytes()))
		for _, g := range []boot.GuestRegion{guests, {Base: grab, Size: grabPages * 4096}} {
			if m.Base < g.Base+g.Size && g.Base < m.Base+m.Size {
				overlaps++
			}
		}
	}
	r.check("modules", overlaps == 0, "%d module(s); %d overlap guest RAM or the 16 MiB of frames at %#x", len(mods), overlaps, grab)
}
