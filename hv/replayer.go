package hv

import (
	"hindsight/boot"
	"hindsight/hv/replay"
)

// replayer is the backup's Inputs: every input comes from the primary's
// log, at the landmark where the primary took it; the backup checks as it
// goes that it is where the log says the primary was.

type replayer struct {
	log    *replay.Log
	rd     *replay.Reader
	tsc0   uint64 // the log's time base
	tscHz  uint64
	input  replay.Record // the landmark's input record whose outcome is checked
	check  bool
	div    divergence
	primed bool              // the POSITION of the current asynchronous stop was checked
	final  replay.FinalState // the primary's final state, as the log gave it (KindFinal)
	nfinal int               // KindFinal records taken
}

// divergence is what the backup found where it left the primary's path,
// for the report (report.go) to put in words.
type divergence struct {
	what divergenceKind
	rec  replay.Record // the log's record there
	want replay.Kind   // the record the backup needed, if that is the point
	mine [3]uint64     // the backup's own values
}

type divergenceKind uint8

const (
	divPlace      divergenceKind = iota + 1 // the next record is for another landmark or RIP
	divKind                                 // a record of another kind than the exit needs
	divDigest                               // state digests differ
	divInterrupts                           // the interrupt requested or delivered differs
	divPosition                             // RCX or the register fingerprint differs at a stop
	divEnd                                  // the guests ended differently
)

func newReplayer(log *replay.Log) *replayer {
	return &replayer{log: log, rd: log.Reader(), tsc0: boot.TSC(), tscHz: boot.ReadStats().TSCHz}
}

func (p *replayer) now() uint64 { return (boot.TSC() - p.tsc0) * 1000 / (p.tscHz / 1e6) }

// head returns the next record of the log, waiting until the primary has
// logged one and the lag allows taking it. It returns nil, having ended
// the VM, if the log is malformed or ended, or the VM is asked to stop.
func (p *replayer) head(v *VM) *replay.Record {
	if h := p.rd.Held(); h != nil {
		return h // the common case, before any call or clock read
	}
	h, st := p.await(v, false)
	switch st {
	case replay.Ready:
		return h
	case replay.Malformed:
		v.endVM(causeMalformed, 0, 0)
	case replay.Ended:
		v.endVM(causeLogEnded, 0, 0)
	default: // asked to stop
		v.endVM(causeStopped, 0, 0)
	}
	return nil
}

// await waits until the log's next record is there (Ready) or the log
// has failed or ended, or the VM is asked to stop (Waiting). At a loop
// boundary (outside VM-exit context) it parks the vCPU for a debugger's
// stop request meanwhile: the backup may wait long there (a primary idle
// in HLT logs nothing). The wait counts as Cost.Waiting. The callers
// ask Reader.Held first: the record is held at most exits.
func (p *replayer) await(v *VM, boundary bool) (*replay.Record, replay.HeadState) {
	var t0 uint64
	waited := false
	for {
		h, st, wait := p.rd.Head(p.now())
		if st != replay.Waiting || v.stopRequest.Load() {
			if waited && v.cfg.Account {
				v.stats.Cost.Waiting += boot.ThreadTSC() - t0
			}
			return h, st
		}
		if d := v.dbg; boundary && d != nil && d.stopReq.Load() {
			d.boundary(v)
			continue
		}
		if !waited {
			waited = true
			if v.cfg.Account {
				t0 = boot.ThreadTSC()
			}
		}
		v.stats.Waits++
		if wait > sleepNs { // the lag says how long: let the CPU idle
			idle(int64(wait))
		} else {
			pauseSpin()
		}
	}
}

// place says where the record h lies from the VM's current landmark.
type place uint8

const (
	later    place = iota // after it: nothing (more) to apply here
	here                  // at it: apply h
	opened                // h was the POSITION that opens this stop, taken
	departed              // before it, or at another RIP: the VM has diverged
)

func (p *replayer) place(v *VM, h *replay.Record) place {
	l := replay.Landmark{Seq: v.seq, Count: v.count, RIP: v.rip()}
	switch {
	case l.Before(h.Landmark()):
		return later
	case h.Seq == v.seq && h.Count == v.count && v.count != 0 && v.clock.stepwise() &&
		(h.RIP != l.RIP || h.Kind == replay.KindPosition && h.Value != v.regs.RCX):
		return later // the stop lies further on within this count: step to it
	case h.Seq != v.seq || h.Count != v.count || h.RIP != l.RIP:
		p.diverge(v, divPlace, h, 0)
		return departed
	}
	if v.count != 0 && !p.primed {
		// An asynchronous stop opens with the primary's position there.
		if h.Kind != replay.KindPosition {
			p.diverge(v, divKind, h, replay.KindPosition)
			return departed
		}
		if fp := v.fingerprint(); h.Value != v.regs.RCX || h.Value2 != fp {
			p.div.mine = [3]uint64{v.regs.RCX, fp, 0}
			p.diverge(v, divPosition, h, 0)
			return departed
		}
		p.primed = true
		p.consume(v)
		v.stats.Stops++
		return opened
	}
	return here
}

func (p *replayer) consume(v *VM) {
	p.rd.Consume()
	v.stats.Records++
}

// value takes the record of kind k that this synchronous exit reads.
func (p *replayer) value(v *VM, k replay.Kind) (uint64, bool) {
	h := p.head(v)
	if h == nil {
		return 0, false
	}
	if h.Kind != k || h.Seq != v.seq || h.Count != 0 || h.RIP != v.rip() {
		p.diverge(v, divKind, h, k)
		return 0, false
	}
	x := h.Value
	if k.IsInput() {
		p.input, p.check = *h, h.Value3 != replay.Unrecorded
	}
	p.consume(v)
	return x, true
}

func (p *replayer) tsc(v *VM) (uint64, bool) { return p.value(v, replay.KindRDTSC) }

func (p *replayer) deviceTime(v *VM) (uint64, bool) { return p.value(v, replay.KindClock) }

// poll applies the records logged at this landmark, in log order.
func (p *replayer) poll(v *VM) bool {
	p.primed = false
	for {
		h := p.head(v)
		if h == nil {
			return false
		}
		switch p.place(v, h) {
		case later:
			// Nothing is logged before h's landmark: the synchronous
			// landmarks up to it need no poll.
			if h.Seq > v.seq {
				v.inputsQuiet, v.pollSeq = true, h.Seq
			}
			return p.check
		case departed:
			return p.check
		case opened:
			continue // the stop's records follow its POSITION
		}
		switch h.Kind {
		case replay.KindClock:
			v.advance(h.Value)
			p.input, p.check = *h, h.Value3 != replay.Unrecorded
		case replay.KindSerialIn:
			v.receive(byte(h.Value))
			p.input, p.check = *h, h.Value3 != replay.Unrecorded
		case replay.KindDigest:
			cpu, ram, devs := v.digest()
			if cpu != h.Value || ram != h.Value2 || devs != h.Value3 {
				p.div.mine = [3]uint64{cpu, ram, devs}
				p.diverge(v, divDigest, h, 0)
				return false
			}
			v.stats.Digests++
		case replay.KindProgress:
		case replay.KindFinal:
			p.takeFinal(h)
		case replay.KindEnd:
			// The primary's guest ended here in a way the backup does not
			// reach by itself (it was stopped, or the hypervisor failed it).
			p.div.rec = *h
			v.endVM(causePrimaryEnded, h.Value, h.Value2)
			return false
		default: // a value record where none was read: the backup went elsewhere
			p.diverge(v, divKind, h, 0)
			return false
		}
		p.consume(v)
	}
}

// halt: the log has the inputs that woke the primary, at this landmark.
func (p *replayer) halt(v *VM) {}

// stop: a POSITION record opened this asynchronous landmark.
func (p *replayer) stop(v *VM) bool { return p.primed }

// outcome checks the landmark's interrupt outcome against the primary's:
// a wrong or missing input shows here, before the guest's path departs.
func (p *replayer) outcome(v *VM, delivered uint64) {
	if !p.check {
		return
	}
	p.check = false
	requested := v.requested(delivered)
	if requested != p.input.Value2 || delivered != p.input.Value3 {
		p.div.mine = [3]uint64{requested, delivered, 0}
		p.diverge(v, divInterrupts, &p.input, 0)
	}
}

// budget stops the guest where the next record is, if that lies before
// the next synchronous exit.
func (p *replayer) budget(v *VM) (uint64, uint64) {
	h := p.head(v)
	if h == nil || h.Seq != v.seq || h.Count < v.count || h.Count == v.count && !v.clock.stepwise() {
		return noStop, noStop
	}
	return noStop, h.Count
}

// finish: a backup whose guest ended by itself must find the same end in
// the primary's log (after the primary's final digest); then the backup
// stops reading, which lets a primary still running go on alone.
func (p *replayer) finish(v *VM) {
	defer p.rd.Close()
	switch v.end.cause {
	case causeExitPort, causeTripleFault, causeHalted, causeEPTViolation, causeUnhandledExit, causeUnsupportedIO, causeEntryFailed:
	default:
		return
	}
	for {
		h := p.head(v)
		if h == nil {
			return
		}
		switch {
		case h.Kind == replay.KindDigest && h.Seq == v.seq && h.Count == v.count:
			cpu, ram, devs := v.digest()
			if cpu != h.Value || ram != h.Value2 || devs != h.Value3 {
				p.div.mine = [3]uint64{cpu, ram, devs}
				p.diverge(v, divDigest, h, 0)
				return
			}
			v.stats.Digests++
			p.consume(v)
		case h.Kind == replay.KindFinal && h.Seq == v.seq && h.Count == v.count:
			p.takeFinal(h)
			p.consume(v)
		case h.Kind == replay.KindEnd && h.Seq == v.seq && h.Count == v.count &&
			h.Value == uint64(v.end.status) && replay.EndCause(h.Value2) == v.end.cause.endCause():
			p.consume(v)
			return
		default:
			p.div.mine = [3]uint64{uint64(v.end.cause.endCause()), uint64(v.end.status), 0}
			p.diverge(v, divEnd, h, replay.KindEnd)
			return
		}
	}
}

// takeFinal keeps a word pair of the primary's final state.
func (p *replayer) takeFinal(h *replay.Record) {
	if p.final.Apply(h) {
		p.nfinal++
	}
}

// diverge ends the backup: its execution no longer matches the log.
func (p *replayer) diverge(v *VM, what divergenceKind, h *replay.Record, want replay.Kind) {
	p.div.what, p.div.rec, p.div.want = what, *h, want
	v.endVM(causeDivergence, 0, 0)
}
