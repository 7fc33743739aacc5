package vmx

import "unsafe"

// The VMX instructions (SDM Vol. 3C §32, "VMX Instruction Reference"), one
// Go declaration per routine in insn_amd64.s. Each VMX instruction reports
// failure in RFLAGS (SDM §32.2): CF=1 is VMfailInvalid (no current VMCS),
// ZF=1 is VMfailValid (the reason is in the VM-instruction error field).
// The routines return that as a status, which Status turns into an error.
//
// Preconditions for all: the caller runs at CPL0 on the logical processor
// whose VMX state it means (the hypervisor pins its vCPU threads).

// Status is the outcome of a VMX instruction.
type Status uint8

const (
	Succeed     Status = 0
	FailInvalid Status = 1 // CF=1: no current VMCS, or a bad operand
	FailValid   Status = 2 // ZF=1: see the VM-instruction error field
)

// VMXONInsn enters VMX operation with the VMXON region at physical address pa.
func VMXONInsn(pa uint64) Status {
	return vmxon(uintptr(unsafe.Pointer(&pa)))
}

// VMCLEAR makes the VMCS at pa inactive and clear (launch state "clear").
func VMCLEAR(pa uint64) Status {
	return vmclear(uintptr(unsafe.Pointer(&pa)))
}

// VMPTRLD makes the VMCS at pa current and active on this processor.
func VMPTRLD(pa uint64) Status {
	return vmptrld(uintptr(unsafe.Pointer(&pa)))
}

// INVEPT invalidates EPT-derived translations (type 1: single context for
// desc[0] = EPTP, type 2: all contexts).
func INVEPT(typ uint64, eptp uint64) Status {
	desc := [2]uint64{eptp, 0}
	return invept(typ, uintptr(unsafe.Pointer(&desc)))
}

// INVVPID invalidates translations tagged with a VPID (type 1: single
// context, 2: all contexts, ...).
func INVVPID(typ uint64, vpid uint16) Status {
	desc := [2]uint64{uint64(vpid), 0}
	return invvpid(typ, uintptr(unsafe.Pointer(&desc)))
}

func vmxon(ptr uintptr) Status
func vmclear(ptr uintptr) Status
func vmptrld(ptr uintptr) Status
func invept(typ uint64, desc uintptr) Status
func invvpid(typ uint64, desc uintptr) Status

// VMXOFF leaves VMX operation.
func VMXOFF() Status

// VMREAD returns the current VMCS's field f.
func VMREAD(f Field) (uint64, Status)

// VMWRITE sets the current VMCS's field f.
func VMWRITE(f Field, v uint64) Status

// GuestRegs holds the guest registers the VMCS does not: the general-purpose
// registers but RSP, CR2, and the FPU/SSE state. Enter loads them before VM
// entry and saves them at VM exit. Offsets are fixed for insn_amd64.s.
type GuestRegs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RBP    uint64
	R8, R9, R10, R11, R12, R13, R14, R15 uint64
	CR2                                  uint64
	// 16-byte aligned 512-byte FXSAVE areas: the guest's, and where the
	// host's is kept while the guest runs.
	GuestFX, HostFX uintptr

	// Read by the VM-exit stub from the VMCS, so that handlers need no
	// VMREAD for them: exit reason, exit qualification, guest RIP and
	// VM-exit instruction length.
	ExitReason, ExitQual, ExitRIP, ExitInstrLen uint64

	// Slices, if not 0, makes Enter align the VM entry to the end of one
	// of Bochs 2.7's 5-instruction CPU slices (see insn_amd64.s), for the
	// slice clock, and the exit stub measure where in its slice the exit
	// fell (Phase). Set it only where SliceProbe reports true.
	Slices uint64
	// Phase is set by the exit stub with Slices: which of its RDTSC pairs
	// found the next slice boundary (0-4), or all ones if none did.
	// SliceOffset turns it into guest instructions.
	Phase uint64
}

// SliceOffset returns how many guest instructions ran in the slice in
// which the VM exit came, from GuestRegs.Phase: 0 for an exit at a
// slice's start (the usual case), 1-4 for one in its middle. The exit
// takes one instruction slot of its own; the stub's RDTSC pair k found
// that the RDTSC at instruction 23 + 4k after the exit began a slice, so
// the exit sat at place p = 3 + k (mod 5, 1-5) of its slice and p - 1
// guest instructions ran before it there. ok is false if no pair matched
// (the slices are gone: the clock cannot be trusted).
func SliceOffset(phase uint64) (instructions uint64, ok bool) {
	if phase > 4 {
		return 0, false
	}
	return (phase + 2) % 5, true
}

// Enter runs the guest of the current VMCS until the next VM exit:
// VMLAUNCH if launched is false, else VMRESUME. It returns Succeed after a
// VM exit (read the exit reason from the VMCS), or the VM-instruction
// failure of the entry itself. Host interrupts are disabled from the
// start of Enter until the exit is recorded, then enabled again; an external
// interrupt that caused the exit is then taken by the host.
//
// Preconditions: a current VMCS whose host-state area describes this
// thread on this CPU, with host RIP = ExitStub() (host RSP is written
// here, per entry: the goroutine's stack may have moved since the last).
func Enter(g *GuestRegs, launched bool) Status {
	return enter(g, launched)
}

// ExitStub returns the address every VM exit must arrive at, the VMCS's
// host RIP: the stub that saves the guest's registers and returns from
// Enter.
func ExitStub() uint64 { return exitStub() }

func exitStub() uint64

func enter(regs *GuestRegs, launched bool) Status

// SliceProbe reports whether this CPU runs in fixed 5-instruction slices
// between TSC updates, as Bochs 2.7 with two CPUs does: the precondition
// of GuestRegs.Slices (without it the aligned entry would never end). The
// slice clock's self-test (package hv) checks the rest with a guest.
func SliceProbe() bool { return sliceProbe() }

func sliceProbe() bool
