package ringbuf

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func TestSize(t *testing.T) {
	cases := []struct{ rs, c, want int }{
		{4, 1, 192 + 64 + 8},
		{4, 16, 192 + 64 + 128},
		{64, 4096, 192 + 64*4096 + 8*4096},
		{256, 2, 192 + 512 + 16},
		{3, 16, 0},
		{2, 16, 0},
		{512, 16, 0},
		{8, 0, 0},
		{8, 12, 0},
		{8, -4, 0},
		{-8, 4, 0},
		{8, 1 << 33, 0},
	}
	for _, c := range cases {
		if got := Size(c.rs, c.c); got != c.want {
			t.Errorf("Size(%d, %d) = %d, want %d", c.rs, c.c, got, c.want)
		}
	}
}

func TestCreateAttachHeader(t *testing.T) {
	for _, rs := range recordSizes {
		r, mem := mkRing(t, rs, 64)
		if r.RecordSize() != rs || r.Capacity() != 64 || r.CreationStamp() != 42 || r.RegionSize() != Size(rs, 64) {
			t.Fatalf("rs %d: header accessors %d %d %d %d", rs, r.RecordSize(), r.Capacity(), r.CreationStamp(), r.RegionSize())
		}
		a, err := Attach(mem)
		if err != nil {
			t.Fatal(err)
		}
		if a.RecordSize() != rs || a.Capacity() != 64 || a.CreationStamp() != 42 {
			t.Fatalf("attach: %d %d %d", a.RecordSize(), a.Capacity(), a.CreationStamp())
		}
		if _, err := AttachExpect(mem, rs, 64); err != nil {
			t.Fatal(err)
		}
		if _, err := AttachAt(unsafe.Pointer(&mem[0]), len(mem)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWrapAround pushes many times the capacity through small rings with
// every record size, with batch sizes that are not divisors of the
// capacity so that every slot offset is a wrap point at some time.
func TestWrapAround(t *testing.T) {
	for _, rs := range recordSizes {
		for _, c := range []int{1, 2, 8, 64} {
			r, _ := mkRing(t, rs, c)
			rec := make([]byte, rs)
			var wseq, rseq uint64
			for round := 0; round < 50*c+20; round++ {
				k := round%(c+1) + 1
				for i := 0; i < k; i++ {
					fillRec(rec, wseq)
					if !r.TryWrite(rec) {
						break
					}
					wseq++
				}
				if got := r.InFlight(); got != wseq-rseq {
					t.Fatalf("rs %d cap %d: InFlight %d, want %d", rs, c, got, wseq-rseq)
				}
				for i := 0; i < k/2+1; i++ {
					if !r.TryRead(rec) {
						break
					}
					if !checkRec(rec, rseq) {
						t.Fatalf("rs %d cap %d: read seq %d, want %d", rs, c, recSeq(rec), rseq)
					}
					rseq++
				}
			}
			for r.TryRead(rec) {
				if !checkRec(rec, rseq) {
					t.Fatalf("rs %d cap %d: drain read seq %d, want %d", rs, c, recSeq(rec), rseq)
				}
				rseq++
			}
			if rseq != wseq || wseq < uint64(10*c) {
				t.Fatalf("rs %d cap %d: wrote %d read %d", rs, c, wseq, rseq)
			}
			st := r.Stats()
			if st.Written != wseq || st.Read != rseq || st.InFlight != 0 {
				t.Fatalf("stats %+v", st)
			}
		}
	}
}

func TestFullAndEmpty(t *testing.T) {
	const c = 16
	r, _ := mkRing(t, 8, c)
	rec := make([]byte, 8)
	if r.TryRead(rec) {
		t.Fatal("TryRead on an empty ring succeeded")
	}
	if _, err := r.Peek(1); err != ErrEmpty {
		t.Fatalf("Peek on empty: %v", err)
	}
	if n := r.ReadBatch(make([]byte, 64)); n != 0 {
		t.Fatalf("ReadBatch on empty: %d", n)
	}
	if o, ok := r.OldestStamp(); ok {
		t.Fatalf("OldestStamp on empty: %d", o)
	}
	if got := r.Stats().EmptyPolls; got != 3 {
		t.Fatalf("EmptyPolls %d, want 3", got)
	}
	for i := 0; i < c; i++ {
		fillRec(rec, uint64(i))
		if !r.TryWrite(rec) {
			t.Fatalf("TryWrite %d failed before full", i)
		}
	}
	if r.Free() != 0 || r.InFlight() != c || r.Available() != c {
		t.Fatalf("full ring: free %d in flight %d available %d", r.Free(), r.InFlight(), r.Available())
	}
	fillRec(rec, 999)
	if r.TryWrite(rec) {
		t.Fatal("TryWrite on a full ring succeeded")
	}
	if _, err := r.Reserve(1); err != ErrFull {
		t.Fatalf("Reserve on full: %v", err)
	}
	if n := r.WriteBatch(make([]byte, 16)); n != 0 {
		t.Fatalf("WriteBatch on full: %d", n)
	}
	if got := r.Stats().Stalls; got != 3 {
		t.Fatalf("Stalls %d, want 3", got)
	}
	// Nothing was overwritten.
	for i := 0; i < c; i++ {
		if !r.TryRead(rec) || !checkRec(rec, uint64(i)) {
			t.Fatalf("read %d: got seq %d", i, recSeq(rec))
		}
	}
	if r.TryRead(rec) {
		t.Fatal("read past the end")
	}
	// One slot freed: exactly one write fits.
	fillRec(rec, 1000)
	if !r.TryWrite(rec) {
		t.Fatal("write into empty ring")
	}
}

// TestBatchCrossEnd checks batches that cross the end of the slot array:
// WriteBatch/ReadBatch copy two spans; Reserve/Peek clamp to the end.
func TestBatchCrossEnd(t *testing.T) {
	for _, rs := range recordSizes {
		const c = 16
		r, _ := mkRing(t, rs, c)
		rec := make([]byte, rs)
		// Move both indices to 11.
		for i := 0; i < 11; i++ {
			fillRec(rec, uint64(i))
			r.TryWrite(rec)
			r.TryRead(rec)
		}
		seq := uint64(11)
		// 10 records starting at slot 11: 5 before the end, 5 after.
		src := make([]byte, 10*rs)
		for i := 0; i < 10; i++ {
			fillRec(src[i*rs:(i+1)*rs], seq+uint64(i))
		}
		if n := r.WriteBatch(src); n != 10 {
			t.Fatalf("rs %d: WriteBatch wrote %d", rs, n)
		}
		// Peek clamps at the end of the slots: 5 then 5.
		p, err := r.Peek(10)
		if err != nil || len(p) != 5*rs {
			t.Fatalf("rs %d: Peek(10) = %d bytes, %v; want 5 records", rs, len(p), err)
		}
		for i := 0; i < 5; i++ {
			if !checkRec(p[i*rs:(i+1)*rs], seq+uint64(i)) {
				t.Fatalf("rs %d: peeked record %d is seq %d", rs, i, recSeq(p[i*rs:]))
			}
		}
		r.Release(2)
		r.Release(3)
		p, err = r.Peek(10)
		if err != nil || len(p) != 5*rs || !checkRec(p[:rs], seq+5) || !checkRec(p[4*rs:], seq+9) {
			t.Fatalf("rs %d: second Peek %d bytes %v", rs, len(p), err)
		}
		r.Release(5)
		// Indices at 21 (slot 5). Reserve clamps to free space, then to end.
		seq = 21
		total := 0
		for total < 16 {
			b, err := r.Reserve(16 - total)
			if err != nil {
				t.Fatalf("rs %d: Reserve: %v", rs, err)
			}
			if total == 0 && len(b) != 11*rs {
				t.Fatalf("rs %d: first Reserve(16) gave %d records, want 11 (to the end)", rs, len(b)/rs)
			}
			k := len(b) / rs
			for i := 0; i < k; i++ {
				fillRec(b[i*rs:(i+1)*rs], seq+uint64(total+i))
			}
			r.Commit(k)
			total += k
		}
		if _, err := r.Reserve(1); err != ErrFull {
			t.Fatalf("rs %d: Reserve on full ring: %v", rs, err)
		}
		// ReadBatch across the end: 16 records from slot 5.
		dst := make([]byte, 20*rs)
		if n := r.ReadBatch(dst); n != 16 {
			t.Fatalf("rs %d: ReadBatch read %d", rs, n)
		}
		for i := 0; i < 16; i++ {
			if !checkRec(dst[i*rs:(i+1)*rs], seq+uint64(i)) {
				t.Fatalf("rs %d: batch record %d is seq %d", rs, i, recSeq(dst[i*rs:]))
			}
		}
	}
}

// TestBatchStamps: a big batch crossing the end of the slots stamps every
// record (the long-span fill), and the stamps follow the records.
func TestBatchStamps(t *testing.T) {
	const c = 256
	r, _ := mkRing(t, 4, c)
	src := make([]byte, 4*c)
	r.SetStamp(1)
	r.WriteBatch(src[:4*100]) // indices to 100
	r.ReadBatch(src[:4*100])
	r.SetStamp(7)
	if n := r.WriteBatch(src[:4*200]); n != 200 { // slots 100..255, 0..43
		t.Fatalf("wrote %d", n)
	}
	r.SetStamp(9)
	if n := r.WriteBatch(src[:4*100]); n != 56 {
		t.Fatalf("wrote %d into 56 free", n)
	}
	rec := make([]byte, 4)
	for i := 0; i < 256; i++ {
		want := uint64(7)
		if i >= 200 {
			want = 9
		}
		if s, ok := r.OldestStamp(); !ok || s != want {
			t.Fatalf("record %d: stamp %d, want %d", i, s, want)
		}
		r.TryRead(rec)
	}
}

func TestPartialBatch(t *testing.T) {
	r, _ := mkRing(t, 16, 8)
	src := make([]byte, 12*16)
	for i := 0; i < 12; i++ {
		fillRec(src[i*16:], uint64(i))
	}
	if n := r.WriteBatch(src); n != 8 {
		t.Fatalf("WriteBatch into 8 free slots wrote %d", n)
	}
	dst := make([]byte, 3*16+5) // room for 3 whole records
	if n := r.ReadBatch(dst); n != 3 || !checkRec(dst[32:48], 2) {
		t.Fatalf("ReadBatch %d", n)
	}
	if n := r.WriteBatch(src[8*16:]); n != 3 {
		t.Fatalf("second WriteBatch wrote %d", n)
	}
	// Partial commits of one reservation; Reserve(0) means one.
	r2, _ := mkRing(t, 8, 8)
	b, _ := r2.Reserve(5)
	for i := 0; i < 5; i++ {
		fillRec(b[i*8:], uint64(i))
	}
	r2.Commit(2)
	r2.Commit(3)
	if b, err := r2.Reserve(0); err != nil || len(b) != 8 {
		t.Fatalf("Reserve(0): %d %v", len(b), err)
	}
	r2.Commit(0)
	if r2.InFlight() != 5 {
		t.Fatalf("in flight %d", r2.InFlight())
	}
}

// TestPutGet: Put records are invisible until Flush; Get slots are not
// free until Ack; the immediate calls publish what came before.
func TestPutGet(t *testing.T) {
	for _, rs := range recordSizes {
		r, mem := mkRing(t, rs, 8)
		c, _ := Attach(mem)
		rec := make([]byte, rs)
		for i := 0; i < 3; i++ {
			fillRec(rec, uint64(i))
			if !r.Put(rec) {
				t.Fatal("Put")
			}
		}
		if c.Available() != 0 || r.InFlight() != 0 {
			t.Fatalf("rs %d: Put records visible before Flush", rs)
		}
		r.Flush()
		if c.Available() != 3 {
			t.Fatalf("rs %d: available %d after Flush", rs, c.Available())
		}
		fillRec(rec, 3)
		r.Put(rec)
		fillRec(rec, 4)
		r.TryWrite(rec) // publishes the Put before it too
		if c.Available() != 5 {
			t.Fatalf("rs %d: TryWrite did not publish the Put before it", rs)
		}
		for i := 0; i < 3; i++ {
			if !c.Get(rec) || !checkRec(rec, uint64(i)) {
				t.Fatalf("rs %d: Get %d: seq %d", rs, i, recSeq(rec))
			}
		}
		if r.Free() != 3 {
			t.Fatalf("rs %d: Get slots freed before Ack: free %d", rs, r.Free())
		}
		c.Ack()
		if r.Free() != 6 {
			t.Fatalf("rs %d: free %d after Ack", rs, r.Free())
		}
		// Fill with Put until full.
		n := 0
		for i := 5; r.Put(rec); i++ {
			n++
		}
		if n != 6 || r.Stats().Stalls != 1 {
			t.Fatalf("rs %d: %d Puts into 6 free slots, stalls %d", rs, n, r.Stats().Stalls)
		}
		r.Flush()
		c.Get(rec)
		if !c.TryRead(rec) || !checkRec(rec, 4) { // releases the Get before it too
			t.Fatalf("rs %d: TryRead after Get: seq %d", rs, recSeq(rec))
		}
		if r.Free() != 2 {
			t.Fatalf("rs %d: free %d after TryRead", rs, r.Free())
		}
		for c.Get(rec) {
		}
		if c.Stats().EmptyPolls != 1 {
			t.Fatalf("rs %d: empty polls %d", rs, c.Stats().EmptyPolls)
		}
	}
}

func TestShortRecordPadded(t *testing.T) {
	r, _ := mkRing(t, 16, 4)
	full := []byte("0123456789abcdef")
	r.TryWrite(full)
	r.TryWrite([]byte("xyz"))
	dst := make([]byte, 16)
	r.TryRead(dst)
	r.TryRead(dst)
	if string(dst) != "xyz"+strings.Repeat("\x00", 13) {
		t.Fatalf("short record not zero-padded: %q", dst)
	}
}

func TestMisusePanics(t *testing.T) {
	r, _ := mkRing(t, 8, 4)
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			v := recover()
			err, ok := v.(error)
			if !ok {
				t.Fatalf("%s: did not panic with an error (got %v)", name, v)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: panic %v is not *Error", name, err)
			}
		}()
		f()
	}
	mustPanic("long record", func() { r.TryWrite(make([]byte, 9)) })
	mustPanic("short dst", func() { r.TryWrite(make([]byte, 8)); r.TryRead(make([]byte, 7)) })
	mustPanic("odd batch", func() { r.WriteBatch(make([]byte, 12)) })
	mustPanic("overcommit", func() { r.Reserve(1); r.Commit(2) })
	mustPanic("overrelease", func() { r.Peek(1); r.Release(5) })
}

func TestStampsAndLag(t *testing.T) {
	r, _ := mkRing(t, 8, 8)
	rec := make([]byte, 8)
	if n, age := r.Lag(100); n != 0 || age != 0 {
		t.Fatalf("empty lag %d %d", n, age)
	}
	r.SetStamp(1000)
	r.TryWrite(rec)
	r.TryWriteStamp(rec, 1100)
	r.SetStamp(1200)
	r.WriteBatch(make([]byte, 16))
	b, _ := r.Reserve(2)
	_ = b
	r.CommitStamp(2, 1300)
	if s, ok := r.OldestStamp(); !ok || s != 1000 {
		t.Fatalf("oldest %d %v", s, ok)
	}
	want := []uint64{1000, 1100, 1200, 1200, 1300, 1300}
	for i, w := range want {
		n, age := r.Lag(1500)
		if n != uint64(len(want)-i) || age != 1500-w {
			t.Fatalf("record %d: lag %d age %d, want %d %d", i, n, age, len(want)-i, 1500-w)
		}
		r.TryRead(rec)
	}
	if _, age := r.Lag(0); age != 0 {
		t.Fatal("age of empty ring")
	}
	// A stamp in the future of now is age 0.
	r.TryWriteStamp(rec, 5000)
	if n, age := r.Lag(10); n != 1 || age != 0 {
		t.Fatalf("future stamp: %d %d", n, age)
	}
}

// TestSeparateHandles is the hypervisor setup: the primary creates the
// ring, the backup attaches its own handle; each uses its own side.
func TestSeparateHandles(t *testing.T) {
	p, mem := mkRing(t, 32, 8)
	rec := make([]byte, 32)
	for i := 0; i < 5; i++ {
		fillRec(rec, uint64(i))
		p.TryWrite(rec)
	}
	c, err := Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	if c.InFlight() != 5 {
		t.Fatalf("attached in flight %d", c.InFlight())
	}
	for i := 0; i < 40; i++ {
		fillRec(rec, uint64(i+5))
		for !p.TryWrite(rec) {
			if !c.TryRead(rec) {
				t.Fatal("both full and empty")
			}
		}
	}
	// The producer re-attaching (after a restart) resumes from the region.
	p2, err := Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for c.TryRead(rec) {
		got++
	}
	fillRec(rec, 1)
	if !p2.TryWrite(rec) || !c.TryRead(rec) || !checkRec(rec, 1) {
		t.Fatal("write through re-attached producer")
	}
	if st := c.Stats(); st.Written != 46 || st.Read != 46 {
		t.Fatalf("stats %+v (drained %d)", st, got)
	}
}

func TestCreateErrors(t *testing.T) {
	mem := AlignedRegion(Size(8, 16))
	cases := []struct {
		mem    []byte
		rs, c  int
		kind   error
		substr string
	}{
		{mem, 12, 16, ErrRecordSize, "record size 12 is not a power of two in [4, 256]"},
		{mem, 8, 10, ErrCapacity, "capacity 10 is not a power of two"},
		{mem[:100], 8, 16, ErrRegion, "region is 100 bytes, need 448 for record size 8 and capacity 16"},
		{nil, 8, 16, ErrRegion, "region is empty"},
		{mem[1:], 8, 8, ErrRegion, "not 8-byte aligned"},
	}
	for _, c := range cases {
		_, err := Create(c.mem, c.rs, c.c, 0)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.substr) || !strings.HasPrefix(err.Error(), "ringbuf: create: ") {
			t.Errorf("Create(%d, %d, %d): %v; want %v containing %q", len(c.mem), c.rs, c.c, err, c.kind, c.substr)
		}
	}
	if _, err := CreateAt(nil, 100, 8, 8, 0); !errors.Is(err, ErrRegion) {
		t.Errorf("CreateAt(nil): %v", err)
	}
}

func TestAttachErrors(t *testing.T) {
	const rs, c = 16, 64
	fresh := func() []byte {
		mem := AlignedRegion(Size(rs, c))
		if _, err := Create(mem, rs, c, 7); err != nil {
			t.Fatal(err)
		}
		return mem
	}
	set64 := func(off int, v uint64) func([]byte) []byte {
		return func(m []byte) []byte { *(*uint64)(unsafe.Pointer(&m[off])) = v; return m }
	}
	set32 := func(off int, v uint32) func([]byte) []byte {
		return func(m []byte) []byte { *(*uint32)(unsafe.Pointer(&m[off])) = v; return m }
	}
	both := func(f, g func([]byte) []byte) func([]byte) []byte {
		return func(m []byte) []byte { return g(f(m)) }
	}
	cases := []struct {
		name   string
		mut    func([]byte) []byte
		kind   error
		substr string
	}{
		{"zeroed", func(m []byte) []byte { clear(m); return m }, ErrMagic, "magic is 0x0000000000000000, want 0x474e495253444e48"},
		{"magic", set64(offMagic, 0xdeadbeef), ErrMagic, "magic is 0x00000000deadbeef"},
		{"version", set32(offVersion, 7), ErrVersion, "layout version is 7, want 1"},
		{"record size odd", set32(offRecordSize, 12), ErrRecordSize, "record size 12 is not a power of two in [4, 256]"},
		{"record size big", set32(offRecordSize, 512), ErrRecordSize, "record size 512"},
		{"record size 0", set32(offRecordSize, 0), ErrRecordSize, "record size 0"},
		{"capacity 0", set64(offCapacity, 0), ErrCapacity, "capacity 0 is not a power of two"},
		{"capacity odd", set64(offCapacity, 100), ErrCapacity, "capacity 100"},
		{"capacity huge", set64(offCapacity, 1<<62), ErrCapacity, "capacity 4611686018427387904"},
		{"capacity changed", set64(offCapacity, 32), ErrRegion, "region size field is 1728, want 960 for record size 16 and capacity 32"},
		{"record size changed", set32(offRecordSize, 8), ErrRegion, "region size field is 1728, want 1216"},
		{"size field", set64(offRegionSize, 1<<40), ErrRegion, "region size field is 1099511627776, want 1728"},
		{"too small", func(m []byte) []byte { return m[:1000] }, ErrRegion, "region is 1000 bytes, need 1728 for record size 16 and capacity 64"},
		{"header cut", func(m []byte) []byte { return m[:100] }, ErrRegion, "region is 100 bytes, need 192 for the header"},
		{"empty", func(m []byte) []byte { return m[:0] }, ErrRegion, "region is empty"},
		{"misaligned", func(m []byte) []byte { return m[4:] }, ErrRegion, "not 8-byte aligned"},
		{"consumer ahead", both(set64(offProdIndex, 12), set64(offConsIndex, 17)), ErrIndex, "consumer index 17 is ahead of producer index 12"},
		{"overfull", both(set64(offProdIndex, 1000), set64(offConsIndex, 900)), ErrIndex, "100 records in flight (producer index 1000, consumer index 900) exceed capacity 64"},
	}
	for _, tc := range cases {
		_, err := Attach(tc.mut(fresh()))
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.substr) || !strings.HasPrefix(err.Error(), "ringbuf: attach: ") {
			t.Errorf("%s: %v; want %v containing %q", tc.name, err, tc.kind, tc.substr)
		}
	}
	// The message names the field: the one the brief's example gives.
	_, err := Attach(both(set64(offProdIndex, 12), set64(offConsIndex, 17))(fresh()))
	if err.Error() != "ringbuf: attach: consumer index 17 is ahead of producer index 12" {
		t.Errorf("message %q", err)
	}
	// Expected geometry.
	if _, err := AttachExpect(fresh(), 32, 0); !errors.Is(err, ErrRecordSize) || !strings.Contains(err.Error(), "record size is 16, want 32") {
		t.Errorf("AttachExpect rs: %v", err)
	}
	if _, err := AttachExpect(fresh(), 0, 128); !errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), "capacity is 64, want 128") {
		t.Errorf("AttachExpect cap: %v", err)
	}
	// Extreme but legal indices are accepted: free-running, near 2^64.
	m := both(set64(offProdIndex, 1<<63+64), set64(offConsIndex, 1<<63))(fresh())
	r, err := Attach(m)
	if err != nil || r.InFlight() != 64 {
		t.Fatalf("full ring at 2^63: %v", err)
	}
	// A failed attach leaves the region untouched.
	m = both(set64(offProdIndex, 12), set64(offConsIndex, 17))(fresh())
	before := string(m)
	Attach(m)
	if string(m) != before {
		t.Fatal("Attach modified a region it rejected")
	}
}

// TestIndexWrap runs the ring across the 2^64 wrap of the free-running
// indices.
func TestIndexWrap(t *testing.T) {
	mem := AlignedRegion(Size(8, 8))
	Create(mem, 8, 8, 0)
	start := ^uint64(0) - 20
	*(*uint64)(unsafe.Pointer(&mem[offProdIndex])) = start
	*(*uint64)(unsafe.Pointer(&mem[offConsIndex])) = start
	r, err := Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 8)
	var w, rd uint64
	for i := 0; i < 60; i++ {
		for j := 0; j < 3; j++ {
			fillRec(rec, w)
			if r.TryWrite(rec) {
				w++
			}
		}
		for j := 0; j < 2; j++ {
			if r.TryRead(rec) {
				if !checkRec(rec, rd) {
					t.Fatalf("seq %d want %d", recSeq(rec), rd)
				}
				rd++
			}
		}
		if r.InFlight() != w-rd {
			t.Fatalf("in flight %d want %d", r.InFlight(), w-rd)
		}
	}
	if r.Stats().Written != start+w {
		t.Fatal("written did not wrap")
	}
}

// TestMisbehavingPeer: after Attach, a peer scribbles impossible indices;
// the Ring methods read them as full (producer) or empty (consumer), never
// overwrite unread records or read unwritten ones, and never panic.
func TestMisbehavingPeer(t *testing.T) {
	r, mem := mkRing(t, 8, 16)
	rec := make([]byte, 8)
	for i := 0; i < 4; i++ {
		r.TryWrite(rec)
	}
	head := (*uint64)(unsafe.Pointer(&mem[offProdIndex]))
	tail := (*uint64)(unsafe.Pointer(&mem[offConsIndex]))
	// Consumer index jumps past the producer's: the producer sees a full ring.
	*tail = 1000
	r.pLimit = r.pHead // force a refresh
	if r.TryWrite(rec) || r.WriteBatch(rec) != 0 || r.Free() != 0 {
		t.Fatal("producer wrote after the consumer index went impossible")
	}
	if _, err := r.Reserve(1); err != ErrFull {
		t.Fatalf("Reserve: %v", err)
	}
	*tail = 0
	// Producer index goes behind the consumer's: the consumer sees empty.
	for r.TryRead(rec) {
	}
	*head = 2
	if r.TryRead(rec) || r.ReadBatch(rec) != 0 || r.Available() != 0 {
		t.Fatal("consumer read after the producer index went behind it")
	}
	if _, err := r.Peek(1); err != ErrEmpty {
		t.Fatalf("Peek: %v", err)
	}
	// Producer index far ahead: still empty, not cap records of garbage.
	*head = 1 << 40
	if r.TryRead(rec) || r.Available() != 0 {
		t.Fatal("consumer read past the capacity")
	}
	if st := r.Stats(); st.InFlight != 0 {
		t.Fatalf("stats report %d in flight for impossible indices", st.InFlight)
	}
}

func TestWait(t *testing.T) {
	r, _ := mkRing(t, 8, 4)
	rec := make([]byte, 8)
	// Already satisfied.
	if err := r.WaitWrite(4, nil); err != nil {
		t.Fatal(err)
	}
	// Bad n.
	if err := r.WaitRead(5, nil); !errors.Is(err, ErrCapacity) {
		t.Fatalf("WaitRead(5): %v", err)
	}
	if err := r.WaitWrite(0, nil); !errors.Is(err, ErrCapacity) {
		t.Fatalf("WaitWrite(0): %v", err)
	}
	// Deadline.
	t0 := time.Now()
	err := r.WaitRead(1, &Backoff{Deadline: t0.Add(20 * time.Millisecond)})
	if err != ErrDeadline || time.Since(t0) < 20*time.Millisecond || time.Since(t0) > 2*time.Second {
		t.Fatalf("deadline: %v after %v", err, time.Since(t0))
	}
	// Stop, without sleeping or yielding.
	var polls int
	err = r.WaitRead(1, &Backoff{Spin: 10, Yield: -1, MaxSleep: -1, Stop: func() bool { polls++; return polls > 50 }})
	if err != ErrStopped {
		t.Fatalf("stop: %v", err)
	}
	// Full ring: producer waits until the consumer frees 2 slots.
	for r.TryWrite(rec) {
	}
	stalls := r.Stats().Stalls
	go func() {
		time.Sleep(5 * time.Millisecond)
		r.TryRead(rec)
		time.Sleep(5 * time.Millisecond)
		r.TryRead(rec)
	}()
	if err := r.WaitWrite(2, &Backoff{Deadline: time.Now().Add(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if r.Free() < 2 || r.Stats().Stalls != stalls+1 {
		t.Fatalf("free %d stalls %d", r.Free(), r.Stats().Stalls)
	}
	// Consumer waits for records written later.
	r2, _ := mkRing(t, 8, 8)
	var stop atomic.Bool
	go func() {
		for i := 0; i < 3; i++ {
			time.Sleep(2 * time.Millisecond)
			r2.TryWrite(rec)
		}
	}()
	if err := r2.WaitRead(3, &Backoff{Stop: stop.Load}); err != nil {
		t.Fatal(err)
	}
	if r2.Available() != 3 {
		t.Fatal("available")
	}
}

func ExampleRing() {
	mem := AlignedRegion(Size(16, 4096)) // a hypervisor passes shared physical memory (CreateAt)
	primary, err := Create(mem, 16, 4096, 1)
	if err != nil {
		panic(err)
	}
	backup, err := Attach(mem) // the other core's own handle
	if err != nil {
		panic(err)
	}

	primary.SetStamp(100) // e.g. the TSC at this VM exit
	primary.TryWrite([]byte("event: rdtsc    "))
	buf, _ := primary.Reserve(2) // write in place, no copy through a buffer
	copy(buf, "event: io in    event: io out   ")
	primary.Commit(2)

	n, age := backup.Lag(250)
	fmt.Println("in flight", n, "oldest age", age)
	rec := make([]byte, 16)
	for backup.TryRead(rec) {
		fmt.Printf("%q\n", rec)
	}
	// Output:
	// in flight 3 oldest age 150
	// "event: rdtsc    "
	// "event: io in    "
	// "event: io out   "
}
