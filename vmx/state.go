package vmx

// Processor-state bits the checks and dumps refer to (SDM Vol. 3A, "Control
// Registers", "System Flags and Fields in the EFLAGS Register", "Extended
// Feature Enable Register").
const (
	CR0PE = 1 << 0
	CR0MP = 1 << 1
	CR0EM = 1 << 2
	CR0TS = 1 << 3
	CR0ET = 1 << 4
	CR0NE = 1 << 5
	CR0WP = 1 << 16
	CR0AM = 1 << 18
	CR0NW = 1 << 29
	CR0CD = 1 << 30
	CR0PG = 1 << 31

	CR4VME        = 1 << 0
	CR4PVI        = 1 << 1
	CR4TSD        = 1 << 2
	CR4DE         = 1 << 3
	CR4PSE        = 1 << 4
	CR4PAE        = 1 << 5
	CR4MCE        = 1 << 6
	CR4PGE        = 1 << 7
	CR4PCE        = 1 << 8
	CR4OSFXSR     = 1 << 9
	CR4OSXMMEXCPT = 1 << 10
	CR4UMIP       = 1 << 11
	CR4LA57       = 1 << 12
	CR4VMXE       = 1 << 13
	CR4SMXE       = 1 << 14
	CR4FSGSBASE   = 1 << 16
	CR4PCIDE      = 1 << 17
	CR4OSXSAVE    = 1 << 18
	CR4KL         = 1 << 19
	CR4SMEP       = 1 << 20
	CR4SMAP       = 1 << 21
	CR4PKE        = 1 << 22
	CR4CET        = 1 << 23
	CR4PKS        = 1 << 24
	CR4UINTR      = 1 << 25

	RFLAGSCF   = 1 << 0
	RFLAGSRes1 = 1 << 1 // reserved, always 1
	RFLAGSPF   = 1 << 2
	RFLAGSAF   = 1 << 4
	RFLAGSZF   = 1 << 6
	RFLAGSSF   = 1 << 7
	RFLAGSTF   = 1 << 8
	RFLAGSIF   = 1 << 9
	RFLAGSDF   = 1 << 10
	RFLAGSOF   = 1 << 11
	RFLAGSIOPL = 3 << 12
	RFLAGSNT   = 1 << 14
	RFLAGSRF   = 1 << 16
	RFLAGSVM   = 1 << 17
	RFLAGSAC   = 1 << 18
	RFLAGSVIF  = 1 << 19
	RFLAGSVIP  = 1 << 20
	RFLAGSID   = 1 << 21

	EFERSCE = 1 << 0
	EFERLME = 1 << 8
	EFERLMA = 1 << 10
	EFERNXE = 1 << 11

	DebugCtlBTF = 1 << 1 // IA32_DEBUGCTL.BTF
)

// AccessRights is the VMCS format of segment access rights (SDM Vol. 3C
// §25.4.1 "Guest Register State", table "Format of Access Rights"): descriptor
// bits 40-47 and 52-55 in
// bits 7:0 and 15:12, plus bit 16 "segment unusable".
type AccessRights uint32

const (
	ARTypeMask AccessRights = 0xF
	ARS        AccessRights = 1 << 4 // descriptor type (0 = system, 1 = code or data)
	ARDPLMask  AccessRights = 3 << 5
	ARP        AccessRights = 1 << 7  // segment present
	ARAVL      AccessRights = 1 << 12 // available for use by system software
	ARL        AccessRights = 1 << 13 // 64-bit mode active (CS only)
	ARDB       AccessRights = 1 << 14 // default operation size (0 = 16-bit, 1 = 32-bit)
	ARG        AccessRights = 1 << 15 // granularity
	ARUnusable AccessRights = 1 << 16 // segment unusable (0 = usable)
)

// Segment types (the Type field; SDM Vol. 3A, "Code- and Data-Segment
// Descriptor Types" and "System Descriptor Types").
const (
	TypeDataRWAccessed = 3  // read/write, accessed data
	TypeLDT            = 2  // LDT (system)
	TypeTSS16Busy      = 3  // 16-bit TSS (busy) (system)
	TypeTSS32Available = 9  // 32/64-bit TSS (available) (system)
	TypeCodeXRAccessed = 11 // execute/read, accessed code; also 32/64-bit TSS (busy) as a system type
	TypeTSS64Busy      = 11
	TypeCodeConforming = 4 // bit 2 of a code type
	TypeCodeReadable   = 2 // bit 1 of a code type
	TypeCodeOrData     = 8 // bit 3: code
	TypeAccessed       = 1 // bit 0
	TypeDataExpandDown = 4 // bit 2 of a data type
	TypeDataWritable   = 2 // bit 1 of a data type
)

func (a AccessRights) Type() uint8    { return uint8(a & ARTypeMask) }
func (a AccessRights) S() bool        { return a&ARS != 0 }
func (a AccessRights) DPL() uint8     { return uint8(a >> 5 & 3) }
func (a AccessRights) P() bool        { return a&ARP != 0 }
func (a AccessRights) AVL() bool      { return a&ARAVL != 0 }
func (a AccessRights) L() bool        { return a&ARL != 0 }
func (a AccessRights) DB() bool       { return a&ARDB != 0 }
func (a AccessRights) G() bool        { return a&ARG != 0 }
func (a AccessRights) Unusable() bool { return a&ARUnusable != 0 }
func (a AccessRights) Usable() bool   { return a&ARUnusable == 0 }

// Segment is one segment register of the guest-state area.
type Segment struct {
	Selector uint16
	Base     uint64
	Limit    uint32
	AR       AccessRights
}

// RPL is the requested privilege level of the selector.
func (s Segment) RPL() uint8 { return uint8(s.Selector & 3) }

// TI is the table indicator of the selector (1 = LDT).
func (s Segment) TI() bool { return s.Selector&4 != 0 }

// DescriptorTable is GDTR or IDTR.
type DescriptorTable struct {
	Base  uint64
	Limit uint32
}

// ActivityState is the guest activity state (SDM Vol. 3C §25.4.2).
type ActivityState uint32

const (
	ActivityActive      ActivityState = 0
	ActivityHLT         ActivityState = 1
	ActivityShutdown    ActivityState = 2
	ActivityWaitForSIPI ActivityState = 3
)

func (s ActivityState) String() string {
	switch s {
	case ActivityActive:
		return "active"
	case ActivityHLT:
		return "HLT"
	case ActivityShutdown:
		return "shutdown"
	case ActivityWaitForSIPI:
		return "wait-for-SIPI"
	}
	return "activity state " + itoa(uint64(s))
}

// Interruptibility is the guest interruptibility state (SDM Vol. 3C §25.4.2).
type Interruptibility uint32

const (
	BlockingBySTI       Interruptibility = 1 << 0
	BlockingByMOVSS     Interruptibility = 1 << 1
	BlockingBySMI       Interruptibility = 1 << 2
	BlockingByNMI       Interruptibility = 1 << 3
	EnclaveInterruption Interruptibility = 1 << 4
)

func (s Interruptibility) String() string {
	if s == 0 {
		return "none"
	}
	var out string
	for i, n := range []string{"blocking by STI", "blocking by MOV SS", "blocking by SMI", "blocking by NMI", "enclave interruption"} {
		if s&(1<<i) != 0 {
			if out != "" {
				out += ", "
			}
			out += n
		}
	}
	if r := s &^ 0x1F; r != 0 {
		if out != "" {
			out += ", "
		}
		out += "reserved bits 0x" + hex(uint64(r))
	}
	return out
}

// Pending debug exceptions bits (SDM Vol. 3C §25.4.2).
const (
	PendingDebugB0     = 1 << 0
	PendingDebugBLD    = 1 << 11
	PendingDebugEnable = 1 << 12 // enabled breakpoint
	PendingDebugBS     = 1 << 14
	PendingDebugRTM    = 1 << 16
)

// GuestState is the guest-state area of the VMCS (SDM Vol. 3C §25.4), every
// field of Appendix B's guest-state tables.
type GuestState struct {
	CR0, CR3, CR4 uint64
	DR7           uint64
	RSP, RIP      uint64
	RFLAGS        uint64

	ES, CS, SS, DS, FS, GS, LDTR, TR Segment
	GDTR, IDTR                       DescriptorTable

	IA32DebugCtl       uint64
	IA32SysenterCS     uint32
	IA32SysenterESP    uint64
	IA32SysenterEIP    uint64
	IA32PerfGlobalCtrl uint64
	IA32PAT            uint64
	IA32EFER           uint64
	IA32BNDCFGS        uint64
	IA32RTITCtl        uint64
	IA32LBRCtl         uint64
	IA32PKRS           uint64
	IA32SCET           uint64
	SSP                uint64
	IA32InterruptSSP   uint64 // IA32_INTERRUPT_SSP_TABLE_ADDR
	SMBASE             uint32
	PDPTE              [4]uint64

	// FRED state (loaded with "load FRED"; not checked by this package).
	IA32FREDConfig  uint64
	IA32FREDRSP     [3]uint64 // RSP1..RSP3
	IA32FREDStkLvls uint64
	IA32FREDSSP     [3]uint64 // SSP1..SSP3

	// Non-register state (§25.4.2).
	Activity         ActivityState
	Interruptibility Interruptibility
	PendingDebug     uint64 // pending debug exceptions
	VMCSLinkPointer  uint64 // all ones unless VMCS shadowing
	PreemptionTimer  uint32 // VMX-preemption timer value
	InterruptStatus  uint16 // guest interrupt status (RVI 7:0, SVI 15:8)
	PMLIndex         uint16
	UINV             uint16
}

// Segments lists the eight segment registers with their names, in the order
// of the VMCS encodings (ES, CS, SS, DS, FS, GS, LDTR, TR).
func (g *GuestState) Segments() [8]struct {
	Name string
	Seg  *Segment
} {
	return [8]struct {
		Name string
		Seg  *Segment
	}{{"ES", &g.ES}, {"CS", &g.CS}, {"SS", &g.SS}, {"DS", &g.DS}, {"FS", &g.FS}, {"GS", &g.GS}, {"LDTR", &g.LDTR}, {"TR", &g.TR}}
}

// HostState is the host-state area of the VMCS (SDM Vol. 3C §25.5).
type HostState struct {
	CR0, CR3, CR4 uint64
	RSP, RIP      uint64

	ES, CS, SS, DS, FS, GS, TR uint16 // selectors
	FSBase, GSBase, TRBase     uint64
	GDTRBase, IDTRBase         uint64

	IA32SysenterCS     uint32
	IA32SysenterESP    uint64
	IA32SysenterEIP    uint64
	IA32PerfGlobalCtrl uint64
	IA32PAT            uint64
	IA32EFER           uint64
	IA32PKRS           uint64
	IA32SCET           uint64
	SSP                uint64
	IA32InterruptSSP   uint64

	IA32FREDConfig  uint64
	IA32FREDRSP     [3]uint64
	IA32FREDStkLvls uint64
	IA32FREDSSP     [3]uint64
}

// Controls holds the VM-execution, VM-exit and VM-entry control fields
// (SDM Vol. 3C §25.6-25.8) that VM entry checks (§27.2.1) or that decide how
// the guest state is checked.
type Controls struct {
	Pin, Proc, Proc2 uint32 // Proc2 takes effect only with "activate secondary controls"
	Proc3            uint64 // takes effect only with "activate tertiary controls"
	Exit             uint32
	Exit2            uint64 // takes effect only with "activate secondary controls" (exit)
	Entry            uint32

	ExceptionBitmap                   uint32
	PageFaultErrorCodeMask, PFECMatch uint32
	CR0Mask, CR4Mask                  uint64 // guest/host masks
	CR0Shadow, CR4Shadow              uint64 // read shadows
	CR3TargetCount                    uint32
	CR3Targets                        [4]uint64
	IOBitmapA, IOBitmapB, MSRBitmap   uint64
	TSCOffset, TSCMultiplier          uint64
	VirtualAPICAddr, APICAccessAddr   uint64
	TPRThreshold                      uint32
	PostedIntVector                   uint16
	PostedIntDescAddr                 uint64
	EOIExitBitmap                     [4]uint64
	VPID                              uint16
	EPTP                              uint64
	PMLAddr                           uint64
	VMFuncControls, EPTPListAddr      uint64
	VMReadBitmap, VMWriteBitmap       uint64
	VEInfoAddr                        uint64
	SPPTP                             uint64
	XSSExitingBitmap                  uint64
	PLEGap, PLEWindow                 uint32

	ExitMSRStoreCount, ExitMSRLoadCount uint32
	ExitMSRStoreAddr, ExitMSRLoadAddr   uint64
	EntryMSRLoadCount                   uint32
	EntryMSRLoadAddr                    uint64

	EntryIntInfo   uint32 // VM-entry interruption-information field
	EntryErrorCode uint32 // VM-entry exception error code
	EntryInstrLen  uint32 // VM-entry instruction length
}

// Secondary is the effective secondary processor-based controls: 0 unless
// "activate secondary controls" is 1 (SDM Vol. 3C §25.6.2).
func (c *Controls) Secondary() uint32 {
	if c.Proc&ProcBasedActivateSecondaryControls == 0 {
		return 0
	}
	return c.Proc2
}

// Tertiary is the effective tertiary processor-based controls.
func (c *Controls) Tertiary() uint64 {
	if c.Proc&ProcBasedActivateTertiaryControls == 0 {
		return 0
	}
	return c.Proc3
}

// SecondaryExit is the effective secondary VM-exit controls.
func (c *Controls) SecondaryExit() uint64 {
	if c.Exit&ExitActivateSecondaryControls == 0 {
		return 0
	}
	return c.Exit2
}

// Injection is the event the next VM entry injects.
func (c *Controls) Injection() Injection {
	return Injection{Info: c.EntryIntInfo, ErrorCode: c.EntryErrorCode, InstrLen: c.EntryInstrLen}
}

func hex(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var b [16]byte
	i := len(b)
	for v != 0 {
		i--
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[i:])
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v != 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
