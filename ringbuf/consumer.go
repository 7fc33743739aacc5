package ringbuf

import (
	"sync/atomic"
	"unsafe"
)

// Consumer side. Only one goroutine (core) may call these at a time.

// avail is the number of unread records according to the cached producer
// index.
func (r *Ring) avail() uint64 {
	n := r.cHead - r.cTail
	if n > r.cap { // only with a corrupt peer index: stay inside the ring
		return r.cap
	}
	return n
}

// refreshHead re-reads the producer index (acquire: the index before the
// slots it covers). An impossible producer index (a misbehaving peer: behind
// the consumer, or more than the capacity ahead) reads as an empty ring
// rather than letting the consumer read slots that were never written.
func (r *Ring) refreshHead() {
	h := atomic.LoadUint64(r.head)
	if h-r.cTail > r.cap {
		h = r.cTail
	}
	r.cHead = h
}

// Available is the number of records the consumer can read now.
// Consumer side.
func (r *Ring) Available() uint64 {
	r.refreshHead()
	return r.avail()
}

// TryRead copies the oldest unread record into dst (len(dst) must be at
// least RecordSize; shorter panics) and releases its slot. It returns
// false, copying nothing, if the ring is empty. Consumer side; does not
// allocate.
func (r *Ring) TryRead(dst []byte) bool {
	t := r.cTail
	if t == r.cHead || uintptr(len(dst)) < r.fastLen {
		return r.tryReadSlow(dst) // empty per the cache, short dst, or a size over 64
	}
	// Fast path: no calls, nothing spilled.
	copyRec(unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Add(r.slots, uintptr(t&r.mask)<<(r.shift&63)), r.shift) // unsafe: dst holds a record; masked slot index
	r.cTail = t + 1
	atomic.StoreUint64(r.tail, t+1) // release: slot read before it is handed back
	return true
}

// tryReadSlow is TryRead when the cached producer index says empty or the
// record needs a memmove.
//
//go:noinline
func (r *Ring) tryReadSlow(dst []byte) bool {
	if uintptr(len(dst)) < r.rsize {
		panic(errShortDst)
	}
	t := r.cTail
	if t == r.cHead {
		r.refreshHead()
		if t == r.cHead {
			bump(r.cempty)
			return false
		}
	}
	copyAny(unsafe.Pointer(unsafe.SliceData(dst)), r.slot(t), r.shift) // unsafe: dst holds at least one record
	r.cTail = t + 1
	atomic.StoreUint64(r.tail, t+1) // release: slot read before it is handed back
	return true
}

// Get reads one record like TryRead but does not hand its slot back to
// the producer until Ack, or the next TryRead, ReadBatch or Release, which
// release everything read before them. Paired with the producer's Put and
// Flush it reads a run of records for one atomic store. Consumer side;
// does not allocate.
func (r *Ring) Get(dst []byte) bool {
	t := r.cTail
	if t == r.cHead || uintptr(len(dst)) < r.fastLen {
		return r.getSlow(dst)
	}
	copyRec(unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Add(r.slots, uintptr(t&r.mask)<<(r.shift&63)), r.shift) // unsafe: dst holds a record; masked slot index
	r.cTail = t + 1
	return true
}

//go:noinline
func (r *Ring) getSlow(dst []byte) bool {
	if uintptr(len(dst)) < r.rsize {
		panic(errShortDst)
	}
	t := r.cTail
	if t == r.cHead {
		r.refreshHead()
		if t == r.cHead {
			bump(r.cempty)
			return false
		}
	}
	copyAny(unsafe.Pointer(unsafe.SliceData(dst)), r.slot(t), r.shift) // unsafe: dst holds at least one record
	r.cTail = t + 1
	return true
}

// Ack hands the slots of the records read by Get back to the producer.
// Consumer side.
func (r *Ring) Ack() {
	atomic.StoreUint64(r.tail, r.cTail) // release: slots read before they are handed back
}

// ReadBatch copies as many unread records as fit in dst (whole records
// only: len(dst)/RecordSize of them), releases them with one index store
// and returns how many it copied (0 if the ring is empty). The batch may
// cross the end of the slot array; it is copied as at most two spans.
// Consumer side; does not allocate.
func (r *Ring) ReadBatch(dst []byte) int {
	n := uint64(len(dst)) >> r.shift
	if n == 0 {
		return 0
	}
	avail := r.avail()
	if avail < n {
		r.refreshHead()
		avail = r.avail()
		if avail == 0 {
			bump(r.cempty)
			return 0
		}
		n = min(n, avail)
	}
	t := r.cTail
	first := min(n, r.cap-t&r.mask) // records before the end of the slot array
	k := copy(dst, r.span(t, first))
	if first < n {
		copy(dst[k:], r.span(0, n-first))
	}
	r.cTail = t + n
	atomic.StoreUint64(r.tail, t+n) // release: slots read before they are handed back
	return int(n)
}

// Peek returns the next k unread records, 1 <= k <= n, as one contiguous
// []byte of k*RecordSize bytes that stays valid until Release, or ErrEmpty
// if there is none. k is n clamped to the unread records and to the end of
// the slot array: a peek never wraps, so a caller wanting n records loops
// (Peek, use, Release). A new Peek replaces an unreleased one. Consumer
// side; does not allocate. n < 1 peeks one record.
func (r *Ring) Peek(n int) ([]byte, error) {
	want := uint64(max(n, 1))
	avail := r.avail()
	if avail < want {
		r.refreshHead()
		avail = r.avail()
		if avail == 0 {
			bump(r.cempty)
			r.cPeeked = 0
			return nil, ErrEmpty
		}
	}
	t := r.cTail
	k := min(want, avail, r.cap-t&r.mask)
	r.cPeeked = k
	return r.span(t, k), nil
}

// PeekAt returns the unread record i places after the oldest (0: the
// one Peek would return first) without taking it, or false if fewer than
// i+1 are unread. The bytes stay valid until that record is released.
// Consumer side, for looking at what is still to come (a capture of the
// log); does not allocate.
func (r *Ring) PeekAt(i uint64) ([]byte, bool) {
	if i >= r.avail() {
		r.refreshHead()
		if i >= r.avail() {
			return nil, false
		}
	}
	return r.span(r.cTail+i, 1)[:r.rsize], true
}

// Release hands the first n records of the last Peek back to the producer;
// the rest stay peeked (they now start at the next record). Releasing more
// than was peeked panics. Consumer side; does not allocate.
func (r *Ring) Release(n int) {
	if n <= 0 {
		return
	}
	c := uint64(n)
	if c > r.cPeeked {
		panic(errOverRelease)
	}
	r.cPeeked -= c
	r.cTail += c
	atomic.StoreUint64(r.tail, r.cTail) // release: slots read before they are handed back
}

// OldestStamp returns the stamp of the oldest unread record, and false if
// there is none. Consumer side.
func (r *Ring) OldestStamp() (uint64, bool) {
	if r.cTail == r.cHead {
		r.refreshHead()
		if r.cTail == r.cHead {
			return 0, false
		}
	}
	return *r.stamp(r.cTail), true
}

// Lag returns the number of unread records and the age of the oldest
// one, now minus its stamp (0 if the ring is empty or the stamp is in the
// future of now), with now on the producer's stamp clock. Consumer side.
func (r *Ring) Lag(now uint64) (inFlight, age uint64) {
	r.refreshHead()
	inFlight = r.avail()
	if inFlight == 0 {
		return 0, 0
	}
	if s := *r.stamp(r.cTail); now > s {
		age = now - s
	}
	return inFlight, age
}
