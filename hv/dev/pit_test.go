package dev

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// readBack latches status and count of counter i with one read-back
// command and returns OUT and the count, as a guest reads them.
func readBack(t testing.TB, pc *PC, i int) (out bool, count uint16) {
	t.Helper()
	out8(t, pc, PortPITCtrl, 0xC0|2<<i) // read-back: count and status of counter i
	port := PortPIT0 + uint16(i)
	s := in8(t, pc, port)
	lo := in8(t, pc, port)
	hi := in8(t, pc, port)
	return s&pitStatusOut != 0, uint16(lo) | uint16(hi)<<8
}

type tick struct {
	count uint16
	out   bool
}

// TestPITModeSequences checks each mode's count and OUT on every CLK pulse
// after the count is written at device time w, against the 8254 datasheet's
// waveforms: the count is loaded on the first pulse after the write (or
// after a GATE trigger) without a decrement.
func TestPITModeSequences(t *testing.T) {
	const w = 1000
	H, L := true, false
	for _, c := range []struct {
		name    string
		counter int
		ctrl    uint8
		n       uint16
		trigger bool // GATE2 low until w, then high (modes 1 and 5)
		want    []tick
	}{
		{"mode 0", 0, 0x30, 4, false, []tick{{4, L}, {3, L}, {2, L}, {1, L}, {0, H}, {0xFFFF, H}, {0xFFFE, H}}},
		{"mode 1", 2, 0xB2, 4, true, []tick{{4, L}, {3, L}, {2, L}, {1, L}, {0, H}, {0xFFFF, H}, {0xFFFE, H}}},
		{"mode 2", 0, 0x34, 4, false, []tick{{4, H}, {3, H}, {2, H}, {1, L}, {4, H}, {3, H}, {2, H}, {1, L}, {4, H}}},
		{"mode 2 (110)", 0, 0x3C, 3, false, []tick{{3, H}, {2, H}, {1, L}, {3, H}, {2, H}, {1, L}, {3, H}}},
		{"mode 3 even", 0, 0x36, 4, false, []tick{{4, H}, {2, H}, {4, L}, {2, L}, {4, H}, {2, H}, {4, L}, {2, L}, {4, H}}},
		{"mode 3 odd", 0, 0x36, 5, false, []tick{{4, H}, {2, H}, {0, H}, {4, L}, {2, L}, {4, H}, {2, H}, {0, H}, {4, L}, {2, L}, {4, H}}},
		{"mode 3 (111) on counter 2", 2, 0xBE, 6, false, []tick{{6, H}, {4, H}, {2, H}, {6, L}, {4, L}, {2, L}, {6, H}}},
		{"mode 4", 0, 0x38, 4, false, []tick{{4, H}, {3, H}, {2, H}, {1, H}, {0, L}, {0xFFFF, H}, {0xFFFE, H}, {0xFFFD, H}}},
		{"mode 5", 2, 0xBA, 4, true, []tick{{4, H}, {3, H}, {2, H}, {1, H}, {0, L}, {0xFFFF, H}, {0xFFFE, H}}},
		{"mode 2 BCD", 0, 0x35, 0x10, false, []tick{{0x10, H}, {0x09, H}, {0x08, H}}},
		{"mode 0 BCD wraps to 9999", 0, 0x31, 0x02, false, []tick{{2, L}, {1, L}, {0, H}, {0x9999, H}, {0x9998, H}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pc := newPC()
			if c.counter == 2 && !c.trigger {
				out8(t, pc, PortSysCtlB, sysCtlGate2)
			}
			pc.Advance(w)
			port := PortPIT0 + uint16(c.counter)
			outs(t, pc, ioStep{PortPITCtrl, c.ctrl}, ioStep{port, uint8(c.n)}, ioStep{port, uint8(c.n >> 8)})
			if c.trigger {
				out, _ := readBack(t, pc, c.counter)
				if !out {
					t.Fatal("OUT low while armed")
				}
				out8(t, pc, PortSysCtlB, sysCtlGate2) // rising GATE: trigger
			}
			var got []tick
			for k := range c.want {
				pc.Advance(w + 1 + uint64(k))
				out, count := readBack(t, pc, c.counter)
				got = append(got, tick{count, out})
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("count, OUT from pulse w+1:\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// TestPITNullCountAndStatus: the status byte shows the control word, OUT
// and whether the written count has reached the counting element.
func TestPITNullCountAndStatus(t *testing.T) {
	pc := newPC()
	out8(t, pc, PortPITCtrl, 0x34)
	out8(t, pc, PortPITCtrl, 0xE2) // status of counter 0
	if s := in8(t, pc, PortPIT0); s != 0x80|0x40|0x34 {
		t.Fatalf("status after control word = %#x, want 0xf4", s)
	}
	outs(t, pc, ioStep{PortPIT0, 0x10}, ioStep{PortPIT0, 0x00})
	out8(t, pc, PortPITCtrl, 0xE2)
	if s := in8(t, pc, PortPIT0); s != 0xF4 {
		t.Fatalf("status before the load pulse = %#x, want null count", s)
	}
	pc.Advance(1)
	out8(t, pc, PortPITCtrl, 0xE2)
	if s := in8(t, pc, PortPIT0); s != 0xB4 {
		t.Fatalf("status after loading = %#x, want 0xb4", s)
	}
	// A new count in mode 2 is null until the end of the period.
	outs(t, pc, ioStep{PortPIT0, 0x08}, ioStep{PortPIT0, 0x00})
	pc.Advance(16)
	out8(t, pc, PortPITCtrl, 0xE2)
	if s := in8(t, pc, PortPIT0); s&pitStatusNull == 0 {
		t.Fatalf("status %#x: count loaded before the period ended", s)
	}
	pc.Advance(17) // the reload pulse
	if out, count := readBack(t, pc, 0); count != 8 || !out {
		t.Fatalf("after reload: count %d OUT %v, want 8 high", count, out)
	}
	// Status latched twice without reading: the first one stays.
	out8(t, pc, PortPITCtrl, 0xE2)
	out8(t, pc, PortPITCtrl, 0x30) // counter 0, mode 0: OUT low, resets the latch
	out8(t, pc, PortPITCtrl, 0xE2)
	pc.Advance(30)
	out8(t, pc, PortPITCtrl, 0xE2)
	if s := in8(t, pc, PortPIT0); s != 0x70 {
		t.Fatalf("status = %#x, want 0x70 (OUT low, null, mode 0)", s)
	}
	if in8(t, pc, PortPITCtrl) != 0xFF {
		t.Fatal("control register readable")
	}
}

func TestPITLatchAndLiveReads(t *testing.T) {
	pc := newPC()
	outs(t, pc, ioStep{PortPITCtrl, 0x34}, ioStep{PortPIT0, 0x9C}, ioStep{PortPIT0, 0x2E}) // 11932
	pc.Advance(100)
	out8(t, pc, PortPITCtrl, 0x00) // counter latch, counter 0
	pc.Advance(200)
	out8(t, pc, PortPITCtrl, 0x00) // ignored: the latch is unread
	lo, hi := in8(t, pc, PortPIT0), in8(t, pc, PortPIT0)
	if v := int(lo) | int(hi)<<8; v != 11932-99 {
		t.Fatalf("latched count = %d, want %d", v, 11932-99)
	}
	// Live: the low byte now, the high byte when it is read.
	lo = in8(t, pc, PortPIT0)
	pc.Advance(200 + 256)
	hi = in8(t, pc, PortPIT0)
	if v := int(lo) | int(hi)<<8; v != (11932-199)&0xFF|(11932-455)&0xFF00 {
		t.Fatalf("live count = %#x", v)
	}
	// Lobyte-only and hibyte-only access modes.
	outs(t, pc, ioStep{PortPITCtrl, 0x54}, ioStep{PortPIT1, 200}) // counter 1, LSB, mode 2
	pc.Advance(456 + 51)
	if v := in8(t, pc, PortPIT1); v != 150 {
		t.Fatalf("counter 1 = %d, want 150", v)
	}
	outs(t, pc, ioStep{PortPITCtrl, 0x64}, ioStep{PortPIT1, 0x02}) // MSB only: 512
	pc.Advance(507 + 1 + 256)
	if v := in8(t, pc, PortPIT1); v != 1 {
		t.Fatalf("counter 1 MSB = %d, want 1", v)
	}
}

// edges runs pc tick by tick from its current time to end with IRQ0
// unmasked and returns the device times at which the PIC saw an IRQ0
// request, acknowledging each; at each it also checks that NextEvent
// announced it.
func edges(t *testing.T, pc *PC, end uint64) []uint64 {
	t.Helper()
	var at []uint64
	next := pc.NextEvent()
	for now := pc.Now() + 1; now <= end; now++ {
		pc.Advance(now)
		if v, ok := pc.PIC.PendingVector(); ok {
			if v != 0x30 {
				t.Fatalf("vector %#x", v)
			}
			if now != next {
				t.Fatalf("IRQ0 at %d, NextEvent said %d", now, next)
			}
			at = append(at, now)
			pc.PIC.Acknowledge()
			out8(t, pc, 0x20, 0x60) // specific EOI
			next = pc.NextEvent()
		} else if now == next {
			t.Fatalf("NextEvent said %d, no IRQ0", next)
		}
	}
	return at
}

func picTimerOnly(t testing.TB, pc *PC) {
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0xFE)
}

// TestPITLinuxClockEvents follows drivers/clocksource/i8253.c: periodic
// (mode 2, PIT_LATCH), one-shot (mode 4) and shutdown.
func TestPITLinuxClockEvents(t *testing.T) {
	pc := newPC()
	picTimerOnly(t, pc)
	if pc.NextEvent() != NoEvent {
		t.Fatal("unprogrammed PIT has an event")
	}
	const latch = 11932 // (PIT_TICK_RATE + HZ/2) / HZ for HZ=100
	pc.Advance(5000)
	outs(t, pc, ioStep{PortPITCtrl, 0x34}, ioStep{PortPIT0, latch & 0xFF}, ioStep{PortPIT0, latch >> 8})
	if n := pc.NextEvent(); n != 5000+latch+1 {
		t.Fatalf("first period ends at %d, want %d", n, 5000+latch+1)
	}
	got := edges(t, pc, 5000+3*latch+10)
	if fmt.Sprint(got) != fmt.Sprint([]uint64{5000 + latch + 1, 5000 + 2*latch + 1, 5000 + 3*latch + 1}) {
		t.Fatalf("periodic edges %v", got)
	}
	// One second at once: 100 edges collapse into one pending request.
	pc.Advance(5001 + 103*latch)
	wantPending(t, pc, 0x30, true)
	if n := pc.NextEvent(); n != 5001+104*latch {
		t.Fatalf("NextEvent = %d, want %d", n, 5001+104*latch)
	}
	pc.PIC.Acknowledge()
	out8(t, pc, 0x20, 0x60)

	// pit_set_oneshot then pit_next_event(300): OUT strobes low at count
	// 0 and rises one pulse later: delta + 2 after the write.
	now := pc.Now()
	outs(t, pc, ioStep{PortPITCtrl, 0x38}, ioStep{PortPIT0, 44}, ioStep{PortPIT0, 1})
	got = edges(t, pc, now+1000)
	if fmt.Sprint(got) != fmt.Sprint([]uint64{now + 300 + 2}) {
		t.Fatalf("one-shot edges %v, want [%d]", got, now+302)
	}
	// clockevent_i8253_disable: 0x30, 0, 0, 0x30: counting stops.
	outs(t, pc, ioStep{PortPITCtrl, 0x30}, ioStep{PortPIT0, 0}, ioStep{PortPIT0, 0}, ioStep{PortPITCtrl, 0x30})
	if n := pc.NextEvent(); n != NoEvent {
		t.Fatalf("disabled PIT: NextEvent %d", n)
	}
	if got := edges(t, pc, pc.Now()+70000); len(got) != 0 {
		t.Fatalf("disabled PIT interrupted at %v", got)
	}
	// A control word while OUT0 is low raises it: a rising edge.
	now = pc.Now()
	outs(t, pc, ioStep{PortPITCtrl, 0x30}, ioStep{PortPIT0, 0}, ioStep{PortPIT0, 0x10})
	pc.Advance(now + 10)
	wantPending(t, pc, 0, false)
	out8(t, pc, PortPITCtrl, 0x34)
	wantPending(t, pc, 0x30, true)
}

func TestPITNewCountAtEndOfPeriod(t *testing.T) {
	pc := newPC()
	picTimerOnly(t, pc)
	outs(t, pc, ioStep{PortPITCtrl, 0x34}, ioStep{PortPIT0, 0xE8}, ioStep{PortPIT0, 0x03}) // 1000
	pc.Advance(1500)
	wantPending(t, pc, 0x30, true) // the edge at 1001
	pc.PIC.Acknowledge()
	out8(t, pc, 0x20, 0x20)
	// A new divisor without a control word takes effect when the current
	// period ends (2001), then periods of 500.
	outs(t, pc, ioStep{PortPIT0, 0xF4}, ioStep{PortPIT0, 0x01})
	got := edges(t, pc, 3100)
	if fmt.Sprint(got) != "[2001 2501 3001]" {
		t.Fatalf("edges %v", got)
	}
	// Mode 3: a new count takes effect at the end of the half-cycle.
	outs(t, pc, ioStep{PortPITCtrl, 0x36}, ioStep{PortPIT0, 100}, ioStep{PortPIT0, 0}) // at 3100
	pc.Advance(3120)                                                                   // high half: 3101-3150
	outs(t, pc, ioStep{PortPIT0, 10}, ioStep{PortPIT0, 0})
	got = edges(t, pc, 3200)
	// Low from 3151 with the new count: 5 pulses, rise at 3156, then every 10.
	if fmt.Sprint(got) != "[3156 3166 3176 3186 3196]" {
		t.Fatalf("mode 3 edges %v", got)
	}
}

func TestPITMode0FirstByteStopsCounting(t *testing.T) {
	pc := newPC()
	picTimerOnly(t, pc)
	outs(t, pc, ioStep{PortPITCtrl, 0x30}, ioStep{PortPIT0, 50}, ioStep{PortPIT0, 0})
	pc.Advance(20)
	out8(t, pc, PortPIT0, 0x20) // first byte: counting disabled, OUT low
	pc.Advance(200000)
	wantPending(t, pc, 0, false)
	if _, c := readBack(t, pc, 0); c != 31 {
		t.Fatalf("count = %d, want 31 (held)", c)
	}
	out8(t, pc, PortPIT0, 0) // second byte: 0x0020 loads on the next pulse
	if got := edges(t, pc, 200100); fmt.Sprint(got) != "[200033]" {
		t.Fatalf("edges %v, want [200033]", got)
	}
}

// TestPITCounter2Gate covers port 0x61: GATE2 in bit 0, OUT2 in bit 5,
// the refresh toggle in bit 4, bits 3:0 kept.
func TestPITCounter2Gate(t *testing.T) {
	pc := newPC()
	// Mode 0 with GATE low: loaded, not counting.
	outs(t, pc, ioStep{PortPITCtrl, 0xB0}, ioStep{PortPIT2, 100}, ioStep{PortPIT2, 0})
	pc.Advance(50)
	if _, c := readBack(t, pc, 2); c != 100 {
		t.Fatalf("count with GATE low = %d, want 100", c)
	}
	out8(t, pc, PortSysCtlB, 0x0D) // gate on; speaker off; check enables kept
	pc.Advance(90)
	out8(t, pc, PortSysCtlB, 0x0C) // gate off: frozen at 60
	pc.Advance(1000)
	if _, c := readBack(t, pc, 2); c != 60 {
		t.Fatalf("count with GATE low again = %d, want 60", c)
	}
	out8(t, pc, PortSysCtlB, 0x0D)
	pc.Advance(1059)
	if v := in8(t, pc, PortSysCtlB); v&sysCtlOut2 != 0 || v&0x0F != 0x0D || v&0xC0 != 0 {
		t.Fatalf("port 0x61 = %#x one tick early", v)
	}
	pc.Advance(1060)
	if in8(t, pc, PortSysCtlB)&sysCtlOut2 == 0 {
		t.Fatal("OUT2 low after terminal count")
	}
	// Mode 2 with GATE: low forces OUT high and stops; high reloads.
	outs(t, pc, ioStep{PortPITCtrl, 0xB4}, ioStep{PortPIT2, 10}, ioStep{PortPIT2, 0}) // at 1060
	pc.Advance(1069)                                                                  // count 2
	pc.Advance(1070)                                                                  // count 1: OUT low
	if in8(t, pc, PortSysCtlB)&sysCtlOut2 != 0 {
		t.Fatal("mode 2 OUT2 high at count 1")
	}
	out8(t, pc, PortSysCtlB, 0x0C)
	if in8(t, pc, PortSysCtlB)&sysCtlOut2 == 0 {
		t.Fatal("GATE low did not force OUT2 high")
	}
	pc.Advance(1100)
	out8(t, pc, PortSysCtlB, 0x0D) // trigger: reload on the next pulse
	pc.Advance(1101)
	if out, c := readBack(t, pc, 2); c != 10 || !out {
		t.Fatalf("after trigger: count %d OUT %v", c, out)
	}
	// Refresh toggle: bit 4 flips every 18 ticks.
	pc.Advance(18 * 101)
	a := in8(t, pc, PortSysCtlB) & sysCtlRefresh
	pc.Advance(18*101 + 17)
	b := in8(t, pc, PortSysCtlB) & sysCtlRefresh
	pc.Advance(18 * 102)
	c := in8(t, pc, PortSysCtlB) & sysCtlRefresh
	if a != b || a == c {
		t.Fatalf("refresh bit %#x %#x %#x: want a toggle every 18 ticks", a, b, c)
	}
	// Mode 1 retrigger restarts the one-shot.
	outs(t, pc, ioStep{PortSysCtlB, 0x0C}, ioStep{PortPITCtrl, 0xB2}, ioStep{PortPIT2, 20}, ioStep{PortPIT2, 0})
	out8(t, pc, PortSysCtlB, 0x0D) // trigger at 1836
	pc.Advance(1846)
	outs(t, pc, ioStep{PortSysCtlB, 0x0C}, ioStep{PortSysCtlB, 0x0D}) // retrigger
	pc.Advance(1866)
	if in8(t, pc, PortSysCtlB)&sysCtlOut2 != 0 {
		t.Fatal("retriggered one-shot ended early")
	}
	pc.Advance(1867)
	if in8(t, pc, PortSysCtlB)&sysCtlOut2 == 0 {
		t.Fatal("retriggered one-shot did not end 21 pulses after the trigger")
	}
}

// TestPITLinuxCalibration follows pit_calibrate_tsc() and
// quick_pit_calibrate() of arch/x86/kernel/tsc.c: counter 2 in mode 0
// gated by port 0x61; the count must fall as device time advances.
func TestPITLinuxCalibration(t *testing.T) {
	pc := newPC()
	pc.Advance(1000)
	// pit_calibrate_tsc(latch = 1193182/20, 50 ms)
	const latch = PITHz / 20
	out8(t, pc, PortSysCtlB, (in8(t, pc, PortSysCtlB)&^0x02)|0x01)
	outs(t, pc, ioStep{PortPITCtrl, 0xB0}, ioStep{PortPIT2, latch & 0xFF}, ioStep{PortPIT2, latch >> 8})
	// Terminal count N+1 pulses after the write; poll about every 33 us.
	for now := uint64(1000); in8(t, pc, PortSysCtlB)&0x20 == 0; {
		now += 40
		pc.Advance(now)
	}
	if end := pc.Now(); end < 1001+latch || end-40 >= 1001+latch {
		t.Fatalf("OUT2 seen high at %d, terminal count at %d", end, 1001+latch)
	}

	// quick_pit_calibrate: counter 2 from 0xffff, reading the MSB.
	out8(t, pc, PortSysCtlB, (in8(t, pc, PortSysCtlB)&^0x02)|0x01)
	outs(t, pc, ioStep{PortPITCtrl, 0xB0}, ioStep{PortPIT2, 0xFF}, ioStep{PortPIT2, 0xFF})
	start := pc.Now()
	msb := func() uint8 { // pit_verify_msb: ignore the LSB
		in8(t, pc, PortPIT2)
		return in8(t, pc, PortPIT2)
	}
	msb() // "read back the 16-bit counter once" while the count loads
	for i := uint64(0); i < 40; i++ {
		// Inside each 256-tick window of MSB 0xff-i, a few samples.
		for _, off := range []uint64{1, 100, 256} {
			pc.Advance(start + 256*i + off)
			if got, want := msb(), uint8(0xFF-i); got != want {
				t.Fatalf("MSB %d ticks after the write = %#x, want %#x", 256*i+off, got, want)
			}
		}
	}
}

// TestPITChunkingAndNextEvent drives random programs through two PCs: one
// advanced one tick at a time, which records where IRQ0 arrives and checks
// that NextEvent announced each arrival; one advanced in random jumps,
// which must see IRQ0 requested exactly when the first one saw an edge
// inside the jump. Their digests and counter reads agree after every step.
func TestPITChunkingAndNextEvent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ctrls := []uint8{0x30, 0x32, 0x34, 0x36, 0x38, 0x3A, 0x3C, 0x3E, 0x31, 0x35, 0x37, 0x39, 0x10, 0x20, 0x14, 0x26}
	jumps := 0
	for round := 0; round < 100; round++ {
		fine, coarse := newPC(), newPC()
		picTimerOnly(t, fine)
		picTimerOnly(t, coarse)
		both := func(port uint16, v uint8) {
			out8(t, fine, port, v)
			out8(t, coarse, port, v)
		}
		ack := func(pc *PC) {
			wantPending(t, pc, 0x30, true)
			pc.PIC.Acknowledge()
			out8(t, pc, 0x20, 0x20)
		}
		now := uint64(0)
		for step := 0; step < 8; step++ {
			ctrl := ctrls[rng.IntN(len(ctrls))]
			counter := rng.IntN(3)
			if counter == 1 {
				counter = 0
			}
			if rng.IntN(3) == 0 {
				both(PortSysCtlB, uint8(rng.IntN(2)))
			}
			both(PortPITCtrl, ctrl|uint8(counter)<<6)
			n := uint16(2 + rng.IntN(40))
			if ctrl&1 != 0 {
				n = uint16(n/10)<<4 | n%10
			}
			port := PortPIT0 + uint16(counter)
			switch ctrl >> 4 & 3 {
			case 1:
				both(port, uint8(n))
			case 2:
				both(port, uint8(n>>8)|1)
			case 3:
				both(port, uint8(n))
				both(port, uint8(n>>8))
			}
			// A control word can raise OUT0 at once: not an event
			// NextEvent announces.
			if _, ok := fine.PIC.PendingVector(); ok {
				ack(fine)
				ack(coarse)
			}
			if fine.NextEvent() != coarse.NextEvent() {
				t.Fatalf("round %d: NextEvent differs", round)
			}
			end := now + uint64(50+rng.IntN(400))
			var seen []uint64
			next := fine.NextEvent()
			for now < end {
				now++
				fine.Advance(now)
				_, ok := fine.PIC.PendingVector()
				if ok != (now == next) {
					t.Fatalf("round %d: IRQ0 %v at %d, NextEvent said %d", round, ok, now, next)
				}
				if ok {
					seen = append(seen, now)
					ack(fine)
					next = fine.NextEvent()
				}
				if next <= now {
					t.Fatalf("NextEvent %d not after %d", next, now)
				}
			}
			for from := coarse.Now(); from < end; {
				to := min(end, from+1+uint64(rng.IntN(120)))
				coarse.Advance(to)
				jumps++
				edge := false
				for _, e := range seen {
					edge = edge || from < e && e <= to
				}
				if _, ok := coarse.PIC.PendingVector(); ok != edge {
					t.Fatalf("round %d: jump (%d, %d]: IRQ0 %v, edges at %v", round, from, to, ok, seen)
				}
				if edge {
					ack(coarse)
				}
				from = to
			}
			if fine.Digest(0) != coarse.Digest(0) {
				t.Fatalf("round %d step %d: digests differ at %d", round, step, end)
			}
			for i := 0; i < 3; i++ {
				o1, c1 := readBack(t, fine, i)
				o2, c2 := readBack(t, coarse, i)
				if o1 != o2 || c1 != c2 {
					t.Fatalf("round %d: counter %d reads %v %d vs %v %d", round, i, o1, c1, o2, c2)
				}
			}
		}
	}
	t.Logf("%d jumps", jumps)
}
