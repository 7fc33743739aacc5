package capture

import (
	"fmt"
	"strconv"
)

// CheckCompat reports whether a capture with header h can be replayed on
// a machine giving its guests guestRAM bytes and the CPUID answers
// features: the same guest RAM size, and for every CPUID entry of the
// header the same answer, all four registers, bit for bit (the backup
// does not log CPUID: it computes the answers itself, so any difference
// can change the guest's path). Entries of features the header lacks are
// not compared. The error is an [*Error] of Kind ErrIncompatible naming
// both sizes, or the leaf, the register and the bits that differ.
func CheckCompat(h *Header, guestRAM uint64, features []CPUIDLeaf) error {
	if h.GuestRAM != guestRAM {
		return newError(ErrIncompatible, "", -1, "the capture was made for %s of guest RAM (%d bytes), this guest has %s (%d bytes)",
			sizeName(h.GuestRAM), h.GuestRAM, sizeName(guestRAM), guestRAM)
	}
	for _, want := range h.CPUID {
		var got *CPUIDLeaf
		for i := range features {
			if features[i].Leaf == want.Leaf && features[i].Subleaf == want.Subleaf {
				got = &features[i]
				break
			}
		}
		if got == nil {
			return newError(ErrIncompatible, "", -1, "CPUID leaf %s: the capture has it, this machine's table does not", leafName(want))
		}
		regs := [4]struct {
			name string
			w, g uint32
		}{{"EAX", want.EAX, got.EAX}, {"EBX", want.EBX, got.EBX}, {"ECX", want.ECX, got.ECX}, {"EDX", want.EDX, got.EDX}}
		for _, r := range regs {
			if r.w != r.g {
				return newError(ErrIncompatible, "", -1,
					"another CPU feature set: CPUID leaf %s %s is 0x%08x in the capture, 0x%08x here (bits 0x%08x differ: %s)",
					leafName(want), r.name, r.w, r.g, r.w^r.g, bitList(r.w^r.g))
			}
		}
	}
	return nil
}

func leafName(l CPUIDLeaf) string {
	return fmt.Sprintf("0x%x subleaf %d", l.Leaf, l.Subleaf)
}

// bitList names the set bits of v: "bit 5, bit 26".
func bitList(v uint32) string {
	s := ""
	for i := 0; i < 32; i++ {
		if v&(1<<i) != 0 {
			if s != "" {
				s += ", "
			}
			s += "bit " + strconv.FormatUint(uint64(i), 10)
		}
	}
	return s
}

// sizeName writes a size as "64 MiB" where it is a whole number of MiB.
func sizeName(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatUint(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatUint(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatUint(n>>10, 10) + " KiB"
	}
	return strconv.FormatUint(n, 10) + " bytes"
}

// SizeName writes a byte count as "64 MiB", "12 KiB" or "100 bytes" (whole
// units only).
func SizeName(n uint64) string { return sizeName(n) }
