package vmx

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// ControlWord names one of the VMX control words.
type ControlWord uint8

const (
	PinBased   ControlWord = iota // pin-based VM-execution controls (SDM Vol. 3C §25.6.1)
	ProcBased                     // primary processor-based VM-execution controls (§25.6.2)
	ProcBased2                    // secondary processor-based VM-execution controls (§25.6.2)
	ProcBased3                    // tertiary processor-based VM-execution controls, 64 bits (§25.6.2)
	ExitCtls                      // primary VM-exit controls (§25.7.1)
	ExitCtls2                     // secondary VM-exit controls, 64 bits (§25.7.1)
	EntryCtls                     // VM-entry controls (§25.8.1)
	numControlWords
)

var controlWordNames = [numControlWords]string{
	PinBased:   "pin-based",
	ProcBased:  "primary processor-based",
	ProcBased2: "secondary processor-based",
	ProcBased3: "tertiary processor-based",
	ExitCtls:   "primary VM-exit",
	ExitCtls2:  "secondary VM-exit",
	EntryCtls:  "VM-entry",
}

func (w ControlWord) String() string {
	if w < numControlWords {
		return controlWordNames[w]
	}
	return "control word " + strconv.Itoa(int(w))
}

// Field is the VMCS field that holds the control word.
func (w ControlWord) Field() Field {
	switch w {
	case PinBased:
		return PinBasedControls
	case ProcBased:
		return ProcBasedControls
	case ProcBased2:
		return ProcBasedControls2
	case ProcBased3:
		return ProcBasedControls3
	case ExitCtls:
		return ExitControls
	case ExitCtls2:
		return ExitControls2
	}
	return EntryControls
}

// Pin-based VM-execution controls (SDM Vol. 3C §25.6.1).
// Bits 1, 2 and 4 are default1 (SDM Vol. 3D A.2).
const (
	PinBasedExternalInterruptExiting = 1 << 0 // "external-interrupt exiting"
	PinBasedNMIExiting               = 1 << 3 // "NMI exiting"
	PinBasedVirtualNMIs              = 1 << 5 // "virtual NMIs"
	PinBasedActivatePreemptionTimer  = 1 << 6 // "activate VMX-preemption timer"
	PinBasedProcessPostedInterrupts  = 1 << 7 // "process posted interrupts"
)

// Primary processor-based VM-execution controls (§25.6.2).
// Bits 1, 4-6, 8, 13-16 and 26 are default1 (A.2).
const (
	ProcBasedInterruptWindowExiting    = 1 << 2  // "interrupt-window exiting"
	ProcBasedUseTSCOffsetting          = 1 << 3  // "use TSC offsetting"
	ProcBasedHLTExiting                = 1 << 7  // "HLT exiting"
	ProcBasedINVLPGExiting             = 1 << 9  // "INVLPG exiting"
	ProcBasedMWAITExiting              = 1 << 10 // "MWAIT exiting"
	ProcBasedRDPMCExiting              = 1 << 11 // "RDPMC exiting"
	ProcBasedRDTSCExiting              = 1 << 12 // "RDTSC exiting"
	ProcBasedCR3LoadExiting            = 1 << 15 // "CR3-load exiting"
	ProcBasedCR3StoreExiting           = 1 << 16 // "CR3-store exiting"
	ProcBasedActivateTertiaryControls  = 1 << 17 // "activate tertiary controls"
	ProcBasedCR8LoadExiting            = 1 << 19 // "CR8-load exiting"
	ProcBasedCR8StoreExiting           = 1 << 20 // "CR8-store exiting"
	ProcBasedUseTPRShadow              = 1 << 21 // "use TPR shadow"
	ProcBasedNMIWindowExiting          = 1 << 22 // "NMI-window exiting"
	ProcBasedMOVDRExiting              = 1 << 23 // "MOV-DR exiting"
	ProcBasedUnconditionalIOExiting    = 1 << 24 // "unconditional I/O exiting"
	ProcBasedUseIOBitmaps              = 1 << 25 // "use I/O bitmaps"
	ProcBasedMonitorTrapFlag           = 1 << 27 // "monitor trap flag"
	ProcBasedUseMSRBitmaps             = 1 << 28 // "use MSR bitmaps"
	ProcBasedMONITORExiting            = 1 << 29 // "MONITOR exiting"
	ProcBasedPAUSEExiting              = 1 << 30 // "PAUSE exiting"
	ProcBasedActivateSecondaryControls = 1 << 31 // "activate secondary controls"
)

// Secondary processor-based VM-execution controls (§25.6.2).
const (
	ProcBased2VirtualizeAPICAccesses     = 1 << 0  // "virtualize APIC accesses"
	ProcBased2EnableEPT                  = 1 << 1  // "enable EPT"
	ProcBased2DescriptorTableExiting     = 1 << 2  // "descriptor-table exiting"
	ProcBased2EnableRDTSCP               = 1 << 3  // "enable RDTSCP"
	ProcBased2VirtualizeX2APICMode       = 1 << 4  // "virtualize x2APIC mode"
	ProcBased2EnableVPID                 = 1 << 5  // "enable VPID"
	ProcBased2WBINVDExiting              = 1 << 6  // "WBINVD exiting"
	ProcBased2UnrestrictedGuest          = 1 << 7  // "unrestricted guest"
	ProcBased2APICRegisterVirtualization = 1 << 8  // "APIC-register virtualization"
	ProcBased2VirtualInterruptDelivery   = 1 << 9  // "virtual-interrupt delivery"
	ProcBased2PAUSELoopExiting           = 1 << 10 // "PAUSE-loop exiting"
	ProcBased2RDRANDExiting              = 1 << 11 // "RDRAND exiting"
	ProcBased2EnableINVPCID              = 1 << 12 // "enable INVPCID"
	ProcBased2EnableVMFunctions          = 1 << 13 // "enable VM functions"
	ProcBased2VMCSShadowing              = 1 << 14 // "VMCS shadowing"
	ProcBased2EnableENCLSExiting         = 1 << 15 // "enable ENCLS exiting"
	ProcBased2RDSEEDExiting              = 1 << 16 // "RDSEED exiting"
	ProcBased2EnablePML                  = 1 << 17 // "enable PML"
	ProcBased2EPTViolationVE             = 1 << 18 // "EPT-violation #VE"
	ProcBased2ConcealVMXFromPT           = 1 << 19 // "conceal VMX from PT"
	ProcBased2EnableXSAVES               = 1 << 20 // "enable XSAVES/XRSTORS"
	ProcBased2PASIDTranslation           = 1 << 21 // "PASID translation"
	ProcBased2ModeBasedExecuteControl    = 1 << 22 // "mode-based execute control for EPT"
	ProcBased2SubPageWritePermissions    = 1 << 23 // "sub-page write permissions for EPT"
	ProcBased2PTUsesGuestPhysical        = 1 << 24 // "Intel PT uses guest physical addresses"
	ProcBased2UseTSCScaling              = 1 << 25 // "use TSC scaling"
	ProcBased2EnableUserWaitAndPause     = 1 << 26 // "enable user wait and pause"
	ProcBased2EnablePCONFIG              = 1 << 27 // "enable PCONFIG"
	ProcBased2EnableENCLVExiting         = 1 << 28 // "enable ENCLV exiting"
	ProcBased2VMMBusLockDetection        = 1 << 30 // "VMM bus-lock detection"
	ProcBased2InstructionTimeout         = 1 << 31 // "instruction timeout"
)

// Tertiary processor-based VM-execution controls (§25.6.2).
const (
	ProcBased3LOADIWKEYExiting          = 1 << 0 // "LOADIWKEY exiting"
	ProcBased3EnableHLAT                = 1 << 1 // "enable HLAT"
	ProcBased3EPTPagingWriteControl     = 1 << 2 // "EPT paging-write control"
	ProcBased3GuestPagingVerification   = 1 << 3 // "guest-paging verification"
	ProcBased3IPIVirtualization         = 1 << 4 // "IPI virtualization"
	ProcBased3EnableMSRListInstructions = 1 << 6 // "enable MSR-list instructions"
	ProcBased3VirtualizeIA32SpecCtrl    = 1 << 7 // "virtualize IA32_SPEC_CTRL"
)

// Primary VM-exit controls (§25.7.1). Bits 0-8, 10, 11, 13, 14, 16 and 17
// are default1 (A.2).
const (
	ExitSaveDebugControls          = 1 << 2  // "save debug controls"
	ExitHostAddressSpaceSize       = 1 << 9  // "host address-space size"
	ExitLoadPerfGlobalCtrl         = 1 << 12 // "load IA32_PERF_GLOBAL_CTRL"
	ExitAcknowledgeInterruptOnExit = 1 << 15 // "acknowledge interrupt on exit"
	ExitSavePAT                    = 1 << 18 // "save IA32_PAT"
	ExitLoadPAT                    = 1 << 19 // "load IA32_PAT"
	ExitSaveEFER                   = 1 << 20 // "save IA32_EFER"
	ExitLoadEFER                   = 1 << 21 // "load IA32_EFER"
	ExitSavePreemptionTimer        = 1 << 22 // "save VMX-preemption timer value"
	ExitClearBNDCFGS               = 1 << 23 // "clear IA32_BNDCFGS"
	ExitConcealVMXFromPT           = 1 << 24 // "conceal VMX from PT"
	ExitClearRTITCtl               = 1 << 25 // "clear IA32_RTIT_CTL"
	ExitClearLBRCtl                = 1 << 26 // "clear IA32_LBR_CTL"
	ExitClearUINV                  = 1 << 27 // "clear UINV"
	ExitLoadCETState               = 1 << 28 // "load CET state"
	ExitLoadPKRS                   = 1 << 29 // "load PKRS"
	ExitSavePerfGlobalCtrl         = 1 << 30 // "save IA32_PERF_GLOBAL_CTRL"
	ExitActivateSecondaryControls  = 1 << 31 // "activate secondary controls"
)

// VM-entry controls (§25.8.1). Bits 0-8 and 12 are default1 (A.2).
const (
	EntryLoadDebugControls     = 1 << 2  // "load debug controls"
	EntryIA32eModeGuest        = 1 << 9  // "IA-32e mode guest"
	EntryToSMM                 = 1 << 10 // "entry to SMM"
	EntryDeactivateDualMonitor = 1 << 11 // "deactivate dual-monitor treatment"
	EntryLoadPerfGlobalCtrl    = 1 << 13 // "load IA32_PERF_GLOBAL_CTRL"
	EntryLoadPAT               = 1 << 14 // "load IA32_PAT"
	EntryLoadEFER              = 1 << 15 // "load IA32_EFER"
	EntryLoadBNDCFGS           = 1 << 16 // "load IA32_BNDCFGS"
	EntryConcealVMXFromPT      = 1 << 17 // "conceal VMX from PT"
	EntryLoadRTITCtl           = 1 << 18 // "load IA32_RTIT_CTL"
	EntryLoadUINV              = 1 << 19 // "load UINV"
	EntryLoadCETState          = 1 << 20 // "load CET state"
	EntryLoadLBRCtl            = 1 << 21 // "load guest IA32_LBR_CTL"
	EntryLoadPKRS              = 1 << 22 // "load PKRS"
)

// Default1 controls: reserved bits that the non-TRUE capability MSRs report as
// must-be-one (SDM Vol. 3D A.2). With TRUE controls some of them may be 0.
const (
	PinBasedDefault1  = 0x00000016
	ProcBasedDefault1 = 0x0401E172
	ExitDefault1      = 0x00036DFF
	EntryDefault1     = 0x000011FF
)

// controlNames holds the SDM name of every control bit, by word and bit.
var controlNames = [numControlWords]map[uint8]string{
	PinBased: {
		0: "external-interrupt exiting",
		3: "NMI exiting",
		5: "virtual NMIs",
		6: "activate VMX-preemption timer",
		7: "process posted interrupts",
	},
	ProcBased: {
		2:  "interrupt-window exiting",
		3:  "use TSC offsetting",
		7:  "HLT exiting",
		9:  "INVLPG exiting",
		10: "MWAIT exiting",
		11: "RDPMC exiting",
		12: "RDTSC exiting",
		15: "CR3-load exiting",
		16: "CR3-store exiting",
		17: "activate tertiary controls",
		19: "CR8-load exiting",
		20: "CR8-store exiting",
		21: "use TPR shadow",
		22: "NMI-window exiting",
		23: "MOV-DR exiting",
		24: "unconditional I/O exiting",
		25: "use I/O bitmaps",
		27: "monitor trap flag",
		28: "use MSR bitmaps",
		29: "MONITOR exiting",
		30: "PAUSE exiting",
		31: "activate secondary controls",
	},
	ProcBased2: {
		0:  "virtualize APIC accesses",
		1:  "enable EPT",
		2:  "descriptor-table exiting",
		3:  "enable RDTSCP",
		4:  "virtualize x2APIC mode",
		5:  "enable VPID",
		6:  "WBINVD exiting",
		7:  "unrestricted guest",
		8:  "APIC-register virtualization",
		9:  "virtual-interrupt delivery",
		10: "PAUSE-loop exiting",
		11: "RDRAND exiting",
		12: "enable INVPCID",
		13: "enable VM functions",
		14: "VMCS shadowing",
		15: "enable ENCLS exiting",
		16: "RDSEED exiting",
		17: "enable PML",
		18: "EPT-violation #VE",
		19: "conceal VMX from PT",
		20: "enable XSAVES/XRSTORS",
		21: "PASID translation",
		22: "mode-based execute control for EPT",
		23: "sub-page write permissions for EPT",
		24: "Intel PT uses guest physical addresses",
		25: "use TSC scaling",
		26: "enable user wait and pause",
		27: "enable PCONFIG",
		28: "enable ENCLV exiting",
		30: "VMM bus-lock detection",
		31: "instruction timeout",
	},
	ProcBased3: {
		0: "LOADIWKEY exiting",
		1: "enable HLAT",
		2: "EPT paging-write control",
		3: "guest-paging verification",
		4: "IPI virtualization",
		6: "enable MSR-list instructions",
		7: "virtualize IA32_SPEC_CTRL",
	},
	ExitCtls: {
		2:  "save debug controls",
		9:  "host address-space size",
		12: "load IA32_PERF_GLOBAL_CTRL",
		15: "acknowledge interrupt on exit",
		18: "save IA32_PAT",
		19: "load IA32_PAT",
		20: "save IA32_EFER",
		21: "load IA32_EFER",
		22: "save VMX-preemption timer value",
		23: "clear IA32_BNDCFGS",
		24: "conceal VMX from PT",
		25: "clear IA32_RTIT_CTL",
		26: "clear IA32_LBR_CTL",
		27: "clear UINV",
		28: "load CET state",
		29: "load PKRS",
		30: "save IA32_PERF_GLOBAL_CTRL",
		31: "activate secondary controls",
	},
	ExitCtls2: {},
	EntryCtls: {
		2:  "load debug controls",
		9:  "IA-32e mode guest",
		10: "entry to SMM",
		11: "deactivate dual-monitor treatment",
		13: "load IA32_PERF_GLOBAL_CTRL",
		14: "load IA32_PAT",
		15: "load IA32_EFER",
		16: "load IA32_BNDCFGS",
		17: "conceal VMX from PT",
		18: "load IA32_RTIT_CTL",
		19: "load UINV",
		20: "load CET state",
		21: "load guest IA32_LBR_CTL",
		22: "load PKRS",
	},
}

// ControlName is the SDM name of a control bit, "" for a reserved bit.
func ControlName(w ControlWord, bit uint8) string {
	if w >= numControlWords {
		return ""
	}
	return controlNames[w][bit]
}

// describeBit is `"enable EPT" (secondary processor-based bit 1)` or, for a
// reserved bit, `reserved bit 29 (secondary processor-based)`.
func describeBit(w ControlWord, bit uint8) string {
	if n := ControlName(w, bit); n != "" {
		return strconv.Quote(n) + " (" + w.String() + " bit " + strconv.Itoa(int(bit)) + ")"
	}
	return "reserved bit " + strconv.Itoa(int(bit)) + " (" + w.String() + ")"
}

// Names lists the SDM names of the bits set in v (reserved bits as "bit N").
func (w ControlWord) Names(v uint64) []string {
	var out []string
	for v != 0 {
		b := uint8(bits.TrailingZeros64(v))
		v &^= 1 << b
		if n := ControlName(w, b); n != "" {
			out = append(out, n)
		} else {
			out = append(out, "bit "+strconv.Itoa(int(b)))
		}
	}
	return out
}

// Format is "0x00000017 [external-interrupt exiting] reserved=0x16": the
// named controls that are set, then the reserved (default1) bits that are set.
func (w ControlWord) Format(v uint64) string {
	width := 8
	if w == ProcBased3 || w == ExitCtls2 {
		width = 16
	}
	var named []string
	var reserved uint64
	for r := v; r != 0; r &= r - 1 {
		b := uint8(bits.TrailingZeros64(r))
		if n := ControlName(w, b); n != "" {
			named = append(named, n)
		} else {
			reserved |= 1 << b
		}
	}
	s := fmt.Sprintf("0x%0*x [%s]", width, v, strings.Join(named, ", "))
	if reserved != 0 {
		s += fmt.Sprintf(" reserved=%#x", reserved)
	}
	return s
}

// ControlError reports required controls the processor cannot set to 1.
type ControlError struct {
	Word    ControlWord
	Missing uint64 // the required bits that are not allowed to be 1
}

func (e *ControlError) Error() string {
	var ds []string
	for v := e.Missing; v != 0; v &= v - 1 {
		ds = append(ds, describeBit(e.Word, uint8(bits.TrailingZeros64(v))))
	}
	if len(ds) == 1 {
		return "vmx: required control " + ds[0] + " not supported by this CPU"
	}
	return "vmx: required controls " + strings.Join(ds, ", ") + " not supported by this CPU"
}

// Adjust computes the value of a 32-bit control word: every must-be-one bit
// (allowed 0-settings) is set, every bit of want is set, and bits of optional
// are set where the processor allows them (allowed 1-settings). If a bit of
// want may not be 1, the result is a *ControlError naming it, e.g.
//
//	vmx: required control "enable EPT" (secondary processor-based bit 1) not supported by this CPU
//
// See SDM Vol. 3D A.2 for the algorithm this follows.
func Adjust(want, optional uint32, ctl Allowed) (uint32, error) {
	if missing := want &^ ctl.Allowed1; missing != 0 {
		return 0, &ControlError{Word: ctl.Word, Missing: uint64(missing)}
	}
	return ctl.Allowed0 | want | optional&ctl.Allowed1, nil
}

// Adjust64 is Adjust for the 64-bit control words, which have no
// must-be-one bits.
func Adjust64(want, optional uint64, ctl Allowed64) (uint64, error) {
	if missing := want &^ ctl.Allowed1; missing != 0 {
		return 0, &ControlError{Word: ctl.Word, Missing: missing}
	}
	return want | optional&ctl.Allowed1, nil
}
