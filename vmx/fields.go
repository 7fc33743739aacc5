package vmx

import "strconv"

// A Field is a VMCS component encoding, the operand of VMREAD and VMWRITE
// (SDM Vol. 3C §25.11.2 "VMREAD, VMWRITE, and Encodings of VMCS Fields"):
//
//	bit  0      access type (0 = full, 1 = high; high only for 64-bit fields)
//	bits 9:1    index
//	bits 11:10  type (0 control, 1 VM-exit information, 2 guest state, 3 host state)
//	bit  12     reserved (0)
//	bits 14:13  width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural-width)
//	bits 31:15  reserved (0)
type Field uint32

// FieldWidth is bits 14:13 of a field encoding.
type FieldWidth uint8

const (
	Width16      FieldWidth = 0
	Width64      FieldWidth = 1
	Width32      FieldWidth = 2
	WidthNatural FieldWidth = 3 // 64 bits on processors that support Intel 64 architecture
)

func (w FieldWidth) String() string {
	switch w {
	case Width16:
		return "16-bit"
	case Width64:
		return "64-bit"
	case Width32:
		return "32-bit"
	}
	return "natural-width"
}

// FieldType is bits 11:10 of a field encoding.
type FieldType uint8

const (
	TypeControl  FieldType = 0
	TypeExitInfo FieldType = 1 // "VM-exit information": the read-only data fields
	TypeGuest    FieldType = 2
	TypeHost     FieldType = 3
)

func (t FieldType) String() string {
	switch t {
	case TypeControl:
		return "control"
	case TypeExitInfo:
		return "read-only data"
	case TypeGuest:
		return "guest-state"
	}
	return "host-state"
}

// The fields of SDM Vol. 3D Appendix B "Field Encoding in VMCS", in its order.
// Each comment is the SDM name, which Field.String returns.
//
// Also listed, marked FRED, are the fields of the FRED architecture (Intel
// "Flexible Return and Event Delivery" specification), which newer SDM
// editions fold into Appendix B. Not listed (no name verified for them):
// MSR data (2402H, MSR-list instructions), guest/host IA32_SPEC_CTRL
// (282EH/2C1AH), and the APIC-timer-virtualization fields.
const (
	// B.1.1 16-bit control fields.
	VirtualProcessorID          Field = 0x0000 // "Virtual-processor identifier (VPID)"
	PostedInterruptNotifyVector Field = 0x0002 // "Posted-interrupt notification vector"
	EPTPIndex                   Field = 0x0004 // "EPTP index"
	HLATPrefixSize              Field = 0x0006 // "HLAT prefix size"
	LastPIDPointerIndex         Field = 0x0008 // "Last PID-pointer index"

	// B.1.2 16-bit guest-state fields.
	GuestESSelector      Field = 0x0800 // "Guest ES selector"
	GuestCSSelector      Field = 0x0802 // "Guest CS selector"
	GuestSSSelector      Field = 0x0804 // "Guest SS selector"
	GuestDSSelector      Field = 0x0806 // "Guest DS selector"
	GuestFSSelector      Field = 0x0808 // "Guest FS selector"
	GuestGSSelector      Field = 0x080A // "Guest GS selector"
	GuestLDTRSelector    Field = 0x080C // "Guest LDTR selector"
	GuestTRSelector      Field = 0x080E // "Guest TR selector"
	GuestInterruptStatus Field = 0x0810 // "Guest interrupt status"
	PMLIndex             Field = 0x0812 // "PML index"
	GuestUINV            Field = 0x0814 // "Guest UINV"

	// B.1.3 16-bit host-state fields.
	HostESSelector Field = 0x0C00 // "Host ES selector"
	HostCSSelector Field = 0x0C02 // "Host CS selector"
	HostSSSelector Field = 0x0C04 // "Host SS selector"
	HostDSSelector Field = 0x0C06 // "Host DS selector"
	HostFSSelector Field = 0x0C08 // "Host FS selector"
	HostGSSelector Field = 0x0C0A // "Host GS selector"
	HostTRSelector Field = 0x0C0C // "Host TR selector"

	// B.2.1 64-bit control fields.
	IOBitmapA                  Field = 0x2000 // "Address of I/O bitmap A"
	IOBitmapB                  Field = 0x2002 // "Address of I/O bitmap B"
	MSRBitmaps                 Field = 0x2004 // "Address of MSR bitmaps"
	ExitMSRStoreAddress        Field = 0x2006 // "VM-exit MSR-store address"
	ExitMSRLoadAddress         Field = 0x2008 // "VM-exit MSR-load address"
	EntryMSRLoadAddress        Field = 0x200A // "VM-entry MSR-load address"
	ExecutiveVMCSPointer       Field = 0x200C // "Executive-VMCS pointer"
	PMLAddress                 Field = 0x200E // "PML address"
	TSCOffset                  Field = 0x2010 // "TSC offset"
	VirtualAPICAddress         Field = 0x2012 // "Virtual-APIC address"
	APICAccessAddress          Field = 0x2014 // "APIC-access address"
	PostedInterruptDescAddress Field = 0x2016 // "Posted-interrupt descriptor address"
	VMFunctionControls         Field = 0x2018 // "VM-function controls"
	EPTPointer                 Field = 0x201A // "EPT pointer (EPTP)"
	EOIExitBitmap0             Field = 0x201C // "EOI-exit bitmap 0 (EOI_EXIT0)"
	EOIExitBitmap1             Field = 0x201E // "EOI-exit bitmap 1 (EOI_EXIT1)"
	EOIExitBitmap2             Field = 0x2020 // "EOI-exit bitmap 2 (EOI_EXIT2)"
	EOIExitBitmap3             Field = 0x2022 // "EOI-exit bitmap 3 (EOI_EXIT3)"
	EPTPListAddress            Field = 0x2024 // "EPTP-list address"
	VMReadBitmapAddress        Field = 0x2026 // "VMREAD-bitmap address"
	VMWriteBitmapAddress       Field = 0x2028 // "VMWRITE-bitmap address"
	VEInfoAddress              Field = 0x202A // "Virtualization-exception information address"
	XSSExitingBitmap           Field = 0x202C // "XSS-exiting bitmap"
	ENCLSExitingBitmap         Field = 0x202E // "ENCLS-exiting bitmap"
	SPPTablePointer            Field = 0x2030 // "Sub-page-permission-table pointer (SPPTP)"
	TSCMultiplier              Field = 0x2032 // "TSC multiplier"
	ProcBasedControls3         Field = 0x2034 // "Tertiary processor-based VM-execution controls"
	ENCLVExitingBitmap         Field = 0x2036 // "ENCLV-exiting bitmap"
	LowPASIDDirectoryAddress   Field = 0x2038 // "Low PASID directory address"
	HighPASIDDirectoryAddress  Field = 0x203A // "High PASID directory address"
	SharedEPTPointer           Field = 0x203C // "Shared EPT pointer"
	PCONFIGExitingBitmap       Field = 0x203E // "PCONFIG-exiting bitmap"
	HLATPointer                Field = 0x2040 // "Hypervisor-managed linear-address translation pointer (HLATP)"
	PIDPointerTableAddress     Field = 0x2042 // "PID-pointer table address"
	ExitControls2              Field = 0x2044 // "Secondary VM-exit controls"
	SpecCtrlMask               Field = 0x204A // "IA32_SPEC_CTRL mask"
	SpecCtrlShadow             Field = 0x204C // "IA32_SPEC_CTRL shadow"
	InjectedEventData          Field = 0x2052 // "Injected-event data" (FRED)

	// B.2.2 64-bit read-only data fields.
	GuestPhysicalAddress Field = 0x2400 // "Guest-physical address"
	OriginalEventData    Field = 0x2404 // "Original-event data" (FRED)

	// B.2.3 64-bit guest-state fields.
	VMCSLinkPointer         Field = 0x2800 // "VMCS link pointer"
	GuestIA32DebugCtl       Field = 0x2802 // "Guest IA32_DEBUGCTL"
	GuestIA32PAT            Field = 0x2804 // "Guest IA32_PAT"
	GuestIA32EFER           Field = 0x2806 // "Guest IA32_EFER"
	GuestIA32PerfGlobalCtrl Field = 0x2808 // "Guest IA32_PERF_GLOBAL_CTRL"
	GuestPDPTE0             Field = 0x280A // "Guest PDPTE0"
	GuestPDPTE1             Field = 0x280C // "Guest PDPTE1"
	GuestPDPTE2             Field = 0x280E // "Guest PDPTE2"
	GuestPDPTE3             Field = 0x2810 // "Guest PDPTE3"
	GuestIA32BNDCFGS        Field = 0x2812 // "Guest IA32_BNDCFGS"
	GuestIA32RTITCtl        Field = 0x2814 // "Guest IA32_RTIT_CTL"
	GuestIA32LBRCtl         Field = 0x2816 // "Guest IA32_LBR_CTL"
	GuestIA32PKRS           Field = 0x2818 // "Guest IA32_PKRS"
	GuestIA32FREDConfig     Field = 0x281A // "Guest IA32_FRED_CONFIG" (FRED)
	GuestIA32FREDRSP1       Field = 0x281C // "Guest IA32_FRED_RSP1" (FRED)
	GuestIA32FREDRSP2       Field = 0x281E // "Guest IA32_FRED_RSP2" (FRED)
	GuestIA32FREDRSP3       Field = 0x2820 // "Guest IA32_FRED_RSP3" (FRED)
	GuestIA32FREDStkLvls    Field = 0x2822 // "Guest IA32_FRED_STKLVLS" (FRED)
	GuestIA32FREDSSP1       Field = 0x2824 // "Guest IA32_FRED_SSP1" (FRED)
	GuestIA32FREDSSP2       Field = 0x2826 // "Guest IA32_FRED_SSP2" (FRED)
	GuestIA32FREDSSP3       Field = 0x2828 // "Guest IA32_FRED_SSP3" (FRED)

	// B.2.4 64-bit host-state fields.
	HostIA32PAT            Field = 0x2C00 // "Host IA32_PAT"
	HostIA32EFER           Field = 0x2C02 // "Host IA32_EFER"
	HostIA32PerfGlobalCtrl Field = 0x2C04 // "Host IA32_PERF_GLOBAL_CTRL"
	HostIA32PKRS           Field = 0x2C06 // "Host IA32_PKRS"
	HostIA32FREDConfig     Field = 0x2C08 // "Host IA32_FRED_CONFIG" (FRED)
	HostIA32FREDRSP1       Field = 0x2C0A // "Host IA32_FRED_RSP1" (FRED)
	HostIA32FREDRSP2       Field = 0x2C0C // "Host IA32_FRED_RSP2" (FRED)
	HostIA32FREDRSP3       Field = 0x2C0E // "Host IA32_FRED_RSP3" (FRED)
	HostIA32FREDStkLvls    Field = 0x2C10 // "Host IA32_FRED_STKLVLS" (FRED)
	HostIA32FREDSSP1       Field = 0x2C12 // "Host IA32_FRED_SSP1" (FRED)
	HostIA32FREDSSP2       Field = 0x2C14 // "Host IA32_FRED_SSP2" (FRED)
	HostIA32FREDSSP3       Field = 0x2C16 // "Host IA32_FRED_SSP3" (FRED)

	// B.3.1 32-bit control fields.
	PinBasedControls          Field = 0x4000 // "Pin-based VM-execution controls"
	ProcBasedControls         Field = 0x4002 // "Primary processor-based VM-execution controls"
	ExceptionBitmap           Field = 0x4004 // "Exception bitmap"
	PageFaultErrorCodeMask    Field = 0x4006 // "Page-fault error-code mask"
	PageFaultErrorCodeMatch   Field = 0x4008 // "Page-fault error-code match"
	CR3TargetCount            Field = 0x400A // "CR3-target count"
	ExitControls              Field = 0x400C // "Primary VM-exit controls"
	ExitMSRStoreCount         Field = 0x400E // "VM-exit MSR-store count"
	ExitMSRLoadCount          Field = 0x4010 // "VM-exit MSR-load count"
	EntryControls             Field = 0x4012 // "VM-entry controls"
	EntryMSRLoadCount         Field = 0x4014 // "VM-entry MSR-load count"
	EntryInterruptionInfo     Field = 0x4016 // "VM-entry interruption-information field"
	EntryExceptionErrorCode   Field = 0x4018 // "VM-entry exception error code"
	EntryInstructionLength    Field = 0x401A // "VM-entry instruction length"
	TPRThreshold              Field = 0x401C // "TPR threshold"
	ProcBasedControls2        Field = 0x401E // "Secondary processor-based VM-execution controls"
	PLEGap                    Field = 0x4020 // "PLE_Gap"
	PLEWindow                 Field = 0x4022 // "PLE_Window"
	InstructionTimeoutControl Field = 0x4024 // "Instruction-timeout control"

	// B.3.2 32-bit read-only data fields.
	VMInstructionError          Field = 0x4400 // "VM-instruction error"
	VMExitReason                Field = 0x4402 // "Exit reason"
	VMExitInterruptionInfo      Field = 0x4404 // "VM-exit interruption information"
	VMExitInterruptionErrorCode Field = 0x4406 // "VM-exit interruption error code"
	IDTVectoringInfo            Field = 0x4408 // "IDT-vectoring information field"
	IDTVectoringErrorCode       Field = 0x440A // "IDT-vectoring error code"
	VMExitInstructionLength     Field = 0x440C // "VM-exit instruction length"
	VMExitInstructionInfo       Field = 0x440E // "VM-exit instruction information"

	// B.3.3 32-bit guest-state fields.
	GuestESLimit          Field = 0x4800 // "Guest ES limit"
	GuestCSLimit          Field = 0x4802 // "Guest CS limit"
	GuestSSLimit          Field = 0x4804 // "Guest SS limit"
	GuestDSLimit          Field = 0x4806 // "Guest DS limit"
	GuestFSLimit          Field = 0x4808 // "Guest FS limit"
	GuestGSLimit          Field = 0x480A // "Guest GS limit"
	GuestLDTRLimit        Field = 0x480C // "Guest LDTR limit"
	GuestTRLimit          Field = 0x480E // "Guest TR limit"
	GuestGDTRLimit        Field = 0x4810 // "Guest GDTR limit"
	GuestIDTRLimit        Field = 0x4812 // "Guest IDTR limit"
	GuestESAccessRights   Field = 0x4814 // "Guest ES access rights"
	GuestCSAccessRights   Field = 0x4816 // "Guest CS access rights"
	GuestSSAccessRights   Field = 0x4818 // "Guest SS access rights"
	GuestDSAccessRights   Field = 0x481A // "Guest DS access rights"
	GuestFSAccessRights   Field = 0x481C // "Guest FS access rights"
	GuestGSAccessRights   Field = 0x481E // "Guest GS access rights"
	GuestLDTRAccessRights Field = 0x4820 // "Guest LDTR access rights"
	GuestTRAccessRights   Field = 0x4822 // "Guest TR access rights"
	GuestInterruptibility Field = 0x4824 // "Guest interruptibility state"
	GuestActivityState    Field = 0x4826 // "Guest activity state"
	GuestSMBASE           Field = 0x4828 // "Guest SMBASE"
	GuestIA32SysenterCS   Field = 0x482A // "Guest IA32_SYSENTER_CS"
	PreemptionTimerValue  Field = 0x482E // "VMX-preemption timer value"

	// B.3.4 32-bit host-state field.
	HostIA32SysenterCS Field = 0x4C00 // "Host IA32_SYSENTER_CS"

	// B.4.1 Natural-width control fields.
	CR0GuestHostMask Field = 0x6000 // "CR0 guest/host mask"
	CR4GuestHostMask Field = 0x6002 // "CR4 guest/host mask"
	CR0ReadShadow    Field = 0x6004 // "CR0 read shadow"
	CR4ReadShadow    Field = 0x6006 // "CR4 read shadow"
	CR3TargetValue0  Field = 0x6008 // "CR3-target value 0"
	CR3TargetValue1  Field = 0x600A // "CR3-target value 1"
	CR3TargetValue2  Field = 0x600C // "CR3-target value 2"
	CR3TargetValue3  Field = 0x600E // "CR3-target value 3"

	// B.4.2 Natural-width read-only data fields.
	ExitQualification  Field = 0x6400 // "Exit qualification"
	IORCX              Field = 0x6402 // "I/O RCX"
	IORSI              Field = 0x6404 // "I/O RSI"
	IORDI              Field = 0x6406 // "I/O RDI"
	IORIP              Field = 0x6408 // "I/O RIP"
	GuestLinearAddress Field = 0x640A // "Guest-linear address"

	// B.4.3 Natural-width guest-state fields.
	GuestCR0                   Field = 0x6800 // "Guest CR0"
	GuestCR3                   Field = 0x6802 // "Guest CR3"
	GuestCR4                   Field = 0x6804 // "Guest CR4"
	GuestESBase                Field = 0x6806 // "Guest ES base"
	GuestCSBase                Field = 0x6808 // "Guest CS base"
	GuestSSBase                Field = 0x680A // "Guest SS base"
	GuestDSBase                Field = 0x680C // "Guest DS base"
	GuestFSBase                Field = 0x680E // "Guest FS base"
	GuestGSBase                Field = 0x6810 // "Guest GS base"
	GuestLDTRBase              Field = 0x6812 // "Guest LDTR base"
	GuestTRBase                Field = 0x6814 // "Guest TR base"
	GuestGDTRBase              Field = 0x6816 // "Guest GDTR base"
	GuestIDTRBase              Field = 0x6818 // "Guest IDTR base"
	GuestDR7                   Field = 0x681A // "Guest DR7"
	GuestRSP                   Field = 0x681C // "Guest RSP"
	GuestRIP                   Field = 0x681E // "Guest RIP"
	GuestRFLAGS                Field = 0x6820 // "Guest RFLAGS"
	GuestPendingDebug          Field = 0x6822 // "Guest pending debug exceptions"
	GuestIA32SysenterESP       Field = 0x6824 // "Guest IA32_SYSENTER_ESP"
	GuestIA32SysenterEIP       Field = 0x6826 // "Guest IA32_SYSENTER_EIP"
	GuestIA32SCET              Field = 0x6828 // "Guest IA32_S_CET"
	GuestSSP                   Field = 0x682A // "Guest SSP"
	GuestIA32InterruptSSPTable Field = 0x682C // "Guest IA32_INTERRUPT_SSP_TABLE_ADDR"

	// B.4.4 Natural-width host-state fields.
	HostCR0                   Field = 0x6C00 // "Host CR0"
	HostCR3                   Field = 0x6C02 // "Host CR3"
	HostCR4                   Field = 0x6C04 // "Host CR4"
	HostFSBase                Field = 0x6C06 // "Host FS base"
	HostGSBase                Field = 0x6C08 // "Host GS base"
	HostTRBase                Field = 0x6C0A // "Host TR base"
	HostGDTRBase              Field = 0x6C0C // "Host GDTR base"
	HostIDTRBase              Field = 0x6C0E // "Host IDTR base"
	HostIA32SysenterESP       Field = 0x6C10 // "Host IA32_SYSENTER_ESP"
	HostIA32SysenterEIP       Field = 0x6C12 // "Host IA32_SYSENTER_EIP"
	HostRSP                   Field = 0x6C14 // "Host RSP"
	HostRIP                   Field = 0x6C16 // "Host RIP"
	HostIA32SCET              Field = 0x6C18 // "Host IA32_S_CET"
	HostSSP                   Field = 0x6C1A // "Host SSP"
	HostIA32InterruptSSPTable Field = 0x6C1C // "Host IA32_INTERRUPT_SSP_TABLE_ADDR"
)

// fieldInfo is one row of the Appendix B table: the width and type are what the
// table declares, checked against the encoding bits by TestFieldEncodings.
type fieldInfo struct {
	f     Field
	width FieldWidth
	typ   FieldType
	name  string
}

var fieldTable = [...]fieldInfo{
	// B.1.1
	{VirtualProcessorID, Width16, TypeControl, "Virtual-processor identifier (VPID)"},
	{PostedInterruptNotifyVector, Width16, TypeControl, "Posted-interrupt notification vector"},
	{EPTPIndex, Width16, TypeControl, "EPTP index"},
	{HLATPrefixSize, Width16, TypeControl, "HLAT prefix size"},
	{LastPIDPointerIndex, Width16, TypeControl, "Last PID-pointer index"},
	// B.1.2
	{GuestESSelector, Width16, TypeGuest, "Guest ES selector"},
	{GuestCSSelector, Width16, TypeGuest, "Guest CS selector"},
	{GuestSSSelector, Width16, TypeGuest, "Guest SS selector"},
	{GuestDSSelector, Width16, TypeGuest, "Guest DS selector"},
	{GuestFSSelector, Width16, TypeGuest, "Guest FS selector"},
	{GuestGSSelector, Width16, TypeGuest, "Guest GS selector"},
	{GuestLDTRSelector, Width16, TypeGuest, "Guest LDTR selector"},
	{GuestTRSelector, Width16, TypeGuest, "Guest TR selector"},
	{GuestInterruptStatus, Width16, TypeGuest, "Guest interrupt status"},
	{PMLIndex, Width16, TypeGuest, "PML index"},
	{GuestUINV, Width16, TypeGuest, "Guest UINV"},
	// B.1.3
	{HostESSelector, Width16, TypeHost, "Host ES selector"},
	{HostCSSelector, Width16, TypeHost, "Host CS selector"},
	{HostSSSelector, Width16, TypeHost, "Host SS selector"},
	{HostDSSelector, Width16, TypeHost, "Host DS selector"},
	{HostFSSelector, Width16, TypeHost, "Host FS selector"},
	{HostGSSelector, Width16, TypeHost, "Host GS selector"},
	{HostTRSelector, Width16, TypeHost, "Host TR selector"},
	// B.2.1
	{IOBitmapA, Width64, TypeControl, "Address of I/O bitmap A"},
	{IOBitmapB, Width64, TypeControl, "Address of I/O bitmap B"},
	{MSRBitmaps, Width64, TypeControl, "Address of MSR bitmaps"},
	{ExitMSRStoreAddress, Width64, TypeControl, "VM-exit MSR-store address"},
	{ExitMSRLoadAddress, Width64, TypeControl, "VM-exit MSR-load address"},
	{EntryMSRLoadAddress, Width64, TypeControl, "VM-entry MSR-load address"},
	{ExecutiveVMCSPointer, Width64, TypeControl, "Executive-VMCS pointer"},
	{PMLAddress, Width64, TypeControl, "PML address"},
	{TSCOffset, Width64, TypeControl, "TSC offset"},
	{VirtualAPICAddress, Width64, TypeControl, "Virtual-APIC address"},
	{APICAccessAddress, Width64, TypeControl, "APIC-access address"},
	{PostedInterruptDescAddress, Width64, TypeControl, "Posted-interrupt descriptor address"},
	{VMFunctionControls, Width64, TypeControl, "VM-function controls"},
	{EPTPointer, Width64, TypeControl, "EPT pointer (EPTP)"},
	{EOIExitBitmap0, Width64, TypeControl, "EOI-exit bitmap 0 (EOI_EXIT0)"},
	{EOIExitBitmap1, Width64, TypeControl, "EOI-exit bitmap 1 (EOI_EXIT1)"},
	{EOIExitBitmap2, Width64, TypeControl, "EOI-exit bitmap 2 (EOI_EXIT2)"},
	{EOIExitBitmap3, Width64, TypeControl, "EOI-exit bitmap 3 (EOI_EXIT3)"},
	{EPTPListAddress, Width64, TypeControl, "EPTP-list address"},
	{VMReadBitmapAddress, Width64, TypeControl, "VMREAD-bitmap address"},
	{VMWriteBitmapAddress, Width64, TypeControl, "VMWRITE-bitmap address"},
	{VEInfoAddress, Width64, TypeControl, "Virtualization-exception information address"},
	{XSSExitingBitmap, Width64, TypeControl, "XSS-exiting bitmap"},
	{ENCLSExitingBitmap, Width64, TypeControl, "ENCLS-exiting bitmap"},
	{SPPTablePointer, Width64, TypeControl, "Sub-page-permission-table pointer (SPPTP)"},
	{TSCMultiplier, Width64, TypeControl, "TSC multiplier"},
	{ProcBasedControls3, Width64, TypeControl, "Tertiary processor-based VM-execution controls"},
	{ENCLVExitingBitmap, Width64, TypeControl, "ENCLV-exiting bitmap"},
	{LowPASIDDirectoryAddress, Width64, TypeControl, "Low PASID directory address"},
	{HighPASIDDirectoryAddress, Width64, TypeControl, "High PASID directory address"},
	{SharedEPTPointer, Width64, TypeControl, "Shared EPT pointer"},
	{PCONFIGExitingBitmap, Width64, TypeControl, "PCONFIG-exiting bitmap"},
	{HLATPointer, Width64, TypeControl, "Hypervisor-managed linear-address translation pointer (HLATP)"},
	{PIDPointerTableAddress, Width64, TypeControl, "PID-pointer table address"},
	{ExitControls2, Width64, TypeControl, "Secondary VM-exit controls"},
	{SpecCtrlMask, Width64, TypeControl, "IA32_SPEC_CTRL mask"},
	{SpecCtrlShadow, Width64, TypeControl, "IA32_SPEC_CTRL shadow"},
	{InjectedEventData, Width64, TypeControl, "Injected-event data"},
	// B.2.2
	{GuestPhysicalAddress, Width64, TypeExitInfo, "Guest-physical address"},
	{OriginalEventData, Width64, TypeExitInfo, "Original-event data"},
	// B.2.3
	{VMCSLinkPointer, Width64, TypeGuest, "VMCS link pointer"},
	{GuestIA32DebugCtl, Width64, TypeGuest, "Guest IA32_DEBUGCTL"},
	{GuestIA32PAT, Width64, TypeGuest, "Guest IA32_PAT"},
	{GuestIA32EFER, Width64, TypeGuest, "Guest IA32_EFER"},
	{GuestIA32PerfGlobalCtrl, Width64, TypeGuest, "Guest IA32_PERF_GLOBAL_CTRL"},
	{GuestPDPTE0, Width64, TypeGuest, "Guest PDPTE0"},
	{GuestPDPTE1, Width64, TypeGuest, "Guest PDPTE1"},
	{GuestPDPTE2, Width64, TypeGuest, "Guest PDPTE2"},
	{GuestPDPTE3, Width64, TypeGuest, "Guest PDPTE3"},
	{GuestIA32BNDCFGS, Width64, TypeGuest, "Guest IA32_BNDCFGS"},
	{GuestIA32RTITCtl, Width64, TypeGuest, "Guest IA32_RTIT_CTL"},
	{GuestIA32LBRCtl, Width64, TypeGuest, "Guest IA32_LBR_CTL"},
	{GuestIA32PKRS, Width64, TypeGuest, "Guest IA32_PKRS"},
	{GuestIA32FREDConfig, Width64, TypeGuest, "Guest IA32_FRED_CONFIG"},
	{GuestIA32FREDRSP1, Width64, TypeGuest, "Guest IA32_FRED_RSP1"},
	{GuestIA32FREDRSP2, Width64, TypeGuest, "Guest IA32_FRED_RSP2"},
	{GuestIA32FREDRSP3, Width64, TypeGuest, "Guest IA32_FRED_RSP3"},
	{GuestIA32FREDStkLvls, Width64, TypeGuest, "Guest IA32_FRED_STKLVLS"},
	{GuestIA32FREDSSP1, Width64, TypeGuest, "Guest IA32_FRED_SSP1"},
	{GuestIA32FREDSSP2, Width64, TypeGuest, "Guest IA32_FRED_SSP2"},
	{GuestIA32FREDSSP3, Width64, TypeGuest, "Guest IA32_FRED_SSP3"},
	// B.2.4
	{HostIA32PAT, Width64, TypeHost, "Host IA32_PAT"},
	{HostIA32EFER, Width64, TypeHost, "Host IA32_EFER"},
	{HostIA32PerfGlobalCtrl, Width64, TypeHost, "Host IA32_PERF_GLOBAL_CTRL"},
	{HostIA32PKRS, Width64, TypeHost, "Host IA32_PKRS"},
	{HostIA32FREDConfig, Width64, TypeHost, "Host IA32_FRED_CONFIG"},
	{HostIA32FREDRSP1, Width64, TypeHost, "Host IA32_FRED_RSP1"},
	{HostIA32FREDRSP2, Width64, TypeHost, "Host IA32_FRED_RSP2"},
	{HostIA32FREDRSP3, Width64, TypeHost, "Host IA32_FRED_RSP3"},
	{HostIA32FREDStkLvls, Width64, TypeHost, "Host IA32_FRED_STKLVLS"},
	{HostIA32FREDSSP1, Width64, TypeHost, "Host IA32_FRED_SSP1"},
	{HostIA32FREDSSP2, Width64, TypeHost, "Host IA32_FRED_SSP2"},
	{HostIA32FREDSSP3, Width64, TypeHost, "Host IA32_FRED_SSP3"},
	// B.3.1
	{PinBasedControls, Width32, TypeControl, "Pin-based VM-execution controls"},
	{ProcBasedControls, Width32, TypeControl, "Primary processor-based VM-execution controls"},
	{ExceptionBitmap, Width32, TypeControl, "Exception bitmap"},
	{PageFaultErrorCodeMask, Width32, TypeControl, "Page-fault error-code mask"},
	{PageFaultErrorCodeMatch, Width32, TypeControl, "Page-fault error-code match"},
	{CR3TargetCount, Width32, TypeControl, "CR3-target count"},
	{ExitControls, Width32, TypeControl, "Primary VM-exit controls"},
	{ExitMSRStoreCount, Width32, TypeControl, "VM-exit MSR-store count"},
	{ExitMSRLoadCount, Width32, TypeControl, "VM-exit MSR-load count"},
	{EntryControls, Width32, TypeControl, "VM-entry controls"},
	{EntryMSRLoadCount, Width32, TypeControl, "VM-entry MSR-load count"},
	{EntryInterruptionInfo, Width32, TypeControl, "VM-entry interruption-information field"},
	{EntryExceptionErrorCode, Width32, TypeControl, "VM-entry exception error code"},
	{EntryInstructionLength, Width32, TypeControl, "VM-entry instruction length"},
	{TPRThreshold, Width32, TypeControl, "TPR threshold"},
	{ProcBasedControls2, Width32, TypeControl, "Secondary processor-based VM-execution controls"},
	{PLEGap, Width32, TypeControl, "PLE_Gap"},
	{PLEWindow, Width32, TypeControl, "PLE_Window"},
	{InstructionTimeoutControl, Width32, TypeControl, "Instruction-timeout control"},
	// B.3.2
	{VMInstructionError, Width32, TypeExitInfo, "VM-instruction error"},
	{VMExitReason, Width32, TypeExitInfo, "Exit reason"},
	{VMExitInterruptionInfo, Width32, TypeExitInfo, "VM-exit interruption information"},
	{VMExitInterruptionErrorCode, Width32, TypeExitInfo, "VM-exit interruption error code"},
	{IDTVectoringInfo, Width32, TypeExitInfo, "IDT-vectoring information field"},
	{IDTVectoringErrorCode, Width32, TypeExitInfo, "IDT-vectoring error code"},
	{VMExitInstructionLength, Width32, TypeExitInfo, "VM-exit instruction length"},
	{VMExitInstructionInfo, Width32, TypeExitInfo, "VM-exit instruction information"},
	// B.3.3
	{GuestESLimit, Width32, TypeGuest, "Guest ES limit"},
	{GuestCSLimit, Width32, TypeGuest, "Guest CS limit"},
	{GuestSSLimit, Width32, TypeGuest, "Guest SS limit"},
	{GuestDSLimit, Width32, TypeGuest, "Guest DS limit"},
	{GuestFSLimit, Width32, TypeGuest, "Guest FS limit"},
	{GuestGSLimit, Width32, TypeGuest, "Guest GS limit"},
	{GuestLDTRLimit, Width32, TypeGuest, "Guest LDTR limit"},
	{GuestTRLimit, Width32, TypeGuest, "Guest TR limit"},
	{GuestGDTRLimit, Width32, TypeGuest, "Guest GDTR limit"},
	{GuestIDTRLimit, Width32, TypeGuest, "Guest IDTR limit"},
	{GuestESAccessRights, Width32, TypeGuest, "Guest ES access rights"},
	{GuestCSAccessRights, Width32, TypeGuest, "Guest CS access rights"},
	{GuestSSAccessRights, Width32, TypeGuest, "Guest SS access rights"},
	{GuestDSAccessRights, Width32, TypeGuest, "Guest DS access rights"},
	{GuestFSAccessRights, Width32, TypeGuest, "Guest FS access rights"},
	{GuestGSAccessRights, Width32, TypeGuest, "Guest GS access rights"},
	{GuestLDTRAccessRights, Width32, TypeGuest, "Guest LDTR access rights"},
	{GuestTRAccessRights, Width32, TypeGuest, "Guest TR access rights"},
	{GuestInterruptibility, Width32, TypeGuest, "Guest interruptibility state"},
	{GuestActivityState, Width32, TypeGuest, "Guest activity state"},
	{GuestSMBASE, Width32, TypeGuest, "Guest SMBASE"},
	{GuestIA32SysenterCS, Width32, TypeGuest, "Guest IA32_SYSENTER_CS"},
	{PreemptionTimerValue, Width32, TypeGuest, "VMX-preemption timer value"},
	// B.3.4
	{HostIA32SysenterCS, Width32, TypeHost, "Host IA32_SYSENTER_CS"},
	// B.4.1
	{CR0GuestHostMask, WidthNatural, TypeControl, "CR0 guest/host mask"},
	{CR4GuestHostMask, WidthNatural, TypeControl, "CR4 guest/host mask"},
	{CR0ReadShadow, WidthNatural, TypeControl, "CR0 read shadow"},
	{CR4ReadShadow, WidthNatural, TypeControl, "CR4 read shadow"},
	{CR3TargetValue0, WidthNatural, TypeControl, "CR3-target value 0"},
	{CR3TargetValue1, WidthNatural, TypeControl, "CR3-target value 1"},
	{CR3TargetValue2, WidthNatural, TypeControl, "CR3-target value 2"},
	{CR3TargetValue3, WidthNatural, TypeControl, "CR3-target value 3"},
	// B.4.2
	{ExitQualification, WidthNatural, TypeExitInfo, "Exit qualification"},
	{IORCX, WidthNatural, TypeExitInfo, "I/O RCX"},
	{IORSI, WidthNatural, TypeExitInfo, "I/O RSI"},
	{IORDI, WidthNatural, TypeExitInfo, "I/O RDI"},
	{IORIP, WidthNatural, TypeExitInfo, "I/O RIP"},
	{GuestLinearAddress, WidthNatural, TypeExitInfo, "Guest-linear address"},
	// B.4.3
	{GuestCR0, WidthNatural, TypeGuest, "Guest CR0"},
	{GuestCR3, WidthNatural, TypeGuest, "Guest CR3"},
	{GuestCR4, WidthNatural, TypeGuest, "Guest CR4"},
	{GuestESBase, WidthNatural, TypeGuest, "Guest ES base"},
	{GuestCSBase, WidthNatural, TypeGuest, "Guest CS base"},
	{GuestSSBase, WidthNatural, TypeGuest, "Guest SS base"},
	{GuestDSBase, WidthNatural, TypeGuest, "Guest DS base"},
	{GuestFSBase, WidthNatural, TypeGuest, "Guest FS base"},
	{GuestGSBase, WidthNatural, TypeGuest, "Guest GS base"},
	{GuestLDTRBase, WidthNatural, TypeGuest, "Guest LDTR base"},
	{GuestTRBase, WidthNatural, TypeGuest, "Guest TR base"},
	{GuestGDTRBase, WidthNatural, TypeGuest, "Guest GDTR base"},
	{GuestIDTRBase, WidthNatural, TypeGuest, "Guest IDTR base"},
	{GuestDR7, WidthNatural, TypeGuest, "Guest DR7"},
	{GuestRSP, WidthNatural, TypeGuest, "Guest RSP"},
	{GuestRIP, WidthNatural, TypeGuest, "Guest RIP"},
	{GuestRFLAGS, WidthNatural, TypeGuest, "Guest RFLAGS"},
	{GuestPendingDebug, WidthNatural, TypeGuest, "Guest pending debug exceptions"},
	{GuestIA32SysenterESP, WidthNatural, TypeGuest, "Guest IA32_SYSENTER_ESP"},
	{GuestIA32SysenterEIP, WidthNatural, TypeGuest, "Guest IA32_SYSENTER_EIP"},
	{GuestIA32SCET, WidthNatural, TypeGuest, "Guest IA32_S_CET"},
	{GuestSSP, WidthNatural, TypeGuest, "Guest SSP"},
	{GuestIA32InterruptSSPTable, WidthNatural, TypeGuest, "Guest IA32_INTERRUPT_SSP_TABLE_ADDR"},
	// B.4.4
	{HostCR0, WidthNatural, TypeHost, "Host CR0"},
	{HostCR3, WidthNatural, TypeHost, "Host CR3"},
	{HostCR4, WidthNatural, TypeHost, "Host CR4"},
	{HostFSBase, WidthNatural, TypeHost, "Host FS base"},
	{HostGSBase, WidthNatural, TypeHost, "Host GS base"},
	{HostTRBase, WidthNatural, TypeHost, "Host TR base"},
	{HostGDTRBase, WidthNatural, TypeHost, "Host GDTR base"},
	{HostIDTRBase, WidthNatural, TypeHost, "Host IDTR base"},
	{HostIA32SysenterESP, WidthNatural, TypeHost, "Host IA32_SYSENTER_ESP"},
	{HostIA32SysenterEIP, WidthNatural, TypeHost, "Host IA32_SYSENTER_EIP"},
	{HostRSP, WidthNatural, TypeHost, "Host RSP"},
	{HostRIP, WidthNatural, TypeHost, "Host RIP"},
	{HostIA32SCET, WidthNatural, TypeHost, "Host IA32_S_CET"},
	{HostSSP, WidthNatural, TypeHost, "Host SSP"},
	{HostIA32InterruptSSPTable, WidthNatural, TypeHost, "Host IA32_INTERRUPT_SSP_TABLE_ADDR"},
}

// fieldIndex maps a full-access encoding to its row in fieldTable.
var fieldIndex = func() map[Field]int {
	m := make(map[Field]int, len(fieldTable))
	for i, fi := range fieldTable {
		m[fi.f] = i
	}
	return m
}()

// Fields returns every field of the table, in Appendix B order.
func Fields() []Field {
	fs := make([]Field, len(fieldTable))
	for i, fi := range fieldTable {
		fs[i] = fi.f
	}
	return fs
}

// Width is the field's width, from encoding bits 14:13.
func (f Field) Width() FieldWidth { return FieldWidth(f >> 13 & 3) }

// Type is the field's type, from encoding bits 11:10.
func (f Field) Type() FieldType { return FieldType(f >> 10 & 3) }

// Index is encoding bits 9:1.
func (f Field) Index() uint16 { return uint16(f >> 1 & 0x1FF) }

// High reports whether f is the "high" access encoding (bit 0) of a 64-bit
// field: VMREAD/VMWRITE then move bits 63:32 of the field.
func (f Field) High() bool { return f&1 != 0 }

// Full is the full-access encoding of f.
func (f Field) Full() Field { return f &^ 1 }

// HighPart is the high-access encoding of a 64-bit field.
func (f Field) HighPart() Field { return f | 1 }

func (f Field) Is16() bool      { return f.Width() == Width16 }
func (f Field) Is32() bool      { return f.Width() == Width32 || f.High() }
func (f Field) Is64() bool      { return f.Width() == Width64 && !f.High() }
func (f Field) IsNatural() bool { return f.Width() == WidthNatural }

// ReadOnly reports whether f is a read-only data (VM-exit information) field.
// VMWRITE to one fails with error 13 unless IA32_VMX_MISC bit 29 is set.
func (f Field) ReadOnly() bool { return f.Type() == TypeExitInfo }

// Bits is the number of value bits VMREAD returns for f on a 64-bit processor.
func (f Field) Bits() int {
	switch {
	case f.Is16():
		return 16
	case f.Is32():
		return 32
	}
	return 64
}

// Mask is the value mask of f (the bits a VMWRITE stores).
func (f Field) Mask() uint64 {
	if f.Bits() == 64 {
		return ^uint64(0)
	}
	return 1<<f.Bits() - 1
}

// WellFormed reports whether f's reserved encoding bits (12 and 31:15) are 0
// and the high access type is used only with a 64-bit field.
func (f Field) WellFormed() bool {
	return f&0xFFFF9000 == 0 && (!f.High() || f.Width() == Width64)
}

// Known reports whether f (full or high) is a field of the table.
func (f Field) Known() bool {
	if !f.WellFormed() {
		return false
	}
	_, ok := fieldIndex[f.Full()]
	return ok
}

// Name is the SDM name of f, "" if f is not in the table. The high access of a
// 64-bit field has the name of the field.
func (f Field) Name() string {
	if !f.WellFormed() {
		return ""
	}
	if i, ok := fieldIndex[f.Full()]; ok {
		return fieldTable[i].name
	}
	return ""
}

// String is the SDM name, with " (high)" for a high access, or "field 0xNNNN".
func (f Field) String() string {
	n := f.Name()
	if n == "" {
		return "field 0x" + strconv.FormatUint(uint64(f), 16)
	}
	if f.High() {
		return n + " (high)"
	}
	return n
}
