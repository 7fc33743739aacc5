package vmx

import "strconv"

// ExitReason is the 32-bit exit-reason field (SDM Vol. 3C §25.9.1): the basic
// exit reason in bits 15:0 and flag bits above it.
type ExitReason uint32

// Flag bits of the exit-reason field.
const (
	ExitReasonBusLock     ExitReason = 1 << 26 // a bus lock was detected with "VMM bus-lock detection" (fault-like exits)
	ExitReasonEnclave     ExitReason = 1 << 27 // the VM exit was incident to enclave mode
	ExitReasonPendingMTF  ExitReason = 1 << 28 // pending MTF VM exit (SMM VM exits)
	ExitReasonFromRoot    ExitReason = 1 << 29 // VM exit from VMX root operation (SMM VM exits)
	ExitReasonEntryFailed ExitReason = 1 << 31 // VM-entry failure (0 = true VM exit)
)

// Basic is bits 15:0.
func (r ExitReason) Basic() BasicExitReason { return BasicExitReason(r) }

// EntryFailed reports bit 31: VM entry failed while loading guest state
// (basic reason 33, 34 or 41); the guest never ran.
func (r ExitReason) EntryFailed() bool { return r&ExitReasonEntryFailed != 0 }
func (r ExitReason) Enclave() bool     { return r&ExitReasonEnclave != 0 }
func (r ExitReason) PendingMTF() bool  { return r&ExitReasonPendingMTF != 0 }
func (r ExitReason) FromVMXRoot() bool { return r&ExitReasonFromRoot != 0 }
func (r ExitReason) BusLock() bool     { return r&ExitReasonBusLock != 0 }

// String is the basic reason's name with any flags, e.g.
// "VM-entry failure due to invalid guest state (VM-entry failure)".
func (r ExitReason) String() string {
	s := r.Basic().String()
	var fl string
	add := func(set bool, n string) {
		if set {
			if fl != "" {
				fl += ", "
			}
			fl += n
		}
	}
	add(r.EntryFailed(), "VM-entry failure")
	add(r.Enclave(), "enclave")
	add(r.PendingMTF(), "pending MTF")
	add(r.FromVMXRoot(), "from VMX root")
	add(r.BusLock(), "bus lock")
	if fl != "" {
		s += " (" + fl + ")"
	}
	return s
}

// BasicExitReason is a basic exit reason (SDM Vol. 3D Appendix C, Table C-1).
type BasicExitReason uint16

const (
	ReasonExceptionOrNMI      BasicExitReason = 0
	ReasonExternalInterrupt   BasicExitReason = 1
	ReasonTripleFault         BasicExitReason = 2
	ReasonINIT                BasicExitReason = 3
	ReasonSIPI                BasicExitReason = 4
	ReasonIOSMI               BasicExitReason = 5
	ReasonOtherSMI            BasicExitReason = 6
	ReasonInterruptWindow     BasicExitReason = 7
	ReasonNMIWindow           BasicExitReason = 8
	ReasonTaskSwitch          BasicExitReason = 9
	ReasonCPUID               BasicExitReason = 10
	ReasonGETSEC              BasicExitReason = 11
	ReasonHLT                 BasicExitReason = 12
	ReasonINVD                BasicExitReason = 13
	ReasonINVLPG              BasicExitReason = 14
	ReasonRDPMC               BasicExitReason = 15
	ReasonRDTSC               BasicExitReason = 16
	ReasonRSM                 BasicExitReason = 17
	ReasonVMCALL              BasicExitReason = 18
	ReasonVMCLEAR             BasicExitReason = 19
	ReasonVMLAUNCH            BasicExitReason = 20
	ReasonVMPTRLD             BasicExitReason = 21
	ReasonVMPTRST             BasicExitReason = 22
	ReasonVMREAD              BasicExitReason = 23
	ReasonVMRESUME            BasicExitReason = 24
	ReasonVMWRITE             BasicExitReason = 25
	ReasonVMXOFF              BasicExitReason = 26
	ReasonVMXON               BasicExitReason = 27
	ReasonCRAccess            BasicExitReason = 28
	ReasonMOVDR               BasicExitReason = 29
	ReasonIOInstruction       BasicExitReason = 30
	ReasonRDMSR               BasicExitReason = 31
	ReasonWRMSR               BasicExitReason = 32
	ReasonInvalidGuestState   BasicExitReason = 33
	ReasonMSRLoading          BasicExitReason = 34
	ReasonMWAIT               BasicExitReason = 36
	ReasonMonitorTrapFlag     BasicExitReason = 37
	ReasonMONITOR             BasicExitReason = 39
	ReasonPAUSE               BasicExitReason = 40
	ReasonMachineCheckEntry   BasicExitReason = 41
	ReasonTPRBelowThreshold   BasicExitReason = 43
	ReasonAPICAccess          BasicExitReason = 44
	ReasonVirtualizedEOI      BasicExitReason = 45
	ReasonGDTRIDTRAccess      BasicExitReason = 46
	ReasonLDTRTRAccess        BasicExitReason = 47
	ReasonEPTViolation        BasicExitReason = 48
	ReasonEPTMisconfiguration BasicExitReason = 49
	ReasonINVEPT              BasicExitReason = 50
	ReasonRDTSCP              BasicExitReason = 51
	ReasonPreemptionTimer     BasicExitReason = 52
	ReasonINVVPID             BasicExitReason = 53
	ReasonWBINVD              BasicExitReason = 54
	ReasonXSETBV              BasicExitReason = 55
	ReasonAPICWrite           BasicExitReason = 56
	ReasonRDRAND              BasicExitReason = 57
	ReasonINVPCID             BasicExitReason = 58
	ReasonVMFUNC              BasicExitReason = 59
	ReasonENCLS               BasicExitReason = 60
	ReasonRDSEED              BasicExitReason = 61
	ReasonPMLFull             BasicExitReason = 62
	ReasonXSAVES              BasicExitReason = 63
	ReasonXRSTORS             BasicExitReason = 64
	ReasonPCONFIG             BasicExitReason = 65
	ReasonSPPEvent            BasicExitReason = 66
	ReasonUMWAIT              BasicExitReason = 67
	ReasonTPAUSE              BasicExitReason = 68
	ReasonLOADIWKEY           BasicExitReason = 69
	ReasonENCLV               BasicExitReason = 70
	ReasonENQCMDPASIDFailure  BasicExitReason = 72
	ReasonENQCMDSPASIDFailure BasicExitReason = 73
	ReasonBusLock             BasicExitReason = 74
	ReasonInstructionTimeout  BasicExitReason = 75
	ReasonSEAMCALL            BasicExitReason = 76
	ReasonTDCALL              BasicExitReason = 77
	ReasonRDMSRLIST           BasicExitReason = 78
	ReasonWRMSRLIST           BasicExitReason = 79
	ReasonURDMSR              BasicExitReason = 80
	ReasonUWRMSR              BasicExitReason = 81
)

// exitReasonNames are the names that open each entry of Table C-1.
var exitReasonNames = [...]string{
	0:  "Exception or non-maskable interrupt (NMI)",
	1:  "External interrupt",
	2:  "Triple fault",
	3:  "INIT signal",
	4:  "Start-up IPI (SIPI)",
	5:  "I/O system-management interrupt (SMI)",
	6:  "Other SMI",
	7:  "Interrupt window",
	8:  "NMI window",
	9:  "Task switch",
	10: "CPUID",
	11: "GETSEC",
	12: "HLT",
	13: "INVD",
	14: "INVLPG",
	15: "RDPMC",
	16: "RDTSC",
	17: "RSM",
	18: "VMCALL",
	19: "VMCLEAR",
	20: "VMLAUNCH",
	21: "VMPTRLD",
	22: "VMPTRST",
	23: "VMREAD",
	24: "VMRESUME",
	25: "VMWRITE",
	26: "VMXOFF",
	27: "VMXON",
	28: "Control-register accesses",
	29: "MOV DR",
	30: "I/O instruction",
	31: "RDMSR",
	32: "WRMSR",
	33: "VM-entry failure due to invalid guest state",
	34: "VM-entry failure due to MSR loading",
	36: "MWAIT",
	37: "Monitor trap flag",
	39: "MONITOR",
	40: "PAUSE",
	41: "VM-entry failure due to machine-check event",
	43: "TPR below threshold",
	44: "APIC access",
	45: "Virtualized EOI",
	46: "Access to GDTR or IDTR",
	47: "Access to LDTR or TR",
	48: "EPT violation",
	49: "EPT misconfiguration",
	50: "INVEPT",
	51: "RDTSCP",
	52: "VMX-preemption timer expired",
	53: "INVVPID",
	54: "WBINVD or WBNOINVD",
	55: "XSETBV",
	56: "APIC write",
	57: "RDRAND",
	58: "INVPCID",
	59: "VMFUNC",
	60: "ENCLS",
	61: "RDSEED",
	62: "Page-modification log full",
	63: "XSAVES",
	64: "XRSTORS",
	65: "PCONFIG",
	66: "SPP-related event",
	67: "UMWAIT",
	68: "TPAUSE",
	69: "LOADIWKEY",
	70: "ENCLV",
	72: "ENQCMD PASID translation failure",
	73: "ENQCMDS PASID translation failure",
	74: "Bus lock",
	75: "Instruction timeout",
	76: "SEAMCALL",
	77: "TDCALL",
	78: "RDMSRLIST",
	79: "WRMSRLIST",
	80: "URDMSR",
	81: "UWRMSR",
}

// Known reports whether r is a reason of the table (35, 38, 42 and 71 are not).
func (r BasicExitReason) Known() bool {
	return int(r) < len(exitReasonNames) && exitReasonNames[r] != ""
}

// String is the SDM name, or "exit reason N".
func (r BasicExitReason) String() string {
	if r.Known() {
		return exitReasonNames[r]
	}
	return "exit reason " + strconv.Itoa(int(r))
}

// EntryFailure reports whether r is one of the reasons used only for VM-entry
// failures during or after loading guest state (33, 34, 41).
func (r BasicExitReason) EntryFailure() bool {
	return r == ReasonInvalidGuestState || r == ReasonMSRLoading || r == ReasonMachineCheckEntry
}
