package nocall

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplitItabName(t *testing.T) {
	for _, tc := range []struct {
		in, typ, iface string
		ok             bool
	}{
		{"*hindsight/hv/dev.UART,hindsight/hv/dev.Device", "*hindsight/hv/dev.UART", "hindsight/hv/dev.Device", true},
		{"main.G[int,string],main.I", "main.G[int,string]", "main.I", true},
		{"main.T,main.I[main.A,main.B]", "main.T", "main.I[main.A,main.B]", true},
		{`struct { A int "json:\"a,b\""; B func(int, int) },main.I`, `struct { A int "json:\"a,b\""; B func(int, int) }`, "main.I", true},
		{"*os.File,io.Writer", "*os.File", "io.Writer", true},
		{"main.T", "", "", false},
		{",main.I", "", "", false},
		{"main.T,", "", "", false},
		{"main.G[int,main.I", "", "", false},
	} {
		typ, iface, ok := splitItabName(tc.in)
		if typ != tc.typ || iface != tc.iface || ok != tc.ok {
			t.Errorf("splitItabName(%q) = %q, %q, %v; want %q, %q, %v", tc.in, typ, iface, ok, tc.typ, tc.iface, tc.ok)
		}
	}
}

func TestMethodName(t *testing.T) {
	for sym, want := range map[string]string{
		"hindsight/hv/dev.(*UART).In":             "In",
		"hindsight/hv/dev.UART.In":                "In",
		"hindsight/hv/dev.Device.In-fm":           "In",
		"main.(*G[go.shape.int]).Out":             "Out",
		"main.G[example.com/x.T].Out":             "Out",
		"hindsight/boot.trap.abi0":                "trap",
		"main.F":                                  "F",
		"gcWriteBarrier":                          "gcWriteBarrier",
		"main.(*G[example.com/x.T,main.U]).Close": "Close",
	} {
		if got := methodName(sym); got != want {
			t.Errorf("methodName(%q) = %q, want %q", sym, got, want)
		}
	}
	it := &itab{iface: "hindsight/hv/dev.Device", typ: "*hindsight/hv/dev.UART"}
	if got, want := it.label("hindsight/hv/dev.(*UART).In"),
		"[itab hindsight/hv/dev.Device: *UART] hindsight/hv/dev.(*UART).In"; got != want {
		t.Errorf("label = %q, want %q", got, want)
	}
	it = &itab{iface: "hindsight/ept.PageAlloc", typ: "hindsight/hv.eptAlloc"}
	if got, want := it.label("hindsight/hv.eptAlloc.Page"),
		"[itab hindsight/ept.PageAlloc: hindsight/hv.eptAlloc] hindsight/hv.eptAlloc.Page"; got != want {
		t.Errorf("label = %q, want %q", got, want)
	}
}

// image builds the data of a synthetic binary: words and bytes at virtual
// addresses of one segment.
type image struct {
	base uint64
	b    []byte
}

func (im *image) put(addr uint64, data ...byte) {
	off := int(addr - im.base)
	if need := off + len(data); need > len(im.b) {
		im.b = append(im.b, make([]byte, need-len(im.b))...)
	}
	copy(im.b[off:], data)
}

func (im *image) words(addr uint64, ws ...uint64) {
	for i, w := range ws {
		im.put(addr+8*uint64(i), binary.LittleEndian.AppendUint64(nil, w)...)
	}
}

func (im *image) u32(addr uint64, v uint32) {
	im.put(addr, binary.LittleEndian.AppendUint32(nil, v)...)
}

// name writes an abi.Name at addr.
func (im *image) name(addr uint64, s string) {
	im.put(addr, append([]byte{0, byte(len(s))}, s...)...)
}

// iface writes an interface type descriptor named str in package pkgPath
// (none if empty) with the given methods; names go after typesBase+nameOff.
func (im *image) iface(addr, typesBase, nameOff uint64, str, pkgPath string, methods ...string) {
	im.put(addr+typeKindOff, kindInterface)
	next := typesBase + nameOff
	im.name(next, str)
	im.u32(addr+typeStrOff, uint32(next-typesBase))
	next += 64
	if pkgPath != "" {
		im.name(next, pkgPath)
		im.words(addr+ifacePkgPathOff, next)
		next += 64
	}
	table := addr + 96
	im.words(addr+ifaceMethodsOff, table, uint64(len(methods)), uint64(len(methods)))
	for i, m := range methods {
		im.name(next, m)
		im.u32(table+uint64(i)*imethodSize, uint32(next-typesBase))
		next += 32
	}
}

func TestAddItabs(t *testing.T) {
	const (
		typesBase = 0x500000
		interI    = 0x500100 // main.I {In, Out}
		interErr  = 0x500200 // error
		interJ    = 0x500300 // main.J {Close}
	)
	fn := func(name string, start uint64) *function {
		return &function{name: name, start: start, end: start + 0x10}
	}
	p := &program{mainMod: "example.com/m", funcs: []*function{
		fn("main.(*T).In", 0x401000), fn("main.(*T).Out", 0x401010), fn("main.(*T).Error", 0x401020),
		fn("main.U.In", 0x401030), fn("example.com/m/sub.(*V).Out", 0x401040),
	}}
	im := &image{base: typesBase}
	im.iface(interI, typesBase, 0x1000, "main.I", "main", "In", "Out")
	im.iface(interErr, typesBase, 0x1200, "error", "")
	im.iface(interJ, typesBase, 0x1400, "*sub.J", "example.com/m/sub", "Close")
	im.put(interJ+typeTFlagOff, tflagExtraStar)
	syms := []elf.Symbol{{Name: "runtime.types", Value: typesBase}}
	itabAt := func(name string, addr uint64, funs ...uint64) {
		im.words(addr, interI, 0, 0)
		im.words(addr+itabFunOff, funs...)
		syms = append(syms, elf.Symbol{Name: itabPrefix + name, Value: addr, Size: itabFunOff + 8*uint64(len(funs))})
	}
	itabAt("*main.T,main.I", 0x502000, 0x401000, 0x401010)
	itabAt("main.U,main.I", 0x502100, 0x401030, 0) // Out is dead
	itabAt("*main.T,error", 0x502200, 0x401020)    // not the main module's
	itabAt("main.W,main.I", 0x502300, 0)           // W does not implement I
	itabAt("*example.com/m/sub.V,main.I", 0x502400, 0, 0x401040)
	im.words(0x503000, 0, interI, 1)           // main..typeAssert.0 to main.I
	im.words(0x503100, 0, 2, interErr, interJ) // main..interfaceSwitch.0: error, sub.J
	syms = append(syms,
		elf.Symbol{Name: "main..typeAssert.0", Value: 0x503000, Size: 24},
		elf.Symbol{Name: "example.com/m/sub..interfaceSwitch.0", Value: 0x503100, Size: 32})
	im.words(0x503200, 0, 0x502000, 0) // a typeAssert whose Inter is an itab
	p.data = []segment{{im.base, im.b}}

	if err := p.addItabs(syms); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range p.itabs {
		var ms []string
		for i, m := range it.methods {
			ms = append(ms, p.funcs[m].name+"="+it.names[i])
		}
		got = append(got, fmt.Sprintf("%s: %s %v", it.iface, it.typ, ms))
	}
	want := []string{
		"main.I: *example.com/m/sub.V [example.com/m/sub.(*V).Out=Out]",
		"main.I: *main.T [main.(*T).In=In main.(*T).Out=Out]",
		"main.I: main.U [main.U.In=In]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("itabs:\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	got = nil
	for _, r := range p.runtimeItabs {
		got = append(got, fmt.Sprintf("%s %v by %s", r.iface, r.methods, r.by))
	}
	want = []string{
		"example.com/m/sub.J [Close] by example.com/m/sub..interfaceSwitch.0",
		"main.I [In Out] by main..typeAssert.0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("runtime itabs:\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}

	// Broken inputs are errors that name the symbol, not silent misses.
	for _, tc := range []struct {
		sym  elf.Symbol
		want string
	}{
		{elf.Symbol{Name: itabPrefix + "*main.T,main.I", Value: 0x502000, Size: 28}, "layout"},
		{elf.Symbol{Name: itabPrefix + "*main.T,main.I", Value: 0x502004, Size: 32}, "not the start of a function"},
		{elf.Symbol{Name: itabPrefix + "*main.T,main.I", Value: 0x900000, Size: 32}, "not in a loaded segment"},
		{elf.Symbol{Name: itabPrefix + "main.I", Value: 0x502000, Size: 32}, "cannot tell"},
		{elf.Symbol{Name: "main..typeAssert.1", Value: 0x503200, Size: 24}, "no interface type descriptor"},
		{elf.Symbol{Name: "main..interfaceSwitch.1", Value: 0x503100, Size: 40}, "layout"},
	} {
		q := &program{mainMod: p.mainMod, funcs: p.funcs, data: p.data}
		err := q.addItabs(append([]elf.Symbol{{Name: "runtime.types", Value: typesBase}}, tc.sym))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.sym.Name) {
			t.Errorf("%s at %#x: err = %v, want %q", tc.sym.Name, tc.sym.Value, err, tc.want)
		}
	}
}

// TestIndirectWalk runs the walk over a hand-written listing whose indirect
// calls sit on lines of a real source file.
func TestIndirectWalk(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(`package main

func root(d I, f func()) uint32 {
	x := d.In(1)
	f()
	return x
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	listing := "TEXT main.root(SB) " + src + "\n" +
		"  " + src + ":4\t\t0x401000\t\tffd0\t\t\tCALL AX\t\n" +
		"  " + src + ":5\t\t0x401002\t\tffd1\t\t\tCALL CX\t\n" +
		"  main.go:6\t\t0x401004\t\tc3\t\t\tRET\t\n" +
		"TEXT main.(*T).In(SB) " + src + "\n" +
		"  main.go:20\t\t0x401010\t\te81b000000\t\tCALL runtime.mallocgc(SB)\t\n" + // -> 0x401030
		"  main.go:20\t\t0x401015\t\tc3\t\t\tRET\t\n" +
		"TEXT main.(*T).Out(SB) " + src + "\n" +
		"  main.go:30\t\t0x401020\t\te80b000000\t\tCALL runtime.mallocgc(SB)\t\n" +
		"  main.go:30\t\t0x401025\t\tc3\t\t\tRET\t\n" +
		"TEXT runtime.mallocgc(SB) /go/src/runtime/malloc.go\n" +
		"  malloc.go:1\t\t0x401030\t\tc3\t\t\tRET\t\n" +
		"TEXT main.stub(SB) /src/stub_amd64.s\n" +
		"  stub_amd64.s:3\t\t0x401040\t\tffd0\t\t\tCALL AX\t\n"
	load := func(builtAt time.Time) *program {
		p := &program{byName: map[string]int{}, builtAt: builtAt}
		if err := p.parse(strings.NewReader(listing)); err != nil {
			t.Fatal(err)
		}
		p.resolve()
		p.std = make([]bool, len(p.funcs))
		for i, f := range p.funcs {
			p.std[i] = isStd(symPackage(f.name), "")
		}
		in, out := p.byName["main.(*T).In"], p.byName["main.(*T).Out"]
		p.itabs = []*itab{{iface: "main.I", typ: "*main.T", methods: []int{in, out}, names: []string{"In", "Out"}}}
		return p
	}
	// The source predates the binary: the line of the first call names
	// In, the second calls a func value.
	p := load(time.Now().Add(time.Hour))
	vs, err := p.check(res(`^main\.root$`), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("violations:\n%s", dump(vs))
	errs := Errors(vs)
	if len(errs) != 1 || !slices.Equal(errs[0].Path, []string{"main.root", "[itab main.I: *T] main.(*T).In", "runtime.mallocgc"}) {
		t.Errorf("errors:\n%swant one: main.root -> [itab main.I: *T] main.(*T).In -> runtime.mallocgc", dump(errs))
	}
	var notes []string
	for _, v := range vs {
		if v.Kind == KindIndirect {
			notes = append(notes, fmt.Sprintf("%d: %s", v.Line, v.Note))
		}
	}
	const rest = "; a func value or a method of another interface is not checked"
	if want := []string{
		"4: calls In: followed into 1 method(s) in 1 itab(s) of main interfaces" + rest,
		"5: no method call on this line" + rest,
	}; !slices.Equal(notes, want) {
		t.Errorf("notes:\n\t%s\nwant\n\t%s", strings.Join(notes, "\n\t"), strings.Join(want, "\n\t"))
	}

	// A source file newer than the binary may not match it: every method
	// of every itab is followed, and the note says why.
	p = load(time.Now().Add(-time.Hour))
	vs, err = p.check(res(`^main\.root$`), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e := Errors(vs); len(e) != 2 {
		t.Errorf("stale source: errors:\n%swant both methods followed", dump(e))
	}
	for _, v := range vs {
		if v.Kind == KindIndirect && !strings.Contains(v.Note, "changed after the binary was built: followed into all 2 method(s) in the 1 itab(s)") {
			t.Errorf("stale source: note %q", v.Note)
		}
	}

	// Assembly has no method names: all itabs again.
	vs, err = p.check(res(`^main\.stub$`), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e := Errors(vs); len(e) != 2 || len(vs) != 3 || !strings.HasPrefix(vs[0].Note, "not Go source") {
		t.Errorf("assembly:\n%s", dump(vs))
	}
}

// ifaceBinary builds testdata/iface with the given build tags, with the flags
// the hypervisor image is built with.
func ifaceBinary(t *testing.T, tags string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "iface"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "iface.elf")
	cmd := exec.Command("go", "build", "-tags", tags, "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64",
		"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %q: %v\n%s", tags, err, out)
	}
	return bin
}

// ifaceMarker returns the line of testdata/iface/file carrying "// @name".
func ifaceMarker(t *testing.T, file, name string) int {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "iface", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.HasSuffix(sc.Text(), "// @"+name) {
			return n
		}
	}
	t.Fatalf("marker %s not in %s", name, file)
	return 0
}

// TestInterfaceCalls is the end-to-end test: the roots of testdata/iface
// call Device methods through the interface; an allocating implementation
// is reported through its itab (static or built at run time), and without
// one there is no error. The three builds run in parallel.
func TestInterfaceCalls(t *testing.T) {
	check := func(t *testing.T, tags string) []Violation {
		vs, err := Check(ifaceBinary(t, tags), res(`^main\.trap`), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("violations:\n%s", dump(vs))
		for _, v := range vs {
			for _, fn := range v.Path {
				if strings.Contains(fn, "heapLogger") {
					t.Errorf("Logger.Log followed though no root calls Log: %v", v)
				}
			}
		}
		return vs
	}
	t.Run("clean", func(t *testing.T) {
		t.Parallel()
		vs := check(t, "")
		if e := Errors(vs); len(e) != 0 {
			t.Errorf("errors without an allocating Device:\n%s", dump(e))
		}
		// The wrappers were followed: the value methods of Quiet and the
		// promoted methods of Mirror, from both roots.
		reached := map[string]bool{}
		for _, v := range vs {
			for _, fn := range v.Path {
				reached[v.Root+": "+fn] = true
			}
		}
		for _, want := range []string{
			"main.trapOut: [itab main.Device: Quiet] main.(*Quiet).Out",
			"main.trapOut: [itab main.Device: Mirror] main.(*Mirror).Out",
			"main.trapIn: &main.Device.In-fm",
			"main.trapIn: [itab main.Device: Quiet] main.(*Quiet).In",
		} {
			if !reached[want] {
				t.Errorf("no violation's path goes through %s", want)
			}
		}
		for _, v := range vs {
			if v.Kind == KindIndirect && v.Path[len(v.Path)-2] == "main.trapOut" &&
				!strings.HasPrefix(v.Note, "calls Out: followed into 2 method(s) in 2 itab(s) of example.com/ifacetest interfaces;") {
				t.Errorf("trapOut's interface call: note %q", v.Note)
			}
		}
	})
	t.Run("alloc", func(t *testing.T) {
		t.Parallel()
		e := Errors(check(t, "alloc"))
		line := ifaceMarker(t, "alloc.go", "alloc")
		if len(e) == 0 {
			t.Fatalf("no error for the allocating Buffered.Out")
		}
		for _, v := range e {
			if v.Root != "main.trapOut" || len(v.Path) != 3 ||
				v.Path[1] != "[itab main.Device: *Buffered] main.(*Buffered).Out" ||
				filepath.Base(v.File) != "alloc.go" || v.Line != line {
				t.Errorf("error %v, want main.trapOut -> [itab main.Device: *Buffered] main.(*Buffered).Out -> ... at alloc.go:%d", v, line)
			}
		}
	})
	t.Run("assert", func(t *testing.T) {
		t.Parallel()
		vs := check(t, "assert")
		e := Errors(vs)
		line := ifaceMarker(t, "assert.go", "assert")
		if len(e) == 0 {
			t.Fatalf("no error for the allocating Boxed.Out")
		}
		for _, v := range e {
			if v.Root != "main.trapOut" || !strings.HasPrefix(v.Path[1], "[run-time itab main.Device] main.") ||
				!strings.HasSuffix(v.Path[1], "Boxed).Out") && !strings.HasSuffix(v.Path[1], "Boxed.Out") ||
				v.Line != line {
				t.Errorf("error %v, want main.trapOut -> [run-time itab main.Device] main.Boxed.Out -> ... at assert.go:%d", v, line)
			}
		}
		for _, v := range vs {
			if v.Kind == KindIndirect && v.Path[len(v.Path)-2] == "main.trapOut" &&
				!strings.Contains(v.Note, "main.Device.Out (main..typeAssert.0), whose itabs are built at run time") {
				t.Errorf("trapOut's interface call: note %q", v.Note)
			}
		}
	})
}
