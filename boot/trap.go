package boot

import (
	"sync/atomic"
	"unsafe"
)

// trap is called by the entry stubs on the CPU's kernel stack, with the
// interrupted state saved in the frame at cpu.cur. It handles the event and
// leaves cpu.cur naming the frame to resume.
//
// Runs in trap context: no allocation, no write barriers, no defer
// (enforced by TestTrapPathsDoNotAllocate).
func trap() {
	c := thisCPU()
	f := (*frame)(unsafe.Pointer(c.cur))
	lock()
	preempt := false
	switch v := f.vector; {
	case v == vecSyscall:
		doSyscall(c, c.running)
	case v == vecTimer:
		lapic.EOI()
		c.ticks++
		expireDeadlines(nanotime())
		preempt = c.ticks > c.slice
	case v == vecWakeup:
		lapic.EOI()
	case v == vecConsole:
		c.consoleIRQs++
		consoleInterrupt()
		lapic.EOI()
	case v == vecSpurious || v >= 0x30 && v < 0x40:
		// APIC spurious vector, or a spurious IRQ7/IRQ15 from the masked
		// PIC: no EOI (SDM Vol. 3A §11.9).
	case c.running < 0:
		unlock()
		kernelFault(f)
	case v == 14:
		pageFault(c, f)
	case v < 32:
		exception(c, f)
	default:
		puts("boot: unexpected interrupt vector ")
		putDec(v)
		puts("\n")
		lapic.EOI()
	}
	schedule(c, preempt)
	unlock()
}

func pageFault(c *cpu, f *frame) {
	addr := readCR2()
	if f.errcode&pfPresent == 0 && demandPage(addr, f.errcode&pfWrite != 0) {
		return
	}
	code := int32(segvMaperr)
	if f.errcode&pfPresent != 0 {
		code = segvAccerr
	}
	queueSignal(&threads[c.running], SIGSEGV, code, addr)
}

// Exceptions in the Go program become the signals Linux would send; the
// runtime turns them into panics or a crash report with a goroutine trace.
func exception(c *cpu, f *frame) {
	sig, code, addr := 0, int32(0), f.rip
	switch f.vector {
	case 0: // #DE
		sig, code = SIGFPE, 1 // FPE_INTDIV
	case 1, 3: // #DB, #BP
		sig, code = SIGTRAP, 1 // TRAP_BRKPT
	case 6: // #UD
		sig, code = SIGILL, 2 // ILL_ILLOPN
	case 13, 12: // #GP, #SS
		sig, code, addr = SIGSEGV, siKernel, 0
	case 16, 19: // #MF, #XM
		sig, code = SIGFPE, 0
	case 17: // #AC
		sig, code = SIGBUS, 1 // BUS_ADRALN
	default:
		kernelFault(f)
		return
	}
	puts("boot: cpu")
	putDec(uint64(c.id))
	puts(": exception ")
	puts(exceptionName(f.vector))
	puts(" at rip ")
	putHex(f.rip)
	puts(", sending signal ")
	putDec(uint64(sig))
	puts("\n")
	queueSignal(&threads[c.running], sig, code, addr)
}

func exceptionName(v uint64) string {
	const names = "#DE#DB#NM#BP#OF#BR#UD#NM#DF#CO#TS#NP#SS#GP#PF#15#MF#AC#MC#XM#VE#CP"
	if v < 22 {
		return names[v*3 : v*3+3]
	}
	return "#??"
}

// fatalSignal ends the program: a synchronous signal it cannot take.
func fatalSignal(t *thread, sig int) {
	puts("boot: fatal signal ")
	putDec(uint64(sig))
	puts(" in thread ")
	putDec(uint64(t.tid))
	puts("\n")
	dumpFrame(&t.f)
	shutdown(128 + sig)
}

// kernelFault reports a trap inside the kernel itself and stops the
// machine. f is the saved state (on the IST stack for nested traps).
func kernelFault(f *frame) {
	c := thisCPU()
	puts("\nboot: KERNEL FAULT on cpu")
	putDec(uint64(c.id))
	puts(": vector ")
	putDec(f.vector)
	puts(" ")
	puts(exceptionName(f.vector))
	puts(" error ")
	putHex(f.errcode)
	puts(" cr2 ")
	putHex(readCR2())
	puts("\n")
	dumpFrame(f)
	dumpCallers(f.rbp)
	shutdown(3)
}

// dumpCallers prints the return addresses along the frame-pointer chain
// (Go keeps RBP as a frame pointer on amd64), for go tool addr2line.
func dumpCallers(rbp uint64) {
	puts("  callers:")
	for i := 0; i < 16 && rbp >= pageSize && rbp < identTop && rbp&7 == 0; i++ {
		puts(" ")
		putHex(load64(uintptr(rbp + 8)))
		rbp = load64(uintptr(rbp))
	}
	puts("\n")
}

func dumpFrame(f *frame) {
	reg := func(name string, v uint64) {
		puts(name)
		putHex(v)
	}
	reg("  rip ", f.rip)
	reg(" rsp ", f.rsp)
	reg(" rflags ", f.rflags)
	reg("\n  rax ", f.rax)
	reg(" rbx ", f.rbx)
	reg(" rcx ", f.rcx)
	reg(" rdx ", f.rdx)
	reg("\n  rsi ", f.rsi)
	reg(" rdi ", f.rdi)
	reg(" rbp ", f.rbp)
	reg(" r8  ", f.r8)
	reg("\n  r9  ", f.r9)
	reg(" r10 ", f.r10)
	reg(" r11 ", f.r11)
	reg(" r12 ", f.r12)
	reg("\n  r13 ", f.r13)
	reg(" r14 ", f.r14)
	reg(" r15 ", f.r15)
	reg(" fs  ", f.fsbase)
	puts("\n")
}

// Emulator exits: QEMU's isa-debug-exit device (exit status code<<1|1) and
// Bochs' shutdown port. On real hardware neither exists and the CPUs halt.
const (
	qemuDebugExit = 0xF4
	bochsShutdown = 0x8900
)

// shutdown stops every CPU and ends the emulator run with code.
func shutdown(code int) {
	stopAll = 1
	if ncpu > 1 {
		lapic.BroadcastNMI()
		// Wait up to 100 ms for the others to park (a CPU running a guest
		// takes the NMI as a VM exit first).
		for t0 := rdtsc(); atomic.LoadUint32(&stoppedCPUs) < uint32(ncpu-1) && rdtsc()-t0 < clk.tscHz/10; {
		}
		puts("boot: stopped ")
		putDec(uint64(atomic.LoadUint32(&stoppedCPUs)))
		puts(" of ")
		putDec(uint64(ncpu - 1))
		puts(" other CPUs\n")
	}
	puts("boot: exit status ")
	putDec(uint64(code))
	puts("\n")
	outl(qemuDebugExit, uint32(code))
	const bochsMagic = "Shutdown"
	for i := 0; i < len(bochsMagic); i++ {
		outb(bochsShutdown, bochsMagic[i])
	}
	haltForever()
}
