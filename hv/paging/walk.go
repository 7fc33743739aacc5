package paging

import "fmt"

// Translate walks the guest's page tables for va and returns the
// guest-physical address it maps to, the size of the page and the access
// rights. On failure the error is a *Fault naming the entry that stopped
// the walk. It reads guest memory only, sets no accessed or dirty flags,
// and allocates nothing unless it fails (Walk never does).
func Translate(mem Memory, r *Regs, va uint64) (Translation, error) {
	var f Fault
	t, ok := Walk(mem, r, va, &f)
	if !ok {
		fault := f
		return Translation{}, &fault
	}
	return t, nil
}

// Walk is Translate for code that must not allocate (VM-exit context):
// on failure it fills *f and returns false.
//
// With paging off the address is its own physical address (reported as a
// writable, executable user page of 4 KiB). 1-GByte pages are assumed
// supported (CPUID.80000001H:EDX.Page1GB[bit 26]), as on every processor
// with VT-x and EPT.
func Walk(mem Memory, r *Regs, va uint64, f *Fault) (Translation, bool) {
	switch mode := r.Mode(); mode {
	case ModeOff:
		if va > 0xFFFF_FFFF {
			*f = Fault{VA: va, Mode: mode, Reason: Beyond32Bits}
			return Translation{}, false
		}
		return Translation{PA: va, PageSize: Size4K, Perm: PermWrite | PermUser}, true
	case Mode32:
		return walk32(mem, r, va, f)
	case ModePAE:
		return walkPAE(mem, r, va, f)
	default:
		return walkIA32e(mem, r, va, mode, f)
	}
}

// bits returns a mask of bits hi:lo inclusive, or 0 if lo > hi.
func bits(hi, lo uint) uint64 {
	if lo > hi {
		return 0
	}
	return (^uint64(0) >> (63 - hi)) &^ (1<<lo - 1)
}

func combine(p Perm, e uint64, nxe bool) Perm {
	if e&EntryRW == 0 {
		p &^= PermWrite
	}
	if e&EntryUS == 0 {
		p &^= PermUser
	}
	if nxe && e&EntryXD != 0 {
		p |= PermNoExec
	}
	return p
}

// usable reports whether entry e at addr is present and sets none of the
// reserved bits rsv; if not, it fills *f.
func usable(f *Fault, va uint64, mode Mode, lvl Level, addr, e, rsv uint64) bool {
	switch {
	case e&EntryP == 0:
		*f = Fault{VA: va, Mode: mode, Reason: NotPresent, Level: lvl, Entry: e, EntryAddr: addr}
	case e&rsv != 0:
		*f = Fault{VA: va, Mode: mode, Reason: ReservedBits, Level: lvl, Entry: e, EntryAddr: addr, Reserved: e & rsv}
	default:
		return true
	}
	return false
}

// unreadable fills *f for an entry memory could not give.
func unreadable(f *Fault, va uint64, mode Mode, lvl Level, addr uint64) (Translation, bool) {
	*f = Fault{VA: va, Mode: mode, Reason: Unreadable, Level: lvl, EntryAddr: addr}
	return Translation{}, false
}

// load32 reads the 4-byte entry at the 4-byte-aligned addr.
func load32(mem Memory, addr uint64) (uint64, bool) {
	q, ok := mem.Uint64(addr &^ 7)
	return q >> (addr & 4 * 8) & 0xFFFF_FFFF, ok
}

// walk32 is 32-bit paging (SDM Vol. 3A §4.3, Tables 4-4 to 4-6): a page
// directory of 1024 4-byte entries at CR3[31:12], 4-MByte pages if
// CR4.PSE = 1 and PDE.PS = 1, else a page table of 1024 entries.
func walk32(mem Memory, r *Regs, va uint64, f *Fault) (Translation, bool) {
	const mode = Mode32
	if va > 0xFFFF_FFFF {
		*f = Fault{VA: va, Mode: mode, Reason: Beyond32Bits}
		return Translation{}, false
	}
	pdeAddr := r.CR3&0xFFFF_F000 | va>>22<<2
	pde, ok := load32(mem, pdeAddr)
	if !ok {
		return unreadable(f, va, mode, LevelPDE, pdeAddr)
	}
	if r.CR4&CR4PSE != 0 && pde&EntryPS != 0 {
		// Bits (M-20):13 hold physical-address bits (M-1):32 (PSE-36), with
		// M = min(MAXPHYADDR, 40); bits 21:(M-19) are reserved.
		m := min(r.maxPhys(), 40)
		if !usable(f, va, mode, LevelPDE, pdeAddr, pde, bits(21, m-19)) {
			return Translation{}, false
		}
		pa := pde&0xFFC0_0000 | pde>>13&0xFF<<32 | va&(Size4M-1)
		return Translation{PA: pa, PageSize: Size4M, Perm: combine(PermWrite|PermUser, pde, false)}, true
	}
	if !usable(f, va, mode, LevelPDE, pdeAddr, pde, 0) {
		return Translation{}, false
	}
	pteAddr := pde&0xFFFF_F000 | va>>12&0x3FF<<2
	pte, ok := load32(mem, pteAddr)
	if !ok {
		return unreadable(f, va, mode, LevelPTE, pteAddr)
	}
	if !usable(f, va, mode, LevelPTE, pteAddr, pte, 0) {
		return Translation{}, false
	}
	perm := combine(combine(PermWrite|PermUser, pde, false), pte, false)
	return Translation{PA: pte&0xFFFF_F000 | va&0xFFF, PageSize: Size4K, Perm: perm}, true
}

// walkPAE is PAE paging (SDM Vol. 3A §4.4, Tables 4-8 to 4-11): four
// PDPTEs (registers loaded from the 32-byte table at CR3[31:5]), then page
// directories and tables of 512 8-byte entries, 2-MByte pages if PDE.PS = 1.
func walkPAE(mem Memory, r *Regs, va uint64, f *Fault) (Translation, bool) {
	const mode = ModePAE
	if va > 0xFFFF_FFFF {
		*f = Fault{VA: va, Mode: mode, Reason: Beyond32Bits}
		return Translation{}, false
	}
	m := r.maxPhys()
	addrMask := bits(m-1, 12)
	nxe := r.EFER&EFERNXE != 0
	// PDPTEs reserve bits 2:1, 8:5 and 63:M; they carry no access rights.
	idx := va >> 30
	var pdpte, pdpteAddr uint64
	if r.PDPTELoaded {
		pdpte, pdpteAddr = r.PDPTE[idx], idx
	} else {
		pdpteAddr = r.CR3&0xFFFF_FFE0 + idx*8
		var ok bool
		if pdpte, ok = mem.Uint64(pdpteAddr); !ok {
			return unreadable(f, va, mode, LevelPDPTE, pdpteAddr)
		}
	}
	if !usable(f, va, mode, LevelPDPTE, pdpteAddr, pdpte, 0x1E6|bits(63, m)) {
		f.InRegister = r.PDPTELoaded
		return Translation{}, false
	}
	// PDEs and PTEs reserve bits 62:M, and bit 63 unless IA32_EFER.NXE = 1.
	rsv := bits(62, m)
	if !nxe {
		rsv |= EntryXD
	}
	pdeAddr := pdpte&addrMask | va>>21&511<<3
	pde, ok := mem.Uint64(pdeAddr)
	if !ok {
		return unreadable(f, va, mode, LevelPDE, pdeAddr)
	}
	if pde&EntryPS != 0 {
		if !usable(f, va, mode, LevelPDE, pdeAddr, pde, rsv|bits(20, 13)) {
			return Translation{}, false
		}
		pa := pde&bits(m-1, 21) | va&(Size2M-1)
		return Translation{PA: pa, PageSize: Size2M, Perm: combine(PermWrite|PermUser, pde, nxe)}, true
	}
	if !usable(f, va, mode, LevelPDE, pdeAddr, pde, rsv) {
		return Translation{}, false
	}
	pteAddr := pde&addrMask | va>>12&511<<3
	pte, ok := mem.Uint64(pteAddr)
	if !ok {
		return unreadable(f, va, mode, LevelPTE, pteAddr)
	}
	if !usable(f, va, mode, LevelPTE, pteAddr, pte, rsv) {
		return Translation{}, false
	}
	perm := combine(combine(PermWrite|PermUser, pde, nxe), pte, nxe)
	return Translation{PA: pte&addrMask | va&0xFFF, PageSize: Size4K, Perm: perm}, true
}

// walkIA32e is 4-level and 5-level paging (SDM Vol. 3A §4.5, Tables 4-14
// to 4-20): 512-entry tables from CR3[M-1:12], 1-GByte pages in PDPTEs and
// 2-MByte pages in PDEs with PS = 1. Every entry reserves bits 51:M, and
// bit 63 unless IA32_EFER.NXE = 1; PML5Es and PML4Es also bit 7 (PS).
func walkIA32e(mem Memory, r *Regs, va uint64, mode Mode, f *Fault) (Translation, bool) {
	levels := uint(4)
	if mode == Mode5Level {
		levels = 5
	}
	// Canonical: bits 63 down to the top translated bit are all equal
	// (§4.5: 48-bit or 57-bit linear addresses).
	if s := 64 - 12 - 9*levels; uint64(int64(va<<s)>>s) != va {
		*f = Fault{VA: va, Mode: mode, Reason: NonCanonical}
		return Translation{}, false
	}
	m := r.maxPhys()
	nxe := r.EFER&EFERNXE != 0
	high := bits(51, m)
	if !nxe {
		high |= EntryXD
	}
	table := r.CR3 & bits(m-1, 12)
	perm := PermWrite | PermUser
	for lvl := levels; ; lvl-- { // level 1 entries are always leaves
		shift := 12 + 9*(lvl-1)
		addr := table | va>>shift&511<<3
		e, ok := mem.Uint64(addr)
		if !ok {
			return unreadable(f, va, mode, Level(lvl), addr)
		}
		rsv := high
		leaf := lvl == 1
		switch lvl {
		case 5, 4:
			rsv |= EntryPS
		case 3, 2:
			if e&EntryPS != 0 {
				leaf = true
				rsv |= bits(shift-1, 13) // address bits below the page's alignment
			}
		}
		if !usable(f, va, mode, Level(lvl), addr, e, rsv) {
			return Translation{}, false
		}
		perm = combine(perm, e, nxe)
		if leaf {
			size := uint64(1) << shift
			return Translation{PA: e&bits(m-1, shift) | va&(size-1), PageSize: size, Perm: perm}, true
		}
		table = e & bits(m-1, 12)
	}
}

// ReadVirtual copies guest memory at virtual address va into dst, page by
// page, translating each page. It returns the number of bytes copied; if
// fewer than len(dst), the error says where it stopped (a *Fault for an
// unmapped page, else the memory's error). It allocates nothing unless it
// fails.
func ReadVirtual(mem Memory, r *Regs, va uint64, dst []byte) (int, error) {
	n := 0
	for n < len(dst) {
		t, err := Translate(mem, r, va)
		if err != nil {
			return n, err
		}
		chunk := t.PageSize - va&(t.PageSize-1)
		if rest := uint64(len(dst) - n); chunk > rest {
			chunk = rest
		}
		k, err := mem.Read(t.PA, dst[n:n+int(chunk)])
		n += k
		if err != nil {
			return n, fmt.Errorf("reading virtual %#x (guest-physical %#x): %w", va+uint64(k), t.PA+uint64(k), err)
		}
		va += chunk
		if va == 0 && n < len(dst) {
			return n, fmt.Errorf("reading virtual memory: the range wraps past the top of the address space after %d bytes", n)
		}
	}
	return n, nil
}
