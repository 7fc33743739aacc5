package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const testRAM = 32 << 20

func newRAM() []byte { return make([]byte, testRAM) }

func u32(ram []byte, a uint64) uint32 { return binary.LittleEndian.Uint32(ram[a:]) }
func u64(ram []byte, a uint64) uint64 { return binary.LittleEndian.Uint64(ram[a:]) }

func cstring(ram []byte, a uint64) string {
	n := bytes.IndexByte(ram[a:], 0)
	return string(ram[a : a+uint64(n)])
}

// mbInfo is the multiboot information as a kernel reads it.
type mbInfo struct {
	flags              uint32
	memLower, memUpper uint32
	cmdline, loader    string
	mmap               []memRange
	mods               []mbMod
}

type mbMod struct {
	start, end uint32
	str        string
}

func readMBI(t *testing.T, ram []byte, a uint64) mbInfo {
	t.Helper()
	i := mbInfo{flags: u32(ram, a), memLower: u32(ram, a+4), memUpper: u32(ram, a+8)}
	if i.flags&mbInfoCmdline != 0 {
		i.cmdline = cstring(ram, uint64(u32(ram, a+16)))
	}
	if i.flags&mbInfoLoaderName != 0 {
		i.loader = cstring(ram, uint64(u32(ram, a+64)))
	}
	if i.flags&mbInfoMmap != 0 {
		p, end := uint64(u32(ram, a+48)), uint64(u32(ram, a+48)+u32(ram, a+44))
		for p < end {
			i.mmap = append(i.mmap, memRange{u64(ram, p+4), u64(ram, p+12), u32(ram, p+20)})
			p += uint64(u32(ram, p)) + 4
		}
	}
	if i.flags&mbInfoMods != 0 {
		p := uint64(u32(ram, a+24))
		for n := range uint64(u32(ram, a+20)) {
			e := p + 16*n
			i.mods = append(i.mods, mbMod{u32(ram, e), u32(ram, e+4), cstring(ram, uint64(u32(ram, e+8)))})
		}
	}
	return i
}

func wantErr(t *testing.T, err error, substrs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", substrs)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %v is a %T, want *Error", err, err)
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestMultibootELF32(t *testing.T) {
	text := fill(0x1800, 0x11)
	b := buildELF(elfSpec{entry: 0x100040, prefix: mbHeaderBytes(mbPageAlign | mbMemInfo),
		segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: text}, {paddr: 0x102000, vaddr: 0x102000, data: fill(0x100, 0x22), memsz: 0x3000}}})
	if f, err := Detect(b); f != MultibootELF32 || err != nil {
		t.Fatalf("Detect = %v, %v", f, err)
	}
	modA, modB := fill(5000, 0x33), []byte{}
	ram := newRAM()
	for i := range ram {
		ram[i] = 0xEE // Load must clear it
	}
	e, r, err := Load(ram, Spec{Name: "k.elf", Kernel: b, Cmdline: "k.elf verbose", Modules: []Module{{"a.bin x=1", modA}, {"empty", modB}}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Mode != Protected32 || e.RIP != 0x100040 || e.RAX != mbBootMagic || e.RFLAGS != 2 || e.CR0 != cr0PE|cr0ET|cr0NE || e.EFER != 0 || e.CR4 != 0 {
		t.Errorf("entry %+v", e)
	}
	if e.CS != (Segment{Selector: 0x08, Limit: 0xFFFFFFFF, AR: 0xC09B}) || e.DS != (Segment{Selector: 0x10, Limit: 0xFFFFFFFF, AR: 0xC093}) {
		t.Errorf("segments CS %+v DS %+v", e.CS, e.DS)
	}
	if !bytes.Equal(ram[0x100000:0x101800], text) || !bytes.Equal(ram[0x102000:0x102100], fill(0x100, 0x22)) {
		t.Error("segment bytes not at their physical addresses")
	}
	if !allZero(ram[0x102100:0x105000]) || !allZero(ram[0x101800:0x102000]) || !allZero(ram[0x80000:0x100000]) {
		t.Error("bss, gaps or low memory not cleared")
	}
	i := readMBI(t, ram, e.RBX)
	if i.flags != mbInfoMem|mbInfoCmdline|mbInfoMods|mbInfoMmap|mbInfoLoaderName {
		t.Errorf("flags %#x", i.flags)
	}
	if i.memLower != 639 || i.memUpper != (testRAM-0x100000)>>10 || i.cmdline != "k.elf verbose" || i.loader != "hindsight" {
		t.Errorf("info %+v", i)
	}
	wantMap := []memRange{{0, 0x9FC00, 1}, {0x9FC00, 0x60400, 2}, {0x100000, testRAM - 0x100000, 1}}
	if fmt.Sprint(i.mmap) != fmt.Sprint(wantMap) {
		t.Errorf("memory map %v, want %v", i.mmap, wantMap)
	}
	// Modules follow the kernel's end (0x105000), page-aligned.
	wantMods := []mbMod{{0x105000, 0x105000 + 5000, "a.bin x=1"}, {0x107000, 0x107000, "empty"}}
	if fmt.Sprint(i.mods) != fmt.Sprint(wantMods) {
		t.Fatalf("modules %v, want %v", i.mods, wantMods)
	}
	if !bytes.Equal(ram[0x105000:0x105000+5000], modA) {
		t.Error("module 0 bytes differ")
	}
	var whats []string
	for _, g := range r.Regions {
		whats = append(whats, g.What)
	}
	if got := strings.Join(whats, "; "); got != "GDT; multiboot information; kernel segment 0; kernel segment 1; module 0 (a.bin); module 1 (empty)" {
		t.Errorf("report regions: %s", got)
	}
	if r.Format != MultibootELF32 || len(r.Notes) != 0 || r.Entry != "32-bit protected mode, paging off at 0x100040" {
		t.Errorf("report %+v", r)
	}
	if u64(ram, gdtAddr+8) != descCode32 || u64(ram, gdtAddr+16) != descData || e.GDTBase != gdtAddr || e.GDTLimit != 23 {
		t.Error("GDT")
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// A higher-half ELF64 multiboot kernel: e_entry is virtual and is
// translated through the segment that holds it (GRUB's rule).
func TestMultibootELF64HigherHalf(t *testing.T) {
	b := buildELF(elfSpec{class64: true, entry: 0xFFFFFFFF80100010, prefix: mbHeaderBytes(mbMemInfo | mbVideoMode),
		segs: []seg{{paddr: 0x200000, vaddr: 0xFFFFFFFF80100000, data: fill(0x100, 1)}}})
	ram := newRAM()
	e, r, err := Load(ram, Spec{Kernel: b})
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != MultibootELF64 || e.RIP != 0x200010 || e.Mode != Protected32 {
		t.Errorf("format %v entry %#x mode %v", r.Format, e.RIP, e.Mode)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "video") {
		t.Errorf("notes %q, want one about the video mode", r.Notes)
	}
	if readMBI(t, ram, e.RBX).flags&mbInfoMods != 0 {
		t.Error("modules flag set without modules")
	}
}

func TestMultibootAOut(t *testing.T) {
	b := aoutKernel(0x180000, 0x2345, 0x5000, 0x100)
	if f, err := Detect(b); f != MultibootAOut || err != nil {
		t.Fatalf("Detect = %v, %v", f, err)
	}
	ram := newRAM()
	e, r, err := Load(ram, Spec{Kernel: b, Modules: []Module{{"m", []byte("hello")}}})
	if err != nil {
		t.Fatal(err)
	}
	if e.RIP != 0x180100 || !bytes.Equal(ram[0x180000:0x182345], b) || !allZero(ram[0x182345:0x187345]) {
		t.Errorf("entry %#x or image misplaced", e.RIP)
	}
	// The module follows bss_end (0x187345), page-aligned.
	if m := readMBI(t, ram, e.RBX).mods; len(m) != 1 || m[0].start != 0x188000 || string(ram[0x188000:0x188005]) != "hello" {
		t.Errorf("modules %v", m)
	}
	if r.Regions[2] != (Region{"kernel (a.out kludge)", 0x180000, 0x187345}) {
		t.Errorf("regions %v", r.Regions)
	}
	// load_end_addr 0 loads the whole file; bss_end_addr 0 means no bss.
	h := mbHeaderBytes(mbAOutKludge, 0x300040, 0x300000, 0, 0, 0x300000)
	b2 := fill(0x1000, 9)
	copy(b2[0x40:], h)
	if _, r, err := Load(ram, Spec{Kernel: b2}); err != nil || r.Regions[2] != (Region{"kernel (a.out kludge)", 0x300000, 0x301000}) {
		t.Errorf("load_end_addr 0: %v, %v", r.Regions, err)
	}
}

// The a.out kludge takes precedence over ELF headers (§3.1.3): the image
// hindsight itself ships as is such a file.
func TestAOutKludgeInELF(t *testing.T) {
	elfBytes := buildELF(elfSpec{entry: 0x100000, segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: fill(0x200, 3)}}})
	hdrOff := uint32(len(elfBytes))
	b := append(elfBytes, mbHeaderBytes(mbAOutKludge, 0x400000+hdrOff, 0x400000, 0, 0x410000, 0x400000)...)
	if f, err := Detect(b); f != MultibootAOut || err != nil {
		t.Fatalf("Detect = %v, %v", f, err)
	}
}

func TestLinuxBzImage64(t *testing.T) {
	bz := buildBzImage(defaultBz())
	if f, err := Detect(bz); f != LinuxBzImage || err != nil {
		t.Fatalf("Detect = %v, %v", f, err)
	}
	initrd := fill(0x12345, 0x44)
	ram := newRAM()
	e, r, err := Load(ram, Spec{Kernel: bz, Cmdline: "console=ttyS0 nolapic", Initrd: initrd})
	if err != nil {
		t.Fatal(err)
	}
	if e.Mode != Long64 || e.RIP != 0x100200 || e.RSI != zeroPageAddr || e.CR3 != pml4Addr || e.EFER != eferLME|eferLMA || e.CR4 != cr4PAE {
		t.Errorf("entry %+v", e)
	}
	if e.CS.Selector != 0x10 || e.CS.AR != 0xA09B || e.DS.Selector != 0x18 || e.DS.AR != 0xC093 {
		t.Errorf("segments %+v %+v", e.CS, e.DS)
	}
	if u64(ram, gdtAddr+0x10) != descCode64 || u64(ram, gdtAddr+0x18) != descData || e.GDTLimit != 31 {
		t.Error("GDT")
	}
	zp := ram[zeroPageAddr:]
	// The setup header is the file's, except the fields the loader owns.
	if !bytes.Equal(zp[hdrMagic:hdrMagic+4], []byte("HdrS")) || binary.LittleEndian.Uint16(zp[hdrVersion:]) != 0x020F {
		t.Error("setup header not copied")
	}
	if zp[hdrTypeOfLoader] != 0xFF || zp[hdrLoadflags] != loadedHigh || binary.LittleEndian.Uint16(zp[bpVidMode:]) != 0xFFFF {
		t.Errorf("type_of_loader %#x loadflags %#x", zp[hdrTypeOfLoader], zp[hdrLoadflags])
	}
	if cstring(ram, uint64(u32(zp, hdrCmdLinePtr))) != "console=ttyS0 nolapic" {
		t.Error("command line")
	}
	// The initrd goes at the top of RAM, page-aligned.
	at := uint64(u32(zp, hdrRamdiskImage))
	if at != (testRAM-0x12345)&^0xFFF || u32(zp, hdrRamdiskSize) != 0x12345 || !bytes.Equal(ram[at:at+0x12345], initrd) {
		t.Errorf("initrd at %#x size %#x", at, u32(zp, hdrRamdiskSize))
	}
	if !bytes.Equal(ram[0x100000:0x103000], bz[len(bz)-0x3000:]) {
		t.Error("protected-mode code not at 0x100000")
	}
	e820 := []memRange{}
	for i := range uint64(zp[bpE820Entries]) {
		p := bpE820Table + 20*i
		e820 = append(e820, memRange{u64(zp, p), u64(zp, p+8), u32(zp, p+16)})
	}
	if fmt.Sprint(e820) != fmt.Sprint([]memRange{{0, 0x9FC00, 1}, {0x9FC00, 0x60400, 2}, {0x100000, testRAM - 0x100000, 1}}) {
		t.Errorf("e820 %v", e820)
	}
	// Identity map of 4 GiB with 2 MiB pages.
	if u64(ram, pml4Addr) != pdptAddr|3 || u64(ram, pdptAddr+24) != pdAddr+3*0x1000|3 || u64(ram, pdAddr+3*0x1000+8*511) != (3<<30|511<<21)|0x83 {
		t.Error("page tables")
	}
	found := false
	for _, g := range r.Regions {
		if g.What == "kernel working area (init_size from 0x1000000)" && g.Start == 0x1000000 && g.End == 0x1800000 {
			found = true
		}
	}
	if !found {
		t.Errorf("no working area in %v", r.Regions)
	}
}

func TestLinuxBzImage32(t *testing.T) {
	s := defaultBz()
	s.xloadflags = 0
	s.relocatable = false
	s.pref = 0x400000
	ram := newRAM()
	e, _, err := Load(ram, Spec{Kernel: buildBzImage(s)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Mode != Protected32 || e.RIP != 0x100000 || e.RSI != zeroPageAddr || e.CS.Selector != 0x10 || e.CS.AR != 0xC09B || e.DS.Selector != 0x18 || e.CR3 != 0 {
		t.Errorf("entry %+v", e)
	}
	if u64(ram, gdtAddr+0x10) != descCode32 || u32(ram, pml4Addr) != 0 {
		t.Error("GDT or stray page tables")
	}
}

func TestLinuxVmlinux(t *testing.T) {
	// A 6.1 x86-64 vmlinux: text linked at 0xffffffff81000000, loaded at
	// 0x1000000, e_entry the physical startup_64; a per-CPU segment at
	// virtual 0.
	b := buildELF(elfSpec{class64: true, entry: 0x1000000, extraPhdr: []elf.ProgType{elf.PT_NOTE},
		segs: []seg{
			{paddr: 0x1000000, vaddr: 0xFFFFFFFF81000000, data: fill(0x3000, 5)},
			{paddr: 0x1400000, vaddr: 0, data: fill(0x100, 6), memsz: 0x1000},
			{paddr: 0x1600000, vaddr: 0xFFFFFFFF81600000, data: fill(0x100, 7), memsz: 0x200000},
		}})
	if f, err := Detect(b); f != LinuxVmlinux || err != nil {
		t.Fatalf("Detect = %v, %v", f, err)
	}
	ram := newRAM()
	e, _, err := Load(ram, Spec{Kernel: b, Cmdline: "quiet", Initrd: []byte("cpio")})
	if err != nil {
		t.Fatal(err)
	}
	if e.Mode != Long64 || e.RIP != 0x1000000 || e.RSI != zeroPageAddr {
		t.Errorf("entry %+v", e)
	}
	zp := ram[zeroPageAddr:]
	if binary.LittleEndian.Uint16(zp[hdrBootFlag:]) != 0xAA55 || string(zp[hdrMagic:hdrMagic+4]) != "HdrS" || zp[hdrTypeOfLoader] != 0xFF ||
		zp[hdrLoadflags] != loadedHigh || u32(zp, hdrRamdiskSize) != 4 || cstring(ram, uint64(u32(zp, hdrCmdLinePtr))) != "quiet" {
		t.Error("synthesized zero page")
	}
	if !bytes.Equal(ram[0x1400000:0x1400100], fill(0x100, 6)) {
		t.Error("per-CPU segment not at its physical address")
	}
}

// Flat64 must write exactly what hv's loader wrote for the test guest
// (guest/testguest's contract), so the test guest runs unchanged.
func TestFlat64Contract(t *testing.T) {
	img := fill(0x2345, 0x77)
	ram := newRAM()
	e, _, err := Load(ram, Spec{Format: Flat64, Kernel: img, Args: [2]uint64{2, 500000}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, testRAM) // hv/loader.go's loadImage, as it was
	binary.LittleEndian.PutUint64(want[0x1000:], 0x2000|3)
	binary.LittleEndian.PutUint64(want[0x2000:], 0x3000|3)
	for i := uint64(0); i < 512; i++ {
		binary.LittleEndian.PutUint64(want[0x3000+8*i:], i<<21|0x83)
	}
	binary.LittleEndian.PutUint64(want[0x508:], 0x00AF9A000000FFFF)
	binary.LittleEndian.PutUint64(want[0x510:], 0x00CF92000000FFFF)
	copy(want[0x100000:], img)
	if !bytes.Equal(ram, want) {
		t.Error("guest RAM differs from hv's flat loader")
	}
	wantE := Entry{Mode: Long64, RIP: 0x100000, RSP: 0x80000, RFLAGS: 2, RDI: 2, RSI: 500000,
		CR0: 0x80000031, CR3: 0x1000, CR4: 0x20, EFER: 0x500, GDTBase: 0x500, GDTLimit: 23,
		CS: Segment{0x08, 0, 0xFFFFFFFF, 0xA09B}, DS: Segment{0x10, 0, 0xFFFFFFFF, 0xC093}}
	if e != wantE {
		t.Errorf("entry\n%+v, want\n%+v", e, wantE)
	}
}

// Two loads of the same spec into differently dirty RAM give identical
// bytes (replicas start bit-identical).
func TestLoadIsDeterministic(t *testing.T) {
	spec := Spec{Kernel: buildBzImage(defaultBz()), Cmdline: "x", Initrd: fill(100, 1)}
	a, b := newRAM(), newRAM()
	for i := range b {
		b[i] = byte(i)
	}
	ea, _, err1 := Load(a, spec)
	eb, _, err2 := Load(b, spec)
	if err1 != nil || err2 != nil || ea != eb || !bytes.Equal(a, b) {
		t.Errorf("loads differ (errors %v, %v)", err1, err2)
	}
}

func TestErrors(t *testing.T) {
	mbELF := func(mod func(*elfSpec)) []byte {
		s := elfSpec{entry: 0x100000, prefix: mbHeaderBytes(mbMemInfo), segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: fill(0x100, 1)}}}
		mod(&s)
		return buildELF(s)
	}
	vmlinux := func(mod func(*elfSpec)) []byte {
		s := elfSpec{class64: true, entry: 0x1000000, segs: []seg{{paddr: 0x1000000, vaddr: 0xFFFFFFFF81000000, data: fill(0x100, 1)}}}
		mod(&s)
		return buildELF(s)
	}
	bz := func(mod func(*bzSpec)) []byte {
		s := defaultBz()
		mod(&s)
		return buildBzImage(s)
	}
	good := mbELF(func(*elfSpec) {})
	tests := []struct {
		name string
		spec Spec
		ram  int
		want []string
	}{
		{"empty file", Spec{Kernel: nil}, 0, []string{"empty"}},
		{"unknown format", Spec{Kernel: []byte("just some text, not a kernel")}, 0, []string{"unknown kernel format", "first bytes 6a 75 73 74"}},
		{"gzip", Spec{Kernel: []byte{0x1f, 0x8b, 8, 0}}, 0, []string{"gzip", "initrd="}},
		{"cpio", Spec{Kernel: []byte("070701000000")}, 0, []string{"cpio"}},
		{"truncated ELF header", Spec{Kernel: good[:30]}, 0, []string{"truncated ELF", "ELF header"}},
		{"truncated segment", Spec{Kernel: good[:len(good)-10]}, 0, []string{"truncated ELF", "segment 0"}},
		{"truncated program headers", Spec{Kernel: vmlinux(func(*elfSpec) {})[:80]}, 0, []string{"program header table"}},
		{"ELF for ARM", Spec{Kernel: vmlinux(func(s *elfSpec) { s.machine = 183 })}, 0, []string{"EM_AARCH64", "want EM_X86_64"}},
		{"shared object", Spec{Kernel: vmlinux(func(s *elfSpec) { s.typ = 3 })}, 0, []string{"ET_DYN"}},
		{"no PT_LOAD", Spec{Kernel: vmlinux(func(s *elfSpec) { s.segs = nil; s.extraPhdr = []elf.ProgType{elf.PT_NOTE} })}, 0, []string{"PT_LOAD"}},
		{"ELF32 without multiboot header", Spec{Kernel: mbELF(func(s *elfSpec) { s.prefix = nil })}, 0, []string{"ELF32", "multiboot header"}},
		{"bad checksum", Spec{Kernel: append(mbHeaderBytes(0)[:8], 0, 0, 0, 0)}, 0, []string{"bad checksum"}},
		{"unknown required flag", Spec{Kernel: mbELF(func(s *elfSpec) { s.prefix = mbHeaderBytes(1 << 5) })}, 0, []string{"0x20", "required bits 0-15"}},
		{"multiboot non-ELF without kludge", Spec{Kernel: append(make([]byte, 64), mbHeaderBytes(0)...)}, 0, []string{"bit 16"}},
		{"kernel larger than RAM", Spec{Kernel: mbELF(func(s *elfSpec) { s.segs[0].memsz = 40 << 20 })}, 0, []string{"does not fit", "32 MiB of guest RAM"}},
		{"overlapping segments", Spec{Kernel: mbELF(func(s *elfSpec) {
			s.segs = append(s.segs, seg{paddr: 0x100080, vaddr: 0x200000, data: fill(0x100, 2)})
		})}, 0, []string{"segments 0", "overlap"}},
		{"entry outside the image", Spec{Kernel: mbELF(func(s *elfSpec) { s.entry = 0x500000 })}, 0, []string{"entry point 0x500000", "outside"}},
		{"segment below 1 MiB", Spec{Kernel: mbELF(func(s *elfSpec) { s.segs[0].paddr, s.entry = 0x8000, 0x8000 })}, 0, []string{"below 1 MiB"}},
		{"ELF64 multiboot above 4 GiB", Spec{Kernel: mbELF(func(s *elfSpec) { s.class64 = true; s.segs[0].paddr = 0x100000000 })}, 0, []string{"above 4 GiB"}},
		{"a.out entry outside", Spec{Kernel: func() []byte {
			b := aoutKernel(0x100000, 0x1000, 0, 0x100)
			le.PutUint32(b[0x40+28:], 0x200000)
			return b
		}()}, 0, []string{"entry_addr 0x200000", "outside"}},
		{"a.out load_end past the file", Spec{Kernel: func() []byte {
			b := aoutKernel(0x100000, 0x1000, 0, 0x100)
			le.PutUint32(b[0x40+20:], 0x102000)
			return b
		}()}, 0, []string{"truncated a.out"}},
		{"a.out header before the file", Spec{Kernel: func() []byte {
			b := aoutKernel(0x100000, 0x1000, 0, 0x100)
			le.PutUint32(b[0x40+12:], 0x100080)
			return b
		}()}, 0, []string{"before the file"}},
		{"a.out bss below load end", Spec{Kernel: func() []byte {
			b := aoutKernel(0x100000, 0x1000, 0, 0x100)
			le.PutUint32(b[0x40+24:], 0x100800)
			return b
		}()}, 0, []string{"bss_end_addr"}},
		{"modules too big", Spec{Kernel: good, Modules: []Module{{"big", make([]byte, 33<<20)}}}, 0, []string{"module 0 (big)", "does not fit"}},
		{"old boot protocol", Spec{Kernel: bz(func(s *bzSpec) { s.version = 0x0204 })}, 0, []string{"2.04", "2.10"}},
		{"zImage", Spec{Kernel: bz(func(s *bzSpec) { s.loadflags = 0 })}, 0, []string{"zImage"}},
		{"truncated bzImage", Spec{Kernel: bz(func(*bzSpec) {})[:0x300]}, 0, []string{"truncated bzImage"}},
		{"bzImage working area beyond RAM", Spec{Kernel: bz(func(s *bzSpec) { s.initSize = 0x2000000 })}, 0, []string{"decompress", "init_size"}},
		{"initrd too big", Spec{Kernel: bz(func(*bzSpec) {}), Initrd: make([]byte, 20<<20)}, 0, []string{"initrd", "does not fit"}},
		{"command line too long", Spec{Kernel: bz(func(s *bzSpec) { s.cmdlineSize = 10 }), Cmdline: "console=ttyS0"}, 0, []string{"13 bytes", "at most 10"}},
		{"bad alignment", Spec{Kernel: bz(func(s *bzSpec) { s.align = 0x3000 })}, 0, []string{"kernel_alignment 0x3000"}},
		{"vmlinux entry outside", Spec{Kernel: vmlinux(func(s *elfSpec) { s.entry = 0x2000000 })}, 0, []string{"entry point"}},
		{"initrd with multiboot", Spec{Kernel: good, Initrd: []byte{1}}, 0, []string{"multiboot ELF32 cannot take an initrd"}},
		{"modules with Linux", Spec{Kernel: bz(func(*bzSpec) {}), Modules: []Module{{"a", nil}}}, 0, []string{"Linux bzImage cannot take modules"}},
		{"args with Linux", Spec{Kernel: bz(func(*bzSpec) {}), Args: [2]uint64{1, 0}}, 0, []string{"RDI/RSI"}},
		{"command line with flat", Spec{Format: Flat64, Kernel: []byte{0x90}, Cmdline: "x"}, 0, []string{"flat format has none"}},
		{"format named wrongly", Spec{Format: LinuxVmlinux, Kernel: good}, 0, []string{"named as a Linux vmlinux", "multiboot ELF32"}},
		{"flat image past 1 GiB", Spec{Format: Flat64, Kernel: make([]byte, 1<<30)}, 0, []string{"identity-mapped"}},
		{"RAM too small", Spec{Kernel: good}, 1 << 20, []string{"at least 2 MiB"}},
		{"NUL in the command line", Spec{Kernel: good, Cmdline: "a\x00b"}, 0, []string{"NUL"}},
		{"strings too long", Spec{Kernel: good, Cmdline: strings.Repeat("x", 0x70000)}, 0, []string{"multiboot information"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.ram
			if n == 0 {
				n = testRAM
			}
			tc.spec.Name = "kernel.bin"
			_, _, err := Load(make([]byte, n), tc.spec)
			wantErr(t, err, append(tc.want, "image: kernel.bin: ")...)
		})
	}
}

func TestFormatStrings(t *testing.T) {
	for f := Unknown; f <= LinuxVmlinux; f++ {
		if s := f.String(); s == "" || strings.HasPrefix(s, "Format(") {
			t.Errorf("format %d has no name", f)
		}
	}
	if Format(99).String() != "Format(99)" || Mode(9).String() != "Mode(9)" {
		t.Error("names of unknown values")
	}
	if !MultibootAOut.Multiboot() || LinuxBzImage.Multiboot() || !LinuxVmlinux.Linux() || Flat64.Linux() {
		t.Error("format classes")
	}
}
