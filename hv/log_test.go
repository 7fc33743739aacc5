package hv

import (
	"testing"
	"unsafe"

	"hindsight/hv/replay"
	"hindsight/ringbuf"
)

// hostLog is a Log over heap memory, for host tests of the primary's and
// the backup's paths.
func hostLog(t testing.TB, records int) *Log {
	mem := ringbuf.AlignedRegion(ringbuf.Size(replay.RecordSize, records))
	r, err := ringbuf.CreateAt(unsafe.Pointer(&mem[0]), len(mem), replay.RecordSize, records, replay.RingStamp)
	if err != nil {
		t.Fatal(err)
	}
	return &Log{ring: r, tscHz: 3e9}
}

// BenchmarkLogRecord is the primary's cost of logging one record.
func BenchmarkLogRecord(b *testing.B) {
	l := hostLog(b, 1<<16)
	v := &VM{cfg: Config{Role: Primary, Log: l}, tscHz: 3e9}
	var rec [replay.RecordSize]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.logRecord(kindRDTSC, 0, 0, uint64(i), 0, 0)
		if i%1024 == 1023 {
			for l.ring.TryRead(rec[:]) {
			}
		}
	}
}

// The backup replays exactly what the primary logged, in order.
func TestLogRoundTrip(t *testing.T) {
	l := hostLog(t, 64)
	p := &VM{cfg: Config{Role: Primary, Log: l}, tscHz: 3e9}
	bk := &VM{cfg: Config{Role: Backup, Log: l, Peer: p}, tscHz: 3e9, state: Running}
	for i := uint64(1); i <= 10; i++ {
		p.seq, p.regs.ExitRIP = i, 0x1000+i
		p.logRecord(kindRDTSC, 0, 0, i*100, 0, 0)
		p.flushLog(replay.NoVector)
	}
	p.state = Stopped // lets the backup take records without waiting for the lag
	for i := uint64(1); i <= 10; i++ {
		bk.seq, bk.regs.ExitRIP = i, 0x1000+i
		x, ok := bk.replayValue(kindRDTSC, 0)
		if !ok || x != i*100 {
			t.Fatalf("landmark %d: got %d %v (%s)", i, x, ok, bk.Reason)
		}
	}
	// A record at another RIP is a divergence.
	p.seq, p.regs.ExitRIP = 11, 0x2000
	p.logRecord(kindRDTSC, 0, 0, 1, 0, 0)
	p.flushLog(replay.NoVector)
	bk.seq, bk.regs.ExitRIP = 11, 0x2001
	if _, ok := bk.replayValue(kindRDTSC, 0); ok || bk.cause != causeDivergence {
		t.Fatalf("RIP mismatch not reported: cause %d", bk.cause)
	}
}

// An input record reaches the log once the exit's injection is decided,
// with what the primary's PIC requested and what the guest was given; the
// records after it in that exit wait with it. The backup checks its own
// interrupts against the primary's.
func TestInjectionCheck(t *testing.T) {
	l := hostLog(t, 64)
	p := &VM{cfg: Config{Role: Primary, Log: l}, tscHz: 3e9}
	p.seq, p.regs.ExitRIP = 7, 0x1234
	p.logRecord(kindRDTSC, 0, 0, 99, 0, 0)
	if l.ring.InFlight() != 1 {
		t.Fatalf("an RDTSC record was held back")
	}
	p.logRecord(kindIRQ, 0, 0, 0, 0, 0)
	p.logRecord(kindProgress, 0, 0, 5, 0, 0)
	if l.ring.InFlight() != 1 {
		t.Fatalf("%d records in the log before the injection was decided, want 1", l.ring.InFlight())
	}
	p.flushLog(replay.VectorCode(0x20))
	if l.ring.InFlight() != 3 {
		t.Fatalf("%d records in the log after the flush, want 3", l.ring.InFlight())
	}
	var got [3]replay.Record
	for i := range got {
		b, _ := l.ring.Peek(1)
		if err := replay.Decode(b, &got[i]); err != nil {
			t.Fatal(err)
		}
		l.ring.Release(1)
	}
	if got[0].Kind != kindRDTSC || got[0].Value2 != 0 || got[1].Value2 != 0x220 || got[1].Value3 != 0x220 ||
		got[2].Kind != kindProgress || got[2].Value2 != 0 {
		t.Fatalf("logged %v, %v, %v", got[0], got[1], got[2])
	}

	bk := &VM{cfg: Config{Role: Backup, Log: l}, state: Running, seq: 7}
	bk.regs.ExitRIP = 0x1234
	bk.input, bk.checkInjection = got[1], true
	bk.checkInjected(replay.VectorCode(0x20), replay.VectorCode(0x20))
	if bk.state != Running || bk.checkInjection {
		t.Fatalf("matching interrupts: state %v, check pending %v", bk.state, bk.checkInjection)
	}
	bk.input, bk.checkInjection = got[1], true
	bk.checkInjected(replay.VectorCode(0x21), replay.NoVector)
	if bk.cause != causeDivergence {
		t.Fatalf("a different interrupt is not a divergence (cause %d)", bk.cause)
	}
	want := "DIVERGENCE at landmark #7 rip 0x1234: interrupt delivery differs after the input " +
		"#7 rip=0x1234 IRQ line=0 requested=vector 0x20 delivered=vector 0x20: " +
		"the backup's PIC requests vector 0x21 and the guest was given none"
	if msg := bk.divergence(); msg != want {
		t.Fatalf("report:\n got %q\nwant %q", msg, want)
	}
}

// A landmark with more records than the stage holds writes the first ones
// early, without the outcome (not known yet); none is lost or reordered.
func TestStageOverflow(t *testing.T) {
	l := hostLog(t, 64)
	p := &VM{cfg: Config{Role: Primary, Log: l}, tscHz: 3e9}
	for i := range stageRecords + 3 {
		p.logRecord(kindIRQ, 0, 0, uint64(i%16), 0, 0)
	}
	p.flushLog(replay.NoVector)
	for i := range stageRecords + 3 {
		var r replay.Record
		b, _ := l.ring.Peek(1)
		if err := replay.Decode(b, &r); err != nil || r.Value != uint64(i%16) {
			t.Fatalf("record %d: %v %v", i, r, err)
		}
		code := uint64(replay.NoVector)
		if i < stageRecords {
			code = replay.Unrecorded
		}
		if r.Value2 != code || r.Value3 != code {
			t.Fatalf("record %d: %v, want codes %#x", i, r, code)
		}
		l.ring.Release(1)
	}
	if l.ring.InFlight() != 0 {
		t.Fatalf("%d records left", l.ring.InFlight())
	}
}

func TestLogLine(t *testing.T) {
	var l logLine
	l.str("port ").hex(0x3f8).str(" size ").dec(4).str(" zero ").hex(0).dec(0)
	if got := string(l.b[:l.n]); got != "port 0x3f8 size 4 zero 0x00" {
		t.Fatalf("%q", got)
	}
	for i := 0; i < 100; i++ {
		l.str("overflow")
	}
	if l.n != len(l.b)-1 {
		t.Fatalf("n = %d: a full line must stop one short of the buffer (room for the newline)", l.n)
	}
}

// The backup checks the outcome of an input only where the primary
// recorded it.
func TestReplayInputChecks(t *testing.T) {
	for _, recorded := range []bool{false, true} {
		l := hostLog(t, 64)
		p := &VM{cfg: Config{Role: Primary, Log: l}, tscHz: 3e9, seq: 3}
		p.logRecord(kindIRQ, 0, 0, 0, 0, 0)
		if recorded {
			p.flushLog(replay.VectorCode(0x20))
		} else {
			p.flushLog(replay.Unrecorded)
		}
		p.seq = 4 // a later record ends the backup's landmark 3
		p.logRecord(kindProgress, 0, 0, 0, 0, 0)
		p.state = Stopped // no lag to wait for
		bk := &VM{cfg: Config{Role: Backup, Log: l, Peer: p}, tscHz: 3e9, state: Running, seq: 3}
		bk.replayEvents()
		if bk.IRQs != 1 || bk.checkInjection != recorded {
			t.Fatalf("recorded %v: %d IRQs applied, check %v", recorded, bk.IRQs, bk.checkInjection)
		}
	}
}
