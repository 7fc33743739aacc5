package dev

import (
	"fmt"
	"testing"
)

type logged struct {
	port  uint16
	write bool
	size  int
	value uint32
}

func newLoggedBus() (*Bus, *[]logged) {
	var lines []logged
	b := &Bus{Log: func(port uint16, write bool, size int, v uint32) {
		lines = append(lines, logged{port, write, size, v})
	}}
	return b, &lines
}

// recorder is a device that records accesses; wide if registered so.
type recorder struct{ ins, outs []string }

func (r *recorder) In(port uint16, size int) uint32 {
	r.ins = append(r.ins, fmt.Sprintf("%#x/%d", port, size))
	return uint32(port&0xFF) | 0xAB00
}

func (r *recorder) Out(port uint16, size int, v uint32) {
	r.outs = append(r.outs, fmt.Sprintf("%#x/%d=%#x", port, size, v))
}

func TestBusUnknownPortIgnoreLogsOnce(t *testing.T) {
	b, lines := newLoggedBus()
	for i := 0; i < 3; i++ {
		if v, fault := b.In(0x2F8, 1); v != 0xFF || fault {
			t.Fatalf("In = %#x %v", v, fault)
		}
	}
	if fault := b.Out(0x2F8, 1, 0x41); fault {
		t.Fatal("Out faulted")
	}
	if fault := b.Out(0x3E9, 1, 0x42); fault {
		t.Fatal("Out faulted")
	}
	// A 2-byte read of unclaimed ports: all ones, each port logged once.
	if v, _ := b.In(0x300, 2); v != 0xFFFF {
		t.Fatalf("inw = %#x", v)
	}
	if v, _ := b.In(0x300, 4); v != 0xFFFFFFFF {
		t.Fatalf("inl = %#x", v)
	}
	want := []logged{{0x2F8, false, 1, 0}, {0x3E9, true, 1, 0x42}, {0x300, false, 2, 0}, {0x301, false, 2, 0},
		{0x302, false, 4, 0}, {0x303, false, 4, 0}}
	if fmt.Sprint(*lines) != fmt.Sprint(want) {
		t.Fatalf("log = %v, want %v", *lines, want)
	}
}

func TestBusFaultAndSilentPolicies(t *testing.T) {
	b, lines := newLoggedBus()
	r := &recorder{}
	b.Register(0x400, 0x401, r)
	b.SetPolicy(0x400, 0x4FF, Fault)
	b.SetPolicy(0x480, 0x48F, Silent) // later range wins where they overlap
	if _, fault := b.In(0x410, 1); !fault {
		t.Fatal("no fault for an unclaimed port under Fault")
	}
	if !b.Out(0x410, 1, 0) {
		t.Fatal("no fault on Out")
	}
	// Claimed ports are not subject to the policy.
	if v, fault := b.In(0x400, 1); fault || v != 0x00 {
		t.Fatalf("claimed port: %#x %v", v, fault)
	}
	// An access that reaches a faulting port is refused as a whole.
	if !b.Out(0x401, 2, 0x1234) || len(r.outs) != 0 {
		t.Fatalf("straddling access not refused: %v", r.outs)
	}
	if v, fault := b.In(0x485, 1); fault || v != 0xFF {
		t.Fatalf("Silent port: %#x %v", v, fault)
	}
	if b.PolicyFor(0x485) != Silent || b.PolicyFor(0x4FF) != Fault || b.PolicyFor(0x500) != Ignore {
		t.Fatal("PolicyFor")
	}
	b.SetDefault(Fault)
	if _, fault := b.In(0x9000, 1); !fault {
		t.Fatal("default Fault not applied")
	}
	if len(*lines) != 0 {
		t.Fatalf("Fault/Silent logged: %v", *lines)
	}
	if _, fault := b.In(0x400, 3); !fault {
		t.Fatal("3-byte access accepted")
	}
}

func TestBusSplitsWideAccessesForISADevices(t *testing.T) {
	var b Bus
	r := NewRTC()
	b.Register(PortCMOSIndex, PortCMOSData, r)
	// outw 0x70, 0x5A40: index 0x40 to 0x70, then 0x5A to 0x71.
	b.Out(PortCMOSIndex, 2, 0x5A40)
	if r.RAM(0x40) != 0x5A {
		t.Fatalf("RAM[0x40] = %#x", r.RAM(0x40))
	}
	// inw 0x70: 0xFF from the write-only index, then the data byte.
	if v, _ := b.In(PortCMOSIndex, 2); v != 0x5AFF {
		t.Fatalf("inw = %#x", v)
	}
	// A wide device gets the whole access.
	w := &recorder{}
	b.RegisterWide(0xCF8, 0xCFF, w)
	if v, _ := b.In(0xCF8, 4); v != 0xABF8 {
		t.Fatalf("wide In = %#x", v)
	}
	b.Out(0xCFC, 4, 0x80000000)
	if fmt.Sprint(w.ins, w.outs) != "[0xcf8/4] [0xcfc/4=0x80000000]" {
		t.Fatalf("wide accesses: %v %v", w.ins, w.outs)
	}
	if b.Device(0xCFA) != w || b.Device(0x72) != nil {
		t.Fatal("Device lookup")
	}
}

func TestBusRegisterOverlapPanics(t *testing.T) {
	var b Bus
	b.Register(0x20, 0x21, NewPIC())
	defer func() {
		if recover() == nil {
			t.Fatal("overlapping Register did not panic")
		}
	}()
	b.Register(0x21, 0x22, Absent{})
}

// TestPCLinuxBoot drives the whole machine through the Bus the way the
// Linux guest does: PIC and PIT setup, timer ticks, serial output with
// THR-empty interrupts, CMOS time, the DMA-page probe and the POST port.
func TestPCLinuxBoot(t *testing.T) {
	var out []byte
	var pc PC
	var unknown []uint16
	pc.Init(func(b byte) { out = append(out, b) }, func(port uint16, write bool, size int, v uint32) {
		unknown = append(unknown, port)
	})
	pc.RTC.SetTime(1700000000)
	do := func(port uint16, v uint8) {
		if pc.Out(port, 1, uint32(v)) {
			t.Fatalf("out %#x faulted", port)
		}
	}
	in := func(port uint16) uint8 {
		v, fault := pc.In(port, 1)
		if fault {
			t.Fatalf("in %#x faulted", port)
		}
		return uint8(v)
	}
	now := uint64(1000)
	pc.Advance(now)
	for _, s := range []ioStep{{0x21, 0xFF}, {0xA1, 0xFF}, {0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},
		{0xA0, 0x11}, {0xA1, 0x38}, {0xA1, 0x02}, {0xA1, 0x01}, {0x21, 0xFA}, {0xA1, 0xFF},
		{0x43, 0x34}, {0x40, 0x9C}, {0x40, 0x2E}} {
		do(s.port, s.val)
	}
	if in(PortDMAPage) != 0xFF {
		t.Fatal("DMA page probe")
	}
	do(PortPOST, 0x55)
	if _, ok := pc.PIC.PendingVector(); ok {
		t.Fatal("interrupt before the first tick")
	}
	now += 11932
	pc.Advance(now)
	if v, ok := pc.PIC.PendingVector(); !ok || v != 0x30 {
		t.Fatalf("timer vector %#x %v", v, ok)
	}
	pc.PIC.Acknowledge()
	_ = in(0x21)
	do(0x21, 0xFB)
	do(0x20, 0x60)
	do(0x21, 0xFA)
	// Serial: unmask IRQ4, enable THRI with OUT2.
	do(0x21, 0xEA)
	do(PortCOM1+uartLCR, 0x03)
	do(PortCOM1+uartMCR, 0x0B)
	do(PortCOM1+uartIER, ierETBEI)
	if v, ok := pc.PIC.PendingVector(); !ok || v != 0x34 {
		t.Fatalf("serial vector %#x %v", v, ok)
	}
	pc.PIC.Acknowledge()
	if iir := in(PortCOM1 + uartIIR); iir != 0x02 {
		t.Fatalf("IIR = %#x", iir)
	}
	do(PortCOM1, 'o')
	do(PortCOM1, 'k')
	do(PortCOM1+uartIER, 0)
	do(0x20, 0x64)
	if string(out) != "ok" {
		t.Fatalf("serial output %q", out)
	}
	// The THR write raised IRQ4 again (an edge after the IIR read), so a
	// request is latched; the guest's IER write then withdrew it.
	if _, ok := pc.PIC.PendingVector(); ok {
		t.Fatal("IRQ4 still pending after IER was cleared")
	}
	// Serial input through the PIC.
	do(PortCOM1+uartIER, ierERBFI)
	if !pc.Receive('y') {
		t.Fatal("Receive refused")
	}
	if v, ok := pc.PIC.PendingVector(); !ok || v != 0x34 {
		t.Fatalf("receive vector %#x %v", v, ok)
	}
	if in(PortCOM1) != 'y' {
		t.Fatal("RBR")
	}
	// CMOS: two logical seconds later.
	pc.Advance(2 * PITHz)
	do(PortCMOSIndex, CMOSSeconds)
	if s := in(PortCMOSData); s != 0x22 {
		t.Fatalf("seconds = %#x, want 0x22", s)
	}
	// Unknown port: logged once.
	in(0x2F9)
	in(0x2F9)
	if fmt.Sprint(unknown) != "[761]" {
		t.Fatalf("unknown ports logged: %v", unknown)
	}
}

// TestBusRouteMatchesClaims checks the port table against the claimed ranges
// for every port, and that the fast path (byte accesses) gives what the
// devices give: an 8-bit device sees the low byte, a wide one the whole
// value, Absent reads all ones.
func TestBusRouteMatchesClaims(t *testing.T) {
	var b Bus
	narrow, wide := &recorder{}, &recorder{}
	b.Register(0x20, 0x21, narrow)
	b.Register(0x80, 0x80, Absent{})
	b.Register(0x87, 0x87, &Absent{})
	b.RegisterWide(0xCF8, 0xCFF, wide)
	b.RegisterWide(0xFFFE, 0xFFFF, Absent{})
	for p := 0; p < 65536; p++ {
		var want Device
		switch {
		case p == 0x20 || p == 0x21:
			want = narrow
		case p == 0x80:
			want = Absent{}
		case p == 0x87:
			want = b.devs[2].dev
		case p >= 0xCF8 && p <= 0xCFF:
			want = wide
		case p >= 0xFFFE:
			want = Absent{}
		}
		if got := b.Device(uint16(p)); got != want {
			t.Fatalf("Device(%#x) = %v, want %v", p, got, want)
		}
	}
	if v, f := b.In(0x21, 1); v != 0x21 || f {
		t.Fatalf("narrow In = %#x %v", v, f)
	}
	if v, f := b.In(0xCF9, 1); v != 0xABF9 || f {
		t.Fatalf("wide In = %#x %v", v, f)
	}
	b.Out(0x20, 1, 0x1234)
	b.Out(0xCFC, 1, 0x1234)
	if fmt.Sprint(narrow.outs, wide.outs) != "[0x20/1=0x34] [0xcfc/1=0x1234]" {
		t.Fatalf("byte writes: %v %v", narrow.outs, wide.outs)
	}
	for _, p := range []uint16{0x80, 0x87, 0xFFFE} {
		if v, f := b.In(p, 1); v != 0xFF || f || b.Out(p, 1, 0) {
			t.Fatalf("Absent %#x: In = %#x %v", p, v, f)
		}
	}
	if v, _ := b.In(0xFFFE, 2); v != 0xFFFF {
		t.Fatalf("wide Absent inw = %#x", v)
	}
}
