package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A tiny Go program with an assembly entry symbol, some initialized data and
// a large .bss, built like the hypervisor (GOOS=linux GOARCH=amd64
// CGO_ENABLED=0, internal linker, default layout).
var testProgram = map[string]string{
	"go.mod": "module example.com/mbtest\n\ngo 1.26\n",
	"main.go": `package main

import "os"

func multibootEntry()

var data = [4]uint64{0x1122334455667788, 2, 3, 4}

var bss [1 << 16]byte

func main() {
	if len(os.Args) > 1000 {
		multibootEntry() // keep the symbol alive
	}
	bss[len(os.Args)] = byte(data[len(os.Args)&3])
	println(bss[1])
}
`,
	// The entry runs in 32-bit protected mode, so it sticks to
	// instructions that encode the same in both modes. It writes "OK" to
	// the QEMU debugcon port if EAX holds the multiboot loader magic and
	// then exits QEMU through isa-debug-exit (see TestQEMUBoot).
	"entry_amd64.s": `#include "textflag.h"

TEXT ·multibootEntry(SB),NOSPLIT|NOFRAME,$0
	CLI
	CMPL AX, $0x2BADB002
	JNE bad
	MOVW $0xE9, DX
	MOVB $0x4F, AL
	OUTB
	MOVB $0x4B, AL
	OUTB
	MOVW $0xF4, DX
	MOVB $0x21, AL
	OUTB
	JMP hang
bad:
	MOVW $0xE9, DX
	MOVB $0x58, AL
	OUTB
	MOVW $0xF4, DX
	MOVB $0x01, AL
	OUTB
hang:
	HLT
	JMP hang
`,
}

const testEntry = "main.multibootEntry.abi0"

var (
	testELFOnce  sync.Once
	testELFBytes []byte
	testELFPath  string
	testELFErr   error
)

// testELF builds testProgram once per test binary run.
func testELF(t *testing.T) ([]byte, string) {
	t.Helper()
	testELFOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mkimage-test")
		if err != nil {
			testELFErr = err
			return
		}
		// Removed by TestMain.
		testELFDir = dir
		for name, src := range testProgram {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
				testELFErr = err
				return
			}
		}
		testELFPath = filepath.Join(dir, "prog.elf")
		cmd := exec.Command("go", "build", "-o", testELFPath, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64",
			"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local", "GO111MODULE=on")
		if out, err := cmd.CombinedOutput(); err != nil {
			testELFErr = err
			testELFPath = string(out)
			return
		}
		testELFBytes, testELFErr = os.ReadFile(testELFPath)
	})
	if testELFErr != nil {
		t.Fatalf("building test program: %v\n%s", testELFErr, testELFPath)
	}
	return testELFBytes, testELFPath
}

var testELFDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if testELFDir != "" {
		os.RemoveAll(testELFDir)
	}
	os.Exit(code)
}

func parseHeader(b []byte) Header {
	u := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	return Header{u(0), u(1), u(2), u(3), u(4), u(5), u(6), u(7)}
}

func TestBuildGoELF(t *testing.T) {
	elfBytes, _ := testELF(t)
	img, hdr, err := build(elfBytes, testEntry)
	if err != nil {
		t.Fatal(err)
	}

	f, err := elf.NewFile(bytes.NewReader(elfBytes))
	if err != nil {
		t.Fatal(err)
	}
	var loads []*elf.Prog
	minV, fileEnd, bssEnd := ^uint64(0), uint64(0), uint64(0)
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		loads = append(loads, p)
		minV = min(minV, p.Vaddr)
		fileEnd = max(fileEnd, p.Vaddr+p.Filesz)
		bssEnd = max(bssEnd, p.Vaddr+p.Memsz)
	}
	if len(loads) < 2 {
		t.Fatalf("test ELF has %d PT_LOAD segments, want several", len(loads))
	}
	if bssEnd <= fileEnd {
		t.Fatalf("test ELF has no bss beyond file data (file end %#x, bss end %#x)", fileEnd, bssEnd)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var entry uint64
	for _, s := range syms {
		if s.Name == testEntry {
			entry = s.Value
		}
	}
	if entry == 0 {
		t.Fatalf("symbol %s not in test ELF", testEntry)
	}

	// The header the loader will find: first 4-byte aligned magic within
	// the first 8 KiB whose checksum is valid.
	off := -1
	for i := 0; i+headerSize <= min(len(img), searchLimit); i += 4 {
		h := parseHeader(img[i:])
		if h.Magic == multibootMagic && h.Magic+h.Flags+h.Checksum == 0 {
			off = i
			break
		}
	}
	if off != 0 {
		t.Fatalf("multiboot header found at offset %d, want 0", off)
	}
	got := parseHeader(img)
	if got != hdr {
		t.Errorf("header in image %+v != returned header %+v", got, hdr)
	}
	wantLoad := minV&^0xfff - 0x1000
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"magic", uint64(got.Magic), 0x1BADB002},
		{"flags", uint64(got.Flags), 0x00010002},
		{"checksum", uint64(got.Checksum), 0xE4514FFC},
		{"magic+flags+checksum", uint64(got.Magic + got.Flags + got.Checksum), 0},
		{"header_addr", uint64(got.HeaderAddr), wantLoad},
		{"load_addr", uint64(got.LoadAddr), wantLoad},
		{"header_addr (stock Go layout)", uint64(got.HeaderAddr), 0x3FF000},
		{"load_end_addr", uint64(got.LoadEndAddr), wantLoad + uint64(len(img))},
		{"load_end_addr = end of file data", uint64(got.LoadEndAddr), fileEnd},
		{"bss_end_addr", uint64(got.BSSEndAddr), bssEnd},
		{"entry_addr", uint64(got.EntryAddr), entry},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// The rest of the header page is zero.
	if !allZero(img[headerSize:0x1000]) {
		t.Errorf("header page has non-zero bytes after the header")
	}
	// Every segment's file bytes at vaddr - load_addr; everything else up
	// to the end of the image is zero.
	covered := make([]bool, len(img))
	for i := range 0x1000 {
		covered[i] = true
	}
	for _, p := range loads {
		o := p.Vaddr - wantLoad
		if !bytes.Equal(img[o:o+p.Filesz], elfBytes[p.Off:p.Off+p.Filesz]) {
			t.Errorf("segment at %#x: bytes at image offset %#x differ from ELF file offset %#x", p.Vaddr, o, p.Off)
		}
		for i := o; i < o+p.Filesz; i++ {
			covered[i] = true
		}
	}
	for i, c := range covered {
		if !c && img[i] != 0 {
			t.Errorf("gap byte at image offset %#x is %#x, want 0", i, img[i])
			break
		}
	}
	// The entry point holds the assembly: CLI; CMPL AX, $0x2BADB002.
	if eo := entry - wantLoad; !bytes.HasPrefix(img[eo:], []byte{0xfa, 0x3d, 0x02, 0xb0, 0xad, 0x2b}) {
		t.Errorf("bytes at entry %#x (offset %#x) = % x, want fa 3d 02 b0 ad 2b ...", entry, eo, img[eo:eo+6])
	}
	// With the stock layout (vaddr - offset = 0x400000 for every segment)
	// the image is the ELF file shifted by one page.
	if !bytes.Equal(img[0x1000:], elfBytes[:len(img)-0x1000]) {
		t.Errorf("image is not the ELF file shifted by one page, although the test program uses the stock layout")
	}
}

func TestRunCLI(t *testing.T) {
	_, elfPath := testELF(t)
	out := filepath.Join(t.TempDir(), "sub", "prog.img")
	var stderr bytes.Buffer
	if err := run([]string{"-entry", testEntry, "-o", out, elfPath}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	img, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	h := parseHeader(img)
	if h.Magic != multibootMagic || h.LoadEndAddr-h.LoadAddr != uint32(len(img)) {
		t.Errorf("bad image header %+v for %d-byte file", h, len(img))
	}
	line := stderr.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "bss end") || !strings.Contains(line, "entry") {
		t.Errorf("summary = %q, want one line with load range, bss end and entry", line)
	}
	t.Logf("%s", strings.TrimSpace(line))

	// Errors: default entry symbol is absent from the test program.
	if err := run([]string{"-o", out + "2", elfPath}, &stderr); err == nil {
		t.Errorf("run with missing default entry symbol succeeded")
	}
	if _, err := os.Stat(out + "2"); !os.IsNotExist(err) {
		t.Errorf("failed run left an output file: %v", err)
	}
	if err := run([]string{elfPath}, &stderr); err == nil {
		t.Errorf("run without -o succeeded")
	}
}

// TestQEMUBoot boots the image of the test program with QEMU's multiboot
// loader (-kernel), which checks the header the way the real boot does.
func TestQEMUBoot(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	elfBytes, _ := testELF(t)
	img, _, err := build(elfBytes, testEntry)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	imgPath := filepath.Join(dir, "prog.img")
	conPath := filepath.Join(dir, "debugcon.txt")
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-nodefaults", "-display", "none", "-no-reboot",
		"-m", "64", "-kernel", imgPath, "-debugcon", "file:"+conPath,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x01")
	out, err := cmd.CombinedOutput()
	con, _ := os.ReadFile(conPath)
	// isa-debug-exit makes QEMU exit with status (value << 1) | 1.
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 0x21<<1|1 || string(con) != "OK" {
		t.Fatalf("qemu: err=%v, debugcon=%q, want exit status %d and \"OK\"\n%s", err, con, 0x21<<1|1, out)
	}
}

// synthetic ELF construction for the error cases.

type synSeg struct {
	typ          elf.ProgType // 0 means PT_LOAD
	vaddr, paddr uint64       // paddr 0 means = vaddr
	data         []byte
	memsz        uint64 // 0 means len(data)
	flags        elf.ProgFlag
}

type synSym struct {
	name  string
	value uint64
	typ   elf.SymType
}

type synELF struct {
	class   elf.Class
	machine elf.Machine
	typ     elf.Type
	segs    []synSeg
	syms    []synSym
}

func (s synELF) bytes(t *testing.T) []byte {
	t.Helper()
	le := binary.LittleEndian
	if s.class == elf.ELFCLASS32 {
		var b bytes.Buffer
		h := elf.Header32{Type: uint16(s.typ), Machine: uint16(s.machine), Version: 1, Ehsize: 52}
		copy(h.Ident[:], elf.ELFMAG)
		h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS32)
		h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
		h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
		binary.Write(&b, le, h)
		return b.Bytes()
	}

	const ehsize, phentsize, shentsize = 64, 56, 64
	out := make([]byte, ehsize+phentsize*len(s.segs))
	pad := func(align int) {
		for len(out)%align != 0 {
			out = append(out, 0)
		}
	}
	var phdrs bytes.Buffer
	for _, sg := range s.segs {
		typ := sg.typ
		if typ == 0 {
			typ = elf.PT_LOAD
		}
		// Keep offset congruent to vaddr modulo the page size, like a
		// real linker, but at an offset unrelated to vaddr otherwise.
		for uint64(len(out))%0x1000 != sg.vaddr%0x1000 {
			out = append(out, 0)
		}
		off := uint64(len(out))
		out = append(out, sg.data...)
		paddr, memsz := sg.paddr, sg.memsz
		if paddr == 0 {
			paddr = sg.vaddr
		}
		if memsz == 0 {
			memsz = uint64(len(sg.data))
		}
		binary.Write(&phdrs, le, elf.Prog64{Type: uint32(typ), Flags: uint32(sg.flags),
			Off: off, Vaddr: sg.vaddr, Paddr: paddr, Filesz: uint64(len(sg.data)), Memsz: memsz, Align: 0x1000})
	}
	copy(out[ehsize:], phdrs.Bytes())

	// .symtab, .strtab, .shstrtab
	strtab := []byte{0}
	var symtab bytes.Buffer
	binary.Write(&symtab, le, elf.Sym64{}) // null symbol
	for _, sym := range s.syms {
		name := uint32(len(strtab))
		strtab = append(append(strtab, sym.name...), 0)
		binary.Write(&symtab, le, elf.Sym64{Name: name, Info: elf.ST_INFO(elf.STB_GLOBAL, sym.typ),
			Shndx: 1 /* any defined section */, Value: sym.value})
	}
	shstrtab := []byte("\x00.symtab\x00.strtab\x00.shstrtab\x00")
	pad(8)
	symOff := uint64(len(out))
	out = append(out, symtab.Bytes()...)
	strOff := uint64(len(out))
	out = append(out, strtab...)
	shstrOff := uint64(len(out))
	out = append(out, shstrtab...)
	pad(8)
	shoff := uint64(len(out))
	var shdrs bytes.Buffer
	binary.Write(&shdrs, le, elf.Section64{})
	binary.Write(&shdrs, le, elf.Section64{Name: 1, Type: uint32(elf.SHT_SYMTAB), Off: symOff,
		Size: uint64(symtab.Len()), Link: 2, Info: 1, Addralign: 8, Entsize: 24})
	binary.Write(&shdrs, le, elf.Section64{Name: 9, Type: uint32(elf.SHT_STRTAB), Off: strOff,
		Size: uint64(len(strtab)), Addralign: 1})
	binary.Write(&shdrs, le, elf.Section64{Name: 17, Type: uint32(elf.SHT_STRTAB), Off: shstrOff,
		Size: uint64(len(shstrtab)), Addralign: 1})
	out = append(out, shdrs.Bytes()...)

	h := elf.Header64{Type: uint16(s.typ), Machine: uint16(s.machine), Version: 1,
		Phoff: ehsize, Shoff: shoff, Ehsize: ehsize, Phentsize: phentsize, Phnum: uint16(len(s.segs)),
		Shentsize: shentsize, Shnum: 4, Shstrndx: 3}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var hb bytes.Buffer
	binary.Write(&hb, le, h)
	copy(out, hb.Bytes())
	return out
}

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// okELF is a valid synthetic ELF with a non-Go layout: text at 16 MiB, a
// read-only segment after a gap, and a data segment whose bss is followed by
// nothing (so bss_end > load_end).
func okELF() synELF {
	return synELF{
		class: elf.ELFCLASS64, machine: elf.EM_X86_64, typ: elf.ET_EXEC,
		segs: []synSeg{
			{vaddr: 0x1000010, data: fill(0x30, 0xcc), flags: elf.PF_R | elf.PF_X},
			{vaddr: 0x1005000, data: fill(0x800, 0xaa), flags: elf.PF_R},
			{vaddr: 0x1007100, data: fill(0x10, 0xdd), memsz: 0x3000, flags: elf.PF_R | elf.PF_W},
		},
		syms: []synSym{
			{"x.start.abi0", 0x1000020, elf.STT_FUNC},
			{"x.data", 0x1007100, elf.STT_OBJECT},
		},
	}
}

func TestBuildSynthetic(t *testing.T) {
	img, hdr, err := build(okELF().bytes(t), "x.start.abi0")
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Magic: multibootMagic, Flags: multibootFlags, Checksum: 0xE4514FFC,
		HeaderAddr: 0xFFF000, LoadAddr: 0xFFF000, LoadEndAddr: 0x1007110,
		BSSEndAddr: 0x100A100, EntryAddr: 0x1000020}
	if hdr != want {
		t.Errorf("header = %+v\nwant     %+v", hdr, want)
	}
	if len(img) != 0x1007110-0xFFF000 {
		t.Errorf("image length %#x, want %#x", len(img), 0x1007110-0xFFF000)
	}
	for _, r := range []struct {
		off, n int
		b      byte
	}{
		{0x1000, 0x10, 0}, {0x1010, 0x30, 0xcc}, {0x1040, 0x5000 - 0x40, 0},
		{0x6000, 0x800, 0xaa}, {0x6800, 0x2100 - 0x800, 0}, {0x8100, 0x10, 0xdd},
	} {
		if got := img[r.off : r.off+r.n]; !bytes.Equal(got, fill(r.n, r.b)) {
			t.Errorf("image [%#x,%#x) is not all %#x", r.off, r.off+r.n, r.b)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	goELF, _ := testELF(t)
	mutate := func(off int, b ...byte) []byte {
		c := bytes.Clone(goELF)
		copy(c[off:], b)
		return c
	}
	syn := func(edit func(*synELF)) []byte {
		e := okELF()
		edit(&e)
		return e.bytes(t)
	}
	const entry = "x.start.abi0"
	tests := []struct {
		name  string
		elf   []byte
		entry string
		want  []string // substrings of the error
	}{
		{"garbage", []byte("not an elf at all, just text"), entry, []string{"not a valid ELF"}},
		{"truncated", goELF[:40], entry, []string{"not a valid ELF"}},
		{"32-bit", syn(func(e *synELF) { e.class = elf.ELFCLASS32 }), entry, []string{"ELF64"}},
		{"aarch64", syn(func(e *synELF) { e.machine = elf.EM_AARCH64 }), entry, []string{"x86-64", "EM_AARCH64"}},
		{"mutated machine", mutate(18, byte(elf.EM_386), 0), testEntry, []string{"x86-64", "EM_386"}},
		{"mutated type DYN", mutate(16, byte(elf.ET_DYN), 0), testEntry, []string{"ET_EXEC", "ET_DYN"}},
		{"missing symbol", goELF, "main.noSuchSymbol.abi0", []string{`"main.noSuchSymbol.abi0" not found`, ".abi0 functions in main", testEntry}},
		{"missing .abi0 suffix", goELF, "main.multibootEntry", []string{"not found", "near matches: " + testEntry, "suffix"}},
		{"data symbol as entry", syn(func(e *synELF) {}), "x.data", []string{"STT_OBJECT"}},
		{"entry outside text", syn(func(e *synELF) { e.syms[0].value = 0x1005000 }), entry, []string{"executable"}},
		{"no symbol table", func() []byte {
			b := okELF().bytes(t)
			binary.LittleEndian.PutUint64(b[40:], 0) // e_shoff = 0
			binary.LittleEndian.PutUint16(b[60:], 0) // e_shnum = 0
			binary.LittleEndian.PutUint16(b[62:], 0) // e_shstrndx = 0
			return b
		}(), entry, []string{"symbol table"}},
		{"segment below 1 MiB", syn(func(e *synELF) { e.segs[1].vaddr = 0x80000 }), entry, []string{"below 1 MiB"}},
		{"header page below 1 MiB", syn(func(e *synELF) {
			e.segs[0].vaddr = 0x100000
			e.syms[0].value = 0x100010
		}), entry, []string{"header page", "1 MiB"}},
		{"overlapping segments", syn(func(e *synELF) { e.segs[1].vaddr = 0x1000030 }), entry, []string{"overlap"}},
		{"bss overlaps next segment", syn(func(e *synELF) { e.segs[0].memsz = 0x5000 }), entry, []string{"overlap"}},
		{"above 4 GiB", syn(func(e *synELF) { e.segs[2].vaddr, e.segs[2].memsz = 0xFFFFF000, 0x2000 }), entry, []string{"4 GiB"}},
		{"filesz > memsz", syn(func(e *synELF) { e.segs[1].memsz = 0x10 }), entry, []string{"filesz"}},
		{"paddr != vaddr", syn(func(e *synELF) { e.segs[2].paddr = 0x2007100 }), entry, []string{"paddr"}},
		{"no PT_LOAD", syn(func(e *synELF) {
			for i := range e.segs {
				e.segs[i].typ = elf.PT_NOTE
			}
		}), entry, []string{"no PT_LOAD"}},
		{"dynamic", syn(func(e *synELF) {
			e.segs = append(e.segs, synSeg{typ: elf.PT_INTERP, vaddr: 0x1009000, data: []byte("/lib/ld.so\x00")})
		}), entry, []string{"dynamically linked"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := build(tc.elf, tc.entry)
			if err == nil {
				t.Fatalf("build succeeded (%d-byte image), want error containing %q", len(img), tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			t.Logf("%v", err)
		})
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
