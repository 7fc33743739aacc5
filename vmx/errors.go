package vmx

import (
	"errors"
	"strconv"
)

// InstructionError is a VM-instruction error number, the value of the
// VM-instruction error field after a VMX instruction ends in VMfailValid
// (RFLAGS.ZF=1). SDM Vol. 3C §31.4 "VM Instruction Error Numbers".
type InstructionError uint32

const (
	VMErrVMCALLInRoot                  InstructionError = 1
	VMErrVMCLEARInvalidAddress         InstructionError = 2
	VMErrVMCLEARVMXONPointer           InstructionError = 3
	VMErrVMLAUNCHNonClear              InstructionError = 4
	VMErrVMRESUMENonLaunched           InstructionError = 5
	VMErrVMRESUMEAfterVMXOFF           InstructionError = 6
	VMErrEntryInvalidControls          InstructionError = 7
	VMErrEntryInvalidHostState         InstructionError = 8
	VMErrVMPTRLDInvalidAddress         InstructionError = 9
	VMErrVMPTRLDVMXONPointer           InstructionError = 10
	VMErrVMPTRLDBadRevision            InstructionError = 11
	VMErrUnsupportedComponent          InstructionError = 12
	VMErrVMWRITEReadOnly               InstructionError = 13
	VMErrVMXONInRoot                   InstructionError = 15
	VMErrEntryInvalidExecutiveVMCS     InstructionError = 16
	VMErrEntryNonLaunchedExecutiveVMCS InstructionError = 17
	VMErrEntryExecutiveNotVMXONPointer InstructionError = 18
	VMErrVMCALLNonClear                InstructionError = 19
	VMErrVMCALLInvalidExitControls     InstructionError = 20
	VMErrVMCALLBadMSEGRevision         InstructionError = 22
	VMErrVMXOFFDualMonitor             InstructionError = 23
	VMErrVMCALLBadSMMMonitorFeatures   InstructionError = 24
	VMErrEntryInvalidExecutiveControls InstructionError = 25
	VMErrEntryMOVSSBlocking            InstructionError = 26
	VMErrInvalidINVEPTINVVPIDOperand   InstructionError = 28
)

// instructionErrorNames are the descriptions of SDM Vol. 3C Table 31-1.
var instructionErrorNames = map[InstructionError]string{
	1:  "VMCALL executed in VMX root operation",
	2:  "VMCLEAR with invalid physical address",
	3:  "VMCLEAR with VMXON pointer",
	4:  "VMLAUNCH with non-clear VMCS",
	5:  "VMRESUME with non-launched VMCS",
	6:  "VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)",
	7:  "VM entry with invalid control field(s)",
	8:  "VM entry with invalid host-state field(s)",
	9:  "VMPTRLD with invalid physical address",
	10: "VMPTRLD with VMXON pointer",
	11: "VMPTRLD with incorrect VMCS revision identifier",
	12: "VMREAD/VMWRITE from/to unsupported VMCS component",
	13: "VMWRITE to read-only VMCS component",
	15: "VMXON executed in VMX root operation",
	16: "VM entry with invalid executive-VMCS pointer",
	17: "VM entry with non-launched executive VMCS",
	18: "VM entry with executive-VMCS pointer not VMXON pointer (when attempting to deactivate the dual-monitor treatment of SMIs and SMM)",
	19: "VMCALL with non-clear VMCS (when attempting to activate the dual-monitor treatment of SMIs and SMM)",
	20: "VMCALL with invalid VM-exit control fields",
	22: "VMCALL with incorrect MSEG revision identifier (when attempting to activate the dual-monitor treatment of SMIs and SMM)",
	23: "VMXOFF under dual-monitor treatment of SMIs and SMM",
	24: "VMCALL with invalid SMM-monitor features (when attempting to activate the dual-monitor treatment of SMIs and SMM)",
	25: "VM entry with invalid VM-execution control fields in executive VMCS (when attempting to return from SMM)",
	26: "VM entry with events blocked by MOV SS",
	28: "Invalid operand to INVEPT/INVVPID",
}

// String is the SDM description, or "VM-instruction error N" for a number the
// table does not define.
func (e InstructionError) String() string {
	if s, ok := instructionErrorNames[e]; ok {
		return s
	}
	return "VM-instruction error " + strconv.FormatUint(uint64(e), 10)
}

// Error makes InstructionError the error a VMfailValid becomes:
// "vmx: VMfailValid: error 8: VM entry with invalid host-state field(s)".
func (e InstructionError) Error() string {
	return "vmx: VMfailValid: error " + strconv.FormatUint(uint64(e), 10) + ": " + e.String()
}

// ErrVMFailInvalid is VMfailInvalid (RFLAGS.CF=1): the instruction needed a
// current VMCS and there was none, so no error number could be stored.
var ErrVMFailInvalid = errors.New("vmx: VMfailInvalid: no current VMCS")
