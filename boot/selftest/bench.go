package selftest

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"hindsight/boot"
)

// Bench prints the boot layer's costs in TSC ticks ("cycles"); in Bochs the
// TSC advances once per emulated instruction, so there they are
// deterministic instruction counts. mainTSC is the TSC read first thing in
// main.main.
func Bench(w io.Writer, mainTSC uint64, emulator string) {
	st := boot.ReadStats()
	fmt.Fprintf(w, "bench: platform %s, %d CPU(s), TSC %d kHz\n", emulator, boot.NumCPU(), st.TSCHz/1000)
	total := mainTSC - st.EntryTSC
	fmt.Fprintf(w, "bench: multiboot entry -> main.main: %d cycles, of which %d in busy-waits (PIT calibration, AP start); %d without them\n",
		total, st.WaitTSC, total-st.WaitTSC)

	const n = 20000
	start := boot.TSC()
	for i := 0; i < n; i++ {
		time.Now()
	}
	fmt.Fprintf(w, "bench: clock_gettime (time.Now): %d cycles per call\n", (boot.TSC()-start)/n)

	if boot.NumCPU() >= 2 {
		fmt.Fprintf(w, "bench: futex wake->run handoff between CPU0 and CPU1: %d cycles\n", futexPingPong(0, 1))
	}
	last := boot.NumCPU() - 1
	fmt.Fprintf(w, "bench: thread switch on CPU%d (futex ping-pong, two threads): %d cycles\n", last, futexPingPong(last, last))
}

const futexWait, futexWake = 128 | 0, 128 | 1 // FUTEX_PRIVATE_FLAG

func futex(addr *uint32, op, val uintptr) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op, val, 0, 0, 0)
}

// futexPingPong passes a token between two OS threads pinned to cpuA and
// cpuB through raw futex calls and returns the TSC cycles per handoff (one
// wake plus one wait returning, including the thread switch when both
// threads share a CPU).
func futexPingPong(cpuA, cpuB int) uint64 {
	const rounds = 500
	var turn uint32 // 0: A's turn, 1: B's
	var wg sync.WaitGroup
	var start, end uint64
	player := func(cpu int, me uint32, first bool) {
		defer wg.Done()
		if err := boot.Pin(cpu); err != nil {
			panic(err)
		}
		defer runtime.UnlockOSThread()
		if first {
			start = boot.TSC()
		}
		for i := 0; i < rounds; i++ {
			for atomic.LoadUint32(&turn) != me {
				futex(&turn, futexWait, uintptr(1-me))
			}
			atomic.StoreUint32(&turn, 1-me)
			futex(&turn, futexWake, 1)
		}
		if !first {
			end = boot.TSC()
		}
	}
	wg.Add(2)
	go player(cpuB, 1, false)
	go player(cpuA, 0, true)
	wg.Wait()
	return (end - start) / (2 * rounds)
}
