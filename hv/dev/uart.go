package dev

// COM1, the UART the guests use.
const (
	PortCOM1 = 0x3F8 // base; registers at base+0 .. base+7
	IRQCOM1  = 4
)

// 16550A register offsets.
const (
	uartRBR = 0 // read: receiver buffer; write: THR; DLAB: DLL
	uartIER = 1 // DLAB: DLM
	uartIIR = 2 // read: IIR; write: FCR
	uartLCR = 3
	uartMCR = 4
	uartLSR = 5
	uartMSR = 6
	uartSCR = 7
)

// Register bits (National PC16550D datasheet names).
const (
	ierERBFI = 0x01 // received data available
	ierETBEI = 0x02 // transmitter holding register empty
	ierELSI  = 0x04 // receiver line status
	ierEDSSI = 0x08 // modem status
	ierMask  = 0x0F // bits 7:4 are always 0

	iirNoInt   = 0x01 // no interrupt pending
	iirLineSt  = 0x06 // receiver line status (highest priority)
	iirRxData  = 0x04 // received data available
	iirTimeout = 0x0C // character timeout
	iirTHRE    = 0x02 // transmitter holding register empty
	iirModemSt = 0x00 // modem status (lowest)
	iirIDMask  = 0x0F
	iirFIFOs   = 0xC0 // FIFOs enabled (FCR0 = 1)

	fcrEnable  = 0x01 // FIFO enable
	fcrClearRx = 0x02 // receiver FIFO reset
	fcrClearTx = 0x04 // transmitter FIFO reset
	fcrDMA     = 0x08 // DMA mode select (RXRDY/TXRDY pins: not wired on a PC)
	fcrTrigger = 0xC0 // receiver trigger level: 1, 4, 8, 14 bytes

	lcrWLS  = 0x03 // word length select: 5 + WLS bits
	lcrDLAB = 0x80 // divisor latch access

	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOUT1 = 0x04
	mcrOUT2 = 0x08
	mcrLOOP = 0x10
	mcrMask = 0x1F // bits 7:5 are always 0

	lsrDR   = 0x01 // data ready
	lsrOE   = 0x02 // overrun error
	lsrErrs = 0x1E // OE, PE, FE, BI: cleared by reading LSR
	lsrTHRE = 0x20 // transmitter holding register (TX FIFO) empty
	lsrTEMT = 0x40 // transmitter empty

	msrDCTS = 0x01
	msrDDSR = 0x02
	msrTERI = 0x04
	msrDDCD = 0x08
	msrCTS  = 0x10
	msrDSR  = 0x20
	msrRI   = 0x40
	msrDCD  = 0x80
)

// UARTFIFOSize is the depth of the 16550A's receiver and transmitter FIFOs.
const UARTFIFOSize = 16

// UARTOutputSize is the capacity of the buffer that holds transmitted bytes
// until TakeOutput takes them (a power of two).
const UARTOutputSize = 1024

// UART is a 16550A (COM1: ports 0x3F8-0x3FF, IRQ4).
//
// Transmission is immediate: a byte written to THR leaves within the same
// instant (into the output buffer, or in loopback into the receiver), so
// the transmitter FIFO is empty whenever the guest looks, LSR shows THRE and
// TEMT, and a THR-empty interrupt is pending again right after each write.
// Transmitted bytes wait in a fixed buffer for TakeOutput; when it is full,
// further bytes are dropped and counted (OutputDropped), so the guest never
// sees the host's pace. Input comes only through PC.Receive.
//
// Interrupts follow the PC16550D's priorities (receiver line status,
// received data or character timeout, THR empty, modem status) and reset
// conditions. The THRE interrupt is raised when ETBEI goes from 0 to 1 (THR
// is always empty), when THR empties after a write and when FCR0 changes,
// and is cleared by a read of IIR that reports it or by a THR write. The character timeout
// (IIR 0x0C) needs a clock the UART does not have (its ports are not timed,
// see PC.Timed): in FIFO mode it is reported at once whenever fewer bytes
// than the trigger level wait.
//
// The IRQ4 line is the chip's INTRPT gated by MCR OUT2, as a PC wires it,
// and low in loopback (the outputs are forced inactive). The modem inputs
// are CTS, DSR and DCD asserted and RI not (MSR 0xB0), or in loopback the
// MCR outputs looped back (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2), with the
// delta bits of MSR 3:0 set on every change. Bytes on the line carry the
// LCR word length (5-8 bits; higher bits read 0). Not emulated: parity,
// framing and break errors (the line never has them; LCR's parity, stop and
// break bits are kept only), the baud rate (the divisor latch is kept only).
//
// Fields are ordered so that the struct has no padding (see PC.Digest).
type UART struct {
	dropped         uint64 // transmitted bytes lost to a full output buffer
	outHead, outLen uint16 // output ring
	rx              [UARTFIFOSize]byte
	outBuf          [UARTOutputSize]byte
	rxHead, rxLen   uint8 // receiver FIFO ring
	rbr             uint8 // last byte read from the receiver

	ier, lcr, mcr, fcr, scr uint8
	dll, dlm                uint8
	lsrErr                  uint8 // OE/PE/FE/BI, cleared by reading LSR
	msr                     uint8 // modem inputs (7:4) and deltas (3:0)
	thrPending              bool  // THRE interrupt source latched
	irq                     bool  // IRQ4 line: irqLine() after the last change
	_                       [6]byte
}

// reset leaves the UART as a PC BIOS hands it to a kernel: the
// datasheet's master-reset values (IER, FCR, MCR zero; LSR 0x60; IIR
// 0x01), empty FIFOs and output buffer, then the BIOS's 9600 baud
// (divisor 12) and 8 data bits, no parity, 1 stop bit (LCR 0x03): guests
// that print without programming the line (hindsight's test guests, many
// small kernels) get whole bytes.
func (u *UART) reset() {
	*u = UART{dll: 12, lcr: lcrWLS, msr: msrCTS | msrDSR | msrDCD}
	u.irq = u.irqLine()
}

func (u *UART) fifo() bool { return u.fcr&fcrEnable != 0 }

// rxCap is the receiver's capacity: the FIFO, or in 16450 mode (FIFOs off)
// the receiver buffer register alone.
func (u *UART) rxCap() uint8 {
	if u.fifo() {
		return UARTFIFOSize
	}
	return 1
}

func (u *UART) rxTrigger() uint8 {
	return [4]uint8{1, 4, 8, 14}[u.fcr>>6]
}

// wordMask keeps the bits of a character of the LCR word length.
func (u *UART) wordMask() uint8 { return 0xFF >> (3 - u.lcr&lcrWLS) }

// CanReceive reports whether the receiver takes a byte now: not in loopback
// (its input is disconnected) and not full.
func (u *UART) CanReceive() bool {
	return u.mcr&mcrLOOP == 0 && u.rxLen < u.rxCap()
}

// receive takes one byte from the outside world, or returns false (the
// caller keeps the byte and offers it later: no input is lost to overrun).
func (u *UART) receive(b byte) bool {
	if !u.CanReceive() {
		return false
	}
	u.push(b & u.wordMask())
	u.irq = u.irqLine()
	return true
}

func (u *UART) push(b byte) {
	u.rx[(u.rxHead+u.rxLen)%UARTFIFOSize] = b
	u.rxLen++
}

// TakeOutput moves the bytes transmitted since the last call, oldest first,
// into dst and returns how many; what does not fit stays for the next call.
func (u *UART) TakeOutput(dst []byte) int {
	n := min(len(dst), int(u.outLen))
	for i := range dst[:n] {
		dst[i] = u.outBuf[(int(u.outHead)+i)%UARTOutputSize]
	}
	u.outHead = uint16((int(u.outHead) + n) % UARTOutputSize)
	u.outLen -= uint16(n)
	return n
}

// OutputDropped returns how many transmitted bytes were lost because the
// output buffer was full (TakeOutput not called often enough).
func (u *UART) OutputDropped() uint64 { return u.dropped }

func (u *UART) transmit(b byte) {
	if u.outLen == UARTOutputSize {
		u.dropped++
		return
	}
	u.outBuf[(int(u.outHead)+int(u.outLen))%UARTOutputSize] = b
	u.outLen++
}

// loopbackRx is the transmitter's shift register feeding the receiver: when
// the receiver is full the character is an overrun.
func (u *UART) loopbackRx(b byte) {
	if u.rxLen < u.rxCap() {
		u.push(b)
		return
	}
	u.lsrErr |= lsrOE
	if !u.fifo() {
		// 16450 mode: the new character replaces the unread one.
		u.rx[u.rxHead%UARTFIFOSize] = b
	}
	// FIFO mode: the character in the shift register is lost.
}

// iir is the interrupt identification: the highest-priority pending source.
func (u *UART) iir() uint8 {
	id := uint8(iirNoInt)
	switch {
	case u.ier&ierELSI != 0 && u.lsrErr != 0:
		id = iirLineSt
	case u.ier&ierERBFI != 0 && u.rxLen > 0:
		id = iirRxData
		if u.fifo() && u.rxLen < u.rxTrigger() {
			id = iirTimeout
		}
	case u.ier&ierETBEI != 0 && u.thrPending:
		id = iirTHRE
	case u.ier&ierEDSSI != 0 && u.msr&0x0F != 0:
		id = iirModemSt
	}
	if u.fifo() {
		id |= iirFIFOs
	}
	return id
}

func (u *UART) irqLine() bool {
	return u.iir()&iirNoInt == 0 && u.mcr&(mcrOUT2|mcrLOOP) == mcrOUT2
}

func (u *UART) lsr() uint8 {
	v := u.lsrErr | lsrTHRE | lsrTEMT
	if u.rxLen > 0 {
		v |= lsrDR
	}
	return v // bit 7 (error in receiver FIFO): no PE/FE/BI ever enter it
}

// setModemInputs changes MSR 7:4 and records the deltas.
func (u *UART) setModemInputs(in uint8) {
	old := u.msr & 0xF0
	ch := old ^ in
	d := uint8(0)
	if ch&msrCTS != 0 {
		d |= msrDCTS
	}
	if ch&msrDSR != 0 {
		d |= msrDDSR
	}
	if old&msrRI != 0 && in&msrRI == 0 {
		d |= msrTERI // trailing edge of ring indicator
	}
	if ch&msrDCD != 0 {
		d |= msrDDCD
	}
	u.msr = in | u.msr&0x0F | d
}

func (u *UART) modemInputs() uint8 {
	if u.mcr&mcrLOOP == 0 {
		return msrCTS | msrDSR | msrDCD
	}
	var in uint8
	if u.mcr&mcrRTS != 0 {
		in |= msrCTS
	}
	if u.mcr&mcrDTR != 0 {
		in |= msrDSR
	}
	if u.mcr&mcrOUT1 != 0 {
		in |= msrRI
	}
	if u.mcr&mcrOUT2 != 0 {
		in |= msrDCD
	}
	return in
}

// In implements Device for ports 0x3F8-0x3FF.
func (u *UART) In(port uint16, size int) uint32 {
	v := u.in(port)
	u.irq = u.irqLine()
	return v
}

func (u *UART) in(port uint16) uint32 {
	switch port & 7 {
	case uartRBR:
		if u.lcr&lcrDLAB != 0 {
			return uint32(u.dll)
		}
		if u.rxLen > 0 {
			u.rbr = u.rx[u.rxHead%UARTFIFOSize]
			u.rxHead = (u.rxHead + 1) % UARTFIFOSize
			u.rxLen--
		}
		return uint32(u.rbr) // empty: the last character again
	case uartIER:
		if u.lcr&lcrDLAB != 0 {
			return uint32(u.dlm)
		}
		return uint32(u.ier)
	case uartIIR:
		v := u.iir()
		if v&iirIDMask == iirTHRE {
			u.thrPending = false // reading IIR that reports THRE clears it
		}
		return uint32(v)
	case uartLCR:
		return uint32(u.lcr)
	case uartMCR:
		return uint32(u.mcr)
	case uartLSR:
		v := u.lsr()
		u.lsrErr = 0
		return uint32(v)
	case uartMSR:
		v := u.msr
		u.msr &= 0xF0
		return uint32(v)
	}
	return uint32(u.scr)
}

// Out implements Device for ports 0x3F8-0x3FF.
func (u *UART) Out(port uint16, size int, v uint32) {
	u.out(port, uint8(v))
	u.irq = u.irqLine()
}

func (u *UART) out(port uint16, b uint8) {
	switch port & 7 {
	case uartRBR:
		if u.lcr&lcrDLAB != 0 {
			u.dll = b
			return
		}
		b &= u.wordMask()
		if u.mcr&mcrLOOP != 0 {
			u.loopbackRx(b) // the output pin stays marking
		} else {
			u.transmit(b)
		}
		// The write cleared THRE; the byte left at once, so THR is empty
		// again and the THRE interrupt is pending anew.
		u.thrPending = true
	case uartIER:
		if u.lcr&lcrDLAB != 0 {
			u.dlm = b
			return
		}
		old := u.ier
		u.ier = b & ierMask
		if u.ier&ierETBEI != 0 && old&ierETBEI == 0 {
			u.thrPending = true // THR is always empty
		}
	case uartIIR: // FCR
		// Changing FCR0 clears both FIFOs (the transmitter's is always
		// empty already, as fcrClearTx finds it), and "the transmitter
		// interrupt after changing FCR0 will be immediate, if it is
		// enabled" (PC16550D, "FIFO Interrupt Mode Operation").
		if (b^u.fcr)&fcrEnable != 0 {
			u.rxHead, u.rxLen = 0, 0
			u.thrPending = true
		}
		if b&fcrEnable == 0 {
			u.fcr = 0 // with FCR0 clear the other bits are not programmed
			return
		}
		if b&fcrClearRx != 0 {
			u.rxHead, u.rxLen = 0, 0
		}
		u.fcr = b & (fcrEnable | fcrDMA | fcrTrigger)
	case uartLCR:
		u.lcr = b
	case uartMCR:
		u.mcr = b & mcrMask
		u.setModemInputs(u.modemInputs())
	case uartLSR, uartMSR:
		// Factory test registers: the datasheet advises against writes.
	case uartSCR:
		u.scr = b
	}
}
