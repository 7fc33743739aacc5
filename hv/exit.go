package hv

import (
	"hindsight/boot"
	"hindsight/hv/dev"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// VM-exit handlers. They run in VM-exit context: no allocation, no pointer
// stores into the heap (see the package doc). A handler that ends the VM
// records a cause and the values that explain it (endVM); report turns
// them into words once the loop is left.

// cause says why a VM left the Running state.
type cause uint8

const (
	causeNone cause = iota
	causeExitPort
	causeTripleFault
	causeHalted
	causeEPTViolation
	causeUnhandledExit
	causeUnsupportedIO
	causeEntryFailed // exit reason with bit 31: invalid guest state, MSR loading, machine check
	causeEntryInsn   // VMLAUNCH/VMRESUME failed as an instruction
	causeSetup       // the VM could not be set up on its CPU
	causeClockLost   // the slice clock found no slices at an exit
	causeStopped     // the host asked it to stop
	causePanic       // its console printed "Kernel panic - not syncing" (Config.PanicEnds)

	causeDivergence   // Backup: execution no longer matches the log
	causeMalformed    // Backup: a record failed validation
	causeLogEnded     // Backup: the log ended without an end record
	causePrimaryEnded // Backup: reached the landmark where the primary's guest ended
)

// endCause is the log's name for how a guest ended (the END record).
func (c cause) endCause() replay.EndCause {
	switch c {
	case causeExitPort:
		return replay.EndExitPort
	case causeTripleFault:
		return replay.EndTripleFault
	case causeHalted:
		return replay.EndHalted
	case causeEPTViolation, causeUnhandledExit, causeUnsupportedIO:
		return replay.EndUnhandled
	case causeEntryFailed, causeEntryInsn, causeSetup, causeClockLost:
		return replay.EndEntryFailed
	case causePanic:
		return replay.EndPanic
	}
	return replay.EndStopped
}

type endInfo struct {
	cause  cause
	info   [2]uint64 // the values that explain it
	status uint32    // written by the guest to exitPort
	state  State     // Stopped or Failed
	report EndReport
}

// endVM ends the VM at this exit.
func (v *VM) endVM(c cause, info0, info1 uint64) {
	v.end.cause, v.end.info = c, [2]uint64{info0, info1}
	v.end.state = Stopped
	if c == causeEntryFailed || c == causeEntryInsn || c == causeSetup || c == causeClockLost {
		v.end.state = Failed
	}
}

// handleExit dispatches one VM exit. Synchronous exits (those a guest
// instruction causes) are landmarks: seq counts them and the guest's
// progress restarts at 0. Asynchronous ones (the preemption timer, an
// external interrupt, an NMI) add the guest's progress since the entry;
// where the clock counts it exactly they are landmarks too, at which the
// inputs may act.
func (v *VM) handleExit() {
	r := v.regs.ExitReason
	reason := vmx.ExitReason(r)
	if reason.EntryFailed() {
		v.lastSync = false
		v.endVM(causeEntryFailed, r, v.regs.ExitQual)
		return
	}
	basic := reason.Basic()
	if int(basic) < len(v.stats.ExitsBy) {
		v.stats.ExitsBy[basic]++
	}

	if !synchronous(basic) {
		v.lastSync = false
		v.asyncExit(basic)
		return
	}
	v.before = v.count
	if v.exact { // the exit clock counts nothing: spare it the call
		since, _ := v.clock.sinceEntry(v)
		v.before += since
	}
	v.total += v.before
	v.lastSync = true
	v.seq++
	v.count = 0
	v.published.seq.Store(v.seq)
	switch basic {
	case vmx.ReasonInterruptWindow:
		// landmark only: afterExit injects.
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
	case vmx.ReasonCRAccess:
		v.crAccess()
	case vmx.ReasonRDRAND, vmx.ReasonRDSEED, vmx.ReasonXSETBV, vmx.ReasonGETSEC, vmx.ReasonMONITOR, vmx.ReasonMWAIT,
		vmx.ReasonVMCALL, vmx.ReasonVMCLEAR, vmx.ReasonVMLAUNCH, vmx.ReasonVMPTRLD, vmx.ReasonVMPTRST,
		vmx.ReasonVMREAD, vmx.ReasonVMRESUME, vmx.ReasonVMWRITE, vmx.ReasonVMXOFF, vmx.ReasonVMXON,
		vmx.ReasonINVEPT, vmx.ReasonINVVPID, vmx.ReasonVMFUNC:
		// Features CPUID hides (RDRAND, RDSEED, XSAVE, SMX, MONITOR/MWAIT,
		// VMX): #UD, as on a processor without them; nothing to log.
		v.injectException(vmx.VectorUD, 0, false)
	case vmx.ReasonINVD:
		// Caches are coherent here: nothing to invalidate.
		v.skip()
	case vmx.ReasonRDPMC:
		// No performance counters are exposed (CPUID leaf 0xA is hidden):
		// every counter index is invalid, #GP(0) (SDM Vol. 2B, RDPMC).
		v.injectException(vmx.VectorGP, 0, true)
	case vmx.ReasonPAUSE:
		// A spin-wait hint: a landmark like any synchronous exit, and the
		// moment to deliver what the guest may be spinning for.
		v.skip()
	case vmx.ReasonTripleFault:
		v.endVM(causeTripleFault, 0, 0)
	case vmx.ReasonEPTViolation:
		gpa, _ := vmx.VMREAD(vmx.GuestPhysicalAddress)
		v.endVM(causeEPTViolation, gpa, v.regs.ExitQual)
	default:
		v.endVM(causeUnhandledExit, r, v.regs.ExitQual)
	}
	if v.end.cause == causeNone {
		v.atLandmark()
	}
}

// synchronous reports whether an exit reason is one a guest instruction
// causes, the same on both replicas.
func synchronous(r vmx.BasicExitReason) bool {
	switch r {
	case vmx.ReasonExternalInterrupt, vmx.ReasonPreemptionTimer, vmx.ReasonExceptionOrNMI,
		vmx.ReasonMonitorTrapFlag: // set only by a clock: its single step
		return false
	}
	return true
}

// asyncExit handles an exit the guest did not cause.
func (v *VM) asyncExit(basic vmx.BasicExitReason) {
	v.rearm = true
	ran := v.clock.elapsed(v)
	v.count += ran
	if v.end.cause != causeNone {
		return
	}
	if v.clockTrapped() {
		v.stats.Steps++
	}
	if basic == vmx.ReasonExceptionOrNMI && !v.ownTrap() {
		// With "NMI exiting" an NMI that arrives in the guest is the
		// host's (SDM Vol. 3C §26.2, §27.1), and so is a branch clock's
		// PMI: run the host's handler, which parks the CPU when the host
		// is stopping. The exception bitmap holds only what the clock's
		// and the debugger's breakpoints and single steps intercept, and
		// ownTrap knows those exits (the guest's own debug conditions
		// among them are reflected to it); any other event here is
		// unexpected.
		info, _ := vmx.VMREAD(vmx.VMExitInterruptionInfo)
		if vmx.EventType(info>>vmx.IntInfoTypeShift&7) != vmx.EventNMI {
			v.endVM(causeUnhandledExit, v.regs.ExitReason, v.regs.ExitQual)
			return
		}
		boot.DeliverNMI()
		// The guest never gets an NMI, so it cannot be blocking them; Bochs
		// saves "blocking by NMI" set after such an exit, which would hold
		// every later NMI off until the guest's next IRET and put host
		// state into the replicas' digests.
		intr, _ := vmx.VMREAD(vmx.GuestInterruptibility)
		vmx.VMWRITE(vmx.GuestInterruptibility, intr&^uint64(vmx.BlockingByNMI))
	}
	// The host took any pending interrupt when Enter re-enabled
	// interrupts. An event the exit interrupted in delivery is delivered
	// again, and then nothing else may be injected at this entry.
	if v.reinject() {
		return
	}
	v.reflect()
	// An exit before the guest ran an instruction (a host interrupt at
	// the entry, such as the one that brings a stop request) is no new
	// position on a clock that counts instructions: an event injected at
	// that entry has moved RIP to its handler at the same count, a stop
	// the backup could not tell from the one before. Inputs and a
	// requested stop wait for the next exit (a stepwise clock tells such
	// stops apart by RIP and steps to them).
	if v.exact && ran == 0 && !v.clock.stepwise() {
		return
	}
	if v.stopRequest.Load() {
		v.endVM(causeStopped, 0, 0)
		return
	}
	if v.count != 0 && v.exact {
		v.atLandmark()
	}
}

// atLandmark runs after the handler of every landmark: the inputs due
// here are applied (the primary's from the outside world, the backup's
// from the log), then the same injection logic runs on both sides, and the
// inputs learn its outcome. At an asynchronous exit that is not one of
// the primary's stops (the backup's own: its host's interrupts and
// quantum) nothing is injected: the primary injected nothing there.
func (v *VM) atLandmark() {
	if v.stopRequest.Load() {
		v.endVM(causeStopped, 0, 0)
		return
	}
	outcome := false
	if v.count != 0 || !v.inputsQuiet || v.seq >= v.pollSeq {
		outcome = v.in.poll(v)
	}
	if v.end.cause != causeNone || v.count != 0 && !v.in.stop(v) {
		return
	}
	delivered := uint64(replay.NoVector)
	if v.injectable() {
		delivered = v.inject()
	}
	if outcome || delivered != replay.NoVector {
		v.in.outcome(v, delivered)
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
	a, b, c, d := v.m.cpuid.lookup(uint32(v.regs.RAX), uint32(v.regs.RCX))
	v.regs.RAX, v.regs.RBX, v.regs.RCX, v.regs.RDX = uint64(a), uint64(b), uint64(c), uint64(d)
	v.skip()
}

// rdtsc returns the guest's TSC, which the inputs give: the host's since
// the VM started, logged by a primary, from the log on a backup.
func (v *VM) rdtsc() {
	if v.cfg.TimeExits {
		v.rdtscClock.tick(boot.TSC())
	}
	t, ok := v.in.tsc(v)
	if !ok {
		return
	}
	v.regs.RAX, v.regs.RDX = t&0xFFFFFFFF, t>>32
	v.skip()
}

// I/O exit qualification bits (SDM Vol. 3C Table 28-5), read here rather
// than through vmx.DecodeIO: its six-field struct is built in memory, a
// fifth of the handler's instructions on every port access.
const (
	ioSizeMask = 7      // access size - 1: 0, 1 or 3
	ioIn       = 1 << 3 // IN, not OUT
	ioString   = 1 << 4 // INS/OUTS
	ioRep      = 1 << 5 // REP prefix
)

func (v *VM) io() {
	qual := v.regs.ExitQual
	size := int(qual&ioSizeMask) + 1
	if qual&(ioString|ioRep) != 0 || size != 1 && size != 2 && size != 4 {
		v.endVM(causeUnsupportedIO, qual, 0)
		return
	}
	in, port := qual&ioIn != 0, uint16(qual>>16)
	if v.cfg.TimeExits && port == 0x80 {
		v.outClock.tick(boot.TSC())
	}
	mask := uint64(1)<<(8*size) - 1
	if port == exitPort && !in {
		v.end.status = uint32(v.regs.RAX & mask)
		v.skip()
		v.endVM(causeExitPort, uint64(v.end.status), 0)
		return
	}
	timed := v.pc.Timed(port)
	if timed {
		// The device's state follows time: bring it to now first (the
		// device time is an input, logged by a primary).
		now, ok := v.in.deviceTime(v)
		if !ok {
			return
		}
		v.advance(now)
	}
	var fault bool
	if in {
		var x uint32
		x, fault = v.pc.In(port, size)
		v.regs.RAX = v.regs.RAX&^mask | uint64(x)&mask
	} else {
		fault = v.pc.Out(port, size, uint32(v.regs.RAX&mask))
		if port&^7 == dev.PortCOM1 {
			v.drainOutput()
		}
	}
	if timed {
		v.devicesMoved() // the next device interrupt may have moved
	}
	if v.pc.Bus.HasUnclaimed() {
		v.logUnclaimed()
	}
	if fault {
		v.injectException(vmx.VectorGP, 0, true)
		return
	}
	v.skip()
	if v.out.panicked && v.cfg.PanicEnds {
		v.endVM(causePanic, 0, 0)
	}
}

// advance moves the devices to device time now (an input).
func (v *VM) advance(now uint64) {
	v.pc.Advance(now)
	v.devicesMoved()
	v.stats.Clock++
}

// devicesMoved notes a change of time-dependent device state: the next
// device interrupt may have moved, so the inputs poll at the next landmark.
func (v *VM) devicesMoved() {
	v.devicesChanged++
	v.inputsQuiet = false
}

// receive gives the guest's COM1 a byte (an input).
func (v *VM) receive(b byte) {
	v.pc.Receive(b)
	v.stats.SerialIn++
}

// drainOutput passes what the guest transmitted on COM1 to its console.
func (v *VM) drainOutput() {
	var buf [16]byte
	for {
		n := v.pc.TakeOutput(buf[:])
		if n == 0 {
			return
		}
		for _, b := range buf[:n] {
			v.out.putByte(b)
		}
		if v.out.seen && v.stats.MarkedAt == 0 {
			v.stats.MarkedAt = v.seq
			v.stats.MarkedGuest = boot.ThreadTSC() - v.started - v.stats.Cost.Hypervisor
		}
	}
}

// logUnclaimed reports the first access to each port no device claims.
func (v *VM) logUnclaimed() {
	for {
		a, ok := v.pc.TakeUnclaimed()
		if !ok {
			return
		}
		var l logLine
		l.str("hv: ").str(v.cfg.Name)
		if a.Write {
			l.str(": write to unmodelled port ")
		} else {
			l.str(": read from unmodelled port ")
		}
		l.hex(uint64(a.Port)).str(" (size ").dec(uint64(a.Size)).str(", value ").hex(uint64(a.Value)).str(") at rip ").hex(v.rip())
		l.str(": ignored, reads give all ones (logged once per port)").write()
	}
}

// hlt: with interrupts enabled the guest waits for its next interrupt,
// which the inputs provide: the primary waits for the outside world, the
// backup finds the primary's input in the log at this same landmark.
// Either way the HLT is then complete: RIP moves past it, and blocking by
// STI (STI; HLT) ends with it, so atLandmark can inject. With interrupts
// disabled nothing can wake the guest (it gets no NMIs: those are the
// host's): the VM has ended, as a real CPU stays halted.
func (v *VM) hlt() {
	rflags, _ := vmx.VMREAD(vmx.GuestRFLAGS)
	v.skip()
	if rflags&rflagsIF == 0 {
		v.endVM(causeHalted, 0, 0)
		return
	}
	intr, _ := vmx.VMREAD(vmx.GuestInterruptibility)
	vmx.VMWRITE(vmx.GuestInterruptibility, intr&^uint64(vmx.BlockingBySTI|vmx.BlockingByMOVSS))
	v.in.halt(v)
}

// traceExit logs an exit once handled (trace=exits): the landmark it made
// or passed, the reason, the RIP.
func (v *VM) traceExit() {
	var l logLine
	l.str("hv: ").str(v.cfg.Name).str(": exit #").dec(v.seq).str("+").dec(v.count).str(" reason ").dec(uint64(vmx.ExitReason(v.regs.ExitReason).Basic())).str(" rip ").hex(v.rip())
	l.str(" rcx ").hex(v.regs.RCX).write()
}
