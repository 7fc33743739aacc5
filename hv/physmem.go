package hv

import (
	"fmt"
	"unsafe"

	"hindsight/boot"
	"hindsight/hv/replay"
	"hindsight/ringbuf"
)

// Physical memory for structures the CPU reads by physical address. The
// ring-0 layer identity-maps all RAM, so a physical address is also a
// pointer; the memory is outside the Go heap and never freed.

func physPage() (uint64, error) { return boot.AllocPhys(1, 4096) }

// physBytes views n bytes of physical memory at pa.
func physBytes(pa, n uint64) []byte {
	// pa is identity-mapped RAM outside the Go heap (boot.AllocPhys or a
	// guest region); the slice holds no Go pointers.
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(pa))), n)
}

// eptAlloc feeds the EPT builder with frames from boot.AllocPhys.
type eptAlloc struct{}

func (eptAlloc) AllocPage() (uint64, error) { return physPage() }

// FreePage keeps the frame: EPT tables live as long as their VM, and the
// ring-0 layer does not take frames back.
func (eptAlloc) FreePage(uint64) {}

func (eptAlloc) Page(hpa uint64) *[512]uint64 {
	// hpa is a page from physPage, identity-mapped.
	return (*[512]uint64)(unsafe.Pointer(uintptr(hpa)))
}

// physRegion returns n bytes (rounded up to pages) of zeroed physical
// memory outside the Go heap, for memory both CPUs share (the log).
func physRegion(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("hv: a region of %d bytes", n)
	}
	pa, err := boot.AllocPhys((n+4095)/4096, 4096)
	if err != nil {
		return nil, err
	}
	return physBytes(pa, uint64(n)), nil
}

// ringSize is the size in bytes of a log of records records, 0 if that is
// not a valid capacity.
func ringSize(records int) int { return ringbuf.Size(replay.RecordSize, records) }
