package pmu

import (
	"strings"
	"testing"
)

// A typical leaf 0AH of a recent Intel core: version 5, 8 counters of 48
// bits, 8 events (EBX 0: all available).
const (
	leafAEAX = 0x08300805
	leafAEBX = 0
)

func TestDecodeArch(t *testing.T) {
	a := DecodeArch(leafAEAX, leafAEBX)
	if a != (Arch{Version: 5, Counters: 8, Width: 48, Events: 8}) {
		t.Fatalf("decoded %+v", a)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestArchRefusals(t *testing.T) {
	for _, c := range []struct {
		name     string
		eax, ebx uint32
		want     string
	}{
		{"no PMU", 0, 0, "version 0"},
		{"version 1", 0x07300401, 0, "version 1"},
		{"no counters", 0x07300002, 0, "no general-purpose"},
		{"16 bits", 0x07100402, 0, "counters of 16 bits"},
		{"branch event missing", 0x07300402, 1 << 5, "branch instructions retired"},
		{"vector too short", 0x05300402, 0, "branch instructions retired"},
	} {
		err := DecodeArch(c.eax, c.ebx).Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
	if err := DecodeArch(0x07280402, 0).Check(); err != nil {
		t.Errorf("version 2, 4 counters of 40 bits: %v", err)
	}
}

// ReadArch looks at leaf 0AH only if CPUID has it.
func TestReadArch(t *testing.T) {
	asked := false
	_, err := ReadArch(func(leaf, sub uint32) (uint32, uint32, uint32, uint32) {
		if leaf == 0xA {
			asked = true
		}
		return 7, 0, 0, 0
	})
	if err == nil || asked || !strings.Contains(err.Error(), "highest basic leaf is 0x7") {
		t.Errorf("a CPU without leaf 0xA: %v (leaf read: %v)", err, asked)
	}
	a, err := ReadArch(func(leaf, sub uint32) (uint32, uint32, uint32, uint32) {
		if leaf == 0 {
			return 0x16, 0, 0, 0
		}
		return leafAEAX, leafAEBX, 0, 0
	})
	if err != nil || a.Width != 48 {
		t.Errorf("ReadArch: %+v, %v", a, err)
	}
}

func TestEventSelect(t *testing.T) {
	// BR_INST_RETIRED.ALL_BRANCHES, USR, OS, EN: 0x4300C4; with INT 0x5300C4.
	if BranchesRetired != 0x4300C4 || BranchesRetired|EvtSelINT != 0x5300C4 {
		t.Errorf("event select %#x", BranchesRetired)
	}
}

// The counter overflows exactly n events after Load(n), and Delta counts
// across the overflow, for every width the branch clock accepts.
func TestCounterArithmetic(t *testing.T) {
	for _, w := range []uint8{32, 40, 48, 64} {
		c := Counter{Width: w}
		for _, n := range []uint64{1, 2, 127, 128, 129, 1000, 1 << 20, MaxPMIDistance - 1, MaxPMIDistance} {
			load := c.Load(n)
			if !c.Writable(load) {
				t.Errorf("width %d: Load(%d) = %#x cannot be written by WRMSR", w, n, load)
			}
			// n events later the counter wraps to 0: the overflow.
			if got := (load + n) & c.Mask(); got != 0 {
				t.Errorf("width %d: Load(%d) = %#x reaches %#x after %d events, not 0", w, n, load, got, n)
			}
			if (load+n-1)&c.Mask() == 0 {
				t.Errorf("width %d: Load(%d) overflows early", w, n)
			}
			// Skid past the overflow: Delta still counts every event.
			for _, skid := range []uint64{0, 1, 70, SkidMargin} {
				now := (load + n + skid) & c.Mask()
				if d := c.Delta(load, now); d != n+skid {
					t.Errorf("width %d: Delta(%#x, %#x) = %d, want %d", w, load, now, d, n+skid)
				}
			}
		}
		if c.Load(0) != 0 || c.Delta(0, 12345) != 12345 {
			t.Errorf("width %d: a counter started at 0", w)
		}
		// A start near the top of the counter wraps between entries.
		if d := c.Delta(c.Mask()-4, 5); d != 10 {
			t.Errorf("width %d: Delta across the wrap = %d, want 10", w, d)
		}
	}
	// Beyond 2^31 a legacy write cannot hold the value (wider counters).
	if c := (Counter{Width: 48}); c.Writable(c.Load(MaxPMIDistance + 1)) {
		t.Error("Load(2^31 + 1) is writable with a 32-bit sign-extended write")
	}
}

func TestFreeSlotAndDR7(t *testing.T) {
	for _, c := range []struct {
		dr7  uint64
		want int
	}{
		{0x400, 3},
		{0x400 | 1<<6, 2},           // L3
		{0x400 | 2<<6 | 1<<4, 1},    // G3, L2
		{0x400 | 0xFF, -1},          // all enabled
		{0x400 | 0x3F, 3},           // DR0-2 in use
		{0x400 | 1<<6 | 0x3<<28, 2}, // L3 with a data condition
	} {
		if got := FreeSlot(c.dr7); got != c.want {
			t.Errorf("FreeSlot(%#x) = %d, want %d", c.dr7, got, c.want)
		}
	}
	// Slot 3 enabled as an instruction breakpoint, stale R/W3 and LEN3
	// cleared, the guest's DR0 breakpoint and the reserved bit 10 kept.
	saved := uint64(0x400 | 1 | 0xF<<28)
	armed := WithBreakpoint(saved, 3)
	if armed != 0x400|1|1<<6 {
		t.Errorf("WithBreakpoint = %#x", armed)
	}
	// Taken back, with what the guest changed meanwhile (it enabled DR1).
	if got := RestoreSlot(armed|1<<2, saved, 3); got != saved|1<<2 {
		t.Errorf("RestoreSlot = %#x, want %#x", got, saved|1<<2)
	}
}

func TestOwnTrap(t *testing.T) {
	bp := Plan{Breakpoint: true, Slot: 3}
	step := Plan{TrapFlag: true}
	const guestDR0 = 0x400 | 1 // the guest uses DR0
	for _, c := range []struct {
		name string
		p    Plan
		qual uint64
		dr7  uint64
		want bool
	}{
		{"our breakpoint", bp, 1 << 3, 0x400, true},
		{"our breakpoint, a disabled one matched too", bp, 1<<3 | 1<<1, 0x400, true},
		{"our breakpoint and the guest's", bp, 1<<3 | 1, guestDR0, false},
		{"the guest's breakpoint", bp, 1, guestDR0, false},
		{"a single step while we wait at a breakpoint", bp, DR6BS, 0x400, false},
		{"our single step", step, DR6BS, 0x400, true},
		{"a debug-register access", step, DR6BS | dr6BD, 0x400, false},
		{"nothing armed", Plan{}, DR6BS, 0x400, false},
	} {
		if got := OwnTrap(c.p, c.qual, c.dr7); got != c.want {
			t.Errorf("%s: OwnTrap = %v", c.name, got)
		}
	}
}

func TestClearResumeFlag(t *testing.T) {
	p := Plan{Breakpoint: true, BreakRIP: 0x1000, ResumeFlag: true}
	for _, c := range []struct {
		name               string
		rip, rcx, rcx0, br uint64
		want               bool
	}{
		{"exit before the instruction", 0x1000, 5, 5, 0, true},
		{"REP part way: the processor keeps RF", 0x1000, 4, 5, 0, false},
		{"instruction done", 0x1004, 5, 5, 0, false},
		{"back at the RIP after a loop", 0x1000, 5, 5, 1, false},
	} {
		if got := ClearResumeFlag(p, c.rip, c.rcx, c.rcx0, c.br); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
	if ClearResumeFlag(Plan{Breakpoint: true, BreakRIP: 0x1000}, 0x1000, 5, 5, 0) {
		t.Error("RF cleared though the plan did not set it")
	}
}
