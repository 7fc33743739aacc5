package replay

import (
	"errors"
	"fmt"
	"sync/atomic"

	"hindsight/ringbuf"
)

// RingStamp is the creation stamp of a ring that carries records of this
// layout: LayoutVersion itself. The ring's own header version covers the
// ring's layout; this stamp covers the records' layout, so sides built
// with different record layouts refuse to talk ([CheckRing]).
const RingStamp uint64 = LayoutVersion

// ErrRingLayout is matched (errors.Is) by the errors of CheckRing.
var ErrRingLayout = errors.New("replay: ring does not carry records of this layout")

// CheckRing reports whether ring carries records of this layout: record
// size RecordSize and creation stamp RingStamp.
func CheckRing(ring *ringbuf.Ring) error {
	if rs := ring.RecordSize(); rs != RecordSize {
		return fmt.Errorf("replay: ring: record size %d, want %d: %w", rs, RecordSize, ErrRingLayout)
	}
	if st := ring.CreationStamp(); st != RingStamp {
		return fmt.Errorf("replay: ring: creation stamp %d (the record layout version), this program uses version %d: %w",
			st, LayoutVersion, ErrRingLayout)
	}
	return nil
}

// Lag says how far the reader stays behind the writer: it takes a record
// only once the record is Ns old (on the stamps' clock) and more than
// Records newer ones follow it.
type Lag struct {
	Ns      uint64
	Records uint64
}

// Log is the ring of records from one primary to its backup, with the two
// ends apart so that neither side can make the other's calls: the primary
// holds the [Writer], the backup the [Reader], and anyone else only the
// Log, whose [Log.Status] reads nothing either side owns. Stamps are
// nanoseconds on a clock both sides share (the caller's).
type Log struct {
	ring  *ringbuf.Ring
	slots ringbuf.Typed[[RecordSize]byte] // the ring's slots, written and read in place
	lag   Lag
	w     Writer
	r     Reader

	// Published by one end for the other and for observers.
	writerClosed atomic.Bool   // no record follows those in the ring
	readerClosed atomic.Bool   // the reader stopped: writes are dropped
	headStamp    atomic.Uint64 // stamp of the record the reader holds, 0 if none
	stalls       atomic.Uint64 // records that found the ring full and waited
	dropped      atomic.Uint64 // records dropped after the reader stopped
}

// NewLog lays a ring of capacity records (a power of two) over mem, which
// must hold ringbuf.Size(RecordSize, capacity) bytes that both sides reach
// and that no Go pointer points into.
func NewLog(mem []byte, capacity int, lag Lag) (*Log, error) {
	ring, err := ringbuf.Create(mem, RecordSize, capacity, RingStamp)
	if err != nil {
		return nil, fmt.Errorf("replay: log of %d records: %w", capacity, err)
	}
	l := &Log{ring: ring, lag: lag}
	l.w.l, l.r.l = l, l
	if l.slots, err = ringbuf.As[[RecordSize]byte](ring); err != nil {
		return nil, fmt.Errorf("replay: log: %w", err)
	}
	return l, nil
}

// Writer returns the writing end. One goroutine (the primary's vCPU) uses it.
func (l *Log) Writer() *Writer { return &l.w }

// Reader returns the reading end. One goroutine (the backup's vCPU) uses it.
func (l *Log) Reader() *Reader { return &l.r }

// Capacity is the number of records the ring holds.
func (l *Log) Capacity() int { return l.ring.Capacity() }

// Status is a snapshot of a Log for observers.
type Status struct {
	Written, Read, InFlight, Capacity uint64
	Stalls, Dropped                   uint64
	// AgeNs is how old the oldest record the reader has not consumed is,
	// as of the reader's last look (0 if it found none).
	AgeNs                      uint64
	WriterClosed, ReaderClosed bool
}

// Status returns a snapshot; now is the current time on the stamps'
// clock. Safe from any goroutine: it reads only the ring's shared indices
// and what the ends publish.
func (l *Log) Status(now uint64) Status {
	st := l.ring.Stats()
	s := Status{
		Written: st.Written, Read: st.Read, InFlight: st.InFlight, Capacity: st.Capacity,
		Stalls: l.stalls.Load(), Dropped: l.dropped.Load(),
		WriterClosed: l.writerClosed.Load(), ReaderClosed: l.readerClosed.Load(),
	}
	if h := l.headStamp.Load(); h != 0 && now > h {
		s.AgeNs = now - h
	}
	return s
}

// WriteResult says what became of a record given to Writer.Write.
type WriteResult uint8

const (
	Written    WriteResult = iota
	Full                   // the ring is full: wait for the reader and write it again
	ReaderGone             // the reader stopped for good: the record was dropped
)

// Writer is the primary's end of a Log.
type Writer struct {
	l *Log
	// Staged records [sealed, next) have no CRC yet: Publish computes it,
	// once, after SetOutcome's last change.
	sealed, next uint64
	waiting      bool // the last Write returned Full
}

// Write encodes r straight into the ring's next slot and publishes it
// (with the records staged before it), stamped. It never waits: on Full
// the caller decides how to wait and calls it again. Does not allocate.
func (w *Writer) Write(r *Record, stamp uint64) WriteResult {
	_, res := w.Stage(r, stamp)
	if res == Written {
		w.Publish()
	}
	return res
}

// Stage encodes r straight into the ring's next slot, stamped, but does
// not publish it: the reader sees it at the next Publish or Write, and
// until then SetOutcome may still change it (index names it there). It
// never waits, as Write. Does not allocate.
func (w *Writer) Stage(r *Record, stamp uint64) (index uint64, res WriteResult) {
	if w.l.readerClosed.Load() {
		return 0, w.drop()
	}
	s, h := w.l.slots.Claim(stamp)
	if s == nil {
		return 0, w.full()
	}
	w.waiting = false
	w.next = h + 1
	r.encode(s)
	return h, Written
}

// StageEncoded stages an already encoded record as it is, its CRC
// included (the test hooks that put malformed records in the log use it).
func (w *Writer) StageEncoded(b *[RecordSize]byte, stamp uint64) WriteResult {
	if w.l.readerClosed.Load() {
		return w.drop()
	}
	w.seal()
	s, h := w.l.slots.Claim(stamp)
	if s == nil {
		return w.full()
	}
	w.waiting = false
	*s = *b
	w.sealed, w.next = h+1, h+1
	return Written
}

// SetOutcome gives a staged input record the landmark's interrupt codes
// (Value2, Value3). Precondition: the record at index was staged by
// Stage and is not published yet.
func (w *Writer) SetOutcome(index, requested, delivered uint64) {
	s := w.l.slots.Claimed(index)
	le.PutUint64(s[offValue2:], requested)
	le.PutUint64(s[offValue3:], delivered)
}

// Publish makes the staged records the reader's, with one store.
func (w *Writer) Publish() {
	w.seal()
	w.l.slots.Flush()
}

// seal computes the CRCs of the staged records that have none yet.
func (w *Writer) seal() {
	for ; w.sealed < w.next; w.sealed++ {
		seal(w.l.slots.Claimed(w.sealed))
	}
}

// drop counts a record written after the reader stopped.
func (w *Writer) drop() WriteResult {
	w.waiting = false
	w.l.dropped.Add(1)
	return ReaderGone
}

// full counts a stall, once per record that finds the ring full.
func (w *Writer) full() WriteResult {
	if !w.waiting {
		w.waiting = true
		w.l.stalls.Add(1)
	}
	return Full
}

// Close says that no record follows: the reader, once it has taken the
// last one, learns that the log has ended.
func (w *Writer) Close() { w.l.writerClosed.Store(true) }

// HeadState says what the reader's next record is.
type HeadState uint8

const (
	Ready     HeadState = iota // a valid record, due
	Waiting                    // none yet, or one the lag holds back
	Ended                      // the writer closed the log and every record was taken
	Malformed                  // the next slot does not hold a valid record
)

// Reader is the backup's end of a Log.
//
// With a [History] ([Reader.KeepHistory]) it can go back: after
// [Reader.Rewind] it replays the records it consumed before from the
// history, and once it is back at its live position (where it left the
// ring) it reads the ring again as if it had never left.
type Reader struct {
	l    *Log
	head Record
	have bool
	bad  [RecordSize]byte

	scratch Record // PendingRecord's check

	hist *History
	pos  uint64 // ordinal of the record Head returns next
	live uint64 // ordinal of the ring's next record: records taken from the ring
}

// Head returns the next record if it is due at time now (the lag allows
// it, or the ring is full, or the writer has closed the log). For Waiting
// it also says how long the lag still holds a present record back (ns; 0:
// nothing is there yet). For Malformed, Bad has the bytes. A rewound
// reader returns the records from its history Ready at once (the lag
// applied when they were first taken). Does not allocate.
func (r *Reader) Head(now uint64) (*Record, HeadState, uint64) {
	if r.have {
		return &r.head, Ready, 0
	}
	if r.pos < r.live {
		return r.replayed()
	}
	l := r.l
	closed := l.writerClosed.Load() // before the look: a record written before Close is seen
	b, stamp, inFlight := l.slots.Front()
	if b == nil {
		if closed {
			return nil, Ended, 0
		}
		return nil, Waiting, 0
	}
	l.headStamp.Store(max(stamp, 1)) // the record the reader waits on, held or not
	full := inFlight >= uint64(l.ring.Capacity())
	if !closed && !full {
		if age := now - stamp; now < stamp || age < l.lag.Ns {
			if now < stamp {
				return nil, Waiting, l.lag.Ns
			}
			return nil, Waiting, l.lag.Ns - age
		}
		if inFlight <= l.lag.Records {
			return nil, Waiting, 0
		}
	}
	if !Check(b[:], &r.head) {
		r.bad = *b
		return nil, Malformed, 0
	}
	r.have = true
	return &r.head, Ready, 0
}

// replayed is Head for a rewound reader: the record at pos, from the
// history, checked again since the history's memory is outside Go's
// reach.
func (r *Reader) replayed() (*Record, HeadState, uint64) {
	b, ok := r.hist.Encoded(r.pos)
	if !ok {
		panic(errHistoryGone)
	}
	if !Check(b[:], &r.head) {
		r.bad = *b
		return nil, Malformed, 0
	}
	r.have = true
	return &r.head, Ready, 0
}

// Pending returns how many records the ring holds that the reader has
// not consumed (the one it holds among them), lag or not. Reader side.
func (r *Reader) Pending() int { return int(r.l.ring.Available()) }

// PendingRecord returns the encoded bytes of the i-th of them (0: the
// oldest), checked, without taking it; false if there is no such record
// or it does not decode. For a capture of the log. Reader side.
func (r *Reader) PendingRecord(i int) ([]byte, bool) {
	b, ok := r.l.ring.PeekAt(uint64(i))
	if !ok || !Check(b, &r.scratch) {
		return nil, false
	}
	return b, true
}

// Bad returns the bytes of the slot Head found malformed.
func (r *Reader) Bad() *[RecordSize]byte { return &r.bad }

// Held returns the record the reader holds (Head returned it Ready and
// it is not consumed yet), or nil: Head would return it at once, at any
// time. The exit path asks this first, before it reads the clock.
func (r *Reader) Held() *Record {
	if r.have {
		return &r.head
	}
	return nil
}

// Consume releases the record Head returned: from the ring, into the
// history if the reader keeps one; a rewound reader only steps to the
// next record of its history.
func (r *Reader) Consume() {
	r.have = false
	r.pos++
	if r.pos <= r.live {
		return
	}
	r.live = r.pos
	if r.hist != nil {
		// The slot again rather than a slice of it kept by Head: storing a
		// pointer in the Reader would cost Head a write barrier, which the
		// exit path must not have. Before Pop: the writer may reuse it.
		b, _, _ := r.l.slots.Front()
		r.hist.put(b[:])
	}
	r.l.headStamp.Store(0)
	r.l.slots.Pop()
}

// Pos returns the ordinal of the record Head returns next: how many
// records the reader consumed since the log began, less how far it was
// rewound.
func (r *Reader) Pos() uint64 { return r.pos }

// Live returns the reader's live position: the ordinal of the next
// record in the ring, the number of records the reader took from it.
// Pos < Live while the reader replays its history.
func (r *Reader) Live() uint64 { return r.live }

// KeepHistory makes the reader keep every record it consumes from the
// ring in h, from its live position on; h's earlier contents and pin are
// dropped. It panics if the reader is rewound (Pos < Live): the records
// it has yet to replay are in the history it keeps already.
func (r *Reader) KeepHistory(h *History) {
	if r.pos != r.live {
		panic("replay: KeepHistory on a rewound reader")
	}
	h.reset(r.live)
	r.hist = h
}

// Rewind makes the reader go on from the record at ordinal pos: Head
// returns the records from the history from pos to the live position,
// then from the ring again. pos may lie anywhere from the history's
// oldest record to the live position, before or after Pos. A record
// held is let go (it comes again in order). Does not allocate unless it
// fails.
func (r *Reader) Rewind(pos uint64) error {
	if r.hist == nil {
		return fmt.Errorf("replay: rewind to record %d: the reader keeps no history", pos)
	}
	if oldest := r.hist.Oldest(); pos < oldest || pos > r.live {
		return fmt.Errorf("replay: rewind to record %d: the reader can go back to records %d (the oldest kept) to %d (live)",
			pos, oldest, r.live)
	}
	r.have, r.pos = false, pos
	r.l.headStamp.Store(0) // it waits on no record of the ring now
	return nil
}

// Close says the reader takes no more records: from now on the writer
// drops them instead of waiting for room.
func (r *Reader) Close() {
	r.l.readerClosed.Store(true)
	r.l.headStamp.Store(0)
}

// Ahead decodes up to len(dst) of the records after the one Head holds
// (the next ones if it holds none), lag or not, without taking them, for
// a debugger's look at what the backup will replay next: a rewound
// reader's from its history up to the live position, then the ring's. It
// stops at a record that does not decode and at the end of the ring's
// slot array (a look never wraps), and returns how many it decoded and
// how many records are in the ring (a rewound reader's history is not
// counted). Reader side (the backup's thread).
func (r *Reader) Ahead(dst []Record) (n int, inFlight uint64) {
	inFlight = r.l.ring.Available()
	if len(dst) == 0 {
		return 0, inFlight
	}
	p := r.pos
	if r.have {
		p++
	}
	for ; p < r.live && n < len(dst); p++ {
		if !r.hist.Record(p, &dst[n]) {
			return n, inFlight
		}
		n++
	}
	if n == len(dst) {
		return n, inFlight
	}
	skip := 0
	if r.have && r.pos == r.live {
		skip = 1 // the held record is the ring's first
	}
	b, err := r.l.ring.Peek(len(dst) - n + skip)
	if err != nil {
		return n, inFlight
	}
	for i := skip; (i+1)*RecordSize <= len(b) && n < len(dst); i++ {
		if !Check(b[i*RecordSize:], &dst[n]) {
			break
		}
		n++
	}
	return n, inFlight
}
