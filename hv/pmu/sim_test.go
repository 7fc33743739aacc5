package pmu

import (
	"math/rand"
	"testing"
)

// A simulated guest and PMU, to test the branch clock's decisions end to
// end on the host: a primary runs a program with exits at random points
// and records every asynchronous stop (count, RIP, RCX); a backup runs
// the same program from the start and must reach each stop exactly (the
// same dynamic instruction) with the plans PlanEntry makes, applied the
// way hv applies them, and judged the way hv's replayer judges them.

type op uint8

const (
	opNop    op = iota // an instruction that is no branch
	opSetRCX           // RCX = imm
	opJmp              // jump to `to`: a branch
	opLoop             // RCX--; jump to `to` unless RCX = 0: a branch, taken or not
	opRep              // a REP string instruction: one iteration per step while RCX != 0
	opSync             // an instruction that exits to the hypervisor (CPUID): a landmark
)

type insn struct {
	op  op
	imm uint64
	to  int
}

const simBase = 0x100000

func ripOf(pc int) uint64 { return simBase + 4*uint64(pc) }

type exitKind uint8

const (
	exitTimer exitKind = iota // the preemption timer or a host interrupt
	exitPMI                   // the counter's overflow NMI
	exitMTF
	exitDB // #DB intercepted: breakpoint or single step (qualification in DR6 form)
	exitSync
)

// simCPU executes a program one step (an instruction, or one iteration
// of a REP instruction) at a time, with the architectural rules the
// branch clock relies on.
type simCPU struct {
	prog   []insn
	pc     int
	rcx    uint64
	rf, tf bool
	midRep bool   // a REP instruction is part way: its breakpoint does not fire again
	steps  uint64 // instructions and iterations executed: where the guest is, exactly

	ctr   Counter
	pmc   uint64
	intr  bool
	pmiIn int // steps until a pending PMI exits; -1: none
	skid  func() int

	mtf    bool
	bp     bool
	bpSlot int
	bpRIP  uint64
}

func newSim(prog []insn, width uint8, skid func() int) *simCPU {
	return &simCPU{prog: prog, ctr: Counter{Width: width}, pmiIn: -1, skid: skid}
}

func (s *simCPU) rip() uint64 { return ripOf(s.pc) }

func (s *simCPU) branch() {
	s.pmc = (s.pmc + 1) & s.ctr.Mask()
	if s.pmc == 0 && s.intr && s.pmiIn < 0 {
		s.pmiIn = s.skid()
	}
}

// step executes one step; it reports whether the instruction exits.
func (s *simCPU) step() (sync bool) {
	in := s.prog[s.pc]
	s.steps++
	switch in.op {
	case opNop:
		s.pc++
	case opSetRCX:
		s.rcx = in.imm
		s.pc++
	case opJmp:
		s.branch()
		s.pc = in.to
	case opLoop:
		s.rcx--
		s.branch()
		if s.rcx != 0 {
			s.pc = in.to
		} else {
			s.pc++
		}
	case opRep:
		if s.rcx != 0 {
			s.rcx--
		}
		if s.rcx != 0 {
			s.midRep = true // RF stays as it is until the instruction completes
			return false
		}
		s.midRep = false
		s.pc++
	case opSync:
		s.pc++ // the hypervisor emulates it and moves RIP past it
		sync = true
	}
	s.rf = false // cleared when an instruction completes
	return sync
}

// run enters the guest until an exit; timer counts steps.
func (s *simCPU) run(timer int) (exitKind, uint64) {
	for {
		if s.pmiIn == 0 {
			s.pmiIn = -1
			return exitPMI, 0
		}
		if timer == 0 {
			return exitTimer, 0
		}
		if s.bp && s.rip() == s.bpRIP && !s.rf && !s.midRep {
			return exitDB, 1 << s.bpSlot // a fault: the instruction has not executed
		}
		tf := s.tf
		sync := s.step()
		timer--
		if s.pmiIn > 0 {
			s.pmiIn--
		}
		switch {
		case sync:
			return exitSync, 0
		case tf:
			return exitDB, DR6BS
		case s.mtf:
			return exitMTF, 0
		}
	}
}

// arm applies a plan as hv's branch counter does, and returns the
// counter's value at entry.
func (s *simCPU) arm(p Plan) uint64 {
	s.pmc = s.ctr.Load(p.PMI)
	s.intr = p.PMI != 0
	s.mtf, s.tf = p.MTF, p.TrapFlag
	s.bp, s.bpSlot, s.bpRIP = p.Breakpoint, p.Slot, p.BreakRIP
	if p.ResumeFlag {
		s.rf = true
	}
	return s.pmc
}

func (s *simCPU) disarm() { s.mtf, s.tf, s.bp, s.intr = false, false, false, false }

type stopAt struct {
	seq, count, rip, rcx uint64
	steps                uint64 // the ground truth: the primary's position
}

// record runs the primary: the counter counts from 0 at every entry, and
// every asynchronous exit with a count is a stop.
func record(prog []insn, width uint8, n int, timer func() int) []stopAt {
	s := newSim(prog, width, func() int { return 0 })
	var stops []stopAt
	var seq, count uint64
	for len(stops) < n {
		load := s.arm(PlanEntry(Entry{Stop: NoStop}))
		e, _ := s.run(timer())
		count += s.ctr.Delta(load, s.pmc)
		if e == exitSync {
			seq, count = seq+1, 0
			continue
		}
		if count != 0 {
			stops = append(stops, stopAt{seq, count, s.rip(), s.rcx, s.steps})
		}
	}
	return stops
}

type replayStats struct {
	exits, pmis, breakpoints, steps int
	overshot                        int // stops the backup passed: the replayer's divergence
}

type replayConfig struct {
	width  uint8
	single Single
	slot   int
	skid   func() int
	timer  func() int // the backup's own exits (host interrupts, its quantum)
}

// replay runs the backup to every stop in turn.
func replay(t *testing.T, prog []insn, stops []stopAt, c replayConfig) replayStats {
	t.Helper()
	s := newSim(prog, c.width, c.skid)
	var st replayStats
	var seq, count uint64
	for i, want := range stops {
		for n := 0; ; n++ {
			if n > 1_000_000 {
				t.Fatalf("stop %d %+v: not reached after %d exits (at seq %d count %d rip %#x rcx %d)", i, want, n, seq, count, s.rip(), s.rcx)
			}
			// What the replayer's place decides.
			if seq > want.seq || seq == want.seq && count > want.count {
				st.overshot++
				return st
			}
			if seq == want.seq && count == want.count && s.rip() == want.rip && s.rcx == want.rcx {
				if s.steps != want.steps {
					t.Fatalf("stop %d %+v: reached after %d steps, the primary was there after %d", i, want, s.steps, want.steps)
				}
				break
			}
			stop := uint64(NoStop)
			if seq == want.seq {
				stop = want.count
			}
			p := PlanEntry(Entry{Progress: count, Stop: stop, RIP: s.rip(), StopRIP: want.rip, HaveRIP: true,
				Single: c.single, Slot: c.slot})
			rcx0 := s.rcx
			load := s.arm(p)
			e, qual := s.run(c.timer())
			st.exits++
			d := s.ctr.Delta(load, s.pmc)
			count += d
			switch e {
			case exitPMI:
				st.pmis++
			case exitDB:
				if !OwnTrap(p, qual, 0x400) {
					t.Fatalf("stop %d: a #DB (qualification %#x) that the plan %+v did not arm", i, qual, p)
				}
				if qual&DR6BS != 0 {
					st.steps++
				} else {
					st.breakpoints++
				}
			case exitMTF:
				st.steps++
			case exitSync:
				seq, count = seq+1, 0
			}
			if ClearResumeFlag(p, s.rip(), s.rcx, rcx0, d) {
				s.rf = false
			}
			s.disarm()
		}
	}
	return st
}

// testProgram is a random program of counted loops, REP instructions,
// straight-line blocks and (if syncs) synchronous exits.
func testProgram(r *rand.Rand, syncs bool) []insn {
	var p []insn
	for len(p) < 400 {
		switch r.Intn(4) {
		case 0: // a counted loop around a block
			p = append(p, insn{op: opSetRCX, imm: uint64(1 + r.Intn(60))})
			body := len(p)
			for i := r.Intn(12); i >= 0; i-- {
				p = append(p, insn{op: opNop})
			}
			p = append(p, insn{op: opLoop, to: body})
		case 1:
			p = append(p, insn{op: opSetRCX, imm: uint64(r.Intn(300))}, insn{op: opRep})
		case 2: // a long block: several stops share its count
			for i := r.Intn(30); i >= 0; i-- {
				p = append(p, insn{op: opNop})
			}
			p = append(p, insn{op: opJmp, to: len(p) + 1})
		case 3:
			if syncs && r.Intn(4) == 0 {
				p = append(p, insn{op: opSync})
			}
		}
	}
	return append(p, insn{op: opJmp, to: 0})
}

func uniform(r *rand.Rand, lo, hi int) func() int { return func() int { return lo + r.Intn(hi-lo+1) } }

// The backup reaches every stop of the primary exactly, near and far, in
// REP instructions and between them, several stops per count, with every
// stepping method, while its own exits come at random.
func TestReplayReachesEveryStop(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, prog := range []struct {
		name  string
		prog  []insn
		timer func() int
	}{
		{"near stops, synchronous exits", testProgram(r, true), uniform(r, 1, 40)},
		{"far stops", testProgram(r, false), uniform(r, 1, 20000)},
		{"mixed", testProgram(r, true), func() int {
			if r.Intn(3) == 0 {
				return 1 + r.Intn(5000)
			}
			return 1 + r.Intn(8)
		}},
	} {
		for _, width := range []uint8{32, 48} {
			stops := record(prog.prog, width, 300, prog.timer)
			shared, inREP := 0, 0
			for i := 1; i < len(stops); i++ {
				if stops[i].seq == stops[i-1].seq && stops[i].count == stops[i-1].count {
					shared++
				}
				if prog.prog[(stops[i].rip-simBase)/4].op == opRep && stops[i].rcx != 0 {
					inREP++
				}
			}
			if shared == 0 || inREP == 0 {
				t.Fatalf("%s: the recording has %d stops sharing a count and %d inside REP instructions: not the case under test", prog.name, shared, inREP)
			}
			for _, c := range []struct {
				name   string
				single Single
				slot   int
			}{
				{"breakpoint + MTF", SingleMTF, 3},
				{"breakpoint + TF", SingleTrap, 3},
				{"MTF only", SingleMTF, -1},
				{"TF only", SingleTrap, -1},
			} {
				st := replay(t, prog.prog, stops, replayConfig{width: width, single: c.single, slot: c.slot,
					skid: uniform(r, 0, SkidMargin-1), timer: uniform(r, 1, 3000)})
				if st.overshot != 0 {
					t.Fatalf("%s, width %d, %s: the backup passed a stop", prog.name, width, c.name)
				}
				t.Logf("%s, width %d, %s: %d stops (%d sharing a count, %d in REP): %d exits, %d PMIs, %d breakpoint hits, %d single steps",
					prog.name, width, c.name, len(stops), shared, inREP, st.exits, st.pmis, st.breakpoints, st.steps)
				if prog.name == "far stops" && st.pmis == 0 {
					t.Errorf("%s: no stop was approached by the counter's overflow", prog.name)
				}
			}
		}
	}
}

// Breakpoints cost far fewer exits than stepping through the margin.
func TestBreakpointsAreCheaperThanSteps(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	prog := testProgram(r, false)
	stops := record(prog, 48, 200, uniform(r, 200, 20000))
	cfg := replayConfig{width: 48, single: SingleMTF, skid: uniform(r, 0, SkidMargin-1), timer: func() int { return 1 << 30 }}
	cfg.slot = 3
	bp := replay(t, prog, stops, cfg)
	cfg.slot = -1
	steps := replay(t, prog, stops, cfg)
	t.Logf("%d stops: %d exits with breakpoints, %d with MTF steps only", len(stops), bp.exits, steps.exits)
	if bp.exits*4 > steps.exits {
		t.Errorf("breakpoints took %d exits, MTF steps %d", bp.exits, steps.exits)
	}
}

// A PMI whose skid exceeds the margin lets the guest pass the stop: the
// count at the exit is beyond it, and the replayer reports that rather
// than stopping at a wrong place.
func TestSkidBeyondMarginIsCaught(t *testing.T) {
	// Branches only: every step of skid is a branch.
	prog := make([]insn, 64)
	for i := range prog {
		prog[i] = insn{op: opJmp, to: (i + 1) % len(prog)}
	}
	r := rand.New(rand.NewSource(7))
	stops := record(prog, 48, 20, uniform(r, 5000, 9000))
	st := replay(t, prog, stops, replayConfig{width: 48, single: SingleMTF, slot: 3,
		skid: func() int { return SkidMargin + 10 }, timer: func() int { return 1 << 30 }})
	if st.overshot == 0 {
		t.Fatal("a skid beyond the margin went unnoticed")
	}
	// The same with a skid within the margin: every stop reached.
	st = replay(t, prog, stops, replayConfig{width: 48, single: SingleMTF, slot: 3,
		skid: func() int { return SkidMargin - 1 }, timer: func() int { return 1 << 30 }})
	if st.overshot != 0 {
		t.Fatal("a skid of SkidMargin-1 branches passed a stop")
	}
}

// A stop in a REP instruction is reached iteration by iteration: the
// breakpoint fires before the first iteration only, then single steps.
func TestREPStop(t *testing.T) {
	prog := []insn{
		{op: opSetRCX, imm: 1000}, {op: opJmp, to: 2}, // count 1 from here
		{op: opRep}, {op: opJmp, to: 0},
	}
	stops := []stopAt{{seq: 0, count: 1, rip: ripOf(2), rcx: 990, steps: 2 + 10}}
	for _, single := range []Single{SingleMTF, SingleTrap} {
		st := replay(t, prog, stops, replayConfig{width: 48, single: single, slot: 3,
			skid: func() int { return 0 }, timer: func() int { return 1 << 30 }})
		if st.overshot != 0 || st.breakpoints != 1 || st.steps != 10 {
			t.Errorf("%v: %+v; want 1 breakpoint hit and 10 single steps", single, st)
		}
	}
}
