package image

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Guest-physical layout (see the package comment).
const (
	gdtAddr      = 0x500
	pml4Addr     = 0x1000
	pdptAddr     = 0x2000
	pdAddr       = 0x3000 // page directories, 4 KiB each
	zeroPageAddr = 0x7000
	cmdlineAddr  = 0x20000
	mbInfoStart  = 0x1000 // multiboot information area [mbInfoStart, mbInfoEnd)
	mbInfoEnd    = 0x70000
	stackTop     = 0x80000 // RSP at entry; [0x70000, 0x80000) stays free
	lowRAMEnd    = 0x9FC00 // end of conventional memory in the memory maps
	highRAMStart = 0x100000
	kernelMin    = highRAMStart // nothing of the kernel's goes lower
	minRAM       = 2 << 20

	pageSize       = 0x1000
	rflagsReserved = 0x2 // RFLAGS bit 1 is always 1; IF = 0
)

// Control-register bits (SDM Vol. 3A §2.5, §2.2.1).
const (
	cr0PE   = 1 << 0
	cr0ET   = 1 << 4
	cr0NE   = 1 << 5
	cr0PG   = 1 << 31
	cr4PAE  = 1 << 5
	eferLME = 1 << 8
	eferLMA = 1 << 10
)

// Paging-structure entry bits (SDM Vol. 3A §4.5, Table 4-19).
const (
	pteP  = 1 << 0
	pteRW = 1 << 1
	ptePS = 1 << 7
)

// Segment descriptors (SDM Vol. 3A §3.4.5): base 0, limit 0xFFFFF with
// G=1 (4 GiB), present, DPL 0, S=1.
const (
	descCode64 = 0x00AF9A000000FFFF // execute/read, L=1
	descCode32 = 0x00CF9A000000FFFF // execute/read, D=1
	descData   = 0x00CF92000000FFFF // read/write, D/B=1
)

// flatSegment is the entry state of a segment register loaded from desc.
func flatSegment(sel uint16, desc uint64) Segment {
	const accessed = 1
	return Segment{Selector: sel, Limit: 0xFFFFFFFF, AR: uint32(desc>>40)&0xF0FF | accessed}
}

// mem is guest RAM with bounds-checked writes that record what went where.
type mem struct {
	ram     []byte
	regions []Region
	notes   []string
}

var le = binary.LittleEndian

func (m *mem) size() uint64 { return uint64(len(m.ram)) }

// claim records [start, start+n) as what; it fails if the range does not
// lie inside guest RAM or overlaps a range claimed before.
func (m *mem) claim(what string, start, n uint64) error {
	end := start + n
	if end < start || end > m.size() {
		return errorf("%s at [%#x, %#x) does not fit in the %s of guest RAM: give the guest more memory (guestmem=)", what, start, end, size(m.size()))
	}
	for _, r := range m.regions {
		if n > 0 && start < r.End && r.Start < end {
			return errorf("%s at [%#x, %#x) overlaps %s at [%#x, %#x)", what, start, end, r.What, r.Start, r.End)
		}
	}
	m.regions = append(m.regions, Region{what, start, end})
	return nil
}

// put claims [addr, addr+memsz) and copies data to its start (the rest
// stays zero: Load cleared RAM).
func (m *mem) put(what string, addr uint64, data []byte, memsz uint64) error {
	if uint64(len(data)) > memsz {
		return errorf("%s: %d bytes of data in %d bytes of memory", what, len(data), memsz)
	}
	if err := m.claim(what, addr, memsz); err != nil {
		return err
	}
	copy(m.ram[addr:], data)
	return nil
}

func (m *mem) note(format string, args ...any) {
	m.notes = append(m.notes, fmt.Sprintf(format, args...))
}

func (m *mem) sortedRegions() []Region {
	rs := append([]Region(nil), m.regions...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	return rs
}

// putGDT writes the GDT at gdtAddr: a null descriptor, then descs.
func (m *mem) putGDT(descs ...uint64) (base uint64, limit uint16, err error) {
	n := uint64(8 * (1 + len(descs)))
	if err := m.claim("GDT", gdtAddr, n); err != nil {
		return 0, 0, err
	}
	for i, d := range descs {
		le.PutUint64(m.ram[gdtAddr+8*(i+1):], d)
	}
	return gdtAddr, uint16(n - 1), nil
}

// putIdentityMap writes 4-level page tables at pml4Addr mapping
// guest-physical [0, gib GiB) to itself with 2 MiB pages, present and
// writable (and executable: no NX bit).
func (m *mem) putIdentityMap(gib int) error {
	if err := m.claim("page tables", pml4Addr, pdAddr-pml4Addr+uint64(gib)*pageSize); err != nil {
		return err
	}
	le.PutUint64(m.ram[pml4Addr:], pdptAddr|pteP|pteRW)
	for g := range uint64(gib) {
		pd := pdAddr + g*pageSize
		le.PutUint64(m.ram[pdptAddr+8*g:], pd|pteP|pteRW)
		for i := range uint64(512) {
			le.PutUint64(m.ram[pd+8*i:], (g<<30|i<<21)|pteP|pteRW|ptePS)
		}
	}
	return nil
}

// long64Entry is the entry state of a 64-bit kernel on putIdentityMap's
// tables with the code and data descriptors at cs and ds.
func long64Entry(rip uint64, gdt uint64, limit uint16, cs, ds uint16) Entry {
	return Entry{
		Mode:     Long64,
		RIP:      rip,
		CR0:      cr0PE | cr0ET | cr0NE | cr0PG,
		CR3:      pml4Addr,
		CR4:      cr4PAE,
		EFER:     eferLME | eferLMA,
		GDTBase:  gdt,
		GDTLimit: limit,
		CS:       flatSegment(cs, descCode64),
		DS:       flatSegment(ds, descData),
	}
}

// protected32Entry is the entry state of a 32-bit kernel, paging off, with
// the code and data descriptors at cs and ds.
func protected32Entry(rip uint64, gdt uint64, limit uint16, cs, ds uint16) Entry {
	return Entry{
		Mode:     Protected32,
		RIP:      rip,
		CR0:      cr0PE | cr0ET | cr0NE,
		GDTBase:  gdt,
		GDTLimit: limit,
		CS:       flatSegment(cs, descCode32),
		DS:       flatSegment(ds, descData),
	}
}

// memRange is an entry of the guest's memory map. The multiboot memory map
// (Multiboot Specification §3.3) and the e820 table (ACPI "Address Range
// Types") share the type codes.
type memRange struct {
	base, length uint64
	typ          uint32
}

const (
	memTypeRAM      = 1 // available RAM
	memTypeReserved = 2
)

// memoryMap is the guest's RAM as both maps give it: conventional memory,
// the reserved BIOS area below 1 MiB, and the rest of RAM.
func memoryMap(ramSize uint64) [3]memRange {
	return [3]memRange{
		{0, lowRAMEnd, memTypeRAM},
		{lowRAMEnd, highRAMStart - lowRAMEnd, memTypeReserved},
		{highRAMStart, ramSize - highRAMStart, memTypeRAM},
	}
}
