package vmx

import (
	"testing"
	"unsafe"
)

// The offsets insn_amd64.s uses for GuestRegs (its G_* constants and the
// GPR offsets 0-112).
func TestGuestRegsLayout(t *testing.T) {
	var g GuestRegs
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"RAX", unsafe.Offsetof(g.RAX), 0}, {"R15", unsafe.Offsetof(g.R15), 112},
		{"CR2", unsafe.Offsetof(g.CR2), 120}, {"GuestFX", unsafe.Offsetof(g.GuestFX), 128},
		{"HostFX", unsafe.Offsetof(g.HostFX), 136}, {"ExitReason", unsafe.Offsetof(g.ExitReason), 144},
		{"ExitQual", unsafe.Offsetof(g.ExitQual), 152}, {"ExitRIP", unsafe.Offsetof(g.ExitRIP), 160},
		{"ExitInstrLen", unsafe.Offsetof(g.ExitInstrLen), 168}, {"Slices", unsafe.Offsetof(g.Slices), 176},
		{"Phase", unsafe.Offsetof(g.Phase), 184},
	} {
		if c.got != c.want {
			t.Errorf("GuestRegs.%s at %d, insn_amd64.s uses %d", c.name, c.got, c.want)
		}
	}
}

// SliceOffset follows the exit stub's instruction numbers: pair k's first
// RDTSC is instruction 23 + 4k after the exit; it begins a slice when the
// exit sat at place p = 3 + k (mod 5) of its slice.
func TestSliceOffset(t *testing.T) {
	for p := uint64(1); p <= 5; p++ { // the exit's place in its slice
		var k uint64
		for ; k < 5; k++ {
			if (p-1+23+4*k)%5 == 0 { // instruction 23+4k at a slice's first place
				break
			}
		}
		if got, ok := SliceOffset(k); !ok || got != p-1 {
			t.Errorf("exit at place %d: pair %d, SliceOffset %d %v, want %d", p, k, got, ok, p-1)
		}
	}
	if _, ok := SliceOffset(^uint64(0)); ok {
		t.Error("no pair matched, yet SliceOffset is ok")
	}
}
