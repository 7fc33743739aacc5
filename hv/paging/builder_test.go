package paging

import (
	"encoding/binary"
	"fmt"
)

// tableBuilder writes a guest's page tables into a RAM for tests, in any
// paging mode, the way a guest kernel would: tables are allocated from a
// frame counter above the data pages, intermediate entries are present,
// writable and user (tests change them through entryAddr).
type tableBuilder struct {
	ram   RAM
	regs  Regs
	next  uint64 // next free table frame
	mode  Mode
	shift []uint // per level from the top, the address bit the index starts at
}

// tableBase is where the builder's tables start in guest-physical memory.
const tableBase = 0x10_0000

func newTableBuilder(mode Mode, ramSize uint64) *tableBuilder {
	b := &tableBuilder{ram: make(RAM, ramSize), next: tableBase, mode: mode}
	switch mode {
	case ModeOff:
		return b
	case Mode32:
		b.regs.CR0, b.regs.CR4 = CR0PG, CR4PSE
		b.shift = []uint{22, 12}
	case ModePAE:
		b.regs.CR0, b.regs.CR4, b.regs.EFER = CR0PG, CR4PAE, EFERNXE
		b.shift = []uint{30, 21, 12}
	case Mode4Level:
		b.regs.CR0, b.regs.CR4, b.regs.EFER = CR0PG, CR4PAE, EFERLME|EFERNXE
		b.shift = []uint{39, 30, 21, 12}
	case Mode5Level:
		b.regs.CR0, b.regs.CR4, b.regs.EFER = CR0PG, CR4PAE|CR4LA57, EFERLME|EFERNXE
		b.shift = []uint{48, 39, 30, 21, 12}
	}
	b.regs.CR3 = b.alloc()
	if mode == ModePAE {
		// The PDPT is 32 bytes; put it at an odd 32-byte offset to check
		// that CR3[11:5] are used.
		b.regs.CR3 += 0x60
	}
	return b
}

func (b *tableBuilder) alloc() uint64 {
	a := b.next
	b.next += Size4K
	if b.next > uint64(len(b.ram)) {
		panic("tableBuilder: out of RAM for tables")
	}
	return a
}

func (b *tableBuilder) entrySize() uint64 {
	if b.mode == Mode32 {
		return 4
	}
	return 8
}

func (b *tableBuilder) load(addr uint64) uint64 {
	if b.mode == Mode32 {
		return uint64(binary.LittleEndian.Uint32(b.ram[addr:]))
	}
	return binary.LittleEndian.Uint64(b.ram[addr:])
}

func (b *tableBuilder) store(addr, v uint64) {
	if b.mode == Mode32 {
		binary.LittleEndian.PutUint32(b.ram[addr:], uint32(v))
		return
	}
	binary.LittleEndian.PutUint64(b.ram[addr:], v)
}

// levelOf returns the Level of the i-th table from the top.
func (b *tableBuilder) levelOf(i int) Level { return Level(len(b.shift) - i) }

func (b *tableBuilder) indexMask(i int) uint64 {
	switch {
	case b.mode == Mode32:
		return 1023
	case b.mode == ModePAE && i == 0:
		return 3
	}
	return 511
}

// entryAddr returns the guest-physical address of the entry at level lvl
// for va, creating the tables above it. It fails if a large page already
// maps va above lvl.
func (b *tableBuilder) entryAddr(va uint64, lvl Level) (uint64, error) {
	table := b.regs.CR3 &^ 0xFFF
	if b.mode == ModePAE {
		table = b.regs.CR3 &^ 0x1F
	}
	for i, s := range b.shift {
		addr := table + (va>>s&b.indexMask(i))*b.entrySize()
		if b.levelOf(i) == lvl {
			return addr, nil
		}
		e := b.load(addr)
		if e&EntryP == 0 {
			e = b.alloc() | EntryP
			if !(b.mode == ModePAE && i == 0) { // PAE PDPTEs have no rights bits
				e |= EntryRW | EntryUS
			}
			b.store(addr, e)
		} else if e&EntryPS != 0 && b.psMeansPage(b.levelOf(i)) {
			return 0, fmt.Errorf("va %#x is already mapped by a large page at level %v", va, b.levelOf(i))
		}
		table = e & bits(51, 12)
		if b.mode == Mode32 {
			table &= 0xFFFF_F000
		}
	}
	return 0, fmt.Errorf("no level %v in %v", lvl, b.mode)
}

// psMeansPage says whether an entry at lvl with PS = 1 maps a page.
func (b *tableBuilder) psMeansPage(lvl Level) bool {
	return lvl == LevelPDE || lvl == LevelPDPTE && b.mode >= Mode4Level
}

// leafLevel returns the level whose entries map pages of size.
func (b *tableBuilder) leafLevel(size uint64) Level {
	for i, s := range b.shift {
		if uint64(1)<<s == size {
			return b.levelOf(i)
		}
	}
	panic(fmt.Sprintf("tableBuilder: no %#x pages in %v", size, b.mode))
}

// mapPage maps the page of size at va to pa with the leaf flags (EntryRW,
// EntryUS, EntryXD, others). It fails if va is already mapped.
func (b *tableBuilder) mapPage(va, pa, size, flags uint64) error {
	lvl := b.leafLevel(size)
	addr, err := b.entryAddr(va, lvl)
	if err != nil {
		return err
	}
	if b.load(addr)&EntryP != 0 {
		return fmt.Errorf("va %#x is already mapped", va)
	}
	e := pa | flags | EntryP
	if lvl != LevelPTE {
		e |= EntryPS
	}
	if b.mode == Mode32 && size == Size4M {
		e = pa&0xFFC0_0000 | pa>>32&0xFF<<13 | flags | EntryP | EntryPS
	}
	b.store(addr, e)
	return nil
}

// mustMap is mapPage for fixed test setups.
func (b *tableBuilder) mustMap(va, pa, size, flags uint64) {
	if err := b.mapPage(va, pa, size, flags); err != nil {
		panic(err)
	}
}
