package replay

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"hindsight/ringbuf"
)

func newTestLog(t testing.TB, capacity int, lag Lag) *Log {
	t.Helper()
	l, err := NewLog(ringbuf.AlignedRegion(ringbuf.Size(RecordSize, capacity)), capacity, lag)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rec(seq uint64) Record {
	return Record{Kind: KindRDTSC, Seq: seq, RIP: 0x1000 + seq, Value: seq * 7}
}

func TestLogInOrder(t *testing.T) {
	l := newTestLog(t, 8, Lag{})
	w, r := l.Writer(), l.Reader()
	for i := uint64(1); i <= 100; i++ {
		x := rec(i)
		if res := w.Write(&x, i); res != Written {
			t.Fatalf("record %d: %v", i, res)
		}
		h, st, _ := r.Head(i)
		if st != Ready || *h != x {
			t.Fatalf("record %d: head %v %v", i, h, st)
		}
		r.Consume()
	}
	if _, st, _ := r.Head(1000); st != Waiting {
		t.Fatalf("empty log: %v", st)
	}
	w.Close()
	if _, st, _ := r.Head(1000); st != Ended {
		t.Fatalf("closed empty log: %v", st)
	}
}

// The lag holds a record back until it is old enough and enough newer
// ones follow; a full ring or a closed writer releases it whatever the lag.
func TestLogLag(t *testing.T) {
	l := newTestLog(t, 4, Lag{Ns: 100})
	w, r := l.Writer(), l.Reader()
	x := rec(1)
	w.Write(&x, 1000)
	if _, st, wait := r.Head(1050); st != Waiting || wait != 50 {
		t.Fatalf("young record: %v, wait %d", st, wait)
	}
	if s := l.Status(1050); s.InFlight != 1 || s.AgeNs != 50 {
		t.Fatalf("status %+v: the record the lag holds back is 50 ns old", s)
	}
	if _, st, _ := r.Head(1100); st != Ready {
		t.Fatalf("record of the lag's age: %v", st)
	}
	if s := l.Status(1150); s.AgeNs != 150 {
		t.Fatalf("age %d, want 150", s.AgeNs)
	}
	r.Consume()
	for i := uint64(2); i <= 5; i++ {
		x := rec(i)
		if w.Write(&x, 2000) != Written {
			t.Fatal("full early")
		}
	}
	if _, st, _ := r.Head(2000); st != Ready {
		t.Fatalf("full ring: %v, want the young head released", st)
	}
	r.Consume()
	if _, st, _ := r.Head(2000); st != Waiting {
		t.Fatalf("ring no longer full: %v", st)
	}
	w.Close()
	if _, st, _ := r.Head(2000); st != Ready {
		t.Fatalf("closed writer: %v, want the lag lifted", st)
	}

	l = newTestLog(t, 8, Lag{Records: 2})
	w, r = l.Writer(), l.Reader()
	for i := uint64(1); i <= 3; i++ {
		x := rec(i)
		w.Write(&x, 0)
		_, st, _ := r.Head(0)
		if want := map[bool]HeadState{true: Ready, false: Waiting}[i == 3]; st != want {
			t.Fatalf("%d records in flight, record lag 2: %v", i, st)
		}
	}
}

// A full ring makes the writer wait (one stall per record); once the
// reader stops, writes are dropped and counted instead: nothing waits for
// a reader that will never come back.
func TestLogFullAndReaderGone(t *testing.T) {
	l := newTestLog(t, 2, Lag{})
	w, r := l.Writer(), l.Reader()
	for i := uint64(1); i <= 2; i++ {
		x := rec(i)
		w.Write(&x, i)
	}
	x := rec(3)
	for range 3 {
		if res := w.Write(&x, 3); res != Full {
			t.Fatalf("full ring: %v", res)
		}
	}
	if s := l.Status(3); s.Stalls != 1 {
		t.Fatalf("stalls %d, want 1 for one record", s.Stalls)
	}
	r.Close()
	if res := w.Write(&x, 3); res != ReaderGone {
		t.Fatalf("reader closed: %v", res)
	}
	if s := l.Status(3); s.Dropped != 1 || !s.ReaderClosed {
		t.Fatalf("status %+v", s)
	}
}

// TestLogStage: staged records stay the writer's until Publish (or a
// Write), SetOutcome changes one in place with a valid CRC, and the order
// is the order of staging.
func TestLogStage(t *testing.T) {
	l := newTestLog(t, 8, Lag{})
	w, r := l.Writer(), l.Reader()
	in := Record{Kind: KindClock, Seq: 5, RIP: 0x1000, Value: 77}
	i, res := w.Stage(&in, 1)
	if res != Written {
		t.Fatal(res)
	}
	after := Record{Kind: KindRDTSC, Seq: 5, RIP: 0x1000, Value: 9}
	if _, res := w.Stage(&after, 1); res != Written {
		t.Fatal(res)
	}
	if _, st, _ := r.Head(2); st != Waiting {
		t.Fatalf("staged records visible before Publish: %v", st)
	}
	w.SetOutcome(i, VectorCode(0x20), NoVector)
	last := Record{Kind: KindProgress, Seq: 6, RIP: 0x1002, Value: 3}
	if w.Write(&last, 2) != Written {
		t.Fatal("Write")
	}
	in.Value2, in.Value3 = VectorCode(0x20), NoVector
	for n, want := range []Record{in, after, last} {
		got, st, _ := r.Head(3)
		if st != Ready || *got != want {
			t.Fatalf("record %d: %v %v, want %v", n, st, got, want)
		}
		r.Consume()
	}
}

func TestLogMalformed(t *testing.T) {
	l := newTestLog(t, 4, Lag{})
	w, r := l.Writer(), l.Reader()
	var b [RecordSize]byte
	x := rec(1)
	x.Encode(b[:])
	b[9] ^= 1 // a bit of Seq: the CRC no longer matches
	w.StageEncoded(&b, 1)
	if _, st, _ := r.Head(1); st != Waiting {
		t.Fatalf("staged record before Publish: %v", st)
	}
	w.Publish()
	_, st, _ := r.Head(1)
	if st != Malformed {
		t.Fatalf("bad CRC: %v", st)
	}
	var got Record
	if err := Decode(r.Bad()[:], &got); err == nil || !strings.Contains(err.Error(), "bad CRC") {
		t.Fatalf("Bad() decodes as %v", err)
	}
}

// Three goroutines on one Log, as in the hypervisor: the primary writes,
// the backup reads, a monitor takes Status snapshots. Under -race (make
// test) this fails if the monitor touches either end's state; the count
// and order of what the backup reads fail if a snapshot disturbs the
// ring. (The monitor of the earlier hv.Log called the consumer-only
// ringbuf.OldestStamp, which rewrote the consumer's cached producer index
// from another goroutine: the backup then read stale slots.)
func TestLogConcurrentObservers(t *testing.T) {
	const n = 20_000
	l := newTestLog(t, 64, Lag{Records: 3})
	var now atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(3)
	errc := make(chan error, 2)
	go func() { // primary
		defer wg.Done()
		w := l.Writer()
		for i := uint64(1); i <= n; i++ {
			x := rec(i)
			for w.Write(&x, now.Add(1)) == Full {
				runtime.Gosched()
			}
		}
		w.Close()
	}()
	stop := make(chan struct{})
	go func() { // backup
		defer wg.Done()
		defer close(stop)
		r := l.Reader()
		for want := uint64(1); ; {
			h, st, _ := r.Head(now.Load())
			switch st {
			case Ready:
				if *h != rec(want) {
					errc <- errors.New("backup read " + h.String() + ", want " + rec(want).String())
					r.Close()
					return
				}
				r.Consume()
				want++
			case Ended:
				if want != n+1 {
					errc <- errors.New("log ended early")
				}
				return
			case Malformed:
				errc <- errors.New("malformed record in a correct log")
				r.Close()
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	go func() { // monitor
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := l.Status(now.Load())
			if s.InFlight > s.Capacity || s.Read > s.Written {
				errc <- errors.New("impossible status")
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if s := l.Status(now.Load()); s.Written != n || s.Read != n || !s.WriterClosed {
		t.Errorf("final status %+v", s)
	}
}

func TestCheckRingMismatch(t *testing.T) {
	mem := ringbuf.AlignedRegion(ringbuf.Size(128, 4))
	r, err := ringbuf.Create(mem, 128, 4, RingStamp)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRing(r); !errors.Is(err, ErrRingLayout) || err.Error() != "replay: ring: record size 128, want 64: replay: ring does not carry records of this layout" {
		t.Fatalf("%v", err)
	}
	mem = ringbuf.AlignedRegion(ringbuf.Size(RecordSize, 4))
	if r, err = ringbuf.Create(mem, RecordSize, 4, RingStamp-1); err != nil {
		t.Fatal(err)
	}
	if err := CheckRing(r); !errors.Is(err, ErrRingLayout) || err.Error() != "replay: ring: creation stamp 3 (the record layout version), this program uses version 4: replay: ring does not carry records of this layout" {
		t.Fatalf("%v", err)
	}
	l := newTestLog(t, 4, Lag{})
	if err := CheckRing(l.ring); err != nil {
		t.Fatal(err)
	}
}

// Ahead shows the records after the head without taking them, whatever
// the lag, and the head and Consume go on as before.
func TestReaderAhead(t *testing.T) {
	l := newTestLog(t, 8, Lag{Records: 100})
	w, r := l.Writer(), l.Reader()
	var buf [4]Record
	if n, in := r.Ahead(buf[:]); n != 0 || in != 0 {
		t.Fatalf("empty log: %d records, %d in flight", n, in)
	}
	for i := uint64(1); i <= 5; i++ {
		if w.Write(&Record{Kind: KindRDTSC, Seq: i, RIP: 0x1000 + i, Value: i * 7}, 1) != Written {
			t.Fatal("write")
		}
	}
	n, in := r.Ahead(buf[:])
	if n != 4 || in != 5 || buf[0].Seq != 1 || buf[3].Seq != 4 {
		t.Fatalf("before Head: %d records from #%d, %d in flight", n, buf[0].Seq, in)
	}
	w.Close() // the lag no longer holds the records back
	h, st, _ := r.Head(2)
	if st != Ready || h.Seq != 1 {
		t.Fatalf("head %v %v", h, st)
	}
	if n, _ := r.Ahead(buf[:2]); n != 2 || buf[0].Seq != 2 || buf[1].Seq != 3 {
		t.Fatalf("after Head: %d records from #%d", n, buf[0].Seq)
	}
	r.Consume()
	if h, st, _ := r.Head(2); st != Ready || h.Seq != 2 {
		t.Fatalf("next head %v %v", h, st)
	}
}
