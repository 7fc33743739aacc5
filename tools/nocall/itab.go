package nocall

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Interface calls. An indirect call site cannot be followed by itself, but
// for the interfaces declared in the main module the possible callees are
// known: every non-empty interface value holds an itab, and the linker
// emits one (symbol "go:itab.T,I") for every conversion of a concrete type
// T to I in the program, with fun[] holding the code addresses of T's
// methods (for a value receiver, the (*T).M wrapper the linker generates).
// An itab built at run time (a type assertion or an interface-to-interface
// conversion to I of a type never statically converted to I) has no such
// symbol; the assertion's descriptor names I, and then any method of a
// matching name may be called.
//
// Layouts below are Go 1.26's (internal/abi): a changed size is an error,
// not a silent miss.

// itab is a static itab of a main-module interface.
type itab struct {
	iface   string   // the interface, e.g. "hindsight/hv/dev.Device"
	typ     string   // the concrete type, e.g. "*hindsight/hv/dev.UART"
	methods []int    // index into program.funcs of each live fun[] entry
	names   []string // the method name of each of methods
}

// runtimeItabs records a main-module interface for which the binary may
// build itabs at run time.
type runtimeItabs struct {
	iface   string   // e.g. "hindsight/hv/dev.Device"
	methods []string // its method names
	by      string   // the descriptor symbol of the assertion or type switch
}

// target is a possible callee of an indirect call and its name in a chain.
type target struct {
	fn    int
	label string
}

const (
	itabPrefix  = "go:itab."
	itabFunOff  = 24 // abi.ITab.Fun: after Inter, Type, Hash uint32 and 4 bytes of padding
	itabFunSize = 8  // one code pointer per method

	// abi.Type and abi.InterfaceType.
	typeTFlagOff      = 20
	typeKindOff       = 23
	typeStrOff        = 40 // NameOff of the type's string, e.g. "dev.Device"
	ifacePkgPathOff   = 48 // InterfaceType.PkgPath: *byte of a Name
	ifaceMethodsOff   = 56 // InterfaceType.Methods: []Imethod
	imethodSize       = 8  // Imethod{Name NameOff, Typ TypeOff}
	kindInterface     = 20
	tflagExtraStar    = 1 << 1
	typeAssertInter   = 8  // abi.TypeAssert.Inter, after Cache
	ifaceSwitchNCases = 8  // abi.InterfaceSwitch.NCases, after Cache
	ifaceSwitchCases  = 16 // abi.InterfaceSwitch.Cases
)

// label names method fn reached through t in a call chain, e.g.
// "[itab hindsight/hv/dev.Device: *UART] hindsight/hv/dev.(*UART).In"; the
// type is written without the interface's package qualifier.
func (t *itab) label(fn string) string {
	typ := t.typ
	stars := len(typ) - len(strings.TrimLeft(typ, "*"))
	if rest, ok := strings.CutPrefix(typ[stars:], symPackage(t.iface)+"."); ok {
		typ = typ[:stars] + rest
	}
	return fmt.Sprintf("[itab %s: %s] %s", t.iface, typ, fn)
}

// addItabs records the static itabs among syms whose interface is declared
// in the main module, mapping each fun[] entry to the function starting
// there, and the main-module interfaces that type assertions and type
// switches may build itabs for at run time. A zero fun[] entry is a method
// the linker found unreachable through any interface (a weak relocation),
// or the single entry of an itab whose type does not implement the
// interface: neither can be called.
func (p *program) addItabs(syms []elf.Symbol) error {
	starts := map[uint64]int{}
	for i, f := range p.funcs {
		starts[f.start] = i
	}
	var typesBase uint64
	for _, sym := range syms {
		if sym.Name == "runtime.types" {
			typesBase = sym.Value
		}
	}
	seen := map[string]bool{}
	for _, sym := range syms {
		switch {
		case strings.HasPrefix(sym.Name, itabPrefix):
			t, err := p.readItab(sym, starts)
			if err != nil {
				return err
			}
			if t != nil {
				p.itabs = append(p.itabs, t)
			}
		case strings.Contains(sym.Name, "..typeAssert.") || strings.Contains(sym.Name, "..interfaceSwitch."):
			inters, err := p.assertedInterfaces(sym)
			if err != nil {
				return err
			}
			for _, inter := range inters {
				r, err := p.readInterface(inter, typesBase)
				if err != nil {
					return fmt.Errorf("%s: %w", sym.Name, err)
				}
				if p.inMainModule(symPackage(r.iface)) && !seen[r.iface] {
					seen[r.iface] = true
					r.by = sym.Name
					p.runtimeItabs = append(p.runtimeItabs, r)
				}
			}
		}
	}
	sort.Slice(p.itabs, func(i, j int) bool {
		a, b := p.itabs[i], p.itabs[j]
		return a.iface < b.iface || (a.iface == b.iface && a.typ < b.typ)
	})
	sort.Slice(p.runtimeItabs, func(i, j int) bool { return p.runtimeItabs[i].iface < p.runtimeItabs[j].iface })
	return nil
}

// readItab reads the itab symbol sym, or returns nil if its interface is
// not the main module's or none of its methods is live.
func (p *program) readItab(sym elf.Symbol, starts map[uint64]int) (*itab, error) {
	typ, iface, ok := splitItabName(strings.TrimPrefix(sym.Name, itabPrefix))
	if !ok {
		return nil, fmt.Errorf("itab symbol %q: cannot tell the type from the interface", sym.Name)
	}
	if !p.inMainModule(symPackage(iface)) {
		return nil, nil
	}
	if sym.Size < itabFunOff+itabFunSize || (sym.Size-itabFunOff)%itabFunSize != 0 {
		return nil, fmt.Errorf("itab %s has %d bytes, not %d + %d per method: the itab layout is not Go 1.26's",
			sym.Name, sym.Size, itabFunOff, itabFunSize)
	}
	t := &itab{iface: iface, typ: typ}
	for off := uint64(itabFunOff); off < sym.Size; off += itabFunSize {
		pc, ok := p.word(sym.Value + off)
		if !ok {
			return nil, fmt.Errorf("itab %s at %#x is not in a loaded segment of the file", sym.Name, sym.Value)
		}
		if pc == 0 {
			continue
		}
		fn, ok := starts[pc]
		if !ok {
			return nil, fmt.Errorf("itab %s: method %d at %#x is not the start of a function",
				sym.Name, (off-itabFunOff)/itabFunSize, pc)
		}
		t.methods = append(t.methods, fn)
		t.names = append(t.names, methodName(p.funcs[fn].name))
	}
	if len(t.methods) == 0 {
		return nil, nil
	}
	return t, nil
}

// assertedInterfaces returns the interface type addresses in a type
// assertion (abi.TypeAssert) or interface type switch (abi.InterfaceSwitch)
// descriptor.
func (p *program) assertedInterfaces(sym elf.Symbol) ([]uint64, error) {
	bad := func() ([]uint64, error) {
		return nil, fmt.Errorf("descriptor %s at %#x (%d bytes) does not have Go 1.26's layout", sym.Name, sym.Value, sym.Size)
	}
	if strings.Contains(sym.Name, "..typeAssert.") {
		inter, ok := p.word(sym.Value + typeAssertInter)
		if !ok || sym.Size < typeAssertInter+8 || inter == 0 {
			return bad()
		}
		return []uint64{inter}, nil
	}
	n, ok := p.word(sym.Value + ifaceSwitchNCases)
	if !ok || sym.Size != ifaceSwitchCases+8*n {
		return bad()
	}
	var inters []uint64
	for i := range n {
		inter, ok := p.word(sym.Value + ifaceSwitchCases + 8*i)
		if !ok || inter == 0 {
			return bad()
		}
		inters = append(inters, inter)
	}
	return inters, nil
}

// readInterface reads the name and method names of the interface type
// descriptor at addr. Names are at offsets from typesBase (runtime.types).
func (p *program) readInterface(addr, typesBase uint64) (runtimeItabs, error) {
	var r runtimeItabs
	hdr, ok := p.read(addr, ifaceMethodsOff+16)
	if !ok || typesBase == 0 || hdr[typeKindOff] != kindInterface {
		return r, fmt.Errorf("no interface type descriptor at %#x", addr)
	}
	nameOff := func(off int32) (string, error) { return p.readName(typesBase + uint64(int64(off))) }
	str, err := nameOff(int32(binary.LittleEndian.Uint32(hdr[typeStrOff:])))
	if err != nil {
		return r, err
	}
	if hdr[typeTFlagOff]&tflagExtraStar != 0 {
		str = str[1:]
	}
	r.iface = str // an unnamed interface: "interface { M() }"
	if pkgName := binary.LittleEndian.Uint64(hdr[ifacePkgPathOff:]); pkgName != 0 {
		path, err := p.readName(pkgName)
		if err != nil {
			return r, err
		}
		// str is "pkgname.I": qualify I with the import path instead.
		_, local, _ := strings.Cut(str, ".")
		r.iface = path + "." + local
	}
	methods := binary.LittleEndian.Uint64(hdr[ifaceMethodsOff:])
	n := binary.LittleEndian.Uint64(hdr[ifaceMethodsOff+8:])
	for i := range n {
		off, ok := p.read(methods+i*imethodSize, 4)
		if !ok {
			return r, fmt.Errorf("interface %s: method table at %#x not in the file", r.iface, methods)
		}
		name, err := nameOff(int32(binary.LittleEndian.Uint32(off)))
		if err != nil {
			return r, err
		}
		r.methods = append(r.methods, name)
	}
	return r, nil
}

// readName decodes the abi.Name at addr: a flag byte, the length as a
// varint, the bytes.
func (p *program) readName(addr uint64) (string, error) {
	n, shift := uint64(0), 0
	for i := uint64(1); i <= 4; i++ {
		b, ok := p.read(addr+i, 1)
		if !ok {
			break
		}
		n |= uint64(b[0]&0x7f) << shift
		shift += 7
		if b[0]&0x80 == 0 {
			if s, ok := p.read(addr+1+i, n); ok {
				return string(s), nil
			}
			break
		}
	}
	return "", fmt.Errorf("no type name at %#x", addr)
}

// splitItabName splits the "T,I" of an itab symbol "go:itab.T,I" at the last
// comma outside brackets, braces, parentheses and quoted struct tags: the
// names of generic instances, struct and func types contain commas too.
func splitItabName(s string) (typ, iface string, ok bool) {
	depth, cut := 0, -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '(', '{':
			depth++
		case ']', ')', '}':
			depth--
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case ',':
			if depth == 0 {
				cut = i
			}
		}
	}
	if depth != 0 || cut <= 0 || cut == len(s)-1 {
		return "", "", false
	}
	return s[:cut], s[cut+1:], true
}

// inMainModule reports whether package pkg belongs to the main module (or
// is package main).
func (p *program) inMainModule(pkg string) bool {
	return pkg == "main" ||
		(p.mainMod != "" && (pkg == p.mainMod || strings.HasPrefix(pkg, p.mainMod+"/")))
}

// methodsNamed returns the functions of the binary that are methods named
// name (symbols "pkg.T.name", "pkg.(*T).name").
func (p *program) methodsNamed(name string) []int {
	if p.byMethod == nil {
		p.byMethod = map[string][]int{}
		for i, f := range p.funcs {
			pkg := symPackage(f.name)
			rest, ok := strings.CutPrefix(f.name, pkg+".")
			if ok && pkg != "" && strings.Contains(rest, ".") && !strings.HasSuffix(rest, "-fm") {
				m := methodName(f.name)
				p.byMethod[m] = append(p.byMethod[m], i)
			}
		}
	}
	return p.byMethod[name]
}

// indirectTargets returns the functions the indirect call s in function fi
// may call through an interface of the main module, and a note saying what
// was and was not resolved. The callees are the methods, in the static
// itabs, named as a method called on the call's source line (all of them
// if the line cannot be read), plus, for an interface with itabs built at
// run time, every method of the binary with the name of one of its methods.
func (p *program) indirectTargets(fi int, s *site) ([]target, string) {
	names, err := p.calledNames(fi, s)
	match := func(name string) bool { return err != nil || slices.Contains(names, name) }
	var out []target
	itabs, fns := 0, map[int]bool{}
	for _, t := range p.itabs {
		used := false
		for i, m := range t.methods {
			if match(t.names[i]) {
				out = append(out, target{m, t.label(p.funcs[m].name)})
				used, fns[m] = true, true
			}
		}
		if used {
			itabs++
		}
	}
	static := len(out)
	var dynamic []string
	for _, r := range p.runtimeItabs {
		for _, name := range r.methods {
			if !match(name) {
				continue
			}
			dynamic = append(dynamic, r.iface+"."+name+" ("+r.by+")")
			for _, m := range p.methodsNamed(name) {
				out = append(out, target{m, fmt.Sprintf("[run-time itab %s] %s", r.iface, p.funcs[m].name)})
			}
		}
	}

	mod := p.mainMod
	if mod == "" {
		mod = "main"
	}
	var note string
	switch {
	case err != nil:
		note = fmt.Sprintf("%v: followed into all %d method(s) in the %d itab(s) of %s interfaces", err, len(fns), itabs, mod)
	case len(names) == 0:
		note = "no method call on this line"
	case static == 0:
		note = fmt.Sprintf("calls %s: no method of that name in an itab of a %s interface", strings.Join(names, ", "), mod)
	default:
		note = fmt.Sprintf("calls %s: followed into %d method(s) in %d itab(s) of %s interfaces", strings.Join(names, ", "), len(fns), itabs, mod)
	}
	if len(dynamic) > 0 {
		note += fmt.Sprintf(", and into %d method(s) of any type for %s, whose itabs are built at run time",
			len(out)-static, strings.Join(dynamic, ", "))
	}
	return out, note + "; a func value or a method of another interface is not checked"
}
