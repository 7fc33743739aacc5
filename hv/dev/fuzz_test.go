package dev

import "testing"

// FuzzPCPortIO drives two machines with the same arbitrary guest port I/O,
// serial input and time, one of them also advanced at extra times in
// between: a guest must never make a model panic, their digests must stay
// equal, NextEvent must lie ahead, and the PIC must deliver what it
// announces.
func FuzzPCPortIO(f *testing.F) {
	f.Add([]byte{0, 0x20, 0x11, 0, 0x21, 0x30, 0, 0x21, 0x04, 0, 0x21, 0x01, 0, 0x21, 0x00,
		0, 0x43, 0x34, 0, 0x40, 0x10, 0, 0x40, 0x00, 2, 0xFF, 0xFF, 4, 0, 0})
	f.Add([]byte{0, 0x3C, 0x10, 0, 0x38, 0x41, 1, 0x38, 0, 0, 0x3A, 0xC7, 3, 'x', 0, 5, 0, 0})
	f.Add([]byte{0, 0x70, 0x0B, 0, 0x71, 0x72, 0, 0x70, 0x0A, 0, 0x71, 0x23, 2, 0xFF, 0xFF, 2, 0xFF, 0xFF, 4, 0, 0})
	ports := [...]uint16{0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x80, 0x87,
		0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x2F8}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := newPC(), newPC()
		now := uint64(0)
		var buf [5]byte
		for ; len(data) >= 3; data = data[3:] {
			op, x, v := data[0]%6, data[1], data[2]
			port := ports[int(x)%len(ports)]
			size := 1 << (x >> 6 % 3)
			for _, pc := range []*PC{a, b} {
				switch op {
				case 0:
					pc.Out(port, size, uint32(v)*0x01010101)
				case 1:
					pc.In(port, size)
				case 2:
					d := (uint64(x)<<8 | uint64(v)) << (v % 12)
					if pc == b {
						pc.Advance(now + d/3) // an extra stop on the way
					}
					pc.Advance(now + d)
				case 3:
					pc.Receive(v)
				case 4:
					want, ok := pc.PIC.PendingVector()
					if got := pc.PIC.Acknowledge(); ok && got != want {
						t.Fatalf("PendingVector %#x but Acknowledge %#x", want, got)
					}
				case 5:
					pc.TakeOutput(buf[:v%6])
					pc.TakeUnclaimed()
				}
				if n := pc.NextEvent(); n <= pc.Now() {
					t.Fatalf("NextEvent %d not after Now %d", n, pc.Now())
				}
				// The PIC's inputs from the UART and the RTC follow them.
				if pc.lines.uart != pc.UART.irqLine() || pc.lines.rtc != pc.RTC.irq() || pc.PIT.rose0 {
					t.Fatal("PIC inputs out of step with the devices")
				}
			}
			if op == 2 {
				now += (uint64(x)<<8 | uint64(v)) << (v % 12)
			}
			if a.Digest(0) != b.Digest(0) {
				t.Fatal("digests differ")
			}
		}
	})
}
