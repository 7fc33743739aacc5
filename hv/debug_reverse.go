package hv

import (
	"fmt"

	"hindsight/hv/gdb"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// Reverse execution on the backup (gdb's bs and bc): there is no running
// backwards, only forwards again from a snapshot. The backup restores the
// newest snapshot before where it must go, and replays from there, as it
// replayed the first time: the log gives it the same inputs at the same
// landmarks, so it passes through the same states.
//
//	reverse step      find the point just before the current one: run from
//	                  the snapshot to a landmark shortly before it (the
//	                  instruction count before, or the exit before), step
//	                  forward counting the steps to the current point, then
//	                  restore again and stop one step short of it
//	reverse continue  run from the snapshot to the current point with the
//	                  breakpoints and watchpoints armed, noting each hit
//	                  without stopping; go back to the last one, or scan
//	                  the interval before the snapshot if none was hit,
//	                  down to the oldest snapshot (gdb's "beginning of
//	                  history")
//
// Both need a clock that places instructions (slice or branch): on the
// exit clock a landmark only counts exits.

// point is one state of the backup's execution as a debugger stops at it:
// its landmark, its registers' fingerprint, and the event its next entry
// delivers (a step from before an interrupt's delivery lands at the
// handler with the same landmark: another point).
type point struct {
	at    replay.Landmark
	fp    uint64
	event uint64
}

func (p point) String() string {
	return fmt.Sprintf("#%d+%d rip %#x", p.at.Seq, p.at.Count, p.at.RIP)
}

// point returns where the backup stands (vCPU thread, parked).
func (v *VM) point() point {
	rip, _ := vmx.VMREAD(vmx.GuestRIP)
	ev, _ := vmx.VMREAD(vmx.EntryInterruptionInfo)
	if ev&vmx.IntInfoValid == 0 {
		ev = 0
	}
	// The registers as they are, RIP included: not the replayer's
	// fingerprint, which takes the last exit's RIP.
	return point{at: replay.Landmark{Seq: v.seq, Count: v.count, RIP: rip}, fp: v.fingerprintAt(rip), event: ev}
}

// atOrBefore reports whether landmark a does not come after b.
func atOrBefore(a, b replay.Landmark) bool {
	return a.Seq < b.Seq || a.Seq == b.Seq && a.Count <= b.Count
}

// maxApproach bounds the steps from an approach landmark to the point
// after it: a handful (an instruction, an event delivered there, a REP
// iteration); more means the landmarks do not place the point.
const maxApproach = 64

// errNoReverse says why a backup cannot run backwards.
func (v *VM) errNoReverse() error {
	switch {
	case v.snaps == nil:
		return fmt.Errorf("the backup takes no snapshots (snapshots=off, or no memory for them: see the console at boot)")
	case !v.clock.exact():
		return fmt.Errorf("the %s clock does not place instructions: reverse execution needs the slice or branch clock", v.cfg.Clock)
	}
	return nil
}

// approach returns a landmark shortly before the point the backup stands
// at, that a run can stop at: the instruction count before it, or where
// the instruction that made its landmark (an exit) began. ok is false at
// the very start.
func (v *VM) approach() (replay.Landmark, bool) {
	switch {
	case v.count > 0:
		return replay.Landmark{Seq: v.seq, Count: v.count - 1}, true
	case v.seq > 0:
		return replay.Landmark{Seq: v.seq - 1, Count: v.before}, true
	}
	return replay.Landmark{}, false
}

// snapInfo is what a frontend learns of a snapshot.
type snapInfo struct{ pt point }

// snapshotsNow lists the snapshots (vCPU thread).
func (v *VM) snapshotsNow(dst []snapInfo) []snapInfo {
	for i := 0; i < v.snaps.n; i++ {
		dst = append(dst, snapInfo{pt: v.snaps.list[i].pt})
	}
	return dst
}

// newestBefore returns the newest snapshot at or before landmark l that
// is not the point p itself, or -1.
func newestBefore(snaps []snapInfo, l replay.Landmark, p point) int {
	for j := len(snaps) - 1; j >= 0; j-- {
		if atOrBefore(snaps[j].pt.at, l) && snaps[j].pt != p {
			return j
		}
	}
	return -1
}

// reverser runs one reverse command for a frontend; its steps are the
// debugger's own exchanges (Do, Resume), so a Ctrl-C reaches the run
// under way.
type reverser struct {
	d      *debugger
	cancel <-chan struct{}
	snaps  []snapInfo
	// For the statistics: runs from a snapshot, and the guest progress
	// replayed (from the last restore's progress on).
	runs           int
	replayed, from uint64
}

// here returns the backup's point and the snapshot list.
func (r *reverser) here() (point, error) {
	var p point
	var err error
	e := r.d.Do(func(v *VM) {
		if err = v.errNoReverse(); err != nil {
			return
		}
		if v.end.cause != causeNone {
			err = fmt.Errorf("the backup has ended: it can run backwards only while it replays (onfail=debug stops it before the primary's failure)")
			return
		}
		p = v.point()
		r.snaps = v.snapshotsNow(r.snaps[:0])
	})
	if e != nil {
		return p, e
	}
	return p, err
}

// restore puts the backup back to snapshot j.
func (r *reverser) restore(j int) error {
	var err error
	if e := r.d.Do(func(v *VM) {
		if r.runs > 0 {
			r.replayed += v.total + v.count - r.from
		}
		err = v.snaps.restore(v, j)
		r.from = v.total + v.count
	}); e != nil {
		return e
	}
	r.runs++
	return err
}

// runTo runs the backup forward to landmark l (it stands at or before l).
func (r *reverser) runTo(l replay.Landmark) error {
	ev := r.d.Resume(resumeHow{mode: runTo, target: l, why: fmt.Sprintf("landmark #%d+%d", l.Seq, l.Count), ignoreBreaks: true}, r.cancel)
	if ev.Reason != gdb.StopStep {
		return stopError(ev)
	}
	return nil
}

// step runs one instruction or event.
func (r *reverser) step() error {
	if ev := r.d.Resume(resumeHow{mode: runStep}, r.cancel); ev.Reason != gdb.StopStep {
		return stopError(ev)
	}
	return nil
}

// stopError is a run's stop that was not the one asked for: Ctrl-C, the
// backup's end, a divergence.
func stopError(ev gdb.StopEvent) error {
	if ev.Message != "" {
		return fmt.Errorf("%s: %s", ev.Reason, ev.Message)
	}
	return fmt.Errorf("stopped: %s", ev.Reason)
}

// point returns the backup's point now.
func (r *reverser) point() point {
	var p point
	r.d.Do(func(v *VM) { p = v.point() })
	return p
}

// goTo brings the backup from snapshot j to point p: a run to p's
// landmark, and steps until the point is p.
func (r *reverser) goTo(j int, p point) error {
	if err := r.restore(j); err != nil {
		return err
	}
	if err := r.runTo(p.at); err != nil {
		return err
	}
	for i := 0; i < maxApproach; i++ {
		if r.point() == p {
			return nil
		}
		if err := r.step(); err != nil {
			return err
		}
	}
	return fmt.Errorf("replay from the snapshot did not come back to %v within %d steps of its landmark", p, maxApproach)
}

// reverseStep moves the backup to the point before the current one.
func (d *debugger) reverseStep(cancel <-chan struct{}) gdb.StopEvent {
	r := &reverser{d: d, cancel: cancel}
	cur, err := r.here()
	if err != nil {
		return reverseFailed("reverse-step", err)
	}
	var a replay.Landmark
	ok := false
	d.Do(func(v *VM) { a, ok = v.approach() })
	for {
		if !ok {
			return gdb.StopEvent{Reason: gdb.StopHistoryBegin, Message: "hindsight: the backup stands at the guest's first instruction"}
		}
		j := newestBefore(r.snaps, a, cur)
		if j < 0 {
			return gdb.StopEvent{Reason: gdb.StopHistoryBegin, Message: "hindsight: no snapshot is older than the previous instruction (the oldest kept is at " + r.snaps[0].pt.String() + ")"}
		}
		// Pass 1: from the approach landmark, how many steps to here?
		if err := r.restore(j); err != nil {
			return reverseFailed("reverse-step", err)
		}
		if err := r.runTo(a); err != nil {
			return reverseFailed("reverse-step", err)
		}
		k := 0
		for ; k < maxApproach && r.point() != cur; k++ {
			if err := r.step(); err != nil {
				return reverseFailed("reverse-step", err)
			}
		}
		if k == maxApproach {
			return reverseFailed("reverse-step", fmt.Errorf("replay from landmark #%d+%d did not come back to %v within %d steps", a.Seq, a.Count, cur, maxApproach))
		}
		if k == 0 {
			// The approach landmark is this very point: one further back.
			d.Do(func(v *VM) { a, ok = v.approach() })
			continue
		}
		// Pass 2: again, one step short.
		if err := r.restore(j); err != nil {
			return reverseFailed("reverse-step", err)
		}
		if err := r.runTo(a); err != nil {
			return reverseFailed("reverse-step", err)
		}
		for i := 0; i < k-1; i++ {
			if err := r.step(); err != nil {
				return reverseFailed("reverse-step", err)
			}
		}
		d.noteReverse(r, k)
		return gdb.StopEvent{Reason: gdb.StopStep}
	}
}

// reverseContinue moves the backup back to the last breakpoint or
// watchpoint hit before the current point, or to the oldest snapshot.
func (d *debugger) reverseContinue(cancel <-chan struct{}) gdb.StopEvent {
	r := &reverser{d: d, cancel: cancel}
	cur, err := r.here()
	if err != nil {
		return reverseFailed("reverse-continue", err)
	}
	end := cur
	for j := newestBefore(r.snaps, cur.at, cur); j >= 0; j-- {
		if err := r.restore(j); err != nil {
			return reverseFailed("reverse-continue", err)
		}
		ev := d.Resume(resumeHow{mode: runCollect, target: end.at, why: "the point reverse-continue started from"}, cancel)
		if ev.Reason != gdb.StopStep {
			return reverseFailed("reverse-continue", stopError(ev))
		}
		var hit point
		var bp breakpoint
		var found bool
		d.Do(func(*VM) { hit, bp, found = d.collected.pt, d.collected.bp, d.collected.on })
		if found {
			if err := r.goTo(j, hit); err != nil {
				return reverseFailed("reverse-continue", err)
			}
			d.noteReverse(r, 0)
			return bp.stopEvent()
		}
		end = r.snaps[j].pt
	}
	if len(r.snaps) > 0 {
		if err := r.restore(0); err != nil {
			return reverseFailed("reverse-continue", err)
		}
	}
	d.noteReverse(r, 0)
	return gdb.StopEvent{Reason: gdb.StopHistoryBegin, Message: "hindsight: no breakpoint or watchpoint was hit since the oldest snapshot, where the backup now stands"}
}

// reverseFailed is the stop of a reverse command that could not be done.
func reverseFailed(what string, err error) gdb.StopEvent {
	return gdb.StopEvent{Reason: gdb.StopInterrupt, Message: "hindsight: " + what + ": " + err.Error()}
}

// noteReverse counts a reverse command's work (monitor stats).
func (d *debugger) noteReverse(r *reverser, steps int) {
	d.Do(func(v *VM) {
		if r.runs > 0 {
			r.replayed += v.total + v.count - r.from
		}
		s := &d.stats
		s.reverse++
		s.reverseRuns += uint64(r.runs)
		s.reverseSteps += uint64(steps)
		s.replayed[s.nreplayed%len(s.replayed)] = r.replayed
		s.nreplayed++
	})
}
