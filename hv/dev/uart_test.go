package dev

import (
	"bytes"
	"testing"
)

const com1 = PortCOM1

func wantReg(t *testing.T, pc *PC, off uint16, want uint8) {
	t.Helper()
	if got := in8(t, pc, com1+off); got != want {
		t.Fatalf("UART register %d = %#x, want %#x", off, got, want)
	}
}

// A guest that prints without touching LCR sends 8-bit bytes.
func TestUARTBIOSLine(t *testing.T) {
	pc := newPC()
	pc.Out(PortCOM1, 1, 'm')
	if got := output(pc); got != "m" {
		t.Fatalf("output %q, want \"m\"", got)
	}
}

func output(pc *PC) string {
	var b [UARTOutputSize]byte
	return string(b[:pc.TakeOutput(b[:])])
}

// irq4 reports whether the PIC sees a COM1 request, with IRQ4 unmasked.
func irq4(t *testing.T, pc *PC) bool {
	t.Helper()
	return readIRR(t, pc, 0x20)&(1<<IRQCOM1) != 0
}

// After Init the UART is as the datasheet's master reset leaves it, but
// for the line a BIOS sets up: 8N1 (LCR 0x03), so that a guest that
// never programs the line prints whole bytes.
func TestUARTResetValues(t *testing.T) {
	pc := newPC()
	wantReg(t, pc, uartIER, 0x00)
	wantReg(t, pc, uartIIR, 0x01)
	wantReg(t, pc, uartLCR, 0x03)
	wantReg(t, pc, uartMCR, 0x00)
	wantReg(t, pc, uartLSR, 0x60)
	wantReg(t, pc, uartMSR, 0xB0)
	wantReg(t, pc, uartSCR, 0x00)
}

// serial8250Autoconfig replays autoconfig() of
// drivers/tty/serial/8250/8250_port.c (Linux 6.1) without UPF_SKIP_TEST,
// with the full autoconfig_16550a() probe (UPF_FULL_PROBE) including
// size_fifo(), and returns the port type it would choose and the FIFO size
// it measured.
func serial8250Autoconfig(t *testing.T, pc *PC) (typ string, fifo int) {
	in := func(off uint16) uint8 { return in8(t, pc, com1+off) }
	out := func(off uint16, v uint8) { out8(t, pc, com1+off, v) }
	scratch := in(uartIER)
	out(uartIER, 0)
	scratch2 := in(uartIER) & 0x0F
	out(uartIER, 0x0F)
	scratch3 := in(uartIER) & 0x0F
	out(uartIER, scratch)
	if scratch2 != 0 || scratch3 != 0x0F {
		return "none (IER test)", 0
	}
	saveMCR, saveLCR := in(uartMCR), in(uartLCR)
	out(uartMCR, mcrLOOP|0x0A)
	status1 := in(uartMSR) & 0xF0
	out(uartMCR, saveMCR)
	if status1 != 0x90 {
		return "none (LOOP test)", 0
	}
	out(uartLCR, 0xBF) // UART_LCR_CONF_MODE_B
	out(uartIIR, 0)    // UART_EFR
	out(uartLCR, 0)
	out(uartIIR, fcrEnable)
	switch in(uartIIR) >> 6 {
	case 0:
		return "8250/16450", 0
	case 1:
		return "unknown", 0
	case 2:
		return "16550", 0
	}
	// autoconfig_16550a
	out(uartLCR, 0x80) // UART_LCR_CONF_MODE_A
	if in(uartIIR) == 0 {
		return "16650 (EFRv1)", 0
	}
	out(uartLCR, 0xBF)
	if in(uartIIR) == 0 {
		return "EFRv2", 0
	}
	out(uartLCR, 0)
	status1 = in(uartMCR)
	out(uartLCR, 0xE0)
	status2 := in(uartIIR) // EXCR1
	if (status2^status1)&mcrLOOP == 0 {
		out(uartLCR, 0)
		out(uartMCR, status1^mcrLOOP)
		out(uartLCR, 0xE0)
		status2 = in(uartIIR)
		out(uartLCR, 0)
		out(uartMCR, status1)
		if (status2^status1)&mcrLOOP != 0 {
			return "NS16550A", 0
		}
	}
	out(uartLCR, 0)
	out(uartIIR, fcrEnable|0x20) // UART_FCR7_64BYTE
	status1 = in(uartIIR) >> 5
	out(uartIIR, fcrEnable)
	out(uartLCR, 0x80)
	out(uartIIR, fcrEnable|0x20)
	status2 = in(uartIIR) >> 5
	out(uartIIR, fcrEnable)
	out(uartLCR, 0)
	if status1 == 6 && status2 == 7 {
		return "16750", 0
	}
	iersave := in(uartIER)
	out(uartIER, iersave&^0x40) // UART_IER_UUE
	if in(uartIER)&0x40 == 0 {
		out(uartIER, iersave|0x40)
		if in(uartIER)&0x40 != 0 {
			return "XScale", 0
		}
	}
	out(uartIER, iersave)
	// size_fifo
	oldLCR := in(uartLCR)
	out(uartLCR, 0)
	oldFCR := in(uartIIR) // the driver reads FCR's address: IIR
	oldMCR := in(uartMCR)
	out(uartIIR, fcrEnable|fcrClearRx|fcrClearTx)
	out(uartMCR, mcrLOOP)
	out(uartLCR, 0x80)
	oldDL := uint16(in(uartRBR)) | uint16(in(uartIER))<<8
	out(uartRBR, 1)
	out(uartIER, 0)
	out(uartLCR, 0x03) // UART_LCR_WLEN8
	for count := 0; count < 256; count++ {
		out(uartRBR, uint8(count))
	}
	for fifo = 0; in(uartLSR)&lsrDR != 0 && fifo < 256; fifo++ {
		in(uartRBR)
	}
	out(uartIIR, oldFCR)
	out(uartMCR, oldMCR)
	out(uartLCR, 0x80)
	out(uartRBR, uint8(oldDL))
	out(uartIER, uint8(oldDL>>8))
	out(uartLCR, oldLCR)
	// Back in autoconfig: restore, clear the FIFOs, read RX, clear IER.
	out(uartLCR, saveLCR)
	out(uartMCR, saveMCR)
	out(uartIIR, fcrEnable)
	out(uartIIR, fcrEnable|fcrClearRx|fcrClearTx)
	out(uartIIR, 0)
	in(uartRBR)
	out(uartIER, 0)
	return "16550A", fifo
}

func TestUARTLinuxAutoconfig(t *testing.T) {
	pc := newPC()
	typ, fifo := serial8250Autoconfig(t, pc)
	if typ != "16550A" || fifo != UARTFIFOSize {
		t.Fatalf("Linux would see %s with a %d-byte FIFO, want 16550A with 16", typ, fifo)
	}
	if s := output(pc); s != "" {
		t.Fatalf("probing transmitted %q", s)
	}
	out8(t, pc, com1+uartLCR, 0x80)
	if dll, dlm := in8(t, pc, com1+uartRBR), in8(t, pc, com1+uartIER); dll != 12 || dlm != 0 {
		t.Fatalf("size_fifo did not restore the divisor: %#x %#x", dll, dlm)
	}
}

// TestUARTLinuxStartup replays serial8250_do_startup() and the 16550A part
// of serial8250_do_set_termios(): the THRE re-assertion test must not set
// UART_BUG_THRE, the TX-enable test must not set UART_BUG_TXEN.
func TestUARTLinuxStartup(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0xEB) // IRQ4 requested: unmasked
	in := func(off uint16) uint8 { return in8(t, pc, com1+off) }
	out := func(off uint16, v uint8) { out8(t, pc, com1+off, v) }
	// serial8250_clear_fifos, then clear the interrupt registers.
	out(uartIIR, fcrEnable)
	out(uartIIR, fcrEnable|fcrClearRx|fcrClearTx)
	out(uartIIR, 0)
	in(uartLSR)
	in(uartRBR)
	in(uartIIR)
	in(uartMSR)
	if in(uartLSR) == 0xFF {
		t.Fatal("LSR safety check engaged")
	}
	// THRE test (wait_for_xmitr, then IER THRI twice with IIR reads).
	if in(uartLSR)&lsrTHRE == 0 {
		t.Fatal("THR not empty")
	}
	out(uartIER, ierETBEI)
	in(uartLCR) // serial_port_out_sync
	iir1 := in(uartIIR)
	out(uartIER, 0)
	out(uartIER, ierETBEI)
	in(uartLCR)
	iir := in(uartIIR)
	out(uartIER, 0)
	if iir1&iirNoInt == 0 && iir&iirNoInt != 0 {
		t.Fatal("THRE not re-asserted: Linux would set UART_BUG_THRE")
	}
	if iir1 != 0x02 || iir != 0x02 {
		t.Fatalf("THRE test IIRs %#x %#x, want 0x02 0x02", iir1, iir)
	}
	// LCR 8N1, MCR OUT2 (serial8250_set_mctrl), TX-enable test.
	out(uartLCR, 0x03)
	out(uartMCR, mcrOUT2)
	out(uartIER, ierETBEI)
	if !irq4(t, pc) {
		t.Fatal("the THRE interrupt did not reach the PIC")
	}
	lsr := in(uartLSR)
	iir = in(uartIIR)
	out(uartIER, 0)
	if lsr&lsrTEMT != 0 && iir&iirNoInt != 0 {
		t.Fatal("no THRE interrupt: Linux would set UART_BUG_TXEN")
	}
	if irq4(t, pc) {
		t.Fatal("IRQ4 still requested after IIR read and IER cleared")
	}
	in(uartLSR)
	in(uartRBR)
	in(uartIIR)
	in(uartMSR)
	// set_termios: 115200 baud (divisor 1), 8N1, FCR 0x81 (trigger 8).
	out(uartLCR, 0x83)
	out(uartRBR, 0x01)
	out(uartIER, 0x00)
	out(uartLCR, 0x03)
	out(uartIIR, fcrEnable|0x80)
	if got := in(uartIIR); got != 0xC1 {
		t.Fatalf("IIR after set_termios = %#x, want 0xc1", got)
	}
	out(uartLCR, 0x83)
	if dll, dlm := in(uartRBR), in(uartIER); dll != 1 || dlm != 0 {
		t.Fatalf("divisor latch reads %#x %#x", dll, dlm)
	}
	out(uartLCR, 0x03)
	// The console: wait_for_xmitr(BOTH_EMPTY) then THR.
	for _, c := range []byte("Linux\r\n") {
		if in(uartLSR)&(lsrTHRE|lsrTEMT) != lsrTHRE|lsrTEMT {
			t.Fatal("transmitter busy")
		}
		out(uartRBR, c)
	}
	if s := output(pc); s != "Linux\r\n" {
		t.Fatalf("output %q", s)
	}
}

func TestUARTDivisorLatchAndScratch(t *testing.T) {
	pc := newPC()
	outs(t, pc, ioStep{com1 + uartIER, 0x05}, ioStep{com1 + uartLCR, 0x83},
		ioStep{com1 + uartRBR, 0x34}, ioStep{com1 + uartIER, 0x12})
	wantReg(t, pc, uartRBR, 0x34) // DLL
	wantReg(t, pc, uartIER, 0x12) // DLM
	wantReg(t, pc, uartIIR, 0x01) // IIR is not behind DLAB
	out8(t, pc, com1+uartLCR, 0x03)
	wantReg(t, pc, uartIER, 0x05) // IER untouched by the divisor writes
	wantReg(t, pc, uartLCR, 0x03)
	if s := output(pc); s != "" {
		t.Fatalf("divisor writes transmitted %q", s)
	}
	out8(t, pc, com1+uartSCR, 0x5A)
	wantReg(t, pc, uartSCR, 0x5A)
	out8(t, pc, com1+uartIER, 0xFF)
	wantReg(t, pc, uartIER, 0x0F) // bits 7:4 are 0 on a 16550A
	out8(t, pc, com1+uartMCR, 0xFF)
	wantReg(t, pc, uartMCR, 0x1F)
}

// TestUARTTriggerLevels: in FIFO mode, received data at or above the
// trigger level is "received data available" (0xC4), below it "character
// timeout" (0xCC).
func TestUARTTriggerLevels(t *testing.T) {
	for fcr, level := range map[uint8]int{0x01: 1, 0x41: 4, 0x81: 8, 0xC1: 14} {
		pc := newPC()
		outs(t, pc, ioStep{com1 + uartIIR, fcr}, ioStep{com1 + uartIER, ierERBFI})
		for i := 1; i <= UARTFIFOSize; i++ {
			if !pc.Receive(byte(i)) {
				t.Fatalf("level %d: byte %d refused", level, i)
			}
			want := uint8(0xCC)
			if i >= level {
				want = 0xC4
			}
			wantReg(t, pc, uartIIR, want)
		}
		if pc.CanReceive() || pc.Receive(0) {
			t.Fatal("a full FIFO takes a 17th byte")
		}
		wantReg(t, pc, uartLSR, 0x61) // no overrun: the caller keeps the byte
		for i := 1; i <= UARTFIFOSize; i++ {
			if b := in8(t, pc, com1); b != byte(i) {
				t.Fatalf("byte %d = %d", i, b)
			}
		}
		wantReg(t, pc, uartIIR, 0xC1)
		wantReg(t, pc, uartRBR, UARTFIFOSize) // empty: the last byte again
	}
}

// TestUARTIIRPriorities raises all four sources at once (loopback gives an
// overrun and modem-status changes) and clears them in priority order.
func TestUARTIIRPriorities(t *testing.T) {
	pc := newPC()
	outs(t, pc, ioStep{com1 + uartIIR, 0x01}, ioStep{com1 + uartLCR, 0x03},
		ioStep{com1 + uartMCR, mcrLOOP | mcrRTS}, ioStep{com1 + uartIER, 0x0F})
	for i := 0; i < UARTFIFOSize+1; i++ { // one more than fits: overrun
		out8(t, pc, com1, byte('a'+i))
	}
	wantReg(t, pc, uartIIR, 0xC6) // line status
	wantReg(t, pc, uartLSR, lsrDR|lsrOE|lsrTHRE|lsrTEMT)
	wantReg(t, pc, uartIIR, 0xC4) // received data (16 >= trigger 1)
	for i := 0; i < UARTFIFOSize; i++ {
		if b := in8(t, pc, com1); b != byte('a'+i) {
			t.Fatalf("byte %d = %q: the overrunning byte must be the one lost", i, b)
		}
	}
	wantReg(t, pc, uartIIR, 0xC2) // THR empty; reading it clears it
	wantReg(t, pc, uartIIR, 0xC0) // modem status: DSR and DCD dropped
	wantReg(t, pc, uartMSR, msrCTS|msrDDSR|msrDDCD)
	wantReg(t, pc, uartIIR, 0xC1)
}

// TestUARTTHREInterrupt checks the THR-empty interrupt as the 8250 driver
// uses it: raised when ETBEI is set, cleared by the IIR read that reports
// it, raised again when a written byte has left.
func TestUARTTHREInterrupt(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0xEB)
	outs(t, pc, ioStep{com1 + uartLCR, 0x03}, ioStep{com1 + uartIIR, 0xC7}, ioStep{com1 + uartMCR, 0x0B})
	out8(t, pc, com1+uartIER, ierETBEI)
	wantPending(t, pc, 0x34, true)
	pc.PIC.Acknowledge()
	wantReg(t, pc, uartIIR, 0xC2)
	if irq4(t, pc) {
		t.Fatal("reading IIR did not lower IRQ4")
	}
	wantReg(t, pc, uartIIR, 0xC1)
	// Transmit: the write clears THRE, the byte leaves, THRE is back: an
	// edge on IRQ4 (latched while IRQ4 is in service).
	out8(t, pc, com1, 'A')
	if !irq4(t, pc) || output(pc) != "A" {
		t.Fatal("no THRE interrupt after the byte left")
	}
	out8(t, pc, 0x20, 0x64) // EOI
	wantPending(t, pc, 0x34, true)
	pc.PIC.Acknowledge()
	// A rewrite of IER with ETBEI already set does not raise it again.
	wantReg(t, pc, uartIIR, 0xC2)
	out8(t, pc, com1+uartIER, ierETBEI)
	if irq4(t, pc) {
		t.Fatal("IER rewrite re-raised THRE")
	}
	// Changing FCR0 makes the next THRE interrupt immediate.
	wantReg(t, pc, uartIIR, 0xC1)
	out8(t, pc, com1+uartIIR, 0)
	wantReg(t, pc, uartIIR, 0x02)
	out8(t, pc, com1+uartIIR, fcrEnable|fcrClearTx)
	wantReg(t, pc, uartIIR, 0xC2)
	out8(t, pc, com1+uartIIR, fcrEnable|fcrClearTx) // no change of FCR0: nothing
	wantReg(t, pc, uartIIR, 0xC1)
	// IRQ4 is gated by OUT2.
	outs(t, pc, ioStep{com1, 'B'}, ioStep{com1 + uartMCR, 0x03})
	if irq4(t, pc) {
		t.Fatal("IRQ4 with OUT2 clear")
	}
	out8(t, pc, com1+uartMCR, 0x0B)
	if !irq4(t, pc) {
		t.Fatal("IRQ4 lost when OUT2 came back")
	}
	out8(t, pc, com1+uartIER, 0)
	if irq4(t, pc) {
		t.Fatal("IRQ4 with IER 0")
	}
	if s := output(pc); s != "B" {
		t.Fatalf("output %q", s)
	}
}

// TestUARTLoopback: bytes written in loopback come back as input with the
// word length's bits and never reach the output; MSR follows MCR.
func TestUARTLoopback(t *testing.T) {
	pc := newPC()
	out8(t, pc, com1+uartLCR, 0x03)
	outs(t, pc, ioStep{com1 + uartMCR, mcrLOOP}, ioStep{com1, 'h'}, ioStep{com1, 'i'})
	// 16450 mode: one byte holds; the second overruns and replaces it.
	wantReg(t, pc, uartLSR, lsrDR|lsrOE|lsrTHRE|lsrTEMT)
	wantReg(t, pc, uartLSR, 0x61) // OE cleared by the read
	wantReg(t, pc, uartRBR, 'i')
	wantReg(t, pc, uartLSR, 0x60)
	if pc.CanReceive() || pc.Receive('x') {
		t.Fatal("input accepted in loopback (SIN is disconnected)")
	}
	outs(t, pc, ioStep{com1 + uartIIR, fcrEnable | fcrClearRx}, ioStep{com1, 'o'}, ioStep{com1, 'k'})
	if a, b := in8(t, pc, com1), in8(t, pc, com1); a != 'o' || b != 'k' {
		t.Fatalf("loopback FIFO returned %q %q", a, b)
	}
	// 7-bit words: the eighth bit does not travel.
	outs(t, pc, ioStep{com1 + uartLCR, 0x02}, ioStep{com1, 0xC1})
	wantReg(t, pc, uartRBR, 0x41)
	if s := output(pc); s != "" {
		t.Fatalf("loopback bytes reached the output: %q", s)
	}
	// Modem outputs looped back, with delta bits.
	out8(t, pc, com1+uartMSR, 0) // ignored
	in8(t, pc, com1+uartMSR)
	out8(t, pc, com1+uartMCR, mcrLOOP|mcrOUT1)
	wantReg(t, pc, uartMSR, msrRI) // RI rose: no TERI; CTS/DSR/DCD were already off
	out8(t, pc, com1+uartMCR, mcrLOOP|mcrDTR|mcrRTS|mcrOUT2)
	wantReg(t, pc, uartMSR, msrCTS|msrDSR|msrDCD|msrDCTS|msrDDSR|msrTERI|msrDDCD)
	wantReg(t, pc, uartMSR, msrCTS|msrDSR|msrDCD)
	out8(t, pc, com1+uartMCR, 0)
	wantReg(t, pc, uartMSR, msrCTS|msrDSR|msrDCD) // outside loopback: CTS, DSR, DCD
	outs(t, pc, ioStep{com1 + uartLCR, 0x03}, ioStep{com1, '!'})
	if s := output(pc); s != "!" {
		t.Fatalf("output %q", s)
	}
}

func TestUARTReceive16450AndLineStatus(t *testing.T) {
	pc := newPC()
	linuxPICInit(t, pc)
	out8(t, pc, 0x21, 0xEB)
	outs(t, pc, ioStep{com1 + uartLCR, 0x03}, ioStep{com1 + uartMCR, 0x0B}, ioStep{com1 + uartIER, ierERBFI | ierELSI})
	if !pc.Receive('a') || pc.Receive('b') {
		t.Fatal("16450 mode holds exactly one byte")
	}
	wantPending(t, pc, 0x34, true)
	wantReg(t, pc, uartIIR, 0x04)
	wantReg(t, pc, uartRBR, 'a')
	if irq4(t, pc) {
		t.Fatal("IRQ4 after the byte was read")
	}
	if !pc.CanReceive() || !pc.Receive('b') {
		t.Fatal("room again after the read")
	}
	out8(t, pc, com1+uartIIR, fcrEnable|fcrClearRx)
	wantReg(t, pc, uartLSR, 0x60) // FIFO reset emptied the receiver
}

func TestUARTTakeOutput(t *testing.T) {
	pc := newPC()
	out8(t, pc, com1+uartLCR, 0x03)
	for i := 0; i < UARTOutputSize+5; i++ {
		out8(t, pc, com1, byte(i))
	}
	if d := pc.UART.OutputDropped(); d != 5 {
		t.Fatalf("dropped %d, want 5", d)
	}
	var small [100]byte
	if n := pc.TakeOutput(small[:]); n != 100 || small[99] != 99 {
		t.Fatalf("TakeOutput = %d (last %d)", n, small[99])
	}
	out8(t, pc, com1, 'z') // room again: wraps around the ring
	var all [2 * UARTOutputSize]byte
	n := pc.TakeOutput(all[:])
	want := make([]byte, 0, UARTOutputSize)
	for i := 100; i < UARTOutputSize; i++ {
		want = append(want, byte(i))
	}
	want = append(want, 'z')
	if !bytes.Equal(all[:n], want) {
		t.Fatalf("TakeOutput returned %d bytes, want %d in order", n, len(want))
	}
	if pc.TakeOutput(all[:]) != 0 {
		t.Fatal("output taken twice")
	}
}
