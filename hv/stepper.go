package hv

import (
	"hindsight/hv/pmu"
	"hindsight/vmx"
)

// stepper takes a backup the last few instructions to a stop that its
// clock cannot reach by counting alone: an instruction breakpoint at the
// stop's RIP in a debug register the guest leaves free, or single steps
// (the monitor trap flag, or RFLAGS.TF with #DB intercepted). The slice
// clock needs it for stops that do not lie on its 5-instruction grid, the
// branch clock for stops within one branch count (hv/pmu, step.go, has
// the plans and their reasons). Everything it arms for an entry it gives
// back at the next exit: the debug register, DR7's slot, the exception
// bitmap's #DB bit, TF, the monitor trap flag, RF, and a pending debug
// exception of its own.
type stepper struct {
	regs pmuRegs
	plan pmu.Plan // what this entry armed
	// While a breakpoint or single step is armed: the guest's DR7, the
	// debug register's content and RCX at entry, and the exception bitmap.
	saved   struct{ dr7, dr, rcx, exceptions uint64 }
	trapped bool // the last exit was this stepper's own #DB or step
}

// setup makes the VMCS load and save the guest's DR7 ("load debug
// controls", "save debug controls"), which breakpoints are added to.
func (s *stepper) setup() {
	s.regs.vmwrite(vmx.EntryControls, s.regs.vmread(vmx.EntryControls)|vmx.EntryLoadDebugControls)
	s.regs.vmwrite(vmx.ExitControls, s.regs.vmread(vmx.ExitControls)|vmx.ExitSaveDebugControls)
}

// apply arms p's breakpoint or single step for one entry. A TF single
// step is the VM's tfStep's (tfstep.go: invisible to the guest), armed
// here and given back right after the exit.
func (s *stepper) apply(v *VM, p pmu.Plan) {
	s.plan = p
	v.clockArmed = p != pmu.Plan{}
	if p.Traps() {
		// The guest's own DR7, before anything is armed: exitTraps tells
		// its debug conditions from the step's by it.
		v.guestDR7 = s.regs.vmread(vmx.GuestDR7)
	}
	if p.MTF {
		s.regs.vmwrite(vmx.ProcBasedControls, s.regs.vmread(vmx.ProcBasedControls)|vmx.ProcBasedMonitorTrapFlag)
	}
	if p.TrapFlag {
		v.tf.arm(v)
		return
	}
	if !p.Traps() && !p.ResumeFlag {
		return
	}
	s.saved.rcx = v.regs.RCX
	s.saved.dr7 = s.regs.vmread(vmx.GuestDR7)
	rflags := s.regs.vmread(vmx.GuestRFLAGS)
	if p.Traps() {
		s.saved.exceptions = s.regs.vmread(vmx.ExceptionBitmap)
		s.regs.vmwrite(vmx.ExceptionBitmap, s.saved.exceptions|1<<vmx.VectorDB)
	}
	if p.Breakpoint {
		s.saved.dr = s.regs.debugReg(p.Slot)
		s.regs.setDebugReg(p.Slot, p.BreakRIP)
		s.regs.vmwrite(vmx.GuestDR7, pmu.WithBreakpoint(s.saved.dr7, p.Slot))
	}
	if p.ResumeFlag {
		rflags |= pmu.RFLAGSRF
	}
	s.regs.vmwrite(vmx.GuestRFLAGS, rflags)
}

// checkTrap notes whether this exit is the armed breakpoint or single
// step: an asynchronous stop, not an exception of the guest's.
func (s *stepper) checkTrap(v *VM) {
	s.trapped = false
	r := vmx.ExitReason(v.regs.ExitReason).Basic()
	if s.plan.MTF && r == vmx.ReasonMonitorTrapFlag {
		s.trapped = true
		return
	}
	if s.plan.TrapFlag {
		s.trapped = v.tf.trapped || v.tf.done
		return
	}
	if s.plan.Traps() && r == vmx.ReasonExceptionOrNMI {
		info := s.regs.vmread(vmx.VMExitInterruptionInfo)
		s.trapped = info&0xFF == vmx.VectorDB &&
			vmx.EventType(info>>vmx.IntInfoTypeShift&7) == vmx.EventHardwareException &&
			pmu.OwnTrap(s.plan, v.regs.ExitQual, s.saved.dr7)
	}
}

// disarm gives the guest back what apply took, after an exit; progress is
// how far the guest got since the entry (instructions or branches).
func (s *stepper) disarm(v *VM, progress uint64) {
	if !v.clockArmed { // apply armed nothing (most entries): nothing to give back
		return
	}
	p := s.plan
	s.plan = pmu.Plan{}
	v.clockArmed = false
	if p.MTF {
		s.regs.vmwrite(vmx.ProcBasedControls, s.regs.vmread(vmx.ProcBasedControls)&^vmx.ProcBasedMonitorTrapFlag)
	}
	if p.TrapFlag || !p.Traps() && !p.ResumeFlag {
		return // a TF step was given back at the exit (tfStep.exit)
	}
	rflags := s.regs.vmread(vmx.GuestRFLAGS)
	if pmu.ClearResumeFlag(p, s.regs.vmread(vmx.GuestRIP), v.regs.RCX, s.saved.rcx, progress) {
		rflags &^= pmu.RFLAGSRF
	}
	s.regs.vmwrite(vmx.GuestRFLAGS, rflags)
	if !p.Traps() {
		return
	}
	db := uint64(1) << vmx.VectorDB
	s.regs.vmwrite(vmx.ExceptionBitmap, s.regs.vmread(vmx.ExceptionBitmap)&^db|s.saved.exceptions&db)
	// A single step or breakpoint that the exit overtook is saved as
	// pending and would be delivered at the next entry (SDM Vol. 3C,
	// "Saving Non-Register State"): it is this stepper's, not the guest's.
	mine := uint64(0)
	if p.Breakpoint {
		mine |= 1 << p.Slot
		s.regs.vmwrite(vmx.GuestDR7, pmu.RestoreSlot(s.regs.vmread(vmx.GuestDR7), s.saved.dr7, p.Slot))
		s.regs.setDebugReg(p.Slot, s.saved.dr)
	}
	s.regs.vmwrite(vmx.GuestPendingDebug, s.regs.vmread(vmx.GuestPendingDebug)&^mine)
}

func (s *stepper) stopTrapped() bool { return s.trapped }

func (s *stepper) release(v *VM) { s.disarm(v, 0) }

// clockTrapped reports whether the exception or monitor-trap-flag exit
// whose progress the clock has just taken is the clock's own breakpoint
// or single step: an asynchronous stop, not an event of the guest's.
func (v *VM) clockTrapped() bool { return v.clock.stopTrapped() }
