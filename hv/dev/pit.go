package dev

// Ports of the 8254 programmable interval timer and of system control port B.
const (
	PortPIT0    = 0x40 // counter 0: OUT0 drives IRQ0
	PortPIT1    = 0x41 // counter 1: (was DRAM refresh) OUT1 unconnected
	PortPIT2    = 0x42 // counter 2: speaker / calibration, GATE2 is port 0x61 bit 0
	PortPITCtrl = 0x43 // control word register (write only)
	PortSysCtlB = 0x61 // system control port B (NMI status and control)
)

// PITHz is the 8254 input clock of a PC (CLK0-2): device time is counted in
// these ticks.
const PITHz = 1193182

// Control word fields (Intel 8254 datasheet, "Control Word Format"):
// SC1:SC0 in bits 7:6, RW1:RW0 in 5:4, M2:M0 in 3:1, BCD in 0.
const (
	pitRWLatch = 0 // counter latch command
	pitRWLo    = 1 // read/write least significant byte only
	pitRWHi    = 2 // most significant byte only
	pitRWLoHi  = 3 // least significant byte first, then most significant
	pitBCD     = 0x01

	pitSCReadBack     = 3    // SC1:SC0 = 11: read-back command
	pitReadBackCount  = 0x20 // read-back bit 5: 0 = latch count
	pitReadBackStatus = 0x10 // read-back bit 4: 0 = latch status

	pitStatusOut  = 0x80 // status bit 7: OUT pin
	pitStatusNull = 0x40 // status bit 6: null count
)

// Port 0x61 bits (PC/AT technical reference, "System Control Port B").
const (
	sysCtlGate2    = 0x01 // write: counter 2 GATE
	sysCtlWritable = 0x0F // speaker data (1), parity (2) and channel (3) check enables: kept
	sysCtlRefresh  = 0x10 // read: toggles with each refresh request
	sysCtlOut2     = 0x20 // read: counter 2 OUT

	// refreshTicks is the refresh request period, 15.085 us, in PIT ticks.
	refreshTicks = 18
)

// Counter states.
const (
	pitIdle  = 0 // control word written, no count yet: the counter does not count
	pitLoad  = 1 // the count register is copied into the counting element on the next CLK pulse
	pitCount = 2 // counting
	pitArmed = 3 // modes 1 and 5: count written, waiting for the first GATE trigger
)

// pitCounter is one 8254 counter. CLK pulses arrive at every integer device
// time; an access at device time t falls between pulse t and pulse t+1. The
// state is the counter's after the pulse at PIT.now.
//
// Fields are ordered so that the struct has no padding (see PC.Digest).
type pitCounter struct {
	ctrl          uint8 // control word bits 5:0 as written (RW, M2:M0, BCD): the status byte's low bits
	mode          uint8 // 0-5 (M2:M0 = 11x are modes 2 and 3)
	state         uint8 // pitIdle, pitLoad, pitCount, pitArmed
	out           bool  // OUT
	gate          bool  // GATE
	null          bool  // null count: the count register has not reached the counting element yet
	held          bool  // mode 0: first byte of a two-byte count written: counting disabled
	done          bool  // modes 4, 5: the strobe of this count has happened
	odd           bool  // mode 3: the count loaded for this half-cycle is odd
	writeHi       bool  // two-byte access: the next write is the most significant byte
	readHi        bool  // two-byte access: the next read is the most significant byte
	latched       bool  // the output latch holds a latched count
	statusLatched bool  // a status byte is latched: the next read returns it
	status        uint8
	crLo          uint8 // least significant byte of a two-byte count being written
	_             uint8
	cr            uint16 // count register as written (BCD digits if ctrl has BCD)
	ce            uint16 // counting element, binary (BCD counting keeps 0-9999 here)
	ol            uint16 // output latch
}

func (c *pitCounter) rw() uint8 { return c.ctrl >> 4 & 3 }

// modulus is the number of distinct counts: 2^16 binary, 10^4 BCD.
func (c *pitCounter) modulus() uint64 {
	if c.ctrl&pitBCD != 0 {
		return 10000
	}
	return 65536
}

// initial returns the count register's value, 1..modulus: an initial count
// of 0 is the maximum (8254 datasheet, "Minimum and Maximum Initial
// Counts"). BCD digits above 9 count with their binary weight.
func (c *pitCounter) initial() uint64 {
	v := uint64(c.cr)
	m := c.modulus()
	if c.ctrl&pitBCD != 0 {
		v = ((v>>12&15)*1000 + (v>>8&15)*100 + (v>>4&15)*10 + v&15) % m
	}
	if v == 0 {
		v = m
	}
	return v
}

// period is the initial count in modes 2 and 3, whose minimum is 2
// (datasheet table "Minimum and Maximum Initial Counts"): 1 counts as 2.
func (c *pitCounter) period() uint64 { return max(c.initial(), 2) }

// dist is the number of decrements that bring the counting element to 0
// (a 0 in it is the full modulus away).
func (c *pitCounter) dist(m uint64) uint64 {
	if c.ce == 0 {
		return m
	}
	return uint64(c.ce)
}

// sub returns the counting element decremented k times, wrapping at m.
func (c *pitCounter) sub(k, m uint64) uint16 {
	return uint16((uint64(c.ce) + m - k%m) % m)
}

// count is the counting element as the guest reads it.
func (c *pitCounter) count() uint16 {
	v := c.ce
	if c.ctrl&pitBCD != 0 {
		v = (v/1000)<<12 | (v/100%10)<<8 | (v/10%10)<<4 | v%10
	}
	return v
}

// mode3Start is the value a mode 3 half-cycle starts from: the count, or
// the count minus one if it is odd (datasheet, mode 3).
func mode3Start(p, m uint64) uint16 {
	if p&1 != 0 {
		p--
	}
	return uint16(p % m)
}

// mode3Half is the length in CLK pulses of a mode 3 half-cycle of period p
// with OUT at level high: (N+1)/2 high and (N-1)/2 low for odd N.
func mode3Half(p uint64, high bool) uint64 {
	if high {
		return (p + 1) / 2
	}
	return p / 2
}

// halfLeft is the number of CLK pulses to the end of the current mode 3
// half-cycle. The counting element goes down by two per pulse; with an
// even count the half-cycle ends on the pulse that reaches 0, with an odd
// count OUT stays high one pulse longer (0 shows for that pulse) and goes
// low on the pulse that reaches 0.
func (c *pitCounter) halfLeft(m uint64) uint64 {
	switch {
	case !c.odd:
		return c.dist(m) / 2
	case c.out:
		return uint64(c.ce)/2 + 1
	}
	return uint64(c.ce) / 2
}

// flip ends a mode 3 half-cycle: OUT toggles and the count register is
// reloaded.
func (c *pitCounter) flip(p, m uint64) {
	c.out = !c.out
	c.odd = p&1 != 0
	c.ce = mode3Start(p, m)
	c.null = false
}

// load copies the count register into the counting element (the CLK pulse
// after a count write, or after a trigger).
func (c *pitCounter) load() {
	m := c.modulus()
	c.state = pitCount
	c.null = false
	switch c.mode {
	case 0:
		c.ce = uint16(c.initial() % m)
	case 1: // the one-shot pulse starts: OUT low
		c.ce = uint16(c.initial() % m)
		c.out = false
	case 2:
		c.ce = uint16(c.period() % m)
		c.out = true
	case 3:
		p := c.period()
		c.ce = mode3Start(p, m)
		c.odd = p&1 != 0
		c.out = true
	default: // 4, 5: a new strobe
		c.ce = uint16(c.initial() % m)
		c.out = true
		c.done = false
	}
}

// advance applies n CLK pulses with GATE constant and reports whether OUT
// rose among them (the PIC latches one edge; how many does not matter). It
// is exact for any n: advance(a) then advance(b) leaves the same state as
// advance(a+b).
func (c *pitCounter) advance(n uint64) (rose bool) {
	if n == 0 {
		return false
	}
	if c.state == pitLoad {
		low := !c.out
		c.load()
		rose = low && c.out // a mode 4/5 strobe ended on the load pulse
		n--
	}
	if c.state != pitCount || n == 0 {
		return rose
	}
	m := c.modulus()
	switch c.mode {
	case 0, 1:
		// Mode 0 counts while GATE is high; mode 1 once triggered.
		if c.mode == 0 && (c.held || !c.gate) {
			return rose
		}
		if !c.out && n >= c.dist(m) {
			c.out, rose = true, true // terminal count
		}
		c.ce = c.sub(n, m)
	case 4, 5:
		counting := c.mode == 5 || c.gate
		if !c.out { // OUT is low for one CLK pulse only
			c.out, c.done, rose = true, true, true
			if counting {
				c.ce = c.sub(1, m)
			}
			n--
		}
		if !counting || n == 0 {
			return rose
		}
		if !c.done {
			switch d := c.dist(m); {
			case n == d:
				c.out = false // the strobe: OUT low until the next pulse
			case n > d:
				c.done, rose = true, true
			}
		}
		c.ce = c.sub(n, m)
	case 2:
		if !c.gate {
			return rose
		}
		// OUT is low while the count is 1; the next pulse reloads the
		// count register and OUT rises.
		r := c.dist(m)
		if n < r {
			c.ce = c.sub(n, m)
			c.out = c.ce != 1
			return rose
		}
		n -= r
		p := c.period()
		rose = true
		c.ce = uint16((p - n%p) % m)
		c.out = c.ce != 1
		c.null = false
	case 3:
		if !c.gate {
			return rose
		}
		r := c.halfLeft(m)
		if n < r {
			c.ce = c.sub(2*n, m)
			return rose
		}
		n -= r
		p := c.period()
		c.flip(p, m)
		rose = c.out || n >= p // a whole cycle holds a rising edge
		n %= p
		if h := mode3Half(p, c.out); n >= h {
			n -= h
			c.flip(p, m)
			rose = rose || c.out
		}
		c.ce = c.sub(2*n, m)
	}
	return rose
}

// nextRise returns the number of CLK pulses until OUT next rises, with GATE
// as it is, or ok false if it will not rise on its own.
func (c *pitCounter) nextRise() (pulses uint64, ok bool) {
	x := *c // a copy: looking ahead changes nothing
	if x.state == pitLoad {
		low := !x.out
		x.load()
		if low && x.out {
			return 1, true
		}
		pulses = 1
	}
	if x.state != pitCount {
		return 0, false
	}
	m := x.modulus()
	switch x.mode {
	case 0, 1:
		if x.out || x.mode == 0 && (x.held || !x.gate) {
			return 0, false
		}
		return pulses + x.dist(m), true
	case 4, 5:
		if !x.out {
			return pulses + 1, true
		}
		if x.done || x.mode == 4 && !x.gate {
			return 0, false
		}
		return pulses + x.dist(m) + 1, true
	case 2:
		if !x.gate {
			return 0, false
		}
		return pulses + x.dist(m), true
	case 3:
		if !x.gate {
			return 0, false
		}
		r := x.halfLeft(m)
		if x.out {
			r += mode3Half(x.period(), false) // high, then a whole low half
		}
		return pulses + r, true
	}
	return 0, false
}

// control performs a control word for this counter (not a latch command):
// "all control logic is immediately reset and OUT goes to a known initial
// state" (low in mode 0, high otherwise). The counting element keeps its
// value but stops until a count is written. It reports whether OUT rose.
func (c *pitCounter) control(v uint8) (rose bool) {
	mode := v >> 1 & 7
	if mode > 5 {
		mode -= 4 // 110 and 111 are modes 2 and 3
	}
	rose = !c.out && mode != 0
	c.ctrl = v & 0x3F
	c.mode = mode
	c.state = pitIdle
	c.out = mode != 0
	c.null = true
	c.held, c.done, c.odd = false, false, false
	c.writeHi, c.readHi, c.latched, c.statusLatched = false, false, false, false
	return rose
}

// write takes one byte of a count.
func (c *pitCounter) write(v uint8) {
	switch c.rw() {
	case pitRWLo:
		c.cr = uint16(v)
	case pitRWHi:
		c.cr = uint16(v) << 8
	default:
		if !c.writeHi {
			c.crLo, c.writeHi = v, true
			if c.mode == 0 {
				// "Writing the first byte disables counting. OUT is
				// set low immediately (no clock pulse required)."
				c.out, c.held = false, true
			}
			return
		}
		c.writeHi = false
		c.cr = uint16(c.crLo) | uint16(v)<<8
	}
	c.null = true
	switch c.mode {
	case 0: // OUT low; the new count loads on the next pulse
		c.out, c.held = false, false
		c.state = pitLoad
	case 4: // loads on the next pulse and strobes again
		c.state = pitLoad
	case 2, 3:
		// The first count after a control word loads on the next pulse;
		// later ones at the end of the current period (half-cycle).
		if c.state == pitIdle {
			c.state = pitLoad
		}
	case 1, 5: // loads on the next trigger
		if c.state == pitIdle {
			c.state = pitArmed
		}
	}
}

// read returns the next byte a read of the counter's port gives: a latched
// status, else the latched or live count in the counter's access mode.
func (c *pitCounter) read() uint8 {
	if c.statusLatched {
		c.statusLatched = false
		return c.status
	}
	v := c.count()
	if c.latched {
		v = c.ol
	}
	switch c.rw() {
	case pitRWLo:
		c.latched = false
		return uint8(v)
	case pitRWHi:
		c.latched = false
		return uint8(v >> 8)
	}
	if !c.readHi {
		c.readHi = true
		return uint8(v)
	}
	c.readHi, c.latched = false, false
	return uint8(v >> 8)
}

// latch performs a counter latch (or the count part of a read-back): later
// latches are ignored until the latched count is read.
func (c *pitCounter) latch() {
	if !c.latched {
		c.ol = c.count()
		c.latched = true
	}
}

func (c *pitCounter) latchStatus() {
	if c.statusLatched {
		return
	}
	c.status = c.ctrl
	if c.out {
		c.status |= pitStatusOut
	}
	if c.null {
		c.status |= pitStatusNull
	}
	c.statusLatched = true
}

// setGate changes GATE. Modes 1, 2, 3 and 5 trigger on a rising edge (a
// reload on the next pulse); GATE low stops counting in modes 0, 2, 3 and 4,
// and forces OUT high at once in modes 2 and 3.
func (c *pitCounter) setGate(high bool) {
	if high == c.gate {
		return
	}
	c.gate = high
	switch c.mode {
	case 1, 2, 3, 5:
		if high && c.state != pitIdle {
			c.state = pitLoad
		}
		if !high && (c.mode == 2 || c.mode == 3) {
			c.out = true
		}
	}
}

// PIT is the 8254 programmable interval timer (ports 0x40-0x43) with system
// control port B (0x61), which gates counter 2 and shows its OUT. GATE0 and
// GATE1 are tied high; OUT0 drives IRQ0 (as pulses: PC.Advance).
//
// The state is the timer's at device time now (PIT input-clock ticks): PC
// advances it before every access to its ports, and reads and writes act at
// that instant. Nothing here reads a clock.
//
// Fields are ordered so that the struct has no padding (see PC.Digest).
type PIT struct {
	now   uint64
	ch    [3]pitCounter
	ctlB  uint8 // port 0x61 bits 3:0 as written
	rose0 bool  // OUT0 rose since PC last passed an edge to the PIC
	_     [4]byte
}

// reset leaves every counter as after control word 0x36 (two-byte access,
// mode 3, binary: the mode a BIOS leaves counter 0 in) with no count: none
// counts, OUT is high, counter 0 does not interrupt until the guest
// programs it (the 8254's state at power-on is undefined). Counter 2's GATE
// is low (port 0x61 reads 0x20).
func (p *PIT) reset() {
	*p = PIT{}
	for i := range p.ch {
		p.ch[i].control(pitRWLoHi<<4 | 3<<1)
	}
	p.ch[0].gate, p.ch[1].gate = true, true
}

// advance moves the counters to device time now; earlier times are ignored.
func (p *PIT) advance(now uint64) {
	if now <= p.now {
		return
	}
	n := now - p.now
	p.now = now
	if p.ch[0].advance(n) {
		p.rose0 = true
	}
	p.ch[1].advance(n)
	p.ch[2].advance(n)
}

// nextIRQ returns the device time of OUT0's next rising edge, or NoEvent.
func (p *PIT) nextIRQ() uint64 {
	n, ok := p.ch[0].nextRise()
	if !ok || n > NoEvent-p.now {
		return NoEvent
	}
	return p.now + n
}

// In implements Device for ports 0x40-0x43 and 0x61.
func (p *PIT) In(port uint16, size int) uint32 {
	switch port {
	case PortPIT0, PortPIT1, PortPIT2:
		return uint32(p.ch[port-PortPIT0].read())
	case PortSysCtlB:
		v := uint32(p.ctlB)
		// The refresh bit toggles on every refresh request; chipsets
		// keep the 15.085 us period whatever counter 1 does.
		if p.now/refreshTicks&1 != 0 {
			v |= sysCtlRefresh
		}
		if p.ch[2].out {
			v |= sysCtlOut2
		}
		return v // bits 7:6 (parity and channel check status): never set
	}
	return 0xFF // 0x43 is write-only: the bus floats
}

// Out implements Device for ports 0x40-0x43 and 0x61.
func (p *PIT) Out(port uint16, size int, v uint32) {
	b := uint8(v)
	switch port {
	case PortPIT0, PortPIT1, PortPIT2:
		p.ch[port-PortPIT0].write(b)
	case PortPITCtrl:
		sc := b >> 6
		if sc == pitSCReadBack {
			for i := range p.ch {
				if b&(2<<i) == 0 {
					continue
				}
				// With both, the status is read first, then the count.
				if b&pitReadBackStatus == 0 {
					p.ch[i].latchStatus()
				}
				if b&pitReadBackCount == 0 {
					p.ch[i].latch()
				}
			}
			return
		}
		c := &p.ch[sc]
		if b>>4&3 == pitRWLatch {
			c.latch()
			return
		}
		if c.control(b) && sc == 0 {
			p.rose0 = true
		}
	case PortSysCtlB:
		p.ctlB = b & sysCtlWritable
		p.ch[2].setGate(b&sysCtlGate2 != 0)
	}
}
