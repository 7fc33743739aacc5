package hv

import (
	"hindsight/hv/pmu"
	"hindsight/vmx"
)

// The clock: what a landmark's Count counts, so that an asynchronous
// input (a timer tick, a typed byte) can be taken wherever the guest is
// and replayed at the same instruction (shared/design/architecture.md,
// "Logical time"; hv/replay documents Count per clock).
//
//	exit    Count is always 0. Inputs reach the guest only at synchronous
//	        exits; a guest computing without exits waits for them.
//	slice   Bochs 2.7 with two CPUs runs each CPU 5 instructions at a time
//	        and moves the TSC only between those slices, by 5; the
//	        VMX-preemption timer counts at the TSC's rate (rate 0) and
//	        fires between slices. With every VM entry the last
//	        instruction of its slice (vmx.GuestRegs.Slices), a guest runs
//	        whole slices, and entry value V less the saved value S counts
//	        the slices up to the exit's: the guest ran V - S - 5
//	        instructions before that slice (the entry's own slice ends
//	        before the guest starts). Exits come at a slice's start but
//	        for one: Bochs holds a host interrupt back while the guest has
//	        IF=0 (it masks the event at entry, before it counts the CPU as
//	        in the guest) and lets it through, mid-slice, at the guest's
//	        next CLI, STI or POPF; so the exit stub also measures where in
//	        its slice the exit fell (vmx.SliceOffset), and the count adds
//	        the guest instructions that ran there. A backup stops at
//	        exactly n more instructions with V = n + 5. Proven at boot by
//	        probeSlices, refused where it fails.
//	branch  retired branches in guest mode, from a performance counter
//	        (clock_pmu.go).

// counter is a clock, one per VM (it keeps the value it armed).
type counter interface {
	// arm returns the VMX-preemption timer value for the next entry:
	// at most ticks TSC ticks of time, and, unless stop is noStop, no
	// further than guest progress stop (the progress since the landmark
	// being progress now). It may program v's VMCS and this CPU for it.
	arm(v *VM, ticks, progress, stop uint64) uint32
	// elapsed returns the guest's progress during the run that ended in
	// an asynchronous exit.
	elapsed(v *VM) uint64
	// sinceEntry returns the guest's progress from the last entry to this
	// exit, whatever the exit, without changing anything (for a
	// synchronous exit: the instructions or branches before the one that
	// exited), and false where the clock cannot tell (the exit clock).
	sinceEntry(v *VM) (uint64, bool)
	// exact reports whether elapsed is exact: then asynchronous exits
	// are landmarks, where inputs may be taken.
	exact() bool
	// aligned reports whether entries must end a Bochs CPU slice.
	aligned() bool
	// stepwise reports whether several instructions share one count, so
	// that a stop is found by stepping within its count until RIP and RCX
	// match (the branch clock); arm with stop == progress then steps one
	// instruction. Otherwise count alone places a stop, and a RIP that
	// differs there is a divergence.
	stepwise() bool
	// stopTrapped reports whether the exit elapsed has just counted was
	// the clock's own breakpoint or single step (stepper.go).
	stopTrapped() bool
	// release gives back a breakpoint or single step armed for an entry
	// that a synchronous exit ended before the stop (a backup's, right
	// after the exit: no handler or digest sees it).
	release(v *VM)
}

// ClockKind names a clock.
type ClockKind uint8

const (
	ClockExit ClockKind = iota
	ClockSlice
	ClockBranch
)

func (k ClockKind) String() string {
	return [...]string{"exit", "slice", "branch"}[k]
}

// ParseClock reads the clock= option: exit, slice, branch, or auto (the
// exact clock this machine's self-tests prove, else exit).
func ParseClock(s string) (k ClockKind, auto bool, ok bool) {
	switch s {
	case "", "auto":
		return 0, true, true
	case "exit":
		return ClockExit, false, true
	case "slice":
		return ClockSlice, false, true
	case "branch":
		return ClockBranch, false, true
	}
	return 0, false, false
}

// newCounter returns a counter of kind k for one VM; rate is the
// preemption timer's (IA32_VMX_MISC[4:0]: it counts TSC >> rate).
func newCounter(k ClockKind, rate uint8) counter {
	switch k {
	case ClockSlice:
		return &sliceCounter{stepper: stepper{regs: hostPMU{}}}
	case ClockBranch:
		return newBranchCounter(rate)
	}
	return &exitCounter{rate: rate}
}

// exitCounter counts nothing: the exit clock.
type exitCounter struct{ rate uint8 }

func (c *exitCounter) arm(_ *VM, ticks, progress, stop uint64) uint32 {
	return uint32(min(ticks>>c.rate, 0xFFFFFFFF))
}
func (c *exitCounter) elapsed(v *VM) uint64 { return 0 }
func (c *exitCounter) sinceEntry(v *VM) (uint64, bool) {
	return 0, false
}
func (c *exitCounter) exact() bool       { return false }
func (c *exitCounter) aligned() bool     { return false }
func (c *exitCounter) stepwise() bool    { return false }
func (c *exitCounter) stopTrapped() bool { return false }
func (c *exitCounter) release(v *VM)     {}

// sliceUnit is the number of instructions in one Bochs 2.7 CPU slice
// (BX_DBG_DEFAULT_ICOUNT_QUANTUM in bx_debug/dbg_main.cc).
const sliceUnit = 5

// sliceCounter is the slice clock (see above). Its timer values are whole
// slices. A stop that does not lie on the grid of its entry (the
// primary's count was shifted by a mid-slice exit, which the backup's need
// not share) is reached by the stepper: the timer stops at the last grid
// point before it, then a breakpoint at the stop's RIP (or a single step)
// takes the guest the last 1-4 instructions, the exit stub's phase
// measuring exactly where it stopped.
type sliceCounter struct {
	stepper
	armed uint64
	ready bool
}

// minSlices keeps an entry from ending before the guest ran at all.
const minSlices = 2

func (c *sliceCounter) arm(v *VM, ticks, progress, stop uint64) uint32 {
	if !c.ready {
		c.setup()
		c.ready = true
	}
	c.disarm(v, 0) // still armed if a synchronous exit ended the run
	t := max(ticks/sliceUnit, minSlices) * sliceUnit
	if stop != noStop && stop > progress {
		if n := stop - progress; n >= sliceUnit {
			t = min(t, n/sliceUnit*sliceUnit+sliceUnit)
		} else {
			c.apply(v, c.near(v, progress, stop))
			t = minSlices * sliceUnit // the breakpoint comes first, else the grid point after the stop
		}
	}
	t = min(t, 0xFFFFFFFF/sliceUnit*sliceUnit)
	c.armed = t
	return uint32(t)
}

// near plans the last instructions to a stop 1-4 ahead: a breakpoint at
// its RIP where a debug register is free (RF lets the instruction at the
// current RIP run first if that is the stop's), else RFLAGS.TF steps.
func (c *sliceCounter) near(v *VM, progress, stop uint64) pmu.Plan {
	rip, ok := stopRIP(v)
	here := c.regs.vmread(vmx.GuestRIP)
	if ok && here == rip && c.regs.vmread(vmx.EntryInterruptionInfo)&vmx.IntInfoValid == 0 &&
		c.regs.vmread(vmx.GuestRFLAGS)&pmu.RFLAGSTF == 0 {
		// Part way through a REP string instruction at the stop's RIP:
		// one iteration per step (a breakpoint would let the rest run).
		// TF is invisible to a string instruction: it pushes no flags.
		var code [15]byte
		efer := c.regs.vmread(vmx.GuestIA32EFER)
		if n := v.readGuest(here, code[:]); repString(code[:n], efer&vmx.EFERLMA != 0) {
			return pmu.Plan{TrapFlag: true}
		}
	}
	p := pmu.PlanEntry(pmu.Entry{
		Progress: progress, Stop: stop, StopRIP: rip, HaveRIP: ok, Single: pmu.SingleTrap,
		RIP:     c.regs.vmread(vmx.GuestRIP),
		Slot:    pmu.FreeSlot(c.regs.vmread(vmx.GuestDR7)),
		Inject:  c.regs.vmread(vmx.EntryInterruptionInfo)&vmx.IntInfoValid != 0,
		GuestTF: c.regs.vmread(vmx.GuestRFLAGS)&pmu.RFLAGSTF != 0,
	})
	p.PMI = 0 // no counter here: the timer bounds the run
	return p
}

func (c *sliceCounter) elapsed(v *VM) uint64 {
	s, _ := vmx.VMREAD(vmx.PreemptionTimerValue)
	extra, ok := vmx.SliceOffset(v.regs.Phase)
	if !ok || s > c.armed || c.armed-s < sliceUnit {
		v.endVM(causeClockLost, s, c.armed)
		return 0
	}
	n := c.armed - s - sliceUnit + extra
	c.checkTrap(v)
	c.disarm(v, n)
	return n
}

// sinceEntry is elapsed's count without its side effects: the exit stub
// measured where in its slice every exit fell, synchronous ones too.
func (c *sliceCounter) sinceEntry(v *VM) (uint64, bool) {
	s, _ := vmx.VMREAD(vmx.PreemptionTimerValue)
	extra, ok := vmx.SliceOffset(v.regs.Phase)
	if !ok || s > c.armed || c.armed-s < sliceUnit {
		return 0, false
	}
	return c.armed - s - sliceUnit + extra, true
}

func (c *sliceCounter) exact() bool    { return true }
func (c *sliceCounter) aligned() bool  { return true }
func (c *sliceCounter) stepwise() bool { return false }
