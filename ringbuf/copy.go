package ringbuf

import "unsafe"

// copyRec copies one record of 1<<shift bytes from src to dst. The common
// sizes are fixed-size array moves the compiler turns into a few register or
// SSE moves; others go through memmove. Byte arrays have alignment 1, so
// the conversions hold for any src and dst.
func copyRec(dst, src unsafe.Pointer, shift uint) {
	switch shift {
	case 2:
		*(*[4]byte)(dst) = *(*[4]byte)(src) // unsafe: both sides hold a full 4-byte record
	case 3:
		*(*[8]byte)(dst) = *(*[8]byte)(src) // unsafe: both sides hold a full 8-byte record
	case 4:
		*(*[16]byte)(dst) = *(*[16]byte)(src) // unsafe: both sides hold a full 16-byte record
	case 5:
		*(*[32]byte)(dst) = *(*[32]byte)(src) // unsafe: both sides hold a full 32-byte record
	case 6:
		*(*[64]byte)(dst) = *(*[64]byte)(src) // unsafe: both sides hold a full 64-byte record
	default:
		n := uintptr(1) << shift
		copy(unsafe.Slice((*byte)(dst), n), unsafe.Slice((*byte)(src), n)) // unsafe: both sides hold a full record
	}
}
