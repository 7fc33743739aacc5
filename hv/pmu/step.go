package pmu

// Reaching a stop. The primary's asynchronous stops lie anywhere in its
// instruction stream: at (Count, RIP, RCX), Count being the retired
// branches since the last synchronous exit. Several instructions share a
// count (a basic block), and a REP string instruction runs many
// iterations at one RIP and one count (RCX tells them apart). The backup
// gets there in three phases, one plan per VM entry (PlanEntry):
//
//  1. far (more than SkidMargin branches to go): the counter overflows
//     SkidMargin branches short of the stop; its PMI, an NMI, exits while
//     the guest is still before the stop.
//  2. near: an instruction breakpoint at the stop's RIP in a debug
//     register the guest does not use, with #DB in the exception bitmap:
//     the guest runs at full speed and exits each time it is about to
//     execute that RIP; the counter, armed to overflow one branch past the
//     stop, ends the run if the guest passes the stop's count without
//     meeting the RIP (it has left the primary's path). Resuming at the
//     breakpoint's own RIP sets RFLAGS.RF, which lets that one instruction
//     execute (SDM Vol. 3B §17.3.1.1).
//  3. at the stop's count and RIP with RCX still different (a REP
//     instruction part way), or without a free debug register: single
//     steps, one instruction or REP iteration per entry, by the monitor
//     trap flag where it works (SDM Vol. 3C, "Monitor Trap Flag": it
//     exits after each REP iteration), else by RFLAGS.TF with #DB
//     intercepted (a single-step trap after each instruction or iteration,
//     SDM Vol. 3B §17.3.1.4).
//
// The replayer decides after every exit whether the stop is reached (RIP
// and RCX match at the count), lies further on, or was passed (the count
// went beyond it: a divergence).

// Single is how the backup executes exactly one instruction.
type Single uint8

const (
	SingleMTF  Single = iota + 1 // the monitor trap flag (invisible to the guest)
	SingleTrap                   // RFLAGS.TF and #DB exiting (a PUSHF or an event delivery would see TF)
)

func (s Single) String() string {
	switch s {
	case SingleMTF:
		return "monitor trap flag"
	case SingleTrap:
		return "RFLAGS.TF single steps"
	}
	return "none"
}

// NoStop: no stop ahead of the guest (hv's noStop).
const NoStop = ^uint64(0)

// Entry is what PlanEntry needs to know before a VM entry.
type Entry struct {
	Progress uint64 // retired branches since the landmark
	Stop     uint64 // the progress to stop at, or NoStop
	RIP      uint64 // the guest's RIP now
	StopRIP  uint64 // the stop's RIP, if HaveRIP
	HaveRIP  bool
	Single   Single
	Slot     int  // a debug register the guest leaves free (FreeSlot), or -1
	Inject   bool // an event is injected at this entry
	GuestTF  bool // the guest's own RFLAGS.TF is set
}

// Near reports whether a stop is within the skid margin: then PlanEntry
// needs the guest fields of Entry (RIP, Slot, Inject, GuestTF).
func Near(progress, stop uint64) bool {
	return stop != NoStop && stop >= progress && stop-progress <= SkidMargin
}

// Plan is how one VM entry is armed.
type Plan struct {
	PMI        uint64 // overflow (and PMI) after this many branches; 0: none
	MTF        bool   // exit after one instruction
	TrapFlag   bool   // single-step trap after one instruction
	Breakpoint bool   // instruction breakpoint at BreakRIP in debug register Slot
	BreakRIP   uint64
	Slot       int
	ResumeFlag bool // set RFLAGS.RF: execute the instruction at BreakRIP once
}

// Traps reports whether the plan intercepts #DB.
func (p Plan) Traps() bool { return p.TrapFlag || p.Breakpoint }

// PlanEntry decides how the next entry is armed (see the top of this file).
func PlanEntry(e Entry) Plan {
	if e.Stop == NoStop || e.Stop < e.Progress {
		// Nothing ahead (or the stop was passed: the replayer has seen it).
		return Plan{}
	}
	left := e.Stop - e.Progress
	if left > SkidMargin {
		return Plan{PMI: min(left-SkidMargin, MaxPMIDistance)}
	}
	atStop := e.HaveRIP && e.RIP == e.StopRIP
	if e.HaveRIP && e.Slot >= 0 && !(atStop && left == 0) {
		return Plan{PMI: left + 1, Breakpoint: true, BreakRIP: e.StopRIP, Slot: e.Slot, ResumeFlag: atStop && !e.Inject}
	}
	switch {
	case e.Single == SingleMTF:
		return Plan{MTF: true}
	case e.Single == SingleTrap && !e.Inject && !e.GuestTF:
		return Plan{TrapFlag: true}
	}
	// No way to step here (an event is delivered first, or the guest
	// single-steps itself): run; if the guest passes the stop's count the
	// replayer sees it.
	return Plan{PMI: left + 1}
}

// Debug registers (SDM Vol. 3B §17.2): DR7's enable bits and the
// condition fields of breakpoint i, and the DR6 bits that a #DB exit
// reports in its exit qualification (SDM Vol. 3C, "Exit Qualification
// for Debug Exceptions": B0-B3, BD, BS).
const (
	dr7Enables = 3       // L_i | G_i, shifted by 2i
	dr7Cond    = 0xF     // R/W_i and LEN_i, shifted by 16+4i; 0: instruction breakpoint
	DR6BS      = 1 << 14 // single step
	dr6BD      = 1 << 13
	dr6B       = 0xF // B0-B3

	RFLAGSTF = 1 << 8
	RFLAGSRF = 1 << 16
)

// FreeSlot returns the highest debug register whose breakpoint the
// guest's DR7 leaves disabled, or -1.
func FreeSlot(dr7 uint64) int {
	for i := 3; i >= 0; i-- {
		if dr7>>(2*i)&dr7Enables == 0 {
			return i
		}
	}
	return -1
}

// WithBreakpoint returns DR7 with an instruction breakpoint enabled in
// slot (L_slot, R/W and LEN 0), the guest's other breakpoints kept.
func WithBreakpoint(dr7 uint64, slot int) uint64 {
	dr7 &^= dr7Cond << (16 + 4*slot)
	return dr7 | 1<<(2*slot)
}

// RestoreSlot takes the breakpoint of WithBreakpoint back: slot's enable
// and condition bits as they were in saved, the rest of DR7 as it is now
// (the guest may have written it meanwhile).
func RestoreSlot(dr7, saved uint64, slot int) uint64 {
	m := uint64(dr7Enables)<<(2*slot) | uint64(dr7Cond)<<(16+4*slot)
	return dr7&^m | saved&m
}

// OwnTrap reports whether a #DB exit with this exit qualification is the
// stop the plan armed: its breakpoint or its single step, and nothing of
// the guest's own (a breakpoint the guest's DR7 enables, a debug-register
// access, a single step of its own). B0-B3 may also be set for
// breakpoints that are not enabled (SDM Vol. 3B §17.2.3): those are not
// the guest's.
func OwnTrap(p Plan, qual, guestDR7 uint64) bool {
	mine := uint64(0)
	if p.Breakpoint {
		mine |= 1 << p.Slot
	}
	if p.TrapFlag {
		mine |= DR6BS
	}
	theirs := uint64(dr6BD | DR6BS)
	for i := 0; i < 4; i++ {
		if guestDR7>>(2*i)&dr7Enables != 0 {
			theirs |= 1 << i
		}
	}
	return qual&mine != 0 && qual&theirs&^mine == 0
}

// ClearResumeFlag reports whether the RFLAGS.RF the plan set must be
// taken back at the exit: the guest has not executed the instruction at
// the breakpoint yet (same RIP, RCX and count), so RF would still be set
// when it does, and would show in an event frame it pushes. Once the
// instruction completed the processor cleared RF itself; part way through
// a REP instruction it keeps RF set, as it would without hindsight.
func ClearResumeFlag(p Plan, rip, rcx, rcxAtEntry, branches uint64) bool {
	return p.ResumeFlag && rip == p.BreakRIP && rcx == rcxAtEntry && branches == 0
}
