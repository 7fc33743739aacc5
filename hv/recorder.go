package hv

import (
	"hindsight/boot"
	"hindsight/hv/dev"
	"hindsight/hv/replay"
)

// recorder is the primary's Inputs: the outside world, as for a VM alone,
// with every input it gives the guest written to the log at its landmark.

const (
	// progressEvery bounds how far the backup may be held up waiting to
	// learn that nothing happened: the primary logs a progress record
	// after this many landmarks without another record...
	progressEvery = 512
	// ...or, at an asynchronous stop, after this long without one.
	progressNs = 1_000_000

	// stageRecords bounds the records of one landmark held back until
	// its injection is decided. A landmark with more (a guest halted with
	// its timer masked collects ticks) writes the first ones early.
	stageRecords = 8
)

type recorder struct {
	world
	log    *replay.Log
	w      *replay.Writer
	verify uint64 // log a digest every so many landmarks (0: never)
	hook   Corruption

	staged  [stageRecords]uint64 // log indices of the staged input records, waiting for the landmark's outcome
	nstaged int
	rec     replay.Record // the record log1 builds
	// The last stop a record was logged at (Seq, Count, RIP, RCX: on a
	// clock whose counts several instructions share, RIP and RCX tell
	// them apart), and when.
	lastSeq, lastCount, lastRIP, lastRCX, lastNs uint64
	hooked                                       uint64          // records the hook has counted
	corrupted                                    replay.Landmark // where the hook struck
	corruptedKind                                replay.Kind
	bad                                          [replay.RecordSize]byte // the malformed record the hook writes
	unprotected                                  bool                    // the backup stopped: nothing is logged any more
	fail                                         *failureBox             // where a failure of the guest is published for the backup (nil: nowhere)
}

// Corruption is a test hook: the primary logs its N-th record (of Kind, if
// set) wrong, so the tests can check that the backup reports it. Fault
// says how.
type Corruption struct {
	N     uint64
	Kind  replay.Kind
	Fault Fault
}

// Fault is what a Corruption does to its record.
type Fault uint8

const (
	FaultValue    Fault = iota // a wrong value (a device time 10 ms late, else bit 0 flipped): the record itself is valid
	FaultCRC                   // a bad CRC
	FaultKind                  // an invalid kind (CRC correct)
	FaultTruncate              // the log ends there, without an end record
)

func newRecorder(log *replay.Log, w world, verify uint64, hook Corruption) *recorder {
	return &recorder{world: w, log: log, w: log.Writer(), verify: verify, hook: hook}
}

// now is the log's clock: ns since the time base, the same on every CPU.
func (r *recorder) now() uint64 { return (boot.TSC() - r.tsc0) * 1000 / (r.tscHz / 1e6) }

func (r *recorder) tsc(v *VM) (uint64, bool) {
	t := boot.TSC() - r.tsc0
	r.log1(v, replay.KindRDTSC, t, 0, 0)
	return t, true
}

func (r *recorder) deviceTime(v *VM) (uint64, bool) {
	now := r.deviceTimeAt(boot.TSC())
	r.log1(v, replay.KindClock, now, 0, 0)
	return now, true
}

func (r *recorder) poll(v *VM) bool {
	t := boot.TSC()
	if now, ok := r.due(v, t); ok {
		r.log1(v, replay.KindClock, now, 0, 0)
		v.advance(now)
	}
	if b, ok := r.serial(v, t); ok {
		r.log1(v, replay.KindSerialIn, uint64(b), 0, 0)
		v.receive(b)
	}
	if v.count == 0 && r.verify != 0 && v.seq%r.verify == 0 {
		cpu, ram, devs := v.digest()
		r.log1(v, replay.KindDigest, cpu, ram, devs)
		v.stats.Digests++
	}
	// A progress record, unless one was logged at this very stop (at a
	// synchronous landmark seq-lastSeq >= progressEvery says so already).
	if v.count == 0 {
		if v.seq-r.lastSeq >= progressEvery {
			r.log1(v, replay.KindProgress, r.now(), 0, 0)
		}
	} else if now := r.now(); now-r.lastNs >= progressNs && !r.loggedHere(v) {
		r.log1(v, replay.KindProgress, now, 0, 0)
	}
	if r.quiet(v) {
		// Nothing can come from outside: the synchronous landmarks need
		// no poll until the next progress record or digest falls due.
		v.inputsQuiet, v.pollSeq = true, r.lastSeq+progressEvery
		if r.verify != 0 {
			v.pollSeq = min(v.pollSeq, (v.seq/r.verify+1)*r.verify)
		}
	}
	return r.nstaged > 0
}

func (r *recorder) halt(v *VM) { r.wait(v) }

func (r *recorder) stop(v *VM) bool { return true }

// loggedHere reports whether a record was logged at this very stop.
func (r *recorder) loggedHere(v *VM) bool {
	return r.lastSeq == v.seq && r.lastCount == v.count && r.lastRIP == v.rip() && r.lastRCX == v.regs.RCX
}

func (r *recorder) markHere(v *VM) {
	r.lastSeq, r.lastCount, r.lastRIP, r.lastRCX = v.seq, v.count, v.rip(), v.regs.RCX
}

func (r *recorder) budget(v *VM) (uint64, uint64) { return r.ticks(v, boot.TSC()), noStop }

// outcome writes the held-back input records with the landmark's outcome.
func (r *recorder) outcome(v *VM, delivered uint64) {
	if v.count != 0 && delivered != replay.NoVector && !r.loggedHere(v) {
		// An interrupt the guest takes here with no input here (one it
		// could not take at the last landmark): the backup must stop here too.
		r.log1(v, replay.KindProgress, r.now(), 0, 0)
	}
	if r.nstaged > 0 {
		r.flush(v, v.requested(delivered), delivered)
	}
}

// finish logs the end: the final digest and state where the guest state
// is there to read, and the END record; then the log is closed. A failure
// of the guest is published for the backup first (failure.go).
func (r *recorder) finish(v *VM) {
	r.flush(v, replay.Unrecorded, replay.Unrecorded)
	if v.launched {
		fs := v.finalState()
		if c := v.end.cause.endCause(); c.Failure(uint64(v.end.status)) && r.fail != nil {
			r.fail.publish(&Failure{Cause: c, Status: v.end.status, State: fs, Reason: v.failureReason(),
				At: replay.Landmark{Seq: v.seq, Count: v.count, RIP: v.rip()}})
		}
		cpu, ram, devs := v.digest()
		r.log1(v, replay.KindDigest, cpu, ram, devs)
		v.stats.Digests++
		for i := 0; i < replay.FinalRecords; i++ {
			rec := fs.Record(i, replay.Landmark{})
			r.log1(v, replay.KindFinal, rec.Value, rec.Value2, rec.Value3)
		}
	}
	r.log1(v, replay.KindEnd, uint64(v.end.status), uint64(v.end.cause.endCause()), 0)
	r.flush(v, replay.Unrecorded, replay.Unrecorded)
	r.w.Close()
}

// log1 logs a record at the current landmark. An asynchronous stop's
// records follow a POSITION record that lets the backup find the spot.
// Input records, and any after them at the same landmark, are staged in
// the log, unpublished, until the landmark's outcome is known (outcome);
// the others are published at once.
func (r *recorder) log1(v *VM, k replay.Kind, val, val2, val3 uint64) {
	if v.count != 0 && !r.loggedHere(v) {
		r.markHere(v) // before the recursion: one POSITION per stop
		r.log1(v, replay.KindPosition, v.regs.RCX, v.fingerprint(), 0)
	}
	r.markHere(v)
	r.lastNs = r.now()
	input := k.IsInput()
	if input && r.nstaged == len(r.staged) {
		r.flush(v, replay.Unrecorded, replay.Unrecorded) // still waiting (HLT): the outcome is not known yet
	}
	rec := &r.rec
	rec.Kind, rec.Seq, rec.Count, rec.RIP, rec.Value, rec.Value2, rec.Value3 = k, v.seq, v.count, v.rip(), val, val2, val3
	i, res := uint64(0), replay.Full
	if r.hook.N == 0 && !r.unprotected {
		i, res = r.w.Stage(rec, r.lastNs) // the common case, inline
	}
	ok := res == replay.Written
	if ok {
		v.stats.Records++
	} else {
		i, ok = r.put(v, rec)
	}
	switch {
	case !ok:
	case input:
		r.staged[r.nstaged] = i
		r.nstaged++
	case r.nstaged == 0:
		r.w.Publish()
	}
}

// flush publishes the staged records; the input records among them carry
// the outcome unless it is Unrecorded.
func (r *recorder) flush(v *VM, requested, delivered uint64) {
	if delivered != replay.Unrecorded {
		for _, i := range r.staged[:r.nstaged] {
			r.w.SetOutcome(i, requested, delivered)
		}
	}
	r.nstaged = 0
	if !r.unprotected {
		r.w.Publish()
	}
}

// put stages a record in the log, stamped with the time log1 took for it
// (one clock read per record), and returns its index. On a full log the
// primary waits for the backup (a stall), having published what it staged
// (the backup may be waiting for it); once the backup has stopped for
// good it goes on unprotected, and says so once.
func (r *recorder) put(v *VM, rec *replay.Record) (uint64, bool) {
	if r.unprotected {
		return 0, false
	}
	if r.hook.N != 0 && (r.hook.Kind == 0 || r.hook.Kind == rec.Kind) {
		r.hooked++
		if r.hooked == r.hook.N && r.corrupt(v, rec) {
			return 0, false
		}
	}
	for {
		i, res := r.w.Stage(rec, r.lastNs)
		switch res {
		case replay.Written:
			v.stats.Records++
			return i, true
		case replay.ReaderGone:
			r.goUnprotected(v)
			return 0, false
		}
		if r.waitForRoom(v) {
			return 0, false
		}
	}
}

// waitForRoom is one step of waiting for the backup to free a slot; it
// reports true if the VM was asked to stop meanwhile.
func (r *recorder) waitForRoom(v *VM) bool {
	if r.nstaged > 0 {
		r.flush(v, replay.Unrecorded, replay.Unrecorded)
	}
	v.stats.Stalls++
	pauseSpin()
	if v.stopRequest.Load() {
		r.unprotected = true // the record is lost: the log ends without it
		return true
	}
	return false
}

func (r *recorder) goUnprotected(v *VM) {
	r.unprotected = true
	v.stats.Dropped++
	var l logLine
	l.str("hv: ").str(v.cfg.Name).str(": the backup stopped at landmark ").dec(v.seq)
	l.str(": running on UNPROTECTED, nothing is logged any more").write()
}

// corrupt applies the test hook to rec and reports whether it wrote (or
// dropped) the record itself.
func (r *recorder) corrupt(v *VM, rec *replay.Record) bool {
	r.corrupted = rec.Landmark()
	r.corruptedKind = rec.Kind
	switch r.hook.Fault {
	case FaultValue:
		if rec.Kind == replay.KindClock {
			// A device time off by one tick is often harmless (the devices
			// converge at the next advance); 10 ms is a tick the guest
			// gets at the wrong time.
			rec.Value += dev.PITHz / 100
		} else {
			rec.Value ^= 1
		}
		return false
	case FaultTruncate:
		r.unprotected = true
		r.w.Close()
		return true
	}
	b := &r.bad
	if r.hook.Fault == FaultKind {
		rec.Kind = 0x7f // an unknown kind; Encode makes the CRC right for it
	}
	rec.Encode(b[:])
	if r.hook.Fault == FaultCRC {
		b[32] ^= 1 // a bit of Value: the CRC no longer matches
	}
	for r.w.StageEncoded(b, r.lastNs) == replay.Full {
		if r.waitForRoom(v) {
			return true
		}
	}
	if r.nstaged == 0 {
		r.w.Publish()
	}
	return true
}
