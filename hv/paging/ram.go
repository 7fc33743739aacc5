package paging

import (
	"encoding/binary"
	"fmt"
)

// RAM is guest RAM as one slice that starts at guest-physical address 0
// (how the hypervisor lays out a guest: a view of its region).
type RAM []byte

// OutsideRAMError reports an access beyond the end of a RAM.
type OutsideRAMError struct {
	GPA  uint64
	Size uint64 // the RAM's size
}

func (e *OutsideRAMError) Error() string {
	return fmt.Sprintf("guest-physical address %#x is outside guest RAM (%#x bytes)", e.GPA, e.Size)
}

// Uint64 implements Memory.
func (m RAM) Uint64(gpa uint64) (uint64, bool) {
	if gpa > uint64(len(m)) || uint64(len(m))-gpa < 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(m[gpa:]), true
}

// Read implements Memory.
func (m RAM) Read(gpa uint64, dst []byte) (int, error) {
	if gpa >= uint64(len(m)) {
		if len(dst) == 0 {
			return 0, nil
		}
		return 0, &OutsideRAMError{GPA: gpa, Size: uint64(len(m))}
	}
	n := copy(dst, m[gpa:])
	if n < len(dst) {
		return n, &OutsideRAMError{GPA: gpa + uint64(n), Size: uint64(len(m))}
	}
	return n, nil
}
