package hv

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"hindsight/boot"
	"hindsight/guest/image"
	"hindsight/hv/capture"
	"hindsight/hv/gdb"
	"hindsight/hv/replay"
)

// Offline replay: a capture file (capturefile.go) booted on any machine
// with hindsight. One VM restores the capture's snapshot, replays the
// captured log as a backup replays its primary's, and stops just before
// the failure the capture ends in, where gdb can look at it, step into
// the failure, and run backwards (it takes snapshots of its own).

// OfflineConfig is what an offline replay runs and how.
type OfflineConfig struct {
	Memory    boot.GuestRegion // guest memory: at least the capture's guest RAM
	CPU       int
	Capture   []byte // the capture file
	Snapshots SnapConfig
	GDB       io.ReadWriter // the line a gdb stub serves, or nil
	GDBTrace  io.Writer
	Attach    string // how to attach, for the console
}

// Offline is a capture being replayed.
type Offline struct {
	cfg      OfflineConfig
	VM       *VM
	Log      *replay.Log
	Header   *capture.Header
	Failure  *Failure
	Clock    ClockKind
	SnapWhy  string
	Restored capture.Stats // what the capture's memory held
	fail     failureBox
}

// NewOffline checks a capture against this machine, restores its
// snapshot into a new VM and fills a log with its records.
func (m *Machine) NewOffline(cfg OfflineConfig) (*Offline, error) {
	h, err := capture.ReadHeader(bytes.NewReader(cfg.Capture))
	if err != nil {
		return nil, err
	}
	if cfg.Memory.Size < h.GuestRAM {
		return nil, fmt.Errorf("hv: the capture's guest has %d MiB of RAM and this boot has %d MiB of guest memory: boot with guestmem=%dM or more",
			h.GuestRAM>>20, cfg.Memory.Size>>20, h.GuestRAM>>20)
	}
	if err := capture.CheckCompat(h, h.GuestRAM, m.CPUIDFeatures()); err != nil {
		return nil, fmt.Errorf("hv: this capture cannot replay here: %w", err)
	}
	o := &Offline{cfg: cfg, Header: h, Clock: ClockKind(h.Clock)}
	if err := o.checkClock(m); err != nil {
		return nil, err
	}
	ring := DefaultRing
	for uint64(ring) <= h.Records {
		ring *= 2
	}
	mem, err := physRegion(ringSize(ring))
	if err != nil {
		return nil, err
	}
	if o.Log, err = replay.NewLog(mem, ring, replay.Lag{}); err != nil {
		return nil, fmt.Errorf("hv: %w", err)
	}
	rep := newReplayer(o.Log)
	var st vcpuState
	var c *capture.Capture
	region := boot.GuestRegion{Base: cfg.Memory.Base, Size: h.GuestRAM}
	vmc := Config{Name: "replay", CPU: cfg.CPU, RAM: region, Guest: image.Spec{Name: h.KernelName},
		Inputs: rep, Clock: o.Clock, PanicEnds: true,
		Restore: func(ram []byte) error {
			clear(ram)
			c, err = capture.Read(bytes.NewReader(cfg.Capture), func(pfn uint64, p *[capture.PageSize]byte) error {
				copy(ram[pfn*pageSize:], p[:])
				return nil
			})
			if err != nil {
				return err
			}
			return decodeState(c.State, &st)
		}}
	if o.VM, err = m.NewVM(vmc); err != nil {
		return nil, err
	}
	o.Restored = c.Stats
	// The log of the capture, as the primary wrote it: its stamps are
	// irrelevant (no lag), its landmarks absolute.
	w := o.Log.Writer()
	f := &Failure{Cause: h.FailCause, Status: h.FailStatus, At: h.FailAt, Reason: h.FailText}
	var final replay.FinalState
	for i := 0; i < c.NumRecords(); i++ {
		r := c.Record(i)
		if r.Kind == replay.KindFinal {
			final.Apply(&r)
		}
		if w.Write(&r, 0) != replay.Written {
			return nil, fmt.Errorf("hv: the log of %d records does not fit a ring of %d", h.Records, ring)
		}
	}
	w.Close()
	f.State = final
	st.logPos = 0 // the capture's first record is this log's first
	o.VM.startState = &st
	if h.FailText != "" {
		o.Failure = f
		o.fail.publish(f)
	}
	o.SnapWhy = o.VM.enableSnapshots(cfg.Snapshots)
	d := newDebugger(DebugConfig{OnFail: OnFailReplay, Wait: cfg.GDB != nil, Attach: cfg.Attach}, &o.fail)
	d.rep = rep
	o.VM.dbg = d
	return o, nil
}

// checkClock makes sure this machine counts as the capture's clock did.
func (o *Offline) checkClock(m *Machine) error {
	switch o.Clock {
	case ClockExit:
		return nil
	case ClockSlice, ClockBranch:
		p := m.ProbeClock(o.cfg.CPU, o.cfg.Memory)
		err := p.Slices
		if o.Clock == ClockBranch {
			err = p.Branches
			branchStep = p.Single
		}
		if err != nil {
			return fmt.Errorf("hv: the capture was recorded on the %v clock, which this machine cannot run: %w", o.Clock, err)
		}
		return nil
	}
	return fmt.Errorf("hv: the capture names clock %d, which this build does not know", o.Clock)
}

// Run replays the capture and returns the verdict: IDENTICAL if the VM
// met the captured failure where and as the primary did, every digest
// on the way matching.
func (o *Offline) Run() Verdict {
	if o.cfg.GDB != nil {
		go func() {
			t := &BackupTarget{o.VM}
			for {
				if err := gdb.Serve(o.cfg.GDB, t, gdb.Config{Trace: o.cfg.GDBTrace}); err != nil {
					fmt.Printf("hv: gdb: %v\n", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	o.VM.Run()
	e := o.VM.End()
	switch e.Kind {
	case EndedDiverged:
		return Verdict{VerdictDiverged, e.Reason}
	case EndedFailed:
		return Verdict{VerdictFailed, "the replay failed: " + e.Reason}
	case EndedLost:
		return Verdict{VerdictLost, e.Reason}
	}
	s := o.VM.Stats()
	return Verdict{VerdictIdentical, fmt.Sprintf("the replay reached landmark %v (%s) as the primary did; %d digests matched, %d records replayed",
		e.At, e.Reason, s.Digests, s.Records)}
}

// restoreStart loads the VM's start state, if it has one (vCPU thread,
// VMCS current, before the first entry).
func (v *VM) restoreStart() error {
	if v.startState == nil {
		return nil
	}
	return v.startState.load(v)
}
