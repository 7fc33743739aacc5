package boot

import "unsafe"

// Multiboot v1 information structure (Multiboot Specification 0.6.96 §3.3).
const (
	multibootMagic = 0x2BADB002

	mbFlagMem     = 1 << 0
	mbFlagCmdline = 1 << 2
	mbFlagMmap    = 1 << 6

	mbMemAvailable = 1 // memory map entry type: usable RAM
)

// maxMemRanges bounds the memory map we keep; firmware maps have a few dozen
// entries at most.
const maxMemRanges = 64

type memRange struct{ start, end uint64 }

// bootInfo is what kmain keeps from the multiboot information: the loader's
// copy lives in memory the frame allocator hands out later.
var bootInfo struct {
	cmdline  [512]byte
	cmdlen   int
	ram      [maxMemRanges]memRange
	nram     int
	memUpper uint64 // KiB above 1 MiB, from the mem_upper field
}

func load32(p uintptr) uint32 { return *(*uint32)(unsafe.Pointer(p)) }
func load64(p uintptr) uint64 { return *(*uint64)(unsafe.Pointer(p)) }

// parseMultiboot copies the command line and the usable RAM ranges.
func parseMultiboot(info uintptr) {
	flags := load32(info)
	if flags&mbFlagMem != 0 {
		bootInfo.memUpper = uint64(load32(info + 8))
	}
	if flags&mbFlagCmdline != 0 {
		p := uintptr(load32(info + 16))
		n := 0
		for ; n < len(bootInfo.cmdline)-1; n++ {
			b := *(*byte)(unsafe.Pointer(p + uintptr(n)))
			if b == 0 {
				break
			}
			bootInfo.cmdline[n] = b
		}
		bootInfo.cmdlen = n
	}
	if flags&mbFlagMmap != 0 {
		p := uintptr(load32(info + 48))
		end := p + uintptr(load32(info+44))
		for p < end && bootInfo.nram < maxMemRanges {
			size := load32(p)
			base, length, typ := load64(p+4), load64(p+12), load32(p+20)
			if typ == mbMemAvailable && length > 0 {
				bootInfo.ram[bootInfo.nram] = memRange{base, base + length}
				bootInfo.nram++
			}
			p += uintptr(size) + 4
		}
	} else if bootInfo.memUpper != 0 {
		bootInfo.ram[0] = memRange{1 << 20, 1<<20 + bootInfo.memUpper<<10}
		bootInfo.nram = 1
	}
}
