package replay

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// late is a time at which the lag has let every record of a test go.
const late = 1 << 40

// recAt is the record the tests write at ordinal pos.
func recAt(pos uint64) Record { return rec(pos + 1) }

func newTestHistory(t testing.TB, capacity int) (*History, []byte) {
	t.Helper()
	mem := make([]byte, capacity*RecordSize)
	h, err := NewHistory(mem)
	if err != nil {
		t.Fatal(err)
	}
	return h, mem
}

// pump writes the records from ordinal next up to upTo while the ring
// takes them, stamped ordinal+1, and returns the next ordinal to write.
func pump(t testing.TB, w *Writer, next, upTo uint64) uint64 {
	t.Helper()
	for ; next < upTo; next++ {
		x := recAt(next)
		if w.Write(&x, next+1) != Written {
			break
		}
	}
	return next
}

// take has the reader take its next record, which must be recAt(want).
func take(t testing.TB, r *Reader, now, want uint64) {
	t.Helper()
	h, st, _ := r.Head(now)
	if st != Ready {
		t.Fatalf("pos %d: head %v, want record %d", r.Pos(), st, want)
	}
	if *h != recAt(want) {
		t.Fatalf("pos %d: head %v, want %v", r.Pos(), h, recAt(want))
	}
	r.Consume()
}

func TestNewHistory(t *testing.T) {
	for _, n := range []int{0, RecordSize - 1} {
		if _, err := NewHistory(make([]byte, n)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("history over %d bytes", n)) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	h, err := NewHistory(make([]byte, 3*RecordSize+10))
	if err != nil {
		t.Fatal(err)
	}
	var x Record
	if h.Capacity() != 3 || h.Len() != 0 || h.Oldest() != 0 || h.End() != 0 || h.Record(0, &x) {
		t.Fatalf("new history: capacity %d, %d records [%d, %d)", h.Capacity(), h.Len(), h.Oldest(), h.End())
	}
	if _, ok := h.Encoded(0); ok {
		t.Fatal("an empty history gives a record")
	}
}

// Every record the reader takes from the ring goes to the history, the
// bytes as they were in the slot, while both the ring (4) and the
// history (5, not a power of two) wrap many times.
func TestHistoryKeepsConsumed(t *testing.T) {
	const n = 203
	l := newTestLog(t, 4, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 5)
	r.KeepHistory(h)
	var got Record
	for next, pos := uint64(0), uint64(0); pos < n; {
		next = pump(t, w, next, n)
		for range 3 { // less than the ring holds: the ring's indices and the history's drift apart
			if pos == next {
				break
			}
			take(t, r, next, pos)
			pos++
		}
		if r.Pos() != pos || r.Live() != pos || h.End() != pos || h.Oldest() != pos-min(pos, 5) || h.Len() != int(min(pos, 5)) {
			t.Fatalf("after %d records: pos %d, live %d, history [%d, %d) of %d", pos, r.Pos(), r.Live(), h.Oldest(), h.End(), h.Len())
		}
		for p := h.Oldest(); p < pos; p++ {
			b, ok := h.Encoded(p)
			if !ok || !bytes.Equal(b[:], encode(recAt(p))) || !h.Record(p, &got) || got != recAt(p) {
				t.Fatalf("history record %d: %v %x", p, ok, b)
			}
		}
		if h.Oldest() > 0 && h.Record(h.Oldest()-1, &got) || h.Record(pos, &got) {
			t.Fatalf("after %d records: the history gives a record it does not keep", pos)
		}
	}
	if s := l.Status(0); s.Read != n || s.Written != n {
		t.Fatalf("status %+v", s)
	}
}

// Pos counts every record consumed, also before the reader kept a
// history, which starts at the live position.
func TestKeepHistoryLate(t *testing.T) {
	l := newTestLog(t, 8, Lag{})
	w, r := l.Writer(), l.Reader()
	pump(t, w, 0, 6)
	for p := range uint64(3) {
		take(t, r, 10, p)
	}
	if err := r.Rewind(2); err == nil || !strings.Contains(err.Error(), "keeps no history") {
		t.Fatalf("rewind without history: %v", err)
	}
	h, _ := newTestHistory(t, 4)
	other := newTestLog(t, 8, Lag{}) // h kept another reader's records: they go
	pump(t, other.Writer(), 0, 5)
	other.Reader().KeepHistory(h)
	for p := range uint64(5) {
		take(t, other.Reader(), 10, p)
	}
	if !h.Pin(4) {
		t.Fatal("pin")
	}
	r.KeepHistory(h)
	if r.Pos() != 3 || h.Oldest() != 3 || h.End() != 3 {
		t.Fatalf("pos %d, history [%d, %d)", r.Pos(), h.Oldest(), h.End())
	}
	if _, ok := h.Pinned(); ok {
		t.Fatal("KeepHistory kept the old pin")
	}
	if err := r.Rewind(2); err == nil {
		t.Fatal("rewound to a record consumed before the history")
	}
	take(t, r, 10, 3)
	if err := r.Rewind(3); err != nil {
		t.Fatal(err)
	}
	take(t, r, 10, 3)
	take(t, r, 10, 4)
}

// A rewound reader replays its history at once whatever the lag, leaves
// the ring and its counts alone, publishes no head stamp, and back at the
// live position obeys the lag again.
func TestReaderRewind(t *testing.T) {
	l := newTestLog(t, 16, Lag{Ns: 100, Records: 2})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 16)
	r.KeepHistory(h)
	pump(t, w, 0, 10) // stamps 1..10
	for p := range uint64(8) {
		take(t, r, 1000, p)
	}
	if _, st, _ := r.Head(1000); st != Waiting {
		t.Fatalf("2 records in flight, record lag 2: %v", st)
	}
	if s := l.Status(1000); s.AgeNs == 0 {
		t.Fatal("the reader waits on a ring record: no age")
	}
	for _, c := range []struct {
		to, upTo uint64
		what     string
	}{{0, 8, "oldest"}, {5, 8, "middle"}, {2, 4, "oldest to middle"}, {7, 8, "forward jump past Pos"}} {
		if err := r.Rewind(c.to); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if r.Pos() != c.to || r.Live() != 8 {
			t.Fatalf("%s: pos %d, live %d", c.what, r.Pos(), r.Live())
		}
		for p := c.to; p < c.upTo; p++ {
			if s := l.Status(1000); s.AgeNs != 0 || s.Read != 8 {
				t.Fatalf("%s: replaying record %d: status %+v", c.what, p, s)
			}
			take(t, r, 0, p) // now 0: every ring record would be too young
		}
	}
	if _, st, _ := r.Head(1000); st != Waiting || r.Pos() != 8 {
		t.Fatalf("back at live: %v at %d, want the lag to hold record 8 back", st, r.Pos())
	}
	if err := r.Rewind(8); err != nil { // to live: the ring as before
		t.Fatal(err)
	}
	pump(t, w, 10, 11)
	if _, st, wait := r.Head(50); st != Waiting || wait != 100-(50-9) {
		t.Fatalf("live, young record: %v, wait %d", st, wait)
	}
	take(t, r, 1000, 8)
	if s := l.Status(1000); s.Read != 9 || s.Written != 11 || h.End() != 9 {
		t.Fatalf("status %+v, history end %d", s, h.End())
	}
}

func TestReaderRewindErrors(t *testing.T) {
	l := newTestLog(t, 16, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 4)
	r.KeepHistory(h)
	pump(t, w, 0, 12)
	for p := range uint64(10) {
		take(t, r, late, p)
	}
	for _, pos := range []uint64{0, 5, 11, 1 << 40} {
		err := r.Rewind(pos)
		want := fmt.Sprintf("replay: rewind to record %d: the reader can go back to records 6 (the oldest kept) to 10 (live)", pos)
		if err == nil || err.Error() != want {
			t.Fatalf("rewind to %d: %v", pos, err)
		}
	}
	if r.Pos() != 10 {
		t.Fatalf("a failed rewind moved the reader to %d", r.Pos())
	}
	take(t, r, late, 10)
}

// Rewind lets go of the record held: a ring record is still in the ring
// and comes again in order, once; a history record comes again from the
// history.
func TestReaderRewindDropsHold(t *testing.T) {
	l := newTestLog(t, 8, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 8)
	r.KeepHistory(h)
	pump(t, w, 0, 5)
	for p := range uint64(3) {
		take(t, r, late, p)
	}
	if _, st, _ := r.Head(late); st != Ready || r.Held() == nil {
		t.Fatal("no record 3 to hold")
	}
	if err := r.Rewind(1); err != nil {
		t.Fatal(err)
	}
	if r.Held() != nil {
		t.Fatal("still holding after Rewind")
	}
	take(t, r, late, 1)
	if _, st, _ := r.Head(late); st != Ready || r.Held() == nil {
		t.Fatal("no history record 2 to hold")
	}
	if err := r.Rewind(1); err != nil {
		t.Fatal(err)
	}
	for p := uint64(1); p < 5; p++ {
		take(t, r, late, p)
	}
	if s := l.Status(1); s.Read != 5 || s.InFlight != 0 || h.End() != 5 {
		t.Fatalf("status %+v, history end %d: record 3 taken once from the ring", s, h.End())
	}
}

func TestHistoryTrim(t *testing.T) {
	l := newTestLog(t, 16, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 8)
	r.KeepHistory(h)
	pump(t, w, 0, 12)
	for p := range uint64(10) {
		take(t, r, late, p)
	}
	if h.Oldest() != 2 {
		t.Fatalf("oldest %d", h.Oldest())
	}
	h.Trim(5)
	var x Record
	if h.Oldest() != 5 || h.Len() != 5 || h.Record(4, &x) || !h.Record(5, &x) || r.Rewind(4) == nil {
		t.Fatalf("trimmed to 5: [%d, %d)", h.Oldest(), h.End())
	}
	h.Trim(3) // nothing older to drop
	if h.Oldest() != 5 {
		t.Fatalf("trim backwards: oldest %d", h.Oldest())
	}
	if !h.Pin(7) {
		t.Fatal("pin 7")
	}
	h.Trim(7)
	if p, ok := h.Pinned(); !ok || p != 7 {
		t.Fatal("a trim up to the pin dropped it")
	}
	h.Trim(8)
	if _, ok := h.Pinned(); ok || h.Lost() != 0 {
		t.Fatalf("a trim past the pin: pinned %v, %d lost", ok, h.Lost())
	}
	h.Trim(100)
	if h.Oldest() != 10 || h.End() != 10 || h.Len() != 0 {
		t.Fatalf("trim past the end: [%d, %d)", h.Oldest(), h.End())
	}
	if err := r.Rewind(10); err != nil {
		t.Fatal(err)
	}
	take(t, r, late, 10)
	if h.Oldest() != 10 || h.End() != 11 {
		t.Fatalf("after trimming all: [%d, %d)", h.Oldest(), h.End())
	}
}

// A full history overwrites its oldest record; if that one is pinned,
// the reader goes on all the same (it does not stall the log), the pin
// goes and the loss is counted once.
func TestHistoryPinLost(t *testing.T) {
	l := newTestLog(t, 16, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 4)
	r.KeepHistory(h)
	pump(t, w, 0, 16)
	take(t, r, late, 0)
	take(t, r, late, 1)
	if h.Pin(3) {
		t.Fatal("pinned a record the reader has not reached")
	}
	if !h.Pin(1) {
		t.Fatal("pin 1")
	}
	for p := uint64(2); p < 5; p++ { // fills the history, then overwrites record 0
		take(t, r, late, p)
	}
	if p, ok := h.Pinned(); !ok || p != 1 || h.Lost() != 0 || h.Oldest() != 1 {
		t.Fatalf("an unpinned record overwritten: pin %d %v, %d lost, oldest %d", p, ok, h.Lost(), h.Oldest())
	}
	take(t, r, late, 5) // overwrites record 1, pinned
	if _, ok := h.Pinned(); ok || h.Lost() != 1 || h.Oldest() != 2 || r.Pos() != 6 {
		t.Fatalf("a pinned record overwritten: pinned %v, %d lost, oldest %d, pos %d", ok, h.Lost(), h.Oldest(), r.Pos())
	}
	if r.Rewind(1) == nil || h.Pin(1) {
		t.Fatal("the lost snapshot's records are still there")
	}
	for p := uint64(6); p < 10; p++ {
		take(t, r, late, p)
	}
	if h.Lost() != 1 {
		t.Fatalf("%d lost: counted again without a pin", h.Lost())
	}
	if !h.Pin(h.End()) { // a snapshot at the live position
		t.Fatal("pin at the end")
	}
	for p := uint64(10); p < 14; p++ { // fill up with the pinned records
		take(t, r, late, p)
	}
	if p, ok := h.Pinned(); !ok || p != 10 || h.Lost() != 1 {
		t.Fatalf("pin %d %v, %d lost", p, ok, h.Lost())
	}
	h.Unpin()
	take(t, r, late, 14)
	if _, ok := h.Pinned(); ok || h.Lost() != 1 {
		t.Fatalf("unpinned: pinned %v, %d lost", ok, h.Lost())
	}
}

// A record the history's memory no longer holds intact is reported, not
// replayed; the records around it are.
func TestHistoryMalformed(t *testing.T) {
	l := newTestLog(t, 16, Lag{})
	w, r := l.Writer(), l.Reader()
	h, mem := newTestHistory(t, 5)
	r.KeepHistory(h)
	pump(t, w, 0, 8)
	for p := range uint64(8) {
		take(t, r, late, p)
	}
	const bad = 6
	mem[bad%5*RecordSize+9] ^= 1 // a bit of Seq
	var x Record
	if h.Record(bad, &x) || !h.Record(bad-1, &x) {
		t.Fatal("Record trusts the damaged record or not the one before")
	}
	if err := r.Rewind(bad - 1); err != nil {
		t.Fatal(err)
	}
	var ahead [4]Record
	if n, _ := r.Ahead(ahead[:]); n != 1 || ahead[0] != recAt(bad-1) {
		t.Fatalf("Ahead: %d records, want to stop at the damaged one", n)
	}
	take(t, r, late, bad-1)
	if _, st, _ := r.Head(late); st != Malformed || r.Held() != nil {
		t.Fatalf("damaged history record: %v", st)
	}
	b, _ := h.Encoded(bad)
	if *r.Bad() != *b {
		t.Fatal("Bad does not hold the damaged bytes")
	}
	if err := Decode(r.Bad()[:], &x); err == nil || !strings.Contains(err.Error(), "bad CRC") {
		t.Fatalf("Bad() decodes as %v", err)
	}
	if err := r.Rewind(bad + 1); err != nil {
		t.Fatal(err)
	}
	take(t, r, late, bad+1)
}

// Ahead of a rewound reader shows the history's records up to the live
// position, then the ring's.
func TestReaderAheadRewound(t *testing.T) {
	l := newTestLog(t, 8, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 8)
	r.KeepHistory(h)
	pump(t, w, 0, 6)
	for p := range uint64(4) {
		take(t, r, late, p)
	}
	check := func(what string, dst []Record, first uint64, want int) {
		t.Helper()
		n, in := r.Ahead(dst)
		if n != want || in != 2 {
			t.Fatalf("%s: %d records, %d in flight; want %d, 2", what, n, in, want)
		}
		for i := range n {
			if dst[i] != recAt(first+uint64(i)) {
				t.Fatalf("%s: record %d is %v, want %v", what, i, dst[i], recAt(first+uint64(i)))
			}
		}
	}
	var buf [10]Record
	if err := r.Rewind(1); err != nil {
		t.Fatal(err)
	}
	check("rewound to 1", buf[:], 1, 5)
	check("short", buf[:2], 1, 2)
	r.Head(late)
	check("holding 1", buf[:], 2, 4)
	check("holding 1, short", buf[:2], 2, 2)
	if err := r.Rewind(3); err != nil {
		t.Fatal(err)
	}
	r.Head(late)
	check("holding the last history record", buf[:], 4, 2)
	r.Consume()
	r.Head(late)
	check("holding the ring's first", buf[:], 5, 1)
}

// The reader's loop does not allocate, live or rewound.
func TestReaderHistoryNoAllocs(t *testing.T) {
	l := newTestLog(t, 8, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 5)
	r.KeepHistory(h)
	next := uint64(0)
	step := func() {
		if _, st, _ := r.Head(late); st != Ready {
			panic(fmt.Sprintf("head %v at %d", st, r.Pos()))
		}
		r.Consume()
	}
	if n := testing.AllocsPerRun(100, func() {
		x := recAt(next)
		w.Write(&x, 1)
		next++
		step()
	}); n != 0 {
		t.Fatalf("live Head+Consume: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if r.Rewind(r.Live()-3) != nil {
			panic("rewind")
		}
		for range 3 {
			step()
		}
	}); n != 0 {
		t.Fatalf("rewound Head+Consume: %v allocs", n)
	}
}

// A random walk over writes, reads, holds, rewinds, trims and pins with a
// small ring and a small history, checked against a model of what each
// should do.
func TestReaderRewindModel(t *testing.T) {
	const ringCap, histCap = 4, 5
	rng := rand.New(rand.NewPCG(1, 2))
	l := newTestLog(t, ringCap, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, histCap)
	r.KeepHistory(h)
	var (
		written, live, pos, oldest, pin, lost uint64
		pinned, holding                       bool
		rewinds, losses                       int
	)
	for i := range 20_000 {
		switch op := rng.IntN(10); {
		case op < 3:
			x := recAt(written)
			res := w.Write(&x, 1)
			if want := map[bool]WriteResult{true: Written, false: Full}[written-live < ringCap]; res != want {
				t.Fatalf("step %d: write %v, want %v", i, res, want)
			}
			if res == Written {
				written++
			}
		case op < 7:
			hd, st, _ := r.Head(late)
			if pos == written {
				if st != Waiting {
					t.Fatalf("step %d: head %v at the end", i, st)
				}
				break
			}
			if st != Ready || *hd != recAt(pos) {
				t.Fatalf("step %d: head %v %v at %d", i, hd, st, pos)
			}
			holding = true
			if op == 6 {
				break // hold it
			}
			r.Consume()
			holding = false
			if pos++; pos > live {
				live = pos
				if live-oldest > histCap {
					if pinned && pin <= oldest {
						pinned = false
						lost++
						losses++
					}
					oldest++
				}
			}
		case op < 8:
			to := oldest + uint64(rng.IntN(int(live-oldest)+3))
			to -= min(to, 1)
			err := r.Rewind(to)
			if ok := to >= oldest && to <= live; ok != (err == nil) {
				t.Fatalf("step %d: rewind to %d in [%d, %d]: %v", i, to, oldest, live, err)
			}
			if err == nil {
				pos, holding = to, false
				rewinds++
			}
		case op < 9:
			to := min(oldest+uint64(rng.IntN(3)), live)
			h.Trim(to)
			if to > oldest {
				oldest = to
				if pinned && pin < to {
					pinned = false
				}
			}
			if pos < oldest { // the reader must not be left before the history
				if err := r.Rewind(oldest); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				pos, holding = oldest, false
			}
		default:
			at := oldest + uint64(rng.IntN(int(live-oldest)+2))
			if ok := at <= live; h.Pin(at) != ok {
				t.Fatalf("step %d: pin %d in [%d, %d]: want %v", i, at, oldest, live, ok)
			} else if ok {
				pin, pinned = at, true
			}
		}
		p, ok := h.Pinned()
		if r.Pos() != pos || r.Live() != live || (r.Held() != nil) != holding || h.Oldest() != oldest || h.End() != live ||
			h.Lost() != lost || ok != pinned || ok && p != pin {
			t.Fatalf("step %d: pos %d live %d holding %v, history [%d, %d) pin %d %v lost %d; want pos %d live %d holding %v, [%d, %d) pin %d %v lost %d",
				i, r.Pos(), r.Live(), r.Held() != nil, h.Oldest(), h.End(), p, ok, h.Lost(), pos, live, holding, oldest, live, pin, pinned, lost)
		}
		if s := l.Status(1); s.Read != live || s.Written != written {
			t.Fatalf("step %d: status %+v, want %d read, %d written", i, s, live, written)
		}
	}
	if rewinds < 1000 || losses < 10 || live < 1000 {
		t.Fatalf("the walk did too little: %d rewinds, %d pins lost, %d records", rewinds, losses, live)
	}
}

// The primary writes on its own goroutine while the backup reads, rewinds
// now and then and catches up, and a monitor takes Status snapshots:
// under -race this fails if a rewind touches what the writer or the
// monitor use; every record the backup sees must be the one of its
// position.
func TestReaderRewindConcurrent(t *testing.T) {
	const n = 20_000
	l := newTestLog(t, 16, Lag{Records: 3})
	h, _ := newTestHistory(t, 50)
	var now atomic.Uint64
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	stop := make(chan struct{})
	wg.Add(3)
	go func() { // primary
		defer wg.Done()
		w := l.Writer()
		for i := range uint64(n) {
			x := recAt(i)
			for w.Write(&x, now.Add(1)) == Full {
				runtime.Gosched()
			}
		}
		w.Close()
	}()
	go func() { // backup
		defer wg.Done()
		defer close(stop)
		r := l.Reader()
		r.KeepHistory(h)
		rng := rand.New(rand.NewPCG(3, 4))
		rewinds := 0
		for steps := 0; ; {
			hd, st, _ := r.Head(now.Load())
			switch st {
			case Ready:
				if *hd != recAt(r.Pos()) {
					errc <- fmt.Errorf("backup at %d read %v", r.Pos(), hd)
					r.Close()
					return
				}
				r.Consume()
				if steps++; steps%97 == 0 {
					to := h.Oldest() + uint64(rng.IntN(h.Len()+1))
					if err := r.Rewind(to); err != nil {
						errc <- err
						r.Close()
						return
					}
					rewinds++
				}
			case Ended:
				if r.Pos() != n || rewinds < 100 {
					errc <- fmt.Errorf("log ended at %d after %d rewinds", r.Pos(), rewinds)
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
			if s := l.Status(now.Load()); s.InFlight > s.Capacity || s.Read > s.Written {
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
	if s := l.Status(now.Load()); s.Written != n || s.Read != n {
		t.Errorf("final status %+v", s)
	}
}

// Trimming away the records a rewound reader has yet to replay is the
// caller's bug: Head says so rather than replaying something else.
func TestHistoryTrimUnderRewoundReader(t *testing.T) {
	l := newTestLog(t, 8, Lag{})
	w, r := l.Writer(), l.Reader()
	h, _ := newTestHistory(t, 8)
	r.KeepHistory(h)
	pump(t, w, 0, 6)
	for p := range uint64(6) {
		take(t, r, late, p)
	}
	if err := r.Rewind(2); err != nil {
		t.Fatal(err)
	}
	h.Trim(4)
	defer func() {
		if e := recover(); e != errHistoryGone {
			t.Fatalf("panic %v", e)
		}
	}()
	r.Head(late)
	t.Fatal("Head replayed a record trimmed away")
}
