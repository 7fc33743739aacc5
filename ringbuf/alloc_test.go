package ringbuf

import (
	"testing"
	"time"
)

// TestNoAllocs: the hot paths (and the waits when they need not wait)
// allocate nothing.
func TestNoAllocs(t *testing.T) {
	for _, rs := range recordSizes {
		r, _ := mkRing(t, rs, 64)
		for r.TryRead(make([]byte, rs)) { // start empty: the waits below wait
		}
		rec := make([]byte, rs)
		short := make([]byte, rs/2)
		batch := make([]byte, 48*rs) // crosses the end of the slots on every other call
		back := &Backoff{Deadline: time.Now().Add(time.Hour), Stop: func() bool { return false }}
		cases := []struct {
			name string
			f    func()
		}{
			{"TryWrite+TryRead", func() { r.TryWrite(rec); r.TryRead(rec) }},
			{"TryWriteStamp+TryRead", func() { r.TryWriteStamp(rec, 9); r.TryRead(rec) }},
			{"Put+Flush+Get+Ack", func() {
				r.Put(rec)
				r.Put(short)
				r.Flush()
				r.Get(rec)
				r.Get(rec)
				r.Ack()
			}},
			{"padded TryWrite", func() { r.TryWrite(short); r.TryRead(rec) }},
			{"WriteBatch+ReadBatch", func() { r.WriteBatch(batch); r.ReadBatch(batch) }},
			{"Reserve+Commit+Peek+Release", func() {
				b, _ := r.Reserve(40)
				r.Commit(len(b) / rs)
				p, _ := r.Peek(40)
				r.Release(len(p) / rs)
			}},
			{"full/empty", func() {
				for r.TryWrite(rec) {
				}
				r.TryWrite(rec)
				r.Reserve(1)
				for r.TryRead(rec) {
				}
				r.Peek(1)
				r.ReadBatch(batch)
			}},
			{"waits", func() {
				r.WaitWrite(1, back)
				r.TryWrite(rec)
				r.WaitRead(1, back)
				r.TryRead(rec)
			}},
			{"waits that wait", func() {
				r.WaitRead(1, &Backoff{Spin: 8, Yield: 2, MaxSleep: time.Microsecond, Deadline: time.Now().Add(50 * time.Microsecond)})
				r.WaitRead(1, &Backoff{Spin: 8, Yield: -1, MaxSleep: -1, Stop: stopAfter3()})
			}},
			{"accounting", func() {
				r.SetStamp(5)
				r.TryWrite(rec)
				r.Lag(10)
				r.OldestStamp()
				r.InFlight()
				r.Stats()
				r.Free()
				r.Available()
				r.TryRead(rec)
			}},
		}
		if rs == 16 {
			tr, _ := As[[16]byte](r)
			var v [16]byte
			cases = append(cases, struct {
				name string
				f    func()
			}{"typed", func() {
				tr.TryWrite(&v)
				tr.Put(&v)
				r.Flush()
				if s, h := tr.Claim(7); s != nil {
					*tr.Claimed(h) = v
				}
				tr.Flush()
				tr.TryRead(&v)
				tr.Get(&v)
				r.Ack()
				if s, _, _ := tr.Front(); s != nil {
					v = *s
					tr.Pop()
				}
			}})
		}
		for _, c := range cases {
			if c.name == "waits that wait" && rs != 8 {
				continue // sleeps: once is enough
			}
			if a := testing.AllocsPerRun(200, c.f); a != 0 {
				t.Errorf("record size %d: %s: %v allocations per run", rs, c.name, a)
			}
		}
	}
}

// stopAfter3 returns a Stop function that says stop on its third call; a
// plain function and a package counter, so that making it allocates
// nothing that AllocsPerRun would blame on the wait.
var stopCalls int

func stopAfter3() func() bool {
	stopCalls = 0
	return stopFn
}

func stopFn() bool { stopCalls++; return stopCalls >= 3 }
