package vmx

import (
	"errors"
	"strings"
	"testing"
)

// The control set hindsight runs its guests with, adjusted against Bochs.
func TestAdjustBochs(t *testing.T) {
	c := bochsCaps(t)

	pin, err := Adjust(PinBasedExternalInterruptExiting, 0, c.Pin)
	if err != nil || pin != 0x17 {
		t.Errorf("pin = %#x, %v; want 0x17 (external-interrupt exiting + default1 bits 1, 2, 4)", pin, err)
	}

	want := uint32(ProcBasedHLTExiting | ProcBasedRDTSCExiting | ProcBasedUseIOBitmaps | ProcBasedUseMSRBitmaps | ProcBasedActivateSecondaryControls)
	proc, err := Adjust(want, 0, c.Proc)
	if err != nil {
		t.Fatal(err)
	}
	if proc != want|0x04006172 {
		t.Errorf("primary = %#x, want %#x", proc, want|0x04006172)
	}
	if proc&(ProcBasedCR3LoadExiting|ProcBasedCR3StoreExiting) != 0 {
		t.Error("TRUE controls let CR3-load/store exiting be 0, but Adjust set them")
	}
	if !strings.Contains(ProcBased.Format(uint64(proc)), "0x960071f2 [HLT exiting, RDTSC exiting, use I/O bitmaps, use MSR bitmaps, activate secondary controls] reserved=0x4006172") {
		t.Errorf("Format = %s", ProcBased.Format(uint64(proc)))
	}

	proc2, err := Adjust(ProcBased2EnableEPT|ProcBased2UnrestrictedGuest|ProcBased2EnableVPID, 0, c.Proc2)
	if err != nil || proc2 != 0xA2 {
		t.Errorf("secondary = %#x, %v; want 0xa2", proc2, err)
	}

	exit, err := Adjust(ExitHostAddressSpaceSize|ExitAcknowledgeInterruptOnExit|ExitSaveEFER|ExitLoadEFER|ExitLoadPAT|ExitSavePAT, 0, c.Exit)
	if err != nil || exit&0x00036dfb != 0x00036dfb || exit&ExitLoadEFER == 0 {
		t.Errorf("exit = %#x, %v", exit, err)
	}
	entry, err := Adjust(EntryIA32eModeGuest|EntryLoadEFER|EntryLoadPAT, EntryLoadDebugControls, c.Entry)
	if err != nil || entry != 0x11fb|EntryIA32eModeGuest|EntryLoadEFER|EntryLoadPAT|EntryLoadDebugControls {
		t.Errorf("entry = %#x, %v", entry, err)
	}

	// Bochs 2.7's skylake_x reports MTF (primary bit 27) as not allowed
	// (0xf7f9fffe has bit 27 clear). Optional: silently left out.
	proc, err = Adjust(ProcBasedHLTExiting, ProcBasedMonitorTrapFlag|ProcBasedPAUSEExiting, c.Proc)
	if err != nil || proc&ProcBasedMonitorTrapFlag != 0 || proc&ProcBasedPAUSEExiting == 0 {
		t.Errorf("optional MTF/PAUSE: %#x, %v", proc, err)
	}
	// Required: a named error.
	_, err = Adjust(ProcBasedHLTExiting|ProcBasedMonitorTrapFlag, 0, c.Proc)
	const mtf = `vmx: required control "monitor trap flag" (primary processor-based bit 27) not supported by this CPU`
	if err == nil || err.Error() != mtf {
		t.Errorf("required MTF: %v\nwant %s", err, mtf)
	}
	var ce *ControlError
	if !errors.As(err, &ce) || ce.Word != ProcBased || ce.Missing != ProcBasedMonitorTrapFlag {
		t.Errorf("ControlError = %+v", ce)
	}
}

func TestAdjustErrors(t *testing.T) {
	c := bochsCaps(t)
	noEPT := Allowed{Word: ProcBased2, Allowed1: 0xFFFFFFFF &^ ProcBased2EnableEPT}
	_, err := Adjust(ProcBased2EnableEPT, 0, noEPT)
	if want := `vmx: required control "enable EPT" (secondary processor-based bit 1) not supported by this CPU`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	_, err = Adjust(ProcBased2EnableENCLSExiting|ProcBased2ConcealVMXFromPT|ProcBased2EnableEPT, 0, c.Proc2)
	if want := `vmx: required controls "enable ENCLS exiting" (secondary processor-based bit 15), "conceal VMX from PT" (secondary processor-based bit 19) not supported by this CPU`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	_, err = Adjust(1<<29, 0, c.Proc2)
	if err == nil || !strings.Contains(err.Error(), "reserved bit 29 (secondary processor-based)") {
		t.Errorf("reserved bit: %v", err)
	}
	_, err = Adjust64(ProcBased3LOADIWKEYExiting, 0, c.Proc3)
	if want := `vmx: required control "LOADIWKEY exiting" (tertiary processor-based bit 0) not supported by this CPU`; err == nil || err.Error() != want {
		t.Errorf("got %v", err)
	}
	if v, err := Adjust64(0, ProcBased3IPIVirtualization, c.Proc3); v != 0 || err != nil {
		t.Errorf("Adjust64 optional = %#x, %v", v, err)
	}
}

func TestControlNames(t *testing.T) {
	for _, tc := range []struct {
		w    ControlWord
		bit  uint64
		name string
	}{
		{PinBased, PinBasedExternalInterruptExiting, "external-interrupt exiting"},
		{PinBased, PinBasedActivatePreemptionTimer, "activate VMX-preemption timer"},
		{ProcBased, ProcBasedHLTExiting, "HLT exiting"},
		{ProcBased, ProcBasedUseIOBitmaps, "use I/O bitmaps"},
		{ProcBased2, ProcBased2EnableEPT, "enable EPT"},
		{ProcBased2, ProcBased2UnrestrictedGuest, "unrestricted guest"},
		{ProcBased2, ProcBased2InstructionTimeout, "instruction timeout"},
		{ProcBased3, ProcBased3IPIVirtualization, "IPI virtualization"},
		{ExitCtls, ExitHostAddressSpaceSize, "host address-space size"},
		{ExitCtls, ExitAcknowledgeInterruptOnExit, "acknowledge interrupt on exit"},
		{EntryCtls, EntryIA32eModeGuest, "IA-32e mode guest"},
		{EntryCtls, EntryLoadLBRCtl, "load guest IA32_LBR_CTL"},
	} {
		if got := tc.w.Names(tc.bit); len(got) != 1 || got[0] != tc.name {
			t.Errorf("%s %#x: %v, want %q", tc.w, tc.bit, got, tc.name)
		}
	}
	// Names are unique within a word, and every named bit has a constant.
	for w := ControlWord(0); w < numControlWords; w++ {
		seen := map[string]bool{}
		for _, n := range controlNames[w] {
			if seen[n] {
				t.Errorf("%s: duplicate name %q", w, n)
			}
			seen[n] = true
		}
	}
	if PinBased.Field() != PinBasedControls || ProcBased3.Field() != ProcBasedControls3 || EntryCtls.Field() != EntryControls {
		t.Error("ControlWord.Field")
	}
}
