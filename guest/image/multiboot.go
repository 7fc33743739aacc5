package image

import (
	"fmt"
	"strings"
)

// Multiboot v1 (Multiboot Specification 0.6.96): the OS image header
// (§3.1), the machine state at entry (§3.2) and the boot information
// format (§3.3).

const (
	mbHeaderMagic = 0x1BADB002
	mbBootMagic   = 0x2BADB002 // EAX at entry
	mbSearchLen   = 8192       // the header lies in the first 8192 bytes, 32-bit aligned
	mbHeaderLen   = 12         // magic, flags, checksum
	mbAOutLen     = 32         // ... header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr

	// Header flags (§3.1.2). Bits 0-15 are requirements a loader must meet
	// or refuse the image; bits 16-31 are optional features.
	mbPageAlign  = 1 << 0  // modules page-aligned
	mbMemInfo    = 1 << 1  // mem_* (and the memory map) must be given
	mbVideoMode  = 1 << 2  // the video mode table must be given
	mbAOutKludge = 1 << 16 // address fields of the header are valid
	mbRequired   = 0xFFFF

	// Information structure flags (§3.3).
	mbInfoMem        = 1 << 0
	mbInfoCmdline    = 1 << 2
	mbInfoMods       = 1 << 3
	mbInfoMmap       = 1 << 6
	mbInfoLoaderName = 1 << 9

	// Information structure offsets.
	mbiFlags, mbiMemLower, mbiMemUpper    = 0, 4, 8
	mbiCmdline, mbiModsCount, mbiModsAddr = 16, 20, 24
	mbiMmapLength, mbiMmapAddr            = 44, 48
	mbiLoaderName                         = 64
	mbiSize                               = 88 // up to vbe_interface_len; the framebuffer fields are not given
	mbModSize                             = 16 // mod_start, mod_end, string, reserved
	mbMmapEntrySize                       = 24 // size, base_addr, length, type

	// GDT selectors of a multiboot guest: a flat 32-bit code and data
	// segment (§3.2 asks for these, "exact values undefined").
	mbSelCode = 0x08
	mbSelData = 0x10

	loaderName = "hindsight"
)

type mbHeader struct {
	offset                                                   int // in the file
	flags                                                    uint32
	headerAddr, loadAddr, loadEndAddr, bssEndAddr, entryAddr uint32
}

// findMultiboot looks for a header whose checksum holds. It returns nil if
// there is none; an error only if a header is there but unusable.
func findMultiboot(b []byte) (*mbHeader, error) {
	badSum := -1
	for off := 0; off+mbHeaderLen <= min(len(b), mbSearchLen); off += 4 {
		if le.Uint32(b[off:]) != mbHeaderMagic {
			continue
		}
		flags, sum := le.Uint32(b[off+4:]), le.Uint32(b[off+8:])
		if mbHeaderMagic+flags+sum != 0 {
			if badSum < 0 {
				badSum = off
			}
			continue
		}
		h := &mbHeader{offset: off, flags: flags}
		if flags&mbAOutKludge != 0 {
			if off+mbAOutLen > len(b) {
				return nil, errorf("truncated multiboot header at %#x: flags bit 16 (a.out kludge) needs its five address fields", off)
			}
			f := b[off+mbHeaderLen:]
			h.headerAddr, h.loadAddr, h.loadEndAddr = le.Uint32(f), le.Uint32(f[4:]), le.Uint32(f[8:])
			h.bssEndAddr, h.entryAddr = le.Uint32(f[12:]), le.Uint32(f[16:])
		}
		return h, nil
	}
	if badSum >= 0 && !isELF(b) {
		return nil, errorf("the multiboot magic at %#x has a bad checksum (magic + flags + checksum must be 0 mod 2^32)", badSum)
	}
	return nil, nil
}

// multiboot is a parsed multiboot kernel: its header and how to load it.
type multiboot struct {
	hdr  *mbHeader
	b    []byte
	elf  *elfFile // nil for the a.out kludge
	kind Format

	entry uint64 // physical entry point
	data  []byte // a.out kludge: the file bytes to load at load_addr
	end   uint64 // a.out kludge: the end of the image in memory, bss included
}

func parseMultiboot(b []byte, h *mbHeader) (*multiboot, error) {
	if unknown := h.flags & mbRequired &^ (mbPageAlign | mbMemInfo | mbVideoMode); unknown != 0 {
		return nil, errorf("multiboot header flags %#x ask for features hindsight does not know (bits %#x among the required bits 0-15): refused, as §3.1.2 says", h.flags, unknown)
	}
	k := &multiboot{hdr: h, b: b}
	if h.flags&mbAOutKludge != 0 {
		// The a.out kludge applies to any file, ELF included (§3.1.3).
		k.kind = MultibootAOut
		return k, k.checkAOut()
	}
	if !isELF(b) {
		return nil, errorf("a multiboot header without the address fields (flags bit 16) in a file that is not ELF: hindsight cannot tell where to load it")
	}
	e, err := parseELF(b)
	if err != nil {
		return nil, err
	}
	k.elf = e
	k.kind = MultibootELF32
	if e.class64 {
		k.kind = MultibootELF64
	}
	for _, s := range e.loads {
		if s.paddr+s.memsz > 1<<32 {
			return nil, errorf("ELF segment %d at [%#x, %#x) reaches above 4 GiB: a multiboot kernel is entered with paging off", s.index, s.paddr, s.paddr+s.memsz)
		}
	}
	if k.entry, err = e.physEntry(true); err != nil {
		return nil, err
	}
	return k, nil
}

// checkAOut checks the kludge's address fields against the file (§3.1.3)
// and sets the bytes to load and the image's extent.
func (k *multiboot) checkAOut() error {
	h := k.hdr
	if h.loadAddr > h.headerAddr {
		return errorf("a.out kludge: load_addr %#x is above header_addr %#x", h.loadAddr, h.headerAddr)
	}
	if h.headerAddr-h.loadAddr > uint32(h.offset) {
		return errorf("a.out kludge: header_addr - load_addr = %#x, but the header is at file offset %#x: the load would start before the file", h.headerAddr-h.loadAddr, h.offset)
	}
	start := uint64(h.offset) - uint64(h.headerAddr-h.loadAddr)
	n := uint64(len(k.b)) - start // load_end_addr 0: the rest of the file
	if h.loadEndAddr != 0 {
		if h.loadEndAddr <= h.loadAddr {
			return errorf("a.out kludge: load_end_addr %#x is not above load_addr %#x", h.loadEndAddr, h.loadAddr)
		}
		if want := uint64(h.loadEndAddr - h.loadAddr); want > n {
			return errorf("truncated a.out kludge image: load_end_addr %#x needs %#x bytes of the file from offset %#x, the file has %d bytes", h.loadEndAddr, want, start, len(k.b))
		} else {
			n = want
		}
	}
	k.data = k.b[start : start+n]
	k.end = uint64(h.loadAddr) + n
	if h.bssEndAddr != 0 { // 0: no bss
		if uint64(h.bssEndAddr) < k.end {
			return errorf("a.out kludge: bss_end_addr %#x is below the end of the loaded bytes %#x", h.bssEndAddr, k.end)
		}
		k.end = uint64(h.bssEndAddr)
	}
	if h.entryAddr < h.loadAddr || uint64(h.entryAddr) >= k.end {
		return errorf("a.out kludge: entry_addr %#x lies outside the loaded image [%#x, %#x)", h.entryAddr, h.loadAddr, k.end)
	}
	k.entry = uint64(h.entryAddr)
	return nil
}

func (k *multiboot) format() Format { return k.kind }

func (k *multiboot) load(m *mem, s *Spec) (Entry, error) {
	var end uint64
	if k.elf != nil {
		var err error
		if end, err = k.elf.put(m, k.b, "kernel segment"); err != nil {
			return Entry{}, err
		}
	} else {
		if uint64(k.hdr.loadAddr) < kernelMin {
			return Entry{}, errorf("a.out kludge: load_addr %#x lies below 1 MiB, where hindsight puts the boot structures", k.hdr.loadAddr)
		}
		if err := m.put("kernel (a.out kludge)", uint64(k.hdr.loadAddr), k.data, k.end-uint64(k.hdr.loadAddr)); err != nil {
			return Entry{}, err
		}
		end = k.end
	}
	if k.hdr.flags&mbVideoMode != 0 {
		m.note("the kernel asks for video mode information (multiboot header flags bit 2): hindsight has no display, so the information structure carries none (flags bits 11 and 12 clear)")
	}
	gdt, limit, err := m.putGDT(descCode32, descData)
	if err != nil {
		return Entry{}, err
	}
	mbi, err := putMultibootInfo(m, s, end)
	if err != nil {
		return Entry{}, err
	}
	e := protected32Entry(k.entry, gdt, limit, mbSelCode, mbSelData)
	e.RAX, e.RBX = mbBootMagic, mbi
	return e, nil
}

// infoArea hands out 16-byte-aligned pieces of [mbInfoStart, mbInfoEnd).
type infoArea struct {
	m    *mem
	next uint64
}

func (a *infoArea) alloc(n uint64) (uint64, error) {
	p := a.next
	if n > mbInfoEnd-p {
		return 0, errorf("the multiboot information (command line, module strings, module list) needs more than the %d KiB at [%#x, %#x): shorten the strings or use fewer modules", (mbInfoEnd-mbInfoStart)>>10, mbInfoStart, mbInfoEnd)
	}
	a.next = (p + n + 15) &^ 15
	return p, nil
}

func (a *infoArea) putString(s string) (uint64, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return 0, errorf("a string for the multiboot information holds a NUL byte: %q", s)
	}
	p, err := a.alloc(uint64(len(s)) + 1)
	if err != nil {
		return 0, err
	}
	copy(a.m.ram[p:], s)
	return p, nil
}

// putMultibootInfo builds the information structure (§3.3) and copies the
// modules, page-aligned, from kernelEnd on. It returns the structure's
// address.
func putMultibootInfo(m *mem, s *Spec, kernelEnd uint64) (uint64, error) {
	a := &infoArea{m: m, next: mbInfoStart}
	mbi, _ := a.alloc(mbiSize)
	flags := uint32(mbInfoMem | mbInfoMmap | mbInfoCmdline | mbInfoLoaderName)
	ram := m.size()
	i := m.ram[mbi:]
	le.PutUint32(i[mbiMemLower:], lowRAMEnd>>10)
	le.PutUint32(i[mbiMemUpper:], uint32(min(ram-highRAMStart, 1<<32-1)>>10))

	mm := memoryMap(ram)
	mmap, _ := a.alloc(uint64(len(mm)) * mbMmapEntrySize)
	for n, r := range mm {
		e := m.ram[mmap+uint64(n)*mbMmapEntrySize:]
		le.PutUint32(e, mbMmapEntrySize-4) // size excludes the size field itself
		le.PutUint64(e[4:], r.base)
		le.PutUint64(e[12:], r.length)
		le.PutUint32(e[20:], r.typ)
	}
	le.PutUint32(i[mbiMmapLength:], uint32(len(mm))*mbMmapEntrySize)
	le.PutUint32(i[mbiMmapAddr:], uint32(mmap))

	p, err := a.putString(s.Cmdline)
	if err != nil {
		return 0, err
	}
	le.PutUint32(i[mbiCmdline:], uint32(p))
	p, _ = a.putString(loaderName)
	le.PutUint32(i[mbiLoaderName:], uint32(p))

	if len(s.Modules) > 0 {
		flags |= mbInfoMods
		list, err := a.alloc(uint64(len(s.Modules)) * mbModSize)
		if err != nil {
			return 0, err
		}
		le.PutUint32(i[mbiModsCount:], uint32(len(s.Modules)))
		le.PutUint32(i[mbiModsAddr:], uint32(list))
		at := (kernelEnd + pageSize - 1) &^ (pageSize - 1)
		for n, mod := range s.Modules {
			str, err := a.putString(mod.Cmdline)
			if err != nil {
				return 0, err
			}
			what := fmt.Sprintf("module %d (%s)", n, firstWord(mod.Cmdline))
			if at+uint64(len(mod.Data)) > 1<<32 {
				return 0, errorf("%s would end above 4 GiB, out of a 32-bit kernel's reach", what)
			}
			if err := m.put(what, at, mod.Data, uint64(len(mod.Data))); err != nil {
				return 0, err
			}
			e := m.ram[list+uint64(n)*mbModSize:]
			le.PutUint32(e, uint32(at))
			le.PutUint32(e[4:], uint32(at+uint64(len(mod.Data))))
			le.PutUint32(e[8:], uint32(str))
			at = (at + uint64(len(mod.Data)) + pageSize - 1) &^ (pageSize - 1)
		}
	}
	le.PutUint32(i[mbiFlags:], flags)
	if err := m.claim("multiboot information", mbInfoStart, a.next-mbInfoStart); err != nil {
		return 0, err
	}
	return mbi, nil
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "no name"
}
