package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
)

// Builders of synthetic kernel files for the tests.

// seg is a PT_LOAD segment of a synthetic ELF file.
type seg struct {
	paddr, vaddr uint64
	data         []byte
	memsz        uint64 // 0: len(data)
}

// elfSpec describes a synthetic x86 ELF executable.
type elfSpec struct {
	class64   bool
	entry     uint64
	segs      []seg
	prefix    []byte // bytes placed right after the program header table (a multiboot header, say)
	machine   elf.Machine
	typ       elf.Type
	extraPhdr []elf.ProgType // non-PT_LOAD entries placed first
}

// buildELF lays out an ELF header, the program header table, the prefix,
// then each segment's bytes.
func buildELF(s elfSpec) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	hdr, ph := uint64(elf32HeaderSize), uint64(elf32PhdrSize)
	if s.class64 {
		hdr, ph = elf64HeaderSize, elf64PhdrSize
	}
	machine, typ := s.machine, s.typ
	if machine == 0 {
		machine = elf.EM_386
		if s.class64 {
			machine = elf.EM_X86_64
		}
	}
	if typ == 0 {
		typ = elf.ET_EXEC
	}
	nph := len(s.extraPhdr) + len(s.segs)
	off := hdr + uint64(nph)*ph + uint64(len(s.prefix))
	offsets := make([]uint64, len(s.segs))
	for i, sg := range s.segs {
		offsets[i] = off
		off += uint64(len(sg.data))
	}
	ident := [16]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS32), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	if s.class64 {
		ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	}
	w(ident)
	w(uint16(typ))
	w(uint16(machine))
	w(uint32(elf.EV_CURRENT))
	if s.class64 {
		w(s.entry)
		w(hdr) // e_phoff
		w(uint64(0))
		w(uint32(0))
		w(uint16(hdr))
		w(uint16(ph))
		w(uint16(nph))
		w([3]uint16{64, 0, 0}) // e_shentsize, e_shnum, e_shstrndx
	} else {
		w(uint32(s.entry))
		w(uint32(hdr))
		w(uint32(0))
		w(uint32(0))
		w(uint16(hdr))
		w(uint16(ph))
		w(uint16(nph))
		w([3]uint16{40, 0, 0})
	}
	for _, t := range s.extraPhdr {
		if s.class64 {
			w(elf.Prog64{Type: uint32(t)})
		} else {
			w(elf.Prog32{Type: uint32(t)})
		}
	}
	for i, sg := range s.segs {
		memsz := sg.memsz
		if memsz == 0 {
			memsz = uint64(len(sg.data))
		}
		if s.class64 {
			w(elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W | elf.PF_X), Off: offsets[i],
				Vaddr: sg.vaddr, Paddr: sg.paddr, Filesz: uint64(len(sg.data)), Memsz: memsz, Align: 0x1000})
		} else {
			w(elf.Prog32{Type: uint32(elf.PT_LOAD), Off: uint32(offsets[i]), Vaddr: uint32(sg.vaddr), Paddr: uint32(sg.paddr),
				Filesz: uint32(len(sg.data)), Memsz: uint32(memsz), Flags: uint32(elf.PF_R | elf.PF_W | elf.PF_X), Align: 0x1000})
		}
	}
	b.Write(s.prefix)
	for _, sg := range s.segs {
		b.Write(sg.data)
	}
	return b.Bytes()
}

// mbHeaderBytes is a multiboot header with flags; with the a.out kludge
// bit, fields holds header_addr, load_addr, load_end_addr, bss_end_addr,
// entry_addr.
func mbHeaderBytes(flags uint32, fields ...uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, mbHeaderMagic)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, -(mbHeaderMagic + flags))
	for _, f := range fields {
		b = binary.LittleEndian.AppendUint32(b, f)
	}
	return b
}

// fill returns n bytes of a pattern seeded by seed (never all zero).
func fill(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) | 1
	}
	return b
}

// aoutKernel is an a.out-kludge multiboot image: 0x40 bytes of padding,
// the header at file offset 0x40, code and data up to textLen, loaded at
// loadAddr (the file's first byte), with bss up to bssEnd.
func aoutKernel(loadAddr uint32, textLen int, bssLen uint32, entryOff uint32) []byte {
	const hdrOff = 0x40
	b := fill(textLen, 0x30)
	end := loadAddr + uint32(textLen)
	h := mbHeaderBytes(mbAOutKludge|mbPageAlign|mbMemInfo, loadAddr+hdrOff, loadAddr, end, end+bssLen, loadAddr+entryOff)
	copy(b[hdrOff:], h)
	return b
}

// bzSpec describes a fake bzImage: a setup area and a protected-mode part.
type bzSpec struct {
	version     uint16
	setupSects  uint8
	loadflags   uint8
	xloadflags  uint16
	relocatable bool
	align       uint32
	pref        uint64
	initSize    uint32
	cmdlineSize uint32
	initrdMax   uint32
	pmLen       int
}

func defaultBz() bzSpec {
	return bzSpec{version: 0x020F, setupSects: 3, loadflags: loadedHigh | canUseHeap, xloadflags: xlfKernel64 | 1<<1,
		relocatable: true, align: 0x200000, pref: 0x1000000, initSize: 0x800000, cmdlineSize: 2047, initrdMax: 0x7FFFFFFF, pmLen: 0x3000}
}

func buildBzImage(s bzSpec) []byte {
	sects := int(s.setupSects)
	if sects == 0 {
		sects = 4
	}
	setup := make([]byte, (sects+1)*512)
	setup[hdrSetupSects] = s.setupSects
	binary.LittleEndian.PutUint16(setup[hdrBootFlag:], bootFlagValue)
	setup[0x200] = 0xEB      // jmp short over the header
	setup[hdrJumpLen] = 0x6A // the header ends at 0x26C (protocol 2.15)
	copy(setup[hdrMagic:], hdrMagicValue)
	binary.LittleEndian.PutUint16(setup[hdrVersion:], s.version)
	setup[hdrLoadflags] = s.loadflags
	binary.LittleEndian.PutUint32(setup[hdrCode32Start:], 0x100000)
	binary.LittleEndian.PutUint32(setup[hdrInitrdAddrMax:], s.initrdMax)
	binary.LittleEndian.PutUint32(setup[hdrKernelAlign:], s.align)
	if s.relocatable {
		setup[hdrRelocatable] = 1
	}
	binary.LittleEndian.PutUint16(setup[hdrXLoadflags:], s.xloadflags)
	binary.LittleEndian.PutUint32(setup[hdrCmdlineSize:], s.cmdlineSize)
	binary.LittleEndian.PutUint64(setup[hdrPrefAddress:], s.pref)
	binary.LittleEndian.PutUint32(setup[hdrInitSize:], s.initSize)
	return append(setup, fill(s.pmLen, 0x55)...)
}

// TestBuildersMakeValidELF checks the ELF builder against debug/elf.
func TestBuildersMakeValidELF(t *testing.T) {
	for _, class64 := range []bool{false, true} {
		b := buildELF(elfSpec{class64: class64, entry: 0x100010, extraPhdr: []elf.ProgType{elf.PT_NOTE},
			segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: fill(0x40, 1), memsz: 0x2000}, {paddr: 0x200000, vaddr: 0xC0200000, data: fill(0x10, 2)}}})
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("class64=%v: debug/elf rejects the builder's file: %v", class64, err)
		}
		if f.Entry != 0x100010 || len(f.Progs) != 3 || f.Progs[1].Paddr != 0x100000 || f.Progs[1].Memsz != 0x2000 || f.Progs[2].Vaddr != 0xC0200000 {
			t.Errorf("class64=%v: debug/elf reads entry %#x, %d program headers %+v", class64, f.Entry, len(f.Progs), f.Progs)
		}
		data, _ := segBytes(f.Progs[2])
		if !bytes.Equal(data, fill(0x10, 2)) {
			t.Errorf("class64=%v: segment 2 bytes differ", class64)
		}
	}
}

func segBytes(p *elf.Prog) ([]byte, error) {
	b := make([]byte, p.Filesz)
	_, err := p.ReadAt(b, 0)
	return b, err
}
