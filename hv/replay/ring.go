package replay

import (
	"errors"
	"fmt"

	"hindsight/ringbuf"
)

// RingStamp is the creation stamp of a ring that carries records of this
// layout: LayoutVersion itself. The primary creates the ring with
//
//	ringbuf.Create(mem, replay.RecordSize, capacity, replay.RingStamp)
//
// (or CreateAt), and the backup checks a ring it attaches with [CheckRing].
// The ring's own header version covers the ring's layout; this stamp
// covers the records' layout.
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
