package vmx

import (
	"fmt"
	"strconv"
	"strings"
)

// Exit-qualification decoders (SDM Vol. 3C §28.2.1 "Basic VM-Exit
// Information"). Each takes the raw exit qualification (plus the other exit
// fields it needs) and returns a small value; none allocates. String methods
// are for printing.

var gprNames = [16]string{"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
	"R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}

// GPRName is the name of general-purpose register n as numbered in exit
// qualifications and instruction information (0 = RAX ... 15 = R15).
func GPRName(n uint8) string { return gprNames[n&15] }

// IOQual is the exit qualification for I/O instructions (reason 30).
type IOQual struct {
	Size     uint8 // bits 2:0: 1, 2 or 4 bytes (0 if the field holds an unused value)
	In       bool  // bit 3: direction (0 = OUT, 1 = IN)
	StringOp bool  // bit 4: INS/OUTS
	Rep      bool  // bit 5: REP prefixed
	Imm      bool  // bit 6: operand encoding (0 = DX, 1 = immediate)
	Port     uint16
}

// DecodeIO decodes an I/O-instruction exit qualification.
func DecodeIO(q uint64) IOQual {
	var size uint8
	switch q & 7 {
	case 0:
		size = 1
	case 1:
		size = 2
	case 3:
		size = 4
	}
	return IOQual{
		Size:     size,
		In:       q&(1<<3) != 0,
		StringOp: q&(1<<4) != 0,
		Rep:      q&(1<<5) != 0,
		Imm:      q&(1<<6) != 0,
		Port:     uint16(q >> 16),
	}
}

// String is e.g. "IN  dx=0x3f8 size=1", "OUT imm=0x80 size=1",
// "REP INS dx=0x1f0 size=2".
func (q IOQual) String() string {
	m := "OUT"
	if q.In {
		m = "IN"
	}
	if q.StringOp {
		m += "S"
	}
	if q.Rep {
		m = "REP " + m
	}
	src := "dx"
	if q.Imm {
		src = "imm"
	}
	return fmt.Sprintf("%-3s %s=%#x size=%d", m, src, q.Port, q.Size)
}

// CRAccessType is bits 5:4 of a control-register-access qualification.
type CRAccessType uint8

const (
	MovToCR   CRAccessType = 0
	MovFromCR CRAccessType = 1
	CLTS      CRAccessType = 2
	LMSW      CRAccessType = 3
)

// CRAccessQual is the exit qualification for control-register accesses
// (reason 28).
type CRAccessQual struct {
	CR         uint8        // bits 3:0 (0 for CLTS and LMSW)
	Access     CRAccessType // bits 5:4
	LMSWMemory bool         // bit 6: LMSW operand type (0 register, 1 memory)
	GPR        uint8        // bits 11:8: the MOV CR register
	LMSWSource uint16       // bits 31:16: the LMSW source data
}

// DecodeCRAccess decodes a control-register-access exit qualification.
func DecodeCRAccess(q uint64) CRAccessQual {
	return CRAccessQual{
		CR:         uint8(q & 0xF),
		Access:     CRAccessType(q >> 4 & 3),
		LMSWMemory: q&(1<<6) != 0,
		GPR:        uint8(q >> 8 & 0xF),
		LMSWSource: uint16(q >> 16),
	}
}

// String is e.g. "MOV CR3, RAX", "MOV RBX, CR8", "CLTS", "LMSW 0x1 (memory)".
func (q CRAccessQual) String() string {
	switch q.Access {
	case MovToCR:
		return "MOV CR" + strconv.Itoa(int(q.CR)) + ", " + GPRName(q.GPR)
	case MovFromCR:
		return "MOV " + GPRName(q.GPR) + ", CR" + strconv.Itoa(int(q.CR))
	case CLTS:
		return "CLTS"
	}
	s := fmt.Sprintf("LMSW %#x", q.LMSWSource)
	if q.LMSWMemory {
		s += " (memory)"
	}
	return s
}

// DRAccessQual is the exit qualification for MOV DR (reason 29).
type DRAccessQual struct {
	DR     uint8 // bits 2:0
	FromDR bool  // bit 4: direction (0 = MOV to DR, 1 = MOV from DR)
	GPR    uint8 // bits 11:8
}

// DecodeDRAccess decodes a MOV-DR exit qualification.
func DecodeDRAccess(q uint64) DRAccessQual {
	return DRAccessQual{DR: uint8(q & 7), FromDR: q&(1<<4) != 0, GPR: uint8(q >> 8 & 0xF)}
}

// String is e.g. "MOV DR7, RAX" or "MOV RCX, DR6".
func (q DRAccessQual) String() string {
	dr := "DR" + strconv.Itoa(int(q.DR))
	if q.FromDR {
		return "MOV " + GPRName(q.GPR) + ", " + dr
	}
	return "MOV " + dr + ", " + GPRName(q.GPR)
}

// EPTViolation is the exit qualification for EPT violations (reason 48)
// with the guest-physical and guest-linear address fields.
type EPTViolation struct {
	Read, Write, Fetch             bool // bits 2:0: the access that caused the violation
	Readable, Writable, Executable bool // bits 5:3: permissions of the GPA (AND over the EPT entries)
	UserExecutable                 bool // bit 6: bit 10 of the entries ("mode-based execute control for EPT")
	GLAValid                       bool // bit 7: the guest-linear address field is valid
	// Translation (bit 8, if GLAValid): the access was to the translation of
	// the linear address; if clear, it was to a guest paging-structure entry
	// during the page walk or an accessed/dirty update.
	Translation    bool
	UserLinear     bool // bit 9 (advanced VM-exit information): user-mode linear address
	WritableLinear bool // bit 10 (advanced): linear address is writable
	NXLinear       bool // bit 11 (advanced): linear address is execute-disable
	NMIUnblocking  bool // bit 12: NMI unblocking due to IRET
	ShadowStack    bool // bit 13: shadow-stack access
	GPA, GLA       uint64
	Raw            uint64
}

// DecodeEPTViolation decodes an EPT-violation exit qualification; gpa and
// gla are the guest-physical address and guest-linear address fields.
func DecodeEPTViolation(q, gpa, gla uint64) EPTViolation {
	b := func(n uint) bool { return q&(1<<n) != 0 }
	v := EPTViolation{
		Read: b(0), Write: b(1), Fetch: b(2),
		Readable: b(3), Writable: b(4), Executable: b(5),
		UserExecutable: b(6), GLAValid: b(7),
		NMIUnblocking: b(12), ShadowStack: b(13),
		GPA: gpa, Raw: q,
	}
	if v.GLAValid {
		v.GLA = gla
		v.Translation = b(8)
		v.UserLinear, v.WritableLinear, v.NXLinear = b(9), b(10), b(11)
	}
	return v
}

// NotPresent reports whether the GPA had no permissions at all (an EPT entry
// on the walk was not present).
func (v EPTViolation) NotPresent() bool { return !v.Readable && !v.Writable && !v.Executable }

// String is e.g. "EPT violation: write gpa=0xfee00000 (page not present)" or
// "EPT violation: fetch gpa=0x1000 gla=0x401000 (r--)".
func (v EPTViolation) String() string {
	var acc []string
	if v.Read {
		acc = append(acc, "read")
	}
	if v.Write {
		acc = append(acc, "write")
	}
	if v.Fetch {
		acc = append(acc, "fetch")
	}
	if len(acc) == 0 {
		acc = append(acc, "access")
	}
	s := "EPT violation: " + strings.Join(acc, "+") + fmt.Sprintf(" gpa=%#x", v.GPA)
	if v.GLAValid {
		s += fmt.Sprintf(" gla=%#x", v.GLA)
		if !v.Translation {
			s += " (guest page walk)"
		}
	}
	if v.NotPresent() {
		s += " (page not present)"
	} else {
		p := []byte("---")
		if v.Readable {
			p[0] = 'r'
		}
		if v.Writable {
			p[1] = 'w'
		}
		if v.Executable {
			p[2] = 'x'
		}
		s += " (" + string(p) + ")"
	}
	if v.ShadowStack {
		s += " shadow-stack"
	}
	if v.NMIUnblocking {
		s += " NMI-unblocking"
	}
	return s
}

// DebugQual is the exit qualification for debug exceptions (reason 0 with
// #DB; same layout as the pending debug exceptions field).
type DebugQual struct {
	B   uint8 // bits 3:0: B3-B0, breakpoint conditions met
	BLD bool  // bit 11: bus lock detected
	BD  bool  // bit 13: debug register access detected
	BS  bool  // bit 14: single step (TF) or taken branch (TF and IA32_DEBUGCTL.BTF)
	RTM bool  // bit 16: #DB or #BP inside an RTM region
}

// DecodeDebug decodes a debug-exception exit qualification.
func DecodeDebug(q uint64) DebugQual {
	return DebugQual{B: uint8(q & 0xF), BLD: q&(1<<11) != 0, BD: q&(1<<13) != 0, BS: q&(1<<14) != 0, RTM: q&(1<<16) != 0}
}

// String is e.g. "#DB B0 B2 BS" or "#DB none".
func (q DebugQual) String() string {
	s := "#DB"
	for i := 0; i < 4; i++ {
		if q.B&(1<<i) != 0 {
			s += " B" + strconv.Itoa(i)
		}
	}
	if q.BLD {
		s += " BLD"
	}
	if q.BD {
		s += " BD"
	}
	if q.BS {
		s += " BS"
	}
	if q.RTM {
		s += " RTM"
	}
	if s == "#DB" {
		s += " none"
	}
	return s
}

// TaskSwitchSource is bits 31:30 of a task-switch qualification.
type TaskSwitchSource uint8

const (
	TaskSwitchCALL     TaskSwitchSource = 0
	TaskSwitchIRET     TaskSwitchSource = 1
	TaskSwitchJMP      TaskSwitchSource = 2
	TaskSwitchTaskGate TaskSwitchSource = 3 // task gate in IDT
)

func (s TaskSwitchSource) String() string {
	return [4]string{"CALL", "IRET", "JMP", "task gate in IDT"}[s&3]
}

// TaskSwitchQual is the exit qualification for task switches (reason 9).
type TaskSwitchQual struct {
	Selector uint16 // bits 15:0: the TSS selector switched to
	Source   TaskSwitchSource
}

// DecodeTaskSwitch decodes a task-switch exit qualification.
func DecodeTaskSwitch(q uint64) TaskSwitchQual {
	return TaskSwitchQual{Selector: uint16(q), Source: TaskSwitchSource(q >> 30 & 3)}
}

func (q TaskSwitchQual) String() string {
	return fmt.Sprintf("task switch to TSS %#x by %s", q.Selector, q.Source)
}

// APICAccessType is bits 15:12 of an APIC-access qualification.
type APICAccessType uint8

const (
	APICLinearRead          APICAccessType = 0  // linear access for a data read during instruction execution
	APICLinearWrite         APICAccessType = 1  // linear access for a data write during instruction execution
	APICLinearFetch         APICAccessType = 2  // linear access for an instruction fetch
	APICLinearEventDelivery APICAccessType = 3  // linear access (read or write) during event delivery
	APICPhysEventDelivery   APICAccessType = 10 // guest-physical access during event delivery
	APICPhysInstruction     APICAccessType = 15 // guest-physical access for an instruction fetch or during instruction execution
)

func (t APICAccessType) String() string {
	switch t {
	case APICLinearRead:
		return "read"
	case APICLinearWrite:
		return "write"
	case APICLinearFetch:
		return "fetch"
	case APICLinearEventDelivery:
		return "access during event delivery"
	case APICPhysEventDelivery:
		return "guest-physical access during event delivery"
	case APICPhysInstruction:
		return "guest-physical access"
	}
	return "access type " + strconv.Itoa(int(t))
}

// APICAccessQual is the exit qualification for APIC accesses (reason 44).
type APICAccessQual struct {
	Offset uint16         // bits 11:0: offset in the APIC page (linear accesses only)
	Access APICAccessType // bits 15:12
	Async  bool           // bit 16: asynchronous to instruction execution, not event delivery
}

// DecodeAPICAccess decodes an APIC-access exit qualification.
func DecodeAPICAccess(q uint64) APICAccessQual {
	return APICAccessQual{Offset: uint16(q & 0xFFF), Access: APICAccessType(q >> 12 & 0xF), Async: q&(1<<16) != 0}
}

func (q APICAccessQual) String() string {
	s := "APIC " + q.Access.String()
	if q.Access <= APICLinearEventDelivery {
		s += fmt.Sprintf(" offset=%#03x", q.Offset)
	}
	if q.Async {
		s += " (asynchronous)"
	}
	return s
}

// Exit qualifications of a VM-entry failure due to invalid guest state
// (reason 33; SDM Vol. 3C chapter 27, "VM-Entry Failures During or After
// Loading Guest State").
const (
	EntryFailNoInfo          = 0 // no additional information
	EntryFailPDPTE           = 2 // loading the PDPTEs (§27.3.1.6)
	EntryFailNMIBlockedBySTI = 3 // injecting an NMI with blocking by STI (implementation-specific, §27.3.1.5)
	EntryFailLinkPointer     = 4 // invalid VMCS link pointer (§27.3.1.5)
)

// EntryFailure is the exit qualification of a VM-entry failure during or
// after loading guest state (reasons 33, 34, 41).
type EntryFailure struct {
	Reason BasicExitReason
	Qual   uint64
}

// DecodeEntryFailure pairs a basic exit reason with its qualification.
func DecodeEntryFailure(r BasicExitReason, q uint64) EntryFailure {
	return EntryFailure{Reason: r, Qual: q}
}

func (e EntryFailure) String() string {
	switch e.Reason {
	case ReasonInvalidGuestState:
		switch e.Qual {
		case EntryFailNoInfo:
			return "invalid guest state (no additional information)"
		case EntryFailPDPTE:
			return "invalid guest state: PDPTE loading"
		case EntryFailNMIBlockedBySTI:
			return "invalid guest state: NMI injection with blocking by STI"
		case EntryFailLinkPointer:
			return "invalid guest state: invalid VMCS link pointer"
		}
		return fmt.Sprintf("invalid guest state (qualification %d)", e.Qual)
	case ReasonMSRLoading:
		return fmt.Sprintf("MSR loading failed at VM-entry MSR-load entry %d", e.Qual)
	case ReasonMachineCheckEntry:
		return "machine-check event during VM entry"
	}
	return fmt.Sprintf("%s (qualification %#x)", e.Reason, e.Qual)
}

// DecodeExitInterruption decodes the VM-exit interruption information and
// error code (SDM Vol. 3C §25.9.2), valid for exits due to exceptions, NMIs
// and (with "acknowledge interrupt on exit") external interrupts.
func DecodeExitInterruption(info, errCode uint32) InterruptionInfo {
	return DecodeInterruptionInfo(info, errCode)
}

// DecodeIDTVectoring decodes the IDT-vectoring information and error code
// (§25.9.3): the event that was being delivered when the VM exit occurred.
// Bit 12 is undefined in this field and is dropped.
func DecodeIDTVectoring(info, errCode uint32) InterruptionInfo {
	ii := DecodeInterruptionInfo(info, errCode)
	ii.NMIUnblocking = false
	return ii
}

// FormatQualification is a human-readable exit qualification for logs.
// gpa and gla are the guest-physical and guest-linear address fields (used
// for EPT violations and misconfigurations).
func FormatQualification(r BasicExitReason, q, gpa, gla uint64) string {
	switch r {
	case ReasonIOInstruction:
		return DecodeIO(q).String()
	case ReasonCRAccess:
		return DecodeCRAccess(q).String()
	case ReasonMOVDR:
		return DecodeDRAccess(q).String()
	case ReasonEPTViolation:
		return DecodeEPTViolation(q, gpa, gla).String()
	case ReasonEPTMisconfiguration:
		return fmt.Sprintf("EPT misconfiguration: gpa=%#x", gpa)
	case ReasonTaskSwitch:
		return DecodeTaskSwitch(q).String()
	case ReasonAPICAccess:
		return DecodeAPICAccess(q).String()
	case ReasonInvalidGuestState, ReasonMSRLoading, ReasonMachineCheckEntry:
		return DecodeEntryFailure(r, q).String()
	case ReasonSIPI:
		return fmt.Sprintf("SIPI vector %#x", q&0xFF)
	case ReasonVirtualizedEOI:
		return fmt.Sprintf("EOI vector %#x", q&0xFF)
	case ReasonAPICWrite:
		return fmt.Sprintf("APIC write offset %#03x", q&0xFFF)
	case ReasonINVLPG:
		return fmt.Sprintf("INVLPG %#x", q)
	}
	return fmt.Sprintf("qualification %#x", q)
}
