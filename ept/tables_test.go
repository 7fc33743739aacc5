package ept

import (
	"errors"
	"strings"
	"testing"
)

const (
	testA      = 0x1000_0000 // primary's RAM at host-physical A
	testOffset = 0x0400_0000 // backup at A + OFFSET
	mib        = 1 << 20
)

// Bochs 2.7 skylake_x IA32_VMX_EPT_VPID_CAP (design/bochs-vmx.md).
const bochsEPTCap = 0x00000f0106334141

var allCaps = CapsFromMSR(bochsEPTCap)

func newArena() *Arena { return NewArena(0x100_0000_0000, 1<<16) }

// checkOffset verifies that every 4 KiB page of [0, size) translates to
// base + gpa with rights p.
func checkOffset(t *testing.T, tb *Tables, size, base uint64, p Perm, wantPage uint64) {
	t.Helper()
	for gpa := uint64(0); gpa < size; gpa += Size4K {
		hpa, perm, ps, ok := tb.Translate(gpa + 0x123)
		if !ok || hpa != base+gpa+0x123 || perm != p || (wantPage != 0 && ps != wantPage) {
			t.Fatalf("Translate(%#x) = %#x %v %#x %v, want %#x %v page %#x",
				gpa+0x123, hpa, perm, ps, ok, base+gpa+0x123, p, wantPage)
		}
	}
}

func TestCapsFromMSRBochs(t *testing.T) {
	c := CapsFromMSR(bochsEPTCap)
	want := Caps{ExecuteOnly: true, WalkLength4: true, UC: true, WB: true, Pages2M: true, Pages1G: true,
		InvEPT: true, AccessedDirty: true, InvEPTSingle: true, InvEPTAll: true}
	if c != want {
		t.Fatalf("CapsFromMSR = %+v, want %+v", c, want)
	}
}

func TestPrimaryAndBackupOffsetMapping(t *testing.T) {
	a := newArena()
	const size = 64 * mib
	prim, err := Build(a, allCaps, Layout{Size: size, HostBase: testA})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Build(a, allCaps, Layout{Size: size, HostBase: testA + testOffset})
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB at 2 MiB alignment: 1 PML4 + 1 PDPT + 1 PD.
	for _, tb := range []*Tables{prim, back} {
		if tb.TablePages() != 3 {
			t.Errorf("table pages = %d, want 3", tb.TablePages())
		}
		s := tb.Stats()
		if s.Tables != [5]int{0, 0, 1, 1, 1} || s.Leaves[2] != 32 || s.Mapped != size {
			t.Errorf("stats = %+v", s)
		}
	}
	if a.InUse() != 6 {
		t.Errorf("arena frames in use = %d, want 6", a.InUse())
	}
	checkOffset(t, prim, size, testA, RWX, Size2M)
	checkOffset(t, back, size, testA+testOffset, RWX, Size2M)
	for _, tb := range []*Tables{prim, back} {
		if _, _, _, ok := tb.Translate(size); ok {
			t.Errorf("GPA %#x beyond RAM translates", uint64(size))
		}
		e, _, _ := tb.Leaf(0x1000)
		if e&MemTypeMask != uint64(WB)<<MemTypeShift || e&IgnorePAT != 0 || e&PageSize == 0 {
			t.Errorf("leaf entry %#x: want WB, PAT honoured, page size set", e)
		}
		if tb.NeedsInvalidation() {
			t.Error("fresh tables need INVEPT")
		}
	}
}

func TestMisalignedBaseForces4K(t *testing.T) {
	a := newArena()
	const size = 64 * mib
	base := uint64(testA + 0x1000)
	tb, err := Build(a, allCaps, Layout{Size: size, HostBase: base})
	if err != nil {
		t.Fatal(err)
	}
	// 1 PML4 + 1 PDPT + 1 PD + 32 page tables.
	if tb.TablePages() != 35 || a.InUse() != 35 {
		t.Fatalf("table pages = %d (arena %d), want 35", tb.TablePages(), a.InUse())
	}
	checkOffset(t, tb, size, base, RWX, Size4K)
}

func TestLargePageCapabilities(t *testing.T) {
	cases := []struct {
		name       string
		caps       Caps
		pages      int
		leafLevel  int
		leafCount  int
		wantPageSz uint64
	}{
		{"1G", Caps{Pages2M: true, Pages1G: true}, 2, 3, 2, Size1G},
		{"2M only", Caps{Pages2M: true}, 4, 2, 1024, Size2M},
		{"4K only", Caps{}, 1 + 1 + 2 + 1024, 1, 1 << 19, Size4K},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb, err := New(newArena(), c.caps)
			if err != nil {
				t.Fatal(err)
			}
			if err := tb.Map(0, Size1G, 2*Size1G, RWX, WB); err != nil {
				t.Fatal(err)
			}
			s := tb.Stats()
			if tb.TablePages() != c.pages || s.Leaves[c.leafLevel] != c.leafCount {
				t.Fatalf("pages %d leaves %v, want %d pages and %d leaves at level %d",
					tb.TablePages(), s.Leaves, c.pages, c.leafCount, c.leafLevel)
			}
			for _, gpa := range []uint64{0, 0x1234_5678, 2*Size1G - 1} {
				hpa, _, ps, ok := tb.Translate(gpa)
				if !ok || hpa != Size1G+gpa || ps != c.wantPageSz {
					t.Errorf("Translate(%#x) = %#x page %#x %v", gpa, hpa, ps, ok)
				}
			}
		})
	}
}

func TestHolePunchedInto2MPage(t *testing.T) {
	a := newArena()
	tb, err := Build(a, allCaps, Layout{Size: 64 * mib, HostBase: testA})
	if err != nil {
		t.Fatal(err)
	}
	// The legacy VGA/BIOS window 0xA0000-0xFFFFF, left unmapped so it exits.
	if err := tb.Unmap(0xA0000, 0x60000); err != nil {
		t.Fatal(err)
	}
	if tb.TablePages() != 4 || a.InUse() != 4 {
		t.Fatalf("table pages = %d (arena %d), want 4 (one PT from the split)", tb.TablePages(), a.InUse())
	}
	if !tb.NeedsInvalidation() {
		t.Error("Unmap did not ask for INVEPT")
	}
	for gpa := uint64(0); gpa < 4*mib; gpa += Size4K {
		hpa, _, ps, ok := tb.Translate(gpa)
		switch {
		case gpa >= 0xA0000 && gpa < 0x100000:
			if ok {
				t.Fatalf("hole page %#x translates to %#x", gpa, hpa)
			}
		case gpa < Size2M:
			if !ok || hpa != testA+gpa || ps != Size4K {
				t.Fatalf("split page %#x: %#x %#x %v", gpa, hpa, ps, ok)
			}
		default:
			if !ok || hpa != testA+gpa || ps != Size2M {
				t.Fatalf("large page %#x: %#x %#x %v", gpa, hpa, ps, ok)
			}
		}
	}
	// Re-mapping the hole fills the page table; it stays 4K pages.
	tb.Invalidated()
	if err := tb.Map(0xA0000, testA+0xA0000, 0x60000, RWX, WB); err != nil {
		t.Fatal(err)
	}
	if tb.NeedsInvalidation() {
		t.Error("filling a hole asked for INVEPT")
	}
	checkOffset(t, tb, 64*mib, testA, RWX, 0)
	// Mapping the whole 2 MiB again replaces the page table by a leaf.
	if err := tb.Map(0, testA, Size2M, RWX, WB); err != nil {
		t.Fatal(err)
	}
	if tb.TablePages() != 3 || a.InUse() != 3 {
		t.Fatalf("after re-mapping 2M: %d table pages (arena %d), want 3", tb.TablePages(), a.InUse())
	}
	checkOffset(t, tb, 64*mib, testA, RWX, Size2M)
}

func TestLayoutWithHoles(t *testing.T) {
	a := newArena()
	holes := []Range{{0x3000000, Size2M}, {0xA0000, 0x60000}, {0xC0000, 0x10000}}
	tb, err := Build(a, allCaps, Layout{Size: 64 * mib, HostBase: testA + testOffset, Holes: holes})
	if err != nil {
		t.Fatal(err)
	}
	// Mapped around the holes: no split was needed, so no INVEPT owed.
	if tb.NeedsInvalidation() {
		t.Error("Build asked for INVEPT")
	}
	if tb.TablePages() != 4 {
		t.Errorf("table pages = %d, want 4", tb.TablePages())
	}
	for gpa := uint64(0); gpa < 64*mib; gpa += Size4K {
		inHole := false
		for _, h := range holes {
			inHole = inHole || (gpa >= h.Start && gpa < h.Start+h.Size)
		}
		hpa, _, _, ok := tb.Translate(gpa)
		if ok == inHole || (ok && hpa != testA+testOffset+gpa) {
			t.Fatalf("gpa %#x: hpa %#x ok %v, hole %v", gpa, hpa, ok, inHole)
		}
	}
	if s := tb.Stats(); s.Mapped != 64*mib-0x60000-Size2M {
		t.Errorf("mapped %#x", s.Mapped)
	}
}

func TestUnmapFreesEmptyTables(t *testing.T) {
	a := newArena()
	tb, _ := New(a, allCaps)
	const far = 0x80_0000_0000 + 5*Size1G + 3*Size2M // second PML4 entry
	if err := tb.Map(far, 0x2000_0000, 3*Size4K, RW, WB); err != nil {
		t.Fatal(err)
	}
	if tb.TablePages() != 4 {
		t.Fatalf("pages = %d, want 4", tb.TablePages())
	}
	if err := tb.Unmap(far+Size4K, Size4K); err != nil {
		t.Fatal(err)
	}
	if tb.TablePages() != 4 {
		t.Fatalf("pages after partial unmap = %d, want 4", tb.TablePages())
	}
	if err := tb.Unmap(0, maxGPA); err != nil {
		t.Fatal(err)
	}
	if tb.TablePages() != 1 || a.InUse() != 1 {
		t.Fatalf("pages after full unmap = %d (arena %d), want 1", tb.TablePages(), a.InUse())
	}
}

func TestPermissionsAndMemoryTypes(t *testing.T) {
	tb, _ := New(newArena(), Caps{Pages2M: true})
	if err := tb.Map(0, testA, 4*mib, RW, WB|IPAT); err != nil {
		t.Fatal(err)
	}
	e, ps, ok := tb.Leaf(0)
	want := uint64(testA) | Read | Write | uint64(WB)<<MemTypeShift | IgnorePAT | PageSize
	if !ok || e != want || ps != Size2M {
		t.Fatalf("2M leaf = %#x (page %#x), want %#x", e, ps, want)
	}
	if err := tb.Map(0x1000_0000, 0xFEC0_0000, Size4K, RW, UC|IPAT); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := tb.Leaf(0x1000_0000); e != 0xFEC0_0000|Read|Write|uint64(UC)<<MemTypeShift|IgnorePAT {
		t.Fatalf("4K UC leaf = %#x", e)
	}

	// Make one page read-only, one executable: the 2 MiB page is split,
	// the rest keeps RW.
	tb.Invalidated()
	if err := tb.Protect(0x5000, Size4K, R); err != nil {
		t.Fatal(err)
	}
	if !tb.NeedsInvalidation() {
		t.Error("removing write did not ask for INVEPT")
	}
	tb.Invalidated()
	if err := tb.Protect(0x6000, Size4K, RWX); err != nil {
		t.Fatal(err)
	}
	// The 2 MiB page was already split; adding a right needs no INVEPT.
	if tb.NeedsInvalidation() {
		t.Error("adding execute asked for INVEPT")
	}
	for _, c := range []struct {
		gpa  uint64
		perm Perm
		ps   uint64
	}{{0x4000, RW, Size4K}, {0x5000, R, Size4K}, {0x6000, RWX, Size4K}, {0x20_0000, RW, Size2M}} {
		hpa, p, ps, ok := tb.Translate(c.gpa)
		if !ok || hpa != testA+c.gpa || p != c.perm || ps != c.ps {
			t.Errorf("Translate(%#x) = %#x %v %#x %v, want %v page %#x", c.gpa, hpa, p, ps, ok, c.perm, c.ps)
		}
	}
	if e, _, _ := tb.Leaf(0x5000); e&(MemTypeMask|IgnorePAT) != uint64(WB)<<MemTypeShift|IgnorePAT || e&PageSize != 0 {
		t.Errorf("split PTE lost its memory type or kept PS: %#x", e)
	}
	// Protect skips holes.
	if err := tb.Protect(0x3000_0000, Size2M, R); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := tb.Translate(0x3000_0000); ok {
		t.Error("Protect created a mapping in a hole")
	}

	errCases := []struct {
		name string
		err  error
		f    func() error
	}{
		{"write-only", ErrPerm, func() error { return tb.Map(0, 0, Size4K, W, WB) }},
		{"no rights", ErrPerm, func() error { return tb.Map(0, 0, Size4K, 0, WB) }},
		{"execute-only without capability", ErrPerm, func() error { return tb.Map(0, 0, Size4K, X, WB) }},
		{"reserved memory type 2", ErrMemType, func() error { return tb.Map(0, 0, Size4K, R, 2) }},
		{"reserved memory type 7", ErrMemType, func() error { return tb.Map(0, 0, Size4K, R, 7) }},
		{"misaligned gpa", ErrAlign, func() error { return tb.Map(0x800, 0, Size4K, R, WB) }},
		{"misaligned hpa", ErrAlign, func() error { return tb.Map(0, 0x800, Size4K, R, WB) }},
		{"misaligned size", ErrAlign, func() error { return tb.Unmap(0, 0x800) }},
		{"beyond 48 bits", ErrRange, func() error { return tb.Map(maxGPA-Size4K, 0, 2*Size4K, R, WB) }},
		{"protect write-only", ErrPerm, func() error { return tb.Protect(0, Size4K, W|X) }},
	}
	for _, c := range errCases {
		if err := c.f(); !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
		}
	}
	xo, _ := New(newArena(), Caps{ExecuteOnly: true, PhysAddrBits: 39})
	if err := xo.Map(0, 0, Size4K, X, WB); err != nil {
		t.Errorf("execute-only with capability: %v", err)
	}
	if err := xo.Map(0, 1<<39, Size4K, R, WB); !errors.Is(err, ErrRange) {
		t.Errorf("HPA beyond MAXPHYADDR: err = %v", err)
	}
}

func TestEPTP(t *testing.T) {
	e, err := MakeEPTP(0x5000, WB, true)
	if err != nil {
		t.Fatal(err)
	}
	// 0x5000 | WB (6) | walk length 4 - 1 = 3 in bits 5:3 | A/D bit 6.
	if e != 0x505E {
		t.Fatalf("EPTP = %#x, want 0x505e", uint64(e))
	}
	if e.PML4() != 0x5000 || e.MemType() != WB || e.WalkLength() != 4 || !e.AccessedDirty() {
		t.Fatalf("fields: %#x %v %d %v", e.PML4(), e.MemType(), e.WalkLength(), e.AccessedDirty())
	}
	if e, _ := MakeEPTP(0x7000, UC, false); e != 0x7018 {
		t.Fatalf("UC EPTP = %#x, want 0x7018", uint64(e))
	}
	if _, err := MakeEPTP(0x5008, WB, false); err == nil {
		t.Error("misaligned PML4 accepted")
	}
	if _, err := MakeEPTP(0x5000, WT, false); err == nil {
		t.Error("WT accepted for the EPTP")
	}
	tb, _ := New(newArena(), Caps{WB: true})
	e, err = tb.EPTP(WB, true)
	if err != nil || e.AccessedDirty() || e.PML4() != tb.Root() {
		t.Fatalf("EPTP without the A/D capability = %#x, %v", uint64(e), err)
	}
	if _, err := tb.EPTP(UC, false); err == nil {
		t.Error("UC accepted without the capability")
	}
}

func TestDump(t *testing.T) {
	tb, _ := Build(newArena(), allCaps, Layout{Size: 64 * mib, HostBase: testA, Holes: []Range{{0xA0000, 0x60000}}})
	var b strings.Builder
	if err := tb.Dump(&b); err != nil {
		t.Fatal(err)
	}
	want := "EPT pml4 0x10000000000: 4 table pages (PML4 1, PDPT 1, PD 1, PT 1), 65152 KiB mapped\n" +
		"gpa [0x0-0xa0000) -> hpa 0x10000000 rwx WB 4K x160\n" +
		"gpa [0x100000-0x200000) -> hpa 0x10100000 rwx WB 4K x256\n" +
		"gpa [0x200000-0x4000000) -> hpa 0x10200000 rwx WB 2M x31\n"
	if b.String() != want {
		t.Fatalf("Dump:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestViolationString(t *testing.T) {
	cases := []struct {
		v    Violation
		want string
	}{
		{Violation{Qual: QualWrite | QualGLAValid | QualTranslation, GPA: 0xFEE00030, GLA: 0xFEE00030, RIP: 0xFFFFFFFF81000A2E},
			"EPT violation at gpa 0xfee00030 (write; page not present) gla 0xfee00030 rip=0xffffffff81000a2e"},
		{Violation{Qual: QualFetch | QualReadable | QualWritable, GPA: 0x2000, RIP: 0x2000},
			"EPT violation at gpa 0x2000 (fetch; page rw-) rip=0x2000"},
		{Violation{Qual: QualRead | QualWrite | QualGLAValid, GPA: 0x9000, GLA: 0xffff888000009000, RIP: 0x10},
			"EPT violation at gpa 0x9000 (read+write; page not present) gla 0xffff888000009000 (guest page walk) rip=0x10"},
		{Violation{}, "EPT violation at gpa 0x0 (access; page not present) rip=0x0"},
	}
	for _, c := range cases {
		if got := c.v.String(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	tb, _ := Build(newArena(), allCaps, Layout{Size: 64 * mib, HostBase: testA, Holes: []Range{{0xA0000, 0x60000}}})
	buf := make([]byte, 0, 256)
	v := Violation{Qual: QualWrite | QualGLAValid, GPA: 0xA0000, GLA: 0xA0000, RIP: 0x1234}
	n := testing.AllocsPerRun(100, func() {
		tb.Translate(0x123456)
		tb.Translate(0xA0000)
		tb.Leaf(0x3F_F000)
		_ = tb.Protect(0x20_0000, Size2M, RX) // leaf update only
		_ = tb.Map(0x20_0000, testA+0x20_0000, Size2M, RWX, WB)
		_ = tb.Map(0x1000, testA+0x1000, Size4K, RWX, WB)
		buf = v.AppendTo(buf[:0])
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}
