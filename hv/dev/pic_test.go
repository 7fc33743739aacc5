package dev

import "testing"

// The PIC's own input lines (IRQ1, 3, 5, 6, 10, 12: no device of the PC
// drives them) are driven with RaiseIRQ/LowerIRQ/PulseIRQ, as the
// hypervisor may; IRQ0, 4 and 8 come from the devices.

func TestPICLinuxInitOCW3AndSpecificEOI(t *testing.T) {
	pc := newPC()
	// probe_8259A: the IMR reads back what was written.
	outs(t, pc, ioStep{0xA1, 0xFF}, ioStep{0x21, 0xFB})
	if v := in8(t, pc, 0x21); v != 0xFB {
		t.Fatalf("IMR probe = %#x", v)
	}
	linuxPICInit(t, pc)
	if in8(t, pc, 0x21) != 0xFB || in8(t, pc, 0xA1) != 0xFF {
		t.Fatal("IMR readback")
	}
	pc.PIC.RaiseIRQ(1)
	wantPending(t, pc, 0, false) // masked: latched in IRR only
	if irr := readIRR(t, pc, 0x20); irr != 0x02 {
		t.Fatalf("IRR = %#x, want 0x02", irr)
	}
	out8(t, pc, 0x21, 0xF9) // unmask IRQ1
	wantPending(t, pc, 0x31, true)
	if v := pc.PIC.Acknowledge(); v != 0x31 {
		t.Fatalf("INTA = %#x", v)
	}
	if isr, irr := readISR(t, pc, 0x20), readIRR(t, pc, 0x20); isr != 0x02 || irr != 0 {
		t.Fatalf("after INTA: ISR %#x IRR %#x, want 0x02 0", isr, irr)
	}
	// Another edge while IRQ1 is in service: pending in IRR, blocked.
	pc.PIC.PulseIRQ(1)
	wantPending(t, pc, 0, false)
	// mask_and_ack_8259A: dummy IMR read, mask, specific EOI, then unmask.
	_ = in8(t, pc, 0x21)
	outs(t, pc, ioStep{0x21, 0xFB}, ioStep{0x20, 0x61})
	wantPending(t, pc, 0, false)
	out8(t, pc, 0x21, 0xF9)
	wantPending(t, pc, 0x31, true)
	pc.PIC.Acknowledge()
	out8(t, pc, 0x20, 0x20) // non-specific EOI
	if isr := readISR(t, pc, 0x20); isr != 0 {
		t.Fatalf("ISR after EOI = %#x", isr)
	}
	// Edge-triggered: the line is still high, no request without an edge.
	wantPending(t, pc, 0, false)
}

func TestPICPriorityAndNesting(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	outs(t, pc, ioStep{0x21, 0x00}, ioStep{0xA1, 0x00})
	pc.PIC.RaiseIRQ(5)
	pc.PIC.RaiseIRQ(1)
	wantPending(t, pc, 0x31, true) // IRQ1 beats IRQ5
	pc.PIC.Acknowledge()
	wantPending(t, pc, 0, false) // IRQ5 blocked by IRQ1 in service
	pc.PIC.RaiseIRQ(3)
	pc.PIC.LowerIRQ(3)           // withdrawn before INTA
	wantPending(t, pc, 0, false) // IRQ3 gone
	pc.PIC.RaiseIRQ(3)
	pc.PIC.RaiseIRQ(6)
	pc.PIC.LowerIRQ(1)           // in service stays in service
	wantPending(t, pc, 0, false) // IRQ3 is lower than IRQ1
	pc.PIC.PulseIRQ(1)
	out8(t, pc, 0x20, 0x61) // specific EOI IRQ1
	wantPending(t, pc, 0x31, true)
	pc.PIC.Acknowledge()
	// Non-specific EOI clears the highest-priority level in service.
	pc.PIC.RaiseIRQ(12) // slave IRQ12 (via IR2) nests above IRQ3
	out8(t, pc, 0x20, 0x20)
	wantPending(t, pc, 0x3C, true)
	pc.PIC.Acknowledge()
	if isr := readISR(t, pc, 0x20); isr != 0x04 {
		t.Fatalf("master ISR = %#x, want cascade only", isr)
	}
	if isr := readISR(t, pc, 0xA0); isr != 0x10 {
		t.Fatalf("slave ISR = %#x, want IR4 (IRQ12)", isr)
	}
	// EOI slave then master (Linux's order); IRQ3 is next, then 5, then 6.
	outs(t, pc, ioStep{0xA0, 0x64}, ioStep{0x20, 0x62})
	for _, want := range []uint8{0x33, 0x35, 0x36} {
		wantPending(t, pc, want, true)
		pc.PIC.Acknowledge()
		out8(t, pc, 0x20, 0x20)
	}
	wantPending(t, pc, 0, false)
}

func TestPICSlaveCascadeAndMasks(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	pc.PIC.RaiseIRQ(12)
	wantPending(t, pc, 0, false)
	out8(t, pc, 0xA1, 0xEF) // unmask IRQ12
	wantPending(t, pc, 0x3C, true)
	out8(t, pc, 0x21, 0xFF) // masking the cascade blocks it
	wantPending(t, pc, 0, false)
	out8(t, pc, 0x21, 0xFB)
	if v := pc.PIC.Acknowledge(); v != 0x3C {
		t.Fatalf("INTA = %#x, want 0x3c", v)
	}
	irr, isr, imr := pc.PIC.Registers()
	if isr != 0x1004 || irr != 0 || imr != 0xEFFB {
		t.Fatalf("IRR %#x ISR %#x IMR %#x, want ISR 0x1004 (IRQ12 + cascade)", irr, isr, imr)
	}
	// A master IRQ below IR2 waits; one above is delivered.
	out8(t, pc, 0x21, 0x00)
	pc.PIC.RaiseIRQ(3)
	wantPending(t, pc, 0, false)
	pc.PIC.RaiseIRQ(1)
	wantPending(t, pc, 0x31, true)
}

// TestPICSpuriousIRQ7 follows Linux's spurious detection: a request that
// disappears before the INTA cycle leaves the 8259A answering with IR7's
// vector and no ISR bit, which mask_and_ack_8259A recognises through an
// OCW3 ISR read (i8259A_irq_real).
func TestPICSpuriousIRQ7(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	outs(t, pc, ioStep{0x21, 0x00}, ioStep{0xA1, 0x00})
	if v := pc.PIC.Acknowledge(); v != 0x37 {
		t.Fatalf("INTA with no request = %#x, want 0x37", v)
	}
	if isr := readISR(t, pc, 0x20); isr&0x80 != 0 {
		t.Fatalf("spurious IRQ7 set ISR %#x", isr)
	}
	// A slave request withdrawn between PendingVector and INTA: the
	// slave's INT drops and the master's IR2 with it, so the master
	// answers with its IR7 vector (IRQ15's spurious case needs the slave
	// to drop its request inside the INTA cycle, which is atomic here).
	pc.PIC.RaiseIRQ(10)
	wantPending(t, pc, 0x3A, true)
	pc.PIC.LowerIRQ(10)
	if v := pc.PIC.Acknowledge(); v != 0x37 {
		t.Fatalf("INTA after a withdrawn slave request = %#x, want 0x37", v)
	}
	if isr := readISR(t, pc, 0x20); isr != 0 {
		t.Fatalf("ISR %#x after spurious INTA", isr)
	}
	// A real IRQ7 does set ISR7.
	pc.PIC.RaiseIRQ(7)
	if v := pc.PIC.Acknowledge(); v != 0x37 || readISR(t, pc, 0x20) != 0x80 {
		t.Fatal("real IRQ7 not in service")
	}
}

func TestPICAutoEOIAndRotateInAEOI(t *testing.T) {
	pc := newPC()
	// init_8259A(1): master ICW4 = 0x03 (8086, AEOI).
	outs(t, pc, ioStep{0x20, 0x11}, ioStep{0x21, 0x30}, ioStep{0x21, 0x04}, ioStep{0x21, 0x03}, ioStep{0x21, 0x00})
	pc.PIC.RaiseIRQ(5)
	if v := pc.PIC.Acknowledge(); v != 0x35 {
		t.Fatalf("INTA = %#x", v)
	}
	if isr := readISR(t, pc, 0x20); isr != 0 {
		t.Fatalf("AEOI left ISR %#x", isr)
	}
	// Nothing in service: a lower-priority request is delivered at once.
	pc.PIC.RaiseIRQ(6)
	wantPending(t, pc, 0x36, true)
	pc.PIC.Acknowledge()
	// Rotate in AEOI mode (OCW2 100): each acknowledged level becomes the
	// lowest.
	out8(t, pc, 0x20, 0x80)
	pc.PIC.PulseIRQ(1)
	pc.PIC.PulseIRQ(3)
	if v := pc.PIC.Acknowledge(); v != 0x31 {
		t.Fatalf("INTA = %#x, want IRQ1", v)
	}
	pc.PIC.PulseIRQ(1) // now lowest: IRQ3 first
	if v := pc.PIC.Acknowledge(); v != 0x33 {
		t.Fatalf("INTA = %#x, want IRQ3 after rotation", v)
	}
	out8(t, pc, 0x20, 0x00) // clear rotate in AEOI
	if v := pc.PIC.Acknowledge(); v != 0x31 {
		t.Fatalf("INTA = %#x, want IRQ1", v)
	}
}

func TestPICPoll(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0x00)
	pc.PIC.PulseIRQ(6)
	out8(t, pc, 0x20, 0x0C) // OCW3 poll
	if v := in8(t, pc, 0x20); v != 0x86 {
		t.Fatalf("poll = %#x, want 0x86", v)
	}
	out8(t, pc, 0x20, 0x0C)
	if v := in8(t, pc, 0x20); v != 0 {
		t.Fatalf("second poll = %#x, want 0 (no request)", v)
	}
	// The poll acted as INTA: IRQ6 in service; the next plain read is IRR.
	if isr := readISR(t, pc, 0x20); isr != 0x40 {
		t.Fatalf("poll did not set ISR: %#x", isr)
	}
}

// TestPICSpecialMaskMode: with ISR3 set and IR3 masked, special mask mode
// lets lower levels in, and a non-specific EOI skips the masked level.
func TestPICSpecialMaskMode(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0x00)
	pc.PIC.RaiseIRQ(3)
	pc.PIC.Acknowledge() // IRQ3 in service
	out8(t, pc, 0x21, 0x08)
	pc.PIC.RaiseIRQ(5)
	wantPending(t, pc, 0, false) // fully nested: blocked by IRQ3
	out8(t, pc, 0x20, 0x68)      // OCW3 ESMM|SMM
	wantPending(t, pc, 0x35, true)
	pc.PIC.Acknowledge()
	out8(t, pc, 0x20, 0x20) // non-specific EOI: IR5, not the masked IR3
	if isr := readISR(t, pc, 0x20); isr != 0x08 {
		t.Fatalf("ISR = %#x, want IR3 only", isr)
	}
	out8(t, pc, 0x20, 0x48) // OCW3 ESMM, SMM clear
	out8(t, pc, 0x20, 0x20) // now clears IR3
	if isr := readISR(t, pc, 0x20); isr != 0 {
		t.Fatalf("ISR = %#x after leaving SMM", isr)
	}
}

func TestPICLevelTriggered(t *testing.T) {
	pc := newPC()
	// ICW1 with LTIM (0x19) on the master.
	outs(t, pc, ioStep{0x20, 0x19}, ioStep{0x21, 0x30}, ioStep{0x21, 0x04}, ioStep{0x21, 0x01}, ioStep{0x21, 0x00})
	pc.PIC.RaiseIRQ(3)
	wantPending(t, pc, 0x33, true)
	pc.PIC.Acknowledge()
	out8(t, pc, 0x20, 0x20)
	wantPending(t, pc, 0x33, true) // still high: requested again
	pc.PIC.Acknowledge()
	pc.PIC.LowerIRQ(3)
	out8(t, pc, 0x20, 0x20)
	wantPending(t, pc, 0, false)
	// Re-initializing in level mode takes the high inputs as requests.
	pc.PIC.RaiseIRQ(5)
	pc.PIC.Acknowledge()
	outs(t, pc, ioStep{0x20, 0x19}, ioStep{0x21, 0x30}, ioStep{0x21, 0x04}, ioStep{0x21, 0x01}, ioStep{0x21, 0x00})
	wantPending(t, pc, 0x35, true)
}

func TestPICICW1ResetsEdgeSense(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	pc.PIC.RaiseIRQ(3)
	linuxPICInit(t, pc) // re-init: IRR cleared, line still high
	out8(t, pc, 0x21, 0x00)
	wantPending(t, pc, 0, false)
	pc.PIC.PulseIRQ(3)
	wantPending(t, pc, 0x33, true)
}

func TestPICRotation(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0x00)
	out8(t, pc, 0x20, 0xC4) // set priority: IR4 lowest, IR5 highest
	pc.PIC.RaiseIRQ(1)
	pc.PIC.RaiseIRQ(6)
	wantPending(t, pc, 0x36, true)
	pc.PIC.Acknowledge()
	out8(t, pc, 0x20, 0xA0) // rotate on non-specific EOI: IR6 now lowest
	wantPending(t, pc, 0x31, true)
	pc.PIC.Acknowledge()
	out8(t, pc, 0x20, 0xE1) // rotate on specific EOI 1: IR1 lowest
	pc.PIC.PulseIRQ(1)
	pc.PIC.PulseIRQ(6)
	wantPending(t, pc, 0x36, true)
}
