package ringbuf

import (
	"encoding/binary"
	"testing"
)

// Test records carry their sequence number and a checksum of it across all
// their bytes: a 4-byte record is the low 32 bits of seq; a larger one is
// seq in its first 8 bytes and mix(seq, i) in its i-th 8-byte word, so a
// torn, stale or misplaced record fails check.

func mix(seq, i uint64) uint64 {
	x := seq*0x9e3779b97f4a7c15 + i*0xbf58476d1ce4e5b9
	x ^= x >> 31
	return x * 0x94d049bb133111eb
}

func fillRec(b []byte, seq uint64) {
	if len(b) == 4 {
		binary.LittleEndian.PutUint32(b, uint32(seq))
		return
	}
	binary.LittleEndian.PutUint64(b, seq)
	for i := 8; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], mix(seq, uint64(i/8)))
	}
}

// checkRec reports whether b is the record for want.
func checkRec(b []byte, want uint64) bool {
	if len(b) == 4 {
		return binary.LittleEndian.Uint32(b) == uint32(want)
	}
	if binary.LittleEndian.Uint64(b) != want {
		return false
	}
	for i := 8; i < len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != mix(want, uint64(i/8)) {
			return false
		}
	}
	return true
}

func recSeq(b []byte) uint64 {
	if len(b) == 4 {
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

func mkRing(t testing.TB, rs, c int) (*Ring, []byte) {
	t.Helper()
	mem := AlignedRegion(Size(rs, c))
	r, err := Create(mem, rs, c, 42)
	if err != nil {
		t.Fatal(err)
	}
	return r, mem
}

var recordSizes = []int{4, 8, 16, 32, 64, 128, 256}
