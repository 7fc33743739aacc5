package hv

import (
	"encoding/binary"
	"testing"

	"hindsight/guest/image"

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

// The guest state of every entry the loader makes must pass every
// guest-state check of the SDM with the controls the hypervisor uses.
func TestGuestStatePassesChecks(t *testing.T) {
	caps := bochsCaps(t)
	var base vmx.Controls
	var err error
	for _, s := range []struct {
		dst            *uint32
		want, optional uint32
		allow          vmx.Allowed
	}{
		{&base.Pin, pinWant, 0, caps.Pin}, {&base.Proc, procWant, procOptional, caps.Proc},
		{&base.Proc2, proc2Want, proc2Optional, caps.Proc2},
		{&base.Exit, exitWant, exitOptional, caps.Exit}, {&base.Entry, entryWant, 0, caps.Entry},
	} {
		if *s.dst, err = vmx.Adjust(s.want, s.optional, s.allow); err != nil {
			t.Fatal(err)
		}
	}
	base.IOBitmapA, base.IOBitmapB, base.MSRBitmap, base.EPTP = 0x10000, 0x11000, 0x12000, 0x1301E
	base.CR0Mask, base.CR4Mask = crMasks(caps)
	for name, spec := range map[string]image.Spec{
		"flat64":          {Format: image.Flat64, Kernel: []byte{0xF4}},
		"multiboot ELF32": {Kernel: multibootELF32(t)},
	} {
		e, _, err := image.Load(make([]byte, 16<<20), spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctl := base
		if e.Mode != image.Long64 {
			ctl.Entry &^= vmx.EntryIA32eModeGuest
		}
		g := guestState(&e, caps)
		if fs := vmx.CheckGuestState(&g, &ctl, caps); len(fs) != 0 {
			t.Errorf("%s: entry state fails checks:\n%s", name, fs)
		}
		if fs := vmx.CheckControls(&ctl, &g, caps); len(fs) != 0 {
			t.Errorf("%s: controls fail checks:\n%s", name, fs)
		}
		g.CS.AR |= vmx.ARDB // what vmtest=badguest does
		if fs := vmx.CheckGuestState(&g, &ctl, caps); e.Mode == image.Long64 && len(fs) == 0 {
			t.Errorf("%s: CS with L=1 and D=1 passes the checks", name)
		}
	}
}

// multibootELF32 is the smallest multiboot v1 ELF32 kernel: a header at
// the start of its one segment, loaded at 1 MiB and entered there.
func multibootELF32(t *testing.T) []byte {
	t.Helper()
	const load = 0x100000
	seg := make([]byte, 64)
	binary.LittleEndian.PutUint32(seg[0:], 0x1BADB002)
	binary.LittleEndian.PutUint32(seg[4:], 0)
	binary.LittleEndian.PutUint32(seg[8:], 0xE4524FFE) // -(magic + flags)
	seg[12] = 0xF4                                     // hlt
	f := make([]byte, 0x1000+len(seg))
	copy(f, []byte{0x7f, 'E', 'L', 'F', 1, 1, 1})
	le := binary.LittleEndian
	le.PutUint16(f[16:], 2) // ET_EXEC
	le.PutUint16(f[18:], 3) // EM_386
	le.PutUint32(f[20:], 1) // version
	le.PutUint32(f[24:], load+12)
	le.PutUint32(f[28:], 52) // phoff
	le.PutUint16(f[40:], 52) // ehsize
	le.PutUint16(f[42:], 32) // phentsize
	le.PutUint16(f[44:], 1)  // phnum
	ph := f[52:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 0x1000)
	le.PutUint32(ph[8:], load)
	le.PutUint32(ph[12:], load)
	le.PutUint32(ph[16:], uint32(len(seg)))
	le.PutUint32(ph[20:], uint32(len(seg)))
	le.PutUint32(ph[24:], 5)
	copy(f[0x1000:], seg)
	return f
}

// TestExitPathDoesNotAllocate checks the vCPU loop in the linked image:
// everything between a VM exit and the next entry (the handlers, the
// inputs, the clock, the trace) runs many thousand times a second and must
// leave the garbage collector alone.
//
// One function the loop reaches is left out: the backup debugger's event
// (debug.go), which formats messages, parks the vCPU and serves gdb and
// the console monitor. It runs only at the debugger's own moments (a stop
// asked for, a breakpoint hit, a step done, a target reached, the
// primary's failure), never on a replay's ordinary exits: the check
// deciding to call it (debugger.eventful) and everything the debugger
// arms and gives back at each entry and exit (breakpoints, invisible
// single steps) are checked with the rest.
func TestExitPathDoesNotAllocate(t *testing.T) {
	elf := imagetest.Build(t, "..")
	imagetest.NoAllocExcept(t, elf, []string{"hindsight/hv.(*debugger).event"},
		`^hindsight/hv\.\(\*VM\)\.loop$`, `^hindsight/vmx\.(enter|vmexit)$`)
}

func TestRepString(t *testing.T) {
	for _, c := range []struct {
		code []byte
		long bool
		want bool
	}{
		{[]byte{0xF3, 0xA4}, true, true},              // rep movsb
		{[]byte{0xF3, 0x48, 0xA5}, true, true},        // rep movsq
		{[]byte{0xF3, 0x48, 0xAB}, true, true},        // rep stosq
		{[]byte{0x66, 0xF3, 0xAB}, false, true},       // rep stosw
		{[]byte{0xF2, 0xAE}, true, true},              // repne scasb
		{[]byte{0xF3, 0x6E}, true, true},              // rep outsb
		{[]byte{0xA4}, true, false},                   // movsb, no REP
		{[]byte{0xF3, 0x90}, true, false},             // pause
		{[]byte{0xF3, 0x0F, 0xB8, 0xC0}, true, false}, // popcnt
		{[]byte{0xF3, 0x48}, true, false},             // cut short
		{[]byte{0xF3, 0x48, 0xA5}, false, false},      // in 32-bit code 0x48 is DEC EAX
		{nil, true, false},
	} {
		if got := repString(c.code, c.long); got != c.want {
			t.Errorf("% x (long %v): %v, want %v", c.code, c.long, got, c.want)
		}
	}
}
