package dev

import "testing"

// TestNoAllocations checks that every port handler and every call the
// VM-exit path makes allocates nothing.
func TestNoAllocations(t *testing.T) {
	var sunk int
	var logs int
	var pc PC
	pc.Init(func(b byte) { sunk++ }, func(uint16, bool, int, uint32) { logs++ })
	pc.Bus.SetPolicy(0x500, 0x5FF, Fault)

	ports := []uint16{0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x80, 0x87,
		0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x2F8, 0x510}
	devices := []struct {
		name string
		d    Device
	}{{"PIC", &pc.PIC}, {"PIT", &pc.PIT}, {"UART", &pc.UART}, {"RTC", &pc.RTC}, {"Absent", Absent{}}}

	now := uint64(0)
	for _, dv := range devices {
		n := testing.AllocsPerRun(50, func() {
			for _, p := range ports {
				dv.d.In(p, 1)
				dv.d.Out(p, 1, uint32(p)^0x5A)
			}
		})
		if n != 0 {
			t.Errorf("%s In/Out: %v allocations per run", dv.name, n)
		}
	}
	// Put the UART and PIC in a busy state, then exercise the exit path.
	pc.Init(func(b byte) { sunk++ }, func(uint16, bool, int, uint32) { logs++ })
	for _, s := range []ioStep{{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},
		{0xA0, 0x11}, {0xA1, 0x38}, {0xA1, 0x02}, {0xA1, 0x01}, {0x21, 0x00}, {0xA1, 0x00},
		{0x43, 0x34}, {0x40, 0x9C}, {0x40, 0x2E}, {0x3FA, 0xC7}, {0x3FC, 0x0B}, {0x3F9, 0x0F}} {
		pc.Out(s.port, 1, uint32(s.val))
	}
	n := testing.AllocsPerRun(200, func() {
		now += 5000
		pc.Advance(now)
		pc.PIT.NextIRQ(now)
		pc.Receive('x')
		for _, p := range ports {
			pc.In(p, 1)
		}
		pc.Out(0x3F8, 1, 'a')
		pc.Out(0x70, 2, 0x0040)
		pc.In(0x2F8, 4)
		pc.Out(0x500, 1, 0)
		if v, ok := pc.PIC.PendingVector(); ok {
			_ = v
			pc.PIC.Acknowledge()
			pc.Out(0x20, 1, 0x20)
		}
		pc.PIC.RaiseIRQ(12)
		pc.PIC.LowerIRQ(12)
		pc.PIC.PulseIRQ(1)
		pc.Out(0xA0, 1, 0x20)
		pc.Out(0x20, 1, 0x20)
	})
	if n != 0 {
		t.Fatalf("VM-exit path: %v allocations per run", n)
	}
	if sunk == 0 || logs == 0 {
		t.Fatal("the exercise did not reach the sink and the log")
	}
}
