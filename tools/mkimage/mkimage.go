package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Multiboot v1 constants.
const (
	multibootMagic = 0x1BADB002

	// flagMemInfo (bit 1) asks the loader for mem_lower/mem_upper and the
	// memory map; flagAOutKludge (bit 16) says the address fields of the
	// header are valid, so the loader ignores the executable format.
	flagMemInfo    = 1 << 1
	flagAOutKludge = 1 << 16
	multibootFlags = flagAOutKludge | flagMemInfo // 0x00010002

	// headerSize is the size of the multiboot header with the a.out kludge
	// address fields (no video fields: flag bit 2 is clear).
	headerSize = 32
	// searchLimit is how far into the file a multiboot loader looks for the
	// header.
	searchLimit = 8192

	pageSize = 0x1000
	minAddr  = 1 << 20 // nothing may be loaded below 1 MiB
	maxAddr  = 1 << 32 // multiboot v1 addresses are 32-bit
)

// abi0Suffix is how the Go linker marks ABI0 (assembly) symbols in the ELF
// symbol table.
const abi0Suffix = ".abi0"

// Header is a multiboot v1 header with the a.out kludge address fields.
type Header struct {
	Magic       uint32
	Flags       uint32
	Checksum    uint32
	HeaderAddr  uint32 // physical address of the header itself
	LoadAddr    uint32 // physical address of the first byte of the image file
	LoadEndAddr uint32 // end of the file data: LoadAddr + len(image)
	BSSEndAddr  uint32 // end of zero-filled memory (max vaddr+memsz)
	EntryAddr   uint32 // 32-bit protected-mode entry point
}

// marshal encodes h as the loader reads it: eight little-endian uint32s.
func (h Header) marshal() []byte {
	b := make([]byte, headerSize)
	for i, v := range []uint32{h.Magic, h.Flags, h.Checksum, h.HeaderAddr,
		h.LoadAddr, h.LoadEndAddr, h.BSSEndAddr, h.EntryAddr} {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func (h Header) String() string {
	return fmt.Sprintf("load [%#x,%#x) (%d bytes), bss end %#x, entry %#x",
		h.LoadAddr, h.LoadEndAddr, h.LoadEndAddr-h.LoadAddr, h.BSSEndAddr, h.EntryAddr)
}

// build converts a statically linked x86-64 Go ELF executable into a flat
// multiboot v1 image. The image starts with one page holding the multiboot
// header (at file offset 0) and continues with a flat copy of memory from
// the header page up to the end of the last PT_LOAD segment's file data,
// gaps zero-filled. The loader copies the whole file to LoadAddr, zeroes
// [LoadEndAddr, BSSEndAddr) and jumps to EntryAddr, the value of the ELF
// symbol named entry.
func build(elfBytes []byte, entry string) ([]byte, Header, error) {
	var hdr Header
	f, err := elf.NewFile(bytes.NewReader(elfBytes))
	if err != nil {
		return nil, hdr, fmt.Errorf("not a valid ELF file: %w", err)
	}
	defer f.Close()

	if f.Class != elf.ELFCLASS64 {
		return nil, hdr, fmt.Errorf("ELF class is %v, want ELFCLASS64 (ELF64)", f.Class)
	}
	if f.Data != elf.ELFDATA2LSB {
		return nil, hdr, fmt.Errorf("ELF data encoding is %v, want little-endian ELFDATA2LSB", f.Data)
	}
	if f.Machine != elf.EM_X86_64 {
		return nil, hdr, fmt.Errorf("ELF machine is %v, want EM_X86_64 (x86-64)", f.Machine)
	}
	if f.Type != elf.ET_EXEC {
		return nil, hdr, fmt.Errorf("ELF type is %v, want ET_EXEC (a statically linked executable; build with CGO_ENABLED=0 and no -buildmode=pie)", f.Type)
	}

	var loads []*elf.Prog
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP, elf.PT_DYNAMIC:
			return nil, hdr, fmt.Errorf("program header %d is %v: dynamically linked executables cannot be booted (build with CGO_ENABLED=0)", i, p.Type)
		case elf.PT_LOAD:
		default:
			continue
		}
		if p.Memsz == 0 {
			return nil, hdr, fmt.Errorf("PT_LOAD segment %d at %#x is empty (memsz 0)", i, p.Vaddr)
		}
		if p.Filesz > p.Memsz {
			return nil, hdr, fmt.Errorf("PT_LOAD segment %d at %#x has filesz %#x > memsz %#x", i, p.Vaddr, p.Filesz, p.Memsz)
		}
		if p.Paddr != p.Vaddr {
			return nil, hdr, fmt.Errorf("PT_LOAD segment %d has paddr %#x != vaddr %#x: the image is loaded at physical addresses and must be identity-linked", i, p.Paddr, p.Vaddr)
		}
		if p.Vaddr < minAddr {
			return nil, hdr, fmt.Errorf("PT_LOAD segment %d at %#x is below 1 MiB", i, p.Vaddr)
		}
		end := p.Vaddr + p.Memsz
		if end < p.Vaddr || end > maxAddr {
			return nil, hdr, fmt.Errorf("PT_LOAD segment %d [%#x,%#x+%#x) ends above 4 GiB", i, p.Vaddr, p.Vaddr, p.Memsz)
		}
		if p.Off > uint64(len(elfBytes)) || p.Filesz > uint64(len(elfBytes))-p.Off {
			return nil, hdr, fmt.Errorf("PT_LOAD segment %d file range [%#x,%#x+%#x) is outside the %d-byte file", i, p.Off, p.Off, p.Filesz, len(elfBytes))
		}
		loads = append(loads, p)
	}
	if len(loads) == 0 {
		return nil, hdr, errors.New("ELF has no PT_LOAD segments")
	}
	sort.SliceStable(loads, func(i, j int) bool { return loads[i].Vaddr < loads[j].Vaddr })
	for i := 1; i < len(loads); i++ {
		a, b := loads[i-1], loads[i]
		if b.Vaddr < a.Vaddr+a.Memsz {
			return nil, hdr, fmt.Errorf("PT_LOAD segments [%#x,%#x) and [%#x,%#x) overlap",
				a.Vaddr, a.Vaddr+a.Memsz, b.Vaddr, b.Vaddr+b.Memsz)
		}
	}

	// The header page sits immediately below the page holding the lowest
	// segment.
	loadAddr := loads[0].Vaddr&^(pageSize-1) - pageSize
	if loadAddr < minAddr {
		return nil, hdr, fmt.Errorf("lowest PT_LOAD segment at %#x leaves no room for the header page above 1 MiB (header page would be at %#x)", loads[0].Vaddr, loadAddr)
	}
	var fileEnd, bssEnd uint64
	for _, p := range loads {
		if p.Vaddr < loadAddr+pageSize {
			// Cannot happen given how loadAddr is computed; kept so that a
			// change to the layout rule cannot silently clobber the header.
			return nil, hdr, fmt.Errorf("PT_LOAD segment at %#x overlaps the header page [%#x,%#x)", p.Vaddr, loadAddr, loadAddr+pageSize)
		}
		fileEnd = max(fileEnd, p.Vaddr+p.Filesz)
		bssEnd = max(bssEnd, p.Vaddr+p.Memsz)
	}
	// All segments are below 4 GiB (checked above), so the image is too.

	entryAddr, err := findEntry(f, entry)
	if err != nil {
		return nil, hdr, err
	}
	inText := false
	for _, p := range loads {
		if p.Flags&elf.PF_X != 0 && entryAddr >= p.Vaddr && entryAddr < p.Vaddr+p.Filesz {
			inText = true
			break
		}
	}
	if !inText {
		return nil, hdr, fmt.Errorf("entry symbol %s at %#x is not inside the file data of an executable PT_LOAD segment", entry, entryAddr)
	}

	img := make([]byte, fileEnd-loadAddr)
	for _, p := range loads {
		copy(img[p.Vaddr-loadAddr:], elfBytes[p.Off:p.Off+p.Filesz])
	}

	sum := uint32(multibootMagic + multibootFlags)
	hdr = Header{
		Magic:       multibootMagic,
		Flags:       multibootFlags,
		Checksum:    -sum, // magic + flags + checksum == 0 (mod 2^32)
		HeaderAddr:  uint32(loadAddr),
		LoadAddr:    uint32(loadAddr),
		LoadEndAddr: uint32(fileEnd),
		BSSEndAddr:  uint32(bssEnd),
		EntryAddr:   uint32(entryAddr),
	}
	copy(img, hdr.marshal())
	return img, hdr, nil
}

// findEntry returns the value of the function symbol named name. If there is
// no such symbol, the error lists symbols with similar names, which catches
// the common mistake of forgetting the ".abi0" suffix of assembly symbols.
func findEntry(f *elf.File, name string) (uint64, error) {
	syms, err := f.Symbols()
	if err != nil {
		return 0, fmt.Errorf("reading ELF symbol table (is the binary stripped? do not link with -s): %w", err)
	}
	var found []elf.Symbol
	for _, s := range syms {
		if s.Name == name && s.Section != elf.SHN_UNDEF {
			found = append(found, s)
		}
	}
	switch {
	case len(found) > 1:
		for _, s := range found[1:] {
			if s.Value != found[0].Value {
				return 0, fmt.Errorf("entry symbol %s is defined %d times with different values", name, len(found))
			}
		}
		fallthrough
	case len(found) == 1:
		s := found[0]
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			return 0, fmt.Errorf("entry symbol %s is %v, want STT_FUNC", name, elf.ST_TYPE(s.Info))
		}
		return s.Value, nil
	}

	// Not found: collect near matches.
	base := strings.TrimSuffix(name, abi0Suffix)
	short := base
	if i := strings.LastIndexAny(short, "./"); i >= 0 {
		short = short[i+1:]
	}
	pkg := ""
	if i := strings.LastIndex(base, "."); i > 0 {
		pkg = base[:i+1]
	}
	seen := map[string]bool{}
	var near, samePkg []string
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		sb := strings.TrimSuffix(s.Name, abi0Suffix)
		switch {
		case sb == base || (short != "" && strings.Contains(strings.ToLower(s.Name), strings.ToLower(short))):
			near = append(near, s.Name)
		case pkg != "" && strings.HasPrefix(s.Name, pkg) && strings.HasSuffix(s.Name, abi0Suffix):
			samePkg = append(samePkg, s.Name)
		}
	}
	const maxList = 20
	list := func(names []string) string {
		sort.Strings(names)
		if len(names) > maxList {
			names = append(names[:maxList:maxList], fmt.Sprintf("... (%d more)", len(names)-maxList))
		}
		return strings.Join(names, ", ")
	}
	msg := fmt.Sprintf("entry symbol %q not found in the ELF symbol table", name)
	switch {
	case len(near) > 0:
		msg += "; near matches: " + list(near)
	case len(samePkg) > 0:
		msg += fmt.Sprintf("; %s functions in %s: %s", abi0Suffix, strings.TrimSuffix(pkg, "."), list(samePkg))
	default:
		msg += "; no similar function symbols (the linker drops assembly functions that no Go code references)"
	}
	if !strings.HasSuffix(name, abi0Suffix) {
		msg += " (assembly TEXT symbols carry the " + abi0Suffix + " suffix)"
	}
	return 0, errors.New(msg)
}
