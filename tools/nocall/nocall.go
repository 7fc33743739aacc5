// Package nocall checks that code running in trap, syscall or VM-exit
// context of the hypervisor neither allocates nor uses write barriers.
//
// It disassembles a linked Go binary with "go tool objdump", finds the
// functions whose names match the given patterns (the roots) and walks every
// call reachable from them: direct CALLs, tail-call JMPs and function values
// (LEAQ of a function or of a closure's funcval, assumed to be called).
// Calls to banned runtime routines (allocation, write barriers, goroutine
// and defer creation, ...) are errors, as is any read of the
// runtime.writeBarrier flag (a write barrier not done through a banned
// routine). Panic helpers are warnings: a failing bounds check in trap
// context is a bug, not an allocation. Known-safe leaf routines
// (memmove, ...) and runtime.morestack* are not followed; with
// Options.NoSplit, calls to runtime.morestack* (a stack-growth check, i.e.
// a function that is not //go:nosplit) are errors too.
//
// An indirect call (through a register or memory) is followed into the
// methods it may call through an interface declared in the main module
// (identified from the binary's build info): the methods in the binary's
// static itabs (symbols "go:itab.T,I") whose name is called with selector
// syntax on the call's source line, or all of them if that line cannot be
// read (assembly, a source file changed since the build). For an interface
// the binary may build itabs for at run time (a type assertion or type
// switch to it), every method of that name in the binary is followed. In
// the call chain such a callee reads
// "[itab hindsight/hv/dev.Device: *UART] hindsight/hv/dev.(*UART).In". What
// an indirect call may call besides (a func value, a method of a
// standard-library interface) is not checked: every indirect call is
// reported as a warning whose Note says what was followed.
//
// Warnings are only reported for instructions in functions outside the Go
// standard library (see Options.AllWarnings).
//
// Typical use from a test of the package that owns the handlers:
//
//	vs, err := nocall.Check("../build/hindsight.elf",
//		[]*regexp.Regexp{regexp.MustCompile(`^hindsight/boot\.(trap|syscall|sys[A-Z])`)}, nil)
//	if err != nil {
//		t.Fatal(err)
//	}
//	for _, v := range vs {
//		if v.Warning {
//			t.Log("warning:", v)
//		} else {
//			t.Error(v)
//		}
//	}
package nocall

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Kind says why an instruction was reported.
type Kind string

const (
	KindBanned            Kind = "banned call"         // call of a banned routine (error)
	KindWriteBarrierCheck Kind = "write barrier check" // read of runtime.writeBarrier (error)
	KindMorestack         Kind = "stack growth check"  // runtime.morestack* call with Options.NoSplit (error)
	KindPanic             Kind = "panic helper"        // call of a panic helper (warning)
	KindIndirect          Kind = "indirect call"       // call through a register or memory (warning; see Violation.Note)
)

// Violation is one reported instruction, reached from Root along Path.
type Violation struct {
	Root string
	// Path is the call chain: Path[0] is Root, Path[len-2] is the function
	// containing the instruction and Path[len-1] the callee (for
	// KindWriteBarrierCheck "runtime.writeBarrier", for KindIndirect the
	// instruction text). Function values taken are marked with a leading
	// "&", methods reached through an interface call with the itab, as in
	// "[itab hindsight/hv/dev.Device: *UART] hindsight/hv/dev.(*UART).In"
	// or "[run-time itab hindsight/hv/dev.Device] hindsight/x.T.In".
	Path    []string
	Kind    Kind
	Warning bool   // a warning rather than an error
	Note    string // for KindIndirect: which possible callees were checked and which not
	File    string // source position of the instruction
	Line    int
	PC      uint64
	Instr   string // the instruction as printed by objdump
}

// String formats v as "caller -> ... -> callee at file:line [kind]", or
// "[kind: note]" if v has a Note.
func (v Violation) String() string {
	kind := string(v.Kind)
	if v.Note != "" {
		kind += ": " + v.Note
	}
	return fmt.Sprintf("%s at %s:%d [%s]", strings.Join(v.Path, " -> "), v.File, v.Line, kind)
}

// Options configures Check. The zero value (or a nil *Options) uses the
// defaults.
type Options struct {
	// Banned, Warn and Allowed are name patterns in which '*' matches any
	// run of characters. A pattern matches a function if it matches its
	// symbol name with or without the ".abi0" suffix of assembly
	// functions. Allowed wins over Banned (an explicit exception), Banned
	// over Warn. A nil slice means the default list; to extend a list,
	// append to the default.
	Banned  []string // calls are errors; not followed
	Warn    []string // calls are warnings; not followed
	Allowed []string // known-safe; neither reported nor followed

	// NoSplit also reports calls of runtime.morestack* (stack growth
	// checks, i.e. callers that are not //go:nosplit) as errors, whatever
	// Allowed says.
	NoSplit bool

	// IgnoreIndirect suppresses the warnings for indirect calls. The
	// interface methods they may call are still checked.
	IgnoreIndirect bool

	// AllWarnings also reports warnings (panic helpers, indirect calls) in
	// functions of the Go standard library, which are suppressed by
	// default: the runtime is full of bounds checks and throws that are
	// not actionable. Errors are always reported wherever they are.
	AllWarnings bool

	// GoCmd is the go command used to run "go tool objdump"; "go" if empty.
	GoCmd string
}

// DefaultBanned lists the routines that allocate, run write barriers or
// create goroutines/defers.
var DefaultBanned = []string{
	// allocation
	"runtime.mallocgc*", "runtime.newobject*", "runtime.newarray", "runtime.makeslice*",
	"runtime.growslice", "runtime.makemap*", "runtime.mapassign*", "runtime.makechan*",
	"runtime.convT*", "runtime.concatstring*", "runtime.concatbyte*",
	"runtime.slicebytetostring", "runtime.slicerunetostring", "runtime.stringtoslicebyte",
	"runtime.stringtoslicerune", "runtime.intstring", "runtime.rawstring*",
	"runtime.rawbyteslice", "runtime.rawruneslice",
	// write barriers
	"runtime.gcWriteBarrier*", "gcWriteBarrier", "runtime.wbZero", "runtime.wbMove",
	"runtime.typedmemmove", "runtime.typedslicecopy", "runtime.typedmemclr",
	"runtime.memclrHasPointers", "runtime.bulkBarrierPreWrite*",
	// goroutines and defers
	"runtime.newproc*", "runtime.deferproc*",
}

// DefaultWarn lists the panic helpers. Reaching one means a bounds check,
// nil check, division or conversion can fail, which is a bug but not an
// allocation in the non-failing path.
var DefaultWarn = []string{
	"runtime.panic*", "runtime.goPanic*", "runtime.gopanic", "runtime.throw", "runtime.fatal",
}

// DefaultAllowed lists leaf routines that neither allocate nor use write
// barriers, and the stack-growth check (see Options.NoSplit).
var DefaultAllowed = []string{
	"runtime.memmove", "runtime.memclrNoHeapPointers", "runtime.memequal*",
	"runtime.cmpstring", "internal/bytealg.*", "runtime.duffzero", "runtime.duffcopy",
	"runtime.procyield", "runtime.publicationBarrier",
	"runtime.morestack*",
}

// morestack matches the stack-growth routines called by function prologues.
const morestack = "runtime.morestack*"

const abi0Suffix = ".abi0"

// Check disassembles binary and reports the banned calls, write barrier
// checks, panic helper calls and indirect calls reachable from the functions
// whose symbol names (with or without the ".abi0" suffix) match any of funcs.
// Every pattern must match at least one function, so that renaming a
// handler cannot silently disable the check. A compiler-generated ABI0
// wrapper of a matched function is not checked separately. Violations are sorted by root;
// for each root they come in breadth-first order (shortest chains first),
// one per instruction.
func Check(binary string, funcs []*regexp.Regexp, opts *Options) ([]Violation, error) {
	if opts == nil {
		opts = &Options{}
	}
	if len(funcs) == 0 {
		return nil, fmt.Errorf("nocall: no function patterns given")
	}
	goCmd := opts.GoCmd
	if goCmd == "" {
		goCmd = "go"
	}
	p, err := load(binary, goCmd)
	if err != nil {
		return nil, fmt.Errorf("nocall: %w", err)
	}
	defer p.close()
	return p.check(funcs, opts)
}

// class of a function as a callee.
type class uint8

const (
	classFollow class = iota
	classBanned
	classMorestack
	classWarn
	classAllowed
)

func (p *program) classify(opts *Options) ([]class, error) {
	banned := orDefault(opts.Banned, DefaultBanned)
	warn := orDefault(opts.Warn, DefaultWarn)
	allowed := orDefault(opts.Allowed, DefaultAllowed)
	bm, err := compileGlobs(banned)
	if err != nil {
		return nil, err
	}
	wm, err := compileGlobs(warn)
	if err != nil {
		return nil, err
	}
	am, err := compileGlobs(allowed)
	if err != nil {
		return nil, err
	}
	ms, _ := compileGlobs([]string{morestack})
	classes := make([]class, len(p.funcs))
	for i, f := range p.funcs {
		switch {
		case opts.NoSplit && matchName(ms, f.name):
			classes[i] = classMorestack
		case matchName(am, f.name):
			classes[i] = classAllowed
		case matchName(bm, f.name):
			classes[i] = classBanned
		case matchName(wm, f.name):
			classes[i] = classWarn
		}
	}
	return classes, nil
}

func (p *program) check(funcs []*regexp.Regexp, opts *Options) ([]Violation, error) {
	classes, err := p.classify(opts)
	if err != nil {
		return nil, err
	}
	var roots []int
	for _, re := range funcs {
		n := 0
		for i, f := range p.funcs {
			if matchName([]*regexp.Regexp{re}, f.name) {
				roots = append(roots, i)
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("nocall: pattern %q matches no function in the binary", re)
		}
	}
	slices.Sort(roots)
	roots = slices.Compact(roots)
	// An ABI0 wrapper of a root (generated when assembly calls a Go
	// handler) only repeats the root's violations: drop it.
	isRoot := map[string]bool{}
	for _, r := range roots {
		isRoot[p.funcs[r].name] = true
	}
	roots = slices.DeleteFunc(roots, func(r int) bool {
		f := p.funcs[r]
		base, ok := strings.CutSuffix(f.name, abi0Suffix)
		return ok && f.file == "<autogenerated>" && isRoot[base]
	})
	sort.SliceStable(roots, func(i, j int) bool { return p.funcs[roots[i]].name < p.funcs[roots[j]].name })

	var out []Violation
	for _, r := range roots {
		out = append(out, p.walk(r, classes, opts)...)
	}
	return out, nil
}

// walk does a breadth-first search of the functions reachable from root.
// An indirect call is followed into the methods it may call through the
// itabs of main-module interfaces (see indirectTargets).
func (p *program) walk(root int, classes []class, opts *Options) []Violation {
	type edge struct {
		from int
		name string // the callee's element of the chain
	}
	parent := map[int]edge{root: {from: -1, name: p.funcs[root].name}}
	chain := func(f int) []string {
		var rev []string
		for ; f >= 0; f = parent[f].from {
			rev = append(rev, parent[f].name)
		}
		slices.Reverse(rev)
		return rev
	}
	var out []Violation
	report := func(f int, s *site, kind Kind, warning bool, callee, note string) {
		file, line := p.position(s.pc, s.pos)
		out = append(out, Violation{
			Root: p.funcs[root].name, Path: append(chain(f), callee), Kind: kind, Warning: warning,
			Note: note, File: file, Line: line, PC: s.pc, Instr: s.instr,
		})
	}
	queue := []int{root}
	// visit handles callee, named label in the chain, reached from f at
	// s. It reports whether callee is banned.
	visit := func(f int, s *site, callee int, label string, warnHere bool) bool {
		switch classes[callee] {
		case classBanned:
			report(f, s, KindBanned, false, label, "")
			return true
		case classMorestack:
			report(f, s, KindMorestack, false, label, "")
		case classWarn:
			if warnHere {
				report(f, s, KindPanic, true, label, "")
			}
		case classFollow:
			if _, seen := parent[callee]; !seen {
				parent[callee] = edge{from: f, name: label}
				queue = append(queue, callee)
			}
		}
		return false
	}
	for len(queue) > 0 {
		fi := queue[0]
		queue = queue[1:]
		f := p.funcs[fi]
		directBanned := false
		warnHere := opts.AllWarnings || !p.std[fi]
		for i := range f.sites {
			s := &f.sites[i]
			if s.kind == siteIndirect {
				targets, note := p.indirectTargets(fi, s)
				for _, t := range targets {
					visit(fi, s, t.fn, t.label, warnHere)
				}
				if warnHere && !opts.IgnoreIndirect {
					report(fi, s, KindIndirect, true, "("+s.instr+")", note)
				}
				continue
			}
			callee := p.funcs[s.callee].name
			if s.kind == siteFuncRef {
				callee = "&" + callee
			}
			if visit(fi, s, s.callee, callee, warnHere) {
				directBanned = true
			}
		}
		// The compiler tests runtime.writeBarrier right before calling a
		// gcWriteBarrier routine; report the test only if it is not
		// accompanied by a banned call (e.g. runtime.atomicwb, which uses
		// the write barrier buffer directly).
		if f.wbCheck != nil && !directBanned {
			report(fi, f.wbCheck, KindWriteBarrierCheck, false, "runtime.writeBarrier", "")
		}
	}
	return out
}

// Errors returns the violations that are not warnings.
func Errors(vs []Violation) []Violation {
	return slices.DeleteFunc(slices.Clone(vs), func(v Violation) bool { return v.Warning })
}

func orDefault(s, def []string) []string {
	if s == nil {
		return def
	}
	return s
}

// compileGlobs turns patterns where '*' matches any run of characters into
// anchored regexps.
func compileGlobs(globs []string) ([]*regexp.Regexp, error) {
	res := make([]*regexp.Regexp, 0, len(globs))
	for _, g := range globs {
		if g == "" {
			return nil, fmt.Errorf("nocall: empty name pattern")
		}
		parts := strings.Split(g, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		res = append(res, regexp.MustCompile("^"+strings.Join(parts, ".*")+"$"))
	}
	return res, nil
}

// matchName reports whether any of res matches name or name without the
// ".abi0" suffix.
func matchName(res []*regexp.Regexp, name string) bool {
	base, trimmed := strings.CutSuffix(name, abi0Suffix)
	for _, re := range res {
		if re.MatchString(name) || (trimmed && re.MatchString(base)) {
			return true
		}
	}
	return false
}
