package boot

import "unsafe"

// Multiboot v1 information structure (Multiboot Specification 0.6.96 §3.3).
const (
	multibootMagic = 0x2BADB002

	mbFlagMem     = 1 << 0
	mbFlagCmdline = 1 << 2
	mbFlagMods    = 1 << 3
	mbFlagMmap    = 1 << 6

	mbMemAvailable = 1 // memory map entry type: usable RAM
)

// maxMemRanges bounds the memory map we keep; firmware maps have a few dozen
// entries at most.
const maxMemRanges = 64

type memRange struct{ start, end uint64 }

// Modules: at most maxModules are kept, their strings together in at most
// len(bootInfo.modStrings) bytes. Each module list entry is mod_start,
// mod_end, string, reserved (4 bytes each, §3.3).
const (
	maxModules     = 32
	mbModEntrySize = 16
)

type moduleRange struct {
	start, end       uint64 // [mod_start, mod_end)
	strOff, strLen   int    // the module's string in bootInfo.modStrings
	strCut           bool   // the string did not fit in what was left
	below1M, overlap bool   // where boot cannot keep it (see keepModules)
}

// bootInfo is what kmain keeps from the multiboot information: the loader's
// copy lives in memory the frame allocator hands out later.
var bootInfo struct {
	cmdline  [512]byte
	cmdlen   int
	ram      [maxMemRanges]memRange
	nram     int
	memUpper uint64 // KiB above 1 MiB, from the mem_upper field

	mods       [maxModules]moduleRange
	nmods      int
	modsLost   int // modules past maxModules, ignored
	modStrings [8192]byte
	modStrLen  int
}

func load32(p uintptr) uint32 { return *(*uint32)(unsafe.Pointer(p)) }
func load64(p uintptr) uint64 { return *(*uint64)(unsafe.Pointer(p)) }

// copyCString copies the NUL-terminated string at p into dst and returns
// its length, at most len(dst).
func copyCString(dst []byte, p uintptr) int {
	n := 0
	for ; n < len(dst); n++ {
		b := *(*byte)(unsafe.Pointer(p + uintptr(n)))
		if b == 0 {
			break
		}
		dst[n] = b
	}
	return n
}

// parseMultiboot copies the command line, the module list and the usable
// RAM ranges.
func parseMultiboot(info uintptr) {
	flags := load32(info)
	if flags&mbFlagMem != 0 {
		bootInfo.memUpper = uint64(load32(info + 8))
	}
	if flags&mbFlagCmdline != 0 {
		bootInfo.cmdlen = copyCString(bootInfo.cmdline[:len(bootInfo.cmdline)-1], uintptr(load32(info+16)))
	}
	if flags&mbFlagMods != 0 {
		parseModules(uintptr(load32(info+24)), int(load32(info+20)))
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

// parseModules copies the module list (mods_addr, mods_count). A string
// that does not fit in what is left of modStrings is cut short; printModules
// says so.
func parseModules(list uintptr, count int) {
	for i := 0; i < count; i++ {
		if bootInfo.nmods == maxModules {
			bootInfo.modsLost = count - i
			return
		}
		e := list + uintptr(i*mbModEntrySize)
		m := &bootInfo.mods[bootInfo.nmods]
		m.start, m.end = uint64(load32(e)), uint64(load32(e+4))
		if m.end < m.start {
			m.end = m.start
		}
		m.strOff = bootInfo.modStrLen
		if s := uintptr(load32(e + 8)); s != 0 {
			m.strLen = copyCString(bootInfo.modStrings[m.strOff:], s)
			m.strCut = m.strOff+m.strLen == len(bootInfo.modStrings) && *(*byte)(unsafe.Pointer(s + uintptr(m.strLen))) != 0
		}
		bootInfo.modStrLen += m.strLen
		bootInfo.nmods++
	}
}

// moduleString is module i's string: the file name and its arguments.
func moduleString(i int) []byte {
	m := &bootInfo.mods[i]
	return bootInfo.modStrings[m.strOff : m.strOff+m.strLen]
}

// keepModules marks the modules boot cannot keep intact: one below 1 MiB
// (AP start-up and the BIOS areas use that memory) or overlapping the
// kernel image. Every other module's pages become holes in the free ranges:
// it writes them to holes (room for maxModules) and returns their number.
func keepModules(holes []memRange) int {
	n := 0
	for i := 0; i < bootInfo.nmods; i++ {
		m := &bootInfo.mods[i]
		m.below1M = m.start < 1<<20
		m.overlap = m.start < uint64(imageEnd()) && m.end > imageStart
		if !m.below1M && !m.overlap && m.end > m.start {
			holes[n] = memRange{m.start &^ (pageSize - 1), m.end}
			n++
		}
	}
	return n
}

// printModules prints one line per module: its string, where it lies and
// its size, and why boot could not keep it, if it could not.
func printModules() {
	for i := 0; i < bootInfo.nmods; i++ {
		m := &bootInfo.mods[i]
		puts("boot: module ")
		putDec(uint64(i))
		puts(": ")
		putBytes(moduleString(i))
		puts(" at ")
		putHex(m.start)
		puts(", ")
		putDec(m.end - m.start)
		puts(" bytes")
		if m.strCut {
			puts(" (string cut short: the module strings exceed 8 KiB)")
		}
		switch {
		case m.below1M:
			puts(": IGNORED, it lies below 1 MiB, which boot reuses; have the loader place it higher")
		case m.overlap:
			puts(": IGNORED, it overlaps the hindsight image")
		}
		puts("\n")
	}
	if bootInfo.modsLost > 0 {
		puts("boot: ")
		putDec(uint64(bootInfo.modsLost))
		puts(" more modules IGNORED: hindsight keeps at most 32\n")
	}
}
