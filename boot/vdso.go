package boot

import (
	"encoding/binary"
	"unsafe"
)

// A minimal vDSO, so the runtime's clock_gettime (85% of all its system
// calls) runs as an ordinary function: vdsoClockGettime (vdso_amd64.s)
// reads the TSC and the calibration in clk, as the system call would. The
// runtime finds it through AT_SYSINFO_EHDR, which points at vdsoImage: an
// ELF shared object with one dynamic symbol, __vdso_clock_gettime, version
// LINUX_2.6 (the runtime's vdso_linux.go insists on a version definition).
// The symbol's value is the function's address relative to the image; the
// code stays in the kernel's text.

// Layout of vdsoImage (offsets in bytes).
const (
	vdsoPhdrs   = 64  // two program headers: PT_LOAD, PT_DYNAMIC
	vdsoDynamic = 176 // 9 entries of 16 bytes
	vdsoHash    = 320 // DT_HASH: nbucket, nchain, bucket[1], chain[2]
	vdsoSymtab  = 344 // two Elf64_Sym of 24 bytes
	vdsoVersym  = 392 // two half-words
	vdsoVerdef  = 396 // one Elf64_Verdef (20 bytes) and its Verdaux (8)
	vdsoStrtab  = 424
	vdsoStrings = "\x00__vdso_clock_gettime\x00LINUX_2.6\x00"
	vdsoSize    = vdsoStrtab + len(vdsoStrings)

	vdsoNameFunc    = 1  // offset of "__vdso_clock_gettime" in the strings
	vdsoNameVersion = 22 // offset of "LINUX_2.6"
	vdsoVersionHash = 0x3ae75f6

	// ELF constants (System V ABI, gABI).
	ptLoad, ptDynamic               = 1, 2
	dtNull, dtHash, dtStrtab        = 0, 4, 5
	dtSymtab, dtStrsz, dtSyment     = 6, 10, 11
	dtVersym, dtVerdef, dtVerdefnum = 0x6ffffff0, 0x6ffffffc, 0x6ffffffd
	stbGlobalFunc                   = 1<<4 | 2
	atSysinfoEhdr                   = 33
)

var vdsoImage [vdsoSize]byte

func vdsoClockGettime()
func addrVDSOClockGettime() uintptr

// buildVDSO fills vdsoImage for a function at fn.
func buildVDSO(img *[vdsoSize]byte, fn uintptr) {
	le := binary.LittleEndian
	base := uint64(uintptr(unsafe.Pointer(img)))
	b := img[:]
	copy(b, "\x7fELF\x02\x01\x01") // ELFCLASS64, little-endian, version 1
	le.PutUint16(b[16:], 3)        // ET_DYN
	le.PutUint16(b[18:], 62)       // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], vdsoPhdrs)
	le.PutUint16(b[52:], 64) // e_ehsize
	le.PutUint16(b[54:], 56) // e_phentsize
	le.PutUint16(b[56:], 2)  // e_phnum
	le.PutUint16(b[58:], 64) // e_shentsize

	phdr := func(off int, typ, flags uint32, at, size uint64) {
		le.PutUint32(b[off:], typ)
		le.PutUint32(b[off+4:], flags)
		le.PutUint64(b[off+8:], at)  // p_offset
		le.PutUint64(b[off+16:], at) // p_vaddr
		le.PutUint64(b[off+24:], at) // p_paddr
		le.PutUint64(b[off+32:], size)
		le.PutUint64(b[off+40:], size)
		le.PutUint64(b[off+48:], 8)
	}
	phdr(vdsoPhdrs, ptLoad, 5, 0, uint64(vdsoSize))
	phdr(vdsoPhdrs+56, ptDynamic, 4, vdsoDynamic, vdsoHash-vdsoDynamic)

	for i, d := range [...][2]uint64{
		{dtHash, vdsoHash}, {dtStrtab, vdsoStrtab}, {dtSymtab, vdsoSymtab},
		{dtStrsz, uint64(len(vdsoStrings))}, {dtSyment, 24}, {dtVersym, vdsoVersym},
		{dtVerdef, vdsoVerdef}, {dtVerdefnum, 1}, {dtNull, 0},
	} {
		le.PutUint64(b[vdsoDynamic+16*i:], d[0])
		le.PutUint64(b[vdsoDynamic+16*i+8:], d[1])
	}
	// One bucket holding symbol 1; chain ends at 0.
	for i, x := range [...]uint32{1, 2, 1, 0, 0} {
		le.PutUint32(b[vdsoHash+4*i:], x)
	}
	sym := vdsoSymtab + 24 // symbol 0 stays null
	le.PutUint32(b[sym:], vdsoNameFunc)
	b[sym+4] = stbGlobalFunc
	le.PutUint16(b[sym+6:], 1)               // defined (not SHN_UNDEF)
	le.PutUint64(b[sym+8:], uint64(fn)-base) // relative to the image
	le.PutUint16(b[vdsoVersym+2:], 2)        // symbol 1: version index 2
	le.PutUint16(b[vdsoVerdef:], 1)          // vd_version
	le.PutUint16(b[vdsoVerdef+4:], 2)        // vd_ndx
	le.PutUint16(b[vdsoVerdef+6:], 1)        // vd_cnt
	le.PutUint32(b[vdsoVerdef+8:], vdsoVersionHash)
	le.PutUint32(b[vdsoVerdef+12:], 20) // vd_aux: right after
	le.PutUint32(b[vdsoVerdef+20:], vdsoNameVersion)
	copy(b[vdsoStrtab:], vdsoStrings)
}
