package step

import "fmt"

// Debug registers (SDM Vol. 3B §17.2): the hypervisor's breakpoints and
// watchpoints share DR0-DR3 with the guest, using only the slots whose
// enable bits the guest's DR7 leaves clear, and only for the length of one
// VM entry (DR7 is loaded and saved through the VMCS; DR0-DR3 are the
// processor's own and are saved and restored around the entry).

// DR6 bits, as a #DB VM exit's qualification reports them (SDM Vol. 3C,
// "Exit Qualification for Debug Exceptions").
const (
	DR6B  = 0xF     // B0-B3: breakpoint condition i met
	DR6BD = 1 << 13 // debug-register access detected
	DR6BS = 1 << 14 // single step
)

// Access is what a debug register watches (DR7's R/W field).
type Access uint8

const (
	Exec      Access = 0 // instruction fetch (LEN must be 0: one byte)
	Write     Access = 1 // data writes
	ReadWrite Access = 3 // data reads or writes (x86 has no read-only condition)
)

// EnabledSlots returns the slots DR7 enables (L_i or G_i), as a bit mask.
func EnabledSlots(dr7 uint64) uint8 {
	var m uint8
	for i := 0; i < 4; i++ {
		if dr7>>(2*i)&3 != 0 {
			m |= 1 << i
		}
	}
	return m
}

// FreeSlot returns the lowest slot DR7 leaves disabled and taken does not
// hold, or -1.
func FreeSlot(dr7 uint64, taken uint8) int {
	used := EnabledSlots(dr7) | taken
	for i := 0; i < 4; i++ {
		if used&(1<<i) == 0 {
			return i
		}
	}
	return -1
}

// lenBits encodes a watched length in DR7's LEN field (SDM Vol. 3B
// §17.2.5: 00 one byte, 01 two, 11 four, 10 eight).
func lenBits(length uint64) uint64 {
	switch length {
	case 2:
		return 1
	case 4:
		return 3
	case 8:
		return 2
	}
	return 0
}

// CheckRange says whether a debug register can watch [addr, addr+length):
// an instruction breakpoint watches one address; a data breakpoint 1, 2, 4
// or 8 bytes aligned to their length.
func CheckRange(a Access, addr, length uint64) error {
	if a == Exec {
		return nil
	}
	switch length {
	case 1, 2, 4, 8:
		if addr%length != 0 {
			return fmt.Errorf("%d bytes at %#x are not aligned to %d: a debug register watches an aligned range", length, addr, length)
		}
		return nil
	}
	return fmt.Errorf("a debug register watches 1, 2, 4 or 8 bytes, not %d (watch smaller pieces)", length)
}

// WithSlot returns DR7 with slot enabled locally for access over length
// bytes (ignored for Exec), the guest's other slots kept.
func WithSlot(dr7 uint64, slot int, a Access, length uint64) uint64 {
	cond := uint64(a)
	if a != Exec {
		cond |= lenBits(length) << 2
	}
	dr7 &^= uint64(0xF) << (16 + 4*slot)
	dr7 &^= uint64(3) << (2 * slot)
	return dr7 | 1<<(2*slot) | cond<<(16+4*slot)
}

// RestoreSlot takes slot's enable and condition bits back as they were in
// saved, the rest of DR7 as it is now (the guest may have written it).
func RestoreSlot(dr7, saved uint64, slot int) uint64 {
	m := uint64(3)<<(2*slot) | uint64(0xF)<<(16+4*slot)
	return dr7&^m | saved&m
}

// Split divides a #DB exit's qualification between the hypervisor and the
// guest. mine are the slots the hypervisor armed for the entry; stepped
// says the entry was a single step of the hypervisor's (then BS ends it).
// The guest's are the conditions of the slots its DR7 enables, BD, and BS
// if its own TF was set. A condition bit of a slot nobody enabled is
// neither's: the processor may report those (SDM Vol. 3B §17.2.3).
func Split(qual uint64, mine uint8, stepped bool, guestDR7 uint64, guestTF bool) (ours, guests uint64) {
	ours = qual & uint64(mine)
	if stepped {
		ours |= qual & DR6BS
	}
	guests = qual & (uint64(EnabledSlots(guestDR7)&^mine) | DR6BD)
	if guestTF {
		guests |= qual & DR6BS
	}
	return ours, guests
}
