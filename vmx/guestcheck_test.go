package vmx

import (
	"strings"
	"testing"
)

// testControls is the control set hindsight runs a 64-bit guest with,
// adjusted against caps; ept selects EPT + unrestricted guest + VPID,
// otherwise only VPID.
func testControls(t *testing.T, caps *Caps, ept bool) *Controls {
	t.Helper()
	must := func(v uint32, err error) uint32 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := &Controls{}
	c.Pin = must(Adjust(PinBasedExternalInterruptExiting, 0, caps.Pin))
	c.Proc = must(Adjust(ProcBasedHLTExiting|ProcBasedRDTSCExiting|ProcBasedUseIOBitmaps|ProcBasedUseMSRBitmaps|ProcBasedActivateSecondaryControls, 0, caps.Proc))
	sec := uint32(ProcBased2EnableVPID)
	if ept {
		sec |= ProcBased2EnableEPT | ProcBased2UnrestrictedGuest
	}
	c.Proc2 = must(Adjust(sec, 0, caps.Proc2))
	c.Exit = must(Adjust(ExitHostAddressSpaceSize|ExitAcknowledgeInterruptOnExit|ExitSaveEFER|ExitLoadEFER|ExitSavePAT|ExitLoadPAT, 0, caps.Exit))
	c.Entry = must(Adjust(EntryIA32eModeGuest|EntryLoadEFER|EntryLoadPAT|EntryLoadDebugControls, 0, caps.Entry))
	c.IOBitmapA, c.IOBitmapB, c.MSRBitmap = 0x10000, 0x11000, 0x12000
	c.VPID = 1
	if ept {
		c.EPTP = 0x20000 | MemTypeWB | 3<<3 | 1<<6 // WB, 4-level, A/D flags
	}
	c.ExceptionBitmap = 1 << VectorMC
	return c
}

// longModeGuest is a 64-bit kernel state: paging, flat segments, busy TSS.
func longModeGuest() GuestState {
	flat := func(sel uint16, ar AccessRights) Segment { return Segment{Selector: sel, Limit: 0xFFFFFFFF, AR: ar} }
	return GuestState{
		CR0:    CR0PE | CR0MP | CR0ET | CR0NE | CR0WP | CR0AM | CR0PG,
		CR3:    0x1000,
		CR4:    CR4PAE | CR4OSFXSR | CR4OSXMMEXCPT | CR4VMXE,
		DR7:    0x400,
		RSP:    0xFFFFFFFF80080000,
		RIP:    0xFFFFFFFF80100000,
		RFLAGS: RFLAGSRes1,
		CS:     flat(0x08, 0xA09B), // code XRA, DPL 0, P, L, G
		SS:     flat(0x10, 0xC093), // data RWA, DPL 0, P, D, G
		DS:     flat(0x10, 0xC093),
		ES:     flat(0x10, 0xC093),
		FS:     Segment{Selector: 0, Base: 0x7000, AR: ARUnusable},
		GS:     Segment{Selector: 0, Base: 0xFFFF800000001000, AR: ARUnusable},
		LDTR:   Segment{AR: ARUnusable},
		TR:     Segment{Selector: 0x18, Base: 0x5000, Limit: 0x67, AR: 0x8B}, // busy 64-bit TSS, P
		GDTR:   DescriptorTable{Base: 0xFFFFFFFF80004000, Limit: 0x27},
		IDTR:   DescriptorTable{Base: 0xFFFFFFFF80006000, Limit: 0xFFF},

		IA32EFER:        EFERSCE | EFERLME | EFERLMA | EFERNXE,
		IA32PAT:         0x0007040600070406,
		VMCSLinkPointer: ^uint64(0),
	}
}

// realModeGuest is the reset state of an unrestricted guest at 0000:7C00.
func realModeGuest() GuestState {
	rm := func(ar AccessRights) Segment { return Segment{Limit: 0xFFFF, AR: ar} }
	return GuestState{
		CR0:    CR0ET | CR0NE,
		CR4:    CR4VMXE,
		DR7:    0x400,
		RIP:    0x7C00,
		RFLAGS: RFLAGSRes1,
		CS:     rm(0x9B),
		SS:     rm(0x93), DS: rm(0x93), ES: rm(0x93), FS: rm(0x93), GS: rm(0x93),
		LDTR:            Segment{Limit: 0xFFFF, AR: 0x82},
		TR:              Segment{Limit: 0xFFFF, AR: 0x8B},
		GDTR:            DescriptorTable{Limit: 0xFFFF},
		IDTR:            DescriptorTable{Limit: 0x3FF},
		IA32PAT:         0x0007040600070406,
		VMCSLinkPointer: ^uint64(0),
	}
}

func realModeControls(t *testing.T, caps *Caps) *Controls {
	c := testControls(t, caps, true)
	c.Entry &^= EntryIA32eModeGuest
	return c
}

func TestValidGuestStates(t *testing.T) {
	caps := bochsCaps(t)
	for _, tc := range []struct {
		name string
		g    GuestState
		c    *Controls
	}{
		{"64-bit, EPT + unrestricted guest", longModeGuest(), testControls(t, caps, true)},
		{"64-bit, no EPT", longModeGuest(), testControls(t, caps, false)},
		{"real mode, unrestricted guest", realModeGuest(), realModeControls(t, caps)},
		{"64-bit with CR0.CD and NW (never checked)", func() GuestState {
			g := longModeGuest()
			g.CR0 |= CR0CD | CR0NW
			return g
		}(), testControls(t, caps, false)},
		{"64-bit, single-stepping after STI (BS pending)", func() GuestState {
			g := longModeGuest()
			g.RFLAGS |= RFLAGSIF | RFLAGSTF
			g.Interruptibility = BlockingBySTI
			g.PendingDebug = PendingDebugBS
			return g
		}(), testControls(t, caps, true)},
		{"32-bit PAE paging, EPT", func() GuestState {
			g := longModeGuest()
			g.IA32EFER = 0
			g.CS.AR = 0xC09B
			g.RIP, g.RSP = 0x100000, 0x8000
			g.GDTR.Base, g.IDTR.Base = 0x4000, 0x6000
			g.TR.AR = 0x83 // busy 16-bit TSS is allowed outside IA-32e mode
			g.PDPTE = [4]uint64{0x2001, 0x3001, 0, 0x4001}
			return g
		}(), func() *Controls {
			c := testControls(t, caps, true)
			c.Entry &^= EntryIA32eModeGuest
			return c
		}()},
	} {
		if fs := CheckGuestState(&tc.g, tc.c, caps); len(fs) != 0 {
			t.Errorf("%s: guest state fails:\n%s\n%s", tc.name, fs, tc.g.Dump())
		}
		if fs := CheckControls(tc.c, &tc.g, caps); len(fs) != 0 {
			t.Errorf("%s: controls fail:\n%s", tc.name, fs)
		}
	}
}

// Each case breaks one rule of a valid state and expects the failure that
// names it (field and a piece of the rule).
func TestGuestStateChecks(t *testing.T) {
	caps := bochsCaps(t)
	for _, tc := range []struct {
		name   string
		base   string // "ug" (64-bit, EPT + UG), "plain" (64-bit, no UG), "real" (real mode, UG)
		mutate func(g *GuestState, c *Controls)
		field  string
		rule   string
		sec    string
	}{
		{"CS.L and CS.D both set", "ug", func(g *GuestState, c *Controls) { g.CS.AR |= ARDB },
			"guest CS.AR", `L=1 and D/B=1 with "IA-32e mode guest"`, "27.3.1.2"},
		{"CR0.PG without PE", "ug", func(g *GuestState, c *Controls) { g.CR0 &^= CR0PE },
			"guest CR0", "PG=1 requires PE=1", "27.3.1.1"},
		{"CR0.PE=0 without unrestricted guest", "plain", func(g *GuestState, c *Controls) { g.CR0 &^= CR0PE | CR0PG },
			"guest CR0", "bits 0x80000001 must be 1 in VMX operation", "27.3.1.1"},
		{"CR3 beyond MAXPHYADDR", "plain", func(g *GuestState, c *Controls) { g.CR3 |= 1 << 45 },
			"guest CR3", "beyond the physical-address width (40)", "27.3.1.1"},
		{"CR4.VMXE clear", "ug", func(g *GuestState, c *Controls) { g.CR4 &^= CR4VMXE },
			"guest CR4", "bits 0x2000 must be 1 in VMX operation (IA32_VMX_CR4_FIXED0)", "27.3.1.1"},
		{"CR4.LA57 not allowed", "ug", func(g *GuestState, c *Controls) { g.CR4 |= CR4LA57 },
			"guest CR4", "bits 0x1000 must be 0 in VMX operation (IA32_VMX_CR4_FIXED1)", "27.3.1.1"},
		{"CR4.PAE clear in IA-32e mode", "ug", func(g *GuestState, c *Controls) { g.CR4 &^= CR4PAE },
			"guest CR4", `PAE must be 1 with "IA-32e mode guest"`, "27.3.1.1"},
		{"CR4.PCIDE outside IA-32e mode", "real", func(g *GuestState, c *Controls) { g.CR4 |= CR4PCIDE },
			"guest CR4", `PCIDE must be 0 without "IA-32e mode guest"`, "27.3.1.1"},
		{"DR7 bits 63:32", "ug", func(g *GuestState, c *Controls) { g.DR7 |= 1 << 40 },
			"guest DR7", "bits 63:32 must be 0", "27.3.1.1"},
		{"IA32_DEBUGCTL reserved bit", "ug", func(g *GuestState, c *Controls) { g.IA32DebugCtl = 1 << 20 },
			"guest IA32_DEBUGCTL", "reserved bits 0x100000", "27.3.1.1"},
		{"SYSENTER_EIP non-canonical", "ug", func(g *GuestState, c *Controls) { g.IA32SysenterEIP = 1 << 47 },
			"guest IA32_SYSENTER_EIP", "not canonical", "27.3.1.1"},
		{"EFER.LMA clear with IA-32e mode guest", "ug", func(g *GuestState, c *Controls) { g.IA32EFER &^= EFERLMA },
			"guest IA32_EFER", `LMA=0 differs from "IA-32e mode guest"=1`, "27.3.1.1"},
		{"EFER.LME clear with paging", "ug", func(g *GuestState, c *Controls) { g.IA32EFER &^= EFERLME },
			"guest IA32_EFER", "LME=0 differs", "27.3.1.1"},
		{"EFER reserved bit", "ug", func(g *GuestState, c *Controls) { g.IA32EFER |= 1 << 12 },
			"guest IA32_EFER", "reserved bits 0x1000", "27.3.1.1"},
		{"PAT with memory type 2", "ug", func(g *GuestState, c *Controls) { g.IA32PAT = 0x0007040600070402 },
			"guest IA32_PAT", "not 0, 1, 4, 5, 6 or 7", "27.3.1.1"},
		{"CET without WP", "ug", func(g *GuestState, c *Controls) { g.CR0 &^= CR0WP; g.CR4 |= CR4CET },
			"guest CR0", "CR4.CET=1 requires CR0.WP=1", "27.3.1.1"},

		{"TR type 9 (available TSS)", "ug", func(g *GuestState, c *Controls) { g.TR.AR = 0x89 },
			"guest TR.AR", "type 9 must be 11 (busy 64-bit TSS)", "27.3.1.2"},
		{"TR 16-bit busy TSS in IA-32e mode", "ug", func(g *GuestState, c *Controls) { g.TR.AR = 0x83 },
			"guest TR.AR", "type 3 must be 11", "27.3.1.2"},
		{"TR unusable", "ug", func(g *GuestState, c *Controls) { g.TR.AR |= ARUnusable },
			"guest TR.AR", "TR must be usable", "27.3.1.2"},
		{"TR code/data descriptor", "ug", func(g *GuestState, c *Controls) { g.TR.AR |= ARS },
			"guest TR.AR", "S must be 0", "27.3.1.2"},
		{"TR.TI set", "ug", func(g *GuestState, c *Controls) { g.TR.Selector |= 4 },
			"guest TR selector", "TI flag", "27.3.1.2"},
		{"LDTR usable with a data type", "ug", func(g *GuestState, c *Controls) { g.LDTR.AR = 0x83 },
			"guest LDTR.AR", "type 3 must be 2 (LDT)", "27.3.1.2"},
		{"LDTR usable, not present", "ug", func(g *GuestState, c *Controls) { g.LDTR.AR = 0x02 },
			"guest LDTR.AR", "P must be 1", "27.3.1.2"},
		{"LDTR usable, non-canonical base", "ug", func(g *GuestState, c *Controls) { g.LDTR.AR = 0x82; g.LDTR.Base = 1 << 50 },
			"guest LDTR.base", "not canonical", "27.3.1.2"},
		{"CS type 3 without unrestricted guest", "plain", func(g *GuestState, c *Controls) { g.CS.AR = 0xA093 },
			"guest CS.AR", `type 3 (read/write accessed data) is allowed only with "unrestricted guest"`, "27.3.1.2"},
		{"CS not accessed", "ug", func(g *GuestState, c *Controls) { g.CS.AR &^= 1 },
			"guest CS.AR", "type 10 must be 9, 11, 13, 15", "27.3.1.2"},
		{"CS DPL differs from SS DPL", "ug", func(g *GuestState, c *Controls) { g.CS.AR |= 3 << 5 },
			"guest CS.AR", "must equal SS.DPL 0", "27.3.1.2"},
		{"CS base bits 63:32", "ug", func(g *GuestState, c *Controls) { g.CS.Base = 1 << 32 },
			"guest CS.base", "bits 63:32", "27.3.1.2"},
		{"SS RPL differs from CS RPL", "plain", func(g *GuestState, c *Controls) { g.SS.Selector |= 3 },
			"guest SS selector", "RPL 3 differs from CS RPL 0", "27.3.1.2"},
		{"SS type 1", "ug", func(g *GuestState, c *Controls) { g.SS.AR = 0xC091 },
			"guest SS.AR", "type 1 must be 3 or 7", "27.3.1.2"},
		{"SS DPL in real mode", "real", func(g *GuestState, c *Controls) { g.SS.AR |= 3 << 5 },
			"guest SS.AR", "DPL 3 must be 0 when CR0.PE=0", "27.3.1.2"},
		{"DS not accessed", "ug", func(g *GuestState, c *Controls) { g.DS.AR = 0xC092 },
			"guest DS.AR", "accessed bit", "27.3.1.2"},
		{"ES execute-only code", "ug", func(g *GuestState, c *Controls) { g.ES.AR = 0xC099 },
			"guest ES.AR", "execute-only", "27.3.1.2"},
		{"DS G=1 with limit 0xffff0", "ug", func(g *GuestState, c *Controls) { g.DS.Limit = 0xFFFF0 },
			"guest DS.AR", "G=1 but limit 0xffff0", "27.3.1.2"},
		{"DS G=0 with limit 4G", "ug", func(g *GuestState, c *Controls) { g.DS.AR &^= ARG },
			"guest DS.AR", "G=0 but limit 0xffffffff", "27.3.1.2"},
		{"DS DPL below RPL", "plain", func(g *GuestState, c *Controls) { g.DS.Selector |= 3 },
			"guest DS.AR", "DPL 0 is less than the selector's RPL 3", "27.3.1.2"},
		{"FS base non-canonical", "ug", func(g *GuestState, c *Controls) { g.FS.Base = 0x0000800000000000 },
			"guest FS.base", "not canonical", "27.3.1.2"},
		{"virtual-8086 segments", "plain", func(g *GuestState, c *Controls) {
			c.Entry &^= EntryIA32eModeGuest
			g.RFLAGS |= RFLAGSVM
		}, "guest CS.AR", "must be 000000F3H in virtual-8086 mode", "27.3.1.2"},

		{"GDTR limit above 0xffff", "ug", func(g *GuestState, c *Controls) { g.GDTR.Limit = 0x10000 },
			"guest GDTR.limit", "bits 31:16 must be 0", "27.3.1.3"},
		{"IDTR base non-canonical", "ug", func(g *GuestState, c *Controls) { g.IDTR.Base = 0x00F0000000000000 },
			"guest IDTR.base", "not canonical", "27.3.1.3"},

		{"RIP non-canonical", "ug", func(g *GuestState, c *Controls) { g.RIP = 0x0000800000000000 },
			"guest RIP", "0x800000000000 is not canonical", "27.3.1.4"},
		{"RIP bits 63:32 in compatibility mode", "ug", func(g *GuestState, c *Controls) { g.CS.AR = 0xC09B },
			"guest RIP", "bits 63:32", "27.3.1.4"},
		{"RFLAGS reserved bit 1 clear", "ug", func(g *GuestState, c *Controls) { g.RFLAGS = 0 },
			"guest RFLAGS", "reserved bit 1 must be 1", "27.3.1.4"},
		{"RFLAGS reserved bit 3 set", "ug", func(g *GuestState, c *Controls) { g.RFLAGS |= 1 << 3 },
			"guest RFLAGS", "reserved bits 0x8 set", "27.3.1.4"},
		{"RFLAGS.VM in IA-32e mode", "ug", func(g *GuestState, c *Controls) { g.RFLAGS |= RFLAGSVM },
			"guest RFLAGS", `VM must be 0 with "IA-32e mode guest"`, "27.3.1.4"},
		{"external interrupt with IF=0", "ug", func(g *GuestState, c *Controls) { c.EntryIntInfo = InjectExternal(0x20).Info },
			"guest RFLAGS", "IF must be 1 to inject an external interrupt", "27.3.1.4"},

		{"activity state 5", "ug", func(g *GuestState, c *Controls) { g.Activity = 5 },
			"guest activity state", "5 is not an activity state", "27.3.1.5"},
		{"HLT with SS.DPL=3", "ug", func(g *GuestState, c *Controls) { g.Activity = ActivityHLT; g.SS.AR |= 3 << 5 },
			"guest activity state", "HLT with SS.DPL=3", "27.3.1.5"},
		{"HLT with blocking by STI", "ug", func(g *GuestState, c *Controls) {
			g.Activity = ActivityHLT
			g.RFLAGS |= RFLAGSIF
			g.Interruptibility = BlockingBySTI
		}, "guest activity state", "HLT with blocking by STI or MOV SS", "27.3.1.5"},
		{"#GP injected into HLT", "ug", func(g *GuestState, c *Controls) {
			g.Activity = ActivityHLT
			j := InjectException(VectorGP, 0, true)
			c.EntryIntInfo, c.EntryErrorCode = j.Info, j.ErrorCode
		}, "guest activity state", "HLT cannot take the injected hardware exception #GP", "27.3.1.5"},
		{"injection into wait-for-SIPI", "ug", func(g *GuestState, c *Controls) {
			g.Activity = ActivityWaitForSIPI
			c.EntryIntInfo = InjectNMI().Info
		}, "guest activity state", "wait-for-SIPI cannot take the injected NMI", "27.3.1.5"},
		{"blocking by STI with IF=0", "ug", func(g *GuestState, c *Controls) { g.Interruptibility = BlockingBySTI },
			"guest interruptibility state", "blocking by STI with RFLAGS.IF=0", "27.3.1.5"},
		{"blocking by STI and MOV SS", "ug", func(g *GuestState, c *Controls) {
			g.RFLAGS |= RFLAGSIF
			g.Interruptibility = BlockingBySTI | BlockingByMOVSS
		}, "guest interruptibility state", "blocking by STI and by MOV SS both set", "27.3.1.5"},
		{"interruptibility reserved bit", "ug", func(g *GuestState, c *Controls) { g.Interruptibility = 1 << 5 },
			"guest interruptibility state", "reserved bits 0x20", "27.3.1.5"},
		{"blocking by SMI outside SMM", "ug", func(g *GuestState, c *Controls) { g.Interruptibility = BlockingBySMI },
			"guest interruptibility state", "blocking by SMI outside SMM", "27.3.1.5"},
		{"NMI injected with blocking by MOV SS", "ug", func(g *GuestState, c *Controls) {
			g.Interruptibility = BlockingByMOVSS
			c.EntryIntInfo = InjectNMI().Info
		}, "guest interruptibility state", "blocking by MOV SS while injecting an NMI", "27.3.1.5"},
		{"pending debug reserved bit 4", "ug", func(g *GuestState, c *Controls) { g.PendingDebug = 1 << 4 },
			"guest pending debug exceptions", "reserved bits 0x10", "27.3.1.5"},
		{"single-step pending but BS clear", "ug", func(g *GuestState, c *Controls) {
			g.RFLAGS |= RFLAGSIF | RFLAGSTF
			g.Interruptibility = BlockingBySTI
		}, "guest pending debug exceptions", "BS must be 1 when RFLAGS.TF=1", "27.3.1.5"},
		{"BS set without TF", "ug", func(g *GuestState, c *Controls) {
			g.Activity = ActivityHLT
			g.PendingDebug = PendingDebugBS
		}, "guest pending debug exceptions", "BS must be 0 when RFLAGS.TF=0", "27.3.1.5"},
		{"VMCS link pointer not all ones", "ug", func(g *GuestState, c *Controls) { g.VMCSLinkPointer = 0x30000 },
			"VMCS link pointer", "0x30000 is not FFFFFFFF_FFFFFFFFH without \"VMCS shadowing\"", "27.3.1.5"},
		{"VMCS link pointer unaligned", "ug", func(g *GuestState, c *Controls) { g.VMCSLinkPointer = 0x30010 },
			"VMCS link pointer", "bits 11:0 must be 0", "27.3.1.5"},

		{"PAE PDPTE with reserved bit, EPT", "ug", func(g *GuestState, c *Controls) {
			c.Entry &^= EntryIA32eModeGuest
			g.IA32EFER = 0
			g.CS.AR = 0xC09B
			g.RIP, g.RSP = 0x100000, 0x8000
			g.GDTR.Base, g.IDTR.Base = 0x4000, 0x6000
			g.PDPTE = [4]uint64{0x2001 | 1<<1, 0x3001, 0, 0}
		}, "guest PDPTE0", "reserved bits 2:1 and 8:5 must be 0", "27.3.1.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g GuestState
			var c *Controls
			switch tc.base {
			case "ug":
				g, c = longModeGuest(), testControls(t, caps, true)
			case "plain":
				g, c = longModeGuest(), testControls(t, caps, false)
			case "real":
				g, c = realModeGuest(), realModeControls(t, caps)
			}
			tc.mutate(&g, c)
			fs := CheckGuestState(&g, c, caps)
			for _, f := range fs {
				if f.Field == tc.field && strings.Contains(f.Rule, tc.rule) && f.Section == tc.sec {
					return
				}
			}
			t.Errorf("no failure %s: ...%s... (SDM %s); got:\n%s", tc.field, tc.rule, tc.sec, fs)
		})
	}
}

func TestFailureString(t *testing.T) {
	g, c := longModeGuest(), testControls(t, bochsCaps(t), true)
	g.CS.AR |= ARDB
	fs := CheckGuestState(&g, c, bochsCaps(t))
	if len(fs) != 1 || fs[0].String() != `guest CS.AR: L=1 and D/B=1 with "IA-32e mode guest" (SDM 27.3.1.2)` {
		t.Errorf("%q", fs)
	}
	if err := fs.Err(); err == nil || !strings.Contains(err.Error(), "1 VM-entry check(s) fail") {
		t.Error(err)
	}
	if Failures(nil).Err() != nil {
		t.Error("no failures must be a nil error")
	}
}

func TestGuestCheckWithoutCaps(t *testing.T) {
	g, c := longModeGuest(), testControls(t, bochsCaps(t), true)
	if fs := CheckGuestState(&g, c, nil); len(fs) != 0 {
		t.Errorf("nil caps:\n%s", fs)
	}
}
