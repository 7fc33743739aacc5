package hv

// CPUID as guests see it. Every guest CPUID exits; the hypervisor runs the
// real instruction and edits the result by this table, so that
//   - the guest sees no feature the hypervisor does not virtualize (VMX,
//     the local APIC, x2APIC, TSC deadline, XSAVE/AVX state, PMU, RDTSCP,
//     RDRAND/RDSEED, TSX),
//   - the answer is the same on every core (APIC IDs read as 0), so a
//     backup replaying on another core sees the primary's values,
//   - the hypervisor is visible: CPUID.1:ECX[31] and leaf 0x40000000.
// linux-guest.md lists what Linux needs hidden.

const (
	leafHypervisor = 0x40000000
)

// cpuidMask clears bits of one register of one leaf (subleaf-independent).
type cpuidMask struct {
	leaf               uint32
	eax, ebx, ecx, edx uint32 // bits to clear
}

var cpuidMasks = [...]cpuidMask{
	// Leaf 1: EBX[31:24] initial APIC ID; ECX: VMX 5, SMX 6, x2APIC 21,
	// TSC-deadline 24, XSAVE 26, OSXSAVE 27, AVX 28, RDRAND 30; EDX: APIC 9.
	{leaf: 1, ebx: 0xFF000000, ecx: 1<<5 | 1<<6 | 1<<21 | 1<<24 | 1<<26 | 1<<27 | 1<<28 | 1<<30, edx: 1 << 9},
	// Leaf 7 subleaf 0: EBX: SGX 2, HLE 4, AVX2 5, RTM 11, PQM 12, MPX 14,
	// PQE 15, AVX-512 16/17/21/26/27/28/30/31, RDSEED 18, PT 25; ECX, EDX:
	// everything (PKU, WAITPKG, CET, AMX and newer need support we lack).
	{leaf: 7, eax: 0xFFFFFFFF, ebx: 1<<2 | 1<<4 | 1<<5 | 1<<11 | 1<<12 | 1<<14 | 1<<15 | 1<<16 | 1<<17 | 1<<18 |
		1<<21 | 1<<25 | 1<<26 | 1<<27 | 1<<28 | 1<<30 | 1<<31, ecx: 0xFFFFFFFF, edx: 0xFFFFFFFF},
	// Leaf 0xA: architectural performance monitoring (not virtualized).
	{leaf: 0xA, eax: 0xFFFFFFFF, ebx: 0xFFFFFFFF, ecx: 0xFFFFFFFF, edx: 0xFFFFFFFF},
	// Leaf 0xB / 0x1F: x2APIC topology; EDX is the x2APIC ID.
	{leaf: 0xB, edx: 0xFFFFFFFF},
	{leaf: 0x1F, edx: 0xFFFFFFFF},
	// Leaf 0xD: XSAVE state components (XSAVE is hidden).
	{leaf: 0xD, eax: 0xFFFFFFFF, ebx: 0xFFFFFFFF, ecx: 0xFFFFFFFF, edx: 0xFFFFFFFF},
	// Leaf 0x80000001: EDX: RDTSCP 27 (it would read the TSC without exiting).
	{leaf: 0x80000001, edx: 1 << 27},
}

// filterCPUID returns what the guest sees for CPUID(leaf, subleaf); real
// executes the instruction on the host.
func filterCPUID(leaf, subleaf uint32, real func(leaf, subleaf uint32) (a, b, c, d uint32)) (a, b, c, d uint32) {
	if leaf&0xFFFFFF00 == leafHypervisor {
		if leaf != leafHypervisor {
			return 0, 0, 0, 0
		}
		// Max hypervisor leaf, then the signature "hindsighthv " in EBX, ECX, EDX.
		return leafHypervisor, 0x646e6968, 0x68676973, 0x20766874
	}
	a, b, c, d = real(leaf, subleaf)
	if leaf > 0x1F && leaf != 0x80000001 {
		return a, b, c, d // no mask for these leaves: skip the table
	}
	for i := range cpuidMasks {
		m := &cpuidMasks[i]
		if m.leaf == leaf {
			a &^= m.eax
			b &^= m.ebx
			c &^= m.ecx
			d &^= m.edx
		}
	}
	if leaf == 1 {
		c |= 1 << 31 // hypervisor present
	}
	return a, b, c, d
}

// cpuidTable holds the filtered answers of the leaves guests ask for, taken
// once per machine: CPUID is constant, so an exit need not run the real
// instruction, and every VM, primary and backup, sees the same values.
type cpuidTable struct {
	basic [0x20][4][4]uint32 // leaf 0-0x1F, subleaf 0-3
	ext   [9][4]uint32       // leaf 0x80000000-0x80000008, subleaf 0
}

func (t *cpuidTable) fill(real func(leaf, subleaf uint32) (a, b, c, d uint32)) {
	for l := range t.basic {
		for s := range t.basic[l] {
			a, b, c, d := filterCPUID(uint32(l), uint32(s), real)
			t.basic[l][s] = [4]uint32{a, b, c, d}
		}
	}
	for l := range t.ext {
		a, b, c, d := filterCPUID(0x80000000+uint32(l), 0, real)
		t.ext[l] = [4]uint32{a, b, c, d}
	}
}

// subleafLeaves marks the basic leaves whose answer depends on ECX (SDM
// Vol. 2A, CPUID): for all others ECX is ignored, and guests leave
// anything in it.
const subleafLeaves = 1<<0x4 | 1<<0x7 | 1<<0xB | 1<<0xD | 1<<0xF | 1<<0x10 | 1<<0x12 | 1<<0x14 |
	1<<0x17 | 1<<0x18 | 1<<0x1D | 1<<0x1E | 1<<0x1F

// lookup answers CPUID(leaf, subleaf) from the table where it can.
func (t *cpuidTable) lookup(leaf, subleaf uint32, real func(leaf, subleaf uint32) (a, b, c, d uint32)) (a, b, c, d uint32) {
	if leaf >= 0x20 || subleafLeaves&(1<<leaf) == 0 {
		subleaf = 0
	}
	switch {
	case leaf < 0x20 && subleaf < 4:
		r := &t.basic[leaf][subleaf]
		return r[0], r[1], r[2], r[3]
	case leaf-0x80000000 < 9 && subleaf == 0:
		r := &t.ext[leaf-0x80000000]
		return r[0], r[1], r[2], r[3]
	}
	return filterCPUID(leaf, subleaf, real)
}
