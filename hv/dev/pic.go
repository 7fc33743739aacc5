package dev

// Ports of the two 8259A PICs.
const (
	PortPICMasterCmd  = 0x20 // A0=0: ICW1, OCW2, OCW3 / read IRR, ISR or poll
	PortPICMasterData = 0x21 // A0=1: ICW2-4, OCW1 / read IMR
	PortPICSlaveCmd   = 0xA0
	PortPICSlaveData  = 0xA1
)

// cascadeIR is the master input the slave's INT output drives on a PC.
const cascadeIR = 2

// ICW1 and ICW4 bits (8259A datasheet, "Initialization Command Words").
const (
	icw1IC4  = 0x01 // ICW4 will be written
	icw1SNGL = 0x02 // single PIC, no ICW3
	icw1LTIM = 0x08 // level-triggered inputs
	icw1Init = 0x10 // this write is ICW1

	icw4UPM  = 0x01 // 8086 mode (vectors, not CALL instructions)
	icw4AEOI = 0x02 // automatic end of interrupt
	icw4SFNM = 0x10 // special fully nested mode
)

// pic8259 is one 8259A.
type pic8259 struct {
	irr, isr, imr uint8
	level         uint8 // IR input levels, for edge detection
	base          uint8 // ICW2: vector of IR0 (bits 7:3)
	icw1, icw3    uint8
	icw4          uint8
	initStep      uint8 // next ICW expected (2, 3, 4), 0 when operational
	lowest        uint8 // IR with the lowest priority (7 unless rotated)
	readISR       bool  // OCW3 RIS: A0=0 reads return ISR, else IRR
	poll          bool  // OCW3 P: the next read is a poll
	specialMask   bool  // OCW3 special mask mode
	rotateAEOI    bool  // OCW2 rotate in automatic-EOI mode
}

// prio returns the priority rank of ir (0 highest).
func (c *pic8259) prio(ir uint8) uint8 { return (ir - c.lowest - 1) & 7 }

// highest returns the IR in mask with the highest priority, or 8 if none.
func (c *pic8259) highest(mask uint8) uint8 {
	if mask == 0 {
		return 8
	}
	for r := uint8(0); r < 8; r++ {
		ir := (c.lowest + 1 + r) & 7
		if mask&(1<<ir) != 0 {
			return ir
		}
	}
	return 8
}

// request returns the IR this chip would interrupt for, or 8: the
// highest-priority unmasked request of higher priority than every
// (non-excluded) level in service.
func (c *pic8259) request(master bool) uint8 {
	ir := c.highest(c.irr &^ c.imr)
	if ir == 8 {
		return 8
	}
	inService := c.isr
	if c.specialMask {
		inService &^= c.imr // masked levels in service do not block
	}
	if master && c.icw4&icw4SFNM != 0 {
		inService &^= 1 << cascadeIR // a slave may nest its own requests
	}
	if s := c.highest(inService); s != 8 && c.prio(s) <= c.prio(ir) {
		return 8
	}
	return ir
}

func (c *pic8259) setLine(ir uint8, high bool) {
	bit := uint8(1) << ir
	switch {
	case !high:
		// The request disappears with the input (the IR input must stay
		// high until INTA, else the 8259A answers with IR7).
		c.level &^= bit
		c.irr &^= bit
	case c.level&bit == 0 || c.icw1&icw1LTIM != 0:
		c.level |= bit
		c.irr |= bit
	}
}

// ack performs the INTA for ir: clears an edge request, sets the in-service
// bit unless in automatic-EOI mode.
func (c *pic8259) ack(ir uint8) {
	bit := uint8(1) << ir
	if c.icw1&icw1LTIM == 0 {
		c.irr &^= bit
	}
	if c.icw4&icw4AEOI != 0 {
		if c.rotateAEOI {
			c.lowest = ir
		}
		return
	}
	c.isr |= bit
}

func (c *pic8259) writeCmd(v uint8) {
	switch {
	case v&icw1Init != 0: // ICW1
		c.icw1 = v
		c.initStep = 2
		c.imr, c.isr = 0, 0
		// The edge sense is reset: an input already high must go low
		// and high again (level is kept, so it needs a new rising edge).
		c.irr = 0
		if v&icw1LTIM != 0 {
			c.irr = c.level
		}
		c.lowest = 7
		c.readISR, c.poll, c.specialMask, c.rotateAEOI = false, false, false, false
		if v&icw1IC4 == 0 {
			c.icw4 = 0
		}
	case v&0x08 != 0: // OCW3
		if v&0x04 != 0 {
			c.poll = true
		}
		if v&0x02 != 0 {
			c.readISR = v&0x01 != 0
		}
		if v&0x40 != 0 {
			c.specialMask = v&0x20 != 0
		}
	default: // OCW2: R SL EOI in bits 7:5, level in 2:0
		l := v & 7
		switch v >> 5 {
		case 1, 5: // non-specific EOI; with rotate
			// In special mask mode the in-service levels that are
			// masked are not cleared by a non-specific EOI (8259A
			// datasheet, "End of Interrupt").
			inService := c.isr
			if c.specialMask {
				inService &^= c.imr
			}
			ir := c.highest(inService)
			if ir == 8 {
				return
			}
			c.isr &^= 1 << ir
			if v>>5 == 5 {
				c.lowest = ir
			}
		case 3: // specific EOI
			c.isr &^= 1 << l
		case 7: // rotate on specific EOI
			c.isr &^= 1 << l
			c.lowest = l
		case 6: // set priority
			c.lowest = l
		case 4:
			c.rotateAEOI = true
		case 0:
			c.rotateAEOI = false
		}
	}
}

func (c *pic8259) writeData(v uint8) {
	switch c.initStep {
	case 2: // ICW2
		c.base = v & 0xF8
		switch {
		case c.icw1&icw1SNGL == 0:
			c.initStep = 3
		case c.icw1&icw1IC4 != 0:
			c.initStep = 4
		default:
			c.initStep = 0
		}
	case 3: // ICW3
		c.icw3 = v
		c.initStep = 0
		if c.icw1&icw1IC4 != 0 {
			c.initStep = 4
		}
	case 4: // ICW4
		c.icw4 = v
		c.initStep = 0
	default: // OCW1
		c.imr = v
	}
}

// PIC is the PC's pair of 8259A interrupt controllers: the master at
// 0x20/0x21 takes IRQ0-7, the slave at 0xA0/0xA1 takes IRQ8-15, and the
// slave's INT output drives the master's IR2 (the cascade). Inputs are
// edge-triggered unless ICW1 selects level mode (LTIM); Linux uses edge.
// Priority is fully nested (IR0 highest) unless rotated by OCW2.
//
// Emulated (8259A datasheet): ICW1-4 (LTIM level/edge, SNGL, IC4; ICW4
// AEOI and SFNM), OCW1 masks, OCW2 non-specific, specific and automatic EOI
// with the rotate and set-priority commands, OCW3 IRR/ISR reads (RR/RIS),
// the poll command and special mask mode (ESMM/SMM), spurious IR7 (a
// request withdrawn before INTA). The slave's INT is re-evaluated on every
// change and INTA is one step, so the master's IR2 never outlives the
// slave's request: spurious IRQ15 (a slave request dropped inside the INTA
// cycle) cannot arise, though Acknowledge would answer it as the datasheet
// says.
// Not emulated: MCS-80/85 mode (ICW4 uPM=0 still yields 8086 vectors), the
// buffered-mode and slave-address checks (the slave always answers on IR2),
// ICW1's call address interval.
//
// PC drives IRQ0 (pulses), IRQ4 and IRQ8 (levels) from its devices; the
// hypervisor may drive other inputs with RaiseIRQ/LowerIRQ/PulseIRQ, asks
// PendingVector whether to inject, and calls Acknowledge (the INTA cycle)
// when it injects. The state is plain bytes (see PC.Digest).
type PIC struct {
	chip [2]pic8259
}

// reset leaves the pair as a PC BIOS does: vectors 0x08 (master) and 0x70
// (slave), cascade on IR2, 8086 mode, normal EOI, edge-triggered, every
// input masked except the cascade. Guests reprogram it with ICW1-4.
func (p *PIC) reset() {
	p.chip[0] = pic8259{base: 0x08, icw1: icw1Init | icw1IC4, icw3: 1 << cascadeIR, icw4: icw4UPM, imr: 0xFB, lowest: 7}
	p.chip[1] = pic8259{base: 0x70, icw1: icw1Init | icw1IC4, icw3: cascadeIR, icw4: icw4UPM, imr: 0xFF, lowest: 7}
}

func (p *PIC) cascaded() bool {
	m := &p.chip[0]
	return m.icw1&icw1SNGL == 0 && m.icw3&(1<<cascadeIR) != 0
}

// update drives the master's IR2 from the slave's INT output.
func (p *PIC) update() {
	p.chip[0].setLine(cascadeIR, p.chip[1].request(false) != 8)
}

// RaiseIRQ sets input line n (0-15) high; on an edge-triggered input a
// low-to-high transition latches a request. IRQ2 is the cascade input and
// cannot be driven from outside (ignored), as are numbers above 15.
func (p *PIC) RaiseIRQ(n int) { p.setIRQ(n, true) }

// LowerIRQ sets input line n low, withdrawing its request if not yet
// acknowledged.
func (p *PIC) LowerIRQ(n int) { p.setIRQ(n, false) }

// PulseIRQ lowers then raises line n: one rising edge, leaving the line high,
// as the 8254's OUT0 in rate-generator mode presents each tick.
func (p *PIC) PulseIRQ(n int) {
	p.setIRQ(n, false)
	p.setIRQ(n, true)
}

func (p *PIC) setIRQ(n int, high bool) {
	if n < 0 || n > 15 || n == cascadeIR {
		return
	}
	p.chip[n>>3].setLine(uint8(n&7), high)
	p.update()
}

// PendingVector returns the vector the pair would deliver now: the
// highest-priority unmasked request not blocked by one in service, resolved
// through the slave for IR2. ok is false when INT is low.
func (p *PIC) PendingVector() (vector uint8, ok bool) {
	m := &p.chip[0]
	ir := m.request(true)
	if ir == 8 {
		return 0, false
	}
	if ir == cascadeIR && p.cascaded() {
		s := &p.chip[1]
		sir := s.request(false)
		if sir == 8 {
			return s.base | 7, true // spurious IRQ15
		}
		return s.base | sir, true
	}
	return m.base | ir, true
}

// Acknowledge performs the INTA cycle and returns the vector: the request
// moves from IRR to ISR (unless in automatic-EOI mode). With no request it
// returns the spurious vector of IR7 (master base + 7) and sets no ISR bit;
// if the master's request is the cascade but the slave's vanished, the master
// sets ISR2 and the slave returns its IR7 vector (spurious IRQ15), as the
// 8259A does.
func (p *PIC) Acknowledge() uint8 {
	m := &p.chip[0]
	ir := m.request(true)
	if ir == 8 {
		return m.base | 7
	}
	m.ack(ir)
	v := m.base | ir
	if ir == cascadeIR && p.cascaded() {
		s := &p.chip[1]
		sir := s.request(false)
		if sir == 8 {
			v = s.base | 7
		} else {
			s.ack(sir)
			v = s.base | sir
		}
	}
	p.update()
	return v
}

// Unmasked reports whether the master has an unmasked request (a slave's
// reaches it on IR2): without one PendingVector has nothing. One load and a
// mask, for the exit path to ask at every landmark.
func (p *PIC) Unmasked() bool { return p.chip[0].irr&^p.chip[0].imr != 0 }

// Registers returns the IRR, ISR and IMR of both chips, IRQ8-15 in the high
// byte (for the debugger and state digests).
func (p *PIC) Registers() (irr, isr, imr uint16) {
	m, s := &p.chip[0], &p.chip[1]
	return uint16(m.irr) | uint16(s.irr)<<8, uint16(m.isr) | uint16(s.isr)<<8, uint16(m.imr) | uint16(s.imr)<<8
}

func picIndex(port uint16) (chip int, data bool, ok bool) {
	switch port {
	case PortPICMasterCmd:
		return 0, false, true
	case PortPICMasterData:
		return 0, true, true
	case PortPICSlaveCmd:
		return 1, false, true
	case PortPICSlaveData:
		return 1, true, true
	}
	return 0, false, false
}

// In implements Device for ports 0x20, 0x21, 0xA0, 0xA1.
func (p *PIC) In(port uint16, size int) uint32 {
	i, data, ok := picIndex(port)
	if !ok {
		return 0xFF
	}
	c := &p.chip[i]
	if c.poll {
		// Poll: acts as INTA for this chip; returns 1000_0LLL, or 0.
		c.poll = false
		ir := c.request(i == 0)
		if ir == 8 {
			return 0
		}
		c.ack(ir)
		p.update()
		return 0x80 | uint32(ir)
	}
	switch {
	case data:
		return uint32(c.imr)
	case c.readISR:
		return uint32(c.isr)
	}
	return uint32(c.irr)
}

// Out implements Device for ports 0x20, 0x21, 0xA0, 0xA1.
func (p *PIC) Out(port uint16, size int, v uint32) {
	i, data, ok := picIndex(port)
	if !ok {
		return
	}
	if data {
		p.chip[i].writeData(uint8(v))
	} else {
		p.chip[i].writeCmd(uint8(v))
	}
	p.update()
}
