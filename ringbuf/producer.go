package ringbuf

import (
	"sync/atomic"
	"unsafe"
)

// Producer side. Only one goroutine (core) may call these at a time.

// SetStamp sets the stamp that TryWrite, Put, WriteBatch, Commit and the
// Typed writes give the records they write from now on (for example the
// TSC or the guest branch count at the current VM exit). Producer side.
func (r *Ring) SetStamp(stamp uint64) { r.pStamp = stamp }

// Free is the number of slots the producer can fill now. Producer side.
func (r *Ring) Free() uint64 {
	r.refreshLimit()
	return r.free()
}

// refreshLimit re-reads the consumer index. It keeps the invariant
// pHead <= pLimit <= pHead+cap that the fast paths' h == pLimit test
// relies on: an impossible consumer index (a misbehaving peer) reads as
// a full ring rather than letting the producer overwrite unread slots.
func (r *Ring) refreshLimit() {
	l := atomic.LoadUint64(r.tail) + r.cap
	if l-r.pHead > r.cap {
		l = r.pHead
	}
	r.pLimit = l
}

// free is the free space according to the cached consumer index.
func (r *Ring) free() uint64 {
	f := r.pLimit - r.pHead
	if f > r.cap { // only with a corrupt peer index: stay inside the ring
		return 0
	}
	return f
}

// TryWrite writes one record and publishes it, stamped with the current
// SetStamp value. It returns false, writing nothing, if the ring is full.
// rec shorter than RecordSize is zero-padded; longer panics.
// Producer side; does not allocate.
func (r *Ring) TryWrite(rec []byte) bool {
	return r.TryWriteStamp(rec, r.pStamp)
}

// TryWriteStamp is TryWrite with an explicit stamp for this record.
func (r *Ring) TryWriteStamp(rec []byte, stamp uint64) bool {
	h := r.pHead
	if h == r.pLimit || uintptr(len(rec)) != r.fastLen {
		return r.tryWriteSlow(rec, stamp) // full per the cache, short record, or a size over 64
	}
	// Fast path: no calls, so nothing is spilled; the copy is spelled out
	// (see copyRec) so that it is a few register moves.
	i := h & r.mask
	dst := unsafe.Add(r.slots, uintptr(i)<<(r.shift&63))         // unsafe: masked index, inside the slot array
	copyRec(dst, unsafe.Pointer(unsafe.SliceData(rec)), r.shift) // unsafe: len(rec) == record size, checked above
	*(*uint64)(unsafe.Add(r.stamps, uintptr(i)<<3)) = stamp      // unsafe: masked index, inside the stamp array
	r.pHead = h + 1
	atomic.StoreUint64(r.head, h+1) // release: slot and stamp before the index
	return true
}

// tryWriteSlow is TryWriteStamp when the cached consumer index says full
// or the record needs padding or a memmove.
//
//go:noinline
func (r *Ring) tryWriteSlow(rec []byte, stamp uint64) bool {
	h := r.pHead
	if r.free() == 0 {
		r.refreshLimit()
		if r.free() == 0 {
			bump(r.pstall)
			return false
		}
	}
	dst := r.slot(h)
	if uintptr(len(rec)) == r.rsize {
		copyAny(dst, unsafe.Pointer(unsafe.SliceData(rec)), r.shift) // unsafe: rec holds exactly one record
	} else {
		r.padRec(dst, rec)
	}
	*r.stamp(h) = stamp
	r.pHead = h + 1
	atomic.StoreUint64(r.head, h+1) // release: slot and stamp before the index
	return true
}

// Put writes one record like TryWrite but does not publish it: the
// consumer sees it (and InFlight and Stats count it) only after Flush, or
// after the next TryWrite, WriteBatch or Commit, which publish everything
// written before them. A VM-exit handler that logs several records Puts
// them and Flushes once before VM entry, paying for one atomic store
// instead of one per record. Producer side; does not allocate.
func (r *Ring) Put(rec []byte) bool {
	h := r.pHead
	if h == r.pLimit || uintptr(len(rec)) != r.fastLen {
		return r.putSlow(rec)
	}
	i := h & r.mask
	dst := unsafe.Add(r.slots, uintptr(i)<<(r.shift&63))         // unsafe: masked index, inside the slot array
	copyRec(dst, unsafe.Pointer(unsafe.SliceData(rec)), r.shift) // unsafe: len(rec) == record size, checked above
	*(*uint64)(unsafe.Add(r.stamps, uintptr(i)<<3)) = r.pStamp   // unsafe: masked index, inside the stamp array
	r.pHead = h + 1
	return true
}

//go:noinline
func (r *Ring) putSlow(rec []byte) bool {
	h := r.pHead
	if r.free() == 0 {
		r.refreshLimit()
		if r.free() == 0 {
			bump(r.pstall)
			return false
		}
	}
	dst := r.slot(h)
	if uintptr(len(rec)) == r.rsize {
		copyAny(dst, unsafe.Pointer(unsafe.SliceData(rec)), r.shift) // unsafe: rec holds exactly one record
	} else {
		r.padRec(dst, rec)
	}
	*r.stamp(h) = r.pStamp
	r.pHead = h + 1
	return true
}

// Flush publishes the records written by Put. Producer side.
func (r *Ring) Flush() {
	atomic.StoreUint64(r.head, r.pHead) // release: slots and stamps before the index
}

// padRec copies a short record and zero-fills the rest of the slot.
func (r *Ring) padRec(dst unsafe.Pointer, rec []byte) {
	if uintptr(len(rec)) > r.rsize {
		panic(errLongRecord)
	}
	s := unsafe.Slice((*byte)(dst), r.rsize) // unsafe: one slot inside the slot array
	n := copy(s, rec)
	clear(s[n:])
}

// WriteBatch writes as many of the records in src (len(src) must be a
// multiple of RecordSize) as fit, stamped with the current SetStamp value,
// publishes them with one index store and returns how many it wrote (0 if
// the ring is full). The batch may cross the end of the slot array; it is
// copied as at most two spans. Producer side; does not allocate.
func (r *Ring) WriteBatch(src []byte) int {
	if uintptr(len(src))&(r.rsize-1) != 0 {
		panic(errBatchLen)
	}
	n := uint64(len(src)) >> r.shift
	if n == 0 {
		return 0
	}
	free := r.free()
	if free < n {
		r.refreshLimit()
		free = r.free()
		if free == 0 {
			bump(r.pstall)
			return 0
		}
		n = min(n, free)
	}
	h := r.pHead
	first := min(n, r.cap-h&r.mask) // records before the end of the slot array
	k := copy(r.span(h, first), src)
	if first < n {
		copy(r.span(0, n-first), src[k:])
	}
	r.fillStamps(h, n, r.pStamp)
	r.pHead = h + n
	atomic.StoreUint64(r.head, h+n) // release: slots and stamps before the index
	return int(n)
}

// fillStamps stamps records [h, h+n), n <= cap, as at most two
// contiguous spans of the stamp array.
func (r *Ring) fillStamps(h, n, stamp uint64) {
	i, c := h&r.mask, r.cap
	st := unsafe.Slice((*uint64)(r.stamps), c) // unsafe: the stamp array holds cap stamps
	first := min(n, c-i)
	fill(st[i:i+first], stamp)
	fill(st[:n-first], stamp)
}

// fill sets every element of s to v: a plain loop for short spans, else
// doubling copies (memmove), several times faster than one store at a
// time for the long spans of a big batch.
func fill(s []uint64, v uint64) {
	if len(s) <= 16 {
		for i := range s {
			s[i] = v
		}
		return
	}
	s[0] = v
	for k := 1; k < len(s); k *= 2 {
		copy(s[k:], s[:k])
	}
}

// Reserve returns the slots for the next k records, 1 <= k <= n, as one
// contiguous []byte of k*RecordSize bytes for the caller to fill, or
// ErrFull if no slot is free. k is n clamped to the free slots and to the
// end of the slot array: a reservation never wraps, so a caller wanting n
// records loops (Reserve, fill, Commit) until it has written them all. The
// records become visible to the consumer only at Commit. A new Reserve
// replaces an uncommitted reservation. Producer side; does not allocate.
// n < 1 reserves one record.
func (r *Ring) Reserve(n int) ([]byte, error) {
	want := uint64(max(n, 1))
	free := r.free()
	if free < want {
		r.refreshLimit()
		free = r.free()
		if free == 0 {
			bump(r.pstall)
			r.pReserved = 0
			return nil, ErrFull
		}
	}
	h := r.pHead
	k := min(want, free, r.cap-h&r.mask)
	r.pReserved = k
	return r.span(h, k), nil
}

// Commit publishes the first n records of the last reservation, stamped
// with the current SetStamp value; the rest of the reservation stays
// reserved (it now starts at the next record). Committing more than is
// reserved panics. Producer side; does not allocate.
func (r *Ring) Commit(n int) { r.CommitStamp(n, r.pStamp) }

// CommitStamp is Commit with an explicit stamp for these n records.
func (r *Ring) CommitStamp(n int, stamp uint64) {
	if n <= 0 {
		return
	}
	c := uint64(n)
	if c > r.pReserved {
		panic(errOverCommit)
	}
	r.pReserved -= c
	h := r.pHead
	r.fillStamps(h, c, stamp)
	r.pHead = h + c
	atomic.StoreUint64(r.head, h+c) // release: slots and stamps before the index
}
