package nocall

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The test program. Lines marked "// @name" are looked up by marker so the
// expected positions do not depend on line numbers.
var testProgram = map[string]string{
	"go.mod": "module example.com/nocalltest\n\ngo 1.26\n",
	"main.go": `package main

import "os"

var (
	global *int
	table  [16]uint64
	hook   = func(n int) []byte { return make([]byte, n) }
)

// --- the four functions of the basic test ---

// trapAlloc allocates: the slice escapes through the return value.
//
//go:noinline
func trapAlloc(n int) []byte {
	return make([]byte, n) // @alloc
}

// trapStore stores a pointer into a global through a helper: write barrier.
//
//go:noinline
func trapStore(p *int) {
	storeHelper(p)
}

//go:noinline
func storeHelper(p *int) {
	global = p // @store
}

// trapArith only does arithmetic and array indexing (one bounds check).
//
//go:noinline
func trapArith(a *[16]uint64, i int) uint64 {
	x := a[i&15]*3 + a[(i+1)&15]<<2
	return x ^ a[i] // @bounds
}

// trapCallsClean calls another clean function.
//
//go:noinline
func trapCallsClean(x uint64) uint64 {
	return cleanHelper(x) + 1
}

//go:noinline
func cleanHelper(x uint64) uint64 {
	var buf [8]uint64
	for i := range buf {
		buf[i] = x * uint64(i)
	}
	return buf[x&7]
}

// --- function values, tail calls and indirect calls ---

//go:noinline
func apply(f func() int) int { return f() }

// irqFuncValue passes a closure that allocates to apply; the closure is
// only called indirectly.
//
//go:noinline
func irqFuncValue(n int) int {
	return apply(func() int {
		b := make([]byte, n) // @closure
		sinkSlice = b
		return len(b)
	})
}

var sinkSlice []byte

// irqIndirect calls through a function variable.
//
//go:noinline
func irqIndirect(n int) int {
	return len(hook(n)) // @indirect
}

// irqAsmJump is assembly that tail-jumps into trapAlloc.
func irqAsmJump()

// irqAsmClean is assembly that only returns.
func irqAsmClean()

// irqNosplit is clean and has no stack-growth check.
//
//go:nosplit
//go:noinline
func irqNosplit(x uint64) uint64 {
	return x*7 + 1
}

func main() {
	x := len(os.Args)
	var p int
	println(len(trapAlloc(x)), trapArith(&table, x), trapCallsClean(uint64(x)),
		irqFuncValue(x), irqIndirect(x), irqNosplit(uint64(x)))
	trapStore(&p)
	if x > 1000 {
		irqAsmJump()
		irqAsmClean()
	}
}
`,
	"asm_amd64.s": `#include "textflag.h"

TEXT ·irqAsmJump(SB),NOSPLIT|NOFRAME,$0
	JMP ·trapAlloc(SB)

TEXT ·irqAsmClean(SB),NOSPLIT|NOFRAME,$0
	RET
`,
}

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
	buildOut  []byte

	loadOnce sync.Once
	loaded   *program
	loadErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testBinary builds testProgram once.
func testBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "nocall-test")
		if buildErr != nil {
			return
		}
		for name, src := range testProgram {
			if buildErr = os.WriteFile(filepath.Join(buildDir, name), []byte(src), 0o644); buildErr != nil {
				return
			}
		}
		buildPath = filepath.Join(buildDir, "prog.elf")
		cmd := exec.Command("go", "build", "-o", buildPath, ".")
		cmd.Dir = buildDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64",
			"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local", "GO111MODULE=on")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building test program: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

// testProgramLoaded disassembles the test binary once for the tests that
// use the internal API.
func testProgramLoaded(t *testing.T) *program {
	t.Helper()
	bin := testBinary(t)
	loadOnce.Do(func() { loaded, loadErr = load(bin, "go") })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

// markerLine returns the line of main.go carrying "// @name".
func markerLine(t *testing.T, name string) int {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(testProgram["main.go"]))
	for n := 1; sc.Scan(); n++ {
		if strings.HasSuffix(sc.Text(), "// @"+name) {
			return n
		}
	}
	t.Fatalf("marker %s not found", name)
	return 0
}

func res(patterns ...string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range patterns {
		out = append(out, regexp.MustCompile(p))
	}
	return out
}

func byRoot(vs []Violation, warnings bool) map[string][]Violation {
	m := map[string][]Violation{}
	for _, v := range vs {
		if v.Warning == warnings {
			m[v.Root] = append(m[v.Root], v)
		}
	}
	return m
}

func dump(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		kind := "error"
		if v.Warning {
			kind = "warning"
		}
		fmt.Fprintf(&b, "\t%s: %v\n", kind, v)
	}
	return b.String()
}

// TestBasic is the acceptance test: the allocating function and the
// write-barrier function are flagged (the latter through a helper), the two
// clean ones are not.
func TestBasic(t *testing.T) {
	bin := testBinary(t)
	vs, err := Check(bin, res(`^main\.trap`), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("violations:\n%s", dump(vs))
	errs := byRoot(vs, false)
	var flagged []string
	for root := range errs {
		flagged = append(flagged, root)
	}
	slices.Sort(flagged)
	if want := []string{"main.trapAlloc", "main.trapStore"}; !slices.Equal(flagged, want) {
		t.Fatalf("roots with errors = %v, want %v", flagged, want)
	}

	alloc := errs["main.trapAlloc"]
	if len(alloc) != 1 || !slices.Equal(alloc[0].Path, []string{"main.trapAlloc", "runtime.makeslice"}) ||
		alloc[0].Kind != KindBanned || filepath.Base(alloc[0].File) != "main.go" ||
		alloc[0].Line != markerLine(t, "alloc") {
		t.Errorf("trapAlloc violations:\n%swant one: main.trapAlloc -> runtime.makeslice at main.go:%d",
			dump(alloc), markerLine(t, "alloc"))
	}
	if !filepath.IsAbs(alloc[0].File) {
		t.Errorf("file %q is not a full path", alloc[0].File)
	}

	store := errs["main.trapStore"]
	wb := regexp.MustCompile(`^runtime\.gcWriteBarrier[1-8]$`)
	if len(store) != 1 || len(store[0].Path) != 3 || store[0].Path[1] != "main.storeHelper" ||
		!wb.MatchString(store[0].Path[2]) || store[0].Line != markerLine(t, "store") {
		t.Errorf("trapStore violations:\n%swant one: main.trapStore -> main.storeHelper -> runtime.gcWriteBarrierN at main.go:%d",
			dump(store), markerLine(t, "store"))
	}
	want := fmt.Sprintf("main.trapStore -> main.storeHelper -> %s at %s:%d [banned call]",
		store[0].Path[2], store[0].File, markerLine(t, "store"))
	if got := store[0].String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}

	// The bounds check in trapArith is a warning, not an error.
	warns := byRoot(vs, true)
	if w := warns["main.trapArith"]; len(w) != 1 || w[0].Kind != KindPanic || w[0].Line != markerLine(t, "bounds") {
		t.Errorf("trapArith warnings:\n%swant one panic helper at main.go:%d", dump(w), markerLine(t, "bounds"))
	}
	if w := warns["main.trapCallsClean"]; len(w) != 0 {
		t.Errorf("trapCallsClean warnings:\n%s", dump(w))
	}
	if len(Errors(vs)) != 2 {
		t.Errorf("Errors() = %d violations, want 2", len(Errors(vs)))
	}
}

func TestFuncValuesTailCallsIndirect(t *testing.T) {
	p := testProgramLoaded(t)
	vs, err := p.check(res(`^main\.irq`), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("violations:\n%s", dump(vs))
	errs, warns := byRoot(vs, false), byRoot(vs, true)

	// The closure passed to apply allocates: reached through the function
	// value taken in irqFuncValue.
	found := false
	for _, v := range errs["main.irqFuncValue"] {
		if v.Line == markerLine(t, "closure") && v.Path[len(v.Path)-1] == "runtime.makeslice" &&
			strings.HasPrefix(v.Path[1], "&main.irqFuncValue.func") {
			found = true
		}
	}
	if !found {
		t.Errorf("irqFuncValue: no makeslice error through &closure at line %d", markerLine(t, "closure"))
	}

	// The assembly tail-jumps (through the ABI wrapper) into trapAlloc.
	found = false
	for _, v := range errs["main.irqAsmJump.abi0"] {
		if slices.Contains(v.Path, "main.trapAlloc") && v.Path[len(v.Path)-1] == "runtime.makeslice" {
			found = true
		}
	}
	if !found {
		t.Errorf("irqAsmJump.abi0: no makeslice error through main.trapAlloc")
	}

	// The call through a function variable cannot be followed: a warning.
	if w := warns["main.irqIndirect"]; len(w) != 1 || w[0].Kind != KindIndirect || w[0].Line != markerLine(t, "indirect") {
		t.Errorf("irqIndirect warnings:\n%swant one indirect call at line %d", dump(w), markerLine(t, "indirect"))
	}
	if e := errs["main.irqIndirect"]; len(e) != 0 {
		t.Errorf("irqIndirect errors:\n%s", dump(e))
	}
	for _, clean := range []string{"main.irqAsmClean.abi0", "main.irqNosplit"} {
		if len(errs[clean])+len(warns[clean]) != 0 {
			t.Errorf("%s: unexpected violations:\n%s", clean, dump(append(errs[clean], warns[clean]...)))
		}
	}

	// apply's indirect call is reported, but IgnoreIndirect drops it.
	vs, err = p.check(res(`^main\.irq(Indirect|FuncValue)$`), &Options{IgnoreIndirect: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Kind == KindIndirect {
			t.Errorf("IgnoreIndirect: got %v", v)
		}
	}
}

func TestNoSplit(t *testing.T) {
	p := testProgramLoaded(t)
	roots := res(`^main\.(trapCallsClean|irqNosplit|irqAsmClean)$`)
	vs, err := p.check(roots, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(Errors(vs)) != 0 {
		t.Fatalf("without NoSplit:\n%s", dump(vs))
	}
	vs, err = p.check(roots, &Options{NoSplit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NoSplit:\n%s", dump(vs))
	errs := byRoot(vs, false)
	if e := errs["main.trapCallsClean"]; len(e) == 0 || e[0].Kind != KindMorestack ||
		!strings.HasPrefix(e[len(e)-1].Path[len(e[len(e)-1].Path)-1], "runtime.morestack") {
		t.Errorf("NoSplit: trapCallsClean errors:\n%swant runtime.morestack* calls", dump(e))
	}
	for _, clean := range []string{"main.irqNosplit", "main.irqAsmClean.abi0"} {
		if len(errs[clean]) != 0 {
			t.Errorf("NoSplit: %s:\n%s", clean, dump(errs[clean]))
		}
	}
}

func TestOptions(t *testing.T) {
	p := testProgramLoaded(t)
	// Banning a user function.
	vs, err := p.check(res(`^main\.trapCallsClean$`),
		&Options{Banned: append(slices.Clone(DefaultBanned), "main.cleanHelper")})
	if err != nil {
		t.Fatal(err)
	}
	if e := Errors(vs); len(e) != 1 || !slices.Equal(e[0].Path, []string{"main.trapCallsClean", "main.cleanHelper"}) {
		t.Errorf("banned main.cleanHelper:\n%s", dump(vs))
	}
	// Allowing a helper stops the walk there.
	vs, err = p.check(res(`^main\.trapStore$`),
		&Options{Allowed: append(slices.Clone(DefaultAllowed), "main.store*")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 0 {
		t.Errorf("allowed main.store*:\n%s", dump(vs))
	}
	// Patterns match names with and without the .abi0 suffix.
	vs, err = p.check(res(`^main\.irqAsmJump$`), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(Errors(vs)) == 0 {
		t.Errorf("root pattern without .abi0 did not match main.irqAsmJump.abi0")
	}
	// A pattern that matches nothing is an error.
	if _, err := p.check(res(`^main\.trap`, `^main\.noSuchHandler$`), &Options{}); err == nil ||
		!strings.Contains(err.Error(), "noSuchHandler") {
		t.Errorf("unmatched pattern: err = %v", err)
	}
	// Warnings in the standard library are suppressed unless AllWarnings.
	vs, err = p.check(res(`^main\.main$`), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	vsAll, err := p.check(res(`^main\.main$`), &Options{AllWarnings: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Warning && !strings.HasPrefix(v.Path[len(v.Path)-2], "main.") {
			t.Errorf("warning inside the standard library without AllWarnings: %v", v)
		}
	}
	if len(vsAll) <= len(vs) || len(Errors(vsAll)) != len(Errors(vs)) {
		t.Errorf("AllWarnings: %d violations (%d errors) vs %d (%d errors)",
			len(vsAll), len(Errors(vsAll)), len(vs), len(Errors(vs)))
	}
}

func TestCheckErrors(t *testing.T) {
	if _, err := Check(filepath.Join(t.TempDir(), "missing"), res(`x`), nil); err == nil {
		t.Error("missing binary: no error")
	}
	bin := testBinary(t)
	if _, err := Check(bin, nil, nil); err == nil {
		t.Error("no patterns: no error")
	}
	if _, err := Check(bin, res(`^main\.trap`), &Options{GoCmd: filepath.Join(t.TempDir(), "nogo")}); err == nil {
		t.Error("bad go command: no error")
	}
	// A position-independent binary (e_type ET_DYN) has no code pointers
	// in its data until it is loaded: refused.
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(data[16:], uint16(elf.ET_DYN))
	pie := filepath.Join(t.TempDir(), "pie.elf")
	if err := os.WriteFile(pie, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(pie, res(`^main\.trap`), nil); err == nil || !strings.Contains(err.Error(), "position-independent") {
		t.Errorf("ET_DYN binary: err = %v", err)
	}
}

func TestDecode(t *testing.T) {
	const pc = 0x401000
	tests := []struct {
		code   string
		kind   siteKind
		target uint64
		ok     bool
	}{
		{"e8fb0f0000", siteCall, pc + 5 + 0xffb, true},          // CALL rel32
		{"e8f6ffffff", siteCall, pc + 5 - 10, true},             // CALL backwards
		{"e9fb0f0000", siteJump, pc + 5 + 0xffb, true},          // JMP rel32
		{"eb10", siteJump, pc + 2 + 0x10, true},                 // JMP rel8
		{"74f0", siteJump, pc + 2 - 0x10, true},                 // JE rel8
		{"0f8410000000", siteJump, pc + 6 + 0x10, true},         // JE rel32
		{"ffd0", siteIndirect, 0, true},                         // CALL AX
		{"41ffd4", siteIndirect, 0, true},                       // CALL R12
		{"ff14cb", siteIndirect, 0, true},                       // CALL 0(BX)(CX*8)
		{"ffe0", 0, 0, false},                                   // JMP AX (jump table): ignored
		{"488d05cb740200", siteFuncRef, pc + 7 + 0x274cb, true}, // LEAQ 0x274cb(IP), AX
		{"488d0452", 0, 0, false},                               // LEAQ 0(DX)(DX*2), AX
		{"833dd19e0c0000", 0, 0, false},                         // CMPL x(SB), $0
		{"6690", 0, 0, false},                                   // NOPW
		{"", 0, 0, false},
	}
	for _, tc := range tests {
		code, err := hex.DecodeString(tc.code)
		if err != nil {
			t.Fatal(err)
		}
		kind, target, ok := decode(code, pc+uint64(len(code)))
		if ok != tc.ok || (ok && (kind != tc.kind || target != tc.target)) {
			t.Errorf("decode(%s) = %v, %#x, %v; want %v, %#x, %v", tc.code, kind, target, ok, tc.kind, tc.target, tc.ok)
		}
	}
}

// TestParse feeds a hand-written objdump listing through the parser.
func TestParse(t *testing.T) {
	const listing = "TEXT main.a(SB) /src/main.go\n" +
		"  main.go:3\t\t0x401000\t\te80b000000\t\tCALL main.b(SB)\t\n" + // -> 0x401010
		"  main.go:4\t\t0x401005\t\t833d00000000\t\tCMPL runtime.writeBarrier(SB), $0x0\t\n" +
		"  main.go:4\t\t0x40100b\t\tebf3\t\t\tJMP 0x401000\t\n" + // intra
		"  main.go:5\t\t0x40100d\t\tffd0\t\t\tCALL AX\t\n" +
		"  main.go:5\t\t0x40100f\t\tc3\t\t\tRET\t\n" +
		"\n" +
		"TEXT main.b(SB) /src/main.go\n" +
		"  main.go:9\t\t0x401010\t\te9ebffffff\t\tJMP main.a(SB)\t\n" + // tail call -> 0x401000
		"  :-1\t\t\t0x401015\t\tcc\t\t\tINT $0x3\t\n"
	p := &program{byName: map[string]int{}}
	if err := p.parse(strings.NewReader(listing)); err != nil {
		t.Fatal(err)
	}
	p.resolve()
	if len(p.funcs) != 2 {
		t.Fatalf("parsed %d functions, want 2", len(p.funcs))
	}
	a, b := p.funcs[0], p.funcs[1]
	if a.name != "main.a" || a.file != "/src/main.go" || a.start != 0x401000 || a.end != 0x401010 {
		t.Errorf("a = %+v", a)
	}
	if b.name != "main.b" || b.start != 0x401010 || b.end != 0x401016 {
		t.Errorf("b = %+v", b)
	}
	if len(a.sites) != 2 || a.sites[0].kind != siteCall || a.sites[0].callee != 1 || a.sites[1].kind != siteIndirect {
		t.Errorf("a.sites = %+v", a.sites)
	}
	if a.wbCheck == nil || a.wbCheck.pc != 0x401005 {
		t.Errorf("a.wbCheck = %+v", a.wbCheck)
	}
	if len(b.sites) != 1 || b.sites[0].kind != siteJump || b.sites[0].callee != 0 {
		t.Errorf("b.sites = %+v", b.sites)
	}
	if file, line := p.position(0x401000, "main.go:3"); file != "main.go" || line != 3 {
		t.Errorf("position without line table = %s:%d", file, line)
	}
	bad := []string{
		"  main.go:3\t\t0x401000\t\tc3\t\tRET\n",               // before TEXT
		"TEXT main.a /src/main.go\n",                           // no (SB)
		"TEXT main.a(SB) x\n  main.go:3\t\tzz\t\tc3\t\tRET\n",  // bad address
		"TEXT main.a(SB) x\n  main.go:3\t\t0x1\t\tq3\t\tRET\n", // bad bytes
	}
	for _, l := range bad {
		if err := (&program{}).parse(strings.NewReader(l)); err == nil {
			t.Errorf("parse(%q) succeeded", l)
		}
	}
}

func TestSymPackage(t *testing.T) {
	for _, tc := range []struct{ sym, pkg string }{
		{"runtime.(*m).foo.func1", "runtime"},
		{"hindsight/boot.trap", "hindsight/boot"},
		{"hindsight/boot.trap.abi0", "hindsight/boot"},
		{"internal/runtime/atomic.Load64", "internal/runtime/atomic"},
		{"example.com/x/y.(*T).M", "example.com/x/y"},
		{"hindsight/x.F[hindsight/y.T]", "hindsight/x"},
		{"gcWriteBarrier", ""},
	} {
		if got := symPackage(tc.sym); got != tc.pkg {
			t.Errorf("symPackage(%q) = %q, want %q", tc.sym, got, tc.pkg)
		}
	}
	for _, tc := range []struct {
		pkg, mod string
		std      bool
	}{
		{"runtime", "hindsight", true},
		{"internal/bytealg", "hindsight", true},
		{"hindsight", "hindsight", false},
		{"hindsight/boot", "hindsight", false},
		{"hindsightx/boot", "hindsight", true},
		{"main", "hindsight", false},
		{"golang.org/x/sys/unix", "hindsight", false},
		{"", "hindsight", true},
	} {
		if got := isStd(tc.pkg, tc.mod); got != tc.std {
			t.Errorf("isStd(%q, %q) = %v, want %v", tc.pkg, tc.mod, got, tc.std)
		}
	}
}

func TestGlobs(t *testing.T) {
	res, err := compileGlobs([]string{"runtime.gcWriteBarrier*", "runtime.morestack_noctxt", "internal/bytealg.*"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"runtime.gcWriteBarrier2":         true,
		"runtime.morestack_noctxt.abi0":   true,
		"runtime.morestack_noctxt":        true,
		"runtime.morestack_noctxtX":       false,
		"xruntime.gcWriteBarrier2":        false,
		"internal/bytealg.IndexByte.abi0": true,
		"internal/bytealgx.IndexByte":     false,
		"runtime.(*mheap).gcWriteBarrier": false,
	} {
		if got := matchName(res, name); got != want {
			t.Errorf("matchName(%q) = %v, want %v", name, got, want)
		}
	}
	if _, err := compileGlobs([]string{""}); err == nil {
		t.Error("empty pattern accepted")
	}
}

// TestDefaultsExist checks that the default lists name routines that
// exist in a Go 1.26 binary, so that a runtime rename cannot silently turn
// the check off.
func TestDefaultsExist(t *testing.T) {
	p := testProgramLoaded(t)
	for _, name := range []string{
		"runtime.mallocgc", "runtime.newobject", "runtime.makeslice", "runtime.growslice",
		"runtime.gcWriteBarrier1", "runtime.gcWriteBarrier8", "runtime.wbZero", "runtime.wbMove",
		"runtime.typedmemmove", "runtime.panicBounds", "runtime.morestack_noctxt.abi0",
		"runtime.memmove", "runtime.memclrNoHeapPointers",
	} {
		if _, ok := p.byName[name]; !ok {
			t.Errorf("%s not in the test binary", name)
		}
	}
	classes, err := p.classify(&Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]class{
		"runtime.mallocgc": classBanned, "runtime.gcWriteBarrier3": classBanned,
		"runtime.panicBounds": classWarn, "runtime.memmove": classAllowed,
		"runtime.morestack_noctxt.abi0": classAllowed, "main.cleanHelper": classFollow,
	} {
		if i, ok := p.byName[name]; ok && classes[i] != want {
			t.Errorf("class of %s = %d, want %d", name, classes[i], want)
		}
	}
}

func TestObjdumpFormat(t *testing.T) {
	// Guard against a change of the objdump output format: the functions
	// of the test program must all be found with plausible sites.
	p := testProgramLoaded(t)
	for _, name := range []string{"main.trapAlloc", "main.storeHelper", "main.irqAsmJump.abi0", "main.main"} {
		i, ok := p.byName[name]
		if !ok {
			t.Errorf("%s not found", name)
			continue
		}
		if f := p.funcs[i]; f.end <= f.start || len(f.sites) == 0 {
			t.Errorf("%s: range [%#x,%#x), %d sites", name, f.start, f.end, len(f.sites))
		}
	}
}
