package boot

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
	outb(com1+uartMCR, 0x03) // DTR, RTS
}

func putc(b byte) {
	for i := 0; i < 100000 && inb(com1+uartLSR)&lsrTHRE == 0; i++ {
		pause()
	}
	outb(com1+uartTHR, b)
}

func puts(s string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			putc('\r')
		}
		putc(s[i])
	}
}

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
