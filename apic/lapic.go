// Package apic drives the local APIC of each CPU, in xAPIC mode (memory-
// mapped) or, where the CPU has it, x2APIC mode (MSRs): inter-processor
// interrupts, the timer, and end of interrupt; and the IOAPIC. Register
// names and offsets follow the Intel SDM Vol. 3A §11.4.1, Table 11-1, and
// §11.12 for x2APIC.
//
// Every method is a few MMIO or MSR accesses with no allocation, so they
// are safe in trap, syscall and VM-exit context.
package apic

import (
	"sync/atomic"
	"unsafe"

	"hindsight/boot/msr"
)

// DefaultBase is the architectural reset value of IA32_APIC_BASE[35:12].
const DefaultBase = 0xFEE00000

// IA32_APIC_BASE and its enable bits (SDM Vol. 3A §11.4.4, §11.12.1).
const (
	MSRIA32_APIC_BASE = 0x1B
	APICBaseEXTD      = 1 << 10 // x2APIC mode
	APICBaseEN        = 1 << 11 // APIC global enable

	// msrX2APIC is the MSR of xAPIC register offset 0: in x2APIC mode the
	// register at offset r is MSR msrX2APIC + r>>4 (SDM Vol. 3A Table 11-6).
	msrX2APIC = 0x800
)

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
	ICRDeliveryStatus = 1 << 12 // send pending (xAPIC only)
	ICRLevelAssert    = 1 << 14
	ICRTriggerLevel   = 1 << 15
	ICRAllButSelf     = 3 << 18 // destination shorthand

	LVTMasked   = 1 << 16
	LVTPeriodic = 1 << 17 // timer mode

	SVREnable = 1 << 8

	TimerDivideBy16 = 0x3
)

// LAPIC is the local APIC of the calling CPU. In xAPIC mode its registers
// are at the physical address Base, identity-mapped uncached; with X2 set
// they are MSRs, and each CPU must have called EnableX2APIC.
type LAPIC struct {
	Base uintptr
	X2   bool
}

func x2MSR(reg uint32) uint32 { return msrX2APIC + reg>>4 }

// Read returns a 32-bit register. Atomic loads keep the compiler from
// merging or hoisting MMIO reads out of polling loops.
func (l LAPIC) Read(reg uint32) uint32 {
	if l.X2 {
		return uint32(msr.Read(x2MSR(reg)))
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(l.Base + uintptr(reg))))
}

// Write stores a 32-bit register. (In x2APIC mode the ICR is one 64-bit
// register: see writeICR.)
func (l LAPIC) Write(reg, v uint32) {
	if l.X2 {
		msr.Write(x2MSR(reg), uint64(v))
		return
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(l.Base+uintptr(reg))), v)
}

// EnableX2APIC switches the calling CPU's APIC from xAPIC to x2APIC mode
// (SDM Vol. 3A §11.12.5: from xAPIC mode, EN and EXTD are set together).
// Precondition: CPUID.01H:ECX[21] (x2APIC) is set.
func EnableX2APIC() {
	msr.Write(MSRIA32_APIC_BASE, msr.Read(MSRIA32_APIC_BASE)|APICBaseEN|APICBaseEXTD)
}

// ID returns this CPU's APIC ID (xAPIC: bits 31:24 of the ID register;
// x2APIC: the whole 32-bit register).
func (l LAPIC) ID() uint32 {
	if l.X2 {
		return l.Read(RegID)
	}
	return l.Read(RegID) >> 24
}

// writeICR sends an interrupt command to dest. xAPIC: the destination
// goes in ICR[63:56] and the write of the low half sends; x2APIC: the ICR
// is one MSR with the 32-bit destination in bits 63:32, and there is no
// delivery status to wait for (SDM Vol. 3A §11.12.9).
func (l LAPIC) writeICR(dest, low uint32) {
	if l.X2 {
		msr.Write(x2MSR(RegICRLow), uint64(dest)<<32|uint64(low))
		return
	}
	l.waitICR()
	l.Write(RegICRHigh, dest<<24)
	l.Write(RegICRLow, low)
}

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

// waitICR waits, boundedly, until an xAPIC has sent the last command.
func (l LAPIC) waitICR() {
	for i := 0; !l.X2 && i < 1_000_000 && l.Read(RegICRLow)&ICRDeliveryStatus != 0; i++ {
	}
}

// SendIPI sends a fixed interrupt with the given vector to one APIC ID.
func (l LAPIC) SendIPI(dest uint32, vector uint8) {
	l.writeICR(dest, ICRFixed|uint32(vector))
}

// SendInit sends INIT (level assert) to an APIC ID (SDM Vol. 3A §9.4.4.1).
func (l LAPIC) SendInit(dest uint32) {
	l.writeICR(dest, ICRInit|ICRLevelAssert|ICRTriggerLevel)
	l.waitICR()
}

// SendStartup sends a STARTUP IPI: the AP starts in real mode at
// vector<<12 (SDM Vol. 3A §9.4.4.1).
func (l LAPIC) SendStartup(dest uint32, vector uint8) {
	l.writeICR(dest, ICRStartup|uint32(vector))
	l.waitICR()
}

// SendNMI delivers an NMI to one APIC ID.
func (l LAPIC) SendNMI(dest uint32) {
	l.writeICR(dest, ICRNMI)
}

// BroadcastNMI delivers an NMI to every CPU but the sender.
func (l LAPIC) BroadcastNMI() {
	l.writeICR(0, ICRNMI|ICRAllButSelf)
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
