package hv

import (
	"encoding/binary"
	"fmt"

	"hindsight/vmx"
)

// The 64-bit entry a loader gives a guest (guest/testguest documents it;
// Linux's 64-bit boot protocol asks for the same): identity-mapped page
// tables for the first 1 GiB, a GDT with a 64-bit code and a data segment,
// interrupts off. Everything lives below LoadAddr in guest memory.
const (
	LoadAddr     = 0x100000 // where the image is copied and entered
	stackTop     = 0x80000
	gdtAddr      = 0x500
	pml4Addr     = 0x1000
	pdptAddr     = 0x2000
	pdAddr       = 0x3000
	guestSelCode = 0x08
	guestSelData = 0x10

	// Guest paging-structure bits (SDM Vol. 3A Table 4-19).
	gpteP  = 1 << 0
	gpteRW = 1 << 1
	gptePS = 1 << 7
)

// loadImage clears guest RAM (the firmware and loader leave data in the
// regions, different in each, which would break the replicas' memory
// digests) and writes the page tables, the GDT and the image.
func loadImage(ram []byte, image []byte) error {
	if uint64(len(ram)) < 1<<30 && uint64(len(ram)) < LoadAddr+uint64(len(image)) {
		return fmt.Errorf("hv: image of %d bytes does not fit in %d bytes of guest RAM at %#x", len(image), len(ram), LoadAddr)
	}
	clear(ram)
	le := binary.LittleEndian
	le.PutUint64(ram[pml4Addr:], pdptAddr|gpteP|gpteRW)
	le.PutUint64(ram[pdptAddr:], pdAddr|gpteP|gpteRW)
	for i := uint64(0); i < 512; i++ {
		le.PutUint64(ram[pdAddr+8*i:], i<<21|gpteP|gpteRW|gptePS)
	}
	le.PutUint64(ram[gdtAddr+8:], 0x00AF9A000000FFFF)  // 64-bit code, DPL0
	le.PutUint64(ram[gdtAddr+16:], 0x00CF92000000FFFF) // data
	copy(ram[LoadAddr:], image)
	return nil
}

// Segment access rights in the VMCS format (SDM Vol. 3C §25.4.1, Table 25-2).
const (
	arCode64 = vmx.AccessRights(0xA09B) // present, S, execute/read accessed, L, G
	arData   = vmx.AccessRights(0xC093) // present, S, read/write accessed, D/B, G
	arTSS64  = vmx.AccessRights(0x008B) // present, busy 64-bit TSS
	arLDT    = vmx.AccessRights(0x0082)
)

// entryState is the guest state at the 64-bit entry: CPL0, paging on,
// RIP = LoadAddr, RSP = stackTop, RFLAGS = 2 (interrupts off).
func entryState(caps *vmx.Caps) vmx.GuestState {
	code := vmx.Segment{Selector: guestSelCode, Limit: 0xFFFFFFFF, AR: arCode64}
	data := vmx.Segment{Selector: guestSelData, Limit: 0xFFFFFFFF, AR: arData}
	const (
		cr0PE, cr0ET, cr0NE, cr0PG = 1 << 0, 1 << 4, 1 << 5, 1 << 31
		cr4PAE                     = 1 << 5
		eferLME, eferLMA           = 1 << 8, 1 << 10
	)
	return vmx.GuestState{
		CR0:    caps.FixCR0(cr0PE | cr0ET | cr0NE | cr0PG),
		CR3:    pml4Addr,
		CR4:    caps.FixCR4(cr4PAE),
		DR7:    0x400,
		RIP:    LoadAddr,
		RSP:    stackTop,
		RFLAGS: 0x2,
		CS:     code, SS: data, DS: data, ES: data, FS: data, GS: data,
		TR:              vmx.Segment{Limit: 0x67, AR: arTSS64},
		LDTR:            vmx.Segment{AR: arLDT | vmx.ARUnusable},
		GDTR:            vmx.DescriptorTable{Base: gdtAddr, Limit: 23},
		IA32EFER:        eferLME | eferLMA,
		IA32PAT:         0x0007040600070406,
		VMCSLinkPointer: ^uint64(0),
	}
}
