package hv

import (
	"strings"
	"testing"

	"hindsight/hv/replay"
	"hindsight/ringbuf"
)

// Host tests of the replay engine: a recorder and a replayer joined by a
// Log, driven through the same Inputs methods the exit handlers call, on
// VMs that never enter a guest (synchronous landmarks only: the
// asynchronous ones read the VMCS, which the machine tests cover).

const testTSCHz = 3_000_000_000

func testPair(t *testing.T, records int, lag replay.Lag, hook Corruption) (p, b *VM, rec *recorder, rep *replayer) {
	t.Helper()
	log, err := replay.NewLog(ringbuf.AlignedRegion(ringbuf.Size(replay.RecordSize, records)), records, lag)
	if err != nil {
		t.Fatal(err)
	}
	w := world{tscHz: testTSCHz}
	rec = newRecorder(log, w, 0, hook)
	rep = &replayer{log: log, rd: log.Reader(), tscHz: testTSCHz}
	p, b = testVM("primary", rec), testVM("backup", rep)
	return p, b, rec, rep
}

func testVM(name string, in Inputs) *VM {
	v := &VM{cfg: Config{Name: name}, in: in}
	v.pc.Init(fixedTestRTC)
	v.out.init(name)
	return v
}

const fixedTestRTC = 946684800

// at puts a VM at synchronous landmark seq with the given RIP.
func at(v *VM, seq, rip uint64) { v.seq, v.count, v.regs.ExitRIP = seq, 0, rip }

// The backup reads exactly the TSC values and device times the primary
// logged, at the same landmarks, and the outcome of an input landmark is
// checked against the primary's.
func TestRecordReplay(t *testing.T) {
	p, b, rec, rep := testPair(t, 64, replay.Lag{}, Corruption{})
	var tscs, times []uint64
	for i := uint64(1); i <= 20; i++ {
		at(p, i, 0x1000+i)
		if i%2 == 0 {
			x, _ := rec.tsc(p)
			tscs = append(tscs, x)
		} else {
			x, _ := rec.deviceTime(p)
			times = append(times, x)
			rec.outcome(p, replay.NoVector)
		}
	}
	for i := uint64(1); i <= 20; i++ {
		at(b, i, 0x1000+i)
		var x uint64
		var ok bool
		if i%2 == 0 {
			x, ok = rep.tsc(b)
			if !ok || x != tscs[0] {
				t.Fatalf("landmark %d: TSC %d %v, want %d (%s)", i, x, ok, tscs[0], b.end.report.Reason)
			}
			tscs = tscs[1:]
		} else {
			x, ok = rep.deviceTime(b)
			if !ok || x != times[0] {
				t.Fatalf("landmark %d: device time %d %v, want %d", i, x, ok, times[0])
			}
			times = times[1:]
			rep.outcome(b, replay.NoVector)
		}
		if b.end.cause != causeNone {
			t.Fatalf("landmark %d: ended: %d", i, b.end.cause)
		}
	}
	// The same input with another outcome on the backup: reported at its
	// landmark.
	at(p, 21, 0x2000)
	rec.deviceTime(p)
	rec.outcome(p, replay.VectorCode(0x20))
	at(b, 21, 0x2000)
	rep.deviceTime(b)
	rep.outcome(b, replay.NoVector)
	if b.end.cause != causeDivergence || rep.div.what != divInterrupts {
		t.Fatalf("a different interrupt outcome: cause %d, divergence %d", b.end.cause, rep.div.what)
	}
}

// A backup at another RIP, or reading a record of another kind, diverges.
func TestReplayDivergence(t *testing.T) {
	for _, c := range []struct {
		name string
		rip  uint64
		read func(*replayer, *VM)
		want divergenceKind
	}{
		{"rip", 0x1001, func(r *replayer, v *VM) { r.tsc(v) }, divKind},
		{"kind", 0x1000, func(r *replayer, v *VM) { r.deviceTime(v) }, divKind},
		{"value where none is read", 0x1000, func(r *replayer, v *VM) { r.poll(v) }, divKind},
	} {
		p, b, rec, rep := testPair(t, 16, replay.Lag{}, Corruption{})
		at(p, 5, 0x1000)
		rec.tsc(p)
		at(b, 5, c.rip)
		c.read(rep, b)
		if b.end.cause != causeDivergence || rep.div.what != c.want {
			t.Errorf("%s: cause %d, divergence %d", c.name, b.end.cause, rep.div.what)
		}
	}
	// A backup that has passed the primary's landmark.
	p, b, rec, rep := testPair(t, 16, replay.Lag{}, Corruption{})
	at(p, 5, 0x1000)
	rec.deviceTime(p)
	rec.outcome(p, replay.NoVector)
	at(b, 6, 0x1000)
	rep.poll(b)
	if b.end.cause != causeDivergence || rep.div.what != divPlace {
		t.Errorf("passed landmark: cause %d, divergence %d", b.end.cause, rep.div.what)
	}
}

// Each way the log can break reaches the backup as its documented end,
// and nothing waits forever.
func TestBrokenLog(t *testing.T) {
	for _, c := range []struct {
		hook  Corruption
		cause cause
		text  string
	}{
		{Corruption{N: 3, Fault: FaultCRC}, causeMalformed, "bad CRC"},
		{Corruption{N: 3, Fault: FaultKind}, causeMalformed, "unknown kind 127"},
		{Corruption{N: 3, Fault: FaultTruncate}, causeLogEnded, "without an end record"},
	} {
		p, b, rec, rep := testPair(t, 16, replay.Lag{}, c.hook)
		for i := uint64(1); i <= 5; i++ {
			at(p, i, 0x1000)
			rec.tsc(p)
		}
		p.end.cause = causeExitPort
		rec.finish(p)
		for i := uint64(1); i <= 5 && b.end.cause == causeNone; i++ {
			at(b, i, 0x1000)
			rep.tsc(b)
		}
		if b.end.cause != c.cause {
			t.Errorf("%v: backup cause %d, want %d", c.hook, b.end.cause, c.cause)
			continue
		}
		if c.cause == causeMalformed {
			var r replay.Record
			if err := replay.Decode(rep.rd.Bad()[:], &r); err == nil || !strings.Contains(err.Error(), c.text) {
				t.Errorf("%v: %v", c.hook, err)
			}
		}
	}
}

// The primary's end reaches the backup: END at the primary's landmark
// stops a backup that cannot reach that end by itself (stopped by the
// host), and a backup whose guest ends by itself must find the same end
// in the log.
func TestEnds(t *testing.T) {
	p, b, rec, rep := testPair(t, 16, replay.Lag{}, Corruption{})
	at(p, 7, 0x3000)
	p.endVM(causeStopped, 0, 0)
	rec.finish(p)
	at(b, 7, 0x3000)
	rep.poll(b)
	if b.end.cause != causePrimaryEnded || replay.EndCause(b.end.info[1]) != replay.EndStopped {
		t.Fatalf("backup cause %d, info %v", b.end.cause, b.end.info)
	}

	p, b, rec, rep = testPair(t, 16, replay.Lag{}, Corruption{})
	at(p, 9, 0x4000)
	p.end.status = 3
	p.endVM(causeExitPort, 3, 0)
	rec.finish(p)
	at(b, 9, 0x4000)
	b.end.status = 4 // another exit status: the guests ended differently
	b.endVM(causeExitPort, 4, 0)
	rep.finish(b)
	if b.end.cause != causeDivergence || rep.div.what != divEnd {
		t.Fatalf("a different end: cause %d, divergence %d", b.end.cause, rep.div.what)
	}
}

// Once the backup stops, the primary goes on unprotected instead of
// waiting for room in a full log.
func TestPrimaryGoesOnAlone(t *testing.T) {
	p, b, rec, rep := testPair(t, 4, replay.Lag{}, Corruption{})
	at(b, 1, 0)
	b.endVM(causeDivergence, 0, 0)
	rep.finish(b) // closes the reader
	for i := uint64(1); i <= 100; i++ {
		at(p, i, 0x1000)
		rec.tsc(p)
	}
	if !rec.unprotected || p.stats.Records != 0 || p.stats.Dropped != 1 {
		t.Fatalf("unprotected %v, %d records, %d dropped", rec.unprotected, p.stats.Records, p.stats.Dropped)
	}
}

// The lag holds records back: a backup waiting for the lag with the
// primary gone on ends when the log ends.
func TestReplayWaitsForTheLog(t *testing.T) {
	p, b, rec, rep := testPair(t, 16, replay.Lag{Records: 1000}, Corruption{})
	at(p, 1, 0x1000)
	x, _ := rec.tsc(p)
	done := make(chan uint64)
	go func() {
		at(b, 1, 0x1000)
		y, _ := rep.tsc(b)
		done <- y
	}()
	p.endVM(causeExitPort, 0, 0)
	rec.finish(p) // closes the log: the lag no longer holds the backup
	if y := <-done; y != x {
		t.Fatalf("TSC %d, want %d", y, x)
	}
}

// afterAll is a time on the log's clock after every stamp of a test.
const afterAll = ^uint64(0) / 2

// An input record waits, unpublished, for its landmark's outcome (the
// backup must not take it without), then goes with it; a record of
// another kind is published at once.
func TestRecorderStagesInputs(t *testing.T) {
	p, _, rec, _ := testPair(t, 16, replay.Lag{}, Corruption{})
	at(p, 1, 0x1000)
	rec.tsc(p)
	if w := rec.log.Status(0).Written; w != 1 {
		t.Fatalf("RDTSC record: %d published, want 1", w)
	}
	at(p, 2, 0x1002)
	rec.deviceTime(p)
	if w := rec.log.Status(0).Written; w != 1 {
		t.Fatalf("input record published before its outcome: %d records", w)
	}
	rec.outcome(p, replay.VectorCode(0x20))
	if w := rec.log.Status(0).Written; w != 2 {
		t.Fatalf("after the outcome: %d published, want 2", w)
	}
	rd := rec.log.Reader()
	rd.Head(afterAll) // the RDTSC record
	rd.Consume()
	h, st, _ := rd.Head(afterAll)
	if st != replay.Ready || h.Kind != replay.KindClock || h.Value2 != replay.VectorCode(0x20) || h.Value3 != replay.VectorCode(0x20) {
		t.Fatalf("input record: %v %v", st, h)
	}
}

// A primary that finds the log full while input records wait for their
// outcome publishes them first (without it), so that a backup that has
// read everything else can make room; it does not wait on itself.
func TestRecorderFullWithStagedInputs(t *testing.T) {
	p, _, rec, _ := testPair(t, 4, replay.Lag{}, Corruption{})
	at(p, 1, 0x1000)
	for i := 0; i < 4; i++ {
		rec.deviceTime(p) // a HLT's wait collects ticks before its outcome
	}
	if w := rec.log.Status(0).Written; w != 0 {
		t.Fatalf("%d published before the outcome", w)
	}
	p.Stop() // the wait for room returns at once
	rec.deviceTime(p)
	st := rec.log.Status(0)
	if st.Written != 4 || p.stats.Stalls != 1 {
		t.Fatalf("full log: %d published, %d stalls; want the 4 staged records published and a stall", st.Written, p.stats.Stalls)
	}
	rd := rec.log.Reader()
	for i := 0; i < 4; i++ {
		h, s, _ := rd.Head(afterAll)
		if s != replay.Ready || h.Value2 != replay.Unrecorded || h.Value3 != replay.Unrecorded {
			t.Fatalf("record %d: %v %v, want a valid record without its outcome", i, s, h)
		}
		rd.Consume()
	}
}

// A primary whose inputs can bring nothing more (no device will
// interrupt, no console) skips the polls of its synchronous landmarks up
// to the next progress record, and logs that record on time.
func TestRecorderQuiet(t *testing.T) {
	p, _, rec, _ := testPair(t, 16, replay.Lag{}, Corruption{})
	at(p, 1, 0x1000)
	if rec.poll(p) {
		rec.outcome(p, replay.NoVector) // the devices' first events, due at once on the host's clock
	}
	next := rec.lastSeq + progressEvery
	if !p.inputsQuiet || p.pollSeq != next {
		t.Fatalf("quiet %v, next poll at #%d; want quiet until #%d", p.inputsQuiet, p.pollSeq, next)
	}
	w := rec.log.Status(0).Written
	at(p, next, 0x1000)
	rec.poll(p)
	if rec.log.Status(0).Written != w+1 || p.pollSeq != next+progressEvery {
		t.Fatalf("at #%d: %d records logged, next poll at #%d; want a progress record and #%d",
			next, rec.log.Status(0).Written-w, p.pollSeq, next+progressEvery)
	}
}
