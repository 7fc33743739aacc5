package replay

import "strconv"

// FinalState is the primary's state where its guest ended, logged as
// FinalRecords KindFinal records before the END record, so that a backup
// brought to the same point (hv's debugger, "monitor failure") can be
// compared with it register by register, and so that a saved log says
// where its primary ended without replaying it.
//
// Words 0-17 are the registers in gdb's amd64 order, then the control
// registers as the guest sees them (CR0 and CR4 through their read
// shadows); the rest place the end on the clock:
//
//	Before   the position just before the end: the landmark (Seq, Count)
//	         from which the instruction that ended the guest was the next
//	         to execute. For an end at a synchronous exit #N that is
//	         (N-1, the guest's progress from exit N-1 to the exit); for a
//	         VM entry that failed, the landmark where it was attempted.
//	Total    the guest's progress from its start to Before, on the clock's
//	         counter (instructions on the slice clock, branches on the
//	         branch clock).
//	Exact    1 if the clock counts progress exactly (Before.Count and Total
//	         are meaningful), 0 on the exit clock: Before is then the last
//	         landmark before the end, and Total is 0.
type FinalState [finalWords]uint64

// Indices of FinalState's words.
const (
	FinalRAX = iota
	FinalRBX
	FinalRCX
	FinalRDX
	FinalRSI
	FinalRDI
	FinalRBP
	FinalRSP
	FinalR8
	FinalR9
	FinalR10
	FinalR11
	FinalR12
	FinalR13
	FinalR14
	FinalR15
	FinalRIP
	FinalRFLAGS
	FinalCR0
	FinalCR2
	FinalCR3
	FinalCR4
	FinalEFER
	FinalBeforeSeq
	FinalBeforeCount
	FinalTotal
	FinalExact
	finalPad // keeps the count of words even

	finalWords = finalPad + 1

	// FinalRegisters is the number of register words (0 to FinalEFER).
	FinalRegisters = FinalEFER + 1
	// FinalRecords is the number of KindFinal records of a FinalState.
	FinalRecords = finalWords / 2
)

var finalNames = [finalWords]string{
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	"rip", "rflags", "cr0", "cr2", "cr3", "cr4", "efer",
	"before.seq", "before.count", "total", "exact", "pad",
}

// FinalName returns the name of FinalState word i ("rax", "before.seq"),
// or "word(i)" for an index out of range.
func FinalName(i int) string {
	if i >= 0 && i < finalWords {
		return finalNames[i]
	}
	return "word(" + strconv.Itoa(i) + ")"
}

// Record returns KindFinal record i (0 to FinalRecords-1) of s at the
// landmark at. Does not allocate.
func (s *FinalState) Record(i int, at Landmark) Record {
	return Record{Kind: KindFinal, Seq: at.Seq, Count: at.Count, RIP: at.RIP,
		Value: uint64(i), Value2: s[2*i], Value3: s[2*i+1]}
}

// Apply stores a KindFinal record's words in s and reports whether r is
// one (a valid record's index is in range).
func (s *FinalState) Apply(r *Record) bool {
	if r.Kind != KindFinal || r.Value >= FinalRecords {
		return false
	}
	s[2*r.Value], s[2*r.Value+1] = r.Value2, r.Value3
	return true
}

// Before returns the position just before the end (see FinalState).
func (s *FinalState) Before() Landmark {
	return Landmark{Seq: s[FinalBeforeSeq], Count: s[FinalBeforeCount], RIP: s[FinalRIP]}
}
