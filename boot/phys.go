package boot

import "unsafe"

// Physical memory. All RAM is identity-mapped (virtual = physical) below
// identTop, so a frame is addressed by its physical address. Frames come
// from the free ranges left after the kernel image, the low megabyte and the
// guest RAM regions are carved out. Frames are not returned: madvise zeroes
// pages in place, and munmapped pages are counted in phys.leaked (the Go
// runtime unmaps only reservations it never touched).

const (
	pageSize  = 4096
	pageShift = 12
	hugeSize  = 2 << 20
)

var phys struct {
	free   [maxMemRanges]memRange // page-aligned, disjoint
	nfree  int
	total  uint64 // bytes of usable RAM reported by the loader
	top    uint64 // highest usable address
	used   uint64 // frames handed out
	leaked uint64 // frames of munmapped pages, kept out of circulation
}

// physAddRange adds [start, end) minus the given holes to the free ranges.
func physAddRange(start, end uint64, holes []memRange) {
	start = (start + pageSize - 1) &^ (pageSize - 1)
	end &^= pageSize - 1
	for _, h := range holes {
		if h.end <= start || h.start >= end {
			continue
		}
		if h.start > start {
			physAddRange(start, h.start, holes)
		}
		if h.end < end {
			physAddRange(h.end, end, holes)
		}
		return
	}
	if start < end && phys.nfree < len(phys.free) {
		phys.free[phys.nfree] = memRange{start, end}
		phys.nfree++
	}
}

// physReserveTop removes size bytes aligned to align from the highest free
// range that can hold them and returns the start; ok is false if none can.
func physReserveTop(size, align uint64) (uint64, bool) {
	best := -1
	for i := 0; i < phys.nfree; i++ {
		r := phys.free[i]
		s := (r.end - size) &^ (align - 1)
		if r.end-r.start >= size && s >= r.start && (best < 0 || r.end > phys.free[best].end) {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	r := &phys.free[best]
	s := (r.end - size) &^ (align - 1)
	tail := memRange{s + size, r.end}
	r.end = s
	if tail.start < tail.end && phys.nfree < len(phys.free) {
		phys.free[phys.nfree] = tail
		phys.nfree++
	}
	return s, true
}

// allocFrame returns a zeroed 4 KiB frame.
func allocFrame() (uint64, bool) {
	var p uint64
	for i := 0; i < phys.nfree; i++ {
		r := &phys.free[i]
		if r.start < r.end {
			p = r.start
			r.start += pageSize
			break
		}
	}
	if p == 0 {
		return 0, false
	}
	*(*[pageSize]byte)(unsafe.Pointer(uintptr(p))) = [pageSize]byte{}
	phys.used += pageSize
	return p, true
}

func physFreeBytes() uint64 {
	var n uint64
	for i := 0; i < phys.nfree; i++ {
		n += phys.free[i].end - phys.free[i].start
	}
	return n
}

// physAllocContig takes n zeroed, physically contiguous frames aligned to
// align bytes (a power of two, at least a page) from the free ranges.
func physAllocContig(n, align uint64) (uint64, bool) {
	size := n * pageSize
	for i := 0; i < phys.nfree; i++ {
		r := &phys.free[i]
		s := (r.start + align - 1) &^ (align - 1)
		if s < r.start || s+size > r.end {
			continue
		}
		if s > r.start && phys.nfree < len(phys.free) { // keep the gap
			phys.free[phys.nfree] = memRange{r.start, s}
			phys.nfree++
		}
		r.start = s + size
		clear(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(s))), size))
		phys.used += size
		return s, true
	}
	return 0, false
}
