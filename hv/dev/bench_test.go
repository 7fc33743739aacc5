package dev

import "testing"

// Benchmarks of the port I/O paths a VM exit takes (PC.In/PC.Out). Host
// ns/op is only a proxy: the real metric is the hypervisor's instructions per
// exit under Bochs (make bench-exit). Every one must report 0 allocs/op.

// benchPC returns a PC set up as the Linux guest leaves it: PICs
// initialized, PIT ticking, COM1 with FIFOs, OUT2 and THR-empty interrupts.
func benchPC() *PC {
	pc := new(PC)
	pc.Init(func(byte) {}, func(uint16, bool, int, uint32) {})
	for _, s := range []ioStep{{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},
		{0xA0, 0x11}, {0xA1, 0x38}, {0xA1, 0x02}, {0xA1, 0x01}, {0x21, 0x00}, {0xA1, 0x00},
		{0x43, 0x34}, {0x40, 0x9C}, {0x40, 0x2E}, {0x3FA, 0xC7}, {0x3FB, 0x03}, {0x3FC, 0x0B}, {0x3F9, 0x02}} {
		pc.Out(s.port, 1, uint32(s.val))
	}
	return pc
}

var benchSink uint32

func benchOut(b *testing.B, port uint16, size int, v uint32) {
	pc := benchPC()
	b.ReportAllocs()
	for b.Loop() {
		if pc.Out(port, size, v) {
			b.Fatal("fault")
		}
	}
}

func benchIn(b *testing.B, port uint16, size int) {
	pc := benchPC()
	b.ReportAllocs()
	var s uint32
	for b.Loop() {
		v, fault := pc.In(port, size)
		if fault {
			b.Fatal("fault")
		}
		s += v
	}
	benchSink = s
}

// The I/O-delay write Linux and the exit benchmark guest make: Absent.
func BenchmarkPCOutPOST(b *testing.B) { benchOut(b, PortPOST, 1, 0x55) }

// The DMA page probe: Absent, read.
func BenchmarkPCInDMAPage(b *testing.B) { benchIn(b, PortDMAPage, 1) }

// Serial output: the guest polls LSR, then writes THR.
func BenchmarkPCInLSR(b *testing.B)  { benchIn(b, PortCOM1+uartLSR, 1) }
func BenchmarkPCOutTHR(b *testing.B) { benchOut(b, PortCOM1, 1, 'x') }

// Interrupt handling: reading IIR, and the PIC's EOI.
func BenchmarkPCInIIR(b *testing.B)     { benchIn(b, PortCOM1+uartIIR, 1) }
func BenchmarkPCOutPICEOI(b *testing.B) { benchOut(b, PortPICMasterCmd, 1, 0x20) }

// CMOS: index then data.
func BenchmarkPCCMOSRead(b *testing.B) {
	pc := benchPC()
	b.ReportAllocs()
	var s uint32
	for b.Loop() {
		pc.Out(PortCMOSIndex, 1, CMOSSeconds)
		v, _ := pc.In(PortCMOSData, 1)
		s += v
	}
	benchSink = s
}

// A 2-byte access split into two byte accesses (outw to the CMOS pair).
func BenchmarkPCOutWideSplit(b *testing.B) { benchOut(b, PortCMOSIndex, 2, 0x0040) }

// A port nothing claims (logged once, then silent): the slow path.
func BenchmarkPCInUnclaimed(b *testing.B) { benchIn(b, 0x2F8, 1) }
