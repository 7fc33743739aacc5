package image

import "fmt"

// Linux x86 boot protocol (Documentation/arch/x86/boot.rst): the setup
// header of a bzImage, the zero page (struct boot_params,
// Documentation/arch/x86/zero-page.rst) and the 32- and 64-bit entries.

// Setup header and boot_params offsets (the setup header lies at 0x1F1 in
// both the file and the zero page).
const (
	hdrSetupSects     = 0x1F1 // u8; 0 means 4
	hdrBootFlag       = 0x1FE // u16 0xAA55
	hdrJumpLen        = 0x201 // the setup header ends at 0x202 + this byte
	hdrMagic          = 0x202 // "HdrS"
	hdrVersion        = 0x206 // u16
	hdrTypeOfLoader   = 0x210 // u8
	hdrLoadflags      = 0x211 // u8
	hdrCode32Start    = 0x214 // u32
	hdrRamdiskImage   = 0x218 // u32
	hdrRamdiskSize    = 0x21C // u32
	hdrCmdLinePtr     = 0x228 // u32
	hdrInitrdAddrMax  = 0x22C // u32
	hdrKernelAlign    = 0x230 // u32
	hdrRelocatable    = 0x234 // u8
	hdrXLoadflags     = 0x236 // u16
	hdrCmdlineSize    = 0x238 // u32
	hdrPrefAddress    = 0x258 // u64
	hdrInitSize       = 0x260 // u32
	hdrEnd210         = 0x264 // end of the fields of protocol 2.10
	bpE820Entries     = 0x1E8 // u8
	bpVidMode         = 0x1FA // u16
	bpE820Table       = 0x2D0 // 20-byte entries: addr u64, size u64, type u32
	bootFlagValue     = 0xAA55
	hdrMagicValue     = "HdrS"
	minVersion        = 0x020A // 2.10: pref_address, init_size
	synthVersion      = 0x020F // the version of a synthesized header (vmlinux)
	vidModeNormal     = 0xFFFF // "normal" VGA mode
	typeOfLoaderOther = 0xFF   // undefined loader ID; 0 would make the kernel ignore the initrd

	loadedHigh  = 1 << 0 // loadflags LOADED_HIGH: protected-mode code at 0x100000
	canUseHeap  = 1 << 7 // loadflags CAN_USE_HEAP: heap_end_ptr valid (real-mode setup only)
	xlfKernel64 = 1 << 0 // xloadflags XLF_KERNEL_64: 64-bit entry at +0x200

	bzLoadAddr       = 0x100000 // where the protected-mode code goes (code32_start's default)
	entry64Offset    = 0x200    // startup_64 relative to startup_32
	defaultInitrdMax = 0x37FFFFFF
	vmlinuxInitrdMax = 0x7FFFFFFF
	vmlinuxCmdline   = 2047 // x86 COMMAND_LINE_SIZE - 1

	// GDT selectors the protocol asks for: __BOOT_CS and __BOOT_DS.
	linuxSelCode = 0x10
	linuxSelData = 0x18
)

func isBzImage(b []byte) bool {
	return len(b) >= hdrMagic+4 && le.Uint16(b[hdrBootFlag:]) == bootFlagValue && string(b[hdrMagic:hdrMagic+4]) == hdrMagicValue
}

// linux is a parsed Linux kernel.
type linux struct {
	kind  Format
	setup []byte // bzImage: the setup header, [0x1F1, end) of the file
	pm    []byte // bzImage: the protected-mode code, loaded at bzLoadAddr
	elf   *elfFile
	b     []byte

	entry64    bool   // entered at the 64-bit entry
	entry      uint64 // physical entry point
	runStart   uint64 // the kernel's working area [runStart, runStart+initSize)
	initSize   uint64
	initrdMax  uint64
	cmdlineMax uint64
	loadflags  uint8
	version    uint16
}

func (k *linux) format() Format { return k.kind }

func parseBzImage(b []byte) (*linux, error) {
	if len(b) < hdrEnd210 {
		return nil, errorf("truncated bzImage: %d bytes, shorter than its setup header", len(b))
	}
	k := &linux{kind: LinuxBzImage, b: b, version: le.Uint16(b[hdrVersion:])}
	if k.version < minVersion {
		return nil, errorf("Linux boot protocol %d.%02d: hindsight needs 2.10 or later (kernel 2.6.31 and newer)", k.version>>8, k.version&0xFF)
	}
	k.loadflags = b[hdrLoadflags]
	if k.loadflags&loadedHigh == 0 {
		return nil, errorf("a zImage (loadflags LOADED_HIGH clear: protected-mode code at 0x10000): only bzImages are supported")
	}
	sects := uint64(b[hdrSetupSects])
	if sects == 0 {
		sects = 4
	}
	setupLen := (sects + 1) * 512
	hdrEnd := uint64(0x202) + uint64(b[hdrJumpLen])
	if hdrEnd < hdrEnd210 || hdrEnd > setupLen || hdrEnd > bpE820Table {
		return nil, errorf("bzImage setup header ends at %#x (0x202 + the byte at 0x201): want between %#x and %#x", hdrEnd, hdrEnd210, min(setupLen, bpE820Table))
	}
	if uint64(len(b)) <= setupLen {
		return nil, errorf("truncated bzImage: %d bytes, but the setup code alone (setup_sects %d) takes %d", len(b), sects, setupLen)
	}
	k.setup = b[hdrSetupSects:hdrEnd]
	k.pm = b[setupLen:]
	k.initSize = uint64(le.Uint32(b[hdrInitSize:]))
	if k.initSize == 0 {
		return nil, errorf("bzImage init_size is 0")
	}
	pref := le.Uint64(b[hdrPrefAddress:])
	align := uint64(le.Uint32(b[hdrKernelAlign:]))
	// Where the decompressor runs and puts the kernel (arch/x86/boot/
	// compressed/head_64.S, head_32.S): a relocatable kernel at its load
	// address rounded up to kernel_alignment, but not below
	// LOAD_PHYSICAL_ADDR (= pref_address); any other at pref_address.
	k.runStart = pref
	if b[hdrRelocatable] != 0 {
		if align == 0 || align&(align-1) != 0 {
			return nil, errorf("relocatable bzImage with kernel_alignment %#x: want a power of two", align)
		}
		k.runStart = max(pref, (bzLoadAddr+align-1)&^(align-1))
	}
	if k.runStart < kernelMin || k.runStart+k.initSize < k.runStart {
		return nil, errorf("bzImage pref_address %#x with init_size %#x: the kernel must run at 1 MiB or above", pref, k.initSize)
	}
	k.entry = bzLoadAddr
	if le.Uint16(b[hdrXLoadflags:])&xlfKernel64 != 0 {
		k.entry64, k.entry = true, bzLoadAddr+entry64Offset
	}
	k.initrdMax = uint64(le.Uint32(b[hdrInitrdAddrMax:]))
	if k.initrdMax == 0 {
		k.initrdMax = defaultInitrdMax
	}
	k.cmdlineMax = uint64(le.Uint32(b[hdrCmdlineSize:]))
	return k, nil
}

func parseVmlinux(b []byte, e *elfFile) (*linux, error) {
	k := &linux{kind: LinuxVmlinux, b: b, elf: e, entry64: true, initrdMax: vmlinuxInitrdMax, cmdlineMax: vmlinuxCmdline, version: synthVersion, loadflags: loadedHigh}
	var err error
	if k.entry, err = e.physEntry(false); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *linux) load(m *mem, s *Spec) (Entry, error) {
	var kernelEnd uint64
	if k.elf != nil {
		var err error
		if kernelEnd, err = k.elf.put(m, k.b, "kernel segment"); err != nil {
			return Entry{}, err
		}
	} else {
		if err := m.put("kernel (protected-mode code)", bzLoadAddr, k.pm, uint64(len(k.pm))); err != nil {
			return Entry{}, err
		}
		kernelEnd = bzLoadAddr + uint64(len(k.pm))
		// The working area may start inside the loaded code (the
		// decompressor moves itself), so it is checked, not claimed.
		runEnd := k.runStart + k.initSize
		if runEnd > m.size() {
			return Entry{}, errorf("the kernel needs [%#x, %#x) to decompress and run (pref_address, init_size %s), beyond the %s of guest RAM: give the guest more memory", k.runStart, runEnd, size(k.initSize), size(m.size()))
		}
		if runEnd > kernelEnd {
			m.regions = append(m.regions, Region{fmt.Sprintf("kernel working area (init_size from %#x)", k.runStart), max(k.runStart, kernelEnd), runEnd})
		}
		kernelEnd = max(kernelEnd, runEnd)
	}

	zp := m.ram[zeroPageAddr : zeroPageAddr+pageSize]
	if err := m.claim("zero page (boot_params)", zeroPageAddr, pageSize); err != nil {
		return Entry{}, err
	}
	if k.setup != nil {
		copy(zp[hdrSetupSects:], k.setup)
	} else {
		le.PutUint16(zp[hdrBootFlag:], bootFlagValue)
		copy(zp[hdrMagic:], hdrMagicValue)
		le.PutUint16(zp[hdrVersion:], synthVersion)
		le.PutUint32(zp[hdrCmdlineSize:], vmlinuxCmdline)
		le.PutUint32(zp[hdrInitrdAddrMax:], vmlinuxInitrdMax)
	}
	le.PutUint16(zp[bpVidMode:], vidModeNormal)
	zp[hdrTypeOfLoader] = typeOfLoaderOther
	// No real-mode setup code runs, so there is no heap to offer.
	zp[hdrLoadflags] = (k.loadflags | loadedHigh) &^ canUseHeap
	if k.setup != nil {
		le.PutUint32(zp[hdrCode32Start:], bzLoadAddr)
	}

	if uint64(len(s.Cmdline)) > k.cmdlineMax {
		return Entry{}, errorf("the command line is %d bytes; the kernel takes at most %d (cmdline_size)", len(s.Cmdline), k.cmdlineMax)
	}
	for i := 0; i < len(s.Cmdline); i++ {
		if s.Cmdline[i] == 0 {
			return Entry{}, errorf("the command line holds a NUL byte at %d", i)
		}
	}
	if err := m.put("command line", cmdlineAddr, []byte(s.Cmdline), uint64(len(s.Cmdline))+1); err != nil {
		return Entry{}, err
	}
	le.PutUint32(zp[hdrCmdLinePtr:], cmdlineAddr)

	if s.Initrd != nil {
		n := uint64(len(s.Initrd))
		top := min(m.size(), k.initrdMax+1)
		if n > top || (top-n)&^(pageSize-1) < kernelEnd {
			return Entry{}, errorf("the initrd (%s) does not fit between the kernel's end %#x and %#x (the end of guest RAM or the kernel's initrd_addr_max): give the guest more memory", size(n), kernelEnd, top)
		}
		at := (top - n) &^ (pageSize - 1)
		if err := m.put("initrd", at, s.Initrd, n); err != nil {
			return Entry{}, err
		}
		le.PutUint32(zp[hdrRamdiskImage:], uint32(at))
		le.PutUint32(zp[hdrRamdiskSize:], uint32(n))
	}

	mm := memoryMap(m.size())
	zp[bpE820Entries] = uint8(len(mm))
	for i, r := range mm {
		e := zp[bpE820Table+20*i:]
		le.PutUint64(e, r.base)
		le.PutUint64(e[8:], r.length)
		le.PutUint32(e[16:], r.typ)
	}

	if !k.entry64 {
		gdt, limit, err := m.putGDT(0, descCode32, descData)
		if err != nil {
			return Entry{}, err
		}
		// 32-bit boot protocol: ESI = zero page; EBP, EDI, EBX zero.
		e := protected32Entry(k.entry, gdt, limit, linuxSelCode, linuxSelData)
		e.RSI = zeroPageAddr
		return e, nil
	}
	gdt, limit, err := m.putGDT(0, descCode64, descData)
	if err != nil {
		return Entry{}, err
	}
	if err := m.putIdentityMap(4); err != nil {
		return Entry{}, err
	}
	e := long64Entry(k.entry, gdt, limit, linuxSelCode, linuxSelData)
	e.RSI = zeroPageAddr
	return e, nil
}
