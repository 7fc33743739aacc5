// Package testguest is the small 64-bit test guest of hindsight: a flat
// binary (Image) assembled from testguest.S by build.sh (`go generate`), and
// the constants of its contract with the hypervisor.
//
// # Contract
//
// Load and entry (the hypervisor's side):
//   - The image is copied to guest-physical LoadAddr (0x100000) and entered
//     at its first byte, in 64-bit long mode, CPL0, RFLAGS = 0x2 (interrupts
//     disabled).
//   - Paging is on: identity-mapped page tables for the first 1 GiB of
//     guest-physical memory (2 MiB pages, present and writable, executable)
//     lie below 0x100000, outside the stack range below.
//   - A GDT (also below 0x100000) with selector 0x08 = 64-bit code (DPL 0)
//     and 0x10 = data; CS = 0x08, DS = ES = SS = 0x10 (FS, GS: any).
//   - RSP = StackTop (0x80000); the guest's stack grows down into
//     [0x70000, 0x80000), which the hypervisor must leave free.
//   - RDI = mode (ModeBringUp ... ModeHalt), RSI = param: the iteration
//     count in modes 0 and 2 (0 = the mode's default), AsyncParam in mode 5,
//     ignored otherwise.
//   - Guest RAM is at least MinRAM (16 MiB). The guest writes only its stack,
//     its image (the data page at DataAddr: IDT, variables) and the work
//     buffers Mode0BufAddr (1 MiB), Mode2BufAddr (64 KiB) and AsyncBufAddr
//     (512 KiB). It never reads or writes the hypervisor's page tables or
//     GDT.
//   - The guest installs its own IDT at IDTAddr (vectors 0x00-0x30, 64-bit
//     interrupt gates through selector 0x08) before anything can fault or
//     interrupt. An exception prints an "exception" line and exits with
//     ExitException + vector. An NMI (vector 2) is ignored (IRETQ). Mode 5
//     replaces the gates of vectors 3, 6, 0x20 and 0x24 with its own
//     handlers and makes SoftVector (0x30) a trap gate.
//
// Devices the guest uses:
//   - COM1 16550 UART at 0x3F8: output by polling LSR (0x3FD) bit 5 (THR
//     empty) and writing THR (0x3F8). In modes 2 and 5: MCR (0x3FC) = 0x0B
//     (DTR, RTS, OUT2), IER (0x3F9) = 0x01 (received data available), and
//     the IRQ4 handler reads LSR and, while bit 0 (data ready) is set, RBR
//     (0x3F8). The guest never sets DLAB, the divisor, LCR or FCR: it relies
//     on the reset state (FIFO off), and a device model may ignore line
//     parameters.
//   - 8259A PIC pair (modes 2 and 5): see PICInitSequence; EOI is 0x20
//     (non-specific) written to port 0x20. IRQ0 and IRQ4 are unmasked.
//   - 8254 PIT channel 0 (modes 2 and 5): see PITInitSequence; mode 2
//     (rate generator), divisor PITDivisor = 1193, i.e. TimerHz = 1000 Hz;
//     mode 5 takes the divisor from its param. Mode 5 also reads counter 0:
//     the counter latch command (0x00 to port 0x43), then two INs of port
//     0x40 (low byte, high byte).
//   - CPUID (leaves 0 and 1, mode 0), RDTSC, HLT, OUT to PostPort (0x80,
//     value ignored; mode 2's cheap synchronous exit), CMOS RTC reads (mode
//     2). Nothing else: no MSR accesses, no control-register writes, no
//     local APIC or IOAPIC, no PIC reads. Mode 1 also executes LIDT and
//     INT3; mode 5 INT3, INT 0x30, UD2, PUSHF/POPF, STI/CLI.
//   - ExitPort (0x501): a 32-bit OUT of a status ends this VM with it; 0 is
//     success (ExitOK). Should the write not end the VM, the guest halts
//     (CLI; HLT).
//
// HLT semantics: CLI; HLT ends the VM (the guest halts for good, as a real
// processor stays halted): mode 6 ends that way, and so does every mode
// should an ExitPort write not end the VM. Only mode 2 executes HLT with
// interrupts enabled: STI; HLT (the STI interrupt shadow covers the HLT),
// and it expects to wake at the next timer or serial interrupt, which its
// programmed PIT always provides. At that HLT exit the guest
// interruptibility state has blocking by STI set: to deliver the waking
// interrupt, the hypervisor moves RIP past the HLT and clears blocking by
// STI before injecting (VM entry refuses to inject an external interrupt
// while blocking by STI is set). No other mode executes HLT.
//
// Mode 1 needs the triple fault to reach the hypervisor as such (exit reason
// 2): #BP (3), #GP (13) and #DF (8) must not be intercepted, or must be
// reflected into the guest. Mode 5 likewise needs #BP and #UD delivered to
// the guest.
//
// Output: lines on COM1, each "testguest: ..." terminated by "\n" alone
// (no "\r"). Numbers are decimal unless written 0x..., which are lowercase
// hex (16 digits for 64-bit values, 8 for CPUID registers, 2 for bytes).
//
// # Modes
//
// ModeBringUp (0), the VMX bring-up test (8.61 M instructions with the
// default 300,000 iterations; 1.71 M + 23 per iteration):
//
//	testguest: mode 0 start
//	testguest: cpuid vendor GenuineIntel     (whatever CPUID 0 returns)
//	testguest: cpuid 1 eax 0x... ebx 0x... ecx 0x... edx 0x...
//	testguest: rdtsc monotonic               (or "rdtsc went backwards": exit 2)
//	testguest: iterations 300000
//	testguest: checksum 0x0123456789abcdef   (= Checksum0(param))
//	testguest: done                          (then exit 0)
//
// ModeTripleFault (1): prints "testguest: mode 1 start" and
// "testguest: triple fault next", loads an IDT with limit 0 and executes
// INT3: #GP, #DF, shutdown. "testguest: no triple fault" and exit 3 follow
// only if the processor survived.
//
// ModePolicy (3): reads and writes port 0x2F8, where nothing is modelled
// ("testguest: unclaimed port reads all ones" if the read gave 0xFF), then
// "testguest: rdmsr next" and RDMSR 0xC0011020, which must raise #GP: the
// guest prints its exception line and exits with ExitException + 13.
//
// ModeSpin (4): prints "testguest: spinning", then loops with interrupts
// disabled forever and makes no VM exit of its own (the host's NMI test
// needs a CPU that is in the guest when the NMI comes).
//
// ModeHalt (6): prints "testguest: mode 6 start" and "testguest: halting"
// (MarkerHalting), then CLI; HLT: the end of the VM, with no exit status.
//
// ModeReplay (2), the deterministic replay test (12.65 M instructions with
// the default 500,000 iterations, about 25 per iteration): remaps the PICs, programs the PIT at
// 1000 Hz, enables COM1 receive interrupts and runs a memory-mixing loop with
// interrupts enabled. Its running checksum mixes in RDTSC values, the timer
// tick count read at fixed points, and a hash over every interrupt of the
// interrupted RIP, R12 (the loop counter) and each received byte, so a replay
// that delivers an interrupt at another instruction, returns another RDTSC
// value or another byte prints another checksum. The cadence, in loop
// iterations of about 25 instructions each:
//   - every 128 iterations (about 3,200 instructions): OUT to PostPort,
//     a synchronous exit;
//   - every 1,024: RDTSC, tick count and IRQ hash mixed in; received bytes
//     echoed; a tick line when another 100 ticks have passed;
//   - every 2,048: wait for the next timer tick (STI; HLT until the tick
//     count changes), so a run has at least param/2048 ticks (244 by default).
//
// Output:
//
//	testguest: mode 2 start
//	testguest: iterations 500000
//	testguest: rtc 00:00:00                  (the CMOS clock: hours, minutes, seconds as stored)
//	testguest: interrupts on
//	testguest: rx 0x68                       (one line per received byte)
//	testguest: tick 100 checksum 0x...       (every 100 ticks; N = ticks seen)
//	testguest: rx total 4
//	testguest: rx dropped N                  (only if the 256-byte ring overflowed)
//	testguest: stray irqs N                  (only if IRQs other than 0, 4 came)
//	testguest: hlts 244                      (HLTs executed waiting for a tick)
//	testguest: irq hash 0x...                (the interrupt hash alone)
//	testguest: final ticks 246 checksum 0x...
//	testguest: rtc 00:00:00                  (the CMOS clock again)
//	testguest: done                          (then exit 0)
//
// Under the hypervisor the primary and the backup must print identical
// lines. The checksums differ from run to run on an emulator without replay.
//
// # Mode 5: exact asynchronous events
//
// ModeAsync (5) tests interrupts delivered wherever the guest is in its
// instruction stream, not only at its own VM exits. param = AsyncParam(rounds,
// divisor): bits 31:0 the rounds of work per phase (0 = AsyncDefaultRounds,
// 2), bits 47:32 the PIT divisor (0 = PITDivisor, 1193, 1000 Hz; at least
// AsyncMinDivisor, 2; the rate is PITInputHz/divisor), bits 63:48 zero.
// Anything else prints "testguest: async bad param 0x<param>: ..." and
// exits with ExitBadParam before touching a device.
//
// The mode programs the PIC pair, the PIT (mode 2 at the divisor) and COM1
// receive interrupts as mode 2 does, then runs six phases in the order of
// AsyncPhases. Each phase runs with interrupts enabled (phase shadow: only for
// instants) and makes no VM exit of its own inside it: no IN/OUT, CPUID,
// RDTSC, HLT or PAUSE, except phase clock's clock reads, which are its point.
// Printing happens only between phases, with interrupts disabled. A phase
// runs its rounds, then more rounds until it has taken AsyncMinTicks (4)
// timer interrupts; the phase spin waits for AsyncSpinTicks (4) ticks a round
// (and one more may land between its loop and its CLI).
//
// Every timer interrupt (IRQ0, vector 0x20, an interrupt gate) hashes into
// the running phase's hash (FNV-1a 64 steps): the interrupted RIP and
// RFLAGS from its frame, the interrupted RCX, RSI, RDI (the state of a REP
// string instruction), R12 (the phase's loop counter) and the tick count;
// then EOI (OUT 0x20) and IRETQ. A received byte (IRQ4) hashes the same with
// the byte in place of the tick count. So a tick that lands one instruction,
// or one REP iteration, elsewhere changes that phase's hash and the digest;
// under the hypervisor the primary and the backup must print identical
// lines, and an emulator without replay prints other hashes every run. At
// its end each phase also hashes its own result (below). The handler also
// counts the ticks that landed at the phase's target (below); a tick or byte
// taken inside an STI shadow (which a processor never does) is reported as
// "testguest: async sti shadow broken N last rip 0x..." and makes the exit
// status ExitShadowBroken.
//
// The phases (instructions per round measured under QEMU -icount shift=0,
// every REP iteration counted as one):
//   - spin: `inc r12; cmp [ticks], rax; jb` until AsyncSpinTicks*rounds more
//     ticks have come; 3 instructions an iteration, as many as the time
//     takes (4 M at one round). Target: the loop, i.e. every tick. Result:
//     the iteration count.
//   - rep: a round is eight REP string instructions on two 256 KiB buffers
//     (A, then B, at AsyncBufAddr): STOSQ forward (32 Ki iterations), STOSB
//     backward with DF=1 (256 Ki), MOVSB forward unaligned (256 Ki - s),
//     MOVSQ backward (32 Ki - 1), STOSQ backward (16 Ki), MOVSB backward
//     overlapping within A (256 Ki - t), STOSB forward (128 Ki), MOVSQ
//     forward (32 Ki): 1.03 M instructions a round (counting each
//     iteration), plus 0.39 M once (a checksum over both buffers). Target: an
//     interrupted REP instruction (RIP at it, RCX != 0). Result: three
//     sampled qwords a round and the buffers' checksum.
//   - shadow: IF=0 except for an instant: `WORK; sti; cli; sti; nop; cli;
//     WORK; pushf; or IF; popf; pushf; and ~IF; popf`, 1024 times a round
//     (0.87 M instructions), WORK being 32 steps (416 instructions) of
//     computation. A tick that became pending while IF=0 is taken at the
//     end of STI's interrupt shadow (after the NOP; not after the CLI that
//     follows the first STI) or right after POPF. Targets: those two
//     points. Forbidden: the two instructions inside the shadows.
//   - nested: `WORK(8); int 0x30`, 128 times a round (1.0 M instructions).
//     INT 0x30 goes through a trap gate (IF stays 1); its handler computes
//     512 steps with an INT3 every 64 (the #BP handler, an interrupt gate,
//     counts and returns), so ticks nest inside a software-interrupt handler
//     and land right after the #BP handler's IRETQ. Target: the INT 0x30
//     handler. Result: the #BP count.
//   - ud: `WORK(4); ud2`, 16384 times a round (1.06 M instructions); the #UD
//     handler skips the 2 bytes of a UD2 (any other #UD is an exception).
//     Target: at the UD2 or right after it. Result: the #UD count.
//   - clock: RDTSC, then the PIT counter-0 latch and two reads, each value
//     mixed into the phase result, then an exit-free loop of 64 + (result
//     bits 41:32) steps, 128 times a round (about 0.94 M instructions, 512
//     exits). Target: the loop.
//
// The rounds of the default param come to about 10 M instructions, plus
// the spin phase's 8 ticks. Under QEMU -icount shift=0 (one instruction a
// nanosecond, so a tick every million instructions at 1000 Hz) every phase
// runs on to its 4 ticks: spin 8.0 M, rep 4.5 M, shadow 3.5 M, nested
// 4.0 M, ud 4.3 M, clock 3.8 M, 28.1 M in all; at 1 round and divisor 119
// (10 kHz) the rounds decide: 5.7 M in all. Under Bochs (50 M instructions
// a second of emulated time) a tick comes every 50,000 instructions at
// 1000 Hz, so the rounds decide there too.
//
// Output (N decimal, H 16 hex digits):
//
//	testguest: mode 5 start
//	testguest: async rounds 2 divisor 1193 hz 1000
//	testguest: async spin rounds R target N   (per phase: rounds run, ticks at the target)
//	testguest: async spin ticks N hash 0xH    (ticks taken in the phase, its hash)
//	...                                        (the same two lines for rep, shadow, nested, ud, clock)
//	testguest: async total ticks N rx N       (ticks in all phases; bytes received)
//	testguest: stray irqs N                   (only if IRQs other than 0, 4 came)
//	testguest: async digest 0xH               (FNV over each phase's hash and ticks, in order)
//	testguest: done                           (then exit 0, or ExitShadowBroken)
//
// # Synchronous exits
//
// Mode 0: exits only around its output (per character one IN from LSR,
// more while THR is busy, and one OUT to THR), 2 CPUIDs, 2 RDTSCs and the
// ExitPort write, about 700 in all; the 8.6 M-instruction computation in
// between has none (IF = 0 throughout, so no event can be waiting).
//
// Mode 2 with the default param, about 5,700 exits in 12.65 M instructions,
// about 450 per million: 3,906 OUTs to PostPort, 488 RDTSCs, 244 HLTs, one
// EOI OUT per interrupt (about 245 timer ticks) plus IN of LSR and RBR per
// received byte, about 800 for output, 15 for initialisation. While IF = 1
// no more than about 3,300 instructions pass between two synchronous exits
// (128 iterations, the PostPort cadence), so under the exit clock a pending
// interrupt waits at most that long.
//
// Mode 5: inside a phase only the interrupt handlers exit (one EOI OUT per
// tick; per received byte two INs of LSR, one of RBR, one EOI), and phase
// clock's 4 per clock read (RDTSC, OUT 0x43, IN 0x40 twice); between phases
// the output (about 1,000 characters, two exits each) and 15 OUTs of
// initialisation. Phases spin, rep, shadow, nested and ud go millions of
// instructions with no exit of their own: only a hypervisor that injects
// where the guest is (an exit clock, a preemption timer) gets a tick into
// them, and the spin phase never ends without one.
//
// # Testing without a hypervisor
//
// harness.S is a multiboot v1 kernel that builds the entry environment above
// on a bare emulated PC and jumps to the image; qemu_test.go boots it with
// qemu-system-x86_64 -kernel, "-append mode=N param=M" (M decimal, 64-bit),
// and "-device isa-debug-exit,iobase=0x501,iosize=4" standing in for
// ExitPort (QEMU then exits with status 2*status+1). QEMU's own PIC and PIT
// serve modes 2 and 5.
package testguest

import (
	_ "embed"
	"math/bits"
)

//go:generate sh build.sh

// Image is the flat guest binary, to be loaded at LoadAddr and entered at
// EntryAddr.
//
//go:embed testguest.bin
var Image []byte

// Memory layout.
const (
	LoadAddr     = 0x100000 // guest-physical load address of Image
	EntryAddr    = LoadAddr // entry point: the first byte of Image
	DataAddr     = 0x102000 // the image's data page (IDT first)
	IDTAddr      = DataAddr // the guest's IDT: IDTVectors 16-byte gates
	IDTVectors   = 0x31     // vectors 0x00-0x30
	StackTop     = 0x80000  // RSP at entry
	StackBottom  = 0x70000  // the guest's stack stays above this
	IdentityMap  = 1 << 30  // identity-mapped guest-physical bytes (2 MiB pages)
	MinRAM       = 16 << 20 // guest RAM at least
	EntryRFLAGS  = 0x2      // RFLAGS at entry: IF = 0
	CodeSelector = 0x08     // 64-bit code segment in the GDT
	DataSelector = 0x10     // data segment in the GDT
	Mode0BufAddr = 0x200000 // mode 0 work buffer
	Mode0BufSize = 1 << 20
	Mode2BufAddr = 0x300000 // mode 2 work buffer
	Mode2BufSize = 64 << 10
	AsyncBufAddr = 0x400000 // mode 5 REP buffers A and B, 256 KiB each
	AsyncBufSize = 512 << 10
)

// Modes (RDI at entry).
const (
	ModeBringUp     = 0
	ModeTripleFault = 1
	ModeReplay      = 2
	ModePolicy      = 3 // unmodelled port and MSR: the hypervisor's policy
	ModeSpin        = 4 // print "testguest: spinning", then loop with IF=0 forever, making no exit
	ModeAsync       = 5 // exact asynchronous events: param = AsyncParam(rounds, divisor)
	ModeHalt        = 6 // print "testguest: halting", then CLI; HLT: the end of the VM
)

// Mode 5 parameters and phases.
const (
	AsyncDefaultRounds = 2 // rounds of work per phase when param bits 31:0 are 0
	AsyncMinTicks      = 4 // every phase runs on until it has taken this many ticks
	AsyncSpinTicks     = 4 // the spin phase waits for this many ticks a round
	AsyncMinDivisor    = 2 // the smallest PIT divisor (the rate generator cannot count 1)
	SoftVector         = 0x30
)

// AsyncPhases are the names of mode 5's phases, in the order they run and
// print.
var AsyncPhases = []string{"spin", "rep", "shadow", "nested", "ud", "clock"}

// AsyncParam is mode 5's param (RSI): rounds of work per phase (0 =
// AsyncDefaultRounds) and the PIT divisor (0 = PITDivisor; else at least
// AsyncMinDivisor; the timer rate is PITInputHz/divisor).
func AsyncParam(rounds uint32, divisor uint16) uint64 {
	return uint64(rounds) | uint64(divisor)<<32
}

// Default iteration counts (when param, RSI at entry, is 0).
const (
	Mode0DefaultIterations = 300000
	Mode2DefaultIterations = 500000
)

// Exit statuses written to ExitPort.
const (
	ExitOK             = 0
	ExitBadMode        = 1
	ExitRDTSCBackwards = 2
	ExitNoTripleFault  = 3
	ExitBadParam       = 4    // mode 5: param out of range
	ExitShadowBroken   = 5    // mode 5: an interrupt was taken inside an STI shadow
	ExitException      = 0x40 // + the exception vector
)

// I/O ports.
const (
	COM1Port        = 0x3F8   // RBR/THR; IER = +1, MCR = +4, LSR = +5
	PIC1Port        = 0x20    // master command; data = 0x21
	PIC2Port        = 0xA0    // slave command; data = 0xA1
	PITPort         = 0x40    // channel 0 data; command = 0x43
	PostPort        = 0x80    // OUT, value ignored: mode 2's synchronous exit
	ExitPort        = 0x501   // 32-bit OUT: end the VM with that status
	TimerHz         = 1000    // PIT channel 0 rate in mode 2 (and mode 5's default)
	PITDivisor      = 1193    // 1193182 / 1193 = 1000.15 Hz
	PITInputHz      = 1193182 // the 8254's input clock on a PC
	TimerVector     = 0x20    // IRQ0
	SerialVector    = 0x24    // IRQ4
	PrintEveryTicks = 100     // mode 2 prints a tick line every 100 ticks
)

// PortWrite is one OUT instruction of an initialisation sequence.
type PortWrite struct {
	Port  uint16
	Value uint8
}

// PICInitSequence is the OUT sequence modes 2 and 5 perform to initialise the
// 8259A pair (ICW1-ICW4 for both, then OCW1 masks), in order.
var PICInitSequence = []PortWrite{
	{0x20, 0x11}, {0xA0, 0x11}, // ICW1: edge, cascade, ICW4 needed
	{0x21, 0x20}, {0xA1, 0x28}, // ICW2: vector bases 0x20, 0x28
	{0x21, 0x04}, {0xA1, 0x02}, // ICW3: slave on IRQ2 / identity 2
	{0x21, 0x01}, {0xA1, 0x01}, // ICW4: 8086 mode, normal EOI
	{0x21, 0xEE}, {0xA1, 0xFF}, // OCW1: IRQ0, IRQ4 unmasked; slave masked
}

// PITInitSequence is the OUT sequence mode 2 performs to program PIT
// channel 0 (mode 2, lobyte/hibyte, binary, divisor 1193); mode 5 writes its
// own divisor in the same way.
var PITInitSequence = []PortWrite{
	{0x43, 0x34}, {0x40, PITDivisor & 0xFF}, {0x40, PITDivisor >> 8},
}

// COM1InitSequence is the OUT sequence modes 2 and 5 perform to enable COM1
// receive interrupts (after PIC and PIT initialisation).
var COM1InitSequence = []PortWrite{
	{0x3FC, 0x0B}, // MCR: DTR, RTS, OUT2
	{0x3F9, 0x01}, // IER: received data available
}

// Output markers (whole lines or line prefixes, without the "\n").
const (
	LinePrefix          = "testguest: "
	MarkerDone          = "testguest: done"
	MarkerChecksum      = "testguest: checksum 0x"              // mode 0, then 16 hex digits
	MarkerVendor        = "testguest: cpuid vendor "            // mode 0, then 12 characters
	MarkerRDTSCOK       = "testguest: rdtsc monotonic"          // mode 0
	MarkerTripleFault   = "testguest: triple fault next"        // mode 1
	MarkerNoTripleFault = "testguest: no triple fault"          // mode 1, failure
	MarkerTick          = "testguest: tick "                    // mode 2: "tick N checksum 0x..."
	MarkerFinal         = "testguest: final ticks "             // mode 2: "final ticks N checksum 0x..."
	MarkerRx            = "testguest: rx 0x"                    // mode 2, then 2 hex digits
	MarkerIRQHash       = "testguest: irq hash 0x"              // mode 2, then 16 hex digits
	MarkerException     = "testguest: exception 0x"             // any mode: failure
	MarkerHalting       = "testguest: halting"                  // mode 6: CLI; HLT follows
	MarkerAsyncDigest   = "testguest: async digest 0x"          // mode 5, then 16 hex digits
	MarkerAsyncTotal    = "testguest: async total ticks "       // mode 5: "total ticks N rx N"
	MarkerAsyncBadParam = "testguest: async bad param 0x"       // mode 5, failure: then the param
	MarkerShadowBroken  = "testguest: async sti shadow broken " // mode 5, failure
)

// Constants of the computation (as in testguest.S).
const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
	seed0     = 0x9E3779B97F4A7C15
)

func xorshift64(x uint64) uint64 {
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	return x
}

// Checksum0 is the checksum mode 0 prints for param (0 = the default
// iteration count): the computation of testguest.S in Go.
func Checksum0(param uint64) uint64 {
	n := param
	if n == 0 {
		n = Mode0DefaultIterations
	}
	buf := make([]uint64, Mode0BufSize/8)
	mask := uint64(len(buf) - 1)
	x := uint64(seed0)
	for k := range buf {
		x = xorshift64(x)
		buf[k] = x
	}
	h := uint64(fnvOffset)
	for i := uint64(0); i < n; i++ {
		x = xorshift64(x)
		idx := x & mask
		v := buf[idx]
		buf[idx] = bits.RotateLeft64(v^h, 23) + i
		h = (h ^ v ^ x) * fnvPrime
	}
	return h
}
