// Package dev holds the PC device models the hypervisor emulates for its
// guests (the small test guest, then Linux 6.1): an 8259A PIC pair, an 8254
// PIT with system control port B, a 16550A UART, an MC146818 CMOS RTC, and
// a port I/O Bus that dispatches to them. PC wires the set.
//
// # The time contract
//
// The primary and the backup run the same models and must stay identical,
// so the models are pure state machines: no wall clock, no goroutines, no
// maps, no randomness, no pointers in their state. Time is device time:
// ticks of the PIT's input clock (PITHz = 1193182 per second) since
// PC.Init. The hypervisor makes the same calls on both replicas:
//
//	Init(rtcBase)     reset every device; the RTC shows rtcBase (Unix seconds, UTC) + device time
//	Advance(now)      every device to device time now (never backwards; earlier values change nothing)
//	NextEvent()       device time of the next interrupt a device raises by itself, or NoEvent
//	Timed(port)       whether an access at port depends on time: Advance to the current time first
//	In, Out           a guest port access, at the time of the last Advance
//	Receive(b)        a serial input byte (false: not now, offer it again later)
//	TakeOutput(dst)   the bytes the guest transmitted on COM1
//	TakeUnclaimed()   first accesses to unclaimed ports under the Ignore policy
//	Digest(h)         the complete device state mixed into h
//
// Advance is exact whatever its steps: Advance(a) then Advance(b) leaves the
// same state as Advance(b) (tests check the digests). PIT counter 0's rising
// OUT edges pulse IRQ0 (also one made by a control word); the RTC's flags
// drive IRQ8 as a level; COM1 drives IRQ4 as a level. NextEvent covers PIT
// counter 0 and the RTC's enabled periodic, alarm and update-ended
// interrupts; it is exact: Advance(NextEvent()-1) raises nothing and
// Advance(NextEvent()) raises the interrupt. The UART has no notion of
// time: transmission takes no time and its ports are not timed.
//
// The device state (PIC, PIT, UART, RTC and the lines PC drove into the PIC)
// is plain bytes: fixed-size integers, booleans and arrays, with no padding
// (TestDeviceStateIsPlainBytes), so the raw bytes are the complete state and
// Digest mixes them FNV-1a style in 8-byte words. Bytes waiting for
// TakeOutput are part of it.
//
// # VM-exit context
//
// PC.In, Out, Advance, NextEvent, Timed, Receive, CanReceive, TakeOutput,
// TakeUnclaimed and Digest, the devices' In and Out, and PIC.RaiseIRQ,
// LowerIRQ, PulseIRQ, PendingVector and Acknowledge allocate nothing and
// store no pointers (no write barriers, no function values): tests check it
// with testing.AllocsPerRun and, in machine code, with tools/nocall.
//
// # Ports
//
//	port         device                               timed  policy
//	0x20-0x21    8259A master (IRQ0-7)                       emulated
//	0x40-0x43    8254 PIT counters 0-2, control       yes    emulated
//	0x61         system control port B                yes    emulated: GATE2 (bit 0), OUT2 (5), refresh toggle (4), bits 3:0 kept
//	0x70-0x71    MC146818 RTC index / data (IRQ8)     yes    emulated (index bit 7, NMI mask, kept only)
//	0x80         POST code / delay                           absent: writes dropped, reads 0xFF, not reported
//	0x87         DMA channel 0 page register                 absent: reads 0xFF (guests probe it), not reported
//	0xA0-0xA1    8259A slave (IRQ8-15, on IR2)               emulated
//	0x3F8-0x3FF  16550A COM1 (IRQ4)                          emulated
//	other        unclaimed                                   Bus policy, Ignore by default
//
// Unclaimed ports follow a Policy per port range (Bus.SetPolicy, default
// Bus.SetDefault): Ignore (the default) makes reads return all ones and
// drops writes, and queues the first access to each distinct port for
// TakeUnclaimed (a fixed queue of UnclaimedQueueSize; reports that find it
// full are counted, Bus.UnclaimedDropped); Fault refuses the access and the
// caller injects #GP(0); Silent is Ignore without the report. Accesses
// wider than a byte to these 8-bit devices are split by the Bus into byte
// accesses to consecutive ports, as the ISA bus does.
//
// # What is emulated
//
// 8259A (Intel 8259A datasheet): ICW1-4 with edge or level triggering
// (LTIM), single or cascaded, AEOI and special fully nested mode; OCW1
// masks; OCW2 non-specific, specific and automatic EOI, rotate on EOI,
// rotate in AEOI, set priority; OCW3 IRR/ISR reads, poll, special mask mode
// (a non-specific EOI then skips masked levels); spurious IRQ7 when a
// request is withdrawn before INTA. Not: MCS-80/85 mode, buffered mode,
// slave identification (the slave always answers on IR2); spurious IRQ15
// cannot arise because INTA is one atomic step here.
//
// 8254 (Intel 8254 datasheet): modes 0-5 on all three counters with the
// datasheet's timing (a count loads on the CLK pulse after it is written or
// after a GATE trigger, so mode 0 ends N+1 pulses after the write and mode
// 2 first rises N+1 pulses after it), binary and BCD counting, lobyte,
// hibyte and two-byte access, counter latch, read-back of count and status
// (OUT, null count, control bits), GATE2 from port 0x61 (modes 0/4 suspend,
// 1/5 trigger, 2/3 suspend and reload), OUT2 on port 0x61 bit 5, new counts
// in modes 2 and 3 at the end of the period (half-cycle), mode 3's odd
// counts ((N+1)/2 high, (N-1)/2 low). GATE0 and GATE1 are tied high. A
// control word stops the counter until a count is written. Counts below 2
// in modes 2 and 3 (below the datasheet's minimum) count as 2. The refresh
// toggle on port 0x61 bit 4 has the chipset's fixed 15.085 us period.
//
// 16550A (National PC16550D datasheet): divisor latch, 16-byte receiver
// FIFO with trigger levels 1/4/8/14, FCR enable and FIFO resets, IIR with
// priorities and FIFO bits 7:6, THR-empty interrupt rules, LSR with overrun
// (cleared on read), MCR/MSR with loopback and delta bits, scratch
// register, the LCR word length on the line. Transmission takes no time:
// the transmitter FIFO is always empty when the guest looks; the character
// timeout is reported at once below the trigger level (the UART has no
// clock). Not: parity, framing and break errors, the baud rate.
//
// MC146818 (Motorola MC146818A datasheet): time, alarm and date registers
// in BCD or binary, 12- or 24-hour; register A's UIP (the 244 us before
// each update), rate select and divider (010 runs, 11x holds the chain in
// reset, and leaving reset puts the first update half a second later);
// register B's SET (updates stop, UIE cleared), PIE, AIE, UIE, DM, 24/12;
// register C's IRQF, PF, AF, UF (set whatever the enables; read clears and
// lowers IRQ8); register D's VRT; 114 bytes of CMOS RAM. The time base is
// 32.768 kHz tied to device time (one second is exactly PITHz ticks). Not:
// the other time bases, daylight saving (DSE kept only), the square-wave
// pin; a guest that writes out-of-range clock values gets them normalized
// through the calendar at the next update.
package dev
