package dev

import "testing"

// programCh0 writes Linux's periodic setup: control word 0x34 (counter 0,
// lobyte/hibyte, mode 2, binary), then the divisor.
func programCh0(p *PIT, ctrl uint8, n uint16) {
	outs(p, ioStep{PortPITCtrl, ctrl}, ioStep{PortPIT0, uint8(n)}, ioStep{PortPIT0, uint8(n >> 8)})
}

func TestPITLinux100Hz(t *testing.T) {
	p := NewPIT()
	if d := p.NextIRQ(0); d != NoIRQ {
		t.Fatalf("unprogrammed PIT interrupts at %d", d)
	}
	const t0, latch = 5000, 11932 // 1193182 / 100, rounded
	p.Advance(t0)
	programCh0(p, 0x34, latch)
	if d := p.NextIRQ(t0); d != t0+latch {
		t.Fatalf("NextIRQ = %d, want %d", d, t0+latch)
	}
	if n := p.Advance(t0 + latch - 1); n != 0 {
		t.Fatalf("%d IRQs before the first period ended", n)
	}
	if n := p.Advance(t0 + latch); n != 1 {
		t.Fatalf("%d IRQs at the end of the first period", n)
	}
	if d := p.NextIRQ(t0 + latch); d != t0+2*latch {
		t.Fatalf("NextIRQ = %d, want %d", d, t0+2*latch)
	}
	// One second of logical time: 100 ticks in all.
	if n := p.Advance(t0 + 100*latch + latch/2); n != 99 {
		t.Fatalf("%d IRQs in the rest of the second, want 99", n)
	}
	if d := p.NextIRQ(0); d != t0+101*latch {
		t.Fatalf("NextIRQ(past) = %d, want %d", d, t0+101*latch)
	}
	// Time does not go back.
	if n := p.Advance(t0); n != 0 || p.Now() != t0+100*latch+latch/2 {
		t.Fatal("Advance went backwards")
	}
}

func TestPITCountReadAndLatch(t *testing.T) {
	p := NewPIT()
	programCh0(p, 0x34, 11932)
	p.Advance(100)
	outs(p, ioStep{PortPITCtrl, 0x00}) // counter latch, counter 0
	p.Advance(200)
	outs(p, ioStep{PortPITCtrl, 0x00}) // ignored: the latch is unread
	lo, hi := in8(p, PortPIT0), in8(p, PortPIT0)
	if v := uint16(lo) | uint16(hi)<<8; v != 11932-100 {
		t.Fatalf("latched count = %d, want %d", v, 11932-100)
	}
	// Live read, lobyte then hibyte.
	lo, hi = in8(p, PortPIT0), in8(p, PortPIT0)
	if v := uint16(lo) | uint16(hi)<<8; v != 11932-200 {
		t.Fatalf("live count = %d, want %d", v, 11932-200)
	}
	// Mode 2 wraps to the reload value after each period.
	p.Advance(11932 + 7)
	lo, hi = in8(p, PortPIT0), in8(p, PortPIT0)
	if v := uint16(lo) | uint16(hi)<<8; v != 11932-7 {
		t.Fatalf("count in second period = %d", v)
	}
	// Lobyte-only access mode on counter 1.
	outs(p, ioStep{PortPITCtrl, 0x54}, ioStep{PortPIT1, 200}) // counter 1, lobyte, mode 2
	p.Advance(11932 + 7 + 50)
	if v := in8(p, PortPIT1); v != 150 {
		t.Fatalf("counter 1 = %d, want 150", v)
	}
}

func TestPITReadBack(t *testing.T) {
	p := NewPIT()
	outs(p, ioStep{PortPITCtrl, 0x34})
	// Status of counter 0 before a count is written: OUT high (mode 2),
	// null count, RW 11, mode 010, binary.
	outs(p, ioStep{PortPITCtrl, 0xE2})
	if s := in8(p, PortPIT0); s != 0xF4 {
		t.Fatalf("status = %#x, want 0xf4", s)
	}
	outs(p, ioStep{PortPIT0, 0x10}, ioStep{PortPIT0, 0x00}) // count 16
	p.Advance(3)
	// Status and count: status first, then the count lobyte/hibyte.
	outs(p, ioStep{PortPITCtrl, 0xC2})
	if s := in8(p, PortPIT0); s != 0xB4 {
		t.Fatalf("status = %#x, want 0xb4 (OUT high, count loaded)", s)
	}
	p.Advance(5)
	if lo, hi := in8(p, PortPIT0), in8(p, PortPIT0); lo != 13 || hi != 0 {
		t.Fatalf("read-back count = %d %d, want 13 0", lo, hi)
	}
	// OUT low for the last tick of the period (count 1).
	p.Advance(15)
	outs(p, ioStep{PortPITCtrl, 0xE2})
	if s := in8(p, PortPIT0); s&0x80 != 0 {
		t.Fatalf("status %#x: OUT should be low at count 1", s)
	}
}

// TestPITChannel2Calibration follows pit_calibrate_tsc(): gate on, speaker
// off, mode 0 on counter 2, then poll port 0x61 bit 5 for OUT2.
func TestPITChannel2Calibration(t *testing.T) {
	p := NewPIT()
	const latch = 1193182 / 20 // 50 ms
	p.Advance(1000)
	outs(p, ioStep{PortSysCtlB, (in8(p, PortSysCtlB) &^ 0x02) | 0x01})
	outs(p, ioStep{PortPITCtrl, 0xB0}, ioStep{PortPIT2, latch & 0xFF}, ioStep{PortPIT2, latch >> 8})
	for _, c := range []struct {
		now  uint64
		high bool
	}{{1000, false}, {1000 + latch - 1, false}, {1000 + latch, true}, {1000 + 2*latch, true}} {
		p.Advance(c.now)
		if got := in8(p, PortSysCtlB)&0x20 != 0; got != c.high {
			t.Fatalf("OUT2 at %d = %v, want %v", c.now, got, c.high)
		}
	}
	if in8(p, PortSysCtlB)&0x0F != 0x01 {
		t.Fatal("port 0x61 low bits not kept")
	}
	// Gate low suspends mode 0 counting.
	p.Reset()
	outs(p, ioStep{PortSysCtlB, 0x01}, ioStep{PortPITCtrl, 0xB0}, ioStep{PortPIT2, 100}, ioStep{PortPIT2, 0})
	p.Advance(40)
	outs(p, ioStep{PortSysCtlB, 0x00})
	p.Advance(1000)
	if lo := in8(p, PortPIT2); lo != 60 {
		t.Fatalf("count with gate low = %d, want 60 (frozen)", lo)
	}
	outs(p, ioStep{PortSysCtlB, 0x01})
	p.Advance(1059)
	if p.Out2() {
		t.Fatal("OUT2 high one tick early")
	}
	p.Advance(1060)
	if !p.Out2() {
		t.Fatal("OUT2 low after the count expired")
	}
	// Refresh toggle: bit 4 flips every 18 ticks.
	p.Advance(18 * 101)
	a := in8(p, PortSysCtlB) & 0x10
	p.Advance(18 * 102)
	if b := in8(p, PortSysCtlB) & 0x10; a == b {
		t.Fatal("refresh bit did not toggle")
	}
}

func TestPITNewCountAtEndOfCycle(t *testing.T) {
	p := NewPIT()
	programCh0(p, 0x34, 1000)
	p.Advance(1500)
	// New divisor without a control word: takes effect at the end of the
	// current cycle (2000), then periods of 500.
	outs(p, ioStep{PortPIT0, 0xF4}, ioStep{PortPIT0, 0x01}) // 500
	if d := p.NextIRQ(1500); d != 2000 {
		t.Fatalf("NextIRQ = %d, want 2000", d)
	}
	if n := p.Advance(3000); n != 3 { // 2000, 2500, 3000
		t.Fatalf("IRQs = %d, want 3", n)
	}
	if d := p.NextIRQ(3000); d != 3500 {
		t.Fatalf("NextIRQ = %d, want 3500", d)
	}
}

func TestPITOneShotMode4(t *testing.T) {
	// Linux's PIT clockevent one-shot: control 0x38 (mode 4), then delta.
	p := NewPIT()
	p.Advance(10)
	programCh0(p, 0x38, 300)
	if d := p.NextIRQ(10); d != 311 {
		t.Fatalf("NextIRQ = %d, want 311 (low at count 0, rising edge one tick later)", d)
	}
	if n := p.Advance(310); n != 0 {
		t.Fatal("early IRQ")
	}
	if n := p.Advance(100000); n != 1 {
		t.Fatalf("IRQs = %d, want exactly 1", n)
	}
	if d := p.NextIRQ(100000); d != NoIRQ {
		t.Fatalf("one-shot fired again at %d", d)
	}
	// Mode 0 (interrupt on terminal count): one edge at N.
	programCh0(p, 0x30, 50)
	if n := p.Advance(100049); n != 0 {
		t.Fatal("mode 0 early")
	}
	if n := p.Advance(100050); n != 1 {
		t.Fatal("mode 0 did not fire at N")
	}
	// Writing the first byte in mode 0 stops the count (OUT low).
	outs(p, ioStep{PortPIT0, 0x20})
	if n := p.Advance(200000); n != 0 {
		t.Fatal("counting after the first byte")
	}
}

func TestPITMode3SquareWave(t *testing.T) {
	p := NewPIT()
	outs(p, ioStep{PortSysCtlB, 0x01}, ioStep{PortPITCtrl, 0xB6}, ioStep{PortPIT2, 10}, ioStep{PortPIT2, 0})
	var wave []bool
	for now := uint64(0); now < 20; now++ {
		p.Advance(now)
		wave = append(wave, p.Out2())
	}
	for i, h := range wave {
		if want := i%10 < 5; h != want {
			t.Fatalf("OUT2 at %d = %v, want %v (wave %v)", i, h, want, wave)
		}
	}
	// Mode 3 on counter 0 interrupts once per period.
	programCh0(p, 0x36, 0) // 0 = 65536
	if d := p.NextIRQ(19); d != 19+65536 {
		t.Fatalf("NextIRQ = %d", d)
	}
}
