package dev

// Ports of the 8254 programmable interval timer and of system control port B.
const (
	PortPIT0    = 0x40 // counter 0: IRQ0
	PortPIT1    = 0x41 // counter 1: (was DRAM refresh)
	PortPIT2    = 0x42 // counter 2: speaker / calibration, gated by port 0x61 bit 0
	PortPITCtrl = 0x43 // control word register (write only)
	PortSysCtlB = 0x61 // system control port B (NMI status and control)
)

// PITHz is the 8254 input clock of a PC: time given to the PIT is in these
// ticks.
const PITHz = 1193182

// NoIRQ is the deadline NextIRQ returns when counter 0 will not interrupt.
const NoIRQ = ^uint64(0)

// Access modes (control word bits 5:4).
const (
	rwLatch = 0
	rwLo    = 1
	rwHi    = 2
	rwLoHi  = 3
)

// pitCounter is one 8254 counter. Time is counted in ticks of the input
// clock: d (ticks counted since the count was loaded) drives both the
// current count and OUT.
type pitCounter struct {
	mode    uint8 // effective mode 0-5
	ctrl    uint8 // control word bits 5:0 as written (RW, M, BCD), for status
	rw      uint8
	n       uint32 // count register: 1..65536
	loaded  bool   // a count was written since the control word
	running bool   // counting (gate allows, or triggered in modes 1/5)
	gate    bool
	start   uint64 // tick at which the current run began
	elapsed uint64 // ticks counted in earlier runs (gate-suspended modes 0/4)

	// A count written in mode 2 or 3 while counting takes effect at the
	// end of the current cycle.
	hasNext bool
	next    uint32
	nextAt  uint64

	writeHi bool  // lo/hi access: the next write is the high byte
	lo      uint8 // low byte written so far
	readHi  bool  // lo/hi access: the next live read is the high byte

	latchState uint8  // 0 none; else the access mode the latch is read with
	latchHi    bool   // lo/hi latch: the low byte was read
	latched    uint16 // latched count
	statusOK   bool   // a status byte is latched (read before the count)
	status     uint8
	nullCount  bool
}

// counted returns the ticks counted at time now.
func (c *pitCounter) counted(now uint64) uint64 {
	if !c.running || now < c.start {
		return c.elapsed
	}
	return c.elapsed + now - c.start
}

func (c *pitCounter) countAt(now uint64) uint16 {
	if !c.loaded {
		return 0
	}
	d, n := c.counted(now), uint64(c.n)
	switch c.mode {
	case 2:
		return uint16(n - d%n)
	case 3:
		return uint16(n - (2*d)%n)
	}
	return uint16(n - d%65536) // modes 0, 1, 4, 5 wrap past zero
}

func (c *pitCounter) outAt(now uint64) bool {
	if !c.loaded {
		return c.mode != 0 // mode 0: low after the control word, others high
	}
	d, n := c.counted(now), uint64(c.n)
	switch c.mode {
	case 0:
		return d >= n
	case 1:
		return !c.running || d >= n
	case 2:
		return !c.running || d%n != n-1
	case 3:
		return !c.running || d%n < (n+1)/2
	default: // 4, 5: one low tick when the count reaches 0
		return !c.running || d != n
	}
}

// edges returns the rising edges of OUT in the interval (t0, t1].
func (c *pitCounter) edges(t0, t1 uint64) uint64 {
	if !c.loaded || !c.running || t1 <= t0 {
		return 0
	}
	d0, d1, n := c.counted(t0), c.counted(t1), uint64(c.n)
	switch c.mode {
	case 0:
		if d0 < n && d1 >= n {
			return 1
		}
	case 2, 3:
		return d1/n - d0/n
	case 4, 5:
		if d0 <= n && d1 > n {
			return 1
		}
	}
	return 0
}

// nextEdge returns the time of the first rising edge of OUT after now, or
// NoIRQ.
func (c *pitCounter) nextEdge(now uint64) uint64 {
	if !c.loaded || !c.running {
		return NoIRQ
	}
	d, n := c.counted(now), uint64(c.n)
	var e uint64
	switch c.mode {
	case 0:
		if d >= n {
			return NoIRQ
		}
		e = n
	case 2, 3:
		e = (d/n + 1) * n
	case 4, 5:
		if d > n {
			return NoIRQ
		}
		e = n + 1
	default:
		return NoIRQ
	}
	return now + (e - d)
}

// restart begins counting the count register from time now.
func (c *pitCounter) restart(now uint64) {
	c.elapsed, c.start = 0, now
	c.hasNext = false
	c.nullCount = false
}

// settle applies a pending reload whose time has come.
func (c *pitCounter) settle(now uint64) {
	if c.hasNext && c.nextAt <= now {
		c.n = c.next
		c.restart(c.nextAt)
	}
}

func (c *pitCounter) control(v uint8) {
	*c = pitCounter{gate: c.gate}
	c.ctrl = v & 0x3F
	c.rw = (v >> 4) & 3
	c.mode = (v >> 1) & 7
	if c.mode > 5 {
		c.mode -= 4 // 110b and 111b are modes 2 and 3
	}
	c.nullCount = true
}

func (c *pitCounter) load(now uint64, n uint32) {
	if n == 0 {
		n = 65536 // binary; BCD counting is not emulated
	}
	c.nullCount = true
	switch c.mode {
	case 2, 3:
		if c.loaded && c.running {
			// Takes effect at the end of the current cycle.
			c.hasNext, c.next, c.nextAt = true, n, c.nextEdge(now)
			return
		}
		c.n, c.loaded, c.running = n, true, c.gate
	case 1, 5:
		// Armed: counting starts on a rising edge of GATE.
		c.n, c.loaded, c.running = n, true, false
		return
	default: // 0, 4
		c.n, c.loaded, c.running = n, true, c.gate
	}
	c.restart(now)
}

func (c *pitCounter) write(now uint64, v uint8) {
	switch c.rw {
	case rwLo:
		c.load(now, uint32(v))
	case rwHi:
		c.load(now, uint32(v)<<8)
	case rwLoHi:
		if !c.writeHi {
			c.lo, c.writeHi = v, true
			if c.mode == 0 {
				c.loaded = false // mode 0: the first byte stops the count, OUT low
			}
			return
		}
		c.writeHi = false
		c.load(now, uint32(c.lo)|uint32(v)<<8)
	}
}

func (c *pitCounter) read(now uint64) uint8 {
	if c.statusOK {
		c.statusOK = false
		return c.status
	}
	if c.latchState != 0 {
		v := c.latched
		switch c.latchState {
		case rwLo:
			c.latchState = 0
			return uint8(v)
		case rwHi:
			c.latchState = 0
			return uint8(v >> 8)
		}
		if !c.latchHi {
			c.latchHi = true
			return uint8(v)
		}
		c.latchHi, c.latchState = false, 0
		return uint8(v >> 8)
	}
	v := c.countAt(now)
	switch c.rw {
	case rwLo:
		return uint8(v)
	case rwHi:
		return uint8(v >> 8)
	}
	c.readHi = !c.readHi
	if c.readHi {
		return uint8(v)
	}
	return uint8(v >> 8)
}

func (c *pitCounter) latch(now uint64) {
	if c.latchState == 0 { // further latches are ignored until read
		c.latched = c.countAt(now)
		c.latchState = c.rw
		c.latchHi = false
	}
}

func (c *pitCounter) latchStatus(now uint64) {
	if !c.statusOK {
		c.status = c.ctrl
		if c.outAt(now) {
			c.status |= 0x80
		}
		if c.nullCount {
			c.status |= 0x40
		}
		c.statusOK = true
	}
}

func (c *pitCounter) setGate(now uint64, high bool) {
	if high == c.gate {
		return
	}
	c.gate = high
	switch c.mode {
	case 0, 4: // gate low suspends counting
		if !c.loaded {
			return
		}
		if high {
			c.start, c.running = now, true
		} else {
			c.elapsed, c.running = c.counted(now), false
		}
	case 2, 3: // low: suspend (OUT high); rising edge: reload
		if !c.loaded {
			return
		}
		if high {
			if c.hasNext {
				c.n = c.next
			}
			c.running = true
			c.restart(now)
		} else {
			c.settle(now)
			c.elapsed, c.running = c.counted(now), false
		}
	case 1, 5: // rising edge triggers
		if high && c.loaded {
			c.running = true
			c.restart(now)
		}
	}
}

// PIT is the 8254 programmable interval timer (ports 0x40-0x43) together
// with system control port B (0x61), which gates counter 2 and reads its
// output. Counters 0 and 1 have GATE tied high; counter 0's OUT drives IRQ0.
//
// Time is logical: the caller passes "now" in PIT input-clock ticks
// (PITHz) to Advance before each port access and at each point it may
// deliver an interrupt; reads of a count or of OUT are computed from it.
// Nothing here reads a clock.
//
// Emulated: control words for counters 0-2 (access modes lobyte, hibyte,
// lobyte/hibyte; modes 0-5), the counter latch command, the read-back
// command (count and/or status, any counters), count reads live or latched.
// Not emulated: BCD counting (the BCD bit is stored and reported in the
// status byte, but counts are binary; a written 0 means 65536); the one-clock
// delay between writing a count and loading it (a count loads at the tick it
// is written); odd-count asymmetry in mode 3's count sequence (OUT's duty
// cycle is right).
type PIT struct {
	ch   [3]pitCounter
	now  uint64
	ctlB uint8 // port 0x61 bits 3:0 as written
}

// NewPIT returns a PIT in its Reset state.
func NewPIT() *PIT {
	p := new(PIT)
	p.Reset()
	return p
}

// Reset leaves every counter unprogrammed (no count: counter 0 does not
// interrupt until the guest programs it) and counter 2's gate low. Time
// restarts at 0.
func (p *PIT) Reset() {
	*p = PIT{}
	p.ch[0].gate, p.ch[1].gate = true, true
}

// Now returns the time of the last Advance.
func (p *PIT) Now() uint64 { return p.now }

// Advance moves time to now (earlier values are ignored: time does not go
// back) and returns how many rising edges counter 0's OUT made in between:
// the IRQ0 edges to pass to PIC.PulseIRQ(0) (the PIC latches one; more while
// it is pending are lost, as on hardware).
func (p *PIT) Advance(now uint64) (irqs int) {
	if now <= p.now {
		return 0
	}
	c := &p.ch[0]
	var n uint64
	if c.hasNext && c.nextAt <= now {
		n += c.edges(p.now, c.nextAt)
		p.now = c.nextAt
		c.settle(p.now)
	}
	n += c.edges(p.now, now)
	p.now = now
	for i := range p.ch {
		p.ch[i].settle(now)
	}
	if n > 1<<30 {
		n = 1 << 30
	}
	return int(n)
}

// NextIRQ returns the time of the first IRQ0 edge after now (or after the
// last Advance, if later), or NoIRQ if counter 0 will not raise one.
func (p *PIT) NextIRQ(now uint64) (deadline uint64) {
	now = max(now, p.now)
	c := p.ch[0] // a copy: NextIRQ does not change the state
	c.settle(now)
	return c.nextEdge(now)
}

// Out2 reports counter 2's OUT (port 0x61 bit 5) now.
func (p *PIT) Out2() bool { return p.ch[2].outAt(p.now) }

// In implements Device for ports 0x40-0x43 and 0x61.
func (p *PIT) In(port uint16, size int) uint32 {
	switch port {
	case PortPIT0, PortPIT1, PortPIT2:
		return uint32(p.ch[port-PortPIT0].read(p.now))
	case PortSysCtlB:
		v := uint32(p.ctlB & 0x0F)
		// Bit 4 toggles with each DRAM refresh request (every 15.085 us,
		// 18 PIT ticks); some delay loops poll it.
		if (p.now/18)&1 != 0 {
			v |= 0x10
		}
		if p.Out2() {
			v |= 0x20
		}
		return v
	}
	return 0xFF // 0x43 is write-only
}

// Out implements Device for ports 0x40-0x43 and 0x61.
func (p *PIT) Out(port uint16, size int, v uint32) {
	b := uint8(v)
	switch port {
	case PortPIT0, PortPIT1, PortPIT2:
		p.ch[port-PortPIT0].write(p.now, b)
	case PortPITCtrl:
		sc := b >> 6
		if sc == 3 { // read-back: bit 5 = !COUNT, bit 4 = !STATUS, bits 3:1 counters 2:0
			for i := range p.ch {
				if b&(2<<i) == 0 {
					continue
				}
				if b&0x10 == 0 {
					p.ch[i].latchStatus(p.now)
				}
				if b&0x20 == 0 {
					p.ch[i].latch(p.now)
				}
			}
			return
		}
		c := &p.ch[sc]
		if (b>>4)&3 == rwLatch {
			c.latch(p.now)
			return
		}
		c.control(b)
	case PortSysCtlB:
		p.ctlB = b & 0x0F
		p.ch[2].setGate(p.now, b&1 != 0)
	}
}
