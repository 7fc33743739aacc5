package hv

import (
	"hindsight/guest/image"
	"hindsight/hv/paging"
	"hindsight/vmx"
)

// The guest's CPU state: how a loaded guest's entry state (package
// guest/image) becomes VMCS guest state, and how the control registers
// and EFER follow the guest through real, protected and long mode.
//
// VMX operation fixes some bits of the real CR0 and CR4 (SDM Vol. 3C
// §24.8, IA32_VMX_CR0_FIXED0/1, CR4_FIXED0/1): CR0.NE and CR4.VMXE must be
// 1 (with "unrestricted guest" CR0.PE and CR0.PG are free). The guest
// owns every other bit; the hypervisor owns, through the guest/host masks,
// the fixed bits (the guest reads its own value from the read shadow) and
// the CR4 bits of features CPUID hides from it, which it may not set
// (#GP(0), as on a processor without them). Writes to owned bits exit;
// nothing else does.

// cr4Hidden are CR4 bits of features the CPUID filter hides (cpuid.go):
// VMXE (VMX), SMXE (SMX), OSXSAVE (XSAVE), PKE (protection keys), CET,
// LA57 (5-level paging).
const cr4Hidden = vmx.CR4VMXE | 1<<14 | vmx.CR4OSXSAVE | 1<<22 | 1<<23 | 1<<12

// guestState is the VMCS guest state of an entry: CR0 and CR4 with VMX's
// fixed bits set (CR0.PE and PG as the entry says, which "unrestricted
// guest" allows, SDM Vol. 3C §27.3.1.1), EFER as given ("load IA32_EFER"),
// SS, ES, FS, GS as DS, a busy TSS, no LDT, no IDT.
func guestState(e *image.Entry, caps *vmx.Caps) vmx.GuestState {
	seg := func(s image.Segment) vmx.Segment {
		return vmx.Segment{Selector: s.Selector, Base: s.Base, Limit: s.Limit, AR: vmx.AccessRights(s.AR)}
	}
	cr0 := caps.FixCR0(e.CR0)
	if e.Mode == image.Protected32 {
		cr0 = cr0&^(vmx.CR0PE|vmx.CR0PG) | e.CR0&(vmx.CR0PE|vmx.CR0PG)
	}
	cs, ds := seg(e.CS), seg(e.DS)
	return vmx.GuestState{
		CR0: cr0, CR3: e.CR3, CR4: caps.FixCR4(e.CR4), DR7: 0x400,
		RIP: e.RIP, RSP: e.RSP, RFLAGS: e.RFLAGS,
		CS: cs, SS: ds, DS: ds, ES: ds, FS: ds, GS: ds,
		TR:              vmx.Segment{Limit: 0x67, AR: arTSSBusy},
		LDTR:            vmx.Segment{AR: vmx.ARUnusable},
		GDTR:            vmx.DescriptorTable{Base: e.GDTBase, Limit: uint32(e.GDTLimit)},
		IA32EFER:        e.EFER,
		IA32PAT:         0x0007040600070406, // the reset value (SDM Vol. 3A §12.12.4)
		VMCSLinkPointer: ^uint64(0),
	}
}

const arTSSBusy = 0x8B // present, busy TSS (type 11: valid in every mode)

// crMasks returns the CR0 and CR4 guest/host masks: the bits the
// hypervisor owns. Without "VM exits store EFER.LMA" (IA32_VMX_MISC bit 5)
// the hypervisor also follows CR0.PG itself, to keep the "IA-32e mode
// guest" entry control right.
func crMasks(caps *vmx.Caps) (cr0, cr4 uint64) {
	cr0 = caps.CR0Fixed0 &^ (vmx.CR0PE | vmx.CR0PG)
	if !caps.Misc.StoresLMA {
		cr0 |= vmx.CR0PG
	}
	return cr0, caps.CR4Fixed0 | cr4Hidden
}

// crAccess handles a MOV to CR0 or CR4 that touched an owned bit (SDM Vol.
// 3C §26.1.3, Table 28-3 for the qualification).
func (v *VM) crAccess() {
	q := vmx.DecodeCRAccess(v.regs.ExitQual)
	if q.Access != vmx.MovToCR || q.CR != 0 && q.CR != 4 {
		v.endVM(causeUnhandledExit, v.regs.ExitReason, v.regs.ExitQual)
		return
	}
	val := v.gpr(q.GPR)
	caps := &v.m.Caps
	if q.CR == 4 {
		if val&cr4Hidden != 0 || val&^caps.CR4Fixed1 != 0 {
			v.injectException(vmx.VectorGP, 0, true)
			return
		}
		vmx.VMWRITE(vmx.CR4ReadShadow, val)
		vmx.VMWRITE(vmx.GuestCR4, val|caps.CR4Fixed0)
		v.skip()
		return
	}
	// CR0: PG without PE, or NW without CD, is #GP(0) (SDM Vol. 3A §2.5).
	if val&vmx.CR0PG != 0 && val&vmx.CR0PE == 0 || val&(1<<29) != 0 && val&(1<<30) == 0 || val>>32 != 0 {
		v.injectException(vmx.VectorGP, 0, true)
		return
	}
	vmx.VMWRITE(vmx.CR0ReadShadow, val)
	vmx.VMWRITE(vmx.GuestCR0, val|caps.CR0Fixed0&^(vmx.CR0PE|vmx.CR0PG))
	if !caps.Misc.StoresLMA {
		efer, _ := vmx.VMREAD(vmx.GuestIA32EFER)
		v.setLMA(efer&vmx.EFERLME != 0 && val&vmx.CR0PG != 0, efer)
	}
	v.skip()
}

// writeEFER emulates WRMSR to IA32_EFER: SCE, LME and NXE are the guest's;
// LMA follows LME and CR0.PG (SDM Vol. 3A §10.8.5); the guest may not
// change LME while paging is on. It reports false for #GP.
func (v *VM) writeEFER(val uint64) bool {
	const writable = 1<<0 | vmx.EFERLME | 1<<11 // SCE, LME, NXE
	old, _ := vmx.VMREAD(vmx.GuestIA32EFER)
	cr0, _ := vmx.VMREAD(vmx.GuestCR0)
	if val&^(writable|vmx.EFERLMA) != 0 || cr0&vmx.CR0PG != 0 && (val^old)&vmx.EFERLME != 0 {
		return false
	}
	v.setLMA(val&vmx.EFERLME != 0 && cr0&vmx.CR0PG != 0, val&writable)
	return true
}

// setLMA writes EFER with LMA as given and the "IA-32e mode guest" entry
// control to match (SDM Vol. 3C §27.3.1.1: they must agree at entry).
func (v *VM) setLMA(lma bool, efer uint64) {
	efer &^= vmx.EFERLMA
	old, _ := vmx.VMREAD(vmx.EntryControls)
	entry := old &^ vmx.EntryIA32eModeGuest
	if lma {
		efer |= vmx.EFERLMA
		entry |= vmx.EntryIA32eModeGuest
	}
	vmx.VMWRITE(vmx.GuestIA32EFER, efer)
	if entry != old {
		vmx.VMWRITE(vmx.EntryControls, entry)
	}
}

// gpr returns general-purpose register n (the SDM's encoding: 0 RAX ... 4
// RSP ... 15 R15).
func (v *VM) gpr(n uint8) uint64 {
	if n == 4 {
		rsp, _ := vmx.VMREAD(vmx.GuestRSP)
		return rsp
	}
	return gprs(&v.regs)[n]
}

// gprs views the saved GPRs in the SDM's order: RAX, RCX, RDX, RBX, RSP
// (unused: it is in the VMCS), RBP, RSI, RDI, R8-R15.
func gprs(r *vmx.GuestRegs) [16]uint64 {
	return [16]uint64{r.RAX, r.RCX, r.RDX, r.RBX, 0, r.RBP, r.RSI, r.RDI,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15}
}

// pagingRegs returns the guest's paging registers, from the VMCS.
func (v *VM) pagingRegs() paging.Regs {
	var r paging.Regs
	r.CR0, _ = vmx.VMREAD(vmx.GuestCR0)
	r.CR3, _ = vmx.VMREAD(vmx.GuestCR3)
	r.CR4, _ = vmx.VMREAD(vmx.GuestCR4)
	r.EFER, _ = vmx.VMREAD(vmx.GuestIA32EFER)
	r.MaxPhysAddr = v.m.Caps.MaxPhysAddr
	return r
}

// readGuest copies guest-virtual memory at va into dst through the guest's
// own page tables, page by page, and returns how much it could read (it
// stops at an address that does not translate). Does not allocate.
func (v *VM) readGuest(va uint64, dst []byte) int {
	r := v.pagingRegs()
	var f paging.Fault
	n := 0
	for n < len(dst) {
		t, ok := paging.Walk(v.guestMem, &r, va+uint64(n), &f)
		if !ok || t.PA >= uint64(len(v.ram)) {
			break
		}
		in := t.PageSize - (va+uint64(n))&(t.PageSize-1) // bytes left in this page
		n += copy(dst[n:min(uint64(len(dst)), uint64(n)+in)], v.ram[t.PA:])
	}
	return n
}

// writeGuest copies src to guest-virtual memory at va through the guest's
// own page tables, page by page, and returns how much it wrote (it stops
// at an address that does not translate). Does not allocate.
func (v *VM) writeGuest(va uint64, src []byte) int {
	r := v.pagingRegs()
	var f paging.Fault
	n := 0
	for n < len(src) {
		t, ok := paging.Walk(v.guestMem, &r, va+uint64(n), &f)
		if !ok || t.PA >= uint64(len(v.ram)) {
			break
		}
		in := t.PageSize - (va+uint64(n))&(t.PageSize-1)
		n += copy(v.ram[t.PA:], src[n:min(uint64(len(src)), uint64(n)+in)])
	}
	return n
}

// repString reports whether the instruction in code is a string
// instruction with a REP prefix (MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS):
// one that runs in iterations at one RIP, each a step of its own. long is
// 64-bit mode (REX prefixes).
func repString(code []byte, long bool) bool {
	rep := false
	for i, b := range code {
		switch {
		case b == 0xF2 || b == 0xF3:
			rep = true
		case b == 0x66 || b == 0x67 || b == 0xF0 || b == 0x2E || b == 0x36 || b == 0x3E || b == 0x26 || b == 0x64 || b == 0x65:
		case long && b&0xF0 == 0x40 && i+1 < len(code): // REX, last before the opcode
		default:
			return rep && (b >= 0xA4 && b <= 0xA7 || b >= 0xAA && b <= 0xAF || b >= 0x6C && b <= 0x6F)
		}
	}
	return false
}
