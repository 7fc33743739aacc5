package hv

import (
	"encoding/binary"
	"testing"

	"hindsight/tools/imagetest"
	"hindsight/vmx"
	"hindsight/vmx/vmxtest"
)

func bochsCaps(t *testing.T) *vmx.Caps {
	caps, err := vmx.DecodeCaps(func(msr uint32) uint64 { return vmxtest.BochsSkylakeX[msr] })
	if err != nil {
		t.Fatal(err)
	}
	caps.MaxPhysAddr, caps.LinearAddrBits = 40, 48
	return &caps
}

// The state the loader gives a guest must pass every guest-state check of
// the SDM with the controls the hypervisor uses.
func TestEntryStatePassesChecks(t *testing.T) {
	caps := bochsCaps(t)
	var ctl vmx.Controls
	var err error
	for _, s := range []struct {
		dst   *uint32
		want  uint32
		allow vmx.Allowed
	}{
		{&ctl.Pin, pinWant, caps.Pin}, {&ctl.Proc, procWant, caps.Proc}, {&ctl.Proc2, proc2Want, caps.Proc2},
		{&ctl.Exit, exitWant, caps.Exit}, {&ctl.Entry, entryWant, caps.Entry},
	} {
		if *s.dst, err = vmx.Adjust(s.want, 0, s.allow); err != nil {
			t.Fatal(err)
		}
	}
	ctl.IOBitmapA, ctl.IOBitmapB, ctl.MSRBitmap, ctl.EPTP = 0x10000, 0x11000, 0x12000, 0x1301E
	g := entryState(caps)
	if fs := vmx.CheckGuestState(&g, &ctl, caps); len(fs) != 0 {
		t.Errorf("entry state fails checks:\n%s", fs)
	}
	if fs := vmx.CheckControls(&ctl, &g, caps); len(fs) != 0 {
		t.Errorf("controls fail checks:\n%s", fs)
	}
	g.CS.AR |= vmx.ARDB // what vmtest=badguest does
	if fs := vmx.CheckGuestState(&g, &ctl, caps); len(fs) == 0 {
		t.Error("CS with L=1 and D=1 passes the checks")
	}
}

func TestLoadImage(t *testing.T) {
	ram := make([]byte, 16<<20)
	if err := loadImage(ram, []byte{0xF4}); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if ram[LoadAddr] != 0xF4 || le.Uint64(ram[pml4Addr:]) != pdptAddr|gpteP|gpteRW {
		t.Error("image or PML4 not where the contract says")
	}
	// PDE 511 maps 1 GiB - 2 MiB with a large page.
	if got := le.Uint64(ram[pdAddr+8*511:]); got != 511<<21|gpteP|gpteRW|gptePS {
		t.Errorf("PDE 511 = %#x", got)
	}
	if err := loadImage(make([]byte, 1<<20), make([]byte, 4096)); err == nil {
		t.Error("an image beyond the end of guest RAM was accepted")
	}
}

// TestExitPathDoesNotAllocate checks the VM-exit handlers in the linked
// image: they run between VM exit and the next entry, many thousand times
// a second, and must leave the garbage collector alone.
func TestExitPathDoesNotAllocate(t *testing.T) {
	elf := imagetest.Build(t, "..")
	imagetest.NoAlloc(t, elf, `^hindsight/hv\.\(\*VM\)\.handleExit$`, `^hindsight/vmx\.(enter|vmexit)$`)
}
