package image

import (
	"debug/elf"
	"fmt"
)

// The loader reads the ELF header and the program headers only (System V
// ABI, "Object Files" and "Program Loading"): sections play no part in
// loading, so a file with broken section headers still loads.

const (
	elf32HeaderSize = 52
	elf64HeaderSize = 64
	elf32PhdrSize   = 32
	elf64PhdrSize   = 56
)

type elfSegment struct {
	index                 int // in the program header table
	offset, filesz, memsz uint64
	paddr, vaddr          uint64
}

type elfFile struct {
	class64 bool
	entry   uint64
	loads   []elfSegment // PT_LOAD segments with memsz > 0, in table order
}

func isELF(b []byte) bool { return hasPrefix(b, elf.ELFMAG) }

// parseELF checks an x86 ELF executable and collects its PT_LOAD segments.
func parseELF(b []byte) (*elfFile, error) {
	if len(b) < elf.EI_NIDENT {
		return nil, errorf("truncated ELF file: %d bytes, shorter than the ELF identification", len(b))
	}
	f := &elfFile{}
	hdrSize, phdrSize, machine := uint64(elf32HeaderSize), uint64(elf32PhdrSize), elf.EM_386
	switch elf.Class(b[elf.EI_CLASS]) {
	case elf.ELFCLASS32:
	case elf.ELFCLASS64:
		f.class64 = true
		hdrSize, phdrSize, machine = elf64HeaderSize, elf64PhdrSize, elf.EM_X86_64
	default:
		return nil, errorf("ELF file of class %d: want ELFCLASS32 or ELFCLASS64", b[elf.EI_CLASS])
	}
	if d := elf.Data(b[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return nil, errorf("ELF file is %v: an x86 kernel is little-endian (ELFDATA2LSB)", d)
	}
	if uint64(len(b)) < hdrSize {
		return nil, errorf("truncated ELF file: %d bytes, shorter than its %d-byte ELF header", len(b), hdrSize)
	}
	typ := elf.Type(le.Uint16(b[16:]))
	mach := elf.Machine(le.Uint16(b[18:]))
	var phoff uint64
	var phentsize, phnum uint16
	if f.class64 {
		f.entry, phoff = le.Uint64(b[24:]), le.Uint64(b[32:])
		phentsize, phnum = le.Uint16(b[54:]), le.Uint16(b[56:])
	} else {
		f.entry, phoff = uint64(le.Uint32(b[24:])), uint64(le.Uint32(b[28:]))
		phentsize, phnum = le.Uint16(b[42:]), le.Uint16(b[44:])
	}
	if mach != machine {
		return nil, errorf("ELF file for %v, want %v", mach, machine)
	}
	if typ != elf.ET_EXEC {
		return nil, errorf("ELF file of type %v, want an executable (ET_EXEC) linked at its load address", typ)
	}
	if phnum == 0 {
		return nil, errorf("ELF file without program headers: nothing to load")
	}
	if phnum == 0xFFFF { // PN_XNUM: the count is in section 0
		return nil, errorf("ELF file with 65535 or more program headers (PN_XNUM) is not a kernel")
	}
	if uint64(phentsize) < phdrSize {
		return nil, errorf("ELF program header entries of %d bytes, shorter than %d", phentsize, phdrSize)
	}
	tableEnd := phoff + uint64(phnum)*uint64(phentsize)
	if phoff > uint64(len(b)) || tableEnd > uint64(len(b)) || tableEnd < phoff {
		return nil, errorf("truncated ELF file: the program header table [%#x, %#x) runs past the end of the %d-byte file", phoff, tableEnd, len(b))
	}
	for i := range uint64(phnum) {
		p := b[phoff+i*uint64(phentsize):]
		if elf.ProgType(le.Uint32(p)) != elf.PT_LOAD {
			continue
		}
		s := elfSegment{index: int(i)}
		if f.class64 {
			s.offset, s.vaddr, s.paddr = le.Uint64(p[8:]), le.Uint64(p[16:]), le.Uint64(p[24:])
			s.filesz, s.memsz = le.Uint64(p[32:]), le.Uint64(p[40:])
		} else {
			s.offset, s.vaddr, s.paddr = uint64(le.Uint32(p[4:])), uint64(le.Uint32(p[8:])), uint64(le.Uint32(p[12:]))
			s.filesz, s.memsz = uint64(le.Uint32(p[16:])), uint64(le.Uint32(p[20:]))
		}
		if s.filesz > s.memsz {
			return nil, errorf("ELF segment %d has more file bytes (%#x) than memory (%#x)", i, s.filesz, s.memsz)
		}
		if end := s.offset + s.filesz; end < s.offset || end > uint64(len(b)) {
			return nil, errorf("truncated ELF file: segment %d's bytes [%#x, %#x) run past the end of the %d-byte file", i, s.offset, end, len(b))
		}
		if s.paddr+s.memsz < s.paddr || s.vaddr+s.memsz < s.vaddr {
			return nil, errorf("ELF segment %d wraps around the address space", i)
		}
		if s.memsz > 0 {
			f.loads = append(f.loads, s)
		}
	}
	if len(f.loads) == 0 {
		return nil, errorf("ELF file without a loadable (PT_LOAD) segment")
	}
	for i, a := range f.loads {
		for _, b := range f.loads[i+1:] {
			if a.paddr < b.paddr+b.memsz && b.paddr < a.paddr+a.memsz {
				return nil, errorf("ELF segments %d [%#x, %#x) and %d [%#x, %#x) overlap in physical memory", a.index, a.paddr, a.paddr+a.memsz, b.index, b.paddr, b.paddr+b.memsz)
			}
		}
	}
	return f, nil
}

// physEntry returns the physical address of the entry point. e_entry is
// taken as virtual if a segment's virtual range holds it and virtualFirst
// is set (GRUB's rule for multiboot ELF kernels linked high), else as
// physical if a segment's physical range holds it, else as virtual (a
// vmlinux's e_entry is physical: phys_startup_64).
func (f *elfFile) physEntry(virtualFirst bool) (uint64, error) {
	byVirtual := func() (uint64, bool) {
		for _, s := range f.loads {
			if f.entry >= s.vaddr && f.entry-s.vaddr < s.memsz {
				return s.paddr + (f.entry - s.vaddr), true
			}
		}
		return 0, false
	}
	if virtualFirst {
		if p, ok := byVirtual(); ok {
			return p, nil
		}
	}
	for _, s := range f.loads {
		if f.entry >= s.paddr && f.entry-s.paddr < s.memsz {
			return f.entry, nil
		}
	}
	if p, ok := byVirtual(); ok {
		return p, nil
	}
	return 0, errorf("the ELF entry point %#x lies outside every loadable segment", f.entry)
}

// put loads the segments at their physical addresses. kind names them in
// the report ("kernel segment").
func (f *elfFile) put(m *mem, b []byte, kind string) (end uint64, err error) {
	for _, s := range f.loads {
		if s.paddr < kernelMin {
			return 0, errorf("ELF segment %d at %#x lies below 1 MiB, where hindsight puts the boot structures: link the kernel at 1 MiB or above", s.index, s.paddr)
		}
		what := fmt.Sprintf("%s %d", kind, s.index)
		if err := m.put(what, s.paddr, b[s.offset:s.offset+s.filesz], s.memsz); err != nil {
			return 0, err
		}
		end = max(end, s.paddr+s.memsz)
	}
	return end, nil
}
