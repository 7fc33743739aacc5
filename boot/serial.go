package boot

import (
	"fmt"
	"time"
)

// Serial lines other than the console: 16550 UARTs the hypervisor talks
// to as byte streams (the backup's gdb stub serves COM2). Polled: the
// line's interrupt is not routed. Reads wait by polling the line status
// briefly, then sleeping, so a burst is read at the line's speed and an
// idle line costs a look per sleep.

// COM2 is the second PC serial port's I/O base (IRQ 3).
const COM2 = 0x2F8

// COM3 is the third PC serial port's I/O base (capture files go out there).
const COM3 = 0x3E8

const (
	uartSCR = 7 // scratch register: present on a 16450/16550 (a missing port reads all ones)

	// A read polls this many times for the next byte of a burst before
	// it sleeps: at 115200 baud a byte takes 87 µs, some thousands of
	// status reads.
	serialSpin  = 20000
	serialSleep = time.Millisecond

	uartFIFO = 16 // the 16550's transmit FIFO
)

// Serial is a polled 16550 UART at 115200 baud, 8N1, FIFOs on.
type Serial struct{ base uint16 }

// OpenSerial sets up the UART at I/O base base, or says it is not there
// (its scratch register does not keep a value).
func OpenSerial(base uint16) (*Serial, error) {
	for _, x := range []byte{0x5A, 0xA5} {
		outb(base+uartSCR, x)
		if got := inb(base + uartSCR); got != x {
			return nil, fmt.Errorf("boot: no UART at I/O port %#x (its scratch register read %#x after %#x was written)", base, got, x)
		}
	}
	outb(base+uartIER, 0)
	outb(base+uartLCR, 0x80) // DLAB
	outb(base+uartDLL, 1)    // 115200 baud
	outb(base+uartDLM, 0)
	outb(base+uartLCR, 0x03) // 8N1
	outb(base+uartFCR, 0x07) // enable and clear FIFOs
	outb(base+uartMCR, 0x03) // DTR, RTS
	for inb(base+uartLSR)&lsrDR != 0 {
		inb(base + uartRBR) // what arrived before we were ready
	}
	return &Serial{base: base}, nil
}

// Read waits for at least one byte and returns what has arrived, up to
// len(p). It never fails: a serial line has no end.
func (s *Serial) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	for n == 0 {
		for i := 0; i < serialSpin && n < len(p); i++ {
			if inb(s.base+uartLSR)&lsrDR == 0 {
				if n > 0 {
					break // the burst paused: hand over what came
				}
				continue
			}
			p[n] = inb(s.base + uartRBR)
			n++
		}
		if n == 0 {
			time.Sleep(serialSleep)
		}
	}
	return n, nil
}

// Write sends p, waiting for room in the transmitter as it goes.
func (s *Serial) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		for i := 0; inb(s.base+uartLSR)&lsrTHRE == 0; i++ {
			if i >= serialSpin {
				time.Sleep(serialSleep)
				i = 0
			}
		}
		// THRE with FIFOs on: the transmit FIFO is empty and takes a
		// whole FIFO's worth at once.
		k := min(len(p), uartFIFO)
		for _, b := range p[:k] {
			outb(s.base+uartTHR, b)
		}
		p = p[k:]
	}
	return n, nil
}
