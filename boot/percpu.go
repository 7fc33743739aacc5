package boot

import "unsafe"

// maxCPUs bounds the per-CPU tables; CPUs beyond it are reported and left
// parked.
const maxCPUs = 32

const (
	kstackSize = 32 << 10 // per-CPU stack the Go trap handlers run on
	istSize    = 8 << 10  // per-CPU interrupt stacks (TSS IST1-IST3)
	idleSize   = 1 << 10  // the idle loop only executes STI; HLT
)

// frame is the register state of a thread (or of a CPU's idle loop) while it
// is not running. The entry stubs in trap_amd64.s save into it and resume
// restores from it, so its layout is fixed: the f* offsets below are checked
// against unsafe.Offsetof by TestFrameLayout.
type frame struct {
	rax, rbx, rcx, rdx, rsi, rdi, rbp    uint64
	r8, r9, r10, r11, r12, r13, r14, r15 uint64
	vector, errcode                      uint64
	rip, cs, rflags, rsp, ss             uint64 // IRETQ frame order
	fsbase                               uint64
	fxptr                                uintptr // 16-byte aligned FXSAVE area
}

const (
	fRAX    = 0
	fVector = 120
	fErr    = 128
	fRIP    = 136
	fRFLAGS = 152
	fRSP    = 160
	fFSBase = 176
	fFXPtr  = 184
)

// fxArea holds an FXSAVE image; fxAlign16 finds the aligned 512 bytes inside.
type fxArea [512 + 16]byte

func (a *fxArea) aligned() uintptr {
	return (uintptr(unsafe.Pointer(a)) + 15) &^ 15
}

// cpu is one processor's private block, reached in assembly through GS (the
// GS base is set once per CPU and never changes: the Go runtime on
// linux/amd64 uses only FS). Fields up to inKernel are read by the stubs.
//
// Kernel Go code runs with FS pointing at tlsEnd, so the g the ABI wrappers
// load from -8(FS) is fakeg, whose stackguard0 (offset 16) is 0: the stack
// check in every function prologue always passes on the per-CPU stack.
type cpu struct {
	self     uintptr // 0: address of this block
	scratch  uint64  // 8: RAX while the stub saves registers
	cur      uintptr // 16: *frame of what runs on this CPU when the kernel returns
	kstack   uintptr // 24: top of this CPU's kernel stack
	ktls     uintptr // 32: FS base while in the kernel
	inKernel uint64  // 40: 1 between entry and resume; a trap then is a kernel bug
	gslot    uintptr // 48: = -8(ktls): &fakeg
	tlsEnd   uintptr // 56
	fakeg    [16]uintptr

	id          int
	apicID      uint32
	online      uint32
	running     int32  // thread index, or -1 for the idle loop
	slice       uint64 // tick count at which the running thread got the CPU
	ticks       uint64
	consoleIRQs uint64 // COM1 input interrupts taken
	switched    uint64 // TSC of the last change of running (charge)
	idle        frame
	idleFX      fxArea
	gdt         [7]uint64 // null, code64, data, (unused), TSS (2 slots), pad
	tss         tss
	kstackMem   [kstackSize]byte
	ist         [3][istSize]byte
	idleStack   [idleSize]byte
}

const (
	cpuSelf     = 0
	cpuCur      = 16
	cpuKStack   = 24
	cpuKTLS     = 32
	cpuInKernel = 40
	cpuGSlot    = 48
	cpuTLSEnd   = 56
)

// tss is the 64-bit task-state segment (SDM Vol. 3A §8.7, Figure 8-11),
// kept as 32-bit words because the hardware layout is packed (RSP0 sits at
// offset 4, which a Go struct would pad). Only the IST pointers matter:
// every interrupt gate names an IST, so the CPU always switches stacks,
// even at CPL0.
type tss [26]uint32

const (
	tssIST1      = 36 / 4  // IST n at byte 36 + 8(n-1), as two words
	tssIOMapBase = 100 / 4 // upper half-word: I/O map base
)

func (t *tss) setIST(n int, sp uintptr) {
	t[tssIST1+2*(n-1)] = uint32(sp)
	t[tssIST1+2*(n-1)+1] = uint32(uint64(sp) >> 32)
}

var cpus [maxCPUs]cpu

// thisCPU returns the block of the CPU executing the caller.
// Precondition: kernel context (interrupts off), so the caller cannot migrate.
func thisCPU() *cpu {
	return (*cpu)(unsafe.Pointer(rawGetCPU()))
}

// initCPUBlock prepares c's self pointers and stacks before the CPU loads GS.
func initCPUBlock(c *cpu, id int) {
	c.self = uintptr(unsafe.Pointer(c))
	c.id = id
	c.running = -1
	c.gslot = uintptr(unsafe.Pointer(&c.fakeg))
	c.ktls = uintptr(unsafe.Pointer(&c.tlsEnd))
	c.kstack = (uintptr(unsafe.Pointer(&c.kstackMem)) + kstackSize) &^ 15
	c.idle.fxptr = c.idleFX.aligned()
	c.idle.rip = uint64(addrIdleLoop())
	c.idle.cs = selCode
	c.idle.ss = selData
	c.idle.rflags = rflagsReserved | rflagsIF
	c.idle.rsp = uint64((uintptr(unsafe.Pointer(&c.idleStack)) + idleSize) &^ 15)
	c.idle.fsbase = uint64(c.ktls)
	c.cur = uintptr(unsafe.Pointer(&c.idle))
}
