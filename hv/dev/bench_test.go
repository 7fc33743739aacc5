package dev

import "testing"

// Benchmarks of the calls a VM exit makes. Host ns/op is only a proxy: the
// real metric is the hypervisor's instructions per exit under Bochs (make
// bench-exit). Every one must report 0 allocs/op.

// benchPC returns a PC set up as the Linux guest leaves it: PICs
// initialized, PIT ticking at 100 Hz, COM1 with FIFOs, OUT2 and THR-empty
// interrupts.
func benchPC(b *testing.B) *PC {
	pc := newPC()
	linuxPICInit(b, pc)
	outs(b, pc, ioStep{0x21, 0x00}, ioStep{0xA1, 0x00},
		ioStep{0x43, 0x34}, ioStep{0x40, 0x9C}, ioStep{0x40, 0x2E},
		ioStep{0x3FA, 0xC7}, ioStep{0x3FB, 0x03}, ioStep{0x3FC, 0x0B}, ioStep{0x3F9, 0x02})
	return pc
}

var benchSink uint64

func benchOut(b *testing.B, port uint16, size int, v uint32) {
	pc := benchPC(b)
	var out [64]byte
	b.ReportAllocs()
	for b.Loop() {
		if pc.Out(port, size, v) {
			b.Fatal("fault")
		}
		pc.TakeOutput(out[:])
	}
}

func benchIn(b *testing.B, port uint16, size int) {
	pc := benchPC(b)
	b.ReportAllocs()
	var s uint64
	for b.Loop() {
		v, fault := pc.In(port, size)
		if fault {
			b.Fatal("fault")
		}
		s += uint64(v)
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
	pc := benchPC(b)
	b.ReportAllocs()
	var s uint64
	for b.Loop() {
		pc.Out(PortCMOSIndex, 1, CMOSSeconds)
		v, _ := pc.In(PortCMOSData, 1)
		s += uint64(v)
	}
	benchSink = s
}

// A 2-byte access split into two byte accesses (outw to the CMOS pair).
func BenchmarkPCOutWideSplit(b *testing.B) { benchOut(b, PortCMOSIndex, 2, 0x0040) }

// A port nothing claims (reported once, then silent): the slow path.
func BenchmarkPCInUnclaimed(b *testing.B) { benchIn(b, 0x2F8, 1) }

// Time: an Advance of a few microseconds with the timer running and the
// RTC counting, and the NextEvent that follows it.
func BenchmarkPCAdvance(b *testing.B) {
	pc := benchPC(b)
	b.ReportAllocs()
	now := uint64(0)
	for b.Loop() {
		now += 7
		pc.Advance(now)
		benchSink += pc.NextEvent()
	}
}

// Advance across timer periods and RTC updates (about 0.1 s each).
func BenchmarkPCAdvanceFar(b *testing.B) {
	pc := benchPC(b)
	outs(b, pc, ioStep{0x70, 0x0B}, ioStep{0x71, 0x72}) // RTC PIE, AIE, UIE
	b.ReportAllocs()
	now := uint64(0)
	for b.Loop() {
		now += PITHz / 10
		pc.Advance(now)
		benchSink += pc.NextEvent()
	}
}

// The state digest the replicas compare.
func BenchmarkPCDigest(b *testing.B) {
	pc := benchPC(b)
	b.ReportAllocs()
	for b.Loop() {
		benchSink = pc.Digest(benchSink)
	}
}
