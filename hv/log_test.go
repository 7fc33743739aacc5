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
	bk.seq, bk.regs.ExitRIP = 11, 0x2001
	if _, ok := bk.replayValue(kindRDTSC, 0); ok || bk.cause != causeDivergence {
		t.Fatalf("RIP mismatch not reported: cause %d", bk.cause)
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
