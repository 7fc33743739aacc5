package dev

import (
	"bytes"
	"testing"
)

const com1 = PortCOM1

func newTestUART() (*UART, *bytes.Buffer) {
	var out bytes.Buffer
	return NewUART(func(b byte) { out.WriteByte(b) }), &out
}

func wantReg(t *testing.T, u *UART, off uint16, want uint8) {
	t.Helper()
	if got := in8(u, com1+off); got != want {
		t.Fatalf("register %d = %#x, want %#x", off, got, want)
	}
}

func TestUARTResetValues(t *testing.T) {
	u, _ := newTestUART()
	wantReg(t, u, uartIER, 0x00)
	wantReg(t, u, uartIIR, 0x01)
	wantReg(t, u, uartLCR, 0x00)
	wantReg(t, u, uartMCR, 0x00)
	wantReg(t, u, uartLSR, 0x60)
	wantReg(t, u, uartMSR, 0xB0)
	if u.IRQ() {
		t.Fatal("IRQ after reset")
	}
}

// TestUARTLinuxAutoconfig replays the port accesses of the 8250 driver's
// autoconfig() and autoconfig_16550a() and checks it would see a 16550A.
func TestUARTLinuxAutoconfig(t *testing.T) {
	u, out := newTestUART()
	// IER scratch test.
	scratch := in8(u, com1+uartIER)
	outs(u, ioStep{com1 + uartIER, 0})
	scratch2 := in8(u, com1+uartIER) & 0x0F
	outs(u, ioStep{com1 + uartIER, 0x0F})
	scratch3 := in8(u, com1+uartIER) & 0x0F
	outs(u, ioStep{com1 + uartIER, scratch})
	if scratch2 != 0 || scratch3 != 0x0F {
		t.Fatalf("IER test: %#x %#x", scratch2, scratch3)
	}
	// Loopback test: MCR = LOOP | 0x0A (RTS, OUT2) gives CTS | DCD.
	saveMCR := in8(u, com1+uartMCR)
	saveLCR := in8(u, com1+uartLCR)
	outs(u, ioStep{com1 + uartMCR, 0x1A})
	if s := in8(u, com1+uartMSR) & 0xF0; s != 0x90 {
		t.Fatalf("loopback MSR = %#x, want 0x90", s)
	}
	outs(u, ioStep{com1 + uartMCR, saveMCR})
	// EFR probe with LCR 0xBF, then FIFO enable: IIR bits 7:6 = 11.
	outs(u, ioStep{com1 + uartLCR, 0xBF}, ioStep{com1 + uartIIR, 0}, ioStep{com1 + uartLCR, 0})
	outs(u, ioStep{com1 + uartIIR, fcrEnable})
	if s := in8(u, com1+uartIIR) >> 6; s != 3 {
		t.Fatalf("IIR>>6 = %d, want 3 (16550A)", s)
	}
	// autoconfig_16550a: EFR at DLAB (reads IIR: not 0, so no ST16C650).
	outs(u, ioStep{com1 + uartLCR, 0x80})
	if in8(u, com1+uartIIR) == 0 {
		t.Fatal("EFR probe: IIR reads 0 with DLAB")
	}
	outs(u, ioStep{com1 + uartLCR, 0xBF})
	if in8(u, com1+uartIIR) == 0 {
		t.Fatal("EFR probe: IIR reads 0 with LCR 0xBF")
	}
	// National SuperIO probe: IIR bit 4 must not follow MCR LOOP.
	outs(u, ioStep{com1 + uartLCR, 0})
	status1 := in8(u, com1+uartMCR)
	outs(u, ioStep{com1 + uartLCR, 0xE0})
	status2 := in8(u, com1+uartIIR)
	if (status1^status2)&mcrLOOP != 0 {
		t.Fatal("looks like an NS16550A SuperIO")
	}
	// TI16750: 64-byte FIFO bit must not show in IIR bit 5.
	outs(u, ioStep{com1 + uartLCR, 0}, ioStep{com1 + uartIIR, 0x21})
	s1 := in8(u, com1+uartIIR) >> 5
	outs(u, ioStep{com1 + uartIIR, 0x01}, ioStep{com1 + uartLCR, 0x80}, ioStep{com1 + uartIIR, 0x21})
	s2 := in8(u, com1+uartIIR) >> 5
	outs(u, ioStep{com1 + uartIIR, 0x01}, ioStep{com1 + uartLCR, 0})
	if s1 != 6 || s2 != 6 {
		t.Fatalf("16750 probe: %d %d, want 6 6", s1, s2)
	}
	// UUE bit (IER bit 6) does not stick: not an XScale.
	outs(u, ioStep{com1 + uartIER, 0x40})
	if in8(u, com1+uartIER)&0x40 != 0 {
		t.Fatal("IER bit 6 sticks")
	}
	outs(u, ioStep{com1 + uartLCR, saveLCR})
	if out.Len() != 0 {
		t.Fatalf("probing transmitted %q", out.Bytes())
	}
}

// TestUARTLoopbackData is the driver's loopback transfer: bytes written in
// loopback come back as input and never reach the sink.
func TestUARTLoopbackData(t *testing.T) {
	u, out := newTestUART()
	outs(u, ioStep{com1 + uartMCR, mcrLOOP}, ioStep{com1 + uartRBR, 'h'}, ioStep{com1 + uartRBR, 'i'})
	// 16450 mode (FIFO off): one byte holds, the second overruns it.
	if lsr := in8(u, com1+uartLSR); lsr != lsrDR|lsrOE|lsrTHRE|lsrTEMT {
		t.Fatalf("LSR = %#x", lsr)
	}
	wantReg(t, u, uartLSR, 0x61) // OE cleared by the read
	wantReg(t, u, uartRBR, 'i')  // the new character replaced the old
	wantReg(t, u, uartLSR, 0x60)
	if u.Receive('x') {
		t.Fatal("Receive accepted input in loopback (SIN is disconnected)")
	}
	outs(u, ioStep{com1 + uartIIR, fcrEnable | fcrClearRx}, ioStep{com1 + uartRBR, 'o'}, ioStep{com1 + uartRBR, 'k'})
	if a, b := in8(u, com1+uartRBR), in8(u, com1+uartRBR); a != 'o' || b != 'k' {
		t.Fatalf("loopback FIFO returned %q %q", a, b)
	}
	if out.Len() != 0 {
		t.Fatalf("loopback bytes reached the sink: %q", out.Bytes())
	}
	outs(u, ioStep{com1 + uartMCR, 0}, ioStep{com1 + uartRBR, '!'})
	if out.String() != "!" {
		t.Fatalf("sink got %q", out.Bytes())
	}
}

// TestUARTTHREInterrupt checks the THR-empty interrupt as serial8250_do_startup
// tests it and as the transmit path uses it.
func TestUARTTHREInterrupt(t *testing.T) {
	u, out := newTestUART()
	outs(u, ioStep{com1 + uartLCR, 0x03}, ioStep{com1 + uartIIR, 0xC7}, ioStep{com1 + uartMCR, 0x0B})
	// Setting ETBEI with THR empty raises it at once.
	outs(u, ioStep{com1 + uartIER, ierETBEI})
	if !u.IRQ() {
		t.Fatal("no IRQ after enabling THRI")
	}
	wantReg(t, u, uartIIR, 0xC2) // FIFOs on, THRE
	if u.IRQ() {
		t.Fatal("reading IIR did not clear THRE")
	}
	wantReg(t, u, uartIIR, 0xC1)
	// Disable and re-enable: raised again (the driver's UART_BUG_THRE test).
	outs(u, ioStep{com1 + uartIER, 0}, ioStep{com1 + uartIER, ierETBEI})
	wantReg(t, u, uartIIR, 0xC2)
	// A THR write clears it, and the byte leaves at once: pending again.
	outs(u, ioStep{com1 + uartRBR, 'A'})
	if !u.IRQ() || out.String() != "A" {
		t.Fatalf("after THR write: IRQ %v, sink %q", u.IRQ(), out.Bytes())
	}
	// Rewriting IER with ETBEI already set does not re-raise it.
	wantReg(t, u, uartIIR, 0xC2)
	outs(u, ioStep{com1 + uartIER, ierETBEI})
	if u.IRQ() {
		t.Fatal("IER rewrite re-raised THRE")
	}
	// IRQ4 is gated by OUT2.
	outs(u, ioStep{com1 + uartRBR, 'B'}, ioStep{com1 + uartMCR, 0x03})
	if u.IRQ() {
		t.Fatal("IRQ with OUT2 clear")
	}
	outs(u, ioStep{com1 + uartMCR, 0x0B})
	if !u.IRQ() {
		t.Fatal("IRQ lost when OUT2 came back")
	}
	outs(u, ioStep{com1 + uartIER, 0})
	if u.IRQ() {
		t.Fatal("IRQ with IER 0")
	}
}

func TestUARTReceiveFIFO(t *testing.T) {
	u, _ := newTestUART()
	outs(u, ioStep{com1 + uartMCR, 0x0B}, ioStep{com1 + uartIER, ierERBFI | ierELSI})
	// 16450 mode: a single byte holds.
	if !u.Receive('a') || u.Receive('b') {
		t.Fatal("16450 mode should hold exactly one byte")
	}
	if !u.IRQ() {
		t.Fatal("no IRQ for received data")
	}
	wantReg(t, u, uartIIR, 0x04)
	wantReg(t, u, uartRBR, 'a')
	if u.IRQ() {
		t.Fatal("IRQ after reading the byte")
	}
	// FIFO mode, trigger level 14.
	outs(u, ioStep{com1 + uartIIR, 0xC1})
	for i := 0; i < 3; i++ {
		u.Receive(byte('0' + i))
	}
	wantReg(t, u, uartIIR, 0xCC) // below the trigger: character timeout
	for i := 3; i < 16; i++ {
		if !u.Receive(byte('0' + i)) {
			t.Fatalf("FIFO refused byte %d", i)
		}
	}
	wantReg(t, u, uartIIR, 0xC4) // at or above the trigger level
	if u.Receive('X') || u.CanReceive() {
		t.Fatal("a full FIFO accepted a 17th byte")
	}
	wantReg(t, u, uartLSR, 0x61) // no overrun: the caller kept the byte
	for i := 0; i < 16; i++ {
		if b := in8(u, com1+uartRBR); b != byte('0'+i) {
			t.Fatalf("byte %d = %q", i, b)
		}
	}
	wantReg(t, u, uartLSR, 0x60)
	wantReg(t, u, uartIIR, 0xC1)
	// FCR clear-receiver.
	u.Receive('z')
	outs(u, ioStep{com1 + uartIIR, 0xC3})
	wantReg(t, u, uartLSR, 0x60)
}

func TestUARTOverrunLineStatus(t *testing.T) {
	u, _ := newTestUART()
	outs(u, ioStep{com1 + uartIIR, 0x01}, ioStep{com1 + uartMCR, mcrLOOP}, ioStep{com1 + uartIER, ierERBFI | ierELSI})
	for i := 0; i < 17; i++ {
		outs(u, ioStep{com1 + uartRBR, byte('a' + i)})
	}
	wantReg(t, u, uartIIR, 0xC6) // receiver line status has priority
	wantReg(t, u, uartLSR, 0x63) // DR | OE | THRE | TEMT
	wantReg(t, u, uartIIR, 0xC4) // OE cleared by the LSR read; data remains
	for i := 0; i < 16; i++ {
		if b := in8(u, com1+uartRBR); b != byte('a'+i) {
			t.Fatalf("byte %d = %q: the overrun byte must be the one lost", i, b)
		}
	}
	if u.IRQ() {
		t.Fatal("IRQ in loopback (outputs are forced inactive)")
	}
}

func TestUARTDivisorScratchModemStatus(t *testing.T) {
	u, _ := newTestUART()
	outs(u, ioStep{com1 + uartIER, 0x05}, ioStep{com1 + uartLCR, 0x83}, ioStep{com1 + uartRBR, 0x01}, ioStep{com1 + uartIER, 0x00})
	wantReg(t, u, uartRBR, 0x01) // DLL
	wantReg(t, u, uartIER, 0x00) // DLM
	outs(u, ioStep{com1 + uartLCR, 0x03})
	wantReg(t, u, uartIER, 0x05) // IER untouched by the divisor writes
	wantReg(t, u, uartLCR, 0x03)
	outs(u, ioStep{com1 + uartSCR, 0x5A})
	wantReg(t, u, uartSCR, 0x5A)
	// Modem status interrupt from looped-back outputs.
	outs(u, ioStep{com1 + uartIER, ierEDSSI}, ioStep{com1 + uartMCR, mcrLOOP | mcrOUT1})
	// Inputs went from CTS|DSR|DCD to RI: DCTS, DDSR, DDCD set; RI rose (no TERI).
	wantReg(t, u, uartIIR, 0x00)
	wantReg(t, u, uartMSR, 0x40|0x0B)
	wantReg(t, u, uartMSR, 0x40) // deltas cleared by the read
	outs(u, ioStep{com1 + uartMCR, mcrLOOP})
	wantReg(t, u, uartMSR, 0x04) // TERI: RI went away
	wantReg(t, u, uartIIR, 0x01)
}
