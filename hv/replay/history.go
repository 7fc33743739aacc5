package replay

import (
	"errors"
	"fmt"
)

// History keeps the records the backup's [Reader] has consumed, so that
// the backup can go back to a snapshot of its own and replay the log from
// the snapshot's position again ([Reader.Rewind]), or write the log from
// there to a capture file ([History.Encoded]). It is a bounded ring of
// encoded records laid over memory the caller gives; when it is full,
// keeping a record overwrites the oldest one.
//
// Records are numbered by their ordinal: their position in the log, 0
// being the first record the primary ever wrote. The history keeps the
// ordinals [Oldest, End) and End is always the reader's live position
// ([Reader.Live]).
//
// # Pinning
//
// A snapshot needs every record from its position on. [History.Pin]
// marks the oldest snapshot's position. A record at or after the pin is
// never overwritten silently: when the history is full and its oldest
// record is pinned, the reader still takes the next record (it does not
// stall: the backup and, through the ring, the primary would stall with
// it, and the backup could never reach the landmark of a newer snapshot
// to trim the history), overwrites the pinned record, drops the pin and
// counts the loss in [History.Lost]. The pinned snapshot can no longer
// be restored, and [Reader.Rewind] to its position fails. Callers that
// hold snapshots check Pinned or Lost before restoring one.
//
// A History belongs to the backup's thread, like the Reader; it is not
// safe for concurrent use.
type History struct {
	mem    []byte // capacity slots; outside the Go heap in the hypervisor
	cap    uint64
	oldest uint64 // ordinal of the oldest record kept
	end    uint64 // one past the newest record kept
	pin    uint64 // with pinned: records from pin on must not be overwritten
	pinned bool
	lost   uint64
}

// NewHistory lays a history over mem, which holds len(mem)/RecordSize
// records (the bytes left over are not used) and into which no Go
// pointer may point. It keeps nothing until given to [Reader.KeepHistory].
func NewHistory(mem []byte) (*History, error) {
	n := len(mem) / RecordSize
	if n < 1 {
		return nil, fmt.Errorf("replay: history over %d bytes: room for no %d-byte record", len(mem), RecordSize)
	}
	return &History{mem: mem[:n*RecordSize], cap: uint64(n)}, nil
}

// errHistoryGone is the panic of a rewound Reader whose next record the
// history no longer keeps: the caller trimmed it away.
var errHistoryGone = errors.New("replay: the history no longer keeps the record a rewound reader replays (trimmed while rewound)")

// Oldest returns the ordinal of the oldest record kept (End if none).
func (h *History) Oldest() uint64 { return h.oldest }

// End returns the ordinal one past the newest record kept.
func (h *History) End() uint64 { return h.end }

// Len returns the number of records kept.
func (h *History) Len() int { return int(h.end - h.oldest) }

// Capacity returns the number of records the history can keep.
func (h *History) Capacity() int { return int(h.cap) }

// Encoded returns the encoded record at ordinal pos, as the reader found
// it in the ring, and false if the history does not keep it. The bytes
// are the history's own: they change once the record is overwritten, so
// copy them before the reader consumes more records. The CRC is not
// checked (see [History.Record]).
func (h *History) Encoded(pos uint64) (*[RecordSize]byte, bool) {
	if pos < h.oldest || pos >= h.end {
		return nil, false
	}
	off := pos % h.cap * RecordSize
	return (*[RecordSize]byte)(h.mem[off : off+RecordSize]), true
}

// Record decodes the record at ordinal pos into dst, checking it again
// (the memory is outside Go's reach, and a capture must not carry a
// record the primary did not write), and reports false if the history
// does not keep it or it is not a valid record. Does not allocate.
func (h *History) Record(pos uint64, dst *Record) bool {
	b, ok := h.Encoded(pos)
	return ok && Check(b[:], dst)
}

// Trim drops the records older than pos (all of them if pos >= End): the
// oldest snapshot moved on. A pin older than pos is dropped as well
// without counting a loss (the caller let its records go). A rewound
// reader must not be left before Oldest: its Head panics; rewind it
// first.
func (h *History) Trim(pos uint64) {
	pos = min(pos, h.end)
	if pos <= h.oldest {
		return
	}
	h.oldest = pos
	if h.pinned && h.pin < pos {
		h.pinned = false
	}
}

// Pin says that the records from pos on must not be overwritten (a
// snapshot at pos needs them), replacing any earlier pin. It reports
// false, and pins nothing, if pos is not in [Oldest, End]: the records
// are gone already, or the reader has not reached pos.
func (h *History) Pin(pos uint64) bool {
	if pos < h.oldest || pos > h.end {
		return false
	}
	h.pin, h.pinned = pos, true
	return true
}

// Unpin drops the pin.
func (h *History) Unpin() { h.pinned = false }

// Pinned returns the pinned position, and false if nothing is pinned
// (never pinned, unpinned, trimmed past, or lost).
func (h *History) Pinned() (uint64, bool) {
	if !h.pinned {
		return 0, false
	}
	return h.pin, true
}

// Lost counts the pins dropped because the history was full and the
// reader overwrote a pinned record (see the type's documentation).
func (h *History) Lost() uint64 { return h.lost }

// reset empties the history to keep records from ordinal pos on.
func (h *History) reset(pos uint64) {
	h.oldest, h.end, h.pinned = pos, pos, false
}

// put keeps b, the encoded record at ordinal End, overwriting the oldest
// record when the history is full; if that record was pinned, the pin is
// dropped and counted in Lost.
func (h *History) put(b []byte) {
	if h.end-h.oldest == h.cap {
		if h.pinned && h.pin <= h.oldest {
			h.pinned = false
			h.lost++
		}
		h.oldest++
	}
	off := h.end % h.cap * RecordSize
	copy(h.mem[off:off+RecordSize], b)
	h.end++
}
