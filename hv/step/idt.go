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
	var scratch [16]byte
	addr, no := HandlerAt(mem, &scratch, mode, idtr, gdtr, vector)
	if no.Why != HandlerFound {
		return 0, no
	}
	return addr, nil
}

// NoHandler says why a vector has no handler to stop at, without a
// pointer (the vCPU loop keeps it; Error formats it when asked).
type NoHandler struct {
	Why      NoHandlerWhy
	Vector   uint8
	Type     uint8  // the gate's type
	Selector uint16 // the gate's code selector
	At       uint64 // an address that could not be read
	Limit    uint32 // the table's limit
}

// NoHandlerWhy is the reason in a NoHandler.
type NoHandlerWhy uint8

const (
	HandlerFound    NoHandlerWhy = iota // there is a handler
	PastIVT                             // the vector lies past the IVT's limit
	IVTUnreadable                       // the IVT entry cannot be read
	PastIDT                             // the vector lies past the IDT's limit
	GateUnreadable                      // the IDT gate cannot be read
	GateNotPresent                      // the gate's present bit is clear
	TaskGate                            // a task gate
	GateType                            // not an interrupt or trap gate
	GateType64                          // not a 64-bit interrupt or trap gate
	SelectorLDT                         // the gate's code selector is in the LDT
	SelectorPastGDT                     // the gate's code selector lies outside the GDT
	GDTUnreadable                       // the code segment's descriptor cannot be read
	NoFreeSlot                          // (the caller's) no debug register is free for a breakpoint at the handler
)

func (n NoHandler) Error() string {
	switch n.Why {
	case HandlerFound:
		return "there is a handler"
	case PastIVT:
		return fmt.Sprintf("vector %#x lies past the IVT's limit %#x", n.Vector, n.Limit)
	case IVTUnreadable:
		return fmt.Sprintf("IVT entry %#x at %#x not readable", n.Vector, n.At)
	case PastIDT:
		return fmt.Sprintf("vector %#x lies past the IDT's limit %#x", n.Vector, n.Limit)
	case GateUnreadable:
		return fmt.Sprintf("IDT gate %#x at %#x not readable", n.Vector, n.At)
	case GateNotPresent:
		return fmt.Sprintf("IDT gate %#x is not present", n.Vector)
	case TaskGate:
		return fmt.Sprintf("IDT gate %#x is a task gate", n.Vector)
	case GateType:
		return fmt.Sprintf("IDT gate %#x has type %#x, not an interrupt or trap gate", n.Vector, n.Type)
	case GateType64:
		return fmt.Sprintf("IDT gate %#x has type %#x, not a 64-bit interrupt or trap gate", n.Vector, n.Type)
	case SelectorLDT:
		return fmt.Sprintf("IDT gate %#x: code selector %#x is in the LDT", n.Vector, n.Selector)
	case SelectorPastGDT:
		return fmt.Sprintf("IDT gate %#x: code selector %#x lies outside the GDT (limit %#x)", n.Vector, n.Selector, n.Limit)
	case GDTUnreadable:
		return fmt.Sprintf("IDT gate %#x: GDT entry %#x at %#x not readable", n.Vector, n.Selector, n.At)
	case NoFreeSlot:
		return "no debug register is free for a breakpoint at the handler"
	}
	return fmt.Sprintf("NoHandlerWhy(%d)", n.Why)
}

// HandlerAt is HandlerAddress without allocating (the vCPU loop's single
// steps call it): memory is read into scratch, and the reason there is no
// handler comes as a NoHandler (Why HandlerFound when there is one).
func HandlerAt(mem Memory, scratch *[16]byte, mode Mode, idtr, gdtr Table, vector uint8) (uint64, NoHandler) {
	g := scratch[:]
	no := func(why NoHandlerWhy) NoHandler { return NoHandler{Why: why, Vector: vector, Limit: idtr.Limit} }
	switch mode {
	case Real:
		at := uint64(vector) * 4
		if at+3 > uint64(idtr.Limit) {
			return 0, no(PastIVT)
		}
		if mem(idtr.Base+at, g[:4]) != 4 {
			n := no(IVTUnreadable)
			n.At = idtr.Base + at
			return 0, n
		}
		off, seg := binary.LittleEndian.Uint16(g[0:]), binary.LittleEndian.Uint16(g[2:])
		return uint64(seg)<<4 + uint64(off), NoHandler{}
	case Protected:
		if n := readGate(mem, g[:8], idtr, vector); n.Why != HandlerFound {
			return 0, n
		}
		off := uint64(binary.LittleEndian.Uint16(g[0:]))
		if t := g[5] & 0xF; t == gateInt32 || t == gateTrap32 {
			off |= uint64(binary.LittleEndian.Uint16(g[6:])) << 16
		}
		sel := binary.LittleEndian.Uint16(g[2:])
		base, why, at := segmentBase(mem, g[:8], gdtr, sel)
		if why != HandlerFound {
			n := no(why)
			n.Selector, n.At = sel, at
			if why == SelectorPastGDT {
				n.Limit = gdtr.Limit
			}
			return 0, n
		}
		return (base + off) & 0xFFFFFFFF, NoHandler{}
	}
	if n := readGate(mem, g[:16], idtr, vector); n.Why != HandlerFound {
		return 0, n
	}
	if t := g[5] & 0xF; t != gateInt32 && t != gateTrap32 {
		n := no(GateType64)
		n.Type = t
		return 0, n
	}
	return uint64(binary.LittleEndian.Uint16(g[0:])) | uint64(binary.LittleEndian.Uint16(g[6:]))<<16 |
		uint64(binary.LittleEndian.Uint32(g[8:]))<<32, NoHandler{}
}

// readGate reads vector's gate (len(g) bytes: 8 in protected mode, 16 in
// long mode) into g and checks that it is present and an interrupt or
// trap gate.
func readGate(mem Memory, g []byte, idtr Table, vector uint8) NoHandler {
	size := uint64(len(g))
	at := uint64(vector) * size
	n := NoHandler{Vector: vector, Limit: idtr.Limit}
	switch {
	case at+size-1 > uint64(idtr.Limit):
		n.Why = PastIDT
	case mem(idtr.Base+at, g) != len(g):
		n.Why, n.At = GateUnreadable, idtr.Base+at
	default:
		if n.Why = gateUsable(g[5]); n.Why != HandlerFound {
			n.Type = g[5] & 0xF
		}
	}
	return n
}

// gateUsable checks a gate's present bit and type (byte 5 of the gate).
func gateUsable(access uint8) NoHandlerWhy {
	if access&0x80 == 0 {
		return GateNotPresent
	}
	switch access & 0xF {
	case gateTask:
		return TaskGate
	case gateInt16, gateTrap16, gateInt32, gateTrap32:
		return HandlerFound
	}
	return GateType
}

// segmentBase returns the base of the code segment selector names, from
// the GDT (an LDT selector is not followed), read into d (8 bytes); else
// why not, and the address that could not be read.
func segmentBase(mem Memory, d []byte, gdtr Table, selector uint16) (uint64, NoHandlerWhy, uint64) {
	if selector&4 != 0 {
		return 0, SelectorLDT, 0
	}
	at := uint64(selector &^ 7)
	if at == 0 || at+7 > uint64(gdtr.Limit) {
		return 0, SelectorPastGDT, 0
	}
	if mem(gdtr.Base+at, d[:8]) != 8 {
		return 0, GDTUnreadable, gdtr.Base + at
	}
	return uint64(d[2]) | uint64(d[3])<<8 | uint64(d[4])<<16 | uint64(d[7])<<24, HandlerFound, 0
}
