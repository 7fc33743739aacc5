package dev

import (
	"math/rand/v2"
	"testing"
)

// TestPCLinuxBoot drives the whole machine the way the Linux guest does:
// PIC and PIT setup, timer ticks, serial output with THR-empty
// interrupts, serial input, CMOS time, the DMA-page probe, the POST port
// and an unclaimed port.
func TestPCLinuxBoot(t *testing.T) {
	pc := newPC()
	pc.Advance(1000)
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0xFA) // timer and cascade
	outs(t, pc, ioStep{0x43, 0x34}, ioStep{0x40, 0x9C}, ioStep{0x40, 0x2E})
	if in8(t, pc, PortDMAPage) != 0xFF {
		t.Fatal("DMA page probe")
	}
	out8(t, pc, PortPOST, 0x55)
	wantPending(t, pc, 0, false)
	if n := pc.NextEvent(); n != 1000+11932+1 {
		t.Fatalf("NextEvent %d", n)
	}
	pc.Advance(pc.NextEvent())
	wantPending(t, pc, 0x30, true)
	pc.PIC.Acknowledge()
	_ = in8(t, pc, 0x21)
	outs(t, pc, ioStep{0x21, 0xFB}, ioStep{0x20, 0x60}, ioStep{0x21, 0xFA})

	// Serial: unmask IRQ4, enable THRI with OUT2.
	out8(t, pc, 0x21, 0xEA)
	outs(t, pc, ioStep{com1 + uartLCR, 0x03}, ioStep{com1 + uartMCR, 0x0B}, ioStep{com1 + uartIER, ierETBEI})
	wantPending(t, pc, 0x34, true)
	pc.PIC.Acknowledge()
	if iir := in8(t, pc, com1+uartIIR); iir != 0x02 {
		t.Fatalf("IIR = %#x", iir)
	}
	outs(t, pc, ioStep{com1, 'o'}, ioStep{com1, 'k'}, ioStep{com1 + uartIER, 0}, ioStep{0x20, 0x64})
	if s := output(pc); s != "ok" {
		t.Fatalf("serial output %q", s)
	}
	wantPending(t, pc, 0, false) // the IER write withdrew the request
	// Serial input.
	out8(t, pc, com1+uartIER, ierERBFI)
	if !pc.Receive('y') {
		t.Fatal("Receive refused")
	}
	wantPending(t, pc, 0x34, true)
	if in8(t, pc, com1) != 'y' {
		t.Fatal("RBR")
	}
	wantPending(t, pc, 0, false)

	// CMOS: mach_get_cmos_time two seconds in.
	pc.Advance(2 * PITHz)
	if cmos(t, pc, CMOSRegA)&rtcUIP != 0 {
		t.Fatal("UIP")
	}
	if s, m, h := cmos(t, pc, CMOSSeconds), cmos(t, pc, CMOSMinutes), cmos(t, pc, CMOSHours); s != 0x22 || m != 0x13 || h != 0x22 {
		t.Fatalf("time %x:%x:%x, want 22:13:22", h, m, s)
	}
	// An unclaimed port: reported once.
	in8(t, pc, 0x2F9)
	out8(t, pc, 0x2F9, 7)
	if a, ok := pc.TakeUnclaimed(); !ok || a != (UnclaimedAccess{Port: 0x2F9, Size: 1}) {
		t.Fatalf("TakeUnclaimed = %+v %v", a, ok)
	}
	if _, ok := pc.TakeUnclaimed(); ok {
		t.Fatal("reported twice")
	}
	// Wide accesses split into bytes: outw 0x70 selects and writes RAM.
	if pc.Out(PortCMOSIndex, 2, 0xA540) {
		t.Fatal("outw faulted")
	}
	if v, _ := pc.In(PortCMOSIndex, 2); v != 0xA5FF {
		t.Fatalf("inw 0x70 = %#x", v)
	}
}

func TestPCTimed(t *testing.T) {
	pc := newPC()
	for p := 0; p < 65536; p++ {
		want := false
		for i := 0; i < 4; i++ {
			switch q := uint16(p + i); q {
			case 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71:
				want = true
			}
		}
		if pc.Timed(uint16(p)) != want {
			t.Fatalf("Timed(%#x) = %v", p, !want)
		}
	}
}

// script is a random guest: port accesses over every device, time, serial
// input, interrupt acknowledgement and output taking.
type script struct {
	rng    *rand.Rand
	vecs   map[uint8]int // vectors acknowledged
	output int           // bytes taken
}

var scriptPorts = [...]uint16{0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x80, 0x87,
	0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x2F8}

// step performs one random action on pc at device time now.
func (s *script) step(pc *PC, now uint64) {
	r := s.rng
	switch r.IntN(7) {
	case 0, 1:
		port := scriptPorts[r.IntN(len(scriptPorts))]
		v := uint32(r.IntN(256))
		if port == 0x70 {
			v = uint32(r.IntN(14)) // mostly clock registers
		}
		pc.Out(port, 1<<r.IntN(2), v)
	case 2, 3:
		pc.In(scriptPorts[r.IntN(len(scriptPorts))], 1)
	case 4:
		pc.Receive(byte(r.IntN(256)))
	case 5:
		if _, ok := pc.PIC.PendingVector(); ok {
			s.vecs[pc.PIC.Acknowledge()]++
		}
		pc.Out(0x20, 1, 0x20)
		pc.Out(0xA0, 1, 0x20)
	case 6:
		var b [7]byte
		s.output += pc.TakeOutput(b[:])
		pc.TakeUnclaimed()
	}
}

// setup programs the timer, the RTC's interrupts and the UART, so the
// script has interrupts to play with.
func setup(t *testing.T, pc *PC) {
	linuxPICInit(t, pc)
	outs(t, pc, ioStep{0x21, 0x00}, ioStep{0xA1, 0x00}, ioStep{0x43, 0x34}, ioStep{0x40, 0x00}, ioStep{0x40, 0x10},
		ioStep{0x70, 0x0A}, ioStep{0x71, 0x2A}, ioStep{0x70, 0x0B}, ioStep{0x71, 0x72},
		ioStep{com1 + uartMCR, 0x0B}, ioStep{com1 + uartIER, 0x0F}, ioStep{com1 + uartIIR, 0x81})
}

// TestPCDeterminism: two PCs given the same calls have the same digest
// after every call; advancing one of them in extra steps in between changes
// nothing; one different access makes them differ.
func TestPCDeterminism(t *testing.T) {
	a, b := newPC(), newPC()
	setup(t, a)
	setup(t, b)
	sa := script{rng: rand.New(rand.NewPCG(7, 8)), vecs: map[uint8]int{}}
	sb := script{rng: rand.New(rand.NewPCG(7, 8)), vecs: map[uint8]int{}}
	extra := rand.New(rand.NewPCG(9, 10))
	now := uint64(0)
	for i := 0; i < 20000; i++ {
		next := now + uint64(extra.IntN(3000))
		// b also stops at a few times in between, and at NextEvent.
		for k := 0; k < 3; k++ {
			b.Advance(now + uint64(extra.IntN(int(next-now)+1)))
		}
		if e := b.NextEvent(); e <= next {
			b.Advance(e)
		}
		now = next
		a.Advance(now)
		b.Advance(now)
		sa.step(a, now)
		sb.step(b, now)
		if a.Digest(1) != b.Digest(1) {
			t.Fatalf("step %d at %d: digests differ", i, now)
		}
	}
	// The run delivered interrupts (the script reprograms the PICs, so
	// their vectors vary) and transmitted.
	delivered := 0
	for _, n := range sa.vecs {
		delivered += n
	}
	if delivered < 1000 || len(sa.vecs) < 10 || sa.output == 0 {
		t.Fatalf("vectors %v, %d output bytes: the script did not exercise the devices", sa.vecs, sa.output)
	}
	h := a.Digest(1)
	a.Out(com1+uartSCR, 1, uint32(a.UART.scr)^1)
	if a.Digest(1) == h {
		t.Fatal("a different access left the digest unchanged")
	}
	b.Out(com1+uartSCR, 1, uint32(b.UART.scr)^1)
	if a.Digest(1) != b.Digest(1) {
		t.Fatal("the same access made the digests differ")
	}
	// Each device's state is in the digest.
	for _, step := range []ioStep{{0x21, 0x5A}, {0x43, 0xB0}, {0x71, 0x77}, {com1 + uartLCR, 0x1B}} {
		h := a.Digest(1)
		if step.port == 0x71 {
			a.Out(0x70, 1, 0x50)
		}
		a.Out(step.port, 1, uint32(step.val))
		if a.Digest(1) == h {
			t.Fatalf("out %#x did not change the digest", step.port)
		}
	}
	if h := a.Digest(1); a.Digest(2) == h || a.Digest(1) != h {
		t.Fatal("Digest does not depend on its seed, or changes the state")
	}
}

// TestPCNextEventCombined: the earlier of the PIT's and the RTC's events.
func TestPCNextEventCombined(t *testing.T) {
	pc := newPC()
	outs(t, pc, ioStep{0x43, 0x34}, ioStep{0x40, 0x00}, ioStep{0x40, 0x00}) // 65536
	setCMOS(t, pc, CMOSRegB, 0x12)                                          // update-ended
	if n := pc.NextEvent(); n != 65537 {
		t.Fatalf("NextEvent %d, want the PIT's 65537", n)
	}
	pc.Advance(PITHz - 1)
	if n, want := pc.NextEvent(), uint64(PITHz); n != want {
		t.Fatalf("NextEvent %d, want the RTC's update %d", n, want)
	}
	pc.Advance(PITHz)
	if n := pc.NextEvent(); n != 1+19*65536 { // the PIT's; IRQ8 is high until C is read
		t.Fatalf("NextEvent %d", n)
	}
	if pc.Now() != PITHz {
		t.Fatal("Now")
	}
	pc.Advance(5) // earlier: ignored
	if pc.Now() != PITHz {
		t.Fatal("Advance went back")
	}
}
