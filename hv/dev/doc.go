// Package dev holds the PC device models the hypervisor emulates for its
// guests (the small test guest, then Linux): 8259A PIC pair, 8254 PIT with
// system control port B, 16550A UART, CMOS RTC, and a port I/O Bus that
// dispatches to them.
//
// # Determinism
//
// The primary and the backup run the same models and must stay identical, so
// the models are pure state machines: no wall clock, no goroutines, no maps,
// no randomness. Time comes from the caller as a logical "now" (PIT ticks
// for the PIT, seconds for the RTC); every input from outside the guest
// (serial input bytes, the RTC's base time) enters through an explicit
// method (UART.Receive, RTC.SetTime, RTC.SetElapsed) so the recorder can log
// it and the replayer can repeat it at the same point. Device state is plain
// values (fixed arrays, no pointers except the UART's output sink), so a
// struct copy is a snapshot.
//
// # VM-exit context
//
// In and Out of every device and of the Bus, and PIC.RaiseIRQ, LowerIRQ,
// PulseIRQ, PendingVector, Acknowledge, PIT.Advance, NextIRQ and
// UART.Receive, allocate nothing and store no pointers (no write barriers);
// tests check the allocations with testing.AllocsPerRun.
//
// # Ports
//
//	port         device                               policy
//	0x20-0x21    8259A master (IRQ0-7)                emulated
//	0x40-0x43    8254 PIT counters 0-2, control       emulated (BCD counting not: binary)
//	0x61         system control port B                emulated (counter 2 gate, OUT2, refresh toggle)
//	0x70-0x71    CMOS RTC index / data                emulated (fixed logical time, no IRQ8)
//	0x80         POST code / delay                    absent: writes dropped, reads 0xFF, silent
//	0x87         DMA channel 0 page register          absent: reads 0xFF (guests probe it), silent
//	0xA0-0xA1    8259A slave (IRQ8-15, on IR2)        emulated
//	0x3F8-0x3FF  16550A COM1 (IRQ4)                   emulated
//	other        unclaimed                            Bus policy: Ignore by default
//
// Unclaimed ports follow a Policy per port range (Bus.SetPolicy, default
// Bus.SetDefault): Ignore (the default) makes reads return all ones and drops
// writes, and reports the first access to each distinct port through the
// Bus's LogFunc, once for the Bus's lifetime; Fault refuses the access and
// the caller injects #GP(0); Silent is Ignore without the log line.
//
// Wider accesses (IN/OUT of 2 or 4 bytes) to these 8-bit devices are split by
// the Bus into byte accesses to consecutive ports, as the ISA bus does.
//
// PC wires the whole set on one Bus and keeps the PIC's inputs in step with
// the PIT and the UART.
package dev
