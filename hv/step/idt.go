package step

import (
	"encoding/binary"
	"fmt"
)

// Mode is the guest's processor mode, as far as its IDT and code are
// concerned.
type Mode uint8

const (
	Real      Mode = iota // CR0.PE = 0: the interrupt vector table
	Protected             // CR0.PE = 1, EFER.LMA = 0: 8-byte gates
	Long                  // EFER.LMA = 1: 16-byte gates
)

// Table is a descriptor-table register: GDTR or IDTR.
type Table struct {
	Base  uint64
	Limit uint32
}

// Memory reads guest memory by linear address, returning how much it
// could read.
type Memory func(addr uint64, dst []byte) int

// Gate types (SDM Vol. 3A §3.5, Table 3-2).
const (
	gateTask   = 0x5
	gateInt16  = 0x6
	gateTrap16 = 0x7
	gateInt32  = 0xE // also the 64-bit interrupt gate
	gateTrap32 = 0xF // also the 64-bit trap gate
)

// HandlerAddress returns the linear address of the first instruction of
// the handler of vector (SDM Vol. 3A §6.10-6.14, §20.1.4): from the
// interrupt vector table in real mode, from the gate's offset and its code
// segment's base in protected mode, from the gate's offset in long mode
// (code segments have base 0 there). An error says why there is none: the
// vector lies past IDTR's limit, the gate is not present, a task gate, or
// memory that cannot be read; the processor then raises an exception of
// its own rather than run a handler.
func HandlerAddress(mem Memory, mode Mode, idtr, gdtr Table, vector uint8) (uint64, error) {
	var g [16]byte
	switch mode {
	case Real:
		at := uint64(vector) * 4
		if at+3 > uint64(idtr.Limit) {
			return 0, fmt.Errorf("vector %#x lies past the IVT's limit %#x", vector, idtr.Limit)
		}
		if mem(idtr.Base+at, g[:4]) != 4 {
			return 0, fmt.Errorf("IVT entry %#x at %#x not readable", vector, idtr.Base+at)
		}
		off, seg := binary.LittleEndian.Uint16(g[0:]), binary.LittleEndian.Uint16(g[2:])
		return uint64(seg)<<4 + uint64(off), nil
	case Protected:
		at := uint64(vector) * 8
		if at+7 > uint64(idtr.Limit) {
			return 0, fmt.Errorf("vector %#x lies past the IDT's limit %#x", vector, idtr.Limit)
		}
		if mem(idtr.Base+at, g[:8]) != 8 {
			return 0, fmt.Errorf("IDT gate %#x at %#x not readable", vector, idtr.Base+at)
		}
		if err := gateUsable(vector, g[5]); err != nil {
			return 0, err
		}
		off := uint64(binary.LittleEndian.Uint16(g[0:]))
		if t := g[5] & 0xF; t == gateInt32 || t == gateTrap32 {
			off |= uint64(binary.LittleEndian.Uint16(g[6:])) << 16
		}
		base, err := segmentBase(mem, gdtr, binary.LittleEndian.Uint16(g[2:]))
		if err != nil {
			return 0, fmt.Errorf("IDT gate %#x: %w", vector, err)
		}
		return (base + off) & 0xFFFFFFFF, nil
	}
	at := uint64(vector) * 16
	if at+15 > uint64(idtr.Limit) {
		return 0, fmt.Errorf("vector %#x lies past the IDT's limit %#x", vector, idtr.Limit)
	}
	if mem(idtr.Base+at, g[:16]) != 16 {
		return 0, fmt.Errorf("IDT gate %#x at %#x not readable", vector, idtr.Base+at)
	}
	if err := gateUsable(vector, g[5]); err != nil {
		return 0, err
	}
	if t := g[5] & 0xF; t != gateInt32 && t != gateTrap32 {
		return 0, fmt.Errorf("IDT gate %#x has type %#x, not a 64-bit interrupt or trap gate", vector, t)
	}
	return uint64(binary.LittleEndian.Uint16(g[0:])) | uint64(binary.LittleEndian.Uint16(g[6:]))<<16 |
		uint64(binary.LittleEndian.Uint32(g[8:]))<<32, nil
}

// gateUsable checks a gate's present bit and type (byte 5 of the gate).
func gateUsable(vector, access uint8) error {
	if access&0x80 == 0 {
		return fmt.Errorf("IDT gate %#x is not present", vector)
	}
	switch access & 0xF {
	case gateTask:
		return fmt.Errorf("IDT gate %#x is a task gate", vector)
	case gateInt16, gateTrap16, gateInt32, gateTrap32:
		return nil
	}
	return fmt.Errorf("IDT gate %#x has type %#x, not an interrupt or trap gate", vector, access&0xF)
}

// segmentBase returns the base of the code segment selector names, from
// the GDT (an LDT selector is not followed).
func segmentBase(mem Memory, gdtr Table, selector uint16) (uint64, error) {
	if selector&4 != 0 {
		return 0, fmt.Errorf("code selector %#x is in the LDT", selector)
	}
	at := uint64(selector &^ 7)
	if at == 0 || at+7 > uint64(gdtr.Limit) {
		return 0, fmt.Errorf("code selector %#x lies outside the GDT (limit %#x)", selector, gdtr.Limit)
	}
	var d [8]byte
	if mem(gdtr.Base+at, d[:]) != 8 {
		return 0, fmt.Errorf("GDT entry %#x at %#x not readable", selector, gdtr.Base+at)
	}
	return uint64(d[2]) | uint64(d[3])<<8 | uint64(d[4])<<16 | uint64(d[7])<<24, nil
}
