package dev

import (
	"encoding/binary"
	"unsafe"
)

// Ports answered by Absent on the minimal PC.
const (
	PortPOST    = 0x80 // POST code / I/O delay port
	PortDMAPage = 0x87 // DMA channel 0 page register, probed by guests
)

// IRQTimer is the PIT's interrupt line (counter 0's OUT).
const IRQTimer = 0

// NoEvent is the device time NextEvent returns when no device will raise an
// interrupt by itself.
const NoEvent = ^uint64(0)

// Absent answers for a port with nothing behind it that guests are known to
// touch: reads return all ones (0xFF, "absent"), writes are dropped, and
// nothing is reported.
type Absent struct{}

// In implements Device.
func (Absent) In(port uint16, size int) uint32 { return 0xFFFFFFFF >> (32 - 8*size) }

// Out implements Device.
func (Absent) Out(port uint16, size int, v uint32) {}

// PC is the minimal machine of the Linux guest wired on one Bus: PIC pair,
// PIT with port 0x61, COM1 on IRQ4, CMOS RTC on IRQ8, and Absent at 0x80
// and 0x87. It keeps the PIC's inputs in step with the devices after every
// call that can change them.
//
// The devices are pure state machines driven by device time (PIT ticks
// since Init, PITHz per second): see the package documentation for the
// contract. A PC holds pointers to its own fields: after Init it must not be
// copied.
type PC struct {
	Bus  Bus
	PIC  PIC
	PIT  PIT
	UART UART
	RTC  RTC

	lines pcLines
}

// pcLines are the level-driven PIC inputs as PC last passed them on.
type pcLines struct {
	uart bool // IRQ4
	rtc  bool // IRQ8
	_    [6]byte
}

// Init resets every device and the Bus (policy Ignore everywhere, no
// reports queued): device time 0, the RTC showing rtcBase (Unix seconds,
// UTC) plus whole seconds of device time.
func (pc *PC) Init(rtcBase int64) {
	*pc = PC{}
	pc.PIC.reset()
	pc.PIT.reset()
	pc.UART.reset()
	pc.RTC.reset(rtcBase)
	pc.Bus.Register(PortPICMasterCmd, PortPICMasterData, &pc.PIC)
	pc.Bus.Register(PortPICSlaveCmd, PortPICSlaveData, &pc.PIC)
	pc.Bus.Register(PortPIT0, PortPITCtrl, &pc.PIT)
	pc.Bus.Register(PortSysCtlB, PortSysCtlB, &pc.PIT)
	pc.Bus.Register(PortCMOSIndex, PortCMOSData, &pc.RTC)
	pc.Bus.Register(PortPOST, PortPOST, Absent{})
	pc.Bus.Register(PortDMAPage, PortDMAPage, Absent{})
	pc.Bus.Register(PortCOM1, PortCOM1+7, &pc.UART)
}

// Advance moves every device to device time now (earlier or equal values
// change nothing): each rising edge of PIT counter 0's OUT pulses IRQ0, the
// RTC's periodic, alarm and update-ended flags are set and IRQ8 follows
// them, UIP follows the clock. Advancing in several steps leaves the same
// state as one step to the same time.
func (pc *PC) Advance(now uint64) {
	if now <= pc.PIT.now {
		return
	}
	pc.PIT.advance(now)
	pc.RTC.advance(now)
	pc.sync()
}

// Now returns the device time of the last Advance.
func (pc *PC) Now() uint64 { return pc.PIT.now }

// NextEvent returns the device time of the next interrupt a device will
// raise by itself, as things stand after the last Advance: the next rising
// edge of PIT counter 0's OUT, or the next time the RTC's IRQ8 rises for an
// enabled periodic, alarm or update-ended flag; NoEvent if neither will.
// It is after Now. An access to a device can change it.
func (pc *PC) NextEvent() uint64 {
	return min(pc.PIT.nextIRQ(), pc.RTC.nextEvent())
}

// Timed reports whether an access starting at port, of any width up to 4
// bytes, reads or changes time-dependent state (PIT 0x40-0x43 and 0x61,
// RTC 0x70-0x71): the caller Advances to the current device time before
// it. Advancing before other accesses is harmless.
func (pc *PC) Timed(port uint16) bool {
	// The common case (COM1, port 0x80, ...) is one inlined comparison pair.
	return port <= PortCMOSData && port >= PortPIT0-3 && timedFrom(port)
}

func timedFrom(port uint16) bool {
	for i := uint16(0); i < 4; i++ {
		switch p := port + i; {
		case p >= PortPIT0 && p <= PortPITCtrl, p == PortSysCtlB, p == PortCMOSIndex, p == PortCMOSData:
			return true
		}
	}
	return false
}

// In performs a guest IN (see Bus.In) at the device time of the last
// Advance and updates the interrupt lines. It is Bus.In with the Bus's fast
// path inlined: these run on every port I/O exit.
func (pc *PC) In(port uint16, size int) (v uint32, fault bool) {
	if c := pc.Bus.byteClaim(port, size); c != nil {
		if c.absent {
			return 0xFF, false // no device: no interrupt line moves (port 0x80, Linux's I/O delay)
		}
		v = c.in(port)
	} else {
		v, fault = pc.Bus.inSlow(port, size)
	}
	pc.sync()
	return v, fault
}

// Out performs a guest OUT (see Bus.Out) at the device time of the last
// Advance and updates the interrupt lines.
func (pc *PC) Out(port uint16, size int, v uint32) (fault bool) {
	if c := pc.Bus.byteClaim(port, size); c != nil {
		if c.absent {
			return false // no device: no interrupt line moves (port 0x80, Linux's I/O delay)
		}
		c.out(port, v)
	} else {
		fault = pc.Bus.outSlow(port, size, v)
	}
	pc.sync()
	return fault
}

// Receive offers a serial input byte to COM1. It returns false, taking
// nothing, when the receiver cannot take it now (full, or in loopback): the
// caller keeps the byte and offers it again later, so none is lost.
func (pc *PC) Receive(b byte) bool {
	ok := pc.UART.receive(b)
	pc.sync()
	return ok
}

// CanReceive reports whether Receive would take a byte now.
func (pc *PC) CanReceive() bool { return pc.UART.CanReceive() }

// TakeOutput moves the bytes the guest transmitted on COM1 since the last
// call into dst (see UART.TakeOutput) and returns how many.
func (pc *PC) TakeOutput(dst []byte) int { return pc.UART.TakeOutput(dst) }

// TakeUnclaimed returns the oldest queued first access to an unclaimed port
// under the Ignore policy (see Bus.TakeUnclaimed).
func (pc *PC) TakeUnclaimed() (a UnclaimedAccess, ok bool) { return pc.Bus.TakeUnclaimed() }

// sync passes device interrupt outputs to the PIC: an IRQ0 pulse for a
// rising edge of OUT0, and IRQ4 and IRQ8 when their levels changed. It is
// cheap enough to run after every access: three loads when nothing changed.
func (pc *PC) sync() {
	if pc.PIT.rose0 {
		pc.PIT.rose0 = false
		pc.PIC.PulseIRQ(IRQTimer)
	}
	if l := pc.UART.irq; l != pc.lines.uart {
		pc.lines.uart = l
		pc.PIC.setIRQ(IRQCOM1, l)
	}
	if l := pc.RTC.irq(); l != pc.lines.rtc {
		pc.lines.rtc = l
		pc.PIC.setIRQ(IRQRTC, l)
	}
}

// State is the complete device state of a PC, everything Digest covers,
// as one plain value: snapshots copy it whole, and a capture file carries
// its raw bytes (StateVersion names their layout).
type State struct {
	PIC   PIC
	_     [4]byte // PIT's alignment, spelled out: no byte of State is left unwritten
	PIT   PIT
	UART  UART
	RTC   RTC
	Lines pcLines
}

// StateVersion changes whenever the layout of State does, so that a
// capture made by another build is refused rather than misread.
const StateVersion = 1

// Save copies the device state into s.
func (pc *PC) Save(s *State) {
	s.PIC, s.PIT, s.UART, s.RTC, s.Lines = pc.PIC, pc.PIT, pc.UART, pc.RTC, pc.lines
}

// Load replaces the device state by s (the Bus keeps its wiring).
func (pc *PC) Load(s *State) {
	pc.PIC, pc.PIT, pc.UART, pc.RTC, pc.lines = s.PIC, s.PIT, s.UART, s.RTC, s.Lines
}

// fnvPrime is the 64-bit FNV prime.
const fnvPrime = 0x100000001b3

// Digest mixes the complete device state (PIC, PIT, UART with its FIFOs and
// output buffer, RTC with its RAM, the interrupt lines PC drove) into h, FNV-1a
// style over 8-byte words of the raw state, and returns the result. Two PCs
// given the same calls have the same digest. The Bus (wiring, policies,
// unclaimed-port reports) is not part of it.
//
// The raw bytes are a complete state because the device structs hold only
// fixed-size integers, booleans and arrays of them, with no padding (a test
// checks this): nothing in them depends on addresses or on bytes the
// program never wrote.
func (pc *PC) Digest(h uint64) uint64 {
	h = mix(h, unsafe.Pointer(&pc.PIC), unsafe.Sizeof(pc.PIC))
	h = mix(h, unsafe.Pointer(&pc.PIT), unsafe.Sizeof(pc.PIT))
	h = mix(h, unsafe.Pointer(&pc.UART), unsafe.Sizeof(pc.UART))
	h = mix(h, unsafe.Pointer(&pc.RTC), unsafe.Sizeof(pc.RTC))
	return mix(h, unsafe.Pointer(&pc.lines), unsafe.Sizeof(pc.lines))
}

// mix folds the n bytes at p into h, 8 at a time (a short tail is
// zero-extended).
func mix(h uint64, p unsafe.Pointer, n uintptr) uint64 {
	b := unsafe.Slice((*byte)(p), n)
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * fnvPrime
		b = b[8:]
	}
	if len(b) > 0 {
		var w uint64
		for i, x := range b {
			w |= uint64(x) << (8 * i)
		}
		h = (h ^ w) * fnvPrime
	}
	return h
}
