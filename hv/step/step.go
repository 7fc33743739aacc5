// Package step decides how the hypervisor executes exactly one guest
// instruction, or delivers exactly one event, without the guest being able
// to tell: the single steps of the backup's clock (stepping the last
// instructions to an asynchronous stop) and of its debugger (gdb's stepi).
//
// Without the monitor trap flag (Bochs 2.7 has none) a single step is
// RFLAGS.TF with #DB intercepted: the processor traps after one
// instruction (SDM Vol. 3B §17.3.1.4). TF is architectural state, though,
// and the guest can see it wherever the processor copies RFLAGS:
//
//	PUSHF/PUSHFD/PUSHFQ   the image pushed on the stack
//	SYSCALL               R11 (RFLAGS before the instruction)
//	INT n, INT3, INTO     the interrupt frame; the gate then clears TF and
//	                      the handler runs without single steps until its
//	                      IRET restores TF from the frame (SDM Vol. 3A §6.12.1.2)
//	a faulting instruction the exception frame, likewise
//	POPF, IRET, SYSRET    nothing seen, but RFLAGS.TF afterwards is the
//	                      value the guest loaded: the guest's own
//
// A frame with TF set also stays in guest memory below the stack pointer,
// where the backup's memory digest would find it. So a step is planned per
// instruction (Classify, PlanStep) and repaired afterwards (After):
//
//   - software interrupts (INT n, INT3, INTO with OF set) execute without
//     TF, under an instruction breakpoint at their handler's first
//     instruction (HandlerAddress): the step ends there, the frame clean;
//   - an event the entry injects is delivered the same way (a TF step
//     would not even stop: the gate clears TF before the handler runs);
//   - everything else steps with TF and every exception intercepted, so
//     that an instruction that faults exits before the exception is
//     delivered; it is then executed again without TF, and the processor
//     delivers the exception itself, under a breakpoint at the handler
//     (PlanStep with the fault's vector);
//   - after the step: TF is cleared in RFLAGS unless the instruction
//     loaded RFLAGS itself, in the image a PUSHF pushed, and in R11 after
//     SYSCALL.
//
// What is not hidden: a MOV SS or POP SS delays the single-step trap by one
// instruction (SDM Vol. 3B §17.3.1.4), so such a step executes two; if the
// second pushes RFLAGS, its image has TF (two instructions no compiler
// emits together). ICEBP (INT1) is stepped with TF: its #DB is reflected
// to the guest.
package step

// RFLAGS bits (SDM Vol. 1 §3.4.3).
const (
	RFLAGSTF = 1 << 8
	RFLAGSOF = 1 << 11
	RFLAGSRF = 1 << 16
)

// Kind is what an instruction does with RFLAGS.TF, as far as a single step
// cares.
type Kind uint8

const (
	Plain      Kind = iota // nothing: clear TF after the step
	PushFlags              // PUSHF*: the pushed image holds TF
	Syscall                // SYSCALL: R11 holds TF
	LoadsFlags             // POPF*, IRET*, SYSRET: TF afterwards is the guest's
	SoftInt                // INT n, INT3, INTO with OF set: delivers Vector through the IDT
	Unknown                // not decodable (unreadable memory, an invalid opcode): stepped as Plain
)

var kindNames = [...]string{"plain", "pushes flags", "syscall", "loads flags", "software interrupt", "unknown"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Insn is a classified instruction.
type Insn struct {
	Kind   Kind
	Vector uint8 // SoftInt: the vector it raises
	Len    int   // its length in bytes (0 if Unknown, or Plain told by its opcode alone)
}

// Classify decodes the instruction at the start of code (the bytes at the
// guest's RIP) in mode (16, 32 or 64: the code segment's default size)
// with the guest's RFLAGS (INTO raises #OF only with OF set).
//
// It reads the prefixes and the opcode byte only, without a full decode:
// the instructions it tells apart are one-byte opcodes (PUSHF 9C, POPF 9D,
// INT3 CC, INT CD ib, INTO CE, IRET CF) and the two-byte SYSCALL (0F 05)
// and SYSRET (0F 07, 64-bit mode); everything else is Plain, and its Len
// is 0. It runs
// for every single step of the backup's clock (REP string instructions
// iteration by iteration) in the vCPU loop, so it must not allocate (a
// full decode does). A LOCK prefix on one of them makes it an invalid
// opcode: Unknown, stepped as Plain (its #UD is intercepted like any
// fault). The tests check it against x86asm's full decode.
func Classify(code []byte, mode int, rflags uint64) Insn {
	long := mode == 64
	lock := false
	for i, b := range code {
		if i >= maxInsnLen {
			break // prefixes past the architectural length: #GP
		}
		switch {
		case b == 0xF0:
			lock = true
			continue
		case b == 0x66 || b == 0x67 || b == 0xF2 || b == 0xF3 ||
			b == 0x2E || b == 0x36 || b == 0x3E || b == 0x26 || b == 0x64 || b == 0x65:
			continue
		case long && b&0xF0 == 0x40: // REX
			continue
		}
		in := Insn{Kind: Plain, Len: i + 1}
		switch b {
		case 0x9C:
			in.Kind = PushFlags
		case 0x9D, 0xCF:
			in.Kind = LoadsFlags
		case 0xCC:
			in.Kind, in.Vector = SoftInt, VectorBP
		case 0xCD:
			if i+1 >= len(code) {
				return Insn{Kind: Unknown}
			}
			in.Kind, in.Vector, in.Len = SoftInt, code[i+1], i+2
		case 0xCE:
			if long {
				return Insn{Kind: Unknown} // INTO is invalid in 64-bit mode
			}
			if rflags&RFLAGSOF != 0 {
				in.Kind, in.Vector = SoftInt, VectorOF
			}
		case 0x0F:
			if i+1 >= len(code) {
				return Insn{Kind: Unknown}
			}
			switch {
			case code[i+1] != 0x05 && code[i+1] != 0x07:
				return Insn{Kind: Plain}
			case !long:
				return Insn{Kind: Unknown} // SYSCALL and SYSRET are #UD outside 64-bit mode (Intel)
			case code[i+1] == 0x05:
				in.Kind, in.Len = Syscall, i+2
			default:
				in.Kind, in.Len = LoadsFlags, i+2
			}
		default:
			return Insn{Kind: Plain}
		}
		if lock {
			return Insn{Kind: Unknown}
		}
		return in
	}
	return Insn{Kind: Unknown} // only prefixes, or nothing
}

// maxInsnLen is the longest instruction the processor executes (SDM Vol.
// 2A §2.3.11).
const maxInsnLen = 15

// Exception vectors (SDM Vol. 3A Table 6-1) the planning names.
const (
	VectorDB = 1
	VectorBP = 3
	VectorOF = 4
)

// Plan is how one entry is armed for a single step.
type Plan struct {
	// TrapFlag: set RFLAGS.TF and intercept every exception (the
	// exception bitmap all ones), so that the step ends after one
	// instruction, or before the exception it raises is delivered.
	TrapFlag bool
	// Deliver: no TF; an instruction breakpoint at the first instruction
	// of the handler of Vector ends the step once the event is delivered
	// (the processor pushes a clean frame).
	Deliver bool
	Vector  uint8
}

// State is what PlanStep needs to know about the entry.
type State struct {
	Insn      Insn  // the instruction at RIP
	Injecting bool  // the entry injects an event...
	Injected  uint8 // ...of this vector
	Faulted   bool  // the last TF step of this very instruction (same RIP and RCX) exited with exception...
	Fault     uint8 // ...of this vector, before delivery
	GuestTF   bool  // the guest's own RFLAGS.TF is set: it traps by itself, no TF of ours needed
}

// PlanStep decides how to execute one instruction or deliver one event
// invisibly (see the package documentation).
func PlanStep(s State) Plan {
	switch {
	case s.Injecting:
		// Delivered at the entry: the handler's first instruction is the
		// step's end, and TF would be pushed into the frame.
		return Plan{Deliver: true, Vector: s.Injected}
	case s.Faulted:
		// Execute it again without TF: the processor delivers the
		// exception itself, into a clean frame.
		return Plan{Deliver: true, Vector: s.Fault}
	case s.Insn.Kind == SoftInt:
		return Plan{Deliver: true, Vector: s.Insn.Vector}
	case s.GuestTF:
		// The guest single-steps itself: its own trap ends the step (and
		// is reflected to it); exceptions are still intercepted, so a
		// fault is handled as for a step of ours.
		return Plan{TrapFlag: true}
	}
	return Plan{TrapFlag: true}
}

// Outcome is how a TF step ended.
type Outcome uint8

const (
	Completed Outcome = iota // the instruction completed (single-step trap, or a VM exit that emulated it)
	Faulted                  // an exception of the instruction exited before delivery: it did not execute
	Elsewhere                // another exit before the instruction (a host interrupt): nothing executed
)

// Fix is the repair after a TF step.
type Fix struct {
	ClearTF      bool // clear TF in RFLAGS (else it is the guest's own now)
	ClearR11     bool // clear TF (bit 8) in R11
	ClearImageTF bool // clear TF in the RFLAGS image at the stack pointer (byte 1, bit 0)
}

// After says what to repair after a TF step of in that ended with o;
// guestTF is whether the guest's own TF was set before the step (then TF
// is the guest's and stays, and so do the images).
func After(in Insn, o Outcome, guestTF bool) Fix {
	if guestTF {
		return Fix{}
	}
	if o != Completed {
		return Fix{ClearTF: true} // RFLAGS is as before the instruction
	}
	switch in.Kind {
	case LoadsFlags:
		return Fix{}
	case PushFlags:
		return Fix{ClearTF: true, ClearImageTF: true}
	case Syscall:
		return Fix{ClearTF: true, ClearR11: true}
	}
	return Fix{ClearTF: true}
}
