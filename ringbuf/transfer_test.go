package ringbuf

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// transferCount is the number of records TestTransfer moves per record
// size: at least 10 million without the race detector.
func transferCount(rs int) uint64 {
	n := uint64(10_000_000)
	if rs > 64 {
		n = 2_000_000
	}
	if raceEnabled {
		n /= 10
	}
	if testing.Short() {
		n /= 10
	}
	return n
}

// TestTransfer moves records between two goroutines locked to different
// OS threads, mixing every producer and consumer API, and checks every
// record's sequence number and checksum: no loss, no duplicate, no torn
// record.
func TestTransfer(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two threads running at once")
	}
	for _, rs := range recordSizes {
		t.Run(fmt.Sprint(rs), func(t *testing.T) {
			n := transferCount(rs)
			start := time.Now()
			transfer(t, rs, 4096, n, true)
			el := time.Since(start)
			t.Logf("%d records of %d bytes in %v: %.1f M records/s, %.0f MB/s", n, rs, el,
				float64(n)/el.Seconds()/1e6, float64(n)*float64(rs)/el.Seconds()/1e6)
		})
	}
}

// transfer runs one producer and one consumer over a fresh ring (separate
// handles, as on two cores) until count records went through.
func transfer(t *testing.T, rs, capacity int, count uint64, lockThreads bool) {
	mem := AlignedRegion(Size(rs, capacity))
	prod, err := Create(mem, rs, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
	}
	back := &Backoff{Stop: failed.Load, Deadline: time.Now().Add(5 * time.Minute)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // producer
		defer wg.Done()
		if lockThreads {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		rng := rand.New(rand.NewPCG(1, uint64(rs)))
		rec := make([]byte, rs)
		batch := make([]byte, 64*rs)
		var seq uint64
		for seq < count && !failed.Load() {
			prod.SetStamp(seq)
			switch op := rng.IntN(10); {
			case op < 4: // single records
				for k := 0; k < 16 && seq < count; k++ {
					fillRec(rec, seq)
					if !prod.TryWrite(rec) {
						break
					}
					seq++
				}
			case op < 6: // single records, published together
				for k := 0; k < 16 && seq < count; k++ {
					fillRec(rec, seq)
					if !prod.Put(rec) {
						break
					}
					seq++
				}
				prod.Flush()
			case op < 8: // batch crossing the end at times
				k := min(uint64(rng.IntN(64)+1), count-seq)
				for i := uint64(0); i < k; i++ {
					fillRec(batch[i*uint64(rs):(i+1)*uint64(rs)], seq+i)
				}
				seq += uint64(prod.WriteBatch(batch[:k*uint64(rs)]))
			default: // in place
				k := min(rng.IntN(64)+1, int(count-seq))
				b, err := prod.Reserve(k)
				if err != nil {
					break
				}
				m := len(b) / rs
				for i := 0; i < m; i++ {
					fillRec(b[i*rs:(i+1)*rs], seq+uint64(i))
				}
				prod.Commit(m)
				seq += uint64(m)
			}
			if seq < count && prod.Free() == 0 {
				if err := prod.WaitWrite(1, back); err != nil && !failed.Load() {
					fail("producer wait: %v", err)
				}
			}
		}
	}()
	go func() { // consumer
		defer wg.Done()
		if lockThreads {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		rng := rand.New(rand.NewPCG(2, uint64(rs)))
		rec := make([]byte, rs)
		batch := make([]byte, 64*rs)
		var seq uint64
		check := func(b []byte) bool {
			if !checkRec(b, seq) {
				fail("record %d: got seq %d or a torn record (% x)", seq, recSeq(b), b[:min(len(b), 16)])
				return false
			}
			seq++
			return true
		}
		for seq < count && !failed.Load() {
			if s, ok := cons.OldestStamp(); ok && (s > seq || seq-s > 64) {
				fail("oldest stamp %d for record %d", s, seq)
			}
			switch op := rng.IntN(10); {
			case op < 4:
				for k := 0; k < 16 && cons.TryRead(rec); k++ {
					if !check(rec) {
						return
					}
				}
			case op < 6:
				for k := 0; k < 16 && cons.Get(rec); k++ {
					if !check(rec) {
						return
					}
				}
				cons.Ack()
			case op < 8:
				n := cons.ReadBatch(batch[:(rng.IntN(64)+1)*rs])
				for i := 0; i < n; i++ {
					if !check(batch[i*rs : (i+1)*rs]) {
						return
					}
				}
			default:
				b, err := cons.Peek(rng.IntN(64) + 1)
				if err != nil {
					break
				}
				for i := 0; i < len(b); i += rs {
					if !check(b[i : i+rs]) {
						return
					}
				}
				cons.Release(len(b) / rs)
			}
			if seq < count && cons.Available() == 0 {
				if err := cons.WaitRead(1, back); err != nil && !failed.Load() {
					fail("consumer wait: %v", err)
				}
			}
		}
		if !failed.Load() {
			if cons.TryRead(rec) {
				fail("record after the last one: seq %d", recSeq(rec))
			}
		}
	}()
	wg.Wait()
	if failed.Load() {
		return
	}
	st := cons.Stats()
	if st.Written != count || st.Read != count || st.InFlight != 0 {
		t.Fatalf("stats after transfer: %+v", st)
	}
}

// TestRandomInterleavings runs many short transfers over tiny rings
// (capacity 1..16, so full and empty are hit all the time) with unlocked
// goroutines; under -race this is the data-race check of every path.
func TestRandomInterleavings(t *testing.T) {
	n := uint64(20000)
	if raceEnabled {
		n = 8000
	}
	for _, c := range []int{1, 2, 4, 16} {
		for _, rs := range []int{4, 8, 32, 256} {
			transfer(t, rs, c, n, false)
			if t.Failed() {
				t.Fatalf("capacity %d record size %d", c, rs)
			}
		}
	}
}

// TestStatsFromThirdGoroutine reads Stats and InFlight while both sides
// run (race detector: they must only use atomics).
func TestStatsFromThirdGoroutine(t *testing.T) {
	r, _ := mkRing(t, 8, 16)
	const n = 20000
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec := make([]byte, 8)
		for i := 0; i < n; {
			if r.TryWrite(rec) {
				i++
			} else {
				runtime.Gosched()
			}
		}
	}()
	go func() {
		rec := make([]byte, 8)
		for i := 0; i < n; {
			if r.TryRead(rec) {
				i++
			} else {
				runtime.Gosched()
			}
		}
	}()
	for {
		st := r.Stats()
		if st.InFlight > 16 || r.InFlight() > 16 {
			t.Fatalf("in flight beyond capacity: %+v", st)
		}
		select {
		case <-done:
			return
		default:
			runtime.Gosched()
		}
	}
}
