package nocall

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// siteKind classifies an instruction that may transfer control to another
// function.
type siteKind uint8

const (
	siteCall     siteKind = iota // CALL rel32
	siteJump                     // JMP/Jcc to a target outside the function (tail call)
	siteFuncRef                  // LEAQ of a function or of a funcval pointing at one
	siteIndirect                 // CALL through a register or memory
)

// site is one interesting instruction of a function.
type site struct {
	kind   siteKind
	pc     uint64
	target uint64 // CALL/JMP target or LEAQ address
	callee int    // index into program.funcs after resolve, -1 if none
	pos    string // objdump's "file.go:123"
	instr  string // objdump's disassembly, e.g. "CALL runtime.mallocgc(SB)"
}

// function is one TEXT symbol of the binary.
type function struct {
	name       string
	file       string
	start, end uint64
	sites      []site
	wbCheck    *site // first read of runtime.writeBarrier, if any
}

// program is the disassembled binary.
type program struct {
	funcs   []*function // sorted by start address
	byName  map[string]int
	elf     *elf.File
	data    []segment                     // file-backed PT_LOAD contents, for funcval and itab lookups
	lines   func(pc uint64) (string, int) // nil if unavailable
	std     []bool                        // funcs[i] belongs to the standard library
	mainMod string                        // main module path from the build info; "" if unknown
	builtAt time.Time                     // modification time of the binary; zero if unknown

	itabs        []*itab                // static itabs of the main module's interfaces
	runtimeItabs []runtimeItabs         // main-module interfaces with itabs built at run time
	byMethod     map[string][]int       // methods by name, built on first use (methodsNamed)
	sources      map[string]*sourceFile // parsed source files by path (source)
}

type segment struct {
	vaddr uint64
	data  []byte
}

// wbCheckRE matches a memory operand naming the runtime.writeBarrier flag,
// which the compiler tests before every write barrier and which runtime code
// such as atomicwb tests before using the write barrier buffer directly.
var wbCheckRE = regexp.MustCompile(`(^|[^\w.])runtime\.writeBarrier(\+\w+)?\(SB\)`)

// load runs "go tool objdump" over the whole binary and builds the program.
func load(binary, goCmd string) (*program, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return nil, err
	}
	if f.Type != elf.ET_EXEC {
		f.Close()
		return nil, fmt.Errorf("%s is position-independent (ELF type %v): the code pointers in its data are only set at load time; build it with -buildmode=exe", binary, f.Type)
	}
	p := &program{elf: f, byName: map[string]int{}, builtAt: builtTime(binary)}
	for _, ph := range f.Progs {
		if ph.Type != elf.PT_LOAD || ph.Filesz == 0 {
			continue
		}
		b := make([]byte, ph.Filesz)
		if _, err := ph.ReadAt(b, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: reading segment at %#x: %w", binary, ph.Vaddr, err)
		}
		p.data = append(p.data, segment{ph.Vaddr, b})
	}
	p.lines = newLineTable(f)

	cmd := exec.Command(goCmd, "tool", "objdump", binary)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("running %s tool objdump: %w", goCmd, err)
	}
	perr := p.parse(stdout)
	if perr != nil {
		io.Copy(io.Discard, stdout)
	}
	werr := cmd.Wait()
	switch {
	case werr != nil:
		err = fmt.Errorf("%s tool objdump %s: %v\n%s", goCmd, binary, werr, strings.TrimSpace(stderr.String()))
	case perr != nil:
		err = fmt.Errorf("parsing objdump output for %s: %w", binary, perr)
	case len(p.funcs) == 0:
		err = fmt.Errorf("objdump found no functions in %s", binary)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	p.resolve()
	if bi, err := buildinfo.ReadFile(binary); err == nil {
		p.mainMod = bi.Path // main package path, e.g. "hindsight/cmd/hindsight"
		if bi.Main.Path != "" {
			p.mainMod = bi.Main.Path
		}
	}
	p.std = make([]bool, len(p.funcs))
	for i, fn := range p.funcs {
		p.std[i] = isStd(symPackage(fn.name), p.mainMod)
	}
	syms, err := f.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		err = fmt.Errorf("no ELF symbol table (linked with -s?)")
	} else if err == nil {
		err = p.addItabs(syms)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: reading the itabs to resolve interface calls: %w", binary, err)
	}
	return p, nil
}

// symPackage returns the import path of the package defining the Go symbol
// name, e.g. "runtime" for "runtime.(*m).foo.func1" and "hindsight/boot" for
// "hindsight/boot.trap[go.shape.int]".
func symPackage(name string) string {
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/') + 1
	if i := strings.IndexByte(name[slash:], '.'); i >= 0 {
		return name[:slash+i]
	}
	return ""
}

// isStd reports whether pkg is part of the Go distribution: its first path
// element has no dot and it is not in the main module (whose path, like
// "hindsight", need not have a dot either) or package main.
func isStd(pkg, mainMod string) bool {
	if pkg == "" || pkg == "main" {
		return pkg == ""
	}
	if mainMod != "" && (pkg == mainMod || strings.HasPrefix(pkg, mainMod+"/")) {
		return false
	}
	first, _, _ := strings.Cut(pkg, "/")
	return !strings.Contains(first, ".")
}

func (p *program) close() { p.elf.Close() }

// parse reads objdump output:
//
//	TEXT main.trapAlloc(SB) /tmp/x/main.go
//	  main.go:7		0x47a740		493b6610		CMPQ SP, 0x10(R14)
//	  ...
//
// It decodes control transfers from the instruction bytes rather than from
// the symbolized text, so it does not depend on how objdump names targets.
func (p *program) parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cur *function
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "TEXT "); ok {
			p.finish(cur)
			i := strings.Index(rest, "(SB)")
			if i < 0 {
				return fmt.Errorf("line %d: malformed TEXT header %q", lineNo, line)
			}
			cur = &function{name: rest[:i], file: strings.TrimSpace(rest[i+len("(SB)"):])}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if cur == nil {
			return fmt.Errorf("line %d: instruction outside a TEXT block: %q", lineNo, line)
		}
		var fields []string
		for _, fld := range strings.Split(line, "\t") {
			if fld = strings.TrimSpace(fld); fld != "" {
				fields = append(fields, fld)
			}
		}
		if len(fields) < 3 {
			return fmt.Errorf("line %d: malformed instruction line %q", lineNo, line)
		}
		pos, instr := fields[0], ""
		if len(fields) >= 4 {
			instr = strings.Join(fields[3:], " ")
		}
		pc, err := strconv.ParseUint(strings.TrimPrefix(fields[1], "0x"), 16, 64)
		if err != nil {
			return fmt.Errorf("line %d: bad address in %q", lineNo, line)
		}
		code, err := hex.DecodeString(fields[2])
		if err != nil {
			return fmt.Errorf("line %d: bad instruction bytes in %q", lineNo, line)
		}
		if cur.start == 0 && cur.end == 0 {
			cur.start = pc
		}
		next := pc + uint64(len(code))
		cur.end = max(cur.end, next)
		if kind, target, ok := decode(code, next); ok {
			cur.sites = append(cur.sites, site{kind: kind, pc: pc, target: target, callee: -1, pos: pos, instr: instr})
		}
		if cur.wbCheck == nil && wbCheckRE.MatchString(instr) {
			cur.wbCheck = &site{pc: pc, callee: -1, pos: pos, instr: instr}
		}
	}
	p.finish(cur)
	return sc.Err()
}

// finish drops the sites of f that stay inside f and records f.
func (p *program) finish(f *function) {
	if f == nil {
		return
	}
	sites := f.sites[:0]
	for _, s := range f.sites {
		if s.kind != siteIndirect && s.target >= f.start && s.target < f.end {
			continue // intra-function branch, recursion or local address
		}
		sites = append(sites, s)
	}
	f.sites = sites
	p.funcs = append(p.funcs, f)
}

// decode recognizes the x86-64 instructions that can reach another function:
// direct CALL/JMP/Jcc (target computed from the relative displacement), CALL
// through a register or memory (indirect), and RIP-relative LEA (a possible
// function value). next is the address of the following instruction.
func decode(code []byte, next uint64) (siteKind, uint64, bool) {
	i := 0
	for i < len(code) {
		switch c := code[i]; {
		case c == 0x66 || c == 0x67 || c == 0xf2 || c == 0xf3 || c == 0x2e || c == 0x3e ||
			c == 0x26 || c == 0x36 || c == 0x64 || c == 0x65 || c&0xf0 == 0x40:
			i++ // legacy prefix or REX
			continue
		}
		break
	}
	if i >= len(code) {
		return 0, 0, false
	}
	op, rest := code[i], code[i+1:]
	rel32 := func(b []byte) (uint64, bool) {
		if len(b) < 4 {
			return 0, false
		}
		return next + uint64(int64(int32(binary.LittleEndian.Uint32(b)))), true
	}
	switch {
	case op == 0xe8:
		t, ok := rel32(rest)
		return siteCall, t, ok
	case op == 0xe9:
		t, ok := rel32(rest)
		return siteJump, t, ok
	case op == 0xeb || (op >= 0x70 && op <= 0x7f):
		if len(rest) < 1 {
			return 0, 0, false
		}
		return siteJump, next + uint64(int64(int8(rest[0]))), true
	case op == 0x0f && len(rest) >= 5 && rest[0] >= 0x80 && rest[0] <= 0x8f:
		t, ok := rel32(rest[1:])
		return siteJump, t, ok
	case op == 0xff && len(rest) >= 1:
		if reg := rest[0] >> 3 & 7; reg == 2 || reg == 3 {
			return siteIndirect, 0, true
		}
	case op == 0x8d && len(rest) >= 5 && rest[0]&0xc7 == 0x05: // LEA r, disp32(RIP)
		t, ok := rel32(rest[1:])
		return siteFuncRef, t, ok
	}
	return 0, 0, false
}

// resolve maps site targets to functions. A LEA target that is not a
// function start is looked up in the data segments: if it holds a pointer to
// a function start (a funcval, as built for closures and method values), the
// site refers to that function.
func (p *program) resolve() {
	sort.Slice(p.funcs, func(i, j int) bool { return p.funcs[i].start < p.funcs[j].start })
	starts := map[uint64]int{}
	for i, f := range p.funcs {
		if _, dup := p.byName[f.name]; !dup {
			p.byName[f.name] = i
		}
		starts[f.start] = i
	}
	containing := func(addr uint64) int {
		i := sort.Search(len(p.funcs), func(i int) bool { return p.funcs[i].end > addr })
		if i < len(p.funcs) && p.funcs[i].start <= addr {
			return i
		}
		return -1
	}
	for fi, f := range p.funcs {
		sites := f.sites[:0]
		for _, s := range f.sites {
			switch s.kind {
			case siteCall, siteJump:
				s.callee = containing(s.target)
			case siteFuncRef:
				if i, ok := starts[s.target]; ok {
					s.callee = i
				} else if v, ok := p.word(s.target); ok {
					if i, ok := starts[v]; ok {
						s.callee = i
					}
				}
			}
			if s.kind != siteIndirect && (s.callee < 0 || s.callee == fi) {
				continue
			}
			sites = append(sites, s)
		}
		f.sites = sites
	}
}

// word reads the 8-byte little-endian word at virtual address addr.
func (p *program) word(addr uint64) (uint64, bool) {
	b, ok := p.read(addr, 8)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// read returns the n bytes at virtual address addr from the file.
func (p *program) read(addr, n uint64) ([]byte, bool) {
	for _, s := range p.data {
		if addr >= s.vaddr && addr-s.vaddr <= uint64(len(s.data)) && n <= uint64(len(s.data))-(addr-s.vaddr) {
			off := addr - s.vaddr
			return s.data[off : off+n], true
		}
	}
	return nil, false
}

// newLineTable returns a PC -> full source path lookup built from
// .gopclntab (objdump prints only base names), or nil.
func newLineTable(f *elf.File) func(pc uint64) (string, int) {
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return nil
	}
	data, err := pcln.Data()
	if err != nil {
		return nil
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil
	}
	return func(pc uint64) (string, int) {
		file, line, _ := tab.PCToLine(pc)
		return file, line
	}
}

// position returns the source position of the instruction at pc.
func (p *program) position(pc uint64, objdumpPos string) (string, int) {
	if p.lines != nil {
		if file, line := p.lines(pc); file != "" && line > 0 {
			return file, line
		}
	}
	if i := strings.LastIndex(objdumpPos, ":"); i >= 0 {
		if n, err := strconv.Atoi(objdumpPos[i+1:]); err == nil {
			return objdumpPos[:i], n
		}
	}
	return objdumpPos, 0
}
