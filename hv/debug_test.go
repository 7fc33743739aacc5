package hv

import (
	"strings"
	"testing"
	"time"

	"hindsight/hv/gdb"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// Host tests of the backup's debugger (debug.go): the hand-off between a
// frontend and the vCPU thread, the run modes, and what the backup does
// when its primary fails. A goroutine stands for the vCPU loop: it calls
// boundary where VM.loop does, and "runs" the guest by moving its
// position, one instruction per entry (the machine tests in Bochs cover
// the real entries, guest/dbgtest/debug-bochs.sh).

// fakeVCPU is a backup whose guest advances one instruction per entry and
// makes a landmark every tenth; it ends at landmark end.
type fakeVCPU struct {
	v    *VM
	d    *debugger
	end  uint64
	done chan struct{}
}

func newFakeVCPU(t *testing.T, cfg DebugConfig, fail *failureBox, end uint64) *fakeVCPU {
	t.Helper()
	f := newFakePMU()
	f.vmcs[vmx.GuestRIP] = 0x1000
	v := &VM{cfg: Config{Name: "backup", Clock: ClockSlice}, clock: &sliceCounter{}, m: &Machine{}}
	v.tf.regs, v.tf.mem = f, fakeGuestMem{}
	d := newDebugger(cfg, fail)
	var tsc uint64
	d.threadTSC = func() uint64 { tsc += 100; return tsc }
	v.dbg = d
	if fail != nil {
		fail.notify = append(fail.notify, &d.attention)
	}
	c := &fakeVCPU{v: v, d: d, end: end, done: make(chan struct{})}
	go c.run()
	t.Cleanup(func() {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Error("the fake vCPU did not end")
		}
	})
	return c
}

func (c *fakeVCPU) run() {
	defer close(c.done)
	v, d := c.v, c.d
	for v.end.cause == causeNone {
		if d.attention.Load() {
			d.boundary(v)
		}
		if d.stepping {
			v.tf.done = true // the step executed its instruction
		}
		if v.count++; v.count == 10 {
			v.count, v.seq = 0, v.seq+1
			v.total += 10
			time.Sleep(200 * time.Microsecond) // a guest slow enough to be caught running
		}
		v.hw().vmwrite(vmx.GuestRIP, 0x1000+v.seq*0x10+v.count)
		if v.seq >= c.end {
			v.endVM(causeExitPort, 0, 0)
		}
	}
	v.end.report = EndReport{At: replay.Landmark{Seq: v.seq}, Reason: "guest wrote exit status 0"}
	d.atEnd(v)
}

func (c *fakeVCPU) pos() (seq, count uint64) {
	var s, n uint64
	c.d.Do(func(v *VM) { s, n = v.seq, v.count })
	return s, n
}

// A frontend stops the running backup, reads it on the vCPU's thread,
// steps it one instruction, runs it to a position, and lets it go; a
// session's end lets an ended backup's Run return.
func TestDebuggerHandOff(t *testing.T) {
	c := newFakeVCPU(t, DebugConfig{Wait: true}, nil, 200)
	d := c.d
	if err := d.Do(func(*VM) {}); err != errRunning {
		t.Fatalf("Do on a running backup: %v", err)
	}
	ev, ok := d.Attach(nil)
	if !ok || ev.Reason != gdb.StopInterrupt {
		t.Fatalf("Attach: %+v %v", ev, ok)
	}
	if c.v.Progress().State != Paused {
		t.Errorf("state %v while parked", c.v.Progress().State)
	}
	s0, n0 := c.pos()
	if ev := d.Resume(resumeHow{mode: runStep}, nil); ev.Reason != gdb.StopStep {
		t.Fatalf("step: %+v", ev)
	}
	s1, n1 := c.pos()
	if s1*10+n1 != s0*10+n0+1 {
		t.Errorf("a step went from #%d+%d to #%d+%d", s0, n0, s1, n1)
	}
	to := replay.Landmark{Seq: s1 + 3, Count: 4}
	ev = d.Resume(resumeHow{mode: runTo, target: to, why: "there"}, nil)
	if s, n := c.pos(); s != to.Seq || n != to.Count || ev.Reason != gdb.StopStep || !strings.Contains(ev.Message, "there") {
		t.Fatalf("run to #%d+%d: at #%d+%d, %+v", to.Seq, to.Count, s, n, ev)
	}
	// A continue without breakpoints runs until the frontend interrupts.
	cancel := make(chan struct{})
	got := make(chan gdb.StopEvent)
	go func() { got <- d.Resume(resumeHow{mode: runCont}, cancel) }()
	time.Sleep(5 * time.Millisecond)
	close(cancel)
	if ev := <-got; ev.Reason != gdb.StopInterrupt {
		t.Fatalf("interrupted continue: %+v", ev)
	}
	// Detached, it runs to its end; attached again there, it parks until
	// the session ends.
	d.Detach()
	if ev, _ := d.Attach(nil); ev.Reason != gdb.StopInterrupt && ev.Reason != gdb.StopEnded {
		t.Fatalf("second attach: %+v", ev)
	}
	for {
		ev := d.Resume(resumeHow{mode: runCont}, nil)
		if ev.Reason == gdb.StopEnded {
			if !strings.Contains(ev.Message, "the backup ended at landmark #200") {
				t.Errorf("end message %q", ev.Message)
			}
			break
		}
	}
	if ev := d.Resume(resumeHow{mode: runStep}, nil); ev.Reason != gdb.StopEnded {
		t.Errorf("resuming an ended backup: %+v", ev)
	}
	d.Detach()
}

// What the backup does when its primary fails, by onfail and whether a
// debugger can attach.
func TestDebuggerOnFailure(t *testing.T) {
	failure := func() *Failure {
		var s replay.FinalState
		s[replay.FinalBeforeSeq], s[replay.FinalBeforeCount], s[replay.FinalExact], s[replay.FinalRIP] = 40, 7, 1, 0x1287
		s[replay.FinalTotal] = 407
		return &Failure{Cause: replay.EndTripleFault, At: replay.Landmark{Seq: 41, RIP: 0x1287}, State: s, Reason: "triple fault"}
	}
	for _, c := range []struct {
		name   string
		cfg    DebugConfig
		parkAt func(seq, count uint64) bool // where it waits for a debugger
	}{
		{"debug, with a line: stops where it stands", DebugConfig{OnFail: OnFailDebug, Wait: true},
			func(s, n uint64) bool { return s < 40 }},
		{"replay, with a line: waits just before the failure", DebugConfig{OnFail: OnFailReplay, Wait: true},
			func(s, n uint64) bool { return s == 40 && n == 7 }},
	} {
		var box failureBox
		v := newFakeVCPU(t, c.cfg, &box, 60)
		time.Sleep(2 * time.Millisecond)
		box.publish(failure())
		var ev gdb.StopEvent
		for deadline := time.Now().Add(3 * time.Second); ; {
			parked, _, e, _, _ := v.d.state()
			if parked {
				ev = e
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the backup never waited", c.name)
			}
			time.Sleep(time.Millisecond)
		}
		if s, n := v.pos(); !c.parkAt(s, n) {
			t.Errorf("%s: waits at #%d+%d (%+v)", c.name, s, n, ev)
		}
		v.d.Attach(nil) // a debugger comes and goes: the backup runs to its end
		v.d.Detach()
	}
	// Without a line it waits nowhere: it reaches the failure and goes on
	// to its end (the run must end by itself).
	for _, of := range []OnFail{OnFailDebug, OnFailReplay, OnFailFollow} {
		var box failureBox
		v := newFakeVCPU(t, DebugConfig{OnFail: of}, &box, 60)
		box.publish(failure())
		select {
		case <-v.done:
		case <-time.After(3 * time.Second):
			t.Fatalf("onfail=%v without a line: the backup did not run to its end", of)
		}
	}
}

// Breakpoints and watchpoints share the four debug registers with the
// guest; what does not fit, or cannot be watched, is refused with why.
func TestDebuggerBreakpoints(t *testing.T) {
	c := newFakeVCPU(t, DebugConfig{Wait: true}, nil, 100)
	d := c.d
	d.Attach(nil)
	set := func(k gdb.BreakKind, addr, n uint64, insert bool) error {
		var err error
		d.Do(func(v *VM) { err = d.setBreak(v, breakpoint{kind: k, addr: addr, length: n}, insert) })
		return err
	}
	d.Do(func(v *VM) { v.hw().vmwrite(vmx.GuestDR7, 0x400|1<<2) }) // the guest uses one register
	for i, b := range []breakpoint{{gdb.BreakSoftware, 0x1000, 1}, {gdb.BreakHardware, 0x2000, 1}, {gdb.WatchWrite, 0x3000, 8}} {
		if err := set(b.kind, b.addr, b.length, true); err != nil {
			t.Fatalf("breakpoint %d: %v", i, err)
		}
	}
	if err := set(gdb.WatchAccess, 0x4000, 4, true); err == nil || !strings.Contains(err.Error(), "all four debug registers are taken (the guest's DR7 enables 1") {
		t.Errorf("a fourth: %v", err)
	}
	if err := set(gdb.BreakSoftware, 0x1000, 1, true); err != nil {
		t.Errorf("inserting one again: %v", err)
	}
	if err := set(gdb.BreakSoftware, 0x1000, 1, false); err != nil {
		t.Errorf("removing: %v", err)
	}
	if err := set(gdb.WatchRead, 0x4002, 4, true); err == nil || !strings.Contains(err.Error(), "not aligned") {
		t.Errorf("unaligned watch: %v", err)
	}
	if err := set(gdb.WatchRead, 0x4000, 4, true); err != nil {
		t.Errorf("a watch in the freed register: %v", err)
	}
	d.Detach()
}

func TestParsePosition(t *testing.T) {
	for _, c := range []struct {
		in   string
		want replay.Landmark
		ok   bool
	}{
		{"12", replay.Landmark{Seq: 12}, true}, {"#12+5", replay.Landmark{Seq: 12, Count: 5}, true},
		{"+3", replay.Landmark{Seq: 3}, true}, {"0x10", replay.Landmark{Seq: 16}, true},
		{"x", replay.Landmark{}, false}, {"3+y", replay.Landmark{}, false},
	} {
		got, err := parsePosition(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("%q: %v %v", c.in, got, err)
		}
	}
}
