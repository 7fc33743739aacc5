package paging

import (
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzTranslateModel installs pages of every size the mode has at
// addresses that share tables, then checks translations against the list
// of mappings: a mapped address gives its page's address, size and rights,
// anything else a not-present fault.
func FuzzTranslateModel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte{2, 0xFF, 0x80, 0x41, 0x22, 0x13, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E})
	f.Add([]byte{3, 0x55, 0xAA, 0x55, 0xAA, 0x55, 0xAA, 0x55, 0xAA, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08})
	f.Add([]byte{1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		mode := Mode(data[0]%4) + Mode32
		b := newTableBuilder(mode, 8<<20)
		var maps []mapping
		const opSize = 8
		for ops := data[1:]; len(ops) >= opSize && len(maps) < 24; ops = ops[opSize:] {
			m := decodeMapping(b, ops[:opSize])
			if b.mapPage(m.va, m.pa, m.size, m.flags) == nil {
				maps = append(maps, m)
			}
		}
		for _, m := range maps {
			// Both ends, the middle, and the neighbours, which are mapped by
			// another page, unmapped, or outside the address space.
			for _, va := range []uint64{m.va, m.va + m.size - 1, m.va + m.size/3 | 5, m.va - 1, m.va + m.size} {
				checkModel(t, b, maps, va)
			}
		}
	})
}

// decodeMapping turns 8 fuzz bytes into a page mapping for b's mode. Table
// indexes come from a small set (0, 1, 2, last) so mappings share tables
// and meet at table boundaries.
func decodeMapping(b *tableBuilder, op []byte) mapping {
	var va uint64
	for i, s := range b.shift {
		mask := b.indexMask(i)
		idx := []uint64{0, 1, 2, mask}[op[i]%4]
		va |= idx << s
	}
	// Page size: 4 KiB, or one of the mode's large pages.
	sizes := map[Mode][]uint64{
		Mode32:     {Size4K, Size4M},
		ModePAE:    {Size4K, Size2M},
		Mode4Level: {Size4K, Size2M, Size1G},
		Mode5Level: {Size4K, Size2M, Size1G},
	}[b.mode]
	size := sizes[int(op[5])%len(sizes)]
	va &^= size - 1
	if b.mode >= Mode4Level { // make it canonical
		s := 64 - 12 - 9*uint(len(b.shift))
		va = uint64(int64(va<<s) >> s)
	}
	// Physical address: aligned, within the mode's physical width.
	width := uint(MaxPhysAddrBits)
	switch {
	case b.mode == Mode32 && size == Size4K:
		width = 32
	case b.mode == Mode32:
		width = 40
	}
	pa := (uint64(binary.LittleEndian.Uint16(op[6:])) * 0x9E37_79B9 << 12) & bits(width-1, 0) &^ (size - 1)
	var flags uint64
	var perm Perm
	if op[5]&0x10 != 0 {
		flags |= EntryRW
		perm |= PermWrite
	}
	if op[5]&0x20 != 0 {
		flags |= EntryUS
		perm |= PermUser
	}
	if op[5]&0x40 != 0 && b.mode != Mode32 {
		flags |= EntryXD
		perm |= PermNoExec
	}
	return mapping{va: va, pa: pa, size: size, flags: flags, perm: perm}
}

func checkModel(t *testing.T, b *tableBuilder, maps []mapping, va uint64) {
	t.Helper()
	got, err := Translate(b.ram, &b.regs, va)
	for _, m := range maps {
		if va-m.va < m.size {
			want := Translation{PA: m.pa + (va - m.va), PageSize: m.size, Perm: m.perm}
			if err != nil || got != want {
				t.Fatalf("%v va %#x: %+v, %v; want %+v", b.mode, va, got, err, want)
			}
			return
		}
	}
	var f *Fault
	if !errors.As(err, &f) {
		t.Fatalf("%v va %#x is not mapped but translates to %+v (%v)", b.mode, va, got, err)
	}
	switch f.Reason {
	case NotPresent:
	case Beyond32Bits:
		if va>>32 == 0 || b.mode > ModePAE {
			t.Fatalf("%v va %#x: %v", b.mode, va, f)
		}
	case NonCanonical:
		top := va >> 47 // bits 63:47 all zero or all one
		if b.mode == Mode5Level {
			top = va >> 56
		}
		if top == 0 || top == 1<<(64-47)-1 && b.mode == Mode4Level || top == 1<<(64-56)-1 && b.mode == Mode5Level {
			t.Fatalf("%v va %#x: %v", b.mode, va, f)
		}
	default:
		t.Fatalf("%v va %#x: %v; want not present", b.mode, va, f)
	}
}

// wrapMemory makes every guest-physical address readable (modulo its
// size), so walks over random bytes go deep instead of stopping at the
// first entry that points outside RAM.
type wrapMemory []byte

func (m wrapMemory) Uint64(gpa uint64) (uint64, bool) {
	return binary.LittleEndian.Uint64(m[gpa%uint64(len(m))&^7:]), true
}

func (m wrapMemory) Read(gpa uint64, dst []byte) (int, error) {
	for i := range dst {
		dst[i] = m[(gpa+uint64(i))%uint64(len(m))]
	}
	return len(dst), nil
}

// FuzzTranslateRaw walks random tables with random control registers and
// checks what must hold for any walk: no panic, and a result consistent
// with the mode (page offset kept, page size the mode has, address within
// the physical width) or a fault at a level the mode has.
func FuzzTranslateRaw(f *testing.F) {
	f.Add(uint64(CR0PG), uint64(0x1000), uint64(CR4PAE), uint64(EFERLME|EFERNXE), uint64(0x1234), uint8(0), []byte{0x07, 0x10, 0, 0, 0, 0, 0, 0})
	f.Add(uint64(CR0PG), uint64(0), uint64(CR4PSE), uint64(0), uint64(0xC000_0000), uint8(36), []byte{0x87, 0x00, 0x03, 0, 0, 0, 0, 0})
	f.Add(uint64(CR0PG), uint64(0x20), uint64(CR4PAE|CR4LA57), uint64(EFERLME), uint64(0xFF00_0000_0000_0000), uint8(46), []byte{0x83, 0, 0, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, cr0, cr3, cr4, efer, va uint64, maxPhy uint8, ram []byte) {
		if len(ram) < 8 {
			return
		}
		mem := wrapMemory(append(ram[:len(ram):len(ram)], make([]byte, 8-len(ram)%8)...))
		r := Regs{CR0: cr0, CR3: cr3, CR4: cr4, EFER: efer, MaxPhysAddr: maxPhy}
		mode := r.Mode()
		got, err := Translate(mem, &r, va)
		if err != nil {
			var f *Fault
			if !errors.As(err, &f) || f.Error() == "" {
				t.Fatalf("error %v is not a *Fault", err)
			}
			if f.Level > maxLevel(mode) {
				t.Fatalf("%v fault at level %v: %v", mode, f.Level, f)
			}
			return
		}
		if got.PA&(got.PageSize-1) != va&(got.PageSize-1) {
			t.Fatalf("%v va %#x: page offset lost: %+v", mode, va, got)
		}
		width := r.maxPhys()
		if mode == Mode32 {
			width = min(width, 40)
		}
		if mode == ModeOff {
			width = 32
		}
		if got.PA>>width != 0 {
			t.Fatalf("%v va %#x: PA %#x beyond %d bits", mode, va, got.PA, width)
		}
		if !validSize(mode, got.PageSize) {
			t.Fatalf("%v va %#x: page size %#x", mode, va, got.PageSize)
		}
		buf := make([]byte, 16)
		if n, err := ReadVirtual(mem, &r, va, buf); n > len(buf) || (err == nil) != (n == len(buf)) {
			t.Fatalf("ReadVirtual: %d, %v", n, err)
		}
	})
}

func maxLevel(m Mode) Level {
	switch m {
	case Mode32:
		return LevelPDE
	case ModePAE:
		return LevelPDPTE
	case Mode4Level:
		return LevelPML4E
	case Mode5Level:
		return LevelPML5E
	}
	return LevelNone
}

func validSize(m Mode, size uint64) bool {
	switch size {
	case Size4K:
		return true
	case Size4M:
		return m == Mode32
	case Size2M:
		return m == ModePAE || m >= Mode4Level
	case Size1G:
		return m >= Mode4Level
	}
	return false
}
