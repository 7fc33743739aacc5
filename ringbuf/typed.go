package ringbuf

import (
	"reflect"
	"sync/atomic"
	"unsafe"
)

// Typed is a view of a ring whose records are values of a pointer-free
// type T of exactly RecordSize bytes (an event struct, a [N]byte array).
// Its single-record methods are small enough for the compiler to inline
// into the caller's loop and copy T with fixed-size moves, so they are
// the fastest way to move one record; they behave exactly like the Ring
// methods of the same name. Make one with As; the zero Typed is unusable.
type Typed[T any] struct{ r *Ring }

// As returns a typed view of r. T must contain no pointers (the region is
// outside the Go heap's view: no strings, slices, maps, interfaces,
// channels, funcs or pointers) and its size must be the ring's record
// size; otherwise As returns an *Error wrapping ErrRecordSize.
func As[T any](r *Ring) (Typed[T], error) {
	var zero T
	t := reflect.TypeOf(&zero).Elem()
	if uintptr(t.Size()) != r.rsize {
		return Typed[T]{}, errorf(ErrRecordSize, "as", "type %v is %d bytes, record size is %d", t, t.Size(), r.rsize)
	}
	if hasPointers(t) {
		return Typed[T]{}, errorf(ErrRecordSize, "as", "type %v contains pointers, which cannot live in a shared region", t)
	}
	return Typed[T]{r}, nil
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	default:
		return true
	}
}

// Ring returns the underlying ring (for Flush, Ack, batches, stats).
func (t Typed[T]) Ring() *Ring { return t.r }

// box wraps T in a struct for the copies: the compiler moves a struct with
// straight-line loads and stores, but an array of more than 16 bytes
// assigned through pointers with a call to memmove (it must allow for
// partial overlap), which would double the cost of a 32- or 64-byte record.
type box[T any] struct{ v T }

// The methods below are written to stay under the compiler's inlining
// budget (check with go build -gcflags=-m): the slow path (re-reading the
// other side's index) is inline too, since a call would cost more than the
// rest of the body. Unlike the Ring methods' refreshLimit and refreshHead,
// that inline refresh does not sanitize an impossible index written by a
// misbehaving peer; slots stay masked, so such a peer can cost records,
// never memory safety. Each is the
// Ring method of the same name with T's fixed-size move for the copy.
// Slots are sizeof(T) apart from an 8-aligned start, so a slot is aligned
// for T (whose alignment divides its size).

// TryWrite writes *v, stamped with the current SetStamp value, and
// publishes it (with anything Put before it); false if the ring is full.
// Producer side.
func (t Typed[T]) TryWrite(v *T) bool {
	if !t.Put(v) {
		return false
	}
	atomic.StoreUint64(t.r.head, t.r.pHead) // release: slot and stamp before the index
	return true
}

// Put writes *v without publishing it (see Ring.Put); false if full.
// Producer side.
func (t Typed[T]) Put(v *T) bool {
	r := t.r
	h := r.pHead
	if h == r.pLimit {
		if r.pLimit = atomic.LoadUint64(r.tail) + r.cap; h == r.pLimit {
			bump(r.pstall)
			return false
		}
	}
	i := uintptr(h & r.mask)
	*(*box[T])(unsafe.Add(r.slots, i*unsafe.Sizeof(*v))) = *(*box[T])(unsafe.Pointer(v)) // unsafe: masked index, a whole slot of sizeof(T) bytes
	*(*uint64)(unsafe.Add(r.stamps, i*8)) = r.pStamp                                     // unsafe: masked index, inside the stamp array
	r.pHead++
	return true
}

// Claim returns the slot the next record goes into, for the caller to
// fill in place (Put copies from a buffer the caller has filled first),
// stamped, with its index; or nil if the ring is full. The record is
// claimed but not published: the consumer sees it only at the next Flush
// (or a write that publishes), and until then the producer may still
// change it through Claimed. Producer side.
func (t Typed[T]) Claim(stamp uint64) (*T, uint64) {
	r := t.r
	h := r.pHead
	if h == r.pLimit {
		if r.pLimit = atomic.LoadUint64(r.tail) + r.cap; h == r.pLimit {
			atomic.AddUint64(r.pstall, 1)
			return nil, 0
		}
	}
	i := uintptr(h & r.mask)
	*(*uint64)(unsafe.Add(r.stamps, i<<3)) = stamp // unsafe: masked index, inside the stamp array
	r.pHead = h + 1
	return (*T)(unsafe.Add(r.slots, i<<r.shift)), h // unsafe: masked index, a whole slot (As checked sizeof(T) == 1<<shift)
}

// Claimed returns the slot of the record Claim returned index h for.
// Precondition: that record is not published yet (else the consumer may
// be reading the slot, or have freed it for a newer one). Producer side.
func (t Typed[T]) Claimed(h uint64) *T {
	var zero T
	return (*T)(unsafe.Add(t.r.slots, uintptr(h&t.r.mask)*unsafe.Sizeof(zero))) // unsafe: masked index, a whole slot of sizeof(T) bytes
}

// Flush publishes the records claimed or Put before it. Producer side.
func (t Typed[T]) Flush() { t.r.Flush() }

// Front returns the oldest unread record's slot, for the caller to read
// in place, with its stamp and the number of unread records (it
// included), or nil if there is none. It re-reads the producer's index
// every time, so the count is current. The slot stays the consumer's
// until Pop. Consumer side.
func (t Typed[T]) Front() (*T, uint64, uint64) {
	r := t.r
	r.refreshHead()
	c := r.cTail
	n := r.cHead - c
	if n == 0 {
		return nil, 0, 0
	}
	var zero T
	i := uintptr(c & r.mask)
	return (*T)(unsafe.Add(r.slots, i*unsafe.Sizeof(zero))), *(*uint64)(unsafe.Add(r.stamps, i*8)), n // unsafe: masked index, a whole slot; inside the stamp array
}

// Pop hands the record Front returned back to the producer.
// Precondition: Front returned one since the last Pop. Consumer side.
func (t Typed[T]) Pop() {
	r := t.r
	r.cTail++
	atomic.StoreUint64(r.tail, r.cTail) // release: the slot read before it is handed back
}

// TryRead copies the oldest unread record into *v and releases its slot;
// false if the ring is empty. Consumer side.
func (t Typed[T]) TryRead(v *T) bool {
	r := t.r
	c := r.cTail
	if c == r.cHead {
		if r.cHead = atomic.LoadUint64(r.head); c == r.cHead { // acquire: index before the slot
			bump(r.cempty)
			return false
		}
	}
	*(*box[T])(unsafe.Pointer(v)) = *(*box[T])(unsafe.Add(r.slots, uintptr(c&r.mask)*unsafe.Sizeof(*v))) // unsafe: masked index, a whole slot of sizeof(T) bytes
	r.cTail = c + 1
	atomic.StoreUint64(r.tail, c+1) // release: slot read before it is handed back
	return true
}

// Get copies the oldest unread record into *v without releasing its slot
// (see Ring.Get); false if the ring is empty. Consumer side.
func (t Typed[T]) Get(v *T) bool {
	r := t.r
	c := r.cTail
	if c == r.cHead {
		if r.cHead = atomic.LoadUint64(r.head); c == r.cHead { // acquire: index before the slot
			bump(r.cempty)
			return false
		}
	}
	*(*box[T])(unsafe.Pointer(v)) = *(*box[T])(unsafe.Add(r.slots, uintptr(c&r.mask)*unsafe.Sizeof(*v))) // unsafe: masked index, a whole slot of sizeof(T) bytes
	r.cTail++
	return true
}
