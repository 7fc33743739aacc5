package paging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestModeSelection(t *testing.T) {
	for _, c := range []struct {
		cr0, cr4, efer uint64
		want           Mode
	}{
		{0, 0, 0, ModeOff},
		{0, CR4PAE | CR4LA57, EFERLME, ModeOff}, // CR0.PG decides first
		{CR0PG, 0, 0, Mode32},
		{CR0PG, CR4PSE, EFERNXE, Mode32},
		{CR0PG, CR4PAE, 0, ModePAE},
		{CR0PG, CR4PAE | CR4LA57, 0, ModePAE}, // LA57 matters only in IA-32e mode
		{CR0PG, CR4PAE, EFERLME, Mode4Level},
		{CR0PG, CR4PAE | CR4LA57, EFERLME, Mode5Level},
	} {
		r := Regs{CR0: c.cr0, CR4: c.cr4, EFER: c.efer}
		if got := r.Mode(); got != c.want {
			t.Errorf("CR0 %#x CR4 %#x EFER %#x: mode %v, want %v", c.cr0, c.cr4, c.efer, got, c.want)
		}
	}
}

// A mapping the tests install and then expect back.
type mapping struct {
	va, pa, size, flags uint64
	perm                Perm
}

func TestTranslateEveryMode(t *testing.T) {
	const rw, us, xd = EntryRW, EntryUS, EntryXD
	cases := []struct {
		mode Mode
		maps []mapping
	}{
		{Mode32, []mapping{
			{0x0040_1000, 0x0000_7000, Size4K, rw | us, PermWrite | PermUser},
			{0xC000_0000, 0x0080_0000, Size4M, rw, PermWrite},
			// PSE-36: physical bits 39:32 of a 4-MByte page come from PDE bits 20:13.
			{0xC040_0000, 0xAB_0040_0000, Size4M, 0, 0},
			{0xFFFF_F000, 0x0000_9000, Size4K, us, PermUser},
		}},
		{ModePAE, []mapping{
			{0x0040_1000, 0x0000_7000, Size4K, rw | us, PermWrite | PermUser},
			{0x8020_0000, 0x0060_0000, Size2M, rw | xd, PermWrite | PermNoExec},
			{0xFFE0_0000, 0xF_FFE0_0000, Size2M, us, PermUser},
			{0xFFDF_F000, 0x0000_9000, Size4K, xd, PermNoExec},
		}},
		{Mode4Level, []mapping{
			{0x0000_0000_0040_1000, 0x7000, Size4K, rw | us, PermWrite | PermUser},
			{0x0000_7FFF_FFFF_F000, 0x8000, Size4K, rw | xd, PermWrite | PermNoExec},
			{0xFFFF_8000_0000_0000, 0x0000_0001_0000_0000, Size1G, rw, PermWrite},
			{0xFFFF_FFFF_8020_0000, 0x0000_0000_0060_0000, Size2M, 0, 0},
			{0xFFFF_FFFF_FFFF_F000, 0x000F_FFFF_FFFF_F000, Size4K, us | xd, PermUser | PermNoExec},
		}},
		{Mode5Level, []mapping{
			{0x0000_0000_0040_1000, 0x7000, Size4K, rw | us, PermWrite | PermUser},
			{0x00FF_FFFF_C000_0000, 0x4000_0000, Size1G, rw | us, PermWrite | PermUser},
			{0xFF00_8000_0020_0000, 0x0060_0000, Size2M, xd, PermNoExec},
			{0xFFFF_FFFF_FFFF_F000, 0x9000, Size4K, rw, PermWrite},
		}},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			b := newTableBuilder(c.mode, 1<<22)
			for _, m := range c.maps {
				b.mustMap(m.va, m.pa, m.size, m.flags)
			}
			for _, m := range c.maps {
				for _, off := range []uint64{0, 1, m.size/2 + 3, m.size - 1} {
					got, err := Translate(b.ram, &b.regs, m.va+off)
					if err != nil {
						t.Fatalf("va %#x: %v", m.va+off, err)
					}
					want := Translation{PA: m.pa + off, PageSize: m.size, Perm: m.perm}
					if got != want {
						t.Errorf("va %#x: %+v, want %+v", m.va+off, got, want)
					}
				}
			}
		})
	}
}

func TestPagingOffIsIdentity(t *testing.T) {
	var r Regs
	got, err := Translate(RAM(nil), &r, 0xFEE0_0123)
	if err != nil || got.PA != 0xFEE0_0123 || got.Perm != PermWrite|PermUser {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = Translate(RAM(nil), &r, 1<<32)
	wantFault(t, err, Beyond32Bits, LevelNone)
}

// wantFault checks that err is a *Fault with the reason and level.
func wantFault(t *testing.T, err error, reason Reason, lvl Level) *Fault {
	t.Helper()
	var f *Fault
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T), want a *Fault", err, err)
	}
	if f.Reason != reason || f.Level != lvl {
		t.Fatalf("fault %q: reason %d level %v, want reason %d level %v", f, f.Reason, f.Level, reason, lvl)
	}
	return f
}

func TestNotPresentAtEveryLevel(t *testing.T) {
	for _, mode := range []Mode{Mode32, ModePAE, Mode4Level, Mode5Level} {
		b := newTableBuilder(mode, 1<<22)
		const va = 0x0040_3000
		b.mustMap(va, 0x7000, Size4K, EntryRW)
		for i := range b.shift {
			lvl := b.levelOf(i)
			t.Run(mode.String()+"/"+lvl.String(), func(t *testing.T) {
				addr, err := b.entryAddr(va, lvl)
				if err != nil {
					t.Fatal(err)
				}
				saved := b.load(addr)
				b.store(addr, saved&^EntryP)
				defer b.store(addr, saved)
				_, err = Translate(b.ram, &b.regs, va)
				f := wantFault(t, err, NotPresent, lvl)
				if f.EntryAddr != addr || f.Entry != saved&^EntryP {
					t.Errorf("fault names entry %#x at %#x, want %#x at %#x", f.Entry, f.EntryAddr, saved&^EntryP, addr)
				}
			})
		}
	}
}

func TestFaultMessage(t *testing.T) {
	b := newTableBuilder(Mode4Level, 1<<22)
	b.mustMap(0x1000, 0x7000, Size4K, EntryRW)
	_, err := Translate(b.ram, &b.regs, 0x4000_0000) // PDPTE index 1: empty
	want := "PDPTE 0x0 at 0x101008 not present (translating 0x40000000, 4-level paging)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestReservedBits(t *testing.T) {
	cases := []struct {
		name   string
		mode   Mode
		size   uint64
		lvl    Level  // the entry to spoil
		set    uint64 // bits to set in it
		maxPhy uint8
		noNXE  bool
	}{
		{"32-bit 4M bit 21", Mode32, Size4M, LevelPDE, 1 << 21, 0, false},
		{"32-bit 4M beyond MAXPHYADDR 36", Mode32, Size4M, LevelPDE, 1 << 17, 36, false},
		{"PAE PDPTE bit 1", ModePAE, Size4K, LevelPDPTE, 1 << 1, 0, false},
		{"PAE PDPTE bit 63", ModePAE, Size4K, LevelPDPTE, 1 << 63, 0, false},
		{"PAE PDE bit 62", ModePAE, Size4K, LevelPDE, 1 << 62, 0, false},
		{"PAE 2M bit 13", ModePAE, Size2M, LevelPDE, 1 << 13, 0, false},
		{"PAE PTE XD without NXE", ModePAE, Size4K, LevelPTE, EntryXD, 0, true},
		{"4-level PML4E PS", Mode4Level, Size4K, LevelPML4E, EntryPS, 0, false},
		{"4-level 1G bit 29", Mode4Level, Size1G, LevelPDPTE, 1 << 29, 0, false},
		{"4-level 2M bit 20", Mode4Level, Size2M, LevelPDE, 1 << 20, 0, false},
		{"4-level PTE beyond MAXPHYADDR 39", Mode4Level, Size4K, LevelPTE, 1 << 40, 39, false},
		{"4-level PDE XD without NXE", Mode4Level, Size4K, LevelPDE, EntryXD, 0, true},
		{"5-level PML5E PS", Mode5Level, Size4K, LevelPML5E, EntryPS, 0, false},
		{"5-level PML4E bit 51", Mode5Level, Size4K, LevelPML4E, 1 << 51, 48, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTableBuilder(c.mode, 1<<22)
			b.regs.MaxPhysAddr = c.maxPhy
			if c.noNXE {
				b.regs.EFER &^= EFERNXE
			}
			const va = 0x4000_0000
			b.mustMap(va, 0x8000_0000, c.size, EntryRW)
			if _, err := Translate(b.ram, &b.regs, va); err != nil {
				t.Fatalf("before spoiling: %v", err)
			}
			addr, err := b.entryAddr(va, c.lvl)
			if err != nil {
				t.Fatal(err)
			}
			b.store(addr, b.load(addr)|c.set)
			_, err = Translate(b.ram, &b.regs, va)
			f := wantFault(t, err, ReservedBits, c.lvl)
			if f.Reserved != c.set {
				t.Errorf("reserved bits %#x, want %#x", f.Reserved, c.set)
			}
			if !strings.Contains(err.Error(), "reserved bits") {
				t.Errorf("message %q does not say reserved bits", err)
			}
		})
	}
}

func TestIgnoredBitsAreNotReserved(t *testing.T) {
	// 4-level paging ignores bits 62:52 (protection keys and software bits)
	// and PS in a PTE is the PAT bit; a 32-bit PDE with PS = 1 but CR4.PSE = 0
	// points to a page table.
	b := newTableBuilder(Mode4Level, 1<<22)
	b.mustMap(0x1000, 0x7000, Size4K, EntryRW|EntryPS|0x7FF0_0000_0000_0000)
	if _, err := Translate(b.ram, &b.regs, 0x1000); err != nil {
		t.Fatalf("4-level: %v", err)
	}
	b32 := newTableBuilder(Mode32, 1<<22)
	b32.mustMap(0x1000, 0x7000, Size4K, EntryRW)
	pde, _ := b32.entryAddr(0x1000, LevelPDE)
	b32.store(pde, b32.load(pde)|EntryPS)
	b32.regs.CR4 &^= CR4PSE
	got, err := Translate(b32.ram, &b32.regs, 0x1000)
	if err != nil || got.PA != 0x7000 || got.PageSize != Size4K {
		t.Fatalf("32-bit without PSE: %+v, %v", got, err)
	}
}

func TestAccessRightsCombine(t *testing.T) {
	b := newTableBuilder(Mode4Level, 1<<22)
	const va = 0x0000_1234_5678_9000
	b.mustMap(va, 0x7000, Size4K, EntryRW|EntryUS)
	check := func(want Perm) {
		t.Helper()
		got, err := Translate(b.ram, &b.regs, va)
		if err != nil || got.Perm != want {
			t.Fatalf("perm %v, %v; want %v", got.Perm, err, want)
		}
	}
	check(PermWrite | PermUser)
	pml4e, _ := b.entryAddr(va, LevelPML4E)
	b.store(pml4e, b.load(pml4e)&^EntryUS) // supervisor at the top: supervisor page
	check(PermWrite)
	pdpte, _ := b.entryAddr(va, LevelPDPTE)
	b.store(pdpte, b.load(pdpte)&^EntryRW) // read-only in the middle: read-only page
	check(0)
	pde, _ := b.entryAddr(va, LevelPDE)
	b.store(pde, b.load(pde)|EntryXD)
	check(PermNoExec)
	if s := PermNoExec.String(); s != "r--s" {
		t.Errorf("PermNoExec formats as %q", s)
	}
	if s := (PermWrite | PermUser).String(); s != "rwxu" {
		t.Errorf("PermWrite|PermUser formats as %q", s)
	}
}

func TestCanonical(t *testing.T) {
	b4 := newTableBuilder(Mode4Level, 1<<22)
	b5 := newTableBuilder(Mode5Level, 1<<22)
	for _, c := range []struct {
		b         *tableBuilder
		va        uint64
		canonical bool
	}{
		{b4, 0x0000_7FFF_FFFF_FFFF, true},
		{b4, 0x0000_8000_0000_0000, false},
		{b4, 0xFFFF_7FFF_FFFF_FFFF, false},
		{b4, 0xFFFF_8000_0000_0000, true},
		{b4, 0x8000_0000_0000_0000, false},
		{b5, 0x0000_8000_0000_0000, true},
		{b5, 0x00FF_FFFF_FFFF_FFFF, true},
		{b5, 0x0100_0000_0000_0000, false},
		{b5, 0xFF00_0000_0000_0000, true},
		{b5, 0xFE00_0000_0000_0000, false},
	} {
		_, err := Translate(c.b.ram, &c.b.regs, c.va)
		var f *Fault
		if !errors.As(err, &f) {
			t.Fatalf("%v %#x: %v", c.b.mode, c.va, err)
		}
		if got := f.Reason != NonCanonical; got != c.canonical {
			t.Errorf("%v %#x: fault %q, canonical %v", c.b.mode, c.va, f, c.canonical)
		}
	}
}

func TestBeyond32Bits(t *testing.T) {
	for _, mode := range []Mode{Mode32, ModePAE} {
		b := newTableBuilder(mode, 1<<22)
		_, err := Translate(b.ram, &b.regs, 0x1_0000_0000)
		wantFault(t, err, Beyond32Bits, LevelNone)
	}
}

func TestPAEUsesPDPTERegisters(t *testing.T) {
	b := newTableBuilder(ModePAE, 1<<22)
	b.mustMap(0x4000_1000, 0x7000, Size4K, EntryRW)
	pdpteAddr, _ := b.entryAddr(0x4000_1000, LevelPDPTE)
	b.regs.PDPTE[1] = b.load(pdpteAddr)
	b.regs.PDPTELoaded = true
	b.store(pdpteAddr, 0) // the guest changed memory without reloading CR3
	got, err := Translate(b.ram, &b.regs, 0x4000_1000)
	if err != nil || got.PA != 0x7000 {
		t.Fatalf("with PDPTE registers: %+v, %v", got, err)
	}
	_, err = Translate(b.ram, &b.regs, 0x8000_0000)
	f := wantFault(t, err, NotPresent, LevelPDPTE)
	if !f.InRegister || f.EntryAddr != 2 || !strings.Contains(f.Error(), "in PDPTE register 2") {
		t.Errorf("fault %q: want PDPTE register 2", f)
	}
	b.regs.PDPTELoaded = false
	_, err = Translate(b.ram, &b.regs, 0x4000_1000)
	wantFault(t, err, NotPresent, LevelPDPTE)
}

func TestCR3LowBitsIgnored(t *testing.T) {
	b := newTableBuilder(Mode4Level, 1<<22)
	b.mustMap(0x1000, 0x7000, Size4K, EntryRW)
	b.regs.CR3 |= 0x123 | 1<<63 // PCID and the no-flush bit of MOV to CR3
	b.regs.CR4 |= 1 << 17       // CR4.PCIDE
	if got, err := Translate(b.ram, &b.regs, 0x1000); err != nil || got.PA != 0x7000 {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestUnreadableTable(t *testing.T) {
	b := newTableBuilder(Mode4Level, 1<<22)
	b.regs.CR3 = 0x4000_0000 // beyond the 4 MiB of RAM
	_, err := Translate(b.ram, &b.regs, 0x1000)
	f := wantFault(t, err, Unreadable, LevelPML4E)
	if f.EntryAddr != 0x4000_0000 || !strings.Contains(err.Error(), "at 0x40000000 is not in guest memory") {
		t.Fatalf("fault %v: want the PML4E at 0x40000000, not in guest memory", f)
	}
}

func TestReadVirtualAcrossPages(t *testing.T) {
	b := newTableBuilder(Mode4Level, 1<<22)
	const va uint64 = 0xFFFF_8000_0000_0000
	// Three virtually consecutive pages, physically scattered and backwards.
	b.mustMap(va, 0x9000, Size4K, EntryRW)
	b.mustMap(va+Size4K, 0x5000, Size4K, EntryRW)
	b.mustMap(va+2*Size4K, 0x3000, Size4K, EntryRW)
	for i := range 3 * Size4K {
		pa := []uint64{0x9000, 0x5000, 0x3000}[i/Size4K] + uint64(i%Size4K)
		b.ram[pa] = byte(i * 7)
	}
	dst := make([]byte, 2*Size4K+100)
	n, err := ReadVirtual(b.ram, &b.regs, va+Size4K/2, dst)
	if err != nil || n != len(dst) {
		t.Fatalf("read %d, %v", n, err)
	}
	for i, v := range dst {
		if want := byte((i + Size4K/2) * 7); v != want {
			t.Fatalf("byte %d: %#x, want %#x", i, v, want)
		}
	}
	// A read running into the unmapped fourth page stops there.
	n, err = ReadVirtual(b.ram, &b.regs, va+3*Size4K-10, make([]byte, 30))
	if n != 10 {
		t.Errorf("read %d bytes up to the unmapped page, want 10", n)
	}
	f := wantFault(t, err, NotPresent, LevelPTE)
	if f.VA != va+3*Size4K {
		t.Errorf("fault at %#x, want %#x", f.VA, va+3*Size4K)
	}
}

func TestReadVirtualStopsAtTheTop(t *testing.T) {
	b := newTableBuilder(Mode4Level, 1<<22)
	b.mustMap(0xFFFF_FFFF_FFFF_F000, 0x7000, Size4K, EntryRW)
	b.mustMap(0, 0x8000, Size4K, EntryRW)
	n, err := ReadVirtual(b.ram, &b.regs, 0xFFFF_FFFF_FFFF_FFF8, make([]byte, 16))
	if n != 8 || err == nil || !strings.Contains(err.Error(), "wraps") {
		t.Fatalf("read %d, %v; want 8 bytes and a wrap error", n, err)
	}
	b32 := newTableBuilder(Mode32, 1<<22)
	b32.mustMap(0xFFFF_F000, 0x7000, Size4K, EntryRW)
	n, err = ReadVirtual(b32.ram, &b32.regs, 0xFFFF_FFFC, make([]byte, 8))
	if n != 4 {
		t.Errorf("32-bit: read %d, want 4", n)
	}
	wantFault(t, err, Beyond32Bits, LevelNone)
}

func TestReadVirtualOutsideRAM(t *testing.T) {
	b := newTableBuilder(Mode4Level, 1<<22)
	b.mustMap(0x1000, 1<<22-Size4K, Size4K, EntryRW)
	b.ram = b.ram[:len(b.ram)-8] // the page runs past the end of RAM
	n, err := ReadVirtual(b.ram, &b.regs, 0x1FF0, make([]byte, 16))
	var outside *OutsideRAMError
	if n != 8 || !errors.As(err, &outside) || outside.GPA != 1<<22-8 {
		t.Fatalf("read %d, %v", n, err)
	}
	if !strings.Contains(err.Error(), "virtual 0x1ff8") {
		t.Errorf("error %q does not name the virtual address", err)
	}
}

func TestTranslateDoesNotAllocate(t *testing.T) {
	for _, mode := range []Mode{ModeOff, Mode32, ModePAE, Mode4Level, Mode5Level} {
		b := newTableBuilder(mode, 1<<22)
		if mode != ModeOff {
			b.mustMap(0x2000, 0x7000, Size4K, EntryRW)
			b.mustMap(0x3000, 0x8000, Size4K, EntryRW)
		}
		var mem Memory = b.ram
		dst := make([]byte, 64)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := Translate(mem, &b.regs, 0x2123); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadVirtual(mem, &b.regs, 0x2FE0, dst); err != nil {
				t.Fatal(err)
			}
			// Walk reports failures without allocating either.
			var f Fault
			if _, ok := Walk(mem, &b.regs, 0x1_0000_0000_0000, &f); ok || f.Reason == 0 {
				t.Fatalf("Walk of a bad address: %+v", f)
			}
			outside := b.regs
			outside.CR3 = 0x8000_0000 // beyond the 4 MiB of RAM
			if _, ok := Walk(mem, &outside, 0x2123, &f); mode != ModeOff && (ok || f.Reason != Unreadable) {
				t.Fatalf("Walk with tables outside RAM: %+v", f)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per translation", mode, allocs)
		}
	}
}

func TestRAMBounds(t *testing.T) {
	ram := RAM(bytes.Repeat([]byte{1}, 16))
	if _, ok := ram.Uint64(9); ok {
		t.Error("Uint64 across the end succeeded")
	}
	if _, ok := ram.Uint64(^uint64(0) - 3); ok {
		t.Error("Uint64 at the top of the address space succeeded")
	}
	if v, ok := ram.Uint64(8); !ok || v != 0x0101010101010101 {
		t.Errorf("Uint64(8) = %#x, %v", v, ok)
	}
	if n, err := ram.Read(12, make([]byte, 8)); n != 4 || err == nil {
		t.Errorf("Read across the end: %d, %v", n, err)
	}
}
