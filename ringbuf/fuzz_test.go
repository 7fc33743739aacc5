package ringbuf

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// FuzzAttach: Attach on arbitrary bytes returns an error or a valid ring,
// never panics; on a valid ring every operation stays in bounds, also when
// the peer then scribbles arbitrary values over the indices.
func FuzzAttach(f *testing.F) {
	for _, rs := range []int{4, 16, 256} {
		for _, c := range []int{1, 8, 64} {
			mem := AlignedRegion(Size(rs, c))
			r, _ := Create(mem, rs, c, 3)
			rec := make([]byte, rs)
			for i := 0; i < c/2+1; i++ {
				r.TryWrite(rec)
			}
			r.TryRead(rec)
			f.Add(append([]byte(nil), mem...), uint64(0), uint64(0))
			f.Add(append([]byte(nil), mem...), uint64(1), uint64(1)<<63)
			f.Add(append([]byte(nil), mem[:len(mem)-1]...), uint64(5), uint64(2))
		}
	}
	f.Add([]byte("HNDSRING"), uint64(0), uint64(0))
	f.Add(make([]byte, 300), uint64(0), uint64(0))

	f.Fuzz(func(t *testing.T, data []byte, scribbleHead, scribbleTail uint64) {
		if len(data) > 1<<20 {
			return
		}
		mem := AlignedRegion(len(data)) // the fuzzer's slice may be misaligned
		copy(mem, data)
		r, err := Attach(mem)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			if r != nil {
				t.Fatal("ring and error")
			}
			return
		}
		if r.RegionSize() > len(mem) || r.RegionSize() != Size(r.RecordSize(), r.Capacity()) {
			t.Fatalf("region size %d of %d", r.RegionSize(), len(mem))
		}
		if in := r.InFlight(); in > uint64(r.Capacity()) {
			t.Fatalf("in flight %d > capacity %d", in, r.Capacity())
		}
		exercise(t, r)
		// A misbehaving peer overwrites the indices: still no panic, no
		// access outside the region (the race detector's checkptr and the
		// Go heap's bounds would catch one with -race / -d=checkptr).
		if scribbleHead|scribbleTail != 0 {
			binary.NativeEndian.PutUint64(mem[offProdIndex:], scribbleHead)
			binary.NativeEndian.PutUint64(mem[offConsIndex:], scribbleTail)
			exercise(t, r)
		}
	})
}

func exercise(t *testing.T, r *Ring) {
	rs := r.RecordSize()
	rec := make([]byte, rs)
	batch := make([]byte, 3*rs)
	r.Stats()
	r.Lag(1)
	r.OldestStamp()
	r.TryRead(rec)
	if b, err := r.Peek(3); err == nil {
		if len(b) == 0 || len(b)%rs != 0 || len(b) > 3*rs {
			t.Fatalf("Peek(3) gave %d bytes", len(b))
		}
		r.Release(len(b) / rs)
	}
	r.ReadBatch(batch)
	r.Get(rec)
	r.Ack()
	r.TryWrite(rec)
	r.Put(rec)
	r.Flush()
	r.WriteBatch(batch)
	if b, err := r.Reserve(3); err == nil {
		if len(b) == 0 || len(b)%rs != 0 || len(b) > 3*rs {
			t.Fatalf("Reserve(3) gave %d bytes", len(b))
		}
		r.Commit(len(b) / rs)
	}
	r.Free()
	r.Available()
	r.InFlight()
	end := uintptr(r.base) + uintptr(r.RegionSize())
	if uintptr(r.slot(^uint64(0)))+uintptr(rs) > end || uintptr(unsafe.Pointer(r.stamp(^uint64(0))))+8 > end {
		t.Fatal("last slot or stamp outside the region")
	}
}
