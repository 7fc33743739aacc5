package vmx

// CheckControls performs the checks of SDM Vol. 3C §27.2.1 "Checks on VMX
// Controls" (VM-execution §27.2.1.1, VM-exit §27.2.1.2, VM-entry §27.2.1.3,
// including the event-injection rules) and returns every check that fails. A
// failure of these makes VMLAUNCH/VMRESUME fail with VM-instruction error 7.
//
// guest is needed for the event-injection rule that depends on guest CR0.PE;
// nil means "assume protected mode". The processor is taken to be outside
// SMM. Checks that read memory (the TPR-threshold check against the virtual-
// APIC page) and those for features hindsight does not use (PASID, HLAT, IPI
// virtualization, ENCLS/ENCLV) are not performed.
func CheckControls(ctl *Controls, guest *GuestState, caps *Caps) Failures {
	k := &checker{caps: caps}
	k.execControls(ctl)
	k.exitControls(ctl)
	k.entryControls(ctl, guest)
	return k.out
}

const (
	secExecCtl  = "27.2.1.1"
	secExitCtl  = "27.2.1.2"
	secEntryCtl = "27.2.1.3"
)

// allowed checks a control word against its capability MSR.
func (k *checker) allowed(sec string, a Allowed, v uint32) {
	if m := a.Allowed0 &^ v; m != 0 {
		for _, n := range a.Word.Names(uint64(m)) {
			k.fail(sec, a.Word.String()+" controls", "%s must be 1 on this processor", quoteName(n))
		}
	}
	if m := v &^ a.Allowed1; m != 0 {
		for _, n := range a.Word.Names(uint64(m)) {
			k.fail(sec, a.Word.String()+" controls", "%s is not supported (must be 0) on this processor", quoteName(n))
		}
	}
}

func (k *checker) allowed64(sec string, a Allowed64, v uint64) {
	if m := v &^ a.Allowed1; m != 0 {
		for _, n := range a.Word.Names(m) {
			k.fail(sec, a.Word.String()+" controls", "%s is not supported (must be 0) on this processor", quoteName(n))
		}
	}
}

func quoteName(n string) string {
	if len(n) > 4 && n[:4] == "bit " {
		return "reserved " + n
	}
	return "\"" + n + "\""
}

// pageAddr checks a 4-Kbyte aligned physical address field.
func (k *checker) pageAddr(sec, name string, a uint64) {
	if a&0xFFF != 0 {
		k.fail(sec, name, "%#x: bits 11:0 must be 0", a)
	}
	if !k.physOK(a) {
		k.fail(sec, name, "%#x sets bits beyond the physical-address width", a)
	}
}

func (k *checker) execControls(ctl *Controls) {
	sec := secExecCtl
	sec2 := ctl.Secondary()
	if c := k.caps; c != nil {
		k.allowed(sec, c.Pin, ctl.Pin)
		k.allowed(sec, c.Proc, ctl.Proc)
		if ctl.Proc&ProcBasedActivateSecondaryControls != 0 {
			k.allowed(sec, c.Proc2, ctl.Proc2)
		}
		if ctl.Proc&ProcBasedActivateTertiaryControls != 0 {
			k.allowed64(sec, c.Proc3, ctl.Proc3)
		}
		if max := c.Misc.CR3Targets; ctl.CR3TargetCount > max {
			k.fail(sec, "CR3-target count", "%d exceeds the %d CR3-target values supported", ctl.CR3TargetCount, max)
		}
	} else if ctl.CR3TargetCount > 4 {
		k.fail(sec, "CR3-target count", "%d must not be greater than 4", ctl.CR3TargetCount)
	}
	if ctl.Proc&ProcBasedUseIOBitmaps != 0 {
		k.pageAddr(sec, "address of I/O bitmap A", ctl.IOBitmapA)
		k.pageAddr(sec, "address of I/O bitmap B", ctl.IOBitmapB)
	}
	if ctl.Proc&ProcBasedUseMSRBitmaps != 0 {
		k.pageAddr(sec, "address of MSR bitmaps", ctl.MSRBitmap)
	}
	tpr := ctl.Proc&ProcBasedUseTPRShadow != 0
	if tpr {
		k.pageAddr(sec, "virtual-APIC address", ctl.VirtualAPICAddr)
		if sec2&ProcBased2VirtualInterruptDelivery == 0 && ctl.TPRThreshold>>4 != 0 {
			k.fail(sec, "TPR threshold", "%#x: bits 31:4 must be 0 without \"virtual-interrupt delivery\"", ctl.TPRThreshold)
		}
	} else if m := sec2 & (ProcBased2VirtualizeX2APICMode | ProcBased2APICRegisterVirtualization | ProcBased2VirtualInterruptDelivery); m != 0 {
		for _, n := range ProcBased2.Names(uint64(m)) {
			k.fail(sec, "secondary processor-based controls", "%q requires \"use TPR shadow\"", n)
		}
	}
	if ctl.Pin&PinBasedNMIExiting == 0 && ctl.Pin&PinBasedVirtualNMIs != 0 {
		k.fail(sec, "pin-based controls", "\"virtual NMIs\" requires \"NMI exiting\"")
	}
	if ctl.Pin&PinBasedVirtualNMIs == 0 && ctl.Proc&ProcBasedNMIWindowExiting != 0 {
		k.fail(sec, "primary processor-based controls", "\"NMI-window exiting\" requires \"virtual NMIs\"")
	}
	if sec2&ProcBased2VirtualizeAPICAccesses != 0 {
		k.pageAddr(sec, "APIC-access address", ctl.APICAccessAddr)
		if sec2&ProcBased2VirtualizeX2APICMode != 0 {
			k.fail(sec, "secondary processor-based controls", "\"virtualize x2APIC mode\" and \"virtualize APIC accesses\" both set")
		}
	}
	if sec2&ProcBased2VirtualInterruptDelivery != 0 && ctl.Pin&PinBasedExternalInterruptExiting == 0 {
		k.fail(sec, "secondary processor-based controls", "\"virtual-interrupt delivery\" requires \"external-interrupt exiting\"")
	}
	if ctl.Pin&PinBasedProcessPostedInterrupts != 0 {
		if sec2&ProcBased2VirtualInterruptDelivery == 0 {
			k.fail(sec, "pin-based controls", "\"process posted interrupts\" requires \"virtual-interrupt delivery\"")
		}
		if ctl.Exit&ExitAcknowledgeInterruptOnExit == 0 {
			k.fail(sec, "pin-based controls", "\"process posted interrupts\" requires \"acknowledge interrupt on exit\"")
		}
		if ctl.PostedIntVector>>8 != 0 {
			k.fail(sec, "posted-interrupt notification vector", "%#x: bits 15:8 must be 0", ctl.PostedIntVector)
		}
		if ctl.PostedIntDescAddr&0x3F != 0 || !k.physOK(ctl.PostedIntDescAddr) {
			k.fail(sec, "posted-interrupt descriptor address", "%#x must be 64-byte aligned within the physical-address width", ctl.PostedIntDescAddr)
		}
	}
	if sec2&ProcBased2EnableVPID != 0 && ctl.VPID == 0 {
		k.fail(sec, "virtual-processor identifier (VPID)", "must not be 0000H with \"enable VPID\"")
	}
	if sec2&ProcBased2EnableEPT != 0 {
		k.checkEPTP(ctl.EPTP)
	}
	for _, dep := range []uint32{ProcBased2UnrestrictedGuest, ProcBased2EnablePML, ProcBased2ModeBasedExecuteControl, ProcBased2SubPageWritePermissions} {
		if sec2&dep != 0 && sec2&ProcBased2EnableEPT == 0 {
			k.fail(sec, "secondary processor-based controls", "%q requires \"enable EPT\"", ControlName(ProcBased2, uint8(trailingZeros(dep))))
		}
	}
	if sec2&ProcBased2EnablePML != 0 {
		k.pageAddr(sec, "PML address", ctl.PMLAddr)
	}
	if sec2&ProcBased2SubPageWritePermissions != 0 {
		k.pageAddr(sec, "sub-page-permission-table pointer", ctl.SPPTP)
	}
	if sec2&ProcBased2EPTViolationVE != 0 {
		k.pageAddr(sec, "virtualization-exception information address", ctl.VEInfoAddr)
	}
	if sec2&ProcBased2VMCSShadowing != 0 {
		k.pageAddr(sec, "VMREAD-bitmap address", ctl.VMReadBitmap)
		k.pageAddr(sec, "VMWRITE-bitmap address", ctl.VMWriteBitmap)
	}
	if sec2&ProcBased2EnableVMFunctions != 0 {
		if k.caps != nil {
			if m := ctl.VMFuncControls &^ k.caps.VMFunc; m != 0 {
				k.fail(sec, "VM-function controls", "bits %#x are not supported (IA32_VMX_VMFUNC)", m)
			}
		}
		if ctl.VMFuncControls&1 != 0 { // EPTP switching
			if sec2&ProcBased2EnableEPT == 0 {
				k.fail(sec, "VM-function controls", "EPTP switching requires \"enable EPT\"")
			}
			k.pageAddr(sec, "EPTP-list address", ctl.EPTPListAddr)
		}
	}
}

// checkEPTP checks the EPT pointer (SDM Vol. 3C §27.2.1.1; format in §25.6.11).
func (k *checker) checkEPTP(p uint64) {
	sec, f := secExecCtl, "EPT pointer (EPTP)"
	mt := p & 7
	walk := p >> 3 & 7
	var e EPTVPIDCap
	if k.caps != nil {
		e = k.caps.EPTVPID
		switch {
		case mt == MemTypeUC && e.MemTypeUC, mt == MemTypeWB && e.MemTypeWB:
		default:
			k.fail(sec, f, "memory type %d (bits 2:0) is not supported (IA32_VMX_EPT_VPID_CAP bits 8, 14)", mt)
		}
		switch {
		case walk == 3 && e.PageWalk4, walk == 4 && e.PageWalk5:
		default:
			k.fail(sec, f, "page-walk length %d (bits 5:3 = %d) is not supported", walk+1, walk)
		}
		if p&(1<<6) != 0 && !e.AccessedDirty {
			k.fail(sec, f, "accessed and dirty flags (bit 6) are not supported")
		}
		if p&(1<<7) != 0 && !e.SupervisorShadowStack {
			k.fail(sec, f, "supervisor shadow-stack control (bit 7) is not supported")
		}
	}
	if p&0xF00 != 0 {
		k.fail(sec, f, "%#x: reserved bits 11:8 must be 0", p)
	}
	if !k.physOK(p) {
		k.fail(sec, f, "%#x sets bits beyond the physical-address width", p)
	}
}

// msrArea checks a VM-exit/VM-entry MSR-store or MSR-load area.
func (k *checker) msrArea(sec, name string, count uint32, addr uint64) {
	if count == 0 {
		return
	}
	if addr&0xF != 0 {
		k.fail(sec, name, "%#x: bits 3:0 must be 0", addr)
	}
	if !k.physOK(addr) || !k.physOK(addr+uint64(count)*16-1) {
		k.fail(sec, name, "area %#x + %d entries extends beyond the physical-address width", addr, count)
	}
	if k.caps != nil && count > k.caps.Misc.MaxMSRListEntries {
		k.fail(sec, name, "%d entries exceed the recommended maximum of %d (IA32_VMX_MISC bits 27:25)", count, k.caps.Misc.MaxMSRListEntries)
	}
}

func (k *checker) exitControls(ctl *Controls) {
	sec := secExitCtl
	if c := k.caps; c != nil {
		k.allowed(sec, c.Exit, ctl.Exit)
		if ctl.Exit&ExitActivateSecondaryControls != 0 {
			k.allowed64(sec, c.Exit2, ctl.Exit2)
		}
	}
	if ctl.Pin&PinBasedActivatePreemptionTimer == 0 && ctl.Exit&ExitSavePreemptionTimer != 0 {
		k.fail(sec, "primary VM-exit controls", "\"save VMX-preemption timer value\" requires \"activate VMX-preemption timer\"")
	}
	k.msrArea(sec, "VM-exit MSR-store address", ctl.ExitMSRStoreCount, ctl.ExitMSRStoreAddr)
	k.msrArea(sec, "VM-exit MSR-load address", ctl.ExitMSRLoadCount, ctl.ExitMSRLoadAddr)
}

func (k *checker) entryControls(ctl *Controls, guest *GuestState) {
	sec := secEntryCtl
	if c := k.caps; c != nil {
		k.allowed(sec, c.Entry, ctl.Entry)
	}
	if ctl.Entry&EntryToSMM != 0 {
		k.fail(sec, "VM-entry controls", "\"entry to SMM\" must be 0 outside SMM")
	}
	if ctl.Entry&EntryDeactivateDualMonitor != 0 {
		k.fail(sec, "VM-entry controls", "\"deactivate dual-monitor treatment\" must be 0 outside SMM")
	}
	k.msrArea(sec, "VM-entry MSR-load address", ctl.EntryMSRLoadCount, ctl.EntryMSRLoadAddr)
	k.checkInjection(ctl, guest)
}

// checkInjection applies the event-injection rules of §27.2.1.3.
func (k *checker) checkInjection(ctl *Controls, guest *GuestState) {
	sec, f := secEntryCtl, "VM-entry interruption-information field"
	info := ctl.EntryIntInfo
	if info&IntInfoValid == 0 {
		return
	}
	ii := DecodeInterruptionInfo(info, ctl.EntryErrorCode)
	switch ii.Type {
	case 1:
		k.fail(sec, f, "interruption type 1 is reserved")
	case EventOther:
		if k.caps != nil && !k.caps.Proc.MayBeOne(ProcBasedMonitorTrapFlag) {
			k.fail(sec, f, "interruption type 7 (other event) is reserved without support for \"monitor trap flag\"")
		}
		if ii.Vector != 0 {
			k.fail(sec, f, "vector %d must be 0 for other event (pending MTF VM exit)", ii.Vector)
		}
	case EventNMI:
		if ii.Vector != VectorNMI {
			k.fail(sec, f, "vector %d must be 2 for an NMI", ii.Vector)
		}
	case EventHardwareException:
		if ii.Vector > 31 {
			k.fail(sec, f, "vector %d must be at most 31 for a hardware exception", ii.Vector)
		}
	}
	// "deliver error code" must be 1 iff (unrestricted guest is 0 or CR0.PE
	// is 1) and the type is hardware exception and the vector is one that
	// delivers an error code; IA32_VMX_BASIC[56] lifts the vector condition.
	protected := ctl.Secondary()&ProcBased2UnrestrictedGuest == 0 || guest == nil || guest.CR0&CR0PE != 0
	hw := ii.Type == EventHardwareException
	relaxed := k.caps != nil && k.caps.NoErrorCodeCheck
	switch {
	case ii.ErrorCodeValid && !(protected && hw):
		k.fail(sec, f, "deliver-error-code is 1 for a %s", describeInjTarget(ii, protected))
	case ii.ErrorCodeValid && !relaxed && !ExceptionHasErrorCode(ii.Vector):
		k.fail(sec, f, "deliver-error-code is 1 but %s delivers no error code", ExceptionName(ii.Vector))
	case !ii.ErrorCodeValid && protected && hw && !relaxed && ExceptionHasErrorCode(ii.Vector):
		k.fail(sec, f, "deliver-error-code is 0 but %s delivers an error code", ExceptionName(ii.Vector))
	}
	if info&intInfoEntryReserved != 0 {
		k.fail(sec, f, "%#x: reserved bits 30:12 must be 0", info)
	}
	if ii.ErrorCodeValid && ctl.EntryErrorCode>>16 != 0 {
		k.fail(sec, "VM-entry exception error code", "%#x: bits 31:16 must be 0", ctl.EntryErrorCode)
	}
	switch ii.Type {
	case EventSoftwareInterrupt, EventSoftwareException, EventPrivilegedSoftwareException:
		n := ctl.EntryInstrLen
		zeroOK := k.caps != nil && k.caps.Misc.ZeroLengthInjection
		if n > 15 || n == 0 && !zeroOK {
			k.fail(sec, "VM-entry instruction length", "%d must be in 1-15 for a %s (0 only with IA32_VMX_MISC bit 30)", n, ii.Type)
		}
	}
}

func describeInjTarget(ii InterruptionInfo, protected bool) string {
	if ii.Type == EventHardwareException && !protected {
		return "hardware exception into a real-mode guest (\"unrestricted guest\" and CR0.PE=0)"
	}
	return ii.Type.String()
}

func trailingZeros(v uint32) int {
	n := 0
	for v&1 == 0 && n < 32 {
		v >>= 1
		n++
	}
	return n
}
