package vmx

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitReasons(t *testing.T) {
	for _, tc := range []struct {
		r    BasicExitReason
		name string
	}{
		{ReasonExceptionOrNMI, "Exception or non-maskable interrupt (NMI)"},
		{ReasonHLT, "HLT"},
		{ReasonCRAccess, "Control-register accesses"},
		{ReasonIOInstruction, "I/O instruction"},
		{ReasonInvalidGuestState, "VM-entry failure due to invalid guest state"},
		{ReasonMonitorTrapFlag, "Monitor trap flag"},
		{ReasonEPTViolation, "EPT violation"},
		{ReasonPreemptionTimer, "VMX-preemption timer expired"},
		{ReasonBusLock, "Bus lock"},
		{ReasonInstructionTimeout, "Instruction timeout"},
		{ReasonWRMSRLIST, "WRMSRLIST"},
	} {
		if got := tc.r.String(); got != tc.name {
			t.Errorf("reason %d: %q, want %q", tc.r, got, tc.name)
		}
	}
	// 0..81 all named except the reasons the SDM does not use.
	seen := map[string]bool{}
	for r := BasicExitReason(0); r <= ReasonUWRMSR; r++ {
		unused := r == 35 || r == 38 || r == 42 || r == 71
		if r.Known() == unused {
			t.Errorf("reason %d: Known() = %v", r, r.Known())
		}
		if r.Known() {
			if seen[r.String()] {
				t.Errorf("duplicate name %q", r.String())
			}
			seen[r.String()] = true
		}
	}
	if BasicExitReason(35).String() != "exit reason 35" || BasicExitReason(200).String() != "exit reason 200" {
		t.Error("unknown reasons")
	}
}

func TestExitReasonFlags(t *testing.T) {
	r := ExitReason(0x80000021)
	if r.Basic() != ReasonInvalidGuestState || !r.EntryFailed() || !r.Basic().EntryFailure() {
		t.Errorf("%#x: basic %d failed %v", uint32(r), r.Basic(), r.EntryFailed())
	}
	if got := r.String(); got != "VM-entry failure due to invalid guest state (VM-entry failure)" {
		t.Errorf("String = %q", got)
	}
	r = ExitReason(ReasonEPTViolation) | ExitReasonEnclave
	if !r.Enclave() || r.EntryFailed() || r.PendingMTF() || r.FromVMXRoot() || r.BusLock() || r.String() != "EPT violation (enclave)" {
		t.Errorf("%q", r)
	}
	if ReasonHLT.EntryFailure() {
		t.Error("HLT is not an entry failure")
	}
}

func TestInstructionErrors(t *testing.T) {
	if s := VMErrEntryInvalidHostState.String(); s != "VM entry with invalid host-state field(s)" {
		t.Error(s)
	}
	if s := InstructionError(28).String(); s != "Invalid operand to INVEPT/INVVPID" {
		t.Error(s)
	}
	if s := InstructionError(14).String(); s != "VM-instruction error 14" {
		t.Error(s)
	}
	var err error = fmt.Errorf("vmlaunch: %w", VMErrEntryInvalidControls)
	var ie InstructionError
	if !errors.As(err, &ie) || ie != 7 || ie.Error() != "vmx: VMfailValid: error 7: VM entry with invalid control field(s)" {
		t.Errorf("%v", err)
	}
	n := 0
	for e := InstructionError(1); e <= 28; e++ {
		if _, ok := instructionErrorNames[e]; ok {
			n++
		}
	}
	if n != 25 {
		t.Errorf("%d error numbers named, want 25 (1-28 without 14, 21, 27)", n)
	}
}
