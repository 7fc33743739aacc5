package hv

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"hindsight/boot"
	"hindsight/hv/replay"
	"hindsight/ringbuf"
)

// The log between a primary and its backup: a ring of replay.Record in
// physical memory (outside the Go heap, reachable from both cores). The
// primary appends; the backup consumes, lag behind. A full ring stalls the
// primary, nothing is dropped.

const (
	kindRDTSC    = replay.KindRDTSC
	kindPortIn   = replay.KindPortIn
	kindIRQ      = replay.KindIRQ
	kindSerialIn = replay.KindSerialIn
	kindDigest   = replay.KindDigest
	kindProgress = replay.KindProgress
	kindEnd      = replay.KindEnd

	// progressEvery bounds how far the backup may be held up waiting to
	// learn that nothing happened: the primary logs a progress record after
	// this many landmarks without another record.
	progressEvery = 512

	// stageRecords bounds the records of one exit held back until its
	// injection is decided. A landmark with more (a guest halted with its
	// timer masked collects ticks) writes the first ones early.
	stageRecords = 8
)

// Log is the shared ring and its lag policy.
type Log struct {
	ring  *ringbuf.Ring
	tsc0  uint64 // the time base of the primary and the backup
	tscHz uint64
	// Lag: the backup consumes a record only once it is LagNs old (by the
	// primary's clock) and LagRecords newer ones follow it.
	LagNs      int64
	LagRecords uint64
}

// NewLog allocates a ring of records entries (a power of two).
func NewLog(records int) (*Log, error) {
	size := ringbuf.Size(replay.RecordSize, records)
	if size == 0 {
		return nil, fmt.Errorf("hv: log of %d records: the ring needs a power of two", records)
	}
	pa, err := boot.AllocPhys((size+4095)/4096, 4096)
	if err != nil {
		return nil, err
	}
	// pa is identity-mapped physical memory that no Go object covers.
	r, err := ringbuf.CreateAt(unsafe.Pointer(uintptr(pa)), size, replay.RecordSize, records, replay.LayoutVersion)
	if err != nil {
		return nil, err
	}
	return &Log{ring: r, tsc0: boot.TSC(), tscHz: boot.ReadStats().TSCHz}, nil
}

// Age returns how long ago the oldest record the backup has not consumed
// was logged (0 if none is waiting).
func (l *Log) Age() time.Duration {
	s, ok := l.ring.OldestStamp()
	if !ok {
		return 0
	}
	now := l.now()
	if now < s {
		return 0
	}
	return time.Duration(now - s)
}

// Stats returns the ring's counters.
func (l *Log) Stats() ringbuf.Stats { return l.ring.Stats() }

// now is the log's clock, for record stamps and the lag: ns since the log
// was made, the same on the primary's and the backup's CPU.
func (l *Log) now() uint64 { return (boot.TSC() - l.tsc0) * 1000 / (l.tscHz / 1e6) }

// logRecord logs a record stamped with the current landmark. The records
// of inputs that raise a PIC line, and any after them in the same exit,
// are held back until flushLog, once the exit's injection is decided; the
// others, the RDTSC results and port reads of most exits, go straight to
// the log.
func (v *VM) logRecord(k replay.Kind, port uint16, size uint8, val, val2, val3 uint64) {
	r := replay.Record{Kind: k, Port: port, Size: size, Seq: v.seq, RIP: v.rip(), Value: val, Value2: val2, Value3: val3}
	if v.cfg.CorruptRecord != 0 && (v.cfg.CorruptKind == 0 || v.cfg.CorruptKind == k) {
		v.hookCount++
		if v.hookCount == v.cfg.CorruptRecord {
			r.Value ^= 1 // test hook: this logged value is wrong
			v.CorruptedAt, v.CorruptedKind = v.seq, k
		}
	}
	v.lastLogged = v.seq
	if v.nstaged == 0 && !k.CarriesInterrupts() {
		v.writeLog(&r, v.cfg.Log.now())
		return
	}
	if v.nstaged == len(v.staged) {
		v.flushLog(replay.Unrecorded) // still waiting (HLT): the outcome is not known yet
	}
	v.staged[v.nstaged] = r
	v.nstaged++
}

// flushLog writes the held-back records to the log. Unless delivered is
// Unrecorded, the records of the inputs that raise a PIC line carry the
// outcome, for the backup to check: the interrupt the PIC requested after
// this landmark's inputs and the one delivered at the coming VM entry.
func (v *VM) flushLog(delivered uint64) {
	stamp := v.cfg.Log.now()
	for i := range v.staged[:v.nstaged] {
		r := &v.staged[i]
		if r.Kind.CarriesInterrupts() && delivered != replay.Unrecorded {
			r.Value2, r.Value3 = v.requested(delivered), delivered
		}
		v.writeLog(r, stamp)
	}
	v.nstaged = 0
}

// writeLog appends a record to the log. On a full ring the primary waits
// for the backup: that is a stall, counted.
func (v *VM) writeLog(r *replay.Record, stamp uint64) {
	r.Encode(v.recBuf[:])
	ring := v.cfg.Log.ring
	if !ring.TryWriteStamp(v.recBuf[:], stamp) {
		v.Stalls++
		for !ring.TryWriteStamp(v.recBuf[:], v.cfg.Log.now()) {
			pauseSpin()
		}
	}
}

// logEvent records an input of the primary at the current landmark.
func (v *VM) logEvent(k replay.Kind, val uint64) {
	if v.cfg.Role == Primary {
		v.logRecord(k, 0, 0, val, 0, 0)
	}
}

// head returns the backup's next record, waiting until the primary has
// logged one and the lag allows taking it. It reports false if the record
// is malformed (the VM then stops with a divergence).
func (v *VM) head() (*replay.Record, bool) {
	if v.haveHead {
		return &v.rec, true
	}
	if !v.cfg.Account {
		return v.awaitHead()
	}
	t := boot.ThreadTSC()
	r, ok := v.awaitHead()
	v.Cost.Waiting += boot.ThreadTSC() - t
	return r, ok
}

func (v *VM) awaitHead() (*replay.Record, bool) {
	l := v.cfg.Log
	for {
		if b, err := l.ring.Peek(1); err == nil && len(b) > 0 {
			stamp, _ := l.ring.OldestStamp()
			young := l.LagNs - int64(l.now()-stamp)
			// A full log releases the backup whatever the lag: the primary is
			// stalled on it (a lag larger than the log cannot be kept).
			full := l.ring.InFlight() >= uint64(l.ring.Capacity())
			if (young <= 0 && l.ring.InFlight() > l.LagRecords) || full || v.primaryDone() {
				if !replay.Check(b, &v.rec) {
					copy(v.badRecord[:], b) // report() decodes it again for the message
					v.end(causeMalformed, 0, 0)
					return nil, false
				}
				v.haveHead = true
				return &v.rec, true
			}
			if young > lagSleepNs { // the lag says how long: let the CPU idle
				v.Waits++
				idle(young)
				continue
			}
		}
		v.Waits++
		pauseSpin()
	}
}

// lagSleepNs: a backup held back by the lag for longer than this sleeps
// rather than spins (the host's timer tick is 10 ms).
const lagSleepNs = 20_000_000

// idle blocks the vCPU thread for up to ns (at most maxIdleNs) with a raw
// nanosleep: the thread waits in the ring-0 layer, its CPU halts, and the
// Go scheduler is not involved (VM-exit context must not enter it). The
// thread keeps its P meanwhile, so a stop-the-world waits at most maxIdleNs.
func idle(ns int64) {
	ts := syscall.Timespec{Nsec: min(ns, maxIdleNs)}
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

const maxIdleNs = 10_000_000

// primaryDone: once the primary logged its end, the lag no longer holds
// the backup back (there is nothing newer to wait for).
func (v *VM) primaryDone() bool { return v.cfg.Peer != nil && v.cfg.Peer.state > Halted }

// consume releases the head record.
func (v *VM) consume() {
	v.haveHead = false
	v.cfg.Log.ring.Release(1)
	v.Replayed++
}

// replayValue returns the logged value for this exit's read (RDTSC, a port
// that depends on the outside world), checking that the record belongs to
// this landmark.
func (v *VM) replayValue(k replay.Kind, port uint16) (uint64, bool) {
	r, ok := v.head()
	if !ok {
		return 0, false
	}
	if r.Kind != k || r.Seq != v.seq || r.RIP != v.rip() || (k == kindPortIn && r.Port != port) {
		v.diverge(k, port)
		return 0, false
	}
	x := r.Value
	v.consume()
	return x, true
}

// replayEvents applies the primary's inputs logged at this landmark and
// checks its digests.
func (v *VM) replayEvents() {
	for v.state == Running {
		r, ok := v.head()
		if !ok {
			return
		}
		if r.Seq > v.seq {
			return
		}
		if r.Seq < v.seq || r.RIP != v.rip() {
			v.diverge(r.Kind, 0)
			return
		}
		switch r.Kind {
		case kindIRQ:
			v.pc.PIC.PulseIRQ(int(r.Value))
			v.IRQs++
			v.input, v.checkInjection = *r, r.Value3 != replay.Unrecorded
		case kindSerialIn:
			v.pc.Receive(byte(r.Value))
			v.SerialIn++
			v.input, v.checkInjection = *r, r.Value3 != replay.Unrecorded
		case kindDigest:
			regs, mem, out := v.digest()
			if regs != r.Value || mem != r.Value2 || out != r.Value3 {
				v.mine = [3]uint64{regs, mem, out}
				v.diverge(kindDigest, 0)
				return
			}
			v.Verified++
		case kindProgress:
		case kindEnd:
			v.end(causePrimaryEnded, r.Value, 0)
			return
		default: // a value record where none was read: the backup went elsewhere
			v.diverge(r.Kind, 0)
			return
		}
		v.consume()
	}
}

// checkInjected is the backup's check after the injection at a landmark
// with an input record (checkInjection): the interrupt its PIC requested
// and the one it delivered must be the primary's. A wrong or missing input
// shows here, at its own landmark, before the guest's path departs.
func (v *VM) checkInjected(requested, delivered uint64) {
	v.checkInjection = false
	if requested != v.input.Value2 || delivered != v.input.Value3 {
		v.mine[0], v.mine[1] = requested, delivered
		v.interruptMismatch = true
		v.end(causeDivergence, 0, 0)
	}
}

// diverge stops the backup: its execution no longer matches the log. The
// offending record stays in v.rec for the report.
func (v *VM) diverge(expected replay.Kind, port uint16) {
	v.expected, v.expectedPort = expected, port
	v.end(causeDivergence, 0, 0)
}
