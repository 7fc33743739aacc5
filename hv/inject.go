package hv

import (
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// Event injection: the guest's PIC raises interrupts; the hypervisor
// delivers them at a VM entry when the guest can take one. The logic is
// the same on both replicas and depends only on guest and device state,
// so it needs no log of its own.

const rflagsIF = 1 << 9

// requested is, as a code, the interrupt the guest's PIC asked for before
// inject delivered the one given (or NoVector): a delivered interrupt was
// the one asked for, and without a delivery the PIC is as it was.
func (v *VM) requested(delivered uint64) uint64 {
	if delivered != replay.NoVector {
		return delivered
	}
	if vec, ok := v.pc.PIC.PendingVector(); ok {
		return replay.VectorCode(vec)
	}
	return replay.NoVector
}

// inject gives the guest the PIC's highest-priority interrupt if it can
// take one now, else asks for an exit at the first instruction boundary
// where it can (SDM Vol. 3C §27.3.2.5 blocking; §26.7.5 interrupt window).
// It returns the code of the vector delivered, or NoVector.
//
// Preconditions: injectable (the common case, nothing asked and nothing
// armed, is decided inline at every landmark).
func (v *VM) inject() uint64 {
	if v.injected {
		v.injected = false
		return replay.NoVector // an exception is being injected at this entry already
	}
	if _, ok := v.pc.PIC.PendingVector(); !ok {
		v.setIRQWindow(false)
		return replay.NoVector
	}
	rflags, _ := vmx.VMREAD(vmx.GuestRFLAGS)
	intr, _ := vmx.VMREAD(vmx.GuestInterruptibility)
	if rflags&rflagsIF == 0 || vmx.Interruptibility(intr)&(vmx.BlockingBySTI|vmx.BlockingByMOVSS) != 0 {
		v.setIRQWindow(true)
		return replay.NoVector
	}
	vec := v.pc.PIC.Acknowledge()
	vmx.VMWRITE(vmx.EntryInterruptionInfo, uint64(vmx.InjectExternal(vec).Info))
	v.stats.IRQs++
	// Another request the guest could take once it can (one of higher
	// priority than the one now in service): an interrupt-window exit,
	// the same on both replicas, delivers it. Left for the next exit it
	// would come at whichever asynchronous exit happened first, which the
	// replicas do not share.
	_, more := v.pc.PIC.PendingVector()
	v.setIRQWindow(more)
	return replay.VectorCode(vec)
}

// injectable reports whether inject has anything to do: an exception to
// leave alone, an interrupt window to close, or an unmasked request.
func (v *VM) injectable() bool { return v.injected || v.irqWindow || v.pc.PIC.Unmasked() }

func (v *VM) setIRQWindow(on bool) {
	if on == v.irqWindow {
		return
	}
	v.irqWindow = on
	proc := v.m.ctl.Proc
	if on {
		proc |= vmx.ProcBasedInterruptWindowExiting
	}
	vmx.VMWRITE(vmx.ProcBasedControls, uint64(proc))
}

// reinject re-queues an event whose delivery a VM exit interrupted (SDM
// Vol. 3C §28.2.4, IDT-vectoring information) and reports whether there
// was one.
func (v *VM) reinject() bool {
	info, _ := vmx.VMREAD(vmx.IDTVectoringInfo)
	if info&uint64(vmx.IntInfoValid) == 0 {
		return false
	}
	code, _ := vmx.VMREAD(vmx.IDTVectoringErrorCode)
	if j, ok := vmx.Reinject(uint32(info), uint32(code), uint32(v.regs.ExitInstrLen)); ok {
		vmx.VMWRITE(vmx.EntryInterruptionInfo, uint64(j.Info))
		vmx.VMWRITE(vmx.EntryExceptionErrorCode, uint64(j.ErrorCode))
		vmx.VMWRITE(vmx.EntryInstructionLength, uint64(j.InstrLen))
	}
	return true
}

// injectException delivers exception vector at the exiting instruction (a
// fault: RIP stays), with an error code if hasCode.
func (v *VM) injectException(vector uint8, code uint32, hasCode bool) {
	v.injected = true
	j := vmx.InjectException(vector, code, hasCode)
	vmx.VMWRITE(vmx.EntryInterruptionInfo, uint64(j.Info))
	if hasCode {
		vmx.VMWRITE(vmx.EntryExceptionErrorCode, uint64(j.ErrorCode))
	}
}
