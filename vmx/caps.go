package vmx

import (
	"errors"
	"fmt"
	"strings"
)

// Model-specific registers that report VMX capabilities (SDM Vol. 3D
// Appendix A; SDM Vol. 4 chapter 2 for the addresses).
const (
	IA32_FEATURE_CONTROL         uint32 = 0x3A
	IA32_VMX_BASIC               uint32 = 0x480
	IA32_VMX_PINBASED_CTLS       uint32 = 0x481
	IA32_VMX_PROCBASED_CTLS      uint32 = 0x482
	IA32_VMX_EXIT_CTLS           uint32 = 0x483
	IA32_VMX_ENTRY_CTLS          uint32 = 0x484
	IA32_VMX_MISC                uint32 = 0x485
	IA32_VMX_CR0_FIXED0          uint32 = 0x486
	IA32_VMX_CR0_FIXED1          uint32 = 0x487
	IA32_VMX_CR4_FIXED0          uint32 = 0x488
	IA32_VMX_CR4_FIXED1          uint32 = 0x489
	IA32_VMX_VMCS_ENUM           uint32 = 0x48A
	IA32_VMX_PROCBASED_CTLS2     uint32 = 0x48B
	IA32_VMX_EPT_VPID_CAP        uint32 = 0x48C
	IA32_VMX_TRUE_PINBASED_CTLS  uint32 = 0x48D
	IA32_VMX_TRUE_PROCBASED_CTLS uint32 = 0x48E
	IA32_VMX_TRUE_EXIT_CTLS      uint32 = 0x48F
	IA32_VMX_TRUE_ENTRY_CTLS     uint32 = 0x490
	IA32_VMX_VMFUNC              uint32 = 0x491
	IA32_VMX_PROCBASED_CTLS3     uint32 = 0x492
	IA32_VMX_EXIT_CTLS2          uint32 = 0x493
)

// IA32_FEATURE_CONTROL bits used by VMXON (SDM Vol. 3C §24.7 "Enabling and
// Entering VMX Operation").
const (
	FeatureControlLock          = 1 << 0 // lock bit: further WRMSR #GP
	FeatureControlVMXInsideSMX  = 1 << 1 // enable VMX inside SMX operation
	FeatureControlVMXOutsideSMX = 1 << 2 // enable VMX outside SMX operation
)

// FeatureControl is the value of IA32_FEATURE_CONTROL.
type FeatureControl uint64

func (f FeatureControl) Locked() bool        { return f&FeatureControlLock != 0 }
func (f FeatureControl) VMXOutsideSMX() bool { return f&FeatureControlVMXOutsideSMX != 0 }

// Enable returns the value to write so that VMXON outside SMX works, and
// whether a write is needed. If the MSR is locked with VMX outside SMX
// disabled, firmware has switched VT-x off and the error says so.
func (f FeatureControl) Enable() (v uint64, write bool, err error) {
	switch {
	case f.Locked() && f.VMXOutsideSMX():
		return uint64(f), false, nil
	case f.Locked():
		return uint64(f), false, errors.New("vmx: VT-x is disabled by firmware: IA32_FEATURE_CONTROL is locked with \"enable VMX outside SMX operation\" (bit 2) clear")
	}
	return uint64(f) | FeatureControlLock | FeatureControlVMXOutsideSMX, true, nil
}

// Memory types used in IA32_VMX_BASIC[53:50] and in the EPTP (SDM Vol. 3D A.1).
const (
	MemTypeUC = 0 // uncacheable
	MemTypeWB = 6 // write-back
)

// Allowed is one pair of allowed settings for a 32-bit control word, as
// reported by a capability MSR (SDM Vol. 3D A.3-A.5):
//
//	bits 31:0  allowed 0-settings: if bit X is 1, control X must be 1
//	bits 63:32 allowed 1-settings: if bit 32+X is 0, control X must be 0
type Allowed struct {
	Word     ControlWord
	Allowed0 uint32 // must-be-one controls
	Allowed1 uint32 // controls that may be 1
}

// AllowedFromMSR splits a capability MSR value.
func AllowedFromMSR(w ControlWord, v uint64) Allowed {
	return Allowed{Word: w, Allowed0: uint32(v), Allowed1: uint32(v >> 32)}
}

// MayBeOne reports whether the CPU allows the given control bits to be 1.
func (a Allowed) MayBeOne(bits uint32) bool { return bits&^a.Allowed1 == 0 }

// MayBeZero reports whether the CPU allows the given control bits to be 0.
func (a Allowed) MayBeZero(bits uint32) bool { return bits&a.Allowed0 == 0 }

// Allowed64 holds the allowed 1-settings of a 64-bit control word: the
// tertiary processor-based controls (IA32_VMX_PROCBASED_CTLS3, A.3.4) and
// the secondary VM-exit controls (IA32_VMX_EXIT_CTLS2, A.4.2). Every bit of
// these words may be 0.
type Allowed64 struct {
	Word     ControlWord
	Allowed1 uint64
}

// Misc is IA32_VMX_MISC decoded (SDM Vol. 3D A.6).
type Misc struct {
	Raw uint64
	// PreemptionTimerRate X: the VMX-preemption timer counts down by 1 every
	// time bit X of the TSC changes (bits 4:0).
	PreemptionTimerRate uint8
	StoresLMA           bool   // bit 5: VM exits store IA32_EFER.LMA into "IA-32e mode guest"
	ActivityHLT         bool   // bit 6
	ActivityShutdown    bool   // bit 7
	ActivityWaitForSIPI bool   // bit 8
	PTInVMX             bool   // bit 14: Intel PT can be used in VMX operation
	SMBASEReadable      bool   // bit 15: RDMSR can read IA32_SMBASE in SMM
	CR3Targets          uint32 // bits 24:16: number of CR3-target values
	MaxMSRListEntries   uint32 // 512 * (bits 27:25 + 1): recommended maximum MSR-list length
	SMMMonitorCtlBit2   bool   // bit 28: IA32_SMM_MONITOR_CTL bit 2 can be set
	VMWriteAnyField     bool   // bit 29: VMWRITE can write read-only data (VM-exit information) fields
	ZeroLengthInjection bool   // bit 30: injection of software interrupts/exceptions with instruction length 0
	MSEGRevision        uint32 // bits 63:32
}

// DecodeMisc decodes IA32_VMX_MISC.
func DecodeMisc(v uint64) Misc {
	return Misc{
		Raw:                 v,
		PreemptionTimerRate: uint8(v & 0x1F),
		StoresLMA:           v&(1<<5) != 0,
		ActivityHLT:         v&(1<<6) != 0,
		ActivityShutdown:    v&(1<<7) != 0,
		ActivityWaitForSIPI: v&(1<<8) != 0,
		PTInVMX:             v&(1<<14) != 0,
		SMBASEReadable:      v&(1<<15) != 0,
		CR3Targets:          uint32(v >> 16 & 0x1FF),
		MaxMSRListEntries:   512 * (uint32(v>>25&7) + 1),
		SMMMonitorCtlBit2:   v&(1<<28) != 0,
		VMWriteAnyField:     v&(1<<29) != 0,
		ZeroLengthInjection: v&(1<<30) != 0,
		MSEGRevision:        uint32(v >> 32),
	}
}

// SupportsActivity reports whether an activity state may be entered (active
// is always supported).
func (m Misc) SupportsActivity(s ActivityState) bool {
	switch s {
	case ActivityActive:
		return true
	case ActivityHLT:
		return m.ActivityHLT
	case ActivityShutdown:
		return m.ActivityShutdown
	case ActivityWaitForSIPI:
		return m.ActivityWaitForSIPI
	}
	return false
}

// EPTVPIDCap is IA32_VMX_EPT_VPID_CAP decoded (SDM Vol. 3D A.10).
type EPTVPIDCap struct {
	Raw                       uint64
	ExecuteOnly               bool  // bit 0: EPT entries may be execute-only
	PageWalk4                 bool  // bit 6: page-walk length 4
	PageWalk5                 bool  // bit 7: page-walk length 5
	MemTypeUC                 bool  // bit 8: EPT paging structures may be UC
	MemTypeWB                 bool  // bit 14: EPT paging structures may be WB
	Pages2M                   bool  // bit 16: EPT PDE may map a 2-Mbyte page
	Pages1G                   bool  // bit 17: EPT PDPTE may map a 1-Gbyte page
	INVEPT                    bool  // bit 20
	AccessedDirty             bool  // bit 21: accessed and dirty flags for EPT
	AdvancedExitInfo          bool  // bit 22: advanced VM-exit information for EPT violations
	SupervisorShadowStack     bool  // bit 23: supervisor shadow-stack control
	INVEPTSingleContext       bool  // bit 25
	INVEPTAllContext          bool  // bit 26
	INVVPID                   bool  // bit 32
	INVVPIDIndividualAddress  bool  // bit 40
	INVVPIDSingleContext      bool  // bit 41
	INVVPIDAllContext         bool  // bit 42
	INVVPIDSingleContextGlobs bool  // bit 43: single-context-retaining-globals
	MaxHLATPrefixSize         uint8 // bits 53:48
}

// DecodeEPTVPIDCap decodes IA32_VMX_EPT_VPID_CAP.
func DecodeEPTVPIDCap(v uint64) EPTVPIDCap {
	b := func(n uint) bool { return v&(1<<n) != 0 }
	return EPTVPIDCap{
		Raw:                       v,
		ExecuteOnly:               b(0),
		PageWalk4:                 b(6),
		PageWalk5:                 b(7),
		MemTypeUC:                 b(8),
		MemTypeWB:                 b(14),
		Pages2M:                   b(16),
		Pages1G:                   b(17),
		INVEPT:                    b(20),
		AccessedDirty:             b(21),
		AdvancedExitInfo:          b(22),
		SupervisorShadowStack:     b(23),
		INVEPTSingleContext:       b(25),
		INVEPTAllContext:          b(26),
		INVVPID:                   b(32),
		INVVPIDIndividualAddress:  b(40),
		INVVPIDSingleContext:      b(41),
		INVVPIDAllContext:         b(42),
		INVVPIDSingleContextGlobs: b(43),
		MaxHLATPrefixSize:         uint8(v >> 48 & 0x3F),
	}
}

// Caps is everything the capability MSRs say about VMX on this processor.
type Caps struct {
	// IA32_VMX_BASIC (SDM Vol. 3D A.1).
	Basic            uint64
	RevisionID       uint32 // bits 30:0: VMCS revision identifier
	RegionSize       uint32 // bits 44:32: bytes to allocate for VMXON and VMCS regions
	PhysAddr32       bool   // bit 48: VMXON/VMCS/bitmap addresses limited to 32 bits
	DualMonitor      bool   // bit 49: dual-monitor treatment of SMIs and SMM
	MemoryType       uint8  // bits 53:50: memory type for VMCS-referenced structures
	InsOutsInfo      bool   // bit 54: VM exits for INS/OUTS report instruction information
	TrueControls     bool   // bit 55: the IA32_VMX_TRUE_*_CTLS MSRs exist (and were used)
	NoErrorCodeCheck bool   // bit 56: hardware exceptions may be injected with or without error code

	// Allowed settings of the control words (A.3-A.5). From the TRUE_ MSRs
	// when TrueControls, so default1 controls that may be 0 show as such.
	Pin, Proc, Proc2, Exit, Entry Allowed
	Proc3                         Allowed64 // zero unless "activate tertiary controls" may be 1
	Exit2                         Allowed64 // zero unless "activate secondary controls" (exit) may be 1

	Misc    Misc       // A.6
	EPTVPID EPTVPIDCap // A.10; zero unless "enable EPT" or "enable VPID" may be 1

	// A.7, A.8: bits fixed to 1 (FIXED0 has them set) and bits that may be 1
	// (FIXED1) in CR0 and CR4 during VMX operation.
	CR0Fixed0, CR0Fixed1 uint64
	CR4Fixed0, CR4Fixed1 uint64

	MaxFieldIndex uint16 // A.9: IA32_VMX_VMCS_ENUM bits 9:1
	VMFunc        uint64 // A.11: allowed VM functions; zero unless "enable VM functions" may be 1

	FeatureControl FeatureControl // IA32_FEATURE_CONTROL

	// Not in any VMX MSR: the caller fills these from CPUID leaf 80000008H
	// after DecodeCaps. Zero means unknown: the checks then use 52 physical
	// bits (lenient: they never fail for the width) and 48 linear bits.
	MaxPhysAddr    uint8 // CPUID.80000008H:EAX[7:0]
	LinearAddrBits uint8 // CPUID.80000008H:EAX[15:8]
}

// physBits is the physical-address width used by the checks.
func (c *Caps) physBits() uint {
	if c == nil || c.MaxPhysAddr == 0 {
		return 52
	}
	return uint(c.MaxPhysAddr)
}

// linBits is the linear-address width used for canonical checks.
func (c *Caps) linBits() uint {
	if c == nil || c.LinearAddrBits == 0 {
		return 48
	}
	return uint(c.LinearAddrBits)
}

// DecodeCaps reads and decodes the VMX capability MSRs. read is RDMSR in the
// machine layer and a map lookup in tests; it is only asked for MSRs that
// exist according to the ones read before (SDM Vol. 3D A.3.3, A.3.4, A.4.2,
// A.10, A.11), because RDMSR of an absent MSR faults. Errors report values
// that no processor reports (VMX absent, reserved encodings, contradictory
// allowed settings).
func DecodeCaps(read func(msr uint32) uint64) (Caps, error) {
	var c Caps
	c.Basic = read(IA32_VMX_BASIC)
	if c.Basic == 0 {
		return c, errors.New("vmx: IA32_VMX_BASIC reads 0: VMX not supported")
	}
	b := c.Basic
	c.RevisionID = uint32(b & 0x7FFFFFFF)
	c.RegionSize = uint32(b >> 32 & 0x1FFF)
	c.PhysAddr32 = b&(1<<48) != 0
	c.DualMonitor = b&(1<<49) != 0
	c.MemoryType = uint8(b >> 50 & 0xF)
	c.InsOutsInfo = b&(1<<54) != 0
	c.TrueControls = b&(1<<55) != 0
	c.NoErrorCodeCheck = b&(1<<56) != 0

	var errs []string
	if b&(1<<31) != 0 {
		errs = append(errs, "IA32_VMX_BASIC bit 31 is set (always 0)")
	}
	if c.RegionSize == 0 || c.RegionSize > 4096 {
		errs = append(errs, fmt.Sprintf("IA32_VMX_BASIC reports a VMCS region size of %d bytes (1..4096)", c.RegionSize))
	}
	if c.MemoryType != MemTypeUC && c.MemoryType != MemTypeWB {
		errs = append(errs, fmt.Sprintf("IA32_VMX_BASIC reports VMCS memory type %d (only 0 UC and 6 WB are defined)", c.MemoryType))
	}

	pin, proc, exit, entry := IA32_VMX_PINBASED_CTLS, IA32_VMX_PROCBASED_CTLS, IA32_VMX_EXIT_CTLS, IA32_VMX_ENTRY_CTLS
	if c.TrueControls {
		pin, proc, exit, entry = IA32_VMX_TRUE_PINBASED_CTLS, IA32_VMX_TRUE_PROCBASED_CTLS, IA32_VMX_TRUE_EXIT_CTLS, IA32_VMX_TRUE_ENTRY_CTLS
	}
	c.Pin = AllowedFromMSR(PinBased, read(pin))
	c.Proc = AllowedFromMSR(ProcBased, read(proc))
	c.Exit = AllowedFromMSR(ExitCtls, read(exit))
	c.Entry = AllowedFromMSR(EntryCtls, read(entry))
	c.Proc2.Word = ProcBased2
	c.Proc3.Word = ProcBased3
	c.Exit2.Word = ExitCtls2
	// The TRUE_ and the plain MSRs report the same allowed 1-settings (A.3.2),
	// so the MSR just read decides which further MSRs exist.
	if c.Proc.MayBeOne(ProcBasedActivateSecondaryControls) {
		c.Proc2 = AllowedFromMSR(ProcBased2, read(IA32_VMX_PROCBASED_CTLS2))
	}
	if c.Proc.MayBeOne(ProcBasedActivateTertiaryControls) {
		c.Proc3.Allowed1 = read(IA32_VMX_PROCBASED_CTLS3)
	}
	if c.Exit.MayBeOne(ExitActivateSecondaryControls) {
		c.Exit2.Allowed1 = read(IA32_VMX_EXIT_CTLS2)
	}
	if c.Proc2.Allowed1&(ProcBased2EnableEPT|ProcBased2EnableVPID) != 0 {
		c.EPTVPID = DecodeEPTVPIDCap(read(IA32_VMX_EPT_VPID_CAP))
	}
	if c.Proc2.MayBeOne(ProcBased2EnableVMFunctions) {
		c.VMFunc = read(IA32_VMX_VMFUNC)
	}
	for _, a := range []Allowed{c.Pin, c.Proc, c.Proc2, c.Exit, c.Entry} {
		if bad := a.Allowed0 &^ a.Allowed1; bad != 0 {
			errs = append(errs, fmt.Sprintf("%s controls: bits %#x must be 1 but may not be 1", a.Word, bad))
		}
	}

	c.Misc = DecodeMisc(read(IA32_VMX_MISC))
	c.CR0Fixed0 = read(IA32_VMX_CR0_FIXED0)
	c.CR0Fixed1 = read(IA32_VMX_CR0_FIXED1)
	c.CR4Fixed0 = read(IA32_VMX_CR4_FIXED0)
	c.CR4Fixed1 = read(IA32_VMX_CR4_FIXED1)
	if bad := c.CR0Fixed0 &^ c.CR0Fixed1; bad != 0 {
		errs = append(errs, fmt.Sprintf("CR0 bits %#x fixed to 1 (IA32_VMX_CR0_FIXED0) but not allowed to be 1 (IA32_VMX_CR0_FIXED1)", bad))
	}
	if bad := c.CR4Fixed0 &^ c.CR4Fixed1; bad != 0 {
		errs = append(errs, fmt.Sprintf("CR4 bits %#x fixed to 1 (IA32_VMX_CR4_FIXED0) but not allowed to be 1 (IA32_VMX_CR4_FIXED1)", bad))
	}
	c.MaxFieldIndex = uint16(read(IA32_VMX_VMCS_ENUM) >> 1 & 0x1FF)
	c.FeatureControl = FeatureControl(read(IA32_FEATURE_CONTROL))

	if len(errs) > 0 {
		return c, errors.New("vmx: inconsistent capability MSRs: " + strings.Join(errs, "; "))
	}
	return c, nil
}

// FixCR0 sets the bits that must be 1 and clears the bits that must be 0 in
// VMX operation (SDM Vol. 3C §24.8 "Restrictions on VMX Operation").
// Use it for the host CR0 before VMXON and for a guest CR0 without
// "unrestricted guest".
func (c *Caps) FixCR0(cr0 uint64) uint64 { return (cr0 | c.CR0Fixed0) & c.CR0Fixed1 }

// FixCR4 is FixCR0 for CR4 (it sets CR4.VMXE).
func (c *Caps) FixCR4(cr4 uint64) uint64 { return (cr4 | c.CR4Fixed0) & c.CR4Fixed1 }

// String is a one-screen summary for boot logs.
func (c *Caps) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "VMX: revision %#x, region %d bytes, memory type %s, TRUE controls %v, INS/OUTS info %v\n",
		c.RevisionID, c.RegionSize, memTypeName(c.MemoryType), c.TrueControls, c.InsOutsInfo)
	for _, a := range []Allowed{c.Pin, c.Proc, c.Proc2, c.Exit, c.Entry} {
		fmt.Fprintf(&s, "  %-26s must-be-1 %08x may-be-1 %08x\n", a.Word.String()+":", a.Allowed0, a.Allowed1)
	}
	if c.Proc3.Allowed1 != 0 {
		fmt.Fprintf(&s, "  %-26s may-be-1 %016x\n", "tertiary processor-based:", c.Proc3.Allowed1)
	}
	m := c.Misc
	fmt.Fprintf(&s, "  misc: preemption timer rate %d, activity HLT=%v shutdown=%v wait-for-SIPI=%v, %d CR3 targets, MSR lists up to %d, VMWRITE any field %v, zero-length injection %v\n",
		m.PreemptionTimerRate, m.ActivityHLT, m.ActivityShutdown, m.ActivityWaitForSIPI, m.CR3Targets, m.MaxMSRListEntries, m.VMWriteAnyField, m.ZeroLengthInjection)
	e := c.EPTVPID
	fmt.Fprintf(&s, "  EPT: 4-level %v, 5-level %v, WB %v, UC %v, 2M %v, 1G %v, A/D %v, execute-only %v, INVEPT single %v all %v\n",
		e.PageWalk4, e.PageWalk5, e.MemTypeWB, e.MemTypeUC, e.Pages2M, e.Pages1G, e.AccessedDirty, e.ExecuteOnly, e.INVEPTSingleContext, e.INVEPTAllContext)
	fmt.Fprintf(&s, "  VPID: INVVPID %v, individual-address %v, single-context %v, all-context %v, single-context-retaining-globals %v\n",
		e.INVVPID, e.INVVPIDIndividualAddress, e.INVVPIDSingleContext, e.INVVPIDAllContext, e.INVVPIDSingleContextGlobs)
	fmt.Fprintf(&s, "  CR0 fixed0 %#x fixed1 %#x, CR4 fixed0 %#x fixed1 %#x, IA32_FEATURE_CONTROL %#x",
		c.CR0Fixed0, c.CR0Fixed1, c.CR4Fixed0, c.CR4Fixed1, uint64(c.FeatureControl))
	return s.String()
}

func memTypeName(t uint8) string {
	switch t {
	case MemTypeUC:
		return "UC"
	case 1:
		return "WC"
	case 4:
		return "WT"
	case 5:
		return "WP"
	case MemTypeWB:
		return "WB"
	case 7:
		return "UC-"
	}
	return fmt.Sprintf("reserved(%d)", t)
}
