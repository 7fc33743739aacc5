package hv

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"hindsight/boot"
	"hindsight/hv/gdb"
	"hindsight/hv/pmu"
	"hindsight/hv/replay"
	"hindsight/hv/step"
	"hindsight/vmx"
)

// The backup's debugger: what lets gdb (debug_target.go) and the console
// monitor (monitor.go) stop the backup, look at it, and walk it forward
// into the failure its primary already met, while it keeps replaying the
// primary's log exactly.
//
// # The hand-off between a frontend and the vCPU thread
//
// The backup's state lives in its VMCS, which is current only on the
// vCPU's own thread, and the vCPU thread must not block or allocate in
// VM-exit context. So the vCPU thread stops only at a boundary: in its
// loop, after an exit was handled and before the next entry is armed
// (VM.loop calls boundary when the attention flag is set), or while it
// waits for the log there (replayer.await), or once its VM has ended.
// There it parks: it publishes why it stopped (a gdb.StopEvent) and serves work
// that frontends send it (a func run on the vCPU thread, which reads the
// VMCS, guest memory, the log), until a piece of work resumes it with a
// run mode: continue, step, run to a position, or run freely. A frontend
// asks a running backup to stop with requestStop (an atomic flag the
// vCPU looks at every boundary) and waits for the next parking. Frontends
// take d.front for each exchange, so the gdb stub and the console monitor
// never interleave theirs; the vCPU thread takes d.mu only to publish its
// state.
//
// # What a run mode arms for an entry
//
//	step       one instruction or event through the VM's tfStep (invisible
//	           to the guest, tfstep.go); the clock plans no stop meanwhile
//	continue   the breakpoints and watchpoints, each in a debug register
//	           the guest's DR7 (and the clock's stepper) leave free, for
//	           the entry only (armBreaks, disarmBreaks); the stop just
//	           before the primary's failure, where it is known
//	run to     a position (Seq, Count): the clock's stop is the nearer of
//	           the log's next record and it (limit, stopRIP)
//
// Everything armed is given back right after the exit, before the exit is
// handled, so no handler, digest or log record sees it. Continuing from a
// breakpoint's own address first steps the instruction there.

// OnFail is what the backup does when its primary fails.
type OnFail uint8

const (
	// OnFailDebug: stop where it stands, still before the failure, and
	// wait for a debugger (with one configured, DebugConfig.Wait; without,
	// as OnFailReplay: it cannot wait for one that cannot come).
	OnFailDebug OnFail = iota
	// OnFailReplay: replay to just before the failure and stop there (wait
	// for a debugger if one is configured, else compare its registers with
	// the primary's final ones on the console and go on to the end).
	OnFailReplay
	// OnFailFollow: follow the primary into its end as at any other end.
	OnFailFollow
)

// ParseOnFail reads the onfail= option.
func ParseOnFail(s string) (OnFail, bool) {
	switch s {
	case "", "debug":
		return OnFailDebug, true
	case "replay":
		return OnFailReplay, true
	case "follow":
		return OnFailFollow, true
	}
	return 0, false
}

func (o OnFail) String() string {
	return [...]string{"debug", "replay", "follow"}[o]
}

// DebugConfig says how a pair's backup is debugged.
type DebugConfig struct {
	OnFail OnFail
	// Wait: a debugger can attach (a gdb stub serves a line): the backup
	// waits for it where it stops (debug=start, a failure with
	// OnFailDebug or OnFailReplay). Without a line nothing waits: a run
	// whose primary fails still ends.
	Wait bool
	// Start stops the backup before its first instruction (debug=start);
	// it needs Wait.
	Start bool
	// Attach says how to attach, for the console ("target remote
	// localhost:1234").
	Attach string
}

type runMode uint8

const (
	runFree    runMode = iota // replay on: stop only when asked, or at a primary's failure
	runCont                   // stop at a breakpoint, a watchpoint, or just before the primary's failure
	runStep                   // stop after one instruction or event
	runTo                     // stop at d.target
	runCollect                // run to d.target, noting the last breakpoint or watchpoint hit (reverse continue)
)

// breakpoint is one of the debugger's breakpoints or watchpoints.
type breakpoint struct {
	kind         gdb.BreakKind
	addr, length uint64
}

func (b breakpoint) access() step.Access {
	switch b.kind {
	case gdb.WatchWrite:
		return step.Write
	case gdb.WatchRead, gdb.WatchAccess:
		return step.ReadWrite
	}
	return step.Exec
}

// stopEvent is the stop of a hit of b.
func (b breakpoint) stopEvent() gdb.StopEvent {
	switch b.kind {
	case gdb.BreakSoftware:
		return gdb.StopEvent{Reason: gdb.StopBreakpoint}
	case gdb.BreakHardware:
		return gdb.StopEvent{Reason: gdb.StopHWBreakpoint}
	}
	return gdb.StopEvent{Reason: gdb.StopWatch, Watch: b.kind, Addr: b.addr}
}

// maxBreaks: four debug registers, the guest's first.
const maxBreaks = 4

// debugger is a backup's (see the top of this file).
type debugger struct {
	cfg     DebugConfig
	fail    *failureBox
	capture io.Writer // where capture files go (capture=com3), or nil

	attention atomic.Bool // the vCPU loop looks at the debugger at its next boundary
	stopReq   atomic.Bool // a frontend asks the backup to stop

	front sync.Mutex // one frontend exchange at a time

	mu       sync.Mutex // the vCPU's published state:
	parked   bool
	ended    bool          // parked for good: the VM ended
	stop     gdb.StopEvent // why it is parked
	epoch    uint64        // parkings so far
	changed  chan struct{} // closed (and replaced) at every change of the above
	sessions int           // gdb sessions attached
	where    string        // the position at the last parking, for a status line

	work chan debugWork // served by a parked vCPU

	// The vCPU thread's own.
	started    bool
	mode       runMode
	target     replay.Landmark // runTo, and runCont's stop before the failure
	haveTarget bool
	targetWhy  string
	failure    *Failure // the primary's, once seen
	breaks     [maxBreaks]breakpoint
	nbreaks    int
	stepOver   bool // continue: step the instruction at a breakpoint's own address first
	// ignoreBreaks: this run arms no breakpoint or watchpoint (resumeHow).
	ignoreBreaks bool
	stepFrom     struct{ seq, progress uint64 }
	stepping     bool // this entry is a step
	// Armed breakpoints for the entry: which slot holds which breakpoint,
	// the slots' previous contents, DR7 and the exception bitmap before.
	armed struct {
		on         bool
		slots      uint8
		of         [4]int
		dr         [4]uint64
		dr7, excep uint64
	}
	hit   breakpoint // the breakpoint or watchpoint the last exit hit (pointer-free: set in the vCPU loop)
	hitOn bool
	// runCollect's finding: the last hit, where it stopped the guest.
	collected struct {
		pt point
		bp breakpoint
		on bool
	}
	trapped bool // the last exit was a #DB of the armed breakpoints
	// byFrontend: the run was a frontend's (not onfail's): it stops at
	// its target whatever the configuration.
	byFrontend bool
	rep        *replayer
	threadTSC  func() uint64 // the vCPU thread's own time (boot.ThreadTSC; tests fake it)
	// What runs between parkings cost the vCPU thread (boot.ThreadTSC:
	// in Bochs, instructions): the run under way, and the sums.
	run struct {
		tsc, progress, exits uint64
		steps                bool
	}
	stats struct {
		steps, stepTSC, stepExits                      uint64
		runs, runTSC, runGuest, runExits               uint64
		bpRuns, bpTSC, bpGuest, bpExits, bpArmed, hits uint64
		reverse, reverseRuns, reverseSteps             uint64
		replayed                                       [64]uint64 // guest progress replayed by the last reverse commands, a ring
		nreplayed                                      int
	}
}

type debugWork struct {
	fn     func(v *VM)
	resume bool // leave the parking after fn
	done   chan struct{}
}

func newDebugger(cfg DebugConfig, fail *failureBox) *debugger {
	d := &debugger{cfg: cfg, fail: fail, changed: make(chan struct{}), work: make(chan debugWork), threadTSC: boot.ThreadTSC}
	d.attention.Store(true) // the first boundary looks (debug=start)
	return d
}

// publish changes the published state under d.mu and wakes its watchers.
func (d *debugger) publish(f func()) {
	d.mu.Lock()
	f()
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// requestStop asks a running backup to stop at its next boundary.
func (d *debugger) requestStop() {
	d.stopReq.Store(true)
	d.attention.Store(true)
}

// state returns the published state and the channel closed at its next
// change.
func (d *debugger) state() (parked, ended bool, ev gdb.StopEvent, epoch uint64, changed <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.parked, d.ended, d.stop, d.epoch, d.changed
}

// errRunning: the backup is not parked.
var errRunning = fmt.Errorf("the backup is running: stop it first (Ctrl-C in gdb, \"pause\" on the console)")

// do runs fn on the parked vCPU thread. The caller holds d.front.
func (d *debugger) do(fn func(v *VM)) error {
	if parked, _, _, _, _ := d.state(); !parked {
		return errRunning
	}
	w := debugWork{fn: fn, done: make(chan struct{})}
	d.work <- w
	<-w.done
	return nil
}

// Do runs fn on the parked vCPU thread, for a frontend.
func (d *debugger) Do(fn func(v *VM)) error {
	d.front.Lock()
	defer d.front.Unlock()
	return d.do(fn)
}

// Stop stops the backup (if it runs) and returns why it is parked; it
// waits for the parking, or returns false once done is closed first.
func (d *debugger) Stop(done <-chan struct{}) (gdb.StopEvent, bool) {
	d.front.Lock()
	defer d.front.Unlock()
	return d.stopLocked(done)
}

func (d *debugger) stopLocked(done <-chan struct{}) (gdb.StopEvent, bool) {
	for {
		parked, _, ev, _, changed := d.state()
		if parked {
			return ev, true
		}
		d.requestStop()
		select {
		case <-changed:
		case <-done:
			return gdb.StopEvent{}, false
		}
	}
}

// resumeHow is what a frontend resumes the backup for.
type resumeHow struct {
	mode   runMode
	target replay.Landmark // runTo
	why    string          // runTo: what the target is, for the stop's message
	// ignoreBreaks: a run to a position that breakpoints and watchpoints
	// do not stop (reverse execution's runs from a snapshot).
	ignoreBreaks bool
}

// Resume resumes a parked backup as how says and waits for it to park
// again; when cancel is closed first it asks it to stop and still waits
// for that parking (a Ctrl-C). An ended backup returns its end at once.
func (d *debugger) Resume(how resumeHow, cancel <-chan struct{}) gdb.StopEvent {
	d.front.Lock()
	parked, ended, ev, epoch, _ := d.state()
	if ended || !parked {
		d.front.Unlock()
		if ended {
			return ev
		}
		ev, _ = d.Stop(nil)
		return ev
	}
	d.do(func(v *VM) { d.setMode(v, how) })
	w := debugWork{fn: func(*VM) {}, resume: true, done: make(chan struct{})}
	d.work <- w
	<-w.done
	d.front.Unlock()
	for {
		parked, _, ev, e, changed := d.state()
		if parked && e != epoch {
			return ev
		}
		select {
		case <-changed:
		case <-cancel:
			d.requestStop()
			cancel = nil
		}
	}
}

// setMode prepares a run (vCPU thread, parked).
func (d *debugger) setMode(v *VM, how resumeHow) {
	d.mode, d.haveTarget, d.targetWhy = how.mode, false, ""
	d.stepOver, d.ignoreBreaks = false, how.ignoreBreaks
	switch how.mode {
	case runTo:
		d.target, d.haveTarget, d.targetWhy = how.target, true, how.why
	case runCollect:
		d.target, d.haveTarget, d.targetWhy = how.target, true, how.why
		d.collected.on = false
	case runCont:
		if f := d.failure; f != nil && !d.past(v, f.Before()) && !d.at(v, f.Before()) {
			d.target, d.haveTarget, d.targetWhy = f.Before(), true, d.failureWhy()
		}
		rip := v.hw().vmread(vmx.GuestRIP)
		info := v.hw().vmread(vmx.EntryInterruptionInfo)
		for _, b := range d.breaks[:d.nbreaks] {
			if b.access() == step.Exec && b.addr == rip && info&vmx.IntInfoValid == 0 {
				d.stepOver = true // resume past it (the processor's RF would)
			}
		}
	}
	d.stepFrom.seq, d.stepFrom.progress = v.seq, v.total+v.count
	d.byFrontend = true
	d.attention.Store(true)
}

// Attach starts a gdb session: the backup stops.
func (d *debugger) Attach(done <-chan struct{}) (gdb.StopEvent, bool) {
	d.front.Lock()
	defer d.front.Unlock()
	d.publish(func() { d.sessions++ })
	return d.stopLocked(done)
}

// Detach ends a gdb session: the breakpoints go, and the backup replays
// on freely (an ended backup's Run returns).
func (d *debugger) Detach() {
	d.front.Lock()
	defer d.front.Unlock()
	d.publish(func() { d.sessions = max(d.sessions-1, 0) })
	if parked, _, _, _, _ := d.state(); !parked {
		return
	}
	d.do(func(v *VM) {
		d.nbreaks = 0
		d.mode, d.haveTarget = runFree, false
	})
	w := debugWork{fn: func(*VM) {}, resume: true, done: make(chan struct{})}
	d.work <- w
	<-w.done
}

// park publishes why the vCPU stopped and serves work until a piece of
// it resumes the run (vCPU thread, outside VM-exit context).
func (d *debugger) park(v *VM, ev gdb.StopEvent, ended bool) {
	d.stopReq.Store(false)
	d.runStats(v)
	where := v.whereLine()
	d.publish(func() { d.parked, d.ended, d.stop, d.where = true, ended, ev, where; d.epoch++ })
	if !ended {
		v.setState(Paused)
	}
	for w := range d.work {
		w.fn(v)
		close(w.done)
		if !w.resume {
			continue
		}
		if ended && d.sessionCount() > 0 {
			// A resume of a VM that ended returns its end again.
			d.publish(func() { d.epoch++ })
			continue
		}
		break
	}
	d.publish(func() { d.parked = false })
	if !ended {
		v.setState(Running)
	}
	d.run.tsc, d.run.progress, d.run.exits, d.run.steps = d.threadTSC(), v.total+v.count, v.stats.Exits, d.mode == runStep
}

// runStats adds the run that ends here to the statistics (monitor stats).
func (d *debugger) runStats(v *VM) {
	if d.run.tsc == 0 {
		return
	}
	t := d.threadTSC() - d.run.tsc
	g := v.total + v.count - d.run.progress
	x := v.stats.Exits - d.run.exits
	switch {
	case d.run.steps:
		d.stats.steps++
		d.stats.stepTSC += t
		d.stats.stepExits += x
	case d.nbreaks > 0:
		d.stats.bpRuns++
		d.stats.bpTSC += t
		d.stats.bpGuest += g
		d.stats.bpExits += x
	default:
		d.stats.runs++
		d.stats.runTSC += t
		d.stats.runGuest += g
		d.stats.runExits += x
	}
	d.run.tsc = 0
}

func (d *debugger) sessionCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessions
}

// boundary runs between an exit's handling and the next entry when the
// attention flag is set: it parks the vCPU if it must stop here and
// decides what the next entry arms.
//
// It is in the vCPU loop, whose code must not allocate (hv's
// TestExitPathDoesNotAllocate), and runs at every exit while a run mode
// is on (a continue with breakpoints, a run to a position): so it only
// checks (eventful, allocation-free) and leaves everything that formats
// a message, parks or talks to a frontend to event, which runs only when
// something happens for the debugger: the start, the primary's failure, a
// stop asked for, a breakpoint hit, a step done, a target reached or
// passed. Those are the debugger's own moments, not the replay's exit
// path, and the allocation check leaves event out.
func (d *debugger) boundary(v *VM) {
	if d.eventful(v) {
		d.event(v)
	}
	d.stepping = d.mode == runStep || d.stepOver
	d.attention.Store(d.mode != runFree || d.stopReq.Load() || d.failure == nil && d.fail.load() != nil)
}

// eventful reports whether why may have something to say here: its
// conditions, without their messages.
func (d *debugger) eventful(v *VM) bool {
	return !d.started ||
		d.failure == nil && d.fail.load() != nil ||
		d.stopReq.Load() || d.hitOn ||
		d.stepping && (v.tf.done || v.total+v.count != d.stepFrom.progress || v.end.cause != causeNone) ||
		d.haveTarget && d.targeted() && (d.at(v, d.target) || d.past(v, d.target))
}

// event parks the vCPU for as long as why says it must stop here
// (boundary, when eventful). Not in the allocation check: see boundary.
//
//go:noinline
func (d *debugger) event(v *VM) {
	for {
		ev, stop := d.why(v)
		if !stop {
			break
		}
		d.park(v, ev, false)
		d.hitOn = false
		v.tf.done = false
	}
}

// why says whether the vCPU stops at this boundary, and why.
func (d *debugger) why(v *VM) (gdb.StopEvent, bool) {
	if !d.started {
		d.started = true
		if d.cfg.Start && d.cfg.Wait {
			v.console("stopped before its first instruction (debug=start); waiting for a debugger: %s", d.cfg.Attach)
			return gdb.StopEvent{Reason: gdb.StopInterrupt, Message: "hindsight: the backup is stopped before its first instruction (debug=start)"}, true
		}
	}
	if d.failure == nil {
		if f := d.fail.load(); f != nil {
			d.failure = f
			if ev, stop := d.onFailure(v, f); stop {
				return ev, true
			}
		}
	}
	if d.stopReq.Load() {
		return gdb.StopEvent{Reason: gdb.StopInterrupt}, true
	}
	if d.hitOn && d.mode == runCollect {
		// Noted, not a stop: the run goes on (past the breakpoint first,
		// as a continue from it would).
		d.hitOn = false
		if !d.at(v, d.target) { // a hit at the target is the point the reverse continue started from
			d.collected.pt, d.collected.bp, d.collected.on = v.point(), d.hit, true
		}
		d.stepOver = d.hit.access() == step.Exec
	}
	if d.hitOn {
		d.hitOn = false
		return d.hit.stopEvent(), true
	}
	stepped := d.stepping && (v.tf.done || v.total+v.count != d.stepFrom.progress || v.end.cause != causeNone)
	if d.stepOver && stepped {
		d.stepOver = false
		d.stepping = false
		stepped = false
	}
	if d.mode == runStep && stepped {
		ev := gdb.StopEvent{Reason: gdb.StopStep}
		if v.tf.noHandler.Why != step.HandlerFound {
			ev.Message = "hindsight: the event was delivered, but the step could not stop at its handler (" + v.tf.noHandler.Error() + "): the guest ran on to its next exit"
		}
		return ev, true
	}
	if d.haveTarget && d.targeted() {
		switch {
		case d.at(v, d.target):
			d.haveTarget = false
			return d.arrived(v)
		case d.past(v, d.target):
			d.haveTarget = false
			if d.mode != runCont {
				return gdb.StopEvent{Reason: gdb.StopInterrupt,
					Message: fmt.Sprintf("hindsight: the backup passed %s without stopping there: it is at %s", d.targetWhy, v.whereLine())}, true
			}
		}
	}
	return gdb.StopEvent{}, false
}

// targeted reports whether the run mode stops at d.target.
func (d *debugger) targeted() bool {
	return d.mode == runTo || d.mode == runCont || d.mode == runCollect
}

// past reports whether the backup is beyond position l.
func (d *debugger) past(v *VM, l replay.Landmark) bool {
	return v.seq > l.Seq || v.seq == l.Seq && v.count > l.Count
}

// at reports whether the backup is at position l.
func (d *debugger) at(v *VM, l replay.Landmark) bool {
	return v.seq == l.Seq && v.count == l.Count
}

// onFailure handles the news of the primary's failure.
func (d *debugger) onFailure(v *VM, f *Failure) (gdb.StopEvent, bool) {
	v.console("the primary failed at landmark %v (%s); %s", f.At, f.Reason, d.distance(v, f))
	if d.capture != nil {
		s, err := d.captureNow(v, f)
		if err != nil {
			v.console("capture: %v", err)
		} else {
			v.console("%s", strings.TrimSuffix(s, "\n"))
		}
	}
	switch d.cfg.OnFail {
	case OnFailFollow:
		return gdb.StopEvent{}, false
	case OnFailDebug:
		if d.cfg.Wait {
			v.console("stopped where it stands; waiting for a debugger: %s (\"monitor failure\" runs to the instruction before the failure)", d.cfg.Attach)
			return gdb.StopEvent{Reason: gdb.StopInterrupt, Message: "hindsight: the primary failed: " + f.Reason + "; " + d.distance(v, f) +
				"; \"continue\" or \"monitor failure\" runs to the instruction before the failure"}, true
		}
		v.console("no debugger line is configured (gdb=com2): replaying to the instruction before the failure to compare")
	}
	d.mode, d.byFrontend = runTo, false
	d.target, d.haveTarget, d.targetWhy = f.Before(), true, d.failureWhy()
	return gdb.StopEvent{}, false
}

func (d *debugger) failureWhy() string {
	return fmt.Sprintf("the instruction before the primary's failure (%s at %v)", d.failure.Reason, d.failure.At)
}

// distance says where the backup stands from the failure.
func (d *debugger) distance(v *VM, f *Failure) string {
	b := f.Before()
	var s string
	if v.seq < b.Seq || v.seq == b.Seq && v.count <= b.Count {
		s = fmt.Sprintf("the backup stands at %s, %d landmarks", v.whereLine(), b.Seq-v.seq)
		if f.Exact() && v.clock.exact() {
			s += fmt.Sprintf(" and %d %s", f.State[replay.FinalTotal]-(v.total+v.count), v.unit())
		}
		s += fmt.Sprintf(" before the instruction that failed (at #%d+%d)", b.Seq, b.Count)
		return s
	}
	return fmt.Sprintf("the backup stands at %s, past the instruction before the failure (#%d+%d)", v.whereLine(), b.Seq, b.Count)
}

// arrived is the stop at d.target.
func (d *debugger) arrived(v *VM) (gdb.StopEvent, bool) {
	// A stop of its own, not a breakpoint's: gdb reports it as a trap.
	ev := gdb.StopEvent{Reason: gdb.StopStep, Message: "hindsight: stopped at " + d.targetWhy}
	if d.failure != nil && d.target == d.failure.Before() {
		cmp := v.compareFinal(d.failure)
		ev.Message += "\n" + cmp
		v.console("at %s: %s", d.targetWhy, strings.ReplaceAll(cmp, "\n", "; "))
		if !d.byFrontend && !d.cfg.Wait {
			d.mode = runFree // nobody to wait for: go on into the end
			return gdb.StopEvent{}, false
		}
		if !d.byFrontend {
			v.console("waiting for a debugger: %s", d.cfg.Attach)
		}
	}
	d.mode = runFree
	return ev, true
}

// limit is the clock's stop for the coming entry: the log's (stop), or
// nearer, the debugger's target; none while it steps (the step ends the
// run after one instruction).
func (d *debugger) limit(v *VM, stop uint64) uint64 {
	if d.stepping {
		return noStop
	}
	if d.haveTarget && d.target.Seq == v.seq && d.target.Count > v.count && d.target.Count < stop {
		return d.target.Count
	}
	return stop
}

// stopRIP is the RIP of the debugger's target when limit chose it as the
// clock's stop (mine), if known (ok): a run to an instruction count
// within a landmark must not borrow the RIP of the log's next record,
// which stands elsewhere.
func (d *debugger) stopRIP(v *VM) (rip uint64, ok, mine bool) {
	if d.stepping || !d.haveTarget || d.target.Seq != v.seq || d.target.Count <= v.count {
		return 0, false, false
	}
	if p, isRep := v.in.(*replayer); isRep {
		if h, st, _ := p.rd.Head(p.now()); st == replay.Ready && h.Seq == v.seq && h.Count <= d.target.Count {
			return 0, false, false // the log's stop comes first
		}
	}
	if d.failure != nil && d.target == d.failure.Before() {
		return d.failure.State[replay.FinalRIP], true, true
	}
	return 0, false, true
}

// armEntry arms the coming entry as the run mode says (after the clock
// armed its own).
func (d *debugger) armEntry(v *VM) {
	switch {
	case d.stepping:
		v.tf.arm(v)
	case d.mode != runFree && d.mode != runStep && d.nbreaks > 0 && !d.ignoreBreaks:
		d.armBreaks(v)
	}
}

// armBreaks puts the breakpoints and watchpoints into free debug
// registers for one entry.
func (d *debugger) armBreaks(v *VM) {
	r := v.hw()
	dr7 := r.vmread(vmx.GuestDR7)
	a := &d.armed
	a.on, a.slots, a.dr7, a.excep = true, 0, dr7, r.vmread(vmx.ExceptionBitmap)
	for i, b := range d.breaks[:d.nbreaks] {
		slot := step.FreeSlot(dr7, 0)
		if slot < 0 {
			break // the guest took registers since: the rest wait for the next entry
		}
		a.slots |= 1 << slot
		a.of[slot] = i
		a.dr[slot] = r.debugReg(slot)
		r.setDebugReg(slot, b.addr)
		dr7 = step.WithSlot(dr7, slot, b.access(), b.length)
	}
	r.vmwrite(vmx.GuestDR7, dr7)
	r.vmwrite(vmx.ExceptionBitmap, a.excep|1<<vmx.VectorDB)
	d.stats.bpArmed++
}

// disarmBreaks gives the debug registers back and notes a hit.
func (d *debugger) disarmBreaks(v *VM) {
	a := &d.armed
	d.trapped = false
	if !a.on {
		return
	}
	a.on = false
	r := v.hw()
	if vmx.ExitReason(v.regs.ExitReason).Basic() == vmx.ReasonExceptionOrNMI {
		info := r.vmread(vmx.VMExitInterruptionInfo)
		if uint8(info) == vmx.VectorDB && vmx.EventType(info>>vmx.IntInfoTypeShift&7) == vmx.EventHardwareException {
			ours, _ := step.Split(v.regs.ExitQual, a.slots, false, v.guestDR7, v.guestTF)
			for slot := 0; slot < 4; slot++ {
				if ours&(1<<slot) == 0 {
					continue
				}
				d.trapped = true
				d.hit = d.breaks[a.of[slot]]
				d.hitOn = true
				d.stats.hits++
				break
			}
		}
	}
	dr7 := r.vmread(vmx.GuestDR7)
	for slot := 0; slot < 4; slot++ {
		if a.slots&(1<<slot) != 0 {
			dr7 = step.RestoreSlot(dr7, a.dr7, slot)
			r.setDebugReg(slot, a.dr[slot])
		}
	}
	r.vmwrite(vmx.GuestDR7, dr7)
	r.vmwrite(vmx.ExceptionBitmap, a.excep)
	if pd := r.vmread(vmx.GuestPendingDebug); pd&uint64(a.slots) != 0 {
		r.vmwrite(vmx.GuestPendingDebug, pd&^uint64(a.slots))
	}
}

// setBreak inserts or removes a breakpoint (vCPU thread, parked).
func (d *debugger) setBreak(v *VM, b breakpoint, insert bool) error {
	for i, x := range d.breaks[:d.nbreaks] {
		if x == b {
			if !insert {
				copy(d.breaks[i:], d.breaks[i+1:d.nbreaks])
				d.nbreaks--
			}
			return nil
		}
	}
	if !insert {
		return nil
	}
	if err := step.CheckRange(b.access(), b.addr, b.length); err != nil {
		return err
	}
	dr7 := v.hw().vmread(vmx.GuestDR7)
	guest := 0
	for m := step.EnabledSlots(dr7); m != 0; m &= m - 1 {
		guest++
	}
	if d.nbreaks+guest >= maxBreaks {
		return fmt.Errorf("all four debug registers are taken (the guest's DR7 enables %d, hindsight's breakpoints and watchpoints hold %d): remove one first", guest, d.nbreaks)
	}
	d.breaks[d.nbreaks] = b
	d.nbreaks++
	return nil
}

// atEnd parks a VM that ended while a debugger is attached, so that its
// last state can be read, until the session ends.
func (d *debugger) atEnd(v *VM) {
	if d.sessionCount() == 0 {
		return
	}
	e := v.End()
	d.park(v, gdb.StopEvent{Reason: gdb.StopEnded, Message: fmt.Sprintf("hindsight: the backup ended at landmark %v: %s", e.At, e.Reason)}, true)
}

// exitTraps gives back what the debugger and the single step armed for
// the entry, right after the exit (last armed, first given back), and
// finds the guest's own debug conditions that the interception caught,
// to be reflected to it.
func (v *VM) exitTraps() {
	v.forgetTraps()
	v.reflectDB, v.reflectICEBP = 0, false
	if v.dbg != nil {
		v.dbg.disarmBreaks(v)
	}
	v.tf.exit(v, v.guestDR7)
	basic := vmx.ExitReason(v.regs.ExitReason).Basic()
	if synchronous(basic) {
		v.clock.release(v) // a synchronous exit ended the run before the clock's stop
	}
	if basic != vmx.ReasonExceptionOrNMI {
		return
	}
	info := v.hw().vmread(vmx.VMExitInterruptionInfo)
	if uint8(info) != vmx.VectorDB {
		return
	}
	switch vmx.EventType(info >> vmx.IntInfoTypeShift & 7) {
	case vmx.EventHardwareException:
		// A single-step condition is the guest's unless a step of ours
		// set TF for this entry: the guest may have set its own TF in
		// the run (POPF, IRET), after the entry.
		_, v.reflectDB = step.Split(v.regs.ExitQual, 0, false, v.guestDR7, !v.tf.ownTF)
	case vmx.EventPrivilegedSoftwareException:
		v.reflectICEBP = true // the guest's INT1
	}
}

// forgetTraps clears what the last exit's traps said, at an exit with
// nothing armed by the debugger or a step and no exception (the exit path
// of a backup whose debugger is idle).
func (v *VM) forgetTraps() {
	v.reflectDB, v.reflectICEBP = 0, false
	v.tf.trapped, v.tf.done, v.tf.ownTF = false, false, false
	if v.dbg != nil {
		v.dbg.trapped = false
	}
}

// ownTrap reports whether an exception exit is the hypervisor's own
// doing: a breakpoint or single step of the clock, the debugger or a
// step, or a condition of the guest's that they caught.
func (v *VM) ownTrap() bool {
	return v.clockTrapped() || v.tf.trapped || v.dbg != nil && v.dbg.trapped || v.reflectDB != 0 || v.reflectICEBP
}

// reflect delivers to the guest the debug exception of its own that the
// hypervisor's interception caught: DR6 as the processor would have set
// it (a #DB VM exit leaves DR6 alone; SDM Vol. 3C, "Debug Exceptions"),
// then #DB; or its INT1 again.
func (v *VM) reflect() {
	switch {
	case v.reflectICEBP:
		v.injected = true
		v.hw().vmwrite(vmx.EntryInterruptionInfo, uint64(vmx.IntInfoValid|uint32(vmx.EventPrivilegedSoftwareException)<<vmx.IntInfoTypeShift|vmx.VectorDB))
		v.hw().vmwrite(vmx.EntryInstructionLength, 1)
	case v.reflectDB != 0:
		pmu.SetDR6(dr6Fixed | v.reflectDB)
		v.injectException(vmx.VectorDB, 0, false)
	}
}

// dr6Fixed are DR6's bits that read as 1 (SDM Vol. 3B §17.2.3).
const dr6Fixed = 0xFFFF0FF0

// whereLine says where the VM stands: its landmark, RIP and, where the
// clock counts, its progress since the start.
func (v *VM) whereLine() string {
	rip := v.hw().vmread(vmx.GuestRIP)
	s := fmt.Sprintf("#%d+%d rip %#x", v.seq, v.count, rip)
	if v.clock.exact() {
		s += fmt.Sprintf(" (%d %s since the start)", v.total+v.count, v.unit())
	}
	return s
}

// console prints a line from the backup's debugger.
func (v *VM) console(format string, args ...any) {
	fmt.Printf("hv: %s: %s\n", v.cfg.Name, fmt.Sprintf(format, args...))
}

// compareFinal compares the backup's registers now with the primary's
// final ones, as lines.
func (v *VM) compareFinal(f *Failure) string {
	mine := v.currentState()
	var diff []string
	for i := 0; i < replay.FinalRegisters; i++ {
		if mine[i] != f.State[i] {
			diff = append(diff, fmt.Sprintf("%s primary %#x backup %#x", replay.FinalName(i), f.State[i], mine[i]))
		}
	}
	if len(diff) == 0 {
		return fmt.Sprintf("all %d registers equal the primary's final ones (rip %#x, rsp %#x, rflags %#x)",
			replay.FinalRegisters, mine[replay.FinalRIP], mine[replay.FinalRSP], mine[replay.FinalRFLAGS])
	}
	return fmt.Sprintf("%d of %d registers differ from the primary's final ones: %s", len(diff), replay.FinalRegisters, strings.Join(diff, "; "))
}

// currentState is the guest's registers now, in FinalState's layout.
func (v *VM) currentState() replay.FinalState {
	s := v.finalState()
	s[replay.FinalRIP] = v.hw().vmread(vmx.GuestRIP)
	return s
}

// unit names what the VM's clock counts.
func (v *VM) unit() string {
	if v.cfg.Clock == ClockBranch {
		return "branches"
	}
	return "instructions"
}
