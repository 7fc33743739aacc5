package hv

import (
	"hindsight/hv/step"
	"hindsight/vmx"
)

// tfStep executes one guest instruction, or delivers one event, for one VM
// entry, so that the guest cannot tell (package hv/step has the plans and
// why): the clock's single steps to a stop (stepper.go) and the debugger's
// (debug.go) both go through it, never both for the same entry. arm runs
// before the entry, exit right after it, before the exit is handled, so
// that no handler and no digest sees TF, the exception bitmap or a debug
// register of its own. Both run in the vCPU loop (the clock's steps on
// every asynchronous stop of the backup) and must not allocate: the bytes
// they read go into buf, and why a step has no handler breakpoint is kept
// as a pointer-free step.NoHandler.
type tfStep struct {
	regs pmuRegs     // nil: this CPU's (hostPMU)
	mem  guestAccess // nil: the VM's own memory

	armed   bool
	plan    step.Plan
	insn    step.Insn
	guestTF bool // the guest's own RFLAGS.TF was set at the entry
	slot    int  // the debug register of the handler breakpoint (Deliver), or -1
	saved   struct{ exceptions, dr, dr7 uint64 }
	// noHandler says why a Deliver step has no breakpoint at the handler
	// (the guest then runs on to its next exit); Why is HandlerFound if
	// it has one.
	noHandler step.NoHandler
	buf       [16]byte // guest bytes read by arm and exit (a local array would escape to the heap)

	// The outcome of the last armed entry.
	done    bool // the instruction completed, or the event was delivered
	trapped bool // the exit was this step's #DB or an exception it intercepted: an asynchronous stop, not a guest event
	ownTF   bool // the entry ran with a TF of this step's: a single-step condition (BS) at its exit is ours
	// A TF step of the instruction at (rip, rcx) exited with this
	// exception before delivering it: the next step of that instruction
	// lets the processor deliver it (step.PlanStep).
	fault struct {
		rip, rcx uint64
		vector   uint8
		valid    bool
	}
}

// guestAccess reads and writes guest memory by linear address (VM's
// readGuest and writeGuest; tests fake it).
type guestAccess interface {
	readLinear(va uint64, dst []byte) int
	writeLinear(va uint64, src []byte) int
}

func (t *tfStep) hw() pmuRegs {
	if t.regs == nil {
		return hostPMU{}
	}
	return t.regs
}

func (t *tfStep) access(v *VM) guestAccess {
	if t.mem == nil {
		return v
	}
	return t.mem
}

// allExceptions intercepts every exception vector during a TF step.
const allExceptions = 0xFFFFFFFF

// arm plans and arms the step for the next entry.
func (t *tfStep) arm(v *VM) {
	r, mem := t.hw(), t.access(v)
	rip := r.vmread(vmx.GuestRIP)
	rflags := r.vmread(vmx.GuestRFLAGS)
	info := r.vmread(vmx.EntryInterruptionInfo)
	cs := codeSegment(r)
	n := mem.readLinear(cs.linear(rip), t.buf[:15])
	t.insn = step.Classify(t.buf[:n], cs.bits, rflags)
	t.guestTF = rflags&step.RFLAGSTF != 0
	s := step.State{Insn: t.insn, Injecting: info&vmx.IntInfoValid != 0, Injected: uint8(info), GuestTF: t.guestTF}
	if t.fault.valid && t.fault.rip == rip && t.fault.rcx == v.regs.RCX {
		s.Faulted, s.Fault = true, t.fault.vector
	}
	t.fault.valid = false
	t.plan = step.PlanStep(s)
	t.slot, t.noHandler = -1, step.NoHandler{}
	t.done, t.trapped = false, false
	t.saved.exceptions = r.vmread(vmx.ExceptionBitmap)
	if t.plan.Deliver {
		idtr := step.Table{Base: r.vmread(vmx.GuestIDTRBase), Limit: uint32(r.vmread(vmx.GuestIDTRLimit))}
		gdtr := step.Table{Base: r.vmread(vmx.GuestGDTRBase), Limit: uint32(r.vmread(vmx.GuestGDTRLimit))}
		addr, no := step.HandlerAt(mem.readLinear, &t.buf, cs.mode, idtr, gdtr, t.plan.Vector)
		dr7 := r.vmread(vmx.GuestDR7)
		slot := step.FreeSlot(dr7, 0)
		switch {
		case no.Why != step.HandlerFound:
			t.noHandler = no
		case slot < 0:
			t.noHandler = step.NoHandler{Why: step.NoFreeSlot, Vector: t.plan.Vector}
		default:
			t.slot = slot
			t.saved.dr, t.saved.dr7 = r.debugReg(slot), dr7
			r.setDebugReg(slot, addr)
			r.vmwrite(vmx.GuestDR7, step.WithSlot(dr7, slot, step.Exec, 1))
			r.vmwrite(vmx.ExceptionBitmap, t.saved.exceptions|1<<vmx.VectorDB)
		}
	} else {
		if !t.guestTF {
			r.vmwrite(vmx.GuestRFLAGS, rflags|step.RFLAGSTF)
		}
		r.vmwrite(vmx.ExceptionBitmap, allExceptions)
	}
	t.armed = true
}

// exit finds out how the step ended and gives back what arm took,
// repairing what the guest could see of TF (step.After). guestDR7 is the
// guest's own DR7 (without the hypervisor's breakpoints); the guest's own
// debug conditions at a #DB exit are the caller's to reflect.
func (t *tfStep) exit(v *VM, guestDR7 uint64) {
	t.trapped, t.done, t.ownTF = false, false, false
	if !t.armed {
		return
	}
	t.armed = false
	t.ownTF = t.plan.TrapFlag && !t.guestTF
	r := t.hw()
	outcome := step.Elsewhere
	basic := vmx.ExitReason(v.regs.ExitReason).Basic()
	if basic == vmx.ReasonExceptionOrNMI {
		info := r.vmread(vmx.VMExitInterruptionInfo)
		vector, typ := uint8(info), vmx.EventType(info>>vmx.IntInfoTypeShift&7)
		switch {
		case typ == vmx.EventNMI:
		case vector == vmx.VectorDB && typ == vmx.EventHardwareException:
			var mine uint8
			if t.slot >= 0 {
				mine = 1 << t.slot
			}
			ours, _ := step.Split(v.regs.ExitQual, mine, t.plan.TrapFlag, guestDR7, t.guestTF)
			t.trapped = true // ours, or the guest's own condition that only our interception made exit
			if ours&step.DR6BS != 0 {
				outcome = step.Completed
			}
			if ours&uint64(mine) != 0 {
				t.done = true // at the handler's first instruction: the event is delivered
			}
		case t.plan.TrapFlag:
			// The instruction raised an exception, intercepted before its
			// delivery: it did not execute (a fault) or is to deliver it
			// (INT1, a trap of the guest's own). The next step of it lets
			// the processor deliver it.
			outcome, t.trapped = step.Faulted, true
			t.fault.rip, t.fault.rcx, t.fault.vector, t.fault.valid = r.vmread(vmx.GuestRIP), v.regs.RCX, vector, true
		}
	} else if synchronous(basic) && basic != vmx.ReasonInterruptWindow && basic != vmx.ReasonTripleFault {
		outcome = step.Completed // the handler emulates the instruction
	}
	if outcome == step.Completed {
		t.done = true
	}
	r.vmwrite(vmx.ExceptionBitmap, t.saved.exceptions)
	mine := uint64(0)
	if t.slot >= 0 {
		r.vmwrite(vmx.GuestDR7, step.RestoreSlot(r.vmread(vmx.GuestDR7), t.saved.dr7, t.slot))
		r.setDebugReg(t.slot, t.saved.dr)
		mine |= 1 << t.slot
	}
	if t.plan.TrapFlag {
		t.repair(v, step.After(t.insn, outcome, t.guestTF))
		if !t.guestTF {
			mine |= step.DR6BS
		}
	}
	// A single step or breakpoint the exit overtook is saved as pending
	// and would be delivered at the next entry (SDM Vol. 3C, "Saving
	// Non-Register State"): it is this step's, not the guest's.
	if pd := r.vmread(vmx.GuestPendingDebug); pd&mine != 0 {
		r.vmwrite(vmx.GuestPendingDebug, pd&^mine)
	}
}

// repair takes TF back where the step left it visible.
func (t *tfStep) repair(v *VM, fix step.Fix) {
	r := t.hw()
	if fix.ClearTF {
		r.vmwrite(vmx.GuestRFLAGS, r.vmread(vmx.GuestRFLAGS)&^step.RFLAGSTF)
	}
	if fix.ClearR11 {
		v.regs.R11 &^= step.RFLAGSTF
	}
	if fix.ClearImageTF {
		// The image PUSHF pushed is at the stack pointer, TF in bit 0 of
		// its second byte whatever the operand size.
		at := stackLinear(r) + 1
		mem := t.access(v)
		b := t.buf[:1]
		if mem.readLinear(at, b) == 1 && b[0]&1 != 0 {
			b[0] &^= 1
			mem.writeLinear(at, b)
		}
	}
}

// csInfo is the guest's code segment as far as decoding and linear
// addresses go.
type csInfo struct {
	mode step.Mode
	bits int    // 16, 32 or 64: the default operand size of the code
	base uint64 // CS base (0 in 64-bit mode)
}

func (c csInfo) linear(rip uint64) uint64 {
	if c.bits == 64 {
		return rip
	}
	return (c.base + rip) & 0xFFFFFFFF
}

// codeSegment reads the guest's mode and code segment from the VMCS.
func codeSegment(r pmuRegs) csInfo {
	cr0 := r.vmread(vmx.GuestCR0)
	efer := r.vmread(vmx.GuestIA32EFER)
	ar := vmx.AccessRights(r.vmread(vmx.GuestCSAccessRights))
	c := csInfo{base: r.vmread(vmx.GuestCSBase), bits: 16}
	switch {
	case efer&vmx.EFERLMA != 0:
		c.mode = step.Long
		if ar.L() {
			c.bits, c.base = 64, 0
		} else if ar&vmx.ARDB != 0 {
			c.bits = 32
		}
	case cr0&vmx.CR0PE != 0:
		c.mode = step.Protected
		if ar&vmx.ARDB != 0 {
			c.bits = 32
		}
	default:
		c.mode = step.Real
	}
	return c
}

// stackLinear is the linear address of the guest's stack pointer.
func stackLinear(r pmuRegs) uint64 {
	rsp := r.vmread(vmx.GuestRSP)
	if r.vmread(vmx.GuestIA32EFER)&vmx.EFERLMA != 0 && vmx.AccessRights(r.vmread(vmx.GuestCSAccessRights)).L() {
		return rsp
	}
	base := r.vmread(vmx.GuestSSBase)
	if vmx.AccessRights(r.vmread(vmx.GuestSSAccessRights))&vmx.ARDB == 0 {
		rsp &= 0xFFFF
	}
	return (base + rsp) & 0xFFFFFFFF
}

// readLinear and writeLinear are guest memory through the guest's own
// page tables (guestAccess). They do not allocate.
func (v *VM) readLinear(va uint64, dst []byte) int  { return v.readGuest(va, dst) }
func (v *VM) writeLinear(va uint64, src []byte) int { return v.writeGuest(va, src) }

// hw is the VMCS and debug registers of the VM's CPU (tests fake them
// through tfStep.regs).
func (v *VM) hw() pmuRegs { return v.tf.hw() }
