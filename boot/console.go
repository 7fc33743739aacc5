package boot

import (
	"sync/atomic"
	"unsafe"

	"hindsight/apic"
)

// COM1, the hypervisor's console: 16550 UART at I/O port 0x3F8, 115200 8N1,
// polled (the console must work with interrupts off and from any CPU).
const com1 = 0x3F8

// 16550 registers (offsets from the base port) and LSR bits.
const (
	uartTHR = 0
	uartIER = 1
	uartFCR = 2
	uartLCR = 3
	uartMCR = 4
	uartLSR = 5
	uartDLL = 0
	uartDLM = 1

	uartRBR = 0

	lsrDR   = 0x01 // data ready
	lsrTHRE = 0x20 // transmit holding register empty
)

func consoleInit() {
	outb(com1+uartIER, 0)
	outb(com1+uartLCR, 0x80) // DLAB
	outb(com1+uartDLL, 1)    // 115200 baud
	outb(com1+uartDLM, 0)
	outb(com1+uartLCR, 0x03) // 8N1
	outb(com1+uartFCR, 0x07) // enable and clear FIFOs
	outb(com1+uartMCR, 0x0B) // DTR, RTS, OUT2 (gates the IRQ line on a PC)
}

// Console input. With an IOAPIC, COM1's receive interrupt goes to CPU0 (the
// primary's core) and the handler moves the bytes into consoleIn, a ring
// with one producer (the handler) and one consumer (ConsoleRead). Without
// one, ConsoleRead polls the UART.
const (
	irqCOM1       = 4
	consoleInSize = 256
	ierRDA        = 0x01 // interrupt on received data available
)

var consoleIn struct {
	buf        [consoleInSize]byte
	head, tail uint32 // head: next to read; tail: next to write (free running)
	dropped    uint32
	routed     bool
}

// routeConsoleIRQ routes COM1's line through the IOAPIC to CPU0.
func routeConsoleIRQ() {
	if ioapicInfo.base == 0 {
		klog("no IOAPIC in the MADT: console input is polled")
		return
	}
	io := apic.IOAPIC{Base: ioapicInfo.base, GSIBase: ioapicInfo.gsiBase}
	io.MaskAll()
	gsi, flags := uint32(irqCOM1), uint32(0)
	if ioapicInfo.overridden {
		gsi = ioapicInfo.com1GSI
		if ioapicInfo.com1Flags&3 == 3 {
			flags |= apic.RedirActiveLow
		}
		if ioapicInfo.com1Flags>>2&3 == 3 {
			flags |= apic.RedirLevel
		}
	}
	if !io.Route(gsi, vecConsole, cpus[0].apicID, flags) {
		klog("the IOAPIC does not serve COM1's line: console input is polled")
		return
	}
	consoleIn.routed = true
	outb(com1+uartIER, ierRDA)
	puts("boot: console input: COM1 IRQ4 -> IOAPIC GSI ")
	putDec(uint64(gsi))
	puts(" -> CPU0 vector ")
	putHex(vecConsole)
	puts("\n")
}

// consoleInterrupt drains the UART into consoleIn. Trap context.
func consoleInterrupt() {
	for i := 0; i < 64 && inb(com1+uartLSR)&lsrDR != 0; i++ {
		b := inb(com1 + uartRBR)
		t := atomic.LoadUint32(&consoleIn.tail)
		if t-atomic.LoadUint32(&consoleIn.head) == consoleInSize {
			consoleIn.dropped++
			continue
		}
		consoleIn.buf[t%consoleInSize] = b
		atomic.StoreUint32(&consoleIn.tail, t+1)
	}
}

func putc(b byte) {
	for i := 0; i < 100000 && inb(com1+uartLSR)&lsrTHRE == 0; i++ {
		pause()
	}
	outb(com1+uartTHR, b)
}

func puts(s string) { putBytes(unsafe.Slice(unsafe.StringData(s), len(s))) }

func putBytes(b []byte) {
	for _, c := range b {
		if c == '\n' {
			putc('\r')
		}
		putc(c)
	}
}

// putHex and putDec print numbers without fmt: kernel context cannot allocate.
func putHex(v uint64) {
	var buf [18]byte
	buf[0], buf[1] = '0', 'x'
	for i := 0; i < 16; i++ {
		buf[17-i] = "0123456789abcdef"[v&0xF]
		v >>= 4
	}
	putBytes(buf[:])
}

func putDec(v uint64) {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	putBytes(buf[i:])
}

// klog prints one kernel log line tagged "boot: ".
func klog(s string) {
	puts("boot: ")
	puts(s)
	puts("\n")
}
