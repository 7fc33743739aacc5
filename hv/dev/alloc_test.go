package dev

import "testing"

// TestNoAllocations checks that every call the VM-exit path makes
// allocates nothing.
func TestNoAllocations(t *testing.T) {
	pc := newPC()
	pc.Bus.SetPolicy(0x500, 0x5FF, Fault)
	setup(t, pc)
	ports := []uint16{0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x80, 0x87,
		0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x2F8, 0x510}
	var buf [64]byte
	now := uint64(0)
	var sink uint64
	n := testing.AllocsPerRun(200, func() {
		now += 5000
		if pc.Timed(0x40) {
			pc.Advance(now)
		}
		sink += pc.NextEvent()
		pc.Receive('x')
		_ = pc.CanReceive()
		for _, p := range ports {
			pc.In(p, 1)
		}
		pc.Out(0x3F8, 1, 'a')
		pc.Out(0x70, 2, 0x000C)
		pc.In(0x2F8, 4)
		pc.Out(0x500, 1, 0)
		pc.Out(0x43, 1, 0xC2)
		if _, ok := pc.PIC.PendingVector(); ok {
			pc.PIC.Acknowledge()
			pc.Out(0x20, 1, 0x20)
		}
		pc.PIC.RaiseIRQ(12)
		pc.PIC.LowerIRQ(12)
		pc.PIC.PulseIRQ(1)
		pc.Out(0xA0, 1, 0x20)
		pc.Out(0x20, 1, 0x20)
		pc.TakeOutput(buf[:])
		pc.TakeUnclaimed()
		sink += pc.Digest(sink)
	})
	if n != 0 {
		t.Fatalf("VM-exit path: %v allocations per run", n)
	}
	if sink == 0 {
		t.Fatal("nothing computed")
	}
}
