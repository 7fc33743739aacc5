package hv

import (
	"sync/atomic"

	"hindsight/boot"
	"hindsight/hv/dev"
	"hindsight/vmx"
)

// VM-exit handlers. They run in VM-exit context: no allocation, no pointer
// stores into the heap (see the package doc). A handler that ends the VM
// records a cause and the values that explain it; Run turns them into a
// report once the loop is left.

// cause says why a VM left the Running state.
type cause uint8

const (
	causeNone cause = iota
	causeExitPort
	causeTripleFault
	causeEPTViolation
	causeUnhandledExit
	causeUnsupportedIO
	causeEntryFailed // exit reason with bit 31: invalid guest state, MSR loading, machine check
	causeEntryInsn   // VMLAUNCH/VMRESUME failed as an instruction

	causeDivergence   // Backup: execution no longer matches the log
	causeMalformed    // Backup: a record failed validation
	causePrimaryEnded // Backup: reached the landmark where the primary's guest ended
)

func (v *VM) end(c cause, info0, info1 uint64) {
	v.cause, v.info = c, [2]uint64{info0, info1}
	if c == causeEntryFailed || c == causeEntryInsn {
		v.state = Failed
	} else {
		v.state = Stopped
	}
}

func (v *VM) handleExit() {
	r := v.regs.ExitReason
	reason := vmx.ExitReason(r)
	if reason.EntryFailed() {
		v.end(causeEntryFailed, r, v.regs.ExitQual)
		return
	}
	basic := reason.Basic()
	if int(basic) < len(v.ExitsBy) {
		v.ExitsBy[basic]++
	}
	sync := synchronous(basic)
	if sync {
		atomic.StoreUint64(&v.seq, v.seq+1)
	}
	switch basic {
	case vmx.ReasonExternalInterrupt, vmx.ReasonPreemptionTimer:
		// The host took any pending interrupt when Enter re-enabled
		// interrupts; the quantum restarts at the next entry. An event the
		// exit interrupted in delivery is delivered again.
		v.reinject()
	case vmx.ReasonExceptionOrNMI:
		// With "NMI exiting" an NMI that arrives in the guest is the
		// host's (SDM Vol. 3C §26.2, §27.1): run its handler, which parks
		// the CPU when the host is stopping; the exception bitmap is clear,
		// so any other event here is unexpected.
		info, _ := vmx.VMREAD(vmx.VMExitInterruptionInfo)
		if vmx.EventType(info>>vmx.IntInfoTypeShift&7) != vmx.EventNMI {
			v.end(causeUnhandledExit, r, v.regs.ExitQual)
			break
		}
		boot.DeliverNMI()
		// The guest never gets an NMI, so it cannot be blocking them; Bochs
		// saves "blocking by NMI" set after such an exit, which would hold
		// every later NMI off until the guest's next IRET and put host
		// state into the replicas' digests.
		intr, _ := vmx.VMREAD(vmx.GuestInterruptibility)
		vmx.VMWRITE(vmx.GuestInterruptibility, intr&^uint64(vmx.BlockingByNMI))
		v.reinject()
	case vmx.ReasonInterruptWindow:
		// afterExit injects.
	case vmx.ReasonCPUID:
		v.cpuid()
	case vmx.ReasonIOInstruction:
		v.io()
	case vmx.ReasonHLT:
		v.hlt()
	case vmx.ReasonRDTSC:
		v.rdtsc()
	case vmx.ReasonRDMSR, vmx.ReasonWRMSR:
		v.msr(basic == vmx.ReasonWRMSR)
	case vmx.ReasonPAUSE:
		// A spin-wait hint: a landmark like any synchronous exit, and the
		// moment to deliver what the guest may be spinning for.
		v.skip()
	case vmx.ReasonTripleFault:
		v.end(causeTripleFault, 0, 0)
	case vmx.ReasonEPTViolation:
		gpa, _ := vmx.VMREAD(vmx.GuestPhysicalAddress)
		v.end(causeEPTViolation, gpa, v.regs.ExitQual)
	default:
		v.end(causeUnhandledExit, r, v.regs.ExitQual)
	}
	if sync && v.state == Running {
		v.afterExit()
	}
}

// reinject re-queues an event whose delivery a VM exit interrupted (SDM
// Vol. 3C §28.2.4, IDT-vectoring information).
func (v *VM) reinject() {
	info, _ := vmx.VMREAD(vmx.IDTVectoringInfo)
	if info&uint64(vmx.IntInfoValid) == 0 {
		return
	}
	code, _ := vmx.VMREAD(vmx.IDTVectoringErrorCode)
	if j, ok := vmx.Reinject(uint32(info), uint32(code), uint32(v.regs.ExitInstrLen)); ok {
		vmx.VMWRITE(vmx.EntryInterruptionInfo, uint64(j.Info))
		vmx.VMWRITE(vmx.EntryExceptionErrorCode, uint64(j.ErrorCode))
		vmx.VMWRITE(vmx.EntryInstructionLength, uint64(j.InstrLen))
	}
}

// rip returns the guest RIP at this exit, as it was before skip moved it:
// the landmark's RIP (the exit stub read it from the VMCS).
func (v *VM) rip() uint64 { return v.regs.ExitRIP }

// skip moves the guest past the instruction that exited.
func (v *VM) skip() {
	vmx.VMWRITE(vmx.GuestRIP, v.regs.ExitRIP+v.regs.ExitInstrLen)
}

func (v *VM) cpuid() {
	if v.cfg.TimeExits {
		v.cpuidClock.tick(boot.TSC())
	}
	a, b, c, d := v.m.cpuid.lookup(uint32(v.regs.RAX), uint32(v.regs.RCX), boot.CPUID)
	v.regs.RAX, v.regs.RBX, v.regs.RCX, v.regs.RDX = uint64(a), uint64(b), uint64(c), uint64(d)
	v.skip()
}

// rdtsc returns the guest's TSC: the host's since the VM started. The
// primary logs it; the backup returns the logged value.
func (v *VM) rdtsc() {
	t := boot.TSC() - v.tsc0
	switch v.cfg.Role {
	case Primary:
		v.logRecord(kindRDTSC, 0, 0, t, 0, 0)
	case Backup:
		var ok bool
		if t, ok = v.replayValue(kindRDTSC, 0); !ok {
			return
		}
	}
	v.regs.RAX, v.regs.RDX = t&0xFFFFFFFF, t>>32
	v.skip()
}

func (v *VM) io() {
	qual := v.regs.ExitQual
	q := vmx.DecodeIO(qual)
	if q.StringOp || q.Rep || q.Size == 0 {
		v.end(causeUnsupportedIO, qual, 0)
		return
	}
	if v.cfg.TimeExits && q.Port == 0x80 {
		v.outClock.tick(boot.TSC())
	}
	if !q.In && q.Port >= 0x40 && q.Port <= 0x43 {
		v.tickDeadline = 0 // the guest reprogrammed the PIT: recompute
	}
	size := int(q.Size)
	mask := uint64(1)<<(8*size) - 1
	switch {
	case q.Port == exitPort && !q.In:
		v.ExitStatus = uint32(v.regs.RAX & mask)
		v.skip()
		v.end(causeExitPort, uint64(v.ExitStatus), 0)
		return
	case q.In:
		if v.cfg.RealRTC && q.Port == dev.PortCMOSData && v.cfg.Role != Backup {
			v.pc.RTC.SetElapsed((boot.TSC() - v.tsc0) / v.tscHz)
		}
		x, fault := v.pc.In(q.Port, size)
		if fault {
			v.injectGP()
			return
		}
		if v.portFromOutside(q.Port) {
			switch v.cfg.Role {
			case Primary:
				v.logRecord(kindPortIn, q.Port, uint8(size), uint64(x), 0, 0)
			case Backup: // the model's read keeps its side effects; the value is the primary's
				y, ok := v.replayValue(kindPortIn, q.Port)
				if !ok {
					return
				}
				x = uint32(y)
			}
		}
		v.regs.RAX = v.regs.RAX&^mask | uint64(x)&mask
	default:
		if v.pc.Out(q.Port, size, uint32(v.regs.RAX&mask)) {
			v.injectGP()
			return
		}
	}
	v.skip()
}

// msr applies the stated policy for model-specific registers: none is
// modelled yet, so RDMSR and WRMSR raise #GP(0) in the guest, as for an MSR
// the processor does not have, with one log line per MSR number.
func (v *VM) msr(write bool) {
	v.MSRFaults++
	msr := uint32(v.regs.RCX)
	v.LastMSR = msr
	if v.msrLogged < uint32(len(v.msrSeen)) && !v.sawMSR(msr) {
		v.msrSeen[v.msrLogged] = msr
		v.msrLogged++
		var l logLine
		l.str("hv: ").str(v.cfg.Name)
		if write {
			l.str(": WRMSR ")
		} else {
			l.str(": RDMSR ")
		}
		l.hex(uint64(msr)).str(" at rip ").hex(v.rip()).str(": not modelled, #GP(0) injected (logged once per MSR)").write()
	}
	v.injectGP()
}

func (v *VM) sawMSR(msr uint32) bool {
	for _, m := range v.msrSeen[:v.msrLogged] {
		if m == msr {
			return true
		}
	}
	return false
}

// injectGP delivers #GP(0) at the exiting instruction (a fault: RIP stays).
func (v *VM) injectGP() {
	v.injected = true
	j := vmx.InjectException(vmx.VectorGP, 0, true)
	vmx.VMWRITE(vmx.EntryInterruptionInfo, uint64(j.Info))
	vmx.VMWRITE(vmx.EntryExceptionErrorCode, uint64(j.ErrorCode))
}
