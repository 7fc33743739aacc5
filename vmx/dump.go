package vmx

import (
	"fmt"
	"strings"
)

// withFlags is "%016x NAME NAME", or just the number if no named bit is set.
func withFlags(v uint64, names []bitName) string {
	if f := flagNames(v, names); f != "" {
		return fmt.Sprintf("%016x %s", v, f)
	}
	return fmt.Sprintf("%016x", v)
}

// flagNames renders the set bits of v by name.
func flagNames(v uint64, names []struct {
	bit  uint
	name string
}) string {
	var out []string
	for _, n := range names {
		if v&(1<<n.bit) != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, " ")
}

type bitName = struct {
	bit  uint
	name string
}

var cr0Names = []bitName{{0, "PE"}, {1, "MP"}, {2, "EM"}, {3, "TS"}, {4, "ET"}, {5, "NE"}, {16, "WP"}, {18, "AM"}, {29, "NW"}, {30, "CD"}, {31, "PG"}}

var cr4Names = []bitName{{0, "VME"}, {1, "PVI"}, {2, "TSD"}, {3, "DE"}, {4, "PSE"}, {5, "PAE"}, {6, "MCE"}, {7, "PGE"}, {8, "PCE"},
	{9, "OSFXSR"}, {10, "OSXMMEXCPT"}, {11, "UMIP"}, {12, "LA57"}, {13, "VMXE"}, {14, "SMXE"}, {16, "FSGSBASE"}, {17, "PCIDE"},
	{18, "OSXSAVE"}, {19, "KL"}, {20, "SMEP"}, {21, "SMAP"}, {22, "PKE"}, {23, "CET"}, {24, "PKS"}, {25, "UINTR"}}

var rflagsNames = []bitName{{0, "CF"}, {2, "PF"}, {4, "AF"}, {6, "ZF"}, {7, "SF"}, {8, "TF"}, {9, "IF"}, {10, "DF"}, {11, "OF"},
	{14, "NT"}, {16, "RF"}, {17, "VM"}, {18, "AC"}, {19, "VIF"}, {20, "VIP"}, {21, "ID"}}

var eferNames = []bitName{{0, "SCE"}, {8, "LME"}, {10, "LMA"}, {11, "NXE"}}

// String decodes access rights compactly, e.g. "a09b code XRA dpl0 P L G",
// "008b busy-TSS64 dpl0 P" or "10000 unusable".
func (a AccessRights) String() string {
	if a.Unusable() {
		return fmt.Sprintf("%05x unusable", uint32(a))
	}
	t := a.Type()
	var s string
	if a.S() {
		if t&TypeCodeOrData != 0 {
			s = "code X"
			if t&TypeCodeReadable != 0 {
				s += "R"
			}
			if t&TypeCodeConforming != 0 {
				s += "C"
			}
		} else {
			s = "data R"
			if t&TypeDataWritable != 0 {
				s += "W"
			}
			if t&TypeDataExpandDown != 0 {
				s += "E"
			}
		}
		if t&TypeAccessed != 0 {
			s += "A"
		}
	} else {
		s = [16]string{"sys0", "TSS16", "LDT", "busy-TSS16", "callgate16", "taskgate", "intgate16", "trapgate16",
			"sys8", "TSS32/64", "sys10", "busy-TSS32/64", "callgate64", "sys13", "intgate64", "trapgate64"}[t]
	}
	s = fmt.Sprintf("%05x %s dpl%d", uint32(a), s, a.DPL())
	for _, f := range []struct {
		set  bool
		name string
	}{{a.P(), "P"}, {a.AVL(), "AVL"}, {a.L(), "L"}, {a.DB(), "D"}, {a.G(), "G"}} {
		if f.set {
			s += " " + f.name
		}
	}
	if r := uint32(a) & 0xFFFE0F00; r != 0 {
		s += fmt.Sprintf(" reserved=%#x", r)
	}
	return s
}

// Dump prints the guest state on one screen: control registers, RIP, RSP,
// RFLAGS, segments with decoded access rights, GDTR/IDTR, MSRs and the
// non-register state.
func (g *GuestState) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CR0    %s\n", withFlags(g.CR0, cr0Names))
	fmt.Fprintf(&b, "CR3    %016x\n", g.CR3)
	fmt.Fprintf(&b, "CR4    %s\n", withFlags(g.CR4, cr4Names))
	fmt.Fprintf(&b, "RIP    %016x  RSP %016x\n", g.RIP, g.RSP)
	fmt.Fprintf(&b, "RFLAGS %s IOPL=%d\n", withFlags(g.RFLAGS, rflagsNames), g.RFLAGS>>12&3)
	fmt.Fprintf(&b, "EFER   %s  PAT %016x  DEBUGCTL %x  DR7 %x\n",
		withFlags(g.IA32EFER, eferNames), g.IA32PAT, g.IA32DebugCtl, g.DR7)
	b.WriteString("seg  sel  base             limit    access rights\n")
	for _, s := range g.Segments() {
		fmt.Fprintf(&b, "%-4s %04x %016x %08x %s\n", s.Name, s.Seg.Selector, s.Seg.Base, s.Seg.Limit, s.Seg.AR)
	}
	fmt.Fprintf(&b, "GDTR %016x limit %04x   IDTR %016x limit %04x\n", g.GDTR.Base, g.GDTR.Limit, g.IDTR.Base, g.IDTR.Limit)
	fmt.Fprintf(&b, "SYSENTER CS %x ESP %x EIP %x\n", g.IA32SysenterCS, g.IA32SysenterESP, g.IA32SysenterEIP)
	if g.CR0&CR0PG != 0 && g.CR4&CR4PAE != 0 && g.IA32EFER&EFERLMA == 0 {
		fmt.Fprintf(&b, "PDPTE  %x %x %x %x\n", g.PDPTE[0], g.PDPTE[1], g.PDPTE[2], g.PDPTE[3])
	}
	fmt.Fprintf(&b, "activity %s  interruptibility %s  pending-debug %x\n", g.Activity, g.Interruptibility, g.PendingDebug)
	fmt.Fprintf(&b, "VMCS link %016x  preemption timer %d", g.VMCSLinkPointer, g.PreemptionTimer)
	return b.String()
}

// Dump prints the host state.
func (h *HostState) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CR0 %s\n", withFlags(h.CR0, cr0Names))
	fmt.Fprintf(&b, "CR3 %016x\n", h.CR3)
	fmt.Fprintf(&b, "CR4 %s\n", withFlags(h.CR4, cr4Names))
	fmt.Fprintf(&b, "RIP %016x  RSP %016x\n", h.RIP, h.RSP)
	fmt.Fprintf(&b, "CS %04x SS %04x DS %04x ES %04x FS %04x GS %04x TR %04x\n", h.CS, h.SS, h.DS, h.ES, h.FS, h.GS, h.TR)
	fmt.Fprintf(&b, "FS base %x  GS base %x  TR base %x  GDTR base %x  IDTR base %x\n", h.FSBase, h.GSBase, h.TRBase, h.GDTRBase, h.IDTRBase)
	fmt.Fprintf(&b, "EFER %s  PAT %016x  SYSENTER CS %x ESP %x EIP %x",
		withFlags(h.IA32EFER, eferNames), h.IA32PAT, h.IA32SysenterCS, h.IA32SysenterESP, h.IA32SysenterEIP)
	return b.String()
}

// Dump prints the control words by name and the control fields in use.
func (c *Controls) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pin-based    %s\n", PinBased.Format(uint64(c.Pin)))
	fmt.Fprintf(&b, "primary      %s\n", ProcBased.Format(uint64(c.Proc)))
	if c.Proc&ProcBasedActivateSecondaryControls != 0 {
		fmt.Fprintf(&b, "secondary    %s\n", ProcBased2.Format(uint64(c.Proc2)))
	}
	if c.Proc&ProcBasedActivateTertiaryControls != 0 {
		fmt.Fprintf(&b, "tertiary     %s\n", ProcBased3.Format(c.Proc3))
	}
	fmt.Fprintf(&b, "VM-exit      %s\n", ExitCtls.Format(uint64(c.Exit)))
	if c.Exit&ExitActivateSecondaryControls != 0 {
		fmt.Fprintf(&b, "VM-exit 2    %s\n", ExitCtls2.Format(c.Exit2))
	}
	fmt.Fprintf(&b, "VM-entry     %s\n", EntryCtls.Format(uint64(c.Entry)))
	fmt.Fprintf(&b, "exception bitmap %08x  CR0 mask/shadow %x/%x  CR4 mask/shadow %x/%x\n",
		c.ExceptionBitmap, c.CR0Mask, c.CR0Shadow, c.CR4Mask, c.CR4Shadow)
	fmt.Fprintf(&b, "I/O bitmaps %x %x  MSR bitmap %x  EPTP %x  VPID %d  TSC offset %x\n",
		c.IOBitmapA, c.IOBitmapB, c.MSRBitmap, c.EPTP, c.VPID, c.TSCOffset)
	fmt.Fprintf(&b, "MSR areas: exit-store %d@%x exit-load %d@%x entry-load %d@%x\n",
		c.ExitMSRStoreCount, c.ExitMSRStoreAddr, c.ExitMSRLoadCount, c.ExitMSRLoadAddr, c.EntryMSRLoadCount, c.EntryMSRLoadAddr)
	fmt.Fprintf(&b, "inject %s", c.Injection())
	return b.String()
}
