// Package pmu holds the register-level decisions of hindsight's branch
// clock (hv's clock_pmu.go): what CPUID leaf 0xA must advertise, how
// general-purpose counter 0 is programmed to count retired branches and
// to interrupt a skid margin before a stop, the counter arithmetic modulo
// its width, and how a backup steps from there to the exact (count, RIP,
// RCX) of the primary's stop. Everything here is pure Go, tested on the
// host against a simulated guest and counter; hv applies the plans to the
// MSRs, the VMCS and the debug registers. The only hardware access is the
// debug-register moves (debugreg_amd64.s).
//
// References: Intel SDM Vol. 3B, "Performance Monitoring" (architectural
// performance monitoring versions 1-2, CPUID leaf 0AH, the
// IA32_PERF_GLOBAL_* MSRs) and "Debug, Branch Profile, TSC, and Intel
// Resource Director Technology Features" (DR6, DR7, RF; §17.3.1 in the
// numbering the hindsight notes use); Vol. 3C "VM-Execution Controls"
// (the monitor trap flag) and "VM Exits" (exit qualification of #DB).
package pmu

import "fmt"

// MSRs of architectural performance monitoring, version 2 (SDM Vol. 4,
// Table 2-2; Vol. 3B "Architectural Performance Monitoring Version 2").
const (
	IA32_PMC0                 = 0xC1  // general-purpose counter 0
	IA32_PERFEVTSEL0          = 0x186 // its event select
	IA32_PERF_GLOBAL_STATUS   = 0x38E // overflow status, bit n: PMCn
	IA32_PERF_GLOBAL_CTRL     = 0x38F // enable, bit n: PMCn
	IA32_PERF_GLOBAL_OVF_CTRL = 0x390 // write 1 to clear a status bit
)

// GlobalPMC0 is PMC0's bit in IA32_PERF_GLOBAL_CTRL, _STATUS and _OVF_CTRL.
const GlobalPMC0 = 1 << 0

// IA32_PERFEVTSELx fields (SDM Vol. 3B, "Architectural Performance
// Monitoring Version 1", Figure "Layout of IA32_PERFEVTSELx MSRs").
const (
	EvtSelUSR = 1 << 16 // count at CPL > 0
	EvtSelOS  = 1 << 17 // count at CPL 0
	EvtSelINT = 1 << 20 // APIC interrupt (PMI) on overflow
	EvtSelEN  = 1 << 22 // counter enabled
)

// Branch Instruction Retired, the architectural event C4H with umask 00H
// (BR_INST_RETIRED.ALL_BRANCHES): every retired branch instruction, taken
// or not. It counts at every privilege level, the guest's kernel and user
// code alike; IA32_PERF_GLOBAL_CTRL, switched by the VMX entry and exit
// controls, limits it to guest mode. (rr counts conditional branches
// only, BR_INST_RETIRED.CONDITIONAL, because far branches include
// interrupts on some models: on hardware, check that SMIs do not move it.)
const (
	eventBranches = 0xC4
	umaskAll      = 0x00

	// BranchesRetired is IA32_PERFEVTSEL0 counting retired branches
	// in guest mode (with the global control switched) and no PMI.
	BranchesRetired = eventBranches | umaskAll<<8 | EvtSelUSR | EvtSelOS | EvtSelEN
)

// SkidMargin is how many branches short of a stop the counter
// overflows: the PMI is an NMI that reaches the CPU some instructions
// after the overflow (its skid), and the guest must still be before the
// stop when the exit comes. rr, which stops tracees the same way,
// bounds the skid at 100 retired branches on Intel from Nehalem to Rocket
// Lake and 125 from Alder Lake on (rr's PerfCounters.cc, pmu_configs);
// 128 covers both. The boot self-test measures the skid on this CPU and
// refuses the branch clock if it reaches the margin. Every branch of
// margin costs the backup time: from the overflow it runs to the stop's
// RIP under a breakpoint, one exit per pass.
const SkidMargin = 128

// MaxPMIDistance is the farthest a PMI can be armed: WRMSR to IA32_PMC0
// writes bits 31:0 and sign-extends bit 31 to the counter's width (SDM
// Vol. 3B, "Full-Width Writes to Performance Counter Registers"), so a
// value that overflows after n events, 2^width - n, is written exactly for
// n <= 2^31. A stop further away is approached in steps of this size.
const MaxPMIDistance = 1 << 31

// Arch is what CPUID leaf 0AH says about architectural performance
// monitoring (SDM Vol. 2A, CPUID, "Architectural Performance Monitoring
// Leaf").
type Arch struct {
	Version  uint8 // EAX[7:0]
	Counters uint8 // EAX[15:8]: general-purpose counters per logical processor
	Width    uint8 // EAX[23:16]: their width in bits
	Events   uint8 // EAX[31:24]: length of the EBX event vector
	NotAvail uint32
}

// eventBranchesBit is "branch instruction retired" in EBX: set means the
// event is NOT available.
const eventBranchesBit = 5

// DecodeArch decodes CPUID leaf 0AH (EAX, EBX).
func DecodeArch(eax, ebx uint32) Arch {
	return Arch{Version: uint8(eax), Counters: uint8(eax >> 8), Width: uint8(eax >> 16), Events: uint8(eax >> 24), NotAvail: ebx}
}

// ReadArch reads CPUID leaf 0AH through cpuid, after checking that the
// leaf exists (leaf 0's EAX is the highest basic leaf).
func ReadArch(cpuid func(leaf, sub uint32) (eax, ebx, ecx, edx uint32)) (Arch, error) {
	if max, _, _, _ := cpuid(0, 0); max < 0xA {
		return Arch{}, fmt.Errorf("no performance monitoring leaf: CPUID's highest basic leaf is %#x, below 0xA", max)
	}
	eax, ebx, _, _ := cpuid(0xA, 0)
	a := DecodeArch(eax, ebx)
	return a, a.Check()
}

// Check says why the branch clock cannot use this PMU, or nil. The MSRs
// exist only as far as CPUID advertises them: nothing touches one before
// Check passed (a missing MSR raises #GP, which would stop the host).
func (a Arch) Check() error {
	switch {
	case a.Version == 0:
		return fmt.Errorf("CPUID leaf 0xA advertises no architectural performance monitoring (version 0)")
	case a.Version < 2:
		return fmt.Errorf("CPUID leaf 0xA: architectural performance monitoring version %d; the branch clock needs version 2 (IA32_PERF_GLOBAL_CTRL)", a.Version)
	case a.Counters == 0:
		return fmt.Errorf("CPUID leaf 0xA: no general-purpose performance counter")
	case a.Width < 32:
		return fmt.Errorf("CPUID leaf 0xA: counters of %d bits; the branch clock needs at least 32", a.Width)
	case a.Width > 64:
		return fmt.Errorf("CPUID leaf 0xA: counters of %d bits, more than 64: a bad leaf", a.Width)
	case a.Events <= eventBranchesBit || a.NotAvail&(1<<eventBranchesBit) != 0:
		return fmt.Errorf("CPUID leaf 0xA: the event \"branch instructions retired\" is not available (EBX %#x, vector length %d)", a.NotAvail, a.Events)
	}
	return nil
}

func (a Arch) String() string {
	return fmt.Sprintf("architectural PMU version %d, %d counters of %d bits", a.Version, a.Counters, a.Width)
}

// Counter is a general-purpose counter's arithmetic: it counts modulo
// 2^Width and overflows when it wraps to 0.
type Counter struct{ Width uint8 }

// Mask is the counter's value mask.
func (c Counter) Mask() uint64 {
	if c.Width >= 64 {
		return ^uint64(0)
	}
	return 1<<c.Width - 1
}

// Load is the value that overflows after n more events: 2^Width - n (0
// for n = 0: no overflow for 2^Width events). Precondition:
// n <= MaxPMIDistance, so that Writable(Load(n)).
func (c Counter) Load(n uint64) uint64 { return -n & c.Mask() }

// Delta is the number of events since the counter held load, modulo
// 2^Width: correct across the overflow.
func (c Counter) Delta(load, now uint64) uint64 { return (now - load) & c.Mask() }

// Writable reports whether WRMSR to IA32_PMCx stores v: it writes bits
// 31:0 sign-extended to the counter's width.
func (c Counter) Writable(v uint64) bool {
	return uint64(int64(int32(uint32(v))))&c.Mask() == v
}

// LVT performance monitoring counters register (SDM Vol. 3A, "Local
// Vector Table"): delivery mode NMI (100B in bits 10:8), not masked. The
// local APIC masks it when it delivers a PMI (SDM Vol. 3B, "Generating an
// Interrupt on Overflow"; Linux rewrites it after every PMI for that
// reason), so it is written again whenever a PMI is armed.
const (
	RegLVTPerf = 0x340
	LVTPerfNMI = 4 << 8
)
