package vmx

// CheckGuestState performs the checks of SDM Vol. 3C §27.3.1 "Checks on the
// Guest State Area" on g, as VM entry would with the controls ctl on the
// processor described by caps, and returns every check that fails.
//
// Use it after a VM entry fails with exit reason 33 ("VM-entry failure due to
// invalid guest state") to say which rule broke; the processor only reports
// the reason, and the SDM lets it check in any order. The checks are the
// SDM's, with these limits:
//   - nothing that needs guest memory is checked: the PDPTEs referenced by CR3
//     when EPT is off (§27.3.1.6) and the VMCS referenced by a VMCS link
//     pointer (a link pointer other than FFFFFFFF_FFFFFFFFH is reported unless
//     "VMCS shadowing" is 1);
//   - reserved bits that depend on CPUID are not checked for
//     IA32_PERF_GLOBAL_CTRL, IA32_RTIT_CTL and IA32_LBR_CTL, nor the FRED state;
//   - the processor is taken to be outside SMM, so blocking by SMI must be 0;
//   - widths come from caps.MaxPhysAddr and caps.LinearAddrBits.
func CheckGuestState(g *GuestState, ctl *Controls, caps *Caps) Failures {
	k := &checker{caps: caps}
	k.guestControlRegs(g, ctl)
	k.guestSegments(g, ctl)
	k.guestDescriptorTables(g)
	k.guestRIPFlags(g, ctl)
	k.guestNonRegister(g, ctl)
	k.guestPDPTEs(g, ctl)
	return k.out
}

const (
	secGuestCR    = "27.3.1.1"
	secGuestSeg   = "27.3.1.2"
	secGuestDT    = "27.3.1.3"
	secGuestRIP   = "27.3.1.4"
	secGuestNonRg = "27.3.1.5"
	secGuestPDPTE = "27.3.1.6"
)

// §27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs.
func (k *checker) guestControlRegs(g *GuestState, ctl *Controls) {
	sec := secGuestCR
	ug := ctl.Secondary()&ProcBased2UnrestrictedGuest != 0
	ia32e := ctl.Entry&EntryIA32eModeGuest != 0

	if c := k.caps; c != nil {
		// NW and CD are never checked: VM entry does not change them. PE and PG
		// are not checked with "unrestricted guest".
		ignore := uint64(CR0NW | CR0CD)
		if ug {
			ignore |= CR0PE | CR0PG
		}
		if m := c.CR0Fixed0 &^ ignore &^ g.CR0; m != 0 {
			k.fail(sec, "guest CR0", "bits %#x must be 1 in VMX operation (IA32_VMX_CR0_FIXED0)%s", m, unrestrictedHint(m, ug))
		}
		if m := g.CR0 &^ c.CR0Fixed1 &^ ignore; m != 0 {
			k.fail(sec, "guest CR0", "bits %#x must be 0 in VMX operation (IA32_VMX_CR0_FIXED1)", m)
		}
		if m := c.CR4Fixed0 &^ g.CR4; m != 0 {
			k.fail(sec, "guest CR4", "bits %#x must be 1 in VMX operation (IA32_VMX_CR4_FIXED0)", m)
		}
		if m := g.CR4 &^ c.CR4Fixed1; m != 0 {
			k.fail(sec, "guest CR4", "bits %#x must be 0 in VMX operation (IA32_VMX_CR4_FIXED1)", m)
		}
	}
	if g.CR0&CR0PG != 0 && g.CR0&CR0PE == 0 {
		k.fail(sec, "guest CR0", "PG=1 requires PE=1")
	}
	if g.CR4&CR4CET != 0 && g.CR0&CR0WP == 0 {
		k.fail(sec, "guest CR0", "CR4.CET=1 requires CR0.WP=1")
	}
	if ctl.Entry&EntryLoadDebugControls != 0 {
		if m := g.IA32DebugCtl & debugCtlReserved; m != 0 {
			k.fail(sec, "guest IA32_DEBUGCTL", "reserved bits %#x set with \"load debug controls\"", m)
		}
		if g.DR7>>32 != 0 {
			k.fail(sec, "guest DR7", "bits 63:32 must be 0 with \"load debug controls\"")
		}
	}
	if ia32e {
		if g.CR0&CR0PG == 0 {
			k.fail(sec, "guest CR0", "PG must be 1 with \"IA-32e mode guest\"")
		}
		if g.CR4&CR4PAE == 0 {
			k.fail(sec, "guest CR4", "PAE must be 1 with \"IA-32e mode guest\"")
		}
	} else if g.CR4&CR4PCIDE != 0 {
		k.fail(sec, "guest CR4", "PCIDE must be 0 without \"IA-32e mode guest\"")
	}
	if !k.physOK(g.CR3) {
		k.fail(sec, "guest CR3", "%#x sets bits beyond the physical-address width (%d)", g.CR3, k.caps.physBits())
	}
	if !k.canonical(g.IA32SysenterESP) {
		k.fail(sec, "guest IA32_SYSENTER_ESP", "%#x is not canonical", g.IA32SysenterESP)
	}
	if !k.canonical(g.IA32SysenterEIP) {
		k.fail(sec, "guest IA32_SYSENTER_EIP", "%#x is not canonical", g.IA32SysenterEIP)
	}
	if ctl.Entry&EntryLoadCETState != 0 {
		if !k.canonical(g.IA32SCET) {
			k.fail(sec, "guest IA32_S_CET", "%#x is not canonical with \"load CET state\"", g.IA32SCET)
		}
		if g.IA32SCET&sCETReserved != 0 {
			k.fail(sec, "guest IA32_S_CET", "reserved bits 9:6 set with \"load CET state\"")
		}
		if g.IA32SCET&(sCETSuppress|sCETTracker) == sCETSuppress|sCETTracker {
			k.fail(sec, "guest IA32_S_CET", "SUPPRESS (bit 10) and TRACKER (bit 11) both set with \"load CET state\"")
		}
		if !k.canonical(g.IA32InterruptSSP) {
			k.fail(sec, "guest IA32_INTERRUPT_SSP_TABLE_ADDR", "%#x is not canonical with \"load CET state\"", g.IA32InterruptSSP)
		}
	}
	if ctl.Entry&EntryLoadPAT != 0 && !patValid(g.IA32PAT) {
		k.fail(sec, "guest IA32_PAT", "%#016x has a byte that is not 0, 1, 4, 5, 6 or 7 with \"load IA32_PAT\"", g.IA32PAT)
	}
	if ctl.Entry&EntryLoadEFER != 0 {
		efer := g.IA32EFER
		if m := efer & eferReserved; m != 0 {
			k.fail(sec, "guest IA32_EFER", "reserved bits %#x set with \"load IA32_EFER\"", m)
		}
		if efer&EFERLMA != 0 != ia32e {
			k.fail(sec, "guest IA32_EFER", "LMA=%d differs from \"IA-32e mode guest\"=%d", yes(efer&EFERLMA != 0), yes(ia32e))
		}
		if g.CR0&CR0PG != 0 && efer&EFERLME != 0 != ia32e {
			k.fail(sec, "guest IA32_EFER", "LME=%d differs from \"IA-32e mode guest\"=%d with CR0.PG=1", yes(efer&EFERLME != 0), yes(ia32e))
		}
	}
	if ctl.Entry&EntryLoadBNDCFGS != 0 {
		if g.IA32BNDCFGS&bndcfgsReserved != 0 {
			k.fail(sec, "guest IA32_BNDCFGS", "reserved bits 11:2 set with \"load IA32_BNDCFGS\"")
		}
		if !k.canonical(g.IA32BNDCFGS &^ 0xFFF) {
			k.fail(sec, "guest IA32_BNDCFGS", "base (bits 63:12) is not canonical with \"load IA32_BNDCFGS\"")
		}
	}
	if ctl.Entry&EntryLoadPKRS != 0 && g.IA32PKRS>>32 != 0 {
		k.fail(sec, "guest IA32_PKRS", "bits 63:32 must be 0 with \"load PKRS\"")
	}
	if ctl.Entry&EntryLoadUINV != 0 && g.UINV>>8 != 0 {
		k.fail(sec, "guest UINV", "bits 15:8 must be 0 with \"load UINV\"")
	}
}

func unrestrictedHint(m uint64, ug bool) string {
	if !ug && m&(CR0PE|CR0PG) != 0 {
		return "; PE and PG may be 0 only with \"unrestricted guest\""
	}
	return ""
}

// §27.3.1.2 Checks on Guest Segment Registers.
func (k *checker) guestSegments(g *GuestState, ctl *Controls) {
	sec := secGuestSeg
	ug := ctl.Secondary()&ProcBased2UnrestrictedGuest != 0
	ia32e := ctl.Entry&EntryIA32eModeGuest != 0
	v86 := g.RFLAGS&RFLAGSVM != 0

	// Selector fields.
	if g.TR.TI() {
		k.fail(sec, "guest TR selector", "TI flag (bit 2) must be 0")
	}
	if g.LDTR.AR.Usable() && g.LDTR.TI() {
		k.fail(sec, "guest LDTR selector", "TI flag (bit 2) must be 0 when LDTR is usable")
	}
	if !v86 && !ug && g.SS.RPL() != g.CS.RPL() {
		k.fail(sec, "guest SS selector", "RPL %d differs from CS RPL %d (without \"unrestricted guest\")", g.SS.RPL(), g.CS.RPL())
	}

	data := [...]struct {
		name string
		s    *Segment
	}{{"CS", &g.CS}, {"SS", &g.SS}, {"DS", &g.DS}, {"ES", &g.ES}, {"FS", &g.FS}, {"GS", &g.GS}}

	// Base-address fields.
	for _, r := range data {
		if v86 && r.s.Base != uint64(r.s.Selector)<<4 {
			k.fail(sec, "guest "+r.name+".base", "%#x must be the selector times 16 (%#x) in virtual-8086 mode", r.s.Base, uint64(r.s.Selector)<<4)
		}
	}
	for _, r := range []struct {
		name string
		s    *Segment
	}{{"TR", &g.TR}, {"FS", &g.FS}, {"GS", &g.GS}} {
		if !k.canonical(r.s.Base) {
			k.fail(sec, "guest "+r.name+".base", "%#x is not canonical", r.s.Base)
		}
	}
	if g.LDTR.AR.Usable() && !k.canonical(g.LDTR.Base) {
		k.fail(sec, "guest LDTR.base", "%#x is not canonical (LDTR usable)", g.LDTR.Base)
	}
	if g.CS.Base>>32 != 0 {
		k.fail(sec, "guest CS.base", "bits 63:32 of %#x must be 0", g.CS.Base)
	}
	for _, r := range []struct {
		name string
		s    *Segment
	}{{"SS", &g.SS}, {"DS", &g.DS}, {"ES", &g.ES}} {
		if r.s.AR.Usable() && r.s.Base>>32 != 0 {
			k.fail(sec, "guest "+r.name+".base", "bits 63:32 of %#x must be 0 (%s usable)", r.s.Base, r.name)
		}
	}

	// Limit and access-rights fields of CS, SS, DS, ES, FS, GS.
	if v86 {
		for _, r := range data {
			if r.s.Limit != 0xFFFF {
				k.fail(sec, "guest "+r.name+".limit", "%#x must be 0000FFFFH in virtual-8086 mode", r.s.Limit)
			}
			if r.s.AR != 0xF3 {
				k.fail(sec, "guest "+r.name+".AR", "%#x must be 000000F3H in virtual-8086 mode", uint32(r.s.AR))
			}
		}
	} else {
		k.guestCS(g, ug, ia32e)
		k.guestSS(g, ug)
		for _, r := range data[2:] {
			k.guestDataSeg(r.name, *r.s, ug)
		}
	}
	k.guestTR(g, ia32e)
	k.guestLDTR(g)
}

func (k *checker) guestCS(g *GuestState, ug, ia32e bool) {
	sec, f := secGuestSeg, "guest CS.AR"
	ar := g.CS.AR
	switch t := ar.Type(); t {
	case 9, 11, 13, 15:
	case 3:
		if !ug {
			k.fail(sec, f, "type 3 (read/write accessed data) is allowed only with \"unrestricted guest\"")
		}
	default:
		if ug {
			k.fail(sec, f, "type %d must be 9, 11, 13, 15 (accessed code) or 3 (with \"unrestricted guest\")", t)
		} else {
			k.fail(sec, f, "type %d must be 9, 11, 13 or 15 (accessed code)", t)
		}
	}
	if !ar.S() {
		k.fail(sec, f, "S must be 1 (code or data)")
	}
	switch ar.Type() {
	case 3:
		if ar.DPL() != 0 {
			k.fail(sec, f, "DPL %d must be 0 for type 3", ar.DPL())
		}
	case 9, 11:
		if ar.DPL() != g.SS.AR.DPL() {
			k.fail(sec, f, "DPL %d of a non-conforming code segment must equal SS.DPL %d", ar.DPL(), g.SS.AR.DPL())
		}
	case 13, 15:
		if ar.DPL() > g.SS.AR.DPL() {
			k.fail(sec, f, "DPL %d of a conforming code segment must not exceed SS.DPL %d", ar.DPL(), g.SS.AR.DPL())
		}
	}
	if !ar.P() {
		k.fail(sec, f, "P must be 1")
	}
	if ar&0xF00 != 0 {
		k.fail(sec, f, "reserved bits 11:8 must be 0")
	}
	if ia32e && ar.L() && ar.DB() {
		k.fail(sec, f, "L=1 and D/B=1 with \"IA-32e mode guest\"")
	}
	k.checkSegmentLimitG(sec, f, g.CS)
	if ar&0xFFFE0000 != 0 {
		k.fail(sec, f, "reserved bits 31:17 must be 0")
	}
}

func (k *checker) guestSS(g *GuestState, ug bool) {
	sec, f := secGuestSeg, "guest SS.AR"
	ar := g.SS.AR
	if ar.Usable() {
		if t := ar.Type(); t != 3 && t != 7 {
			k.fail(sec, f, "type %d must be 3 or 7 (read/write accessed data)", t)
		}
		if !ar.S() {
			k.fail(sec, f, "S must be 1 (code or data)")
		}
		if !ar.P() {
			k.fail(sec, f, "P must be 1")
		}
		if ar&0xF00 != 0 {
			k.fail(sec, f, "reserved bits 11:8 must be 0")
		}
		k.checkSegmentLimitG(sec, f, g.SS)
		if ar&0xFFFE0000 != 0 {
			k.fail(sec, f, "reserved bits 31:17 must be 0")
		}
	}
	if !ug && ar.DPL() != g.SS.RPL() {
		k.fail(sec, f, "DPL %d must equal the selector's RPL %d (without \"unrestricted guest\")", ar.DPL(), g.SS.RPL())
	}
	if ar.DPL() != 0 {
		if g.CS.AR.Type() == 3 {
			k.fail(sec, f, "DPL %d must be 0 when CS type is 3", ar.DPL())
		} else if g.CR0&CR0PE == 0 {
			k.fail(sec, f, "DPL %d must be 0 when CR0.PE=0", ar.DPL())
		}
	}
}

func (k *checker) guestDataSeg(name string, s Segment, ug bool) {
	ar := s.AR
	if ar.Unusable() {
		return
	}
	sec, f := secGuestSeg, "guest "+name+".AR"
	t := ar.Type()
	if t&TypeAccessed == 0 {
		k.fail(sec, f, "type %d must have the accessed bit (bit 0) set", t)
	}
	if t&TypeCodeOrData != 0 && t&TypeCodeReadable == 0 {
		k.fail(sec, f, "type %d is an execute-only code segment (must be readable)", t)
	}
	if !ar.S() {
		k.fail(sec, f, "S must be 1 (code or data)")
	}
	if !ug && t <= 11 && ar.DPL() < s.RPL() {
		k.fail(sec, f, "DPL %d is less than the selector's RPL %d (data or non-conforming code, without \"unrestricted guest\")", ar.DPL(), s.RPL())
	}
	if !ar.P() {
		k.fail(sec, f, "P must be 1")
	}
	if ar&0xF00 != 0 {
		k.fail(sec, f, "reserved bits 11:8 must be 0")
	}
	k.checkSegmentLimitG(sec, f, s)
	if ar&0xFFFE0000 != 0 {
		k.fail(sec, f, "reserved bits 31:17 must be 0")
	}
}

func (k *checker) guestTR(g *GuestState, ia32e bool) {
	sec, f := secGuestSeg, "guest TR.AR"
	ar := g.TR.AR
	switch t := ar.Type(); {
	case ia32e && t != TypeTSS64Busy:
		k.fail(sec, f, "type %d must be 11 (busy 64-bit TSS) with \"IA-32e mode guest\"", t)
	case !ia32e && t != TypeTSS16Busy && t != TypeTSS64Busy:
		k.fail(sec, f, "type %d must be 3 (busy 16-bit TSS) or 11 (busy 32-bit TSS)", t)
	}
	if ar.S() {
		k.fail(sec, f, "S must be 0 (system)")
	}
	if !ar.P() {
		k.fail(sec, f, "P must be 1")
	}
	if ar&0xF00 != 0 {
		k.fail(sec, f, "reserved bits 11:8 must be 0")
	}
	k.checkSegmentLimitG(sec, f, g.TR)
	if ar.Unusable() {
		k.fail(sec, f, "TR must be usable (bit 16 = 0)")
	}
	if ar&0xFFFE0000 != 0 {
		k.fail(sec, f, "reserved bits 31:17 must be 0")
	}
}

func (k *checker) guestLDTR(g *GuestState) {
	ar := g.LDTR.AR
	if ar.Unusable() {
		return
	}
	sec, f := secGuestSeg, "guest LDTR.AR"
	if t := ar.Type(); t != TypeLDT {
		k.fail(sec, f, "type %d must be 2 (LDT) when LDTR is usable", t)
	}
	if ar.S() {
		k.fail(sec, f, "S must be 0 (system)")
	}
	if !ar.P() {
		k.fail(sec, f, "P must be 1")
	}
	if ar&0xF00 != 0 {
		k.fail(sec, f, "reserved bits 11:8 must be 0")
	}
	k.checkSegmentLimitG(sec, f, g.LDTR)
	if ar&0xFFFE0000 != 0 {
		k.fail(sec, f, "reserved bits 31:17 must be 0")
	}
}

// §27.3.1.3 Checks on Guest Descriptor-Table Registers.
func (k *checker) guestDescriptorTables(g *GuestState) {
	for _, r := range []struct {
		name string
		t    DescriptorTable
	}{{"GDTR", g.GDTR}, {"IDTR", g.IDTR}} {
		if !k.canonical(r.t.Base) {
			k.fail(secGuestDT, "guest "+r.name+".base", "%#x is not canonical", r.t.Base)
		}
		if r.t.Limit>>16 != 0 {
			k.fail(secGuestDT, "guest "+r.name+".limit", "%#x: bits 31:16 must be 0", r.t.Limit)
		}
	}
}

// §27.3.1.4 Checks on Guest RIP, RFLAGS, and SSP.
func (k *checker) guestRIPFlags(g *GuestState, ctl *Controls) {
	sec := secGuestRIP
	ia32e := ctl.Entry&EntryIA32eModeGuest != 0
	long64 := ia32e && g.CS.AR.L()
	if !long64 && g.RIP>>32 != 0 {
		k.fail(sec, "guest RIP", "bits 63:32 of %#x must be 0 outside 64-bit mode (\"IA-32e mode guest\"=0 or CS.L=0)", g.RIP)
	}
	if long64 && !k.canonical(g.RIP) {
		k.fail(sec, "guest RIP", "%#x is not canonical", g.RIP)
	}
	const rflagsReserved = 0xFFFFFFFFFFC08028 // bits 63:22, 15, 5, 3
	if m := g.RFLAGS & rflagsReserved; m != 0 {
		k.fail(sec, "guest RFLAGS", "reserved bits %#x set (63:22, 15, 5 and 3 must be 0)", m)
	}
	if g.RFLAGS&RFLAGSRes1 == 0 {
		k.fail(sec, "guest RFLAGS", "reserved bit 1 must be 1")
	}
	if g.RFLAGS&RFLAGSVM != 0 {
		if ia32e {
			k.fail(sec, "guest RFLAGS", "VM must be 0 with \"IA-32e mode guest\"")
		}
		if g.CR0&CR0PE == 0 {
			k.fail(sec, "guest RFLAGS", "VM must be 0 when CR0.PE=0")
		}
	}
	inj := ctl.Injection().Decode()
	if inj.Valid && inj.Type == EventExternalInterrupt && g.RFLAGS&RFLAGSIF == 0 {
		k.fail(sec, "guest RFLAGS", "IF must be 1 to inject an external interrupt")
	}
	if ctl.Entry&EntryLoadCETState != 0 {
		if g.SSP&3 != 0 {
			k.fail(sec, "guest SSP", "bits 1:0 of %#x must be 0 with \"load CET state\"", g.SSP)
		}
		if !long64 && g.SSP>>32 != 0 {
			k.fail(sec, "guest SSP", "bits 63:32 of %#x must be 0 outside 64-bit mode", g.SSP)
		}
		if long64 && !k.canonical(g.SSP) {
			k.fail(sec, "guest SSP", "%#x is not canonical", g.SSP)
		}
	}
}

// §27.3.1.5 Checks on Guest Non-Register State.
func (k *checker) guestNonRegister(g *GuestState, ctl *Controls) {
	sec := secGuestNonRg
	inj := ctl.Injection().Decode()
	ib := g.Interruptibility

	// Activity state.
	act := g.Activity
	switch {
	case act > ActivityWaitForSIPI:
		k.fail(sec, "guest activity state", "%d is not an activity state (0-3)", uint32(act))
	case k.caps != nil && !k.caps.Misc.SupportsActivity(act):
		k.fail(sec, "guest activity state", "%s is not supported by this processor (IA32_VMX_MISC bits 8:6)", act)
	}
	if act == ActivityHLT && g.SS.AR.DPL() != 0 {
		k.fail(sec, "guest activity state", "HLT with SS.DPL=%d (must be 0)", g.SS.AR.DPL())
	}
	if act != ActivityActive && ib&(BlockingBySTI|BlockingByMOVSS) != 0 {
		k.fail(sec, "guest activity state", "%s with blocking by STI or MOV SS (must be active)", act)
	}
	if inj.Valid {
		allowed := true
		switch act {
		case ActivityHLT:
			switch inj.Type {
			case EventExternalInterrupt, EventNMI:
			case EventHardwareException:
				allowed = inj.Vector == VectorDB || inj.Vector == VectorMC
			case EventOther:
				allowed = inj.Vector == 0
			default:
				allowed = false
			}
		case ActivityShutdown:
			allowed = inj.Type == EventNMI || inj.Type == EventHardwareException && inj.Vector == VectorMC
		case ActivityWaitForSIPI:
			allowed = false
		}
		if !allowed {
			k.fail(sec, "guest activity state", "%s cannot take the injected %s", act, inj)
		}
	}
	if act == ActivityWaitForSIPI && ctl.Entry&EntryToSMM != 0 {
		k.fail(sec, "guest activity state", "wait-for-SIPI with \"entry to SMM\"")
	}

	// Interruptibility state.
	f := "guest interruptibility state"
	if m := ib &^ 0x1F; m != 0 {
		k.fail(sec, f, "reserved bits %#x set (31:5 must be 0)", uint32(m))
	}
	if ib&BlockingBySTI != 0 && ib&BlockingByMOVSS != 0 {
		k.fail(sec, f, "blocking by STI and by MOV SS both set")
	}
	if ib&BlockingBySTI != 0 && g.RFLAGS&RFLAGSIF == 0 {
		k.fail(sec, f, "blocking by STI with RFLAGS.IF=0")
	}
	if inj.Valid && inj.Type == EventExternalInterrupt && ib&(BlockingBySTI|BlockingByMOVSS) != 0 {
		k.fail(sec, f, "blocking by STI or MOV SS while injecting an external interrupt")
	}
	if inj.Valid && inj.Type == EventNMI {
		if ib&BlockingByMOVSS != 0 {
			k.fail(sec, f, "blocking by MOV SS while injecting an NMI")
		}
		if ib&BlockingBySTI != 0 {
			k.fail(sec, f, "blocking by STI while injecting an NMI (some processors fail this entry: exit qualification 3)")
		}
		if ctl.Pin&PinBasedVirtualNMIs != 0 && ib&BlockingByNMI != 0 {
			k.fail(sec, f, "blocking by NMI while injecting an NMI with \"virtual NMIs\"")
		}
	}
	if ib&BlockingBySMI != 0 {
		k.fail(sec, f, "blocking by SMI outside SMM")
	}
	if ctl.Entry&EntryToSMM != 0 && ib&BlockingBySMI == 0 {
		k.fail(sec, f, "blocking by SMI must be 1 with \"entry to SMM\"")
	}
	if ib&EnclaveInterruption != 0 && ib&BlockingByMOVSS != 0 {
		k.fail(sec, f, "enclave interruption with blocking by MOV SS")
	}

	// Pending debug exceptions.
	f = "guest pending debug exceptions"
	pd := g.PendingDebug
	const pdReserved = 0xFFFFFFFFFFFEAFF0 // bits 63:17, 15, 13, 11:4
	if m := pd & pdReserved; m != 0 {
		k.fail(sec, f, "reserved bits %#x set (11:4, 13, 15 and 63:17 must be 0)", m)
	}
	if ib&(BlockingBySTI|BlockingByMOVSS) != 0 || act == ActivityHLT {
		tf := g.RFLAGS&RFLAGSTF != 0
		btf := g.IA32DebugCtl&DebugCtlBTF != 0
		bs := pd&PendingDebugBS != 0
		if tf && !btf && !bs {
			k.fail(sec, f, "BS must be 1 when RFLAGS.TF=1 and IA32_DEBUGCTL.BTF=0 (blocking by STI/MOV SS or HLT)")
		}
		if (!tf || btf) && bs {
			k.fail(sec, f, "BS must be 0 when RFLAGS.TF=0 or IA32_DEBUGCTL.BTF=1 (blocking by STI/MOV SS or HLT)")
		}
	}
	if pd&PendingDebugRTM != 0 {
		if pd&^uint64(PendingDebugRTM|PendingDebugEnable) != 0 {
			k.fail(sec, f, "with RTM (bit 16) set, bits 11:0, 15:13 and 63:17 must be 0")
		}
		if pd&PendingDebugEnable == 0 {
			k.fail(sec, f, "with RTM (bit 16) set, bit 12 must be 1")
		}
		if ib&BlockingByMOVSS != 0 {
			k.fail(sec, f, "RTM (bit 16) set with blocking by MOV SS")
		}
	}

	// VMCS link pointer.
	if lp := g.VMCSLinkPointer; lp != ^uint64(0) {
		f = "VMCS link pointer"
		if lp&0xFFF != 0 {
			k.fail(sec, f, "%#x: bits 11:0 must be 0", lp)
		}
		if !k.physOK(lp) {
			k.fail(sec, f, "%#x sets bits beyond the physical-address width", lp)
		}
		if ctl.Secondary()&ProcBased2VMCSShadowing == 0 {
			rev := uint32(0)
			if k.caps != nil {
				rev = k.caps.RevisionID
			}
			k.fail(sec, f, "%#x is not FFFFFFFF_FFFFFFFFH without \"VMCS shadowing\": it must then reference a VMCS with revision identifier %#x (not checked here; exit qualification 4)", lp, rev)
		}
	}
}

// §27.3.1.6 Checks on Guest Page-Directory-Pointer-Table Entries (only the
// EPT case, where the PDPTEs come from the VMCS).
func (k *checker) guestPDPTEs(g *GuestState, ctl *Controls) {
	if ctl.Entry&EntryIA32eModeGuest != 0 || g.CR0&CR0PG == 0 || g.CR4&CR4PAE == 0 {
		return
	}
	if ctl.Secondary()&ProcBased2EnableEPT == 0 {
		return
	}
	for i, e := range g.PDPTE {
		if e&1 == 0 {
			continue
		}
		name := "guest PDPTE" + itoa(uint64(i))
		if m := e & 0x1E6; m != 0 {
			k.fail(secGuestPDPTE, name, "%#x: reserved bits 2:1 and 8:5 must be 0 (exit qualification 2)", e)
		}
		if !k.physOK(e &^ 0xFFF) {
			k.fail(secGuestPDPTE, name, "%#x sets bits beyond the physical-address width (exit qualification 2)", e)
		}
	}
}
