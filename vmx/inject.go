package vmx

import (
	"fmt"
	"strconv"
)

// EventType is the interruption type, bits 10:8 of the VM-entry
// interruption-information field (SDM Vol. 3C §25.8.3), of the VM-exit
// interruption information (§25.9.2) and of the IDT-vectoring information
// (§25.9.3).
type EventType uint8

const (
	EventExternalInterrupt           EventType = 0
	EventNMI                         EventType = 2
	EventHardwareException           EventType = 3
	EventSoftwareInterrupt           EventType = 4 // INT n
	EventPrivilegedSoftwareException EventType = 5 // INT1
	EventSoftwareException           EventType = 6 // INT3, INTO
	EventOther                       EventType = 7 // injection only: vector 0 is a pending MTF VM exit
)

var eventTypeNames = [8]string{
	"external interrupt", "reserved type 1", "NMI", "hardware exception",
	"software interrupt", "privileged software exception", "software exception", "other event",
}

func (t EventType) String() string { return eventTypeNames[t&7] }

// Bits of the interruption-information fields.
const (
	IntInfoVectorMask    = 0xFF
	IntInfoTypeShift     = 8
	IntInfoTypeMask      = 7 << IntInfoTypeShift
	IntInfoErrorCode     = 1 << 11 // "deliver error code" (entry) / "error code valid" (exit, IDT-vectoring)
	IntInfoNMIUnblocking = 1 << 12 // VM-exit interruption information only: NMI unblocking due to IRET
	IntInfoValid         = 1 << 31
	intInfoEntryReserved = 0x7FFFF000 // bits 30:12 of the VM-entry field
)

// Exception vectors (SDM Vol. 3A, "Exception and Interrupt Reference").
const (
	VectorDE  = 0  // divide error
	VectorDB  = 1  // debug
	VectorNMI = 2  // NMI interrupt
	VectorBP  = 3  // breakpoint
	VectorOF  = 4  // overflow
	VectorBR  = 5  // BOUND range exceeded
	VectorUD  = 6  // invalid opcode
	VectorNM  = 7  // device not available
	VectorDF  = 8  // double fault
	VectorTS  = 10 // invalid TSS
	VectorNP  = 11 // segment not present
	VectorSS  = 12 // stack-segment fault
	VectorGP  = 13 // general protection
	VectorPF  = 14 // page fault
	VectorMF  = 16 // x87 FPU floating-point error
	VectorAC  = 17 // alignment check
	VectorMC  = 18 // machine check
	VectorXM  = 19 // SIMD floating-point exception
	VectorVE  = 20 // virtualization exception
	VectorCP  = 21 // control protection exception
)

var exceptionMnemonics = [32]string{
	0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM",
	8: "#DF", 9: "CSO", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF",
	16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP",
}

// ExceptionName is "#PF" for 14, "vector 15" for a reserved vector.
func ExceptionName(vector uint8) string {
	if vector < 32 && exceptionMnemonics[vector] != "" {
		return exceptionMnemonics[vector]
	}
	return "vector " + strconv.Itoa(int(vector))
}

// ExceptionHasErrorCode reports whether delivering the exception pushes an
// error code: #DF(8), #TS(10), #NP(11), #SS(12), #GP(13), #PF(14), #AC(17) and
// #CP(21). VM entry requires "deliver error code" exactly for these when the
// guest is in protected mode (SDM Vol. 3C §27.2.1.3), unless IA32_VMX_BASIC[56].
func ExceptionHasErrorCode(vector uint8) bool {
	switch vector {
	case VectorDF, VectorTS, VectorNP, VectorSS, VectorGP, VectorPF, VectorAC, VectorCP:
		return true
	}
	return false
}

// Injection is what the VMM writes to inject an event on the next VM entry:
// the VM-entry interruption-information field, the VM-entry exception error
// code and the VM-entry instruction length (SDM Vol. 3C §25.8.3; delivery is
// described in chapter 27, "Event Injection"). The zero Injection injects
// nothing.
type Injection struct {
	Info      uint32 // VM-entry interruption-information field
	ErrorCode uint32 // VM-entry exception error code (used if Info bit 11)
	InstrLen  uint32 // VM-entry instruction length (software interrupts and exceptions)
}

func mkInfo(t EventType, vector uint8) uint32 {
	return IntInfoValid | uint32(t)<<IntInfoTypeShift | uint32(vector)
}

// InjectExternal injects external interrupt vector (guest RFLAGS.IF must be 1
// and no STI/MOV-SS blocking, SDM Vol. 3C §27.3.1.4-27.3.1.5).
func InjectExternal(vector uint8) Injection {
	return Injection{Info: mkInfo(EventExternalInterrupt, vector)}
}

// InjectNMI injects an NMI (vector 2).
func InjectNMI() Injection { return Injection{Info: mkInfo(EventNMI, VectorNMI)} }

// InjectException injects hardware exception vector (0-31). hasErr sets
// "deliver error code": pass ExceptionHasErrorCode(vector) for a guest in
// protected mode, and false for a real-mode guest (unrestricted guest with
// CR0.PE=0), where no error code may be delivered.
func InjectException(vector uint8, errCode uint32, hasErr bool) Injection {
	j := Injection{Info: mkInfo(EventHardwareException, vector)}
	if hasErr {
		j.Info |= IntInfoErrorCode
		j.ErrorCode = errCode
	}
	return j
}

// InjectSoftwareInterrupt injects INT n; instrLen is the length of the INT
// instruction (RIP advances by it before delivery; 0 only if
// IA32_VMX_MISC[30]).
func InjectSoftwareInterrupt(vector uint8, instrLen uint32) Injection {
	return Injection{Info: mkInfo(EventSoftwareInterrupt, vector), InstrLen: instrLen}
}

// InjectSoftwareException injects #BP (INT3) or #OF (INTO).
func InjectSoftwareException(vector uint8, instrLen uint32) Injection {
	return Injection{Info: mkInfo(EventSoftwareException, vector), InstrLen: instrLen}
}

// InjectPrivilegedSoftwareException injects #DB as by INT1 (ICEBP).
func InjectPrivilegedSoftwareException(vector uint8, instrLen uint32) Injection {
	return Injection{Info: mkInfo(EventPrivilegedSoftwareException, vector), InstrLen: instrLen}
}

// InjectPendingMTF makes the VM entry end in an MTF VM exit before the first
// guest instruction (type "other event", vector 0; needs the 1-setting of
// "monitor trap flag" to be supported).
func InjectPendingMTF() Injection { return Injection{Info: mkInfo(EventOther, 0)} }

// Reinject turns the IDT-vectoring information saved by a VM exit that
// interrupted event delivery into the injection that redelivers the event
// (SDM Vol. 3C §28.2, "Information for VM Exits That Occur During Event
// Delivery"). exitInstrLen is the VM-exit instruction length, which such
// exits save for software interrupts and exceptions. ok is false if no event
// was being delivered.
func Reinject(idtInfo, idtErrCode, exitInstrLen uint32) (j Injection, ok bool) {
	if idtInfo&IntInfoValid == 0 {
		return Injection{}, false
	}
	j.Info = idtInfo &^ (IntInfoNMIUnblocking | intInfoEntryReserved)
	if idtInfo&IntInfoErrorCode != 0 {
		j.ErrorCode = idtErrCode
	}
	switch EventType(idtInfo >> IntInfoTypeShift & 7) {
	case EventSoftwareInterrupt, EventSoftwareException, EventPrivilegedSoftwareException:
		j.InstrLen = exitInstrLen
	}
	return j, true
}

// Valid reports whether j injects an event.
func (j Injection) Valid() bool { return j.Info&IntInfoValid != 0 }

// Decode splits the interruption information.
func (j Injection) Decode() InterruptionInfo { return DecodeInterruptionInfo(j.Info, j.ErrorCode) }

func (j Injection) String() string {
	s := j.Decode().String()
	if j.Valid() && j.InstrLen != 0 {
		s += " len=" + strconv.Itoa(int(j.InstrLen))
	}
	return s
}

// Write stores the injection in the VMCS (all three fields, so that an earlier
// injection's error code or length does not linger).
func (j Injection) Write(v VMCS) error {
	if err := v.Write(EntryInterruptionInfo, uint64(j.Info)); err != nil {
		return err
	}
	if err := v.Write(EntryExceptionErrorCode, uint64(j.ErrorCode)); err != nil {
		return err
	}
	return v.Write(EntryInstructionLength, uint64(j.InstrLen))
}

// InterruptionInfo is an interruption-information field split into its parts
// (the layout is shared by the VM-entry field, the VM-exit interruption
// information and the IDT-vectoring information), with the error code of the
// companion error-code field.
type InterruptionInfo struct {
	Vector         uint8
	Type           EventType
	ErrorCodeValid bool   // bit 11
	NMIUnblocking  bool   // bit 12 (VM-exit interruption information only)
	Valid          bool   // bit 31
	ErrorCode      uint32 // meaningful if ErrorCodeValid
}

// DecodeInterruptionInfo splits an interruption-information value; errCode is
// the value of the matching error-code field.
func DecodeInterruptionInfo(info, errCode uint32) InterruptionInfo {
	ii := InterruptionInfo{
		Vector:         uint8(info),
		Type:           EventType(info >> IntInfoTypeShift & 7),
		ErrorCodeValid: info&IntInfoErrorCode != 0,
		NMIUnblocking:  info&IntInfoNMIUnblocking != 0,
		Valid:          info&IntInfoValid != 0,
	}
	if ii.ErrorCodeValid {
		ii.ErrorCode = errCode
	}
	return ii
}

// String is e.g. "hardware exception #PF err=0x2", "external interrupt 0x20",
// "NMI", "software interrupt INT 0x80" or "none".
func (ii InterruptionInfo) String() string {
	if !ii.Valid {
		return "none"
	}
	var s string
	switch ii.Type {
	case EventExternalInterrupt:
		s = fmt.Sprintf("external interrupt %#x", ii.Vector)
	case EventNMI:
		s = "NMI"
		if ii.Vector != VectorNMI {
			s += fmt.Sprintf(" (vector %d)", ii.Vector)
		}
	case EventHardwareException, EventSoftwareException, EventPrivilegedSoftwareException:
		s = ii.Type.String() + " " + ExceptionName(ii.Vector)
	case EventSoftwareInterrupt:
		s = fmt.Sprintf("software interrupt INT %#x", ii.Vector)
	case EventOther:
		s = "other event"
		if ii.Vector == 0 {
			s += " (pending MTF VM exit)"
		} else {
			s += fmt.Sprintf(" vector %d", ii.Vector)
		}
	default:
		s = fmt.Sprintf("%s vector %d", ii.Type, ii.Vector)
	}
	if ii.ErrorCodeValid {
		s += fmt.Sprintf(" err=%#x", ii.ErrorCode)
	}
	if ii.NMIUnblocking {
		s += " (NMI unblocking due to IRET)"
	}
	return s
}
