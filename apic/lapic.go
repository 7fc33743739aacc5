// Package apic drives the local APIC (xAPIC, memory-mapped) of each CPU:
// inter-processor interrupts, the timer, and end of interrupt. Register
// names and offsets follow the Intel SDM Vol. 3A §11.4.1, Table 11-1.
//
// Every method is a few MMIO accesses with no allocation, so they are safe
// in trap, syscall and VM-exit context.
package apic

import (
	"sync/atomic"
	"unsafe"
)

// DefaultBase is the architectural reset value of IA32_APIC_BASE[35:12].
const DefaultBase = 0xFEE00000

// Local APIC registers (offsets from the base).
const (
	RegID           = 0x020
	RegVersion      = 0x030
	RegTPR          = 0x080 // task priority
	RegEOI          = 0x0B0
	RegSVR          = 0x0F0 // spurious-interrupt vector
	RegESR          = 0x280 // error status
	RegICRLow       = 0x300 // interrupt command, bits 31:0
	RegICRHigh      = 0x310 // interrupt command, bits 63:32 (destination)
	RegLVTTimer     = 0x320
	RegLVTLINT0     = 0x350
	RegLVTLINT1     = 0x360
	RegLVTError     = 0x370
	RegTimerInitial = 0x380
	RegTimerCurrent = 0x390
	RegTimerDivide  = 0x3E0
)

// Bits of the ICR, LVT and SVR (SDM Vol. 3A §11.6.1, §11.5.1, §11.9).
const (
	ICRFixed          = 0 << 8
	ICRNMI            = 4 << 8
	ICRInit           = 5 << 8
	ICRStartup        = 6 << 8
	ICRDeliveryStatus = 1 << 12 // send pending
	ICRLevelAssert    = 1 << 14
	ICRTriggerLevel   = 1 << 15
	ICRAllButSelf     = 3 << 18 // destination shorthand

	LVTMasked   = 1 << 16
	LVTPeriodic = 1 << 17 // timer mode

	SVREnable = 1 << 8

	TimerDivideBy16 = 0x3
)

// LAPIC is the local APIC at a physical base identity-mapped uncached.
type LAPIC struct{ Base uintptr }

// Read returns a 32-bit register. Atomic loads keep the compiler from
// merging or hoisting MMIO reads out of polling loops.
func (l LAPIC) Read(reg uint32) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(l.Base + uintptr(reg))))
}

// Write stores a 32-bit register.
func (l LAPIC) Write(reg, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(l.Base+uintptr(reg))), v)
}

// ID returns this CPU's APIC ID (xAPIC: bits 31:24).
func (l LAPIC) ID() uint32 { return l.Read(RegID) >> 24 }

// Enable software-enables the APIC with the given spurious vector, accepts
// all priorities, and masks LINT0/LINT1 (the PIC is not used through them).
func (l LAPIC) Enable(spurious uint8) {
	l.Write(RegTPR, 0)
	l.Write(RegLVTLINT0, LVTMasked)
	l.Write(RegLVTLINT1, LVTMasked)
	l.Write(RegLVTError, LVTMasked)
	l.Write(RegSVR, SVREnable|uint32(spurious))
}

// EOI signals end of interrupt for the in-service vector.
func (l LAPIC) EOI() { l.Write(RegEOI, 0) }

func (l LAPIC) waitICR() {
	for i := 0; i < 1_000_000 && l.Read(RegICRLow)&ICRDeliveryStatus != 0; i++ {
	}
}

// SendIPI sends a fixed interrupt with the given vector to one APIC ID.
func (l LAPIC) SendIPI(dest uint32, vector uint8) {
	l.waitICR()
	l.Write(RegICRHigh, dest<<24)
	l.Write(RegICRLow, ICRFixed|uint32(vector))
}

// SendInit sends INIT (level assert) to an APIC ID (SDM Vol. 3A §9.4.4.1).
func (l LAPIC) SendInit(dest uint32) {
	l.waitICR()
	l.Write(RegICRHigh, dest<<24)
	l.Write(RegICRLow, ICRInit|ICRLevelAssert|ICRTriggerLevel)
	l.waitICR()
}

// SendStartup sends a STARTUP IPI: the AP starts in real mode at
// vector<<12 (SDM Vol. 3A §9.4.4.1).
func (l LAPIC) SendStartup(dest uint32, vector uint8) {
	l.waitICR()
	l.Write(RegICRHigh, dest<<24)
	l.Write(RegICRLow, ICRStartup|uint32(vector))
	l.waitICR()
}

// BroadcastNMI delivers an NMI to every CPU but the sender.
func (l LAPIC) BroadcastNMI() {
	l.waitICR()
	l.Write(RegICRLow, ICRNMI|ICRAllButSelf)
	l.waitICR()
}

// StartTimer arms the timer: count ticks of the bus clock divided by 16,
// then an interrupt at vector, repeating if periodic.
func (l LAPIC) StartTimer(vector uint8, count uint32, periodic bool) {
	lvt := uint32(vector)
	if periodic {
		lvt |= LVTPeriodic
	}
	l.Write(RegTimerDivide, TimerDivideBy16)
	l.Write(RegLVTTimer, lvt)
	l.Write(RegTimerInitial, count)
}

// StopTimer masks the timer and clears its count.
func (l LAPIC) StopTimer() {
	l.Write(RegLVTTimer, LVTMasked)
	l.Write(RegTimerInitial, 0)
}
