package dev

import "testing"

// testBase is the RTC base time of the tests: 2023-11-14 22:13:20 UTC, a
// Tuesday.
const testBase = 1700000000

type ioStep struct {
	port uint16
	val  uint8
}

// newPC returns a PC as the hypervisor starts one.
func newPC() *PC {
	pc := new(PC)
	pc.Init(testBase)
	return pc
}

func out8(t testing.TB, pc *PC, port uint16, v uint8) {
	t.Helper()
	if pc.Out(port, 1, uint32(v)) {
		t.Fatalf("out %#x, %#x faulted", port, v)
	}
}

func in8(t testing.TB, pc *PC, port uint16) uint8 {
	t.Helper()
	v, fault := pc.In(port, 1)
	if fault {
		t.Fatalf("in %#x faulted", port)
	}
	return uint8(v)
}

func outs(t testing.TB, pc *PC, steps ...ioStep) {
	t.Helper()
	for _, s := range steps {
		out8(t, pc, s.port, s.val)
	}
}

// linuxPICInit is init_8259A(0) of arch/x86/kernel/i8259.c, then the cached
// masks with only the cascade open.
func linuxPICInit(t testing.TB, pc *PC) {
	t.Helper()
	outs(t, pc,
		ioStep{0x21, 0xFF},
		ioStep{0x20, 0x11}, ioStep{0x21, 0x30}, ioStep{0x21, 0x04}, ioStep{0x21, 0x01},
		ioStep{0xA0, 0x11}, ioStep{0xA1, 0x38}, ioStep{0xA1, 0x02}, ioStep{0xA1, 0x01},
		ioStep{0x21, 0xFB}, ioStep{0xA1, 0xFF},
	)
}

func wantPending(t testing.TB, pc *PC, vec uint8, ok bool) {
	t.Helper()
	v, k := pc.PIC.PendingVector()
	if k != ok || (ok && v != vec) {
		t.Fatalf("PendingVector = %#x %v, want %#x %v", v, k, vec, ok)
	}
}

// readISR and readIRR read a PIC's registers through OCW3, as
// i8259A_irq_real() and i8259A_irq_pending() do.
func readISR(t testing.TB, pc *PC, cmd uint16) uint8 {
	t.Helper()
	out8(t, pc, cmd, 0x0B)
	v := in8(t, pc, cmd)
	out8(t, pc, cmd, 0x0A)
	return v
}

func readIRR(t testing.TB, pc *PC, cmd uint16) uint8 {
	t.Helper()
	out8(t, pc, cmd, 0x0A)
	return in8(t, pc, cmd)
}
