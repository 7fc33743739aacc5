package dev

// Ports answered by Absent on the minimal PC.
const (
	PortPOST    = 0x80 // POST code / I/O delay port
	PortDMAPage = 0x87 // DMA channel 0 page register, probed by guests
)

// Absent answers for a port with nothing behind it that guests are known to
// touch: reads return all ones (0xFF, "absent"), writes are dropped, and
// nothing is logged.
type Absent struct{}

// In implements Device.
func (Absent) In(port uint16, size int) uint32 { return 0xFFFFFFFF >> (32 - 8*size) }

// Out implements Device.
func (Absent) Out(port uint16, size int, v uint32) {}

// PC is the minimal machine of the Linux guest wired on one Bus: PIC pair,
// PIT with port 0x61, COM1 on IRQ4, CMOS RTC, and Absent at 0x80 and 0x87.
// It keeps the PIC's inputs in step with the devices: after every access
// and Receive the UART's IRQ line, and at every Advance the PIT's IRQ0 edges.
//
// A PC holds pointers to its own fields: after Init it must not be copied.
type PC struct {
	Bus  Bus
	PIC  PIC
	PIT  PIT
	UART UART
	RTC  RTC

	absent  Absent
	uartIRQ bool // IRQ4 line as last passed to the PIC
}

// Init resets every device and registers them. Transmitted serial bytes go
// to sink; the first access to each unclaimed port goes to log.
func (pc *PC) Init(sink func(b byte), log LogFunc) {
	*pc = PC{}
	pc.PIC.Reset()
	pc.PIT.Reset()
	pc.UART.sink = sink
	pc.UART.Reset()
	pc.RTC.Reset()
	pc.Bus.Log = log
	pc.Bus.Register(PortPICMasterCmd, PortPICMasterData, &pc.PIC)
	pc.Bus.Register(PortPICSlaveCmd, PortPICSlaveData, &pc.PIC)
	pc.Bus.Register(PortPIT0, PortPITCtrl, &pc.PIT)
	pc.Bus.Register(PortSysCtlB, PortSysCtlB, &pc.PIT)
	pc.Bus.Register(PortCMOSIndex, PortCMOSData, &pc.RTC)
	pc.Bus.Register(PortPOST, PortPOST, pc.absent)
	pc.Bus.Register(PortDMAPage, PortDMAPage, pc.absent)
	pc.Bus.Register(PortCOM1, PortCOM1+7, &pc.UART)
}

// In performs a guest IN (see Bus.In) and updates the interrupt lines.
// It is Bus.In with the Bus's fast path inlined: these run on every port
// I/O exit.
func (pc *PC) In(port uint16, size int) (v uint32, fault bool) {
	if c := pc.Bus.byteClaim(port, size); c != nil {
		v = c.in(port)
	} else {
		v, fault = pc.Bus.inSlow(port, size)
	}
	pc.syncIRQs()
	return v, fault
}

// Out performs a guest OUT (see Bus.Out) and updates the interrupt lines.
func (pc *PC) Out(port uint16, size int, v uint32) (fault bool) {
	if c := pc.Bus.byteClaim(port, size); c != nil {
		c.out(port, v)
	} else {
		fault = pc.Bus.outSlow(port, size, v)
	}
	pc.syncIRQs()
	return fault
}

// Receive offers a serial input byte (see UART.Receive).
func (pc *PC) Receive(b byte) bool {
	ok := pc.UART.Receive(b)
	pc.syncIRQs()
	return ok
}

// Advance moves logical time to now, in PIT ticks: counter 0's edges pulse
// IRQ0, and the RTC shows its base time plus now/PITHz seconds. Call it
// before each port access and before asking the PIC for a vector.
func (pc *PC) Advance(now uint64) {
	if pc.PIT.Advance(now) > 0 {
		pc.PIC.PulseIRQ(0)
	}
	pc.RTC.SetElapsed(pc.PIT.Now() / PITHz)
}

// syncIRQs is cheap enough to run after every access: UART.IRQ is a load,
// and the PIC is only touched when the line changed.
func (pc *PC) syncIRQs() {
	if pc.UART.IRQ() != pc.uartIRQ {
		pc.syncUART()
	}
}

func (pc *PC) syncUART() {
	l := pc.UART.IRQ()
	pc.uartIRQ = l
	if l {
		pc.PIC.RaiseIRQ(IRQCOM1)
	} else {
		pc.PIC.LowerIRQ(IRQCOM1)
	}
}
