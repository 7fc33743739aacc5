package hv

import (
	"fmt"
	"sync/atomic"

	"hindsight/hv/replay"
	"hindsight/vmx"
)

// A primary's failure (replay.EndCause.Failure: a triple fault, a
// non-zero exit status, a kernel panic on its console, an unhandled exit,
// a failed VM entry) is what its backup exists for: the backup, still
// before the failure, stops and waits for a debugger (debug.go). The
// primary publishes the failure the moment its vCPU loop ends, before it
// writes the last records of its log, so the backup learns it at its next
// exit rather than when it reaches the END record, which may lie the whole
// lag ahead.

// Failure is how the primary's guest failed.
type Failure struct {
	Cause  replay.EndCause
	Status uint32
	At     replay.Landmark   // where it ended: the END record's landmark
	State  replay.FinalState // its registers and the position just before the failure
	Reason string            // one line: what failed
}

// Before is the position just before the failure: the instruction that
// failed is the next one the guest executes there (replay.FinalState).
func (f *Failure) Before() replay.Landmark { return f.State.Before() }

// Exact reports whether Before is exact (a clock that counts), rather than
// the last landmark before the failure (the exit clock).
func (f *Failure) Exact() bool { return f.State[replay.FinalExact] != 0 }

// failureBox passes a primary's failure to its backup.
type failureBox struct {
	f      atomic.Pointer[Failure]
	notify []*atomic.Bool // set when the failure is published
}

func (b *failureBox) publish(f *Failure) {
	b.f.Store(f)
	for _, n := range b.notify {
		n.Store(true)
	}
}

func (b *failureBox) load() *Failure {
	if b == nil {
		return nil
	}
	return b.f.Load()
}

// finalState reads the guest's state where the VM ended (the VMCS is
// current; call it once the loop is left, before the state changes). RIP
// is the landmark's: at an exit that ended the guest, the instruction that
// exited, even if the handler moved past it.
func (v *VM) finalState() replay.FinalState {
	var s replay.FinalState
	r := &v.regs
	copy(s[:replay.FinalRSP], []uint64{r.RAX, r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP})
	copy(s[replay.FinalR8:replay.FinalRIP], []uint64{r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15})
	s[replay.FinalRSP] = v.hw().vmread(vmx.GuestRSP)
	s[replay.FinalRFLAGS] = v.hw().vmread(vmx.GuestRFLAGS)
	s[replay.FinalRFLAGS] &^= rflagsRF
	cr := v.controlRegs()
	s[replay.FinalCR0], s[replay.FinalCR2], s[replay.FinalCR3], s[replay.FinalCR4], s[replay.FinalEFER] = cr.cr0, r.CR2, cr.cr3, cr.cr4, cr.efer
	if v.lastSync {
		// The guest ended at a synchronous exit: the instruction that
		// exited is the next after the guest's progress from the
		// landmark before.
		s[replay.FinalRIP] = v.rip()
		s[replay.FinalBeforeSeq], s[replay.FinalBeforeCount] = v.seq-1, v.before
		s[replay.FinalTotal] = v.total
	} else {
		// At an entry (it failed) or an asynchronous exit: here.
		s[replay.FinalRIP] = v.hw().vmread(vmx.GuestRIP)
		s[replay.FinalBeforeSeq], s[replay.FinalBeforeCount] = v.seq, v.count
		s[replay.FinalTotal] = v.total + v.count
	}
	if v.clock.exact() {
		s[replay.FinalExact] = 1
	} else {
		s[replay.FinalBeforeCount], s[replay.FinalTotal] = 0, 0
	}
	return s
}

// ctlRegs are the control registers as the guest sees them.
type ctlRegs struct{ cr0, cr3, cr4, efer uint64 }

// controlRegs reads CR0 and CR4 through their read shadows for the bits
// the hypervisor owns (the guest/host masks), CR3 and EFER.
func (v *VM) controlRegs() ctlRegs {
	var c ctlRegs
	cr0 := v.hw().vmread(vmx.GuestCR0)
	sh0 := v.hw().vmread(vmx.CR0ReadShadow)
	cr4 := v.hw().vmread(vmx.GuestCR4)
	sh4 := v.hw().vmread(vmx.CR4ReadShadow)
	m0, m4 := crMasks(&v.m.Caps)
	c.cr0, c.cr4 = cr0&^m0|sh0&m0, cr4&^m4|sh4&m4
	c.cr3 = v.hw().vmread(vmx.GuestCR3)
	c.efer = v.hw().vmread(vmx.GuestIA32EFER)
	return c
}

// failureReason is one line for a failure: the end cause and what
// explains it.
func (v *VM) failureReason() string {
	switch v.end.cause {
	case causeExitPort:
		return fmt.Sprintf("the guest wrote exit status %d to port %#x", v.end.status, exitPort)
	case causeTripleFault:
		return "triple fault"
	case causePanic:
		return fmt.Sprintf("kernel panic: %q", v.out.panicText())
	case causeEPTViolation:
		return fmt.Sprintf("EPT violation at guest-physical %#x (outside its RAM)", v.end.info[0])
	case causeUnhandledExit:
		return fmt.Sprintf("unhandled VM exit: %v", vmx.ExitReason(v.end.info[0]))
	case causeUnsupportedIO:
		return fmt.Sprintf("unsupported port I/O (%v)", vmx.DecodeIO(v.end.info[0]))
	}
	return v.end.cause.endCause().String()
}
