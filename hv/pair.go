package hv

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"hindsight/boot"
	"hindsight/guest/image"
	"hindsight/hv/gdb"
	"hindsight/hv/pmu"
	"hindsight/hv/replay"
)

// A Pair is a primary guest and its lagging backup on two CPUs, joined by
// a log: the primary records its inputs, the backup replays them at the
// same landmarks and checks that it is where the primary was. The Pair
// owns the rules that join them (the memory split, the shared time base,
// the log's size against the lag, the clock both must run), their
// lifecycle, and the verdict.

// PairConfig is what a pair runs and how.
type PairConfig struct {
	Memory                boot.GuestRegion // all guest memory: the primary gets the first half, the backup the second
	PrimaryCPU, BackupCPU int
	Guest                 image.Spec    // the guest: both replicas load it the same
	Lag                   time.Duration // the backup stays this far behind...
	LagRecords            uint64        // ...or this many records (then Lag is 0)
	Ring                  int           // log capacity in records (power of two); 0: twice the lag, at least 65536
	Verify                uint64        // the primary logs a digest every so many landmarks (0: at the end only)
	Clock                 ClockKind     // used unless AutoClock
	AutoClock             bool          // the exact clock the self-test proves here, else the exit clock
	RTCBase               int64         // the guests' CMOS clock at device time 0 (Unix seconds)
	Console               bool          // the host console's input goes to the primary
	Corrupt               Corruption    // test hook: a wrong record in the log
	Account               bool          // measure where the vCPUs' time goes (benchmarks)
	TimeExits             bool          // time the exits of the exit benchmark (VM.ExitCost)
	MutePrimary           bool          // hash the primary's output instead of printing it
	Trace                 [2]uint64     // log the exits of both in this range of landmarks (trace=exits:FROM-TO)
	Mark                  string        // note where the guests' output first contains this (benchmarks)
	Debug                 DebugConfig   // how the backup is debugged (debug.go); Debug.Wait is set from GDB
	GDB                   io.ReadWriter // the line a gdb stub serves for the backup (COM2), or nil
	GDBTrace              io.Writer     // the stub's packet trace (gdbtrace), or nil
	Snapshots             SnapConfig    // the backup's snapshots (snapshot.go)
	Capture               io.Writer     // where the backup writes capture files (capture=com3), or nil
}

// SnapConfig says how a backup takes snapshots.
type SnapConfig struct {
	Off     bool
	Every   time.Duration // between snapshots; 0: DefaultSnapEvery
	Pool    uint64        // bytes of undo pages; 0: half the guest's RAM
	History int           // log records kept for them; 0: DefaultHistory
}

// DefaultSnapEvery spaces snapshots as rr spaces its checkpoints.
const DefaultSnapEvery = 500 * time.Millisecond

// DefaultHistory is the log records a backup keeps for its snapshots
// (8 MiB: a minute of the test guest's records, four of Linux's boot).
const DefaultHistory = 1 << 17

// DefaultRing is the smallest log a pair gets unless told otherwise.
const DefaultRing = 1 << 16

// Pair is a primary and its backup (see the top of this file).
type Pair struct {
	cfg             PairConfig
	m               *Machine
	Primary, Backup *VM
	Log             *replay.Log
	rec             *recorder
	rep             *replayer
	fail            failureBox
	console         *consoleMux
	Clock           ClockKind
	ClockWhy        string // why this clock runs, for the console
	Probes          [2]ClockProbe
	SnapWhy         string // the backup's snapshots, or why it takes none, for the console
}

// NewPair checks the configuration, proves the clock on both CPUs, and
// makes the two VMs and their log.
func (m *Machine) NewPair(cfg PairConfig) (*Pair, error) {
	if n := boot.NumCPU(); cfg.PrimaryCPU == cfg.BackupCPU || cfg.PrimaryCPU >= n || cfg.BackupCPU >= n || cfg.PrimaryCPU < 0 || cfg.BackupCPU < 0 {
		return nil, fmt.Errorf("hv: the primary and the backup need two different CPUs of the %d online (asked for CPU%d and CPU%d)",
			n, cfg.PrimaryCPU, cfg.BackupCPU)
	}
	half := cfg.Memory.Size / 2 &^ (2<<20 - 1)
	if half == 0 {
		return nil, fmt.Errorf("hv: no guest memory (boot with guestmem=SIZE: the pair splits it in two)")
	}
	ramP := boot.GuestRegion{Base: cfg.Memory.Base, Size: half}
	ramB := boot.GuestRegion{Base: cfg.Memory.Base + half, Size: half}
	p := &Pair{cfg: cfg, m: m}
	if err := p.chooseClock(ramP, ramB); err != nil {
		return nil, err
	}
	ring := cfg.Ring
	if ring == 0 {
		ring = DefaultRing
		for uint64(ring) < 2*cfg.LagRecords {
			ring *= 2
		}
	}
	if ringSize(ring) == 0 {
		return nil, fmt.Errorf("hv: a log of %d records: the capacity must be a power of two", ring)
	}
	mem, err := physRegion(ringSize(ring))
	if err != nil {
		return nil, err
	}
	if p.Log, err = replay.NewLog(mem, ring, replay.Lag{Ns: uint64(cfg.Lag.Nanoseconds()), Records: cfg.LagRecords}); err != nil {
		return nil, fmt.Errorf("hv: %w", err)
	}
	p.rec = newRecorder(p.Log, newWorld(cfg.Console), cfg.Verify, cfg.Corrupt)
	p.rec.fail = &p.fail
	if cfg.Console {
		p.console = newConsoleMux(p)
		p.rec.src = p.console
	}
	p.rep = newReplayer(p.Log)
	if p.Primary, err = m.NewVM(Config{Name: "primary", CPU: cfg.PrimaryCPU, RAM: ramP, Guest: cfg.Guest,
		RTCBase: cfg.RTCBase, Mute: cfg.MutePrimary, Account: cfg.Account, Trace: cfg.Trace, Mark: cfg.Mark,
		Inputs: p.rec, Clock: p.Clock, PanicEnds: true, TimeExits: cfg.TimeExits}); err != nil {
		return nil, err
	}
	if p.Backup, err = m.NewVM(Config{Name: "backup", CPU: cfg.BackupCPU, RAM: ramB, Guest: cfg.Guest,
		RTCBase: cfg.RTCBase, Mute: true, Account: cfg.Account, Trace: cfg.Trace, Mark: cfg.Mark,
		Inputs: p.rep, Clock: p.Clock, TimeExits: cfg.TimeExits}); err != nil {
		return nil, err
	}
	dc := cfg.Debug
	dc.Wait = cfg.GDB != nil
	if dc.Start && !dc.Wait {
		return nil, errors.New("hv: debug=start stops the backup for a debugger, and none can attach: boot with gdb=com2 too")
	}
	p.SnapWhy = p.Backup.enableSnapshots(cfg.Snapshots)
	d := newDebugger(dc, &p.fail)
	d.capture = cfg.Capture
	d.rep = p.rep
	p.Backup.dbg = d
	p.fail.notify = append(p.fail.notify, &d.attention)
	return p, nil
}

// chooseClock runs the clock self-test on both CPUs at once (as they
// will run) and picks the clock.
func (p *Pair) chooseClock(ramP, ramB boot.GuestRegion) error {
	var wg sync.WaitGroup
	for i, c := range [2]struct {
		cpu int
		ram boot.GuestRegion
	}{{p.cfg.PrimaryCPU, ramP}, {p.cfg.BackupCPU, ramB}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Probes[i] = p.m.ProbeClock(c.cpu, c.ram)
		}()
	}
	wg.Wait()
	sliceErr := p.Probes[0].Slices
	if sliceErr == nil {
		sliceErr = p.Probes[1].Slices
	}
	branchErr := p.branchVerdict()
	switch {
	case branchErr == nil && (p.cfg.AutoClock || p.cfg.Clock == ClockBranch):
		p.Clock = ClockBranch
		branchStep = p.Probes[0].Single
		p.ClockWhy = fmt.Sprintf("retired branches in guest mode, self-test passed on CPU%d and CPU%d (%d guest runs counted exactly; "+
			"PMI skid at most %d branches, margin %d; breakpoints and %v to the stop)",
			p.cfg.PrimaryCPU, p.cfg.BackupCPU, p.Probes[0].BranchRuns+p.Probes[1].BranchRuns,
			max(p.Probes[0].Skid, p.Probes[1].Skid), pmu.SkidMargin, branchStep)
	case p.cfg.AutoClock && sliceErr == nil:
		p.Clock = ClockSlice
		p.ClockWhy = fmt.Sprintf("Bochs 5-instruction slices, self-test passed on CPU%d and CPU%d (%d guest runs counted exactly, %d ended by host interrupts); branch clock refused: %v",
			p.cfg.PrimaryCPU, p.cfg.BackupCPU, p.Probes[0].Trials+p.Probes[1].Trials, p.Probes[0].Async+p.Probes[1].Async, branchErr)
	case p.cfg.AutoClock:
		p.Clock = ClockExit
		p.ClockWhy = fmt.Sprintf("no exact counter here (branch clock: %v; slice clock: %v); inputs wait for synchronous exits", branchErr, sliceErr)
	case p.cfg.Clock == ClockSlice && sliceErr != nil:
		return fmt.Errorf("hv: clock=slice refused: its self-test fails: %w", sliceErr)
	case p.cfg.Clock == ClockBranch:
		return fmt.Errorf("hv: clock=branch refused: its self-test fails: %w", branchErr)
	default:
		p.Clock = p.cfg.Clock
		p.ClockWhy = "chosen with clock=" + p.Clock.String()
	}
	return nil
}

// branchVerdict says why the branch clock cannot run this pair, or nil:
// its self-test must pass on both CPUs, stepping the same way. Where it
// cannot count, the verdict says whether its stepping works all the same.
func (p *Pair) branchVerdict() error {
	for _, pr := range p.Probes {
		if pr.Branches == nil {
			continue
		}
		if pr.Stepping == nil && pr.Single != 0 {
			return fmt.Errorf("CPU%d: %w (its breakpoints and %v stop exactly)", pr.CPU, pr.Branches, pr.Single)
		}
		if pr.Stepping != nil && !errors.Is(pr.Branches, pr.Stepping) {
			return fmt.Errorf("CPU%d: %w (stepping by breakpoints and %v fails too: %v)", pr.CPU, pr.Branches, pr.Single, pr.Stepping)
		}
		return fmt.Errorf("CPU%d: %w", pr.CPU, pr.Branches)
	}
	if p.Probes[0].Single != p.Probes[1].Single {
		return fmt.Errorf("CPU%d single-steps by %v, CPU%d by %v: the replicas must step alike",
			p.Probes[0].CPU, p.Probes[0].Single, p.Probes[1].CPU, p.Probes[1].Single)
	}
	return nil
}

// Run runs both VMs to their ends and returns the verdict.
func (p *Pair) Run() Verdict {
	// One time base for both, from now: the log's stamps, the lag, the
	// guests' TSC and device time.
	tsc0 := boot.TSC()
	p.rec.tsc0, p.rep.tsc0 = tsc0, tsc0
	if p.console != nil {
		stop := make(chan struct{})
		go p.console.run(stop)
		defer func() { close(stop); <-p.console.done }()
	}
	if p.cfg.GDB != nil {
		go p.serveGDB()
	}
	var wg sync.WaitGroup
	for _, vm := range []*VM{p.Primary, p.Backup} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm.Run()
		}()
	}
	wg.Wait()
	return p.verdict()
}

// serveGDB serves the backup to debuggers on the configured line for as
// long as the program runs (sessions come and go; a serial line never
// ends).
func (p *Pair) serveGDB() {
	t := p.Target()
	for {
		if err := gdb.Serve(p.cfg.GDB, t, gdb.Config{Trace: p.cfg.GDBTrace}); err != nil {
			fmt.Printf("hv: gdb: %v\n", err)
		}
		time.Sleep(100 * time.Millisecond) // the line ended or failed: serve it again, gently
	}
}

// Stop ends the recording: the primary stops at its next exit and logs
// its end there; the backup replays up to that same point and ends, and
// the verdict compares the two as at any end. Safe from any goroutine.
// (A backup a debugger holds stays parked until the debugger lets it go.)
func (p *Pair) Stop() { p.Primary.Stop() }

// PairStatus is a snapshot of a running pair for a monitor.
type PairStatus struct {
	Primary, Backup Progress
	Log             replay.Status
}

// Status returns a snapshot; safe from any goroutine.
func (p *Pair) Status() PairStatus {
	return PairStatus{Primary: p.Primary.Progress(), Backup: p.Backup.Progress(), Log: p.Log.Status(p.rec.now())}
}

// VerdictKind is the pair's result, and the image's exit status.
type VerdictKind int

const (
	VerdictIdentical VerdictKind = 0  // both replicas ran to the same end, every check matched
	VerdictDiverged  VerdictKind = 10 // the backup found itself off the primary's path
	VerdictFailed    VerdictKind = 11 // the hypervisor could not run a replica
	VerdictLost      VerdictKind = 12 // a replica stopped early: the log broke, or the backup stopped and the primary went on alone
)

func (k VerdictKind) String() string {
	switch k {
	case VerdictIdentical:
		return "IDENTICAL"
	case VerdictDiverged:
		return "DIVERGED"
	case VerdictFailed:
		return "FAILED"
	}
	return "REPLICA LOST"
}

// Verdict is the pair's result with its reason.
type Verdict struct {
	Kind   VerdictKind
	Reason string
}

func (p *Pair) verdict() Verdict {
	pe, be := p.Primary.End(), p.Backup.End()
	ps, bs := p.Primary.Stats(), p.Backup.Stats()
	ph, pn := p.Primary.OutputHash()
	bh, bn := p.Backup.OutputHash()
	switch {
	case be.Kind == EndedDiverged:
		return Verdict{VerdictDiverged, be.Reason}
	case pe.Kind == EndedFailed:
		return Verdict{VerdictFailed, "the primary failed: " + pe.Reason}
	case be.Kind == EndedFailed:
		return Verdict{VerdictFailed, "the backup failed: " + be.Reason}
	case be.Kind == EndedLost:
		return Verdict{VerdictLost, be.Reason}
	case ps.Dropped != 0 || be.Kind == EndedStopped && pe.Kind != EndedStopped:
		return Verdict{VerdictLost, fmt.Sprintf("the backup stopped at landmark %v; the primary went on alone to %v", be.At, pe.At)}
	case ph != bh || pn != bn:
		return Verdict{VerdictDiverged, fmt.Sprintf("outputs differ: primary %d bytes hash %#x, backup %d bytes hash %#x", pn, ph, bn, bh)}
	case bs.Digests != ps.Digests:
		return Verdict{VerdictLost, fmt.Sprintf("the backup checked %d of the primary's %d digests", bs.Digests, ps.Digests)}
	}
	return Verdict{VerdictIdentical, fmt.Sprintf("both replicas reached landmark %v (%s); outputs identical (%d bytes); %d/%d digests matched",
		pe.At, pe.Reason, pn, bs.Digests, ps.Digests)}
}

// Corrupted says where the test hook struck, if it did.
func (p *Pair) Corrupted() (replay.Landmark, replay.Kind, bool) {
	return p.rec.corrupted, p.rec.corruptedKind, p.rec.corruptedKind != 0
}
