package apic

import (
	"sync/atomic"
	"unsafe"
)

// IOAPIC is an I/O APIC (Intel 82093AA datasheet, §3): external interrupt
// lines (GSIs) are routed by its redirection table to a vector on a chosen
// local APIC. hindsight routes the lines it uses, the serial port's, to the
// primary's core only (seed 003 §3.2.1): the backup's core never sees an
// outside event.
type IOAPIC struct {
	Base    uintptr // MMIO base, identity-mapped uncached (default 0xFEC00000)
	GSIBase uint32  // first GSI this IOAPIC serves (from the ACPI MADT)
}

// DefaultIOAPICBase is the usual address of the first IOAPIC.
const DefaultIOAPICBase = 0xFEC00000

// Registers, reached through IOREGSEL (offset 0) and IOWIN (offset 0x10).
const (
	ioregsel = 0x00
	iowin    = 0x10

	RegIOAPICID  = 0x00
	RegIOAPICVER = 0x01 // bits 23:16: maximum redirection entry
	RegIOREDTBL  = 0x10 // entry n: registers 0x10+2n (low) and 0x11+2n (high)

	RedirMasked       = 1 << 16
	RedirLevel        = 1 << 15 // trigger mode (0: edge)
	RedirActiveLow    = 1 << 13 // pin polarity (0: active high)
	RedirDestLogical  = 1 << 11
	RedirDeliveryMode = 7 << 8 // 000: fixed
)

func (io IOAPIC) read(reg uint32) uint32 {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(io.Base+ioregsel)), reg)
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(io.Base + iowin)))
}

func (io IOAPIC) write(reg, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(io.Base+ioregsel)), reg)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(io.Base+iowin)), v)
}

// Entries returns the number of redirection entries.
func (io IOAPIC) Entries() int { return int(io.read(RegIOAPICVER)>>16&0xFF) + 1 }

// MaskAll masks every redirection entry.
func (io IOAPIC) MaskAll() {
	for n := 0; n < io.Entries(); n++ {
		io.write(RegIOREDTBL+2*uint32(n), RedirMasked)
	}
}

// Route sends GSI gsi as vector to the local APIC with physical ID dest,
// fixed delivery, with the given trigger and polarity flags (ISA lines are
// edge-triggered, active high, unless the MADT overrides them). It reports
// false if the IOAPIC does not serve gsi.
func (io IOAPIC) Route(gsi uint32, vector uint8, dest uint32, flags uint32) bool {
	n := gsi - io.GSIBase
	if gsi < io.GSIBase || int(n) >= io.Entries() {
		return false
	}
	io.write(RegIOREDTBL+2*n+1, dest<<24)
	io.write(RegIOREDTBL+2*n, uint32(vector)|flags&(RedirLevel|RedirActiveLow))
	return true
}
