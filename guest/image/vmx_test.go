package image

import (
	"testing"

	"hindsight/vmx"
	"hindsight/vmx/vmxtest"
)

// guestState is the mapping from Entry to VMCS guest state the hypervisor
// needs (kept here as the reference the test checks against the SDM's VM
// entry checks, vmx.CheckGuestState):
//   - CR0 and CR4 get the bits VMX operation fixes (FixCR0, FixCR4), except
//     that in Protected32 CR0.PE and CR0.PG stay as Entry gives them, which
//     "unrestricted guest" allows (SDM Vol. 3C §27.3.1.1);
//   - the VM-entry control "IA-32e mode guest" equals Mode == Long64, and
//     IA32_EFER is loaded from Entry.EFER ("load IA32_EFER");
//   - SS, ES, FS, GS are DS; TR a busy TSS (type 11 is valid in both
//     modes), LDTR unusable, IDTR empty; DR7 0x400.
func guestState(e Entry, caps *vmx.Caps) (vmx.GuestState, bool) {
	seg := func(s Segment) vmx.Segment {
		return vmx.Segment{Selector: s.Selector, Base: s.Base, Limit: s.Limit, AR: vmx.AccessRights(s.AR)}
	}
	cr0 := caps.FixCR0(e.CR0)
	if e.Mode == Protected32 {
		cr0 = cr0&^(vmx.CR0PE|vmx.CR0PG) | e.CR0&(vmx.CR0PE|vmx.CR0PG)
	}
	cs, ds := seg(e.CS), seg(e.DS)
	return vmx.GuestState{
		CR0: cr0, CR3: e.CR3, CR4: caps.FixCR4(e.CR4), DR7: 0x400,
		RIP: e.RIP, RSP: e.RSP, RFLAGS: e.RFLAGS,
		CS: cs, SS: ds, DS: ds, ES: ds, FS: ds, GS: ds,
		TR:              vmx.Segment{Limit: 0x67, AR: 0x8B},
		LDTR:            vmx.Segment{AR: vmx.ARUnusable},
		GDTR:            vmx.DescriptorTable{Base: e.GDTBase, Limit: uint32(e.GDTLimit)},
		IA32EFER:        e.EFER,
		IA32PAT:         0x0007040600070406,
		VMCSLinkPointer: ^uint64(0),
	}, e.Mode == Long64
}

// Every format's entry state passes VM entry's guest-state checks with
// EPT and unrestricted guest on the Bochs processor hindsight is tested on.
func TestEntryPassesVMEntryChecks(t *testing.T) {
	caps, err := vmx.DecodeCaps(func(msr uint32) uint64 { return vmxtest.BochsSkylakeX[msr] })
	if err != nil {
		t.Fatal(err)
	}
	caps.MaxPhysAddr, caps.LinearAddrBits = 40, 48
	controls := func(ia32e bool) *vmx.Controls {
		must := func(v uint32, err error) uint32 {
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		entry := uint32(vmx.EntryLoadEFER | vmx.EntryLoadPAT)
		if ia32e {
			entry |= vmx.EntryIA32eModeGuest
		}
		return &vmx.Controls{
			Pin:   must(vmx.Adjust(vmx.PinBasedExternalInterruptExiting, 0, caps.Pin)),
			Proc:  must(vmx.Adjust(vmx.ProcBasedActivateSecondaryControls, 0, caps.Proc)),
			Proc2: must(vmx.Adjust(vmx.ProcBased2EnableEPT|vmx.ProcBased2UnrestrictedGuest, 0, caps.Proc2)),
			Exit:  must(vmx.Adjust(vmx.ExitHostAddressSpaceSize|vmx.ExitLoadEFER, 0, caps.Exit)),
			Entry: must(vmx.Adjust(entry, 0, caps.Entry)),
			EPTP:  0x20000 | vmx.MemTypeWB | 3<<3,
		}
	}
	specs := map[string]Spec{
		"flat64":          {Format: Flat64, Kernel: []byte{0xF4}},
		"multiboot ELF32": {Kernel: buildELF(elfSpec{entry: 0x100000, prefix: mbHeaderBytes(0), segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: fill(16, 1)}}})},
		"a.out kludge":    {Kernel: aoutKernel(0x100000, 0x1000, 0, 0x80)},
		"bzImage 64-bit":  {Kernel: buildBzImage(defaultBz())},
		"bzImage 32-bit":  {Kernel: func() []byte { s := defaultBz(); s.xloadflags = 0; return buildBzImage(s) }()},
	}
	for name, s := range specs {
		e, _, err := Load(make([]byte, testRAM), s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		g, ia32e := guestState(e, &caps)
		if fs := vmx.CheckGuestState(&g, controls(ia32e), &caps); len(fs) > 0 {
			t.Errorf("%s: VM entry would fail:\n%s", name, fs)
		}
	}
}
