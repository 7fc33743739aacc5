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

// Register bits (PC16550D datasheet names).
const (
	ierERBFI = 0x01 // received data available
	ierETBEI = 0x02 // transmitter holding register empty
	ierELSI  = 0x04 // receiver line status
	ierEDSSI = 0x08 // modem status

	iirNoInt   = 0x01
	iirLineSt  = 0x06
	iirRxData  = 0x04
	iirTimeout = 0x0C
	iirTHRE    = 0x02
	iirModemSt = 0x00
	iirFIFOs   = 0xC0

	fcrEnable  = 0x01
	fcrClearRx = 0x02

	lcrDLAB = 0x80

	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOUT1 = 0x04
	mcrOUT2 = 0x08
	mcrLOOP = 0x10

	lsrDR   = 0x01
	lsrOE   = 0x02
	lsrErrs = 0x1E // OE, PE, FE, BI
	lsrTHRE = 0x20
	lsrTEMT = 0x40

	msrCTS = 0x10
	msrDSR = 0x20
	msrRI  = 0x40
	msrDCD = 0x80
)

// UARTFIFOSize is the depth of the 16550A receiver FIFO.
const UARTFIFOSize = 16

// UART is a 16550A (COM1: ports 0x3F8-0x3FF, IRQ4).
//
// Transmission is immediate: a byte written to THR goes to the sink (or,
// in loopback, into the receiver) during the write, so LSR always shows
// THRE|TEMT and a THR-empty interrupt is pending again right after each
// write. Input comes only through Receive, which the recorder logs.
//
// Interrupts follow the datasheet's priorities (line status, received data
// or character timeout, THR empty, modem status) and reset conditions: the
// THRE interrupt is raised when ETBEI is set while THR is empty (and after
// every THR write, and after FIFOs are switched on or off), and cleared by a
// read of IIR that reports it or by a THR write. The character-timeout
// indication (IIR 0x0C) has no clock to wait for: in FIFO mode it is
// reported at once whenever data below the trigger level waits.
//
// IRQ reports the IRQ4 line as a PC wires it: the chip's INTR gated by
// MCR OUT2, and low in loopback mode (the outputs are forced inactive).
// The modem inputs are CTS, DSR and DCD asserted, RI not (MSR 0xB0),
// or in loopback the MCR outputs looped back (CTS=RTS, DSR=DTR, RI=OUT1,
// DCD=OUT2), with the delta bits of MSR 3:0 set on every change.
type UART struct {
	sink func(b byte)
	uartState
}

// uartState is everything but the sink, so Reset stores no pointer.
type uartState struct {
	rx     [UARTFIFOSize]byte
	rxHead uint8
	rxLen  uint8
	rbr    uint8 // last byte read from the receiver

	ier, lcr, mcr, fcr, scr uint8
	dll, dlm                uint8
	lsrErr                  uint8 // OE/PE/FE/BI, cleared by reading LSR
	msr                     uint8 // modem inputs (7:4) and deltas (3:0)
	thrPending              bool  // THRE interrupt source latched
	irq                     bool  // IRQ4 line: irqLine() after the last change
}

// NewUART returns a UART in its reset state whose transmitted bytes go to
// sink (nil drops them).
func NewUART(sink func(b byte)) *UART {
	u := &UART{sink: sink}
	u.Reset()
	return u
}

// SetSink replaces the output sink.
func (u *UART) SetSink(sink func(b byte)) { u.sink = sink }

// Reset sets the master-reset values of the datasheet (IER, FCR, LCR, MCR
// zero; LSR 0x60; IIR 0x01), empties the receiver, and leaves the divisor
// latch at 12 (9600 baud) as a BIOS would.
func (u *UART) Reset() {
	u.uartState = uartState{dll: 12, msr: msrCTS | msrDSR | msrDCD}
	u.irq = u.irqLine()
}

func (u *UART) fifo() bool { return u.fcr&fcrEnable != 0 }

func (u *UART) rxCap() uint8 {
	if u.fifo() {
		return UARTFIFOSize
	}
	return 1 // 16450 mode: the receiver buffer register alone
}

func (u *UART) rxTrigger() uint8 {
	return [4]uint8{1, 4, 8, 14}[u.fcr>>6]
}

// CanReceive reports whether Receive would take a byte now.
func (u *UART) CanReceive() bool {
	return u.mcr&mcrLOOP == 0 && u.rxLen < u.rxCap()
}

// Receive offers one byte from the outside world (the host console, or a
// replayed log record). It returns false, taking nothing, when the receiver
// is full or in loopback mode (its input is disconnected): the caller keeps
// the byte and offers it again later, so no input is lost to overrun.
func (u *UART) Receive(b byte) bool {
	if !u.CanReceive() {
		return false
	}
	u.push(b)
	u.irq = u.irqLine()
	return true
}

func (u *UART) push(b byte) {
	u.rx[(u.rxHead+u.rxLen)%UARTFIFOSize] = b
	u.rxLen++
}

// loopbackRx is the transmitter's shift register feeding the receiver:
// when the receiver is full the byte is an overrun.
func (u *UART) loopbackRx(b byte) {
	if u.rxLen < u.rxCap() {
		u.push(b)
		return
	}
	u.lsrErr |= lsrOE
	if !u.fifo() {
		// 16450 mode: the new character replaces the unread one.
		u.rx[u.rxHead] = b
	}
	// FIFO mode: the character in the shift register is lost.
}

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

// IRQ reports the level of the IRQ4 line: an interrupt is pending, OUT2 is
// set, and the UART is not in loopback. The caller compares it after each
// access and Receive and raises or lowers PIC IRQ4 on a change. The level is
// worked out when the state changes (In, Out, Receive, Reset), so IRQ costs
// a load: PC checks it after every port access, not only the UART's.
func (u *UART) IRQ() bool { return u.irq }

func (u *UART) irqLine() bool {
	return u.iir()&iirNoInt == 0 && u.mcr&(mcrOUT2|mcrLOOP) == mcrOUT2
}

func (u *UART) lsr() uint8 {
	v := u.lsrErr | lsrTHRE | lsrTEMT
	if u.rxLen > 0 {
		v |= lsrDR
	}
	return v
}

// setModemInputs changes MSR 7:4 and records the deltas.
func (u *UART) setModemInputs(in uint8) {
	old := u.msr & 0xF0
	ch := old ^ in
	d := uint8(0)
	if ch&msrCTS != 0 {
		d |= 0x01 // DCTS
	}
	if ch&msrDSR != 0 {
		d |= 0x02 // DDSR
	}
	if old&msrRI != 0 && in&msrRI == 0 {
		d |= 0x04 // TERI: trailing edge of ring indicator
	}
	if ch&msrDCD != 0 {
		d |= 0x08 // DDCD
	}
	u.msr = in | (u.msr&0x0F | d)
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
			u.rbr = u.rx[u.rxHead]
			u.rxHead = (u.rxHead + 1) % UARTFIFOSize
			u.rxLen--
		}
		return uint32(u.rbr)
	case uartIER:
		if u.lcr&lcrDLAB != 0 {
			return uint32(u.dlm)
		}
		return uint32(u.ier)
	case uartIIR:
		v := u.iir()
		if v&0x0F == iirTHRE {
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
		if u.mcr&mcrLOOP != 0 {
			u.loopbackRx(b)
		} else if u.sink != nil {
			u.sink(b)
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
		u.ier = b & 0x0F // bits 7:4 are always 0 on a 16550A
		if u.ier&ierETBEI != 0 && old&ierETBEI == 0 {
			u.thrPending = true // THR is always empty
		}
	case uartIIR: // FCR
		if (b^u.fcr)&fcrEnable != 0 {
			// Switching FIFO mode clears the FIFOs; the first THRE
			// interrupt after it is immediate.
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
		u.fcr = b & 0xC9 // trigger level, DMA mode select, enable
	case uartLCR:
		u.lcr = b
	case uartMCR:
		u.mcr = b & 0x1F // bits 7:5 are always 0 on a 16550A
		u.setModemInputs(u.modemInputs())
	case uartLSR, uartMSR:
		// Read-only in practice (the datasheet advises against writes).
	case uartSCR:
		u.scr = b
	}
}
