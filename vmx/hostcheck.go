package vmx

// CheckHostState performs the checks of SDM Vol. 3C §27.2.2 "Checks on Host
// Control Registers, MSRs, and SSP", §27.2.3 "Checks on Host Segment and
// Descriptor-Table Registers" and §27.2.4 "Checks Related to Address-Space
// Size" and returns every check that fails. A failure of these makes
// VMLAUNCH/VMRESUME fail with VM-instruction error 8.
//
// The processor executing VM entry is taken to be in IA-32e mode
// (IA32_EFER.LMA=1), as hindsight's host always is. Reserved bits of
// IA32_PERF_GLOBAL_CTRL (which depend on CPUID) and the FRED state are not
// checked.
func CheckHostState(h *HostState, ctl *Controls, caps *Caps) Failures {
	k := &checker{caps: caps}
	k.hostControlRegs(h, ctl)
	k.hostSegments(h, ctl)
	k.hostAddressSpace(h, ctl)
	return k.out
}

const (
	secHostCR   = "27.2.2"
	secHostSeg  = "27.2.3"
	secHostSize = "27.2.4"
)

func (k *checker) hostControlRegs(h *HostState, ctl *Controls) {
	sec := secHostCR
	if c := k.caps; c != nil {
		// CR0.NW and CR0.CD are not checked: VM exit does not change them.
		ignore := uint64(CR0NW | CR0CD)
		if m := c.CR0Fixed0 &^ ignore &^ h.CR0; m != 0 {
			k.fail(sec, "host CR0", "bits %#x must be 1 in VMX operation (IA32_VMX_CR0_FIXED0)", m)
		}
		if m := h.CR0 &^ c.CR0Fixed1 &^ ignore; m != 0 {
			k.fail(sec, "host CR0", "bits %#x must be 0 in VMX operation (IA32_VMX_CR0_FIXED1)", m)
		}
		if m := c.CR4Fixed0 &^ h.CR4; m != 0 {
			k.fail(sec, "host CR4", "bits %#x must be 1 in VMX operation (IA32_VMX_CR4_FIXED0)", m)
		}
		if m := h.CR4 &^ c.CR4Fixed1; m != 0 {
			k.fail(sec, "host CR4", "bits %#x must be 0 in VMX operation (IA32_VMX_CR4_FIXED1)", m)
		}
	}
	if !k.physOK(h.CR3) {
		k.fail(sec, "host CR3", "%#x sets bits beyond the physical-address width (%d)", h.CR3, k.caps.physBits())
	}
	if !k.canonical(h.IA32SysenterESP) {
		k.fail(sec, "host IA32_SYSENTER_ESP", "%#x is not canonical", h.IA32SysenterESP)
	}
	if !k.canonical(h.IA32SysenterEIP) {
		k.fail(sec, "host IA32_SYSENTER_EIP", "%#x is not canonical", h.IA32SysenterEIP)
	}
	if ctl.Exit&ExitLoadCETState != 0 {
		if h.CR4&CR4CET != 0 && h.CR0&CR0WP == 0 {
			k.fail(sec, "host CR0", "CR4.CET=1 requires CR0.WP=1 with \"load CET state\"")
		}
		if !k.canonical(h.IA32SCET) {
			k.fail(sec, "host IA32_S_CET", "%#x is not canonical with \"load CET state\"", h.IA32SCET)
		}
		if h.IA32SCET&sCETReserved != 0 {
			k.fail(sec, "host IA32_S_CET", "reserved bits 9:6 set with \"load CET state\"")
		}
		if h.IA32SCET&(sCETSuppress|sCETTracker) == sCETSuppress|sCETTracker {
			k.fail(sec, "host IA32_S_CET", "SUPPRESS (bit 10) and TRACKER (bit 11) both set with \"load CET state\"")
		}
		if !k.canonical(h.IA32InterruptSSP) {
			k.fail(sec, "host IA32_INTERRUPT_SSP_TABLE_ADDR", "%#x is not canonical with \"load CET state\"", h.IA32InterruptSSP)
		}
		if h.SSP&3 != 0 {
			k.fail(sec, "host SSP", "bits 1:0 of %#x must be 0 with \"load CET state\"", h.SSP)
		}
		if !k.canonical(h.SSP) {
			k.fail(sec, "host SSP", "%#x is not canonical with \"load CET state\"", h.SSP)
		}
	}
	if ctl.Exit&ExitLoadPAT != 0 && !patValid(h.IA32PAT) {
		k.fail(sec, "host IA32_PAT", "%#016x has a byte that is not 0, 1, 4, 5, 6 or 7 with \"load IA32_PAT\"", h.IA32PAT)
	}
	if ctl.Exit&ExitLoadEFER != 0 {
		hs := ctl.Exit&ExitHostAddressSpaceSize != 0
		if m := h.IA32EFER & eferReserved; m != 0 {
			k.fail(sec, "host IA32_EFER", "reserved bits %#x set with \"load IA32_EFER\"", m)
		}
		if h.IA32EFER&EFERLMA != 0 != hs {
			k.fail(sec, "host IA32_EFER", "LMA=%d differs from \"host address-space size\"=%d", yes(h.IA32EFER&EFERLMA != 0), yes(hs))
		}
		if h.IA32EFER&EFERLME != 0 != hs {
			k.fail(sec, "host IA32_EFER", "LME=%d differs from \"host address-space size\"=%d", yes(h.IA32EFER&EFERLME != 0), yes(hs))
		}
	}
	if ctl.Exit&ExitLoadPKRS != 0 && h.IA32PKRS>>32 != 0 {
		k.fail(sec, "host IA32_PKRS", "bits 63:32 must be 0 with \"load PKRS\"")
	}
}

func (k *checker) hostSegments(h *HostState, ctl *Controls) {
	sec := secHostSeg
	for _, s := range []struct {
		name string
		sel  uint16
	}{{"ES", h.ES}, {"CS", h.CS}, {"SS", h.SS}, {"DS", h.DS}, {"FS", h.FS}, {"GS", h.GS}, {"TR", h.TR}} {
		if s.sel&7 != 0 {
			k.fail(sec, "host "+s.name+" selector", "%#x: RPL (bits 1:0) and TI (bit 2) must be 0", s.sel)
		}
	}
	if h.CS == 0 {
		k.fail(sec, "host CS selector", "must not be 0000H")
	}
	if h.TR == 0 {
		k.fail(sec, "host TR selector", "must not be 0000H")
	}
	if h.SS == 0 && ctl.Exit&ExitHostAddressSpaceSize == 0 {
		k.fail(sec, "host SS selector", "must not be 0000H without \"host address-space size\"")
	}
	for _, b := range []struct {
		name string
		base uint64
	}{{"FS base", h.FSBase}, {"GS base", h.GSBase}, {"GDTR base", h.GDTRBase}, {"IDTR base", h.IDTRBase}, {"TR base", h.TRBase}} {
		if !k.canonical(b.base) {
			k.fail(sec, "host "+b.name, "%#x is not canonical", b.base)
		}
	}
}

func (k *checker) hostAddressSpace(h *HostState, ctl *Controls) {
	sec := secHostSize
	hs := ctl.Exit&ExitHostAddressSpaceSize != 0
	if !hs {
		// The processor is in IA-32e mode, so the control must be 1.
		k.fail(sec, "primary VM-exit controls", "\"host address-space size\" must be 1 when VM entry is executed in IA-32e mode")
		if ctl.Entry&EntryIA32eModeGuest != 0 {
			k.fail(sec, "VM-entry controls", "\"IA-32e mode guest\" requires \"host address-space size\"")
		}
		if h.CR4&CR4PCIDE != 0 {
			k.fail(sec, "host CR4", "PCIDE must be 0 without \"host address-space size\"")
		}
		if h.RIP>>32 != 0 {
			k.fail(sec, "host RIP", "bits 63:32 of %#x must be 0 without \"host address-space size\"", h.RIP)
		}
		return
	}
	if h.CR4&CR4PAE == 0 {
		k.fail(sec, "host CR4", "PAE must be 1 with \"host address-space size\"")
	}
	if !k.canonical(h.RIP) {
		k.fail(sec, "host RIP", "%#x is not canonical", h.RIP)
	}
}
