package hv

import "testing"

// allOnes stands for a processor with every feature.
func allOnes(leaf, subleaf uint32) (a, b, c, d uint32) {
	return 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF
}

func TestFilterCPUID(t *testing.T) {
	_, b, c, d := filterCPUID(1, 0, allOnes)
	for _, x := range []struct {
		name string
		reg  uint32
		bit  uint
		want bool
	}{
		{"VMX", c, 5, false}, {"x2APIC", c, 21, false}, {"TSC-deadline", c, 24, false},
		{"XSAVE", c, 26, false}, {"AVX", c, 28, false}, {"RDRAND", c, 30, false},
		{"hypervisor", c, 31, true}, {"APIC", d, 9, false}, {"SSE2", d, 26, true}, {"TSC", d, 4, true},
	} {
		if got := x.reg&(1<<x.bit) != 0; got != x.want {
			t.Errorf("leaf 1 %s = %v, want %v", x.name, got, x.want)
		}
	}
	if b>>24 != 0 {
		t.Errorf("leaf 1 APIC ID %d, want 0 on every core", b>>24)
	}
	if _, b, _, _ := filterCPUID(7, 0, allOnes); b&(1<<18) != 0 || b&(1<<5) != 0 || b&(1<<3) == 0 {
		t.Errorf("leaf 7 EBX %#x: RDSEED/AVX2 must be hidden, BMI1 kept", b)
	}
	if _, _, _, d := filterCPUID(0x80000001, 0, allOnes); d&(1<<27) != 0 {
		t.Error("RDTSCP visible")
	}
	a, b, c, d := filterCPUID(0x40000000, 0, allOnes)
	sig := string([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24), byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24),
		byte(d), byte(d >> 8), byte(d >> 16), byte(d >> 24)})
	if a != 0x40000000 || sig != "hindsighthv " {
		t.Errorf("hypervisor leaf: max %#x, signature %q", a, sig)
	}
	if a, _, _, _ := filterCPUID(0x40000001, 0, allOnes); a != 0 {
		t.Error("leaf 0x40000001 not empty")
	}
}

// The table answers every leaf itself: an exit never runs CPUID, so a
// backup on another core gets the primary's answers.
func TestCPUIDTable(t *testing.T) {
	// A processor with basic leaves up to 0xD and extended ones up to
	// 0x80000008; each answer names its leaf and subleaf.
	fake := func(leaf, subleaf uint32) (a, b, c, d uint32) {
		switch {
		case leaf == 0:
			return 0xD, 0x756e6547, 0x6c65746e, 0x49656e69
		case leaf == 0x80000000:
			return 0x80000008, 0, 0, 0
		}
		return leaf, subleaf, 0x1234, 0x5678
	}
	var tab cpuidTable
	tab.fill(fake)
	for _, q := range [][2]uint32{{1, 0}, {7, 0}, {0xB, 1}, {4, 3}, {0x80000001, 0}, {0x80000008, 0}} {
		a, b, c, d := tab.lookup(q[0], q[1])
		wa, wb, wc, wd := filterCPUID(q[0], q[1], fake)
		if [4]uint32{a, b, c, d} != [4]uint32{wa, wb, wc, wd} {
			t.Errorf("leaf %#x.%d: table %x, direct %x", q[0], q[1], [4]uint32{a, b, c, d}, [4]uint32{wa, wb, wc, wd})
		}
	}
	if a, b, _, _ := tab.lookup(1, 0x6c65746e); a != 1 || b != 0 {
		t.Error("leaf 1 with junk in ECX: the subleaf must be ignored")
	}
	if a, _, _, _ := tab.lookup(0x40000000, 0); a != 0x40000000 {
		t.Error("hypervisor leaf")
	}
	if a, b, c, d := tab.lookup(0x40000001, 0); a|b|c|d != 0 {
		t.Error("an unlisted hypervisor leaf must read 0")
	}
	// Above the highest basic or extended leaf: the highest basic leaf's
	// answer, as Intel processors give it.
	top := [4]uint32{}
	top[0], top[1], top[2], top[3] = tab.lookup(0xD, 0)
	for _, leaf := range []uint32{0xE, 0x1F, 0x12345678, 0x80000009, 0xC0000000} {
		a, b, c, d := tab.lookup(leaf, 0)
		if [4]uint32{a, b, c, d} != top {
			t.Errorf("leaf %#x: %x, want leaf 0xD's %x", leaf, [4]uint32{a, b, c, d}, top)
		}
	}
	if a, b, c, d := tab.lookup(4, cpuidSubleaves); a|b|c|d != 0 {
		t.Error("a subleaf beyond the table must read 0")
	}
	if a, _, _, _ := tab.lookup(0, 0); a != 0xD {
		t.Errorf("max basic leaf %#x", a)
	}
}
