package vmx

// CurrentVMCS is the VMCS interface over the current VMCS of the logical
// processor that runs the calling thread, through the VMREAD and VMWRITE
// routines of insn.go. Failures become ErrVMFailInvalid or the
// InstructionError read from the VM-instruction error field.
//
// Preconditions are those of VMREAD/VMWRITE: CPL0, in VMX operation, and the
// thread pinned to the processor whose current VMCS is meant.
type CurrentVMCS struct{}

// Read implements VMCS with VMREAD.
func (CurrentVMCS) Read(f Field) (uint64, error) {
	v, s := VMREAD(f)
	if s != Succeed {
		return 0, StatusError(s)
	}
	return v, nil
}

// Write implements VMCS with VMWRITE.
func (CurrentVMCS) Write(f Field, v uint64) error {
	if s := VMWRITE(f, v); s != Succeed {
		return StatusError(s)
	}
	return nil
}

// StatusError turns the Status of a VMX instruction into an error: nil for
// Succeed, ErrVMFailInvalid for FailInvalid, and for FailValid the
// InstructionError in the current VMCS's VM-instruction error field
// (SDM Vol. 3C §31.2 "Conventions" defines VMfailInvalid/VMfailValid).
// It executes VMREAD for FailValid, so it has the preconditions of VMREAD.
func StatusError(s Status) error {
	switch s {
	case Succeed:
		return nil
	case FailValid:
		n, s2 := VMREAD(VMInstructionError)
		if s2 != Succeed {
			return ErrVMFailInvalid
		}
		return InstructionError(n)
	}
	return ErrVMFailInvalid
}

var _ VMCS = CurrentVMCS{}
var _ VMCS = (*SoftVMCS)(nil)
