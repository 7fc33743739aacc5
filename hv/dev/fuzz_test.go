package dev

import "testing"

// FuzzPCPortIO drives the machine with arbitrary guest port I/O, serial input
// and time: a guest must never make a model panic, and the PIC must deliver
// what it announces.
func FuzzPCPortIO(f *testing.F) {
	f.Add([]byte{0, 0x20, 0x11, 0, 0x21, 0x30, 0, 0x21, 0x04, 0, 0x21, 0x01, 0, 0x21, 0x00,
		0, 0x43, 0x34, 0, 0x40, 0x10, 0, 0x40, 0x00, 2, 0xFF, 0xFF})
	f.Add([]byte{0, 0x3C, 0x10, 0, 0x38, 0x41, 1, 0x38, 0, 0, 0x3A, 0xC7, 3, 'x', 0})
	ports := [...]uint16{0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x80, 0x87,
		0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x2F8}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pc PC
		pc.Init(nil, nil)
		now := uint64(0)
		for ; len(data) >= 3; data = data[3:] {
			op, a, v := data[0]%5, data[1], data[2]
			port := ports[int(a)%len(ports)]
			switch op {
			case 0:
				pc.Out(port, 1<<(a>>6%3), uint32(v)*0x01010101)
			case 1:
				pc.In(port, 1<<(a>>6%3))
			case 2:
				now += uint64(a)<<8 | uint64(v)
				pc.Advance(now)
				if d := pc.PIT.NextIRQ(now); d <= now {
					t.Fatalf("NextIRQ %d not after now %d", d, now)
				}
			case 3:
				pc.Receive(v)
			case 4:
				want, ok := pc.PIC.PendingVector()
				if got := pc.PIC.Acknowledge(); ok && got != want {
					t.Fatalf("PendingVector %#x but Acknowledge %#x", want, got)
				}
			}
			// The UART's cached IRQ level, and the PIC's input from it,
			// follow its state.
			if l := pc.UART.irqLine(); pc.UART.IRQ() != l || pc.uartIRQ != l {
				t.Fatalf("UART IRQ cached %v, PC's line %v, state says %v", pc.UART.IRQ(), pc.uartIRQ, l)
			}
		}
	})
}
