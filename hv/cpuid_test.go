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

func TestCPUIDTable(t *testing.T) {
	calls := 0
	counting := func(leaf, subleaf uint32) (a, b, c, d uint32) {
		calls++
		return leaf, subleaf, 0xFFFFFFFF, 0xFFFFFFFF
	}
	var tab cpuidTable
	tab.fill(counting)
	calls = 0
	for _, q := range [][2]uint32{{0, 0}, {1, 0}, {7, 0}, {0xB, 1}, {0x80000001, 0}, {0x80000008, 0}} {
		a, b, c, d := tab.lookup(q[0], q[1], counting)
		wa, wb, wc, wd := filterCPUID(q[0], q[1], counting)
		if [4]uint32{a, b, c, d} != [4]uint32{wa, wb, wc, wd} {
			t.Errorf("leaf %#x.%d: table %x, direct %x", q[0], q[1], [4]uint32{a, b, c, d}, [4]uint32{wa, wb, wc, wd})
		}
	}
	if calls != 6 { // only the direct filterCPUID calls above
		t.Errorf("%d real CPUIDs, want the table to answer without any", calls-6)
	}
	if a, _, _, _ := tab.lookup(0, 0x6c65746e, counting); a != 0 || calls != 6 {
		t.Error("leaf 0 with junk in ECX missed the table")
	}
	if a, _, _, _ := tab.lookup(0x40000000, 0, counting); a != 0x40000000 {
		t.Error("hypervisor leaf")
	}
}
