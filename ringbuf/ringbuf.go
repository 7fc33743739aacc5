package ringbuf

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Layout constants (see the package documentation).
const (
	// Magic is the first 8 bytes of a ring region ("HNDSRING" little-endian).
	Magic uint64 = 0x474e495253444e48
	// Version is the layout version this package writes and accepts.
	Version uint32 = 1

	// MinRecordSize and MaxRecordSize bound the record size (a power of two).
	MinRecordSize = 4
	MaxRecordSize = 256
	// MaxCapacity bounds the capacity in records (a power of two).
	MaxCapacity = 1 << 32

	// CacheLine is the cache-line size the layout is built around.
	CacheLine = 64
	// HeaderSize is the offset of the first slot.
	HeaderSize = 3 * CacheLine

	offMagic      = 0
	offVersion    = 8
	offRecordSize = 12
	offCapacity   = 16
	offStamp      = 24
	offRegionSize = 32
	offProdIndex  = 64
	offProdStalls = 72
	offConsIndex  = 128
	offConsEmpty  = 136
	offSlots      = HeaderSize
)

// Errors. Errors returned by Create and Attach wrap one of these with the
// name and value of the offending field; test with errors.Is.
var (
	// ErrFull: no free slot; the producer must stall and retry.
	ErrFull = errors.New("ringbuf: ring is full")
	// ErrEmpty: no unread record.
	ErrEmpty = errors.New("ringbuf: ring is empty")
	// ErrStopped: a wait gave up because its Stop function said so.
	ErrStopped = errors.New("ringbuf: wait stopped")
	// ErrDeadline: a wait gave up at its deadline.
	ErrDeadline = errors.New("ringbuf: wait deadline exceeded")
	// ErrRegion: the memory region is nil, misaligned, too small, or its
	// size field disagrees with the record size and capacity.
	ErrRegion = errors.New("ringbuf: bad region")
	// ErrMagic: the region does not start with Magic.
	ErrMagic = errors.New("ringbuf: bad magic")
	// ErrVersion: the layout version is not Version.
	ErrVersion = errors.New("ringbuf: unsupported layout version")
	// ErrRecordSize: record size not a power of two in [4, 256], or not the
	// one expected.
	ErrRecordSize = errors.New("ringbuf: bad record size")
	// ErrCapacity: capacity not a power of two in [1, 2^32], or not the one
	// expected, or a wait for more records than the ring holds.
	ErrCapacity = errors.New("ringbuf: bad capacity")
	// ErrIndex: the producer and consumer indices are impossible.
	ErrIndex = errors.New("ringbuf: impossible indices")
)

// Error is the error type returned by Create, Attach and the waits' argument
// checks: "ringbuf: <op>: <msg>", unwrapping to one of the Err* variables.
type Error struct {
	Op  string // "create", "attach", "wait"
	Msg string // names the field and the values
	Err error  // one of the Err* variables
}

func (e *Error) Error() string { return "ringbuf: " + e.Op + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Misuse of the hot paths is a programming error: they panic with one of
// these (preallocated, so the hot paths hold no allocation site).
var (
	errLongRecord  = &Error{Op: "write", Msg: "record longer than the record size", Err: ErrRecordSize}
	errBatchLen    = &Error{Op: "write", Msg: "batch length is not a multiple of the record size", Err: ErrRecordSize}
	errOverCommit  = &Error{Op: "commit", Msg: "commit of more records than reserved", Err: ErrCapacity}
	errShortDst    = &Error{Op: "read", Msg: "destination shorter than the record size", Err: ErrRecordSize}
	errOverRelease = &Error{Op: "release", Msg: "release of more records than peeked", Err: ErrCapacity}
)

func errorf(kind error, op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...), Err: kind}
}

// Ring is one side's (or both sides') handle on a ring region. It is a plain
// struct: its pointer fields are set once by Create or Attach and the hot
// paths only store integers into it.
type Ring struct {
	// Read-only after Create/Attach (shared, read by both sides).
	base   unsafe.Pointer // region start; keeps a Go-allocated region alive
	slots  unsafe.Pointer // base + offSlots
	stamps unsafe.Pointer // base + stamps offset
	head   *uint64        // producer index in the region
	tail   *uint64        // consumer index in the region
	pstall *uint64        // producer stall counter in the region
	cempty *uint64        // consumer empty-poll counter in the region
	cap    uint64         // capacity in records
	mask   uint64         // cap - 1
	rsize  uintptr        // record size in bytes
	// fastLen is rsize when TryWrite/TryRead copy inline (rsize <= 64),
	// else an impossible length, so one compare picks the fast path.
	fastLen uintptr
	shift   uint // log2(rsize)
	size    int  // region bytes in use
	_       [CacheLine]byte

	// Producer-private state.
	pHead     uint64 // producer index (only the producer writes the shared one)
	pLimit    uint64 // cached consumer index + capacity: records below it fit
	pStamp    uint64 // stamp for TryWrite/WriteBatch/Commit
	pReserved uint64 // records reserved by the last Reserve and not committed
	_         [CacheLine]byte

	// Consumer-private state.
	cTail   uint64 // consumer index
	cHead   uint64 // cached producer index
	cPeeked uint64 // records handed out by the last Peek and not released
	_       [CacheLine]byte
}

// Size returns the number of bytes a ring of capacity records of
// recordSize bytes needs, or 0 if the parameters are invalid (record size
// not a power of two in [4, 256], capacity not a power of two in [1, 2^32]).
func Size(recordSize, capacity int) int {
	if !validRecordSize(uint64(recordSize)) || recordSize < 0 || !validCapacity(uint64(capacity)) || capacity < 0 {
		return 0
	}
	return int(regionSize(uint64(recordSize), uint64(capacity)))
}

func validRecordSize(rs uint64) bool {
	return rs >= MinRecordSize && rs <= MaxRecordSize && rs&(rs-1) == 0
}

func validCapacity(c uint64) bool {
	return c >= 1 && c <= MaxCapacity && c&(c-1) == 0
}

// stampsOffset is the offset of the stamps array (rs, c already valid, so
// no overflow: at most 192 + 2^40 + 2^35).
func stampsOffset(rs, c uint64) uint64 {
	return offSlots + (rs*c+CacheLine-1)&^(CacheLine-1)
}

func regionSize(rs, c uint64) uint64 { return stampsOffset(rs, c) + 8*c }

// AlignedRegion returns a zeroed, 64-byte aligned []byte of n bytes from the
// Go heap, for rings that both sides reach through the same Go process
// (tests, tools). A hypervisor passes its shared physical memory instead.
func AlignedRegion(n int) []byte {
	if n <= 0 {
		return nil
	}
	b := make([]byte, n+CacheLine)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (CacheLine - 1)) // unsafe: reads the address only, to align
	return b[off : off+n : off+n]
}

// Create lays out a new ring of capacity records of recordSize bytes at
// the start of mem (which must be 8-byte aligned and at least
// Size(recordSize, capacity) bytes), with both indices zero and the given
// creation stamp, and returns a handle on it, replacing whatever the region
// held (use Attach to join an existing ring). Slot contents are not
// cleared. The magic is stored last, atomically, so a concurrent Attach
// either fails on the magic or sees a complete header.
func Create(mem []byte, recordSize, capacity int, stamp uint64) (*Ring, error) {
	const op = "create"
	if recordSize < 0 || !validRecordSize(uint64(recordSize)) {
		return nil, errorf(ErrRecordSize, op, "record size %d is not a power of two in [%d, %d]", recordSize, MinRecordSize, MaxRecordSize)
	}
	if capacity < 0 || !validCapacity(uint64(capacity)) {
		return nil, errorf(ErrCapacity, op, "capacity %d is not a power of two in [1, %d]", capacity, uint64(MaxCapacity))
	}
	need := regionSize(uint64(recordSize), uint64(capacity))
	if err := checkRegion(mem, op, need, uint64(recordSize), uint64(capacity)); err != nil {
		return nil, err
	}
	base := unsafe.Pointer(unsafe.SliceData(mem)) // unsafe: the region is addressed by offsets from its start
	atomic.StoreUint64(u64(base, offMagic), 0)    // an old ring is gone before its header changes
	hdr := mem[:offSlots:offSlots]
	clear(hdr[offVersion:]) // the magic goes last
	*u32(base, offVersion) = Version
	*u32(base, offRecordSize) = uint32(recordSize)
	*u64(base, offCapacity) = uint64(capacity)
	*u64(base, offStamp) = stamp
	*u64(base, offRegionSize) = need
	atomic.StoreUint64(u64(base, offMagic), Magic)
	return newRing(base, uint64(recordSize), uint64(capacity), 0, 0), nil
}

// CreateAt is Create over the length bytes at base, for regions outside
// the Go heap (shared physical memory mapped by both cores).
func CreateAt(base unsafe.Pointer, length int, recordSize, capacity int, stamp uint64) (*Ring, error) {
	return Create(regionAt(base, length), recordSize, capacity, stamp)
}

// Attach validates the ring header at the start of mem and returns a
// handle on the existing ring. Every problem is an *Error naming the field
// and its values (wrong magic, version, record size, capacity, region size,
// region too small or misaligned, consumer index ahead of the producer's,
// more records in flight than the capacity); Attach never resets or
// repairs a region.
func Attach(mem []byte) (*Ring, error) { return AttachExpect(mem, 0, 0) }

// AttachAt is Attach over the length bytes at base.
func AttachAt(base unsafe.Pointer, length int) (*Ring, error) {
	return Attach(regionAt(base, length))
}

// AttachExpect is Attach that also requires the given record size and
// capacity (0 accepts any).
func AttachExpect(mem []byte, recordSize, capacity int) (*Ring, error) {
	const op = "attach"
	if err := checkRegion(mem, op, offSlots, 0, 0); err != nil {
		return nil, err
	}
	base := unsafe.Pointer(unsafe.SliceData(mem)) // unsafe: the region is addressed by offsets from its start
	if m := atomic.LoadUint64(u64(base, offMagic)); m != Magic {
		return nil, errorf(ErrMagic, op, "magic is %#016x, want %#016x (region holds no ring)", m, Magic)
	}
	if v := *u32(base, offVersion); v != Version {
		return nil, errorf(ErrVersion, op, "layout version is %d, want %d", v, Version)
	}
	rs := uint64(*u32(base, offRecordSize))
	if !validRecordSize(rs) {
		return nil, errorf(ErrRecordSize, op, "record size %d is not a power of two in [%d, %d]", rs, MinRecordSize, MaxRecordSize)
	}
	if recordSize != 0 && rs != uint64(recordSize) {
		return nil, errorf(ErrRecordSize, op, "record size is %d, want %d", rs, recordSize)
	}
	c := *u64(base, offCapacity)
	if !validCapacity(c) {
		return nil, errorf(ErrCapacity, op, "capacity %d is not a power of two in [1, %d]", c, uint64(MaxCapacity))
	}
	if capacity != 0 && c != uint64(capacity) {
		return nil, errorf(ErrCapacity, op, "capacity is %d, want %d", c, capacity)
	}
	need := regionSize(rs, c)
	if sz := *u64(base, offRegionSize); sz != need {
		return nil, errorf(ErrRegion, op, "region size field is %d, want %d for record size %d and capacity %d", sz, need, rs, c)
	}
	if err := checkRegion(mem, op, need, rs, c); err != nil {
		return nil, err
	}
	// Consumer index first: it can only grow, and the producer index is
	// at least the consumer index of any earlier moment, so a live peer
	// on either side cannot make a consistent ring look impossible.
	t := atomic.LoadUint64(u64(base, offConsIndex))
	h := atomic.LoadUint64(u64(base, offProdIndex))
	// Modular comparisons: the free-running indices may have wrapped 2^64.
	if int64(h-t) < 0 {
		return nil, errorf(ErrIndex, op, "consumer index %d is ahead of producer index %d", t, h)
	}
	if h-t > c {
		return nil, errorf(ErrIndex, op, "%d records in flight (producer index %d, consumer index %d) exceed capacity %d", h-t, h, t, c)
	}
	return newRing(base, rs, c, h, t), nil
}

// checkRegion checks that mem is non-empty, 8-byte aligned and holds need
// bytes (for the header alone when rs is 0).
func checkRegion(mem []byte, op string, need, rs, c uint64) error {
	what := func() string {
		if rs == 0 {
			return " for the header"
		}
		return fmt.Sprintf(" for record size %d and capacity %d", rs, c)
	}
	if len(mem) == 0 {
		return errorf(ErrRegion, op, "region is empty, need %d bytes%s", need, what())
	}
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(mem))); a&7 != 0 { // unsafe: reads the address only, to check alignment
		return errorf(ErrRegion, op, "region address %#x is not 8-byte aligned", a)
	}
	if uint64(len(mem)) < need {
		return errorf(ErrRegion, op, "region is %d bytes, need %d%s", len(mem), need, what())
	}
	return nil
}

func regionAt(base unsafe.Pointer, length int) []byte {
	if base == nil || length <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(base), length) // unsafe: the caller vouches for length bytes at base
}

func newRing(base unsafe.Pointer, rs, c, h, t uint64) *Ring {
	return &Ring{
		base:   base,
		slots:  unsafe.Add(base, offSlots),            // unsafe: slots follow the 192-byte header
		stamps: unsafe.Add(base, stampsOffset(rs, c)), // unsafe: stamps follow the slots, inside the checked size
		head:   u64(base, offProdIndex),
		tail:   u64(base, offConsIndex),
		pstall: u64(base, offProdStalls),
		cempty: u64(base, offConsEmpty),
		cap:    c,
		mask:   c - 1,
		rsize:  uintptr(rs),
		fastLen: func() uintptr {
			if rs <= 64 {
				return uintptr(rs)
			}
			return ^uintptr(0)
		}(),
		shift:  uint(bits.TrailingZeros64(rs)),
		size:   int(regionSize(rs, c)),
		pHead:  h,
		pLimit: t + c,
		cTail:  t,
		cHead:  h,
	}
}

// u64 and u32 address header fields; off is a constant within the checked header.
func u64(base unsafe.Pointer, off uintptr) *uint64 {
	return (*uint64)(unsafe.Add(base, off)) // unsafe: 8-aligned header field inside the region
}

func u32(base unsafe.Pointer, off uintptr) *uint32 {
	return (*uint32)(unsafe.Add(base, off)) // unsafe: 4-aligned header field inside the region
}

// RecordSize is the size of one record in bytes.
func (r *Ring) RecordSize() int { return int(r.rsize) }

// Capacity is the number of slots.
func (r *Ring) Capacity() int { return int(r.cap) }

// RegionSize is the number of bytes of the region the ring uses.
func (r *Ring) RegionSize() int { return r.size }

// CreationStamp is the stamp given to Create.
func (r *Ring) CreationStamp() uint64 { return *u64(r.base, offStamp) }

// InFlight is the number of records written and not yet read, from the
// shared indices; callable from any goroutine.
func (r *Ring) InFlight() uint64 {
	t := atomic.LoadUint64(r.tail)
	h := atomic.LoadUint64(r.head)
	if h-t > r.cap { // only with a misbehaving peer; never report more than the ring holds
		return r.cap
	}
	return h - t
}

// Stats are the ring's counters, read from the region.
type Stats struct {
	Written    uint64 // records ever committed (the producer index)
	Read       uint64 // records ever released (the consumer index)
	InFlight   uint64 // Written - Read
	Stalls     uint64 // producer write attempts that found the ring full
	EmptyPolls uint64 // consumer read attempts that found the ring empty
	Capacity   uint64
	RecordSize uint64
}

// Stats reads the counters; callable from any goroutine.
func (r *Ring) Stats() Stats {
	t := atomic.LoadUint64(r.tail)
	h := atomic.LoadUint64(r.head)
	s := Stats{
		Written:    h,
		Read:       t,
		Stalls:     atomic.LoadUint64(r.pstall),
		EmptyPolls: atomic.LoadUint64(r.cempty),
		Capacity:   r.cap,
		RecordSize: uint64(r.rsize),
	}
	if h-t <= r.cap { // else a misbehaving peer: leave 0
		s.InFlight = h - t
	}
	return s
}

// slot returns the address of the slot for record index i.
func (r *Ring) slot(i uint64) unsafe.Pointer {
	return unsafe.Add(r.slots, uintptr(i&r.mask)<<(r.shift&63)) // unsafe: masked index, always inside the slot array
}

// stamp returns the address of the stamp for record index i.
func (r *Ring) stamp(i uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.stamps, uintptr(i&r.mask)<<3)) // unsafe: masked index, always inside the stamp array
}

// span returns the n records starting at record index i as a []byte; the
// caller guarantees they do not cross the end of the slot array.
func (r *Ring) span(i, n uint64) []byte {
	return unsafe.Slice((*byte)(r.slot(i)), uintptr(n)<<(r.shift&63)) // unsafe: contiguous slots inside the region
}

// bump increments a counter that only one side writes; atomic so that
// Stats may read it from anywhere. Slow paths only.
func bump(p *uint64) { atomic.AddUint64(p, 1) }
