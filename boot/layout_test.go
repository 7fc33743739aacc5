package boot

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"hindsight/tools/imagetest"
)

// The assembly reaches these structures by fixed offsets.
func TestFrameLayout(t *testing.T) {
	var f frame
	var c cpu
	for _, x := range []struct {
		name      string
		got, want uintptr
	}{
		{"frame.rax", unsafe.Offsetof(f.rax), fRAX},
		{"frame.vector", unsafe.Offsetof(f.vector), fVector},
		{"frame.errcode", unsafe.Offsetof(f.errcode), fErr},
		{"frame.rip", unsafe.Offsetof(f.rip), fRIP},
		{"frame.rflags", unsafe.Offsetof(f.rflags), fRFLAGS},
		{"frame.rsp", unsafe.Offsetof(f.rsp), fRSP},
		{"frame.fsbase", unsafe.Offsetof(f.fsbase), fFSBase},
		{"frame.fxptr", unsafe.Offsetof(f.fxptr), fFXPtr},
		{"frame.r15", unsafe.Offsetof(f.r15), 112},
		{"cpu.self", unsafe.Offsetof(c.self), cpuSelf},
		{"cpu.cur", unsafe.Offsetof(c.cur), cpuCur},
		{"cpu.kstack", unsafe.Offsetof(c.kstack), cpuKStack},
		{"cpu.ktls", unsafe.Offsetof(c.ktls), cpuKTLS},
		{"cpu.inKernel", unsafe.Offsetof(c.inKernel), cpuInKernel},
		{"cpu.gslot", unsafe.Offsetof(c.gslot), cpuGSlot},
		{"cpu.tlsEnd", unsafe.Offsetof(c.tlsEnd), cpuTLSEnd},
		{"cpu.fakeg", unsafe.Offsetof(c.fakeg), 64},
		{"sizeof tss", unsafe.Sizeof(c.tss), 104},
	} {
		if x.got != x.want {
			t.Errorf("%s at %d, assembly expects %d", x.name, x.got, x.want)
		}
	}
}

func TestTSSIST(t *testing.T) {
	var s tss
	s.setIST(2, 0x1122334455667788)
	b := (*[104]byte)(unsafe.Pointer(&s))
	// IST2 occupies bytes 44-51 (SDM Vol. 3A Figure 8-11).
	if got := *(*uint64)(unsafe.Pointer(&b[44])); got != 0x1122334455667788 {
		t.Fatalf("IST2 = %#x", got)
	}
}

func resetVM() { vm.n = 0 }

func vmaList() [][3]uint64 {
	var l [][3]uint64
	for i := 0; i < vm.n; i++ {
		a := vm.areas[i]
		l = append(l, [3]uint64{a.start, a.end, uint64(a.prot)})
	}
	return l
}

func TestVMAInsertRemove(t *testing.T) {
	resetVM()
	defer resetVM()
	const P = protRead | protWrite
	vmaInsert(0x10000, 0x20000, P)
	vmaInsert(0x30000, 0x40000, P)
	vmaInsert(0x20000, 0x30000, P) // merges all three
	if l := vmaList(); len(l) != 1 || l[0] != [3]uint64{0x10000, 0x40000, P} {
		t.Fatalf("merge: %x", l)
	}
	vmaRemove(0x18000, 0x20000) // split
	if l := vmaList(); len(l) != 2 || l[0][1] != 0x18000 || l[1][0] != 0x20000 {
		t.Fatalf("split: %x", l)
	}
	if vmaFind(0x18000) != -1 || vmaFind(0x17fff) != 0 || vmaFind(0x20000) != 1 {
		t.Fatal("find")
	}
	if !vmaOverlaps(0x17000, 0x19000) || vmaOverlaps(0x18000, 0x20000) {
		t.Fatal("overlaps")
	}
	vmaRemove(0, 1<<40)
	if vm.n != 0 {
		t.Fatalf("remove all left %x", vmaList())
	}
	// Protection change in the middle of a region: three pieces.
	vmaInsert(0x10000, 0x40000, 0)
	vmaRemove(0x20000, 0x30000)
	vmaInsert(0x20000, 0x30000, P)
	if l := vmaList(); len(l) != 3 || l[1] != [3]uint64{0x20000, 0x30000, P} {
		t.Fatalf("mprotect: %x", l)
	}
}

func TestVMATableFull(t *testing.T) {
	resetVM()
	defer resetVM()
	for i := uint64(0); i < maxVMAs; i++ {
		if !vmaInsert(i*0x2000, i*0x2000+0x1000, protRead) {
			t.Fatalf("insert %d failed early", i)
		}
	}
	if vmaInsert(1<<40, 1<<40+0x1000, protRead) {
		t.Fatal("insert into a full table succeeded")
	}
	if vmaRemove(0x100, 0x200) {
		t.Fatal("split in a full table succeeded")
	}
}

func setCmdline(s string) {
	bootInfo.cmdlen = copy(bootInfo.cmdline[:], s)
}

func TestCmdline(t *testing.T) {
	defer setCmdline("")
	setCmdline("selftest guestmem=64M trace=syscalls")
	if !cmdlineHas("selftest") || !cmdlineHas("trace=syscalls") || cmdlineHas("self") || cmdlineHas("guestmem") {
		t.Fatal("cmdlineHas")
	}
	if v := string(cmdlineValue("guestmem")); v != "64M" {
		t.Fatalf("guestmem = %q", v)
	}
	if cmdlineValue("trace=") != nil || cmdlineValue("missing") != nil {
		t.Fatal("cmdlineValue of absent key")
	}
	for in, want := range map[string]uint64{"64M": 64 << 20, "1G": 1 << 30, "4096": 4096, "8k": 8 << 10} {
		if got, ok := parseSize([]byte(in)); !ok || got != want {
			t.Errorf("parseSize(%q) = %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "M", "64MB", "-1", "0x10"} {
		if _, ok := parseSize([]byte(in)); ok {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestUnixDays(t *testing.T) {
	for _, c := range []struct{ y, m, d, want int64 }{
		{1970, 1, 1, 0}, {2000, 1, 1, 10957}, {2023, 11, 14, 19675}, {2024, 2, 29, 19782},
	} {
		if got := unixDays(c.y, c.m, c.d); got != c.want {
			t.Errorf("%d-%d-%d: %d, want %d", c.y, c.m, c.d, got, c.want)
		}
	}
}

func TestPhysRanges(t *testing.T) {
	saved := phys
	defer func() { phys = saved }()
	phys.nfree = 0
	physAddRange(0, 64<<20, []memRange{{0, 1 << 20}, {0x3FF000, 0x900000}})
	if phys.nfree != 2 || phys.free[0] != (memRange{1 << 20, 0x3FF000}) || phys.free[1] != (memRange{0x900000, 64 << 20}) {
		t.Fatalf("ranges %v", phys.free[:phys.nfree])
	}
	base, ok := physReserveTop(16<<20, hugeSize)
	if !ok || base != 48<<20 || phys.free[1].end != 48<<20 {
		t.Fatalf("reserve: %#x %v %v", base, ok, phys.free[:phys.nfree])
	}
	if _, ok := physReserveTop(64<<20, hugeSize); ok {
		t.Fatal("reserved more than exists")
	}
}

// TestEntryDecodes32 disassembles multibootEntry as i386 code: it runs in
// 32-bit mode, where a REX prefix (0x40-0x4F) would decode as INC/DEC.
func TestEntryDecodes32(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("objdump (binutils) not installed")
	}
	elf := imagetest.Build(t, "..")
	out, err := exec.Command("objdump", "-d", "-m", "i386",
		"--disassemble=hindsight/boot.multibootEntry.abi0", elf).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "lret") {
		t.Fatalf("multibootEntry not found or incomplete:\n%s", text)
	}
	// Lines are "addr:\tBYTES\tMNEMONIC OPERANDS".
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		first := strings.Fields(f[1])[0]
		if (first >= "40" && first <= "4f") || strings.Contains(f[2], "(bad)") || strings.Contains(f[2], "%r") {
			t.Errorf("not 32-bit clean: %s", strings.TrimSpace(line))
		}
		if strings.Contains(f[2], "lret") {
			break
		}
	}
}

// vdso_amd64.s reads clk by offset.
func TestClockLayout(t *testing.T) {
	if unsafe.Offsetof(clk.tsc0) != 8 || unsafe.Offsetof(clk.nsMult) != 16 || unsafe.Offsetof(clk.realtime0) != 32 {
		t.Fatalf("clk layout: tsc0 %d nsMult %d realtime0 %d", unsafe.Offsetof(clk.tsc0),
			unsafe.Offsetof(clk.nsMult), unsafe.Offsetof(clk.realtime0))
	}
}

// TestVDSOImage checks the image the way the runtime's vdso_linux.go reads
// it: program headers, dynamic table, hash chain, symbol and version.
func TestVDSOImage(t *testing.T) {
	var img [vdsoSize]byte
	base := uintptr(unsafe.Pointer(&img))
	buildVDSO(&img, base+0x1234)
	f, err := elf.NewFile(bytes.NewReader(img[:]))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 || len(f.Progs) != 2 ||
		f.Progs[0].Type != elf.PT_LOAD || f.Progs[1].Type != elf.PT_DYNAMIC {
		t.Fatalf("header: %v %v %d progs", f.Type, f.Machine, len(f.Progs))
	}
	le := binary.LittleEndian
	dyn := map[uint64]uint64{}
	for off := int(f.Progs[1].Off); ; off += 16 {
		tag, val := le.Uint64(img[off:]), le.Uint64(img[off+8:])
		if tag == dtNull {
			break
		}
		dyn[tag] = val
	}
	hash, sym, str := dyn[dtHash], dyn[dtSymtab], dyn[dtStrtab]
	if le.Uint32(img[hash:]) != 1 || le.Uint32(img[hash+8:]) != 1 {
		t.Fatal("hash: one bucket holding symbol 1")
	}
	s := sym + 24
	name := img[str+uint64(le.Uint32(img[s:])):]
	if string(name[:bytes.IndexByte(name, 0)]) != "__vdso_clock_gettime" || img[s+4] != stbGlobalFunc ||
		uintptr(le.Uint64(img[s+8:]))+base != base+0x1234 {
		t.Fatal("symbol 1 is not __vdso_clock_gettime at the function")
	}
	vd := dyn[dtVerdef]
	aux := vd + uint64(le.Uint32(img[vd+12:]))
	ver := img[str+uint64(le.Uint32(img[aux:])):]
	if le.Uint32(img[vd+8:]) != vdsoVersionHash || string(ver[:bytes.IndexByte(ver, 0)]) != "LINUX_2.6" ||
		le.Uint16(img[dyn[dtVersym]+2:]) != le.Uint16(img[vd+4:]) {
		t.Fatal("version LINUX_2.6 not defined or not the symbol's")
	}
}
