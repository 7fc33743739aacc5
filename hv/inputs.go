package hv

import (
	"math/bits"
	"sync/atomic"
	"syscall"
	"unsafe"

	"hindsight/boot"
	"hindsight/hv/dev"
)

// Inputs is where a VM's non-deterministic inputs come from, chosen once
// when the VM is made: the outside world (live, a VM alone), the outside
// world with every input logged (recorder, the primary), or the primary's
// log (replayer, the backup). The exit handlers ask it for what the guest
// cannot compute itself, and nothing else in the exit path knows which
// role a VM has. The methods run in VM-exit context and report trouble by
// ending the VM (VM.endVM).
//
// The inputs are few because the devices are deterministic (package
// hv/dev): the TSC an RDTSC reads, the device time (which moves the PIT
// and the RTC and so makes their interrupts), and the bytes typed on the
// console.
type Inputs interface {
	// tsc returns the guest TSC for the RDTSC at this landmark.
	tsc(v *VM) (uint64, bool)
	// deviceTime returns the device time to bring the devices to before
	// the guest accesses a time-dependent port at this landmark.
	deviceTime(v *VM) (uint64, bool)
	// poll applies the inputs due at this landmark, and reports whether
	// it wants the landmark's outcome (outcome is called only then).
	poll(v *VM) bool
	// stop reports whether an asynchronous landmark is a stop where the
	// guest may be given an interrupt: any for a VM taking live inputs
	// (a primary records the stop if it does), only the primary's
	// recorded stops for a backup.
	stop(v *VM) bool
	// halt returns when the guest, halted with interrupts on, may have an
	// interrupt (or ends the VM when none can ever come).
	halt(v *VM)
	// outcome learns the interrupt delivered at the coming entry (or
	// NoVector); the interrupt the guest's PIC requested after this
	// landmark's inputs follows from it (VM.requested).
	outcome(v *VM, delivered uint64)
	// budget is asked before every entry: how many TSC ticks the vCPU may
	// run before the inputs want it back (time-driven inputs), and the
	// guest progress since the landmark at which it must stop (an input
	// to replay there), or noStop.
	budget(v *VM) (ticks, stop uint64)
	// finish is told that the VM ended (once, not in VM-exit context).
	finish(v *VM)
}

const noStop = ^uint64(0)

// world is the outside world as a VM that takes live inputs sees it: the
// host's time and the host console.
type world struct {
	tsc0, tscHz uint64 // time base: TSC at device time 0 (shared by a primary and its backup)
	// The next device interrupt: its device time and host TSC, taken
	// from the devices only when they may have changed (VM.devicesChanged).
	next, nextTSC uint64
	seen          uint64 // VM.devicesChanged when next was taken
	console       bool   // the host console's input goes to this VM
	nextPoll      uint64 // TSC of the next look at the console
	inByte        byte
	inPending     bool        // inByte waits for the UART to take it
	src           *consoleMux // where console input comes from: nil, the UART itself (boot.ConsoleRead)
}

const serialPollNs = 1_000_000 // how often a live VM looks for console input

// newWorld returns the world of a VM; its time base starts now (a pair
// sets it again when both replicas start).
func newWorld(console bool) world {
	return world{tsc0: boot.TSC(), tscHz: boot.ReadStats().TSCHz, console: console, seen: ^uint64(0)}
}

// deviceTimeAt is the device time (PIT input-clock ticks since tsc0) at
// host TSC t.
func (w *world) deviceTimeAt(t uint64) uint64 {
	hi, lo := bits.Mul64(t-w.tsc0, dev.PITHz)
	q, _ := bits.Div64(hi%w.tscHz, lo, w.tscHz)
	return q
}

// tscAt is the host TSC at device time d.
func (w *world) tscAt(d uint64) uint64 {
	hi, lo := bits.Mul64(d, w.tscHz)
	q, _ := bits.Div64(hi%dev.PITHz, lo, dev.PITHz)
	return w.tsc0 + q
}

// nextEvent brings next and nextTSC up to date with the devices (inlined:
// on most exits they have not changed).
func (w *world) nextEvent(v *VM) {
	if w.seen != v.devicesChanged {
		w.takeNextEvent(v)
	}
}

func (w *world) takeNextEvent(v *VM) {
	w.seen = v.devicesChanged
	w.next, w.nextTSC = v.pc.NextEvent(), noStop
	if w.next != dev.NoEvent {
		w.nextTSC = w.tscAt(w.next)
	}
}

// due returns the device time to advance the devices to if one of them
// raises an interrupt by host TSC t.
func (w *world) due(v *VM, t uint64) (uint64, bool) {
	w.nextEvent(v)
	if t < w.nextTSC {
		return 0, false
	}
	next := w.next
	if now := w.deviceTimeAt(t); now >= next {
		// How late the hypervisor noticed the event, in device time: the
		// guest's interrupt latency, less the delivery that follows.
		v.stats.Due++
		v.stats.Late += now - next
		v.stats.LateMax = max(v.stats.LateMax, now-next)
		return now, true
	}
	return 0, false
}

// serial returns a byte typed on the host console, when the guest's UART
// can take one (else it waits in inByte).
func (w *world) serial(v *VM, t uint64) (byte, bool) {
	if !w.console {
		return 0, false
	}
	if t >= w.nextPoll {
		w.nextPoll = t + w.tscHz*serialPollNs/1e9
		if !w.inPending {
			if w.src != nil {
				w.inByte, w.inPending = w.src.read()
			} else {
				w.inByte, w.inPending = boot.ConsoleRead()
			}
		}
	}
	if w.inPending && v.pc.CanReceive() {
		w.inPending = false
		return w.inByte, true
	}
	return 0, false
}

// quiet reports whether nothing from the outside can be due: no device
// will interrupt and no console input comes to this VM (the common case
// of a guest that has not programmed its timer yet, and the exit
// benchmark's).
func (w *world) quiet(v *VM) bool {
	w.nextEvent(v)
	return w.nextTSC == noStop && !w.console
}

// ticks returns the TSC ticks from t until the next device interrupt (the
// largest value if none will come).
func (w *world) ticks(v *VM, t uint64) uint64 {
	w.nextEvent(v)
	if w.nextTSC > t {
		return w.nextTSC - t
	}
	return 0
}

// wait is HLT with interrupts on, for a VM with live inputs: poll (through
// the VM's Inputs, so a primary logs what it finds) until the guest's PIC
// has an interrupt for it. A guest that nothing can ever wake (no device
// will interrupt and no console input comes to it) has ended, as has one
// the host asks to stop.
func (w *world) wait(v *VM) {
	var t0 uint64
	if v.cfg.Account {
		t0 = boot.ThreadTSC()
	}
	for {
		v.in.poll(v) // (the outcome comes with the HLT's landmark)
		if _, ok := v.pc.PIC.PendingVector(); ok || v.end.cause != causeNone {
			break
		}
		if v.stopRequest.Load() {
			v.endVM(causeStopped, 0, 0)
			break
		}
		t := boot.TSC()
		left := w.ticks(v, t)
		if left == noStop && !w.console {
			v.endVM(causeHalted, 1, 0)
			break
		}
		v.stats.Waits++
		if ns := left / (w.tscHz / 1e6) * 1000; ns > sleepNs {
			idle(int64(ns - sleepNs/2))
		} else {
			pauseSpin()
		}
	}
	if v.cfg.Account {
		v.stats.Cost.Waiting += boot.ThreadTSC() - t0
	}
}

// live is the Inputs of a VM alone: the outside world, nothing logged.
type live struct{ world }

func (l *live) tsc(v *VM) (uint64, bool) { return boot.TSC() - l.tsc0, true }

func (l *live) deviceTime(v *VM) (uint64, bool) { return l.deviceTimeAt(boot.TSC()), true }

func (l *live) poll(v *VM) bool {
	t := boot.TSC()
	if now, ok := l.due(v, t); ok {
		v.advance(now)
	}
	if b, ok := l.serial(v, t); ok {
		v.receive(b)
	}
	// Only while nothing at all can come: skipping polls until the next
	// deadline delayed a Linux primary's ticks by up to half a second.
	if l.quiet(v) {
		v.inputsQuiet, v.pollSeq = true, noStop
	}
	return false
}

func (l *live) halt(v *VM) { l.wait(v) }

func (l *live) stop(v *VM) bool { return true }

func (l *live) outcome(v *VM, delivered uint64) {}

func (l *live) budget(v *VM) (uint64, uint64) { return l.ticks(v, boot.TSC()), noStop }

func (l *live) finish(v *VM) {}

// NewLive returns the Inputs of a VM that runs alone: the host's time
// (from now) and, with console, the host console's input.
func NewLive(console bool) Inputs { return &live{newWorld(console)} }

// sleepNs: a wait longer than this sleeps rather than spins (the host's
// timer tick is 10 ms, so a sleep may last that much longer).
const sleepNs = 20_000_000

// idle blocks the vCPU thread for up to ns (at most maxIdleNs) with a raw
// nanosleep: the thread waits in the ring-0 layer, its CPU halts, and the
// Go scheduler is not involved (VM-exit context must not enter it). The
// thread keeps its P meanwhile, so a stop-the-world waits at most maxIdleNs.
func idle(ns int64) {
	ts := syscall.Timespec{Nsec: min(ns, maxIdleNs)}
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

const maxIdleNs = 10_000_000

// pauseSpin is one step of a busy wait. It does not execute PAUSE:
// Bochs 2.7 turns every PAUSE into a real-time sleep of the emulator (a run
// of the replay test took twice as long with it), and the vCPU threads own
// their cores anyway.
func pauseSpin() {
	for i := 0; i < 64; i++ {
		spinSink.Add(1)
	}
}

// spinSink keeps the busy-wait loop from being optimized away.
var spinSink atomic.Uint64
