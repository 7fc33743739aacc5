package hv

// CPUID as guests see it. Every guest CPUID exits; the hypervisor runs the
// real instruction and edits the result by this table, so that
//   - the guest sees no feature the hypervisor does not virtualize (VMX,
//     SMX, MONITOR/MWAIT, the local APIC, x2APIC, TSC deadline, XSAVE/AVX
//     state, PMU, RDTSCP, RDRAND/RDSEED, TSX, protection keys, CET),
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
	// Leaf 1: EBX[31:24] initial APIC ID; ECX: MONITOR/MWAIT 3, VMX 5,
	// SMX 6, EST 7, TM2 8, xTPR 14, PDCM 15, x2APIC 21, TSC-deadline 24,
	// XSAVE 26, OSXSAVE 27, AVX 28, RDRAND 30; EDX: MCE 7, APIC 9, MCA 14,
	// DS 21, ACPI thermal 22, TM 29, PBE 31 (each of these but the
	// instruction sets comes with MSRs the hypervisor does not model).
	{leaf: 1, ebx: 0xFF000000, ecx: 1<<3 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<14 | 1<<15 | 1<<21 | 1<<24 | 1<<26 | 1<<27 | 1<<28 | 1<<30,
		edx: 1<<7 | 1<<9 | 1<<14 | 1<<21 | 1<<22 | 1<<29 | 1<<31},
	// Leaf 6: thermal and power management (MSRs only).
	{leaf: 6, eax: 0xFFFFFFFF, ebx: 0xFFFFFFFF, ecx: 0xFFFFFFFF, edx: 0xFFFFFFFF},
	// Leaf 7 subleaf 0: EBX: TSC_ADJUST 1 (an MSR: the guest's TSC is the
	// hypervisor's), SGX 2, HLE 4, AVX2 5, INVPCID 10 (#UD in a guest
	// without the "enable INVPCID" control), RTM 11, PQM 12, MPX 14, PQE 15,
	// AVX-512 16/17/21/26/27/28/30/31, RDSEED 18, PT 25; ECX, EDX:
	// everything (PKU, WAITPKG, CET, AMX and newer need support we lack).
	{leaf: 7, eax: 0xFFFFFFFF, ebx: 1<<1 | 1<<2 | 1<<4 | 1<<5 | 1<<10 | 1<<11 | 1<<12 | 1<<14 | 1<<15 | 1<<16 | 1<<17 | 1<<18 |
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

// cpuidTable holds every answer a guest can get, taken once per machine:
// an exit never runs the real instruction, so the answer cannot depend on
// the core (a backup on another core sees the primary's values) or change
// under a running guest.
type cpuidTable struct {
	maxBasic uint32                          // highest basic leaf the table answers (<= 0x1F)
	basic    [0x20][cpuidSubleaves][4]uint32 // leaves 0-0x1F
	ext      [9][4]uint32                    // leaves 0x80000000-0x80000008, subleaf 0
	hv       [4]uint32                       // leaf 0x40000000
}

// cpuidSubleaves is how many subleaves the table keeps of the leaves that
// have them; higher ones read as 0.
const cpuidSubleaves = 8

func (t *cpuidTable) fill(real func(leaf, subleaf uint32) (a, b, c, d uint32)) {
	max, _, _, _ := real(0, 0)
	t.maxBasic = min(max, uint32(len(t.basic)-1))
	for l := range t.basic {
		for s := range t.basic[l] {
			if uint32(l) > t.maxBasic || s > 0 && subleafLeaves&(1<<l) == 0 {
				continue
			}
			a, b, c, d := filterCPUID(uint32(l), uint32(s), real)
			t.basic[l][s] = [4]uint32{a, b, c, d}
		}
	}
	t.basic[0][0][0] = t.maxBasic
	maxExt, _, _, _ := real(0x80000000, 0)
	for l := range t.ext {
		if 0x80000000+uint32(l) > maxExt {
			continue
		}
		a, b, c, d := filterCPUID(0x80000000+uint32(l), 0, real)
		t.ext[l] = [4]uint32{a, b, c, d}
	}
	t.ext[0][0] = min(maxExt, 0x80000000+uint32(len(t.ext)-1))
	a, b, c, d := filterCPUID(leafHypervisor, 0, real)
	t.hv = [4]uint32{a, b, c, d}
}

// subleafLeaves marks the basic leaves whose answer depends on ECX (SDM
// Vol. 2A, CPUID): for all others ECX is ignored, and guests leave
// anything in it.
const subleafLeaves = 1<<0x4 | 1<<0x7 | 1<<0xB | 1<<0xD | 1<<0xF | 1<<0x10 | 1<<0x12 | 1<<0x14 |
	1<<0x17 | 1<<0x18 | 1<<0x1D | 1<<0x1E | 1<<0x1F

// lookup answers CPUID(leaf, subleaf) from the table alone. A leaf above
// the highest basic or extended one gets the highest basic leaf's answer,
// as Intel processors give it (SDM Vol. 2A, CPUID, "If a value entered for
// CPUID.EAX is higher than the maximum input value ..."); an unlisted
// hypervisor leaf and a subleaf beyond the table read as 0.
func (t *cpuidTable) lookup(leaf, subleaf uint32) (a, b, c, d uint32) {
	var r *[4]uint32
	switch {
	case leaf <= t.maxBasic:
		if subleafLeaves&(1<<leaf) == 0 {
			subleaf = 0
		}
		if subleaf >= cpuidSubleaves {
			return 0, 0, 0, 0
		}
		r = &t.basic[leaf][subleaf]
	case leaf&0xFFFFFF00 == leafHypervisor:
		if leaf != leafHypervisor {
			return 0, 0, 0, 0
		}
		r = &t.hv
	case leaf >= 0x80000000 && leaf <= t.ext[0][0]:
		r = &t.ext[leaf-0x80000000]
	default:
		r = &t.basic[t.maxBasic][0]
	}
	return r[0], r[1], r[2], r[3]
}
