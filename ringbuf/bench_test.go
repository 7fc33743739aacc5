package ringbuf

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"
)

// Single-threaded costs of the hot paths, per record, for the paper's
// entry sizes and a 4096-entry ring: write into a non-full ring, read from
// a full one (tools/ringbench prints the paper-style table).

var benchSizes = []int{4, 8, 16, 32, 64}

func BenchmarkTryWrite(b *testing.B) {
	for _, rs := range benchSizes {
		b.Run(fmt.Sprint(rs), func(b *testing.B) {
			r, _ := mkRing(b, rs, 4096)
			rec := make([]byte, rs)
			b.SetBytes(int64(rs))
			for i := 0; b.Loop(); i++ {
				if !r.TryWrite(rec) {
					r.cTail = r.pHead // drain without timing reads
					atomic.StoreUint64(r.tail, r.pHead)
					r.TryWrite(rec)
				}
			}
		})
	}
}

func BenchmarkTryRead(b *testing.B) {
	for _, rs := range benchSizes {
		b.Run(fmt.Sprint(rs), func(b *testing.B) {
			r, _ := mkRing(b, rs, 4096)
			rec := make([]byte, rs)
			for r.TryWrite(rec) {
			}
			b.SetBytes(int64(rs))
			for b.Loop() {
				if !r.TryRead(rec) {
					r.pHead = r.cTail + 4096 // refill without timing writes
					atomic.StoreUint64(r.head, r.pHead)
					r.TryRead(rec)
				}
			}
		})
	}
}

func BenchmarkWriteBatch64(b *testing.B) {
	for _, rs := range benchSizes {
		b.Run(fmt.Sprint(rs), func(b *testing.B) {
			r, _ := mkRing(b, rs, 4096)
			src := make([]byte, 64*rs)
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if r.WriteBatch(src) < 64 {
					r.cTail = r.pHead
					atomic.StoreUint64(r.tail, r.pHead)
				}
			}
		})
	}
}

func BenchmarkTransfer(b *testing.B) {
	for _, rs := range benchSizes {
		b.Run(fmt.Sprint(rs), func(b *testing.B) {
			r, _ := mkRing(b, rs, 4096)
			b.SetBytes(int64(rs))
			done := make(chan struct{})
			n := b.N
			go func() {
				runtime.LockOSThread()
				rec := make([]byte, rs)
				for i := 0; i < n; {
					if r.TryRead(rec) {
						i++
					}
				}
				close(done)
			}()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			rec := make([]byte, rs)
			b.ResetTimer()
			for i := 0; i < n; {
				if r.TryWrite(rec) {
					i++
				}
			}
			<-done
		})
	}
}

// BenchmarkPut and BenchmarkGet: one record per op, one publish per 1000.
func BenchmarkPut(b *testing.B) {
	for _, rs := range benchSizes {
		b.Run(fmt.Sprint(rs), func(b *testing.B) {
			r, _ := mkRing(b, rs, 4096)
			rec := make([]byte, rs)
			b.SetBytes(int64(rs))
			for i := 0; b.Loop(); i++ {
				if !r.Put(rec) {
					r.cTail = r.pHead
					atomic.StoreUint64(r.tail, r.pHead)
					r.Put(rec)
				}
				if i%1000 == 999 {
					r.Flush()
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, rs := range benchSizes {
		b.Run(fmt.Sprint(rs), func(b *testing.B) {
			r, _ := mkRing(b, rs, 4096)
			rec := make([]byte, rs)
			for r.TryWrite(rec) {
			}
			b.SetBytes(int64(rs))
			for i := 0; b.Loop(); i++ {
				if !r.Get(rec) {
					r.pHead = r.cTail + 4096
					atomic.StoreUint64(r.head, r.pHead)
					r.Get(rec)
				}
				if i%1000 == 999 {
					r.Ack()
				}
			}
		})
	}
}

func benchTyped[T any](b *testing.B, put, publish bool) {
	var v T
	rs := int(unsafe.Sizeof(v))
	r, _ := mkRing(b, rs, 4096)
	t, err := As[T](r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(rs))
	if put {
		for i := 0; b.Loop(); i++ {
			var ok bool
			if publish {
				ok = t.TryWrite(&v)
			} else {
				ok = t.Put(&v)
			}
			if !ok {
				r.Flush()
				r.cTail = r.pHead
				atomic.StoreUint64(r.tail, r.pHead)
			}
		}
		return
	}
	for t.TryWrite(&v) {
	}
	for i := 0; b.Loop(); i++ {
		var ok bool
		if publish {
			ok = t.TryRead(&v)
		} else {
			ok = t.Get(&v)
		}
		if !ok {
			r.Ack()
			r.pHead = r.cTail + 4096
			atomic.StoreUint64(r.head, r.pHead)
		}
	}
}

func BenchmarkTyped(b *testing.B) {
	for _, m := range []struct {
		name         string
		put, publish bool
	}{{"TryWrite", true, true}, {"Put", true, false}, {"TryRead", false, true}, {"Get", false, false}} {
		b.Run(m.name+"/4", func(b *testing.B) { benchTyped[[4]byte](b, m.put, m.publish) })
		b.Run(m.name+"/8", func(b *testing.B) { benchTyped[[8]byte](b, m.put, m.publish) })
		b.Run(m.name+"/16", func(b *testing.B) { benchTyped[[16]byte](b, m.put, m.publish) })
		b.Run(m.name+"/32", func(b *testing.B) { benchTyped[[32]byte](b, m.put, m.publish) })
		b.Run(m.name+"/64", func(b *testing.B) { benchTyped[[64]byte](b, m.put, m.publish) })
	}
}
