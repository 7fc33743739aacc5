package hv

import (
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
		return &sliceCounter{}
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
func (c *exitCounter) exact() bool          { return false }
func (c *exitCounter) aligned() bool        { return false }
func (c *exitCounter) stepwise() bool       { return false }

// sliceUnit is the number of instructions in one Bochs 2.7 CPU slice
// (BX_DBG_DEFAULT_ICOUNT_QUANTUM in bx_debug/dbg_main.cc).
const sliceUnit = 5

// sliceCounter is the slice clock (see above). Its timer values are whole
// slices, so the saved values are too.
type sliceCounter struct{ armed uint64 }

// minSlices keeps an entry from ending before the guest ran at all.
const minSlices = 2

func (c *sliceCounter) arm(_ *VM, ticks, progress, stop uint64) uint32 {
	v := max(ticks/sliceUnit, minSlices) * sliceUnit
	if stop != noStop {
		v = min(v, stop-progress+sliceUnit)
	}
	v = min(v, 0xFFFFFFFF/sliceUnit*sliceUnit)
	c.armed = v
	return uint32(v)
}

func (c *sliceCounter) elapsed(v *VM) uint64 {
	s, _ := vmx.VMREAD(vmx.PreemptionTimerValue)
	extra, ok := vmx.SliceOffset(v.regs.Phase)
	if !ok || s > c.armed || c.armed-s < sliceUnit {
		v.endVM(causeClockLost, s, c.armed)
		return 0
	}
	return c.armed - s - sliceUnit + extra
}

func (c *sliceCounter) exact() bool    { return true }
func (c *sliceCounter) aligned() bool  { return true }
func (c *sliceCounter) stepwise() bool { return false }
