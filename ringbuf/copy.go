package ringbuf

import "unsafe"

// u128 is 16 bytes the compiler keeps in two registers (a struct of two
// words is SSA-able; a [16]byte array is not, and a [32]byte or [64]byte
// array assigned through pointers becomes a memmove call).
type u128 struct{ lo, hi uint64 }

// copyRec copies one record of 1<<shift bytes, shift in [2, 6], from src
// to dst: one 4- or 8-byte move, or 16-byte pieces each loaded before it is
// stored; small enough to inline into the single-record hot paths. The
// conversions are of pointer-free types, which need no alignment, so src
// and dst may be anywhere.
func copyRec(dst, src unsafe.Pointer, shift uint) {
	switch shift {
	case 2:
		*(*uint32)(dst) = *(*uint32)(src) // unsafe: both hold a full 4-byte record
	case 3:
		*(*uint64)(dst) = *(*uint64)(src) // unsafe: both hold a full 8-byte record
	default:
		for off := uintptr(0); off < 1<<(shift&63); off += 16 {
			*(*u128)(unsafe.Add(dst, off)) = *(*u128)(unsafe.Add(src, off)) // unsafe: 16-byte piece of a full record
		}
	}
}

// copyAny copies one record of any size.
func copyAny(dst, src unsafe.Pointer, shift uint) {
	if shift <= 6 {
		copyRec(dst, src, shift)
		return
	}
	n := uintptr(1) << (shift & 63)
	copy(unsafe.Slice((*byte)(dst), n), unsafe.Slice((*byte)(src), n)) // unsafe: both hold a full record
}
