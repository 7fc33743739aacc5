package hv

import (
	"math/bits"
	"sync/atomic"

	"hindsight/boot"
	"hindsight/hv/dev"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// The exit clock (see shared/design/architecture.md). Asynchronous inputs,
// timer ticks and serial bytes, reach the guest only at synchronous VM
// exits: the exits a guest instruction causes (CPUID, port I/O, HLT,
// RDTSC, MSR access, interrupt window), counted by seq. A landmark is
// (seq, RIP). After the handler of every synchronous exit, afterExit
// applies the inputs due at this landmark (the primary from the outside
// world, the backup from the log), then the same injection logic runs on
// both sides: if the guest's PIC has an interrupt and the guest can take
// it, it is injected now; if not, interrupt-window exiting makes the
// instruction boundary where it can take it another synchronous exit.
// The primary's input records carry the outcome (the interrupt requested
// and the one delivered), and the backup checks its own against it, so a
// wrong input is reported at its landmark. Asynchronous exits (external
// interrupt, NMI, preemption timer) are invisible to the guest and do not
// count.

// Role is what a VM is to the log.
type Role uint8

const (
	Solo    Role = iota // nothing is logged or replayed
	Primary             // its inputs come from the outside world and are logged
	Backup              // its inputs come from the primary's log
)

const (
	rflagsIF = 1 << 9

	serialPollNs = 1_000_000 // how often the primary looks for host console input
)

// portFromOutside reports whether a read of port depends on the outside
// world, so that the primary logs its value: the PIT's counters and system
// control port B (PIT channel 2 output) follow real time, and so do the
// clock registers of a real-time CMOS clock.
func (v *VM) portFromOutside(port uint16) bool {
	return port >= 0x40 && port <= 0x42 || port == 0x61 ||
		v.cfg.RealRTC && port == dev.PortCMOSData && v.pc.RTC.ClockSelected()
}

// synchronous reports whether an exit reason is a landmark.
func synchronous(r vmx.BasicExitReason) bool {
	switch r {
	case vmx.ReasonCPUID, vmx.ReasonIOInstruction, vmx.ReasonHLT, vmx.ReasonRDTSC,
		vmx.ReasonRDMSR, vmx.ReasonWRMSR, vmx.ReasonInterruptWindow, vmx.ReasonPAUSE:
		return true
	}
	return false
}

// pitNow is the primary's device time at host TSC tsc: PIT input-clock
// ticks since the VM started.
func (v *VM) pitNow(tsc uint64) uint64 {
	hi, lo := bits.Mul64(tsc-v.tsc0, dev.PITHz)
	q, _ := bits.Div64(hi%v.tscHz, lo, v.tscHz)
	return q
}

// afterExit runs after the handler of every synchronous exit.
func (v *VM) afterExit() {
	switch v.cfg.Role {
	case Backup:
		v.replayEvents()
	default:
		v.pollEvents()
		if v.cfg.Role == Primary && v.seq-v.lastLogged >= progressEvery {
			v.logRecord(kindProgress, 0, 0, v.cfg.Log.now(), 0, 0)
		}
	}
	if v.cfg.VerifyEvery != 0 && v.seq%v.cfg.VerifyEvery == 0 && v.state == Running {
		v.verify()
	}
	delivered := v.inject()
	switch {
	case v.nstaged > 0: // Primary: input records wait for the injection
		v.flushLog(delivered)
	case v.checkInjection && v.state == Running: // Backup: input records were replayed
		v.checkInjected(v.requested(delivered), delivered)
	}
}

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

// pollEvents applies the outside world's inputs that are due: a timer tick
// if the PIT's counter 0 wrapped since the last look, and a byte typed on
// the host console. The primary logs each at this landmark.
func (v *VM) pollEvents() {
	if v.tickDeadline == ^uint64(0) && !v.cfg.Input {
		return // the PIT is not programmed and no input is wanted
	}
	t := boot.TSC()
	if t >= v.tickDeadline {
		now := v.pitNow(t)
		if v.pc.PIT.Advance(now) > 0 {
			v.raiseIRQ(0)
		}
		v.tickDeadline = ^uint64(0)
		if d := v.pc.PIT.NextIRQ(now); d != dev.NoIRQ {
			hi, lo := bits.Mul64(d, v.tscHz)
			q, _ := bits.Div64(hi%dev.PITHz, lo, dev.PITHz)
			v.tickDeadline = v.tsc0 + q
		}
	}
	if !v.cfg.Input {
		return
	}
	if t >= v.nextPoll {
		v.nextPoll = t + v.tscHz*serialPollNs/1e9
		if !v.inPending {
			v.inByte, v.inPending = boot.ConsoleRead()
		}
	}
	if v.inPending && v.pc.UART.CanReceive() {
		v.inPending = false
		v.serialIn(v.inByte)
	}
}

// raiseIRQ pulses a PIC input (edge-triggered, as the timer is).
func (v *VM) raiseIRQ(line uint8) {
	v.logEvent(kindIRQ, uint64(line))
	v.pc.PIC.PulseIRQ(int(line))
	v.IRQs++
}

func (v *VM) serialIn(b byte) {
	v.logEvent(kindSerialIn, uint64(b))
	v.pc.Receive(b)
	v.SerialIn++
}

// inject gives the guest the PIC's highest-priority interrupt if it can
// take one now, else asks for an exit at the first instruction boundary
// where it can (SDM Vol. 3C §27.3.2.5 blocking; §26.7.5 interrupt window).
// It returns the code of the vector delivered, or NoVector.
func (v *VM) inject() uint64 {
	if v.injected {
		v.injected = false
		return replay.NoVector // an exception is being injected at this entry already
	}
	irr, _, imr := v.pc.PIC.Registers()
	if irr&^imr == 0 {
		v.setIRQWindow(false) // no unmasked request: the common case
		return replay.NoVector
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
	v.Injected++
	v.setIRQWindow(false)
	return replay.VectorCode(vec)
}

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

// hlt: with interrupts enabled the guest waits for the next interrupt. The
// primary polls the outside world until an input arrives; the backup finds
// the primary's input in the log at this same landmark. Either way the HLT
// is then complete: RIP moves past it, and blocking by STI (STI; HLT) ends
// with it, so afterExit can inject the interrupt. With interrupts disabled
// nothing could wake the guest; the test guest's contract has the
// hypervisor resume it at the next instruction instead.
func (v *VM) hlt() {
	rflags, _ := vmx.VMREAD(vmx.GuestRFLAGS)
	v.skip()
	if rflags&rflagsIF == 0 {
		return
	}
	intr, _ := vmx.VMREAD(vmx.GuestInterruptibility)
	vmx.VMWRITE(vmx.GuestInterruptibility, intr&^uint64(vmx.BlockingBySTI|vmx.BlockingByMOVSS))
	if v.cfg.Role == Backup {
		return
	}
	var t uint64
	if v.cfg.Account {
		t = boot.ThreadTSC()
	}
	for {
		v.pollEvents()
		if _, ok := v.pc.PIC.PendingVector(); ok {
			if v.cfg.Account {
				v.Cost.Waiting += boot.ThreadTSC() - t
			}
			return
		}
		v.Waits++
		pauseSpin()
	}
}

// pauseSpin is one step of a busy wait. It does not execute PAUSE:
// Bochs 2.7 turns every PAUSE into a real-time sleep of the emulator (a run
// of the replay test took twice as long with it), and the vCPU threads own
// their cores anyway.
func pauseSpin() {
	for i := 0; i < 64; i++ {
		spinSink.Add(1)
	}
}

// spinSink keeps the busy-wait loop from being optimized away.
var spinSink atomic.Uint64
