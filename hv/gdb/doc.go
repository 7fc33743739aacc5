// Package gdb is a gdb remote serial protocol stub: it lets gdb debug a
// Target (for the hypervisor, the backup replica's vCPU) over any
// io.ReadWriter: a serial line on hardware, a TCP socket under an
// emulator. References are to the gdb manual's Remote Protocol appendix
// (gdb 13).
//
// # What gdb gets
//
//   - Registers: always the 64-bit x86 view, 608 bytes in a g packet, from
//     a target description served by qXfer:features:read:target.xml in
//     m/l chunks: org.gnu.gdb.i386.core (rax..r15, rip, eflags, cs..gs,
//     st0-7, the x87 control registers), org.gnu.gdb.i386.sse (xmm0-15,
//     mxcsr), org.gnu.gdb.i386.segments (fs_base, gs_base) and
//     org.hindsight.x86.system (k_gs_base, cr0, cr2, cr3, cr4, cr8, efer,
//     with flag fields for cr0, cr4 and efer). The g layout follows the
//     document order; Registers holds the values.
//   - Memory by guest-virtual address (m). A failed read answers E14, and
//     gdb prints "Cannot access memory at address ..."; "monitor why"
//     tells the cause (e.g. "PDE 0x0 at 0x3008 not present").
//   - Execution: c, s, C, S, vCont (c, C, s, S) and, if the target offers
//     them, bs and bc (reverse step and continue; announced as
//     ReverseStep+ and ReverseContinue+). Stop replies are T packets with
//     the thread, rbp, rsp and rip expedited (gdb then needs no g packet
//     after a stepi), and swbreak, hwbreak, watch, rwatch, awatch,
//     replaylog:begin or replaylog:end. Ctrl-C (0x03) stops a running
//     target with SIGINT. A replica that ended stops with SIGABRT and the
//     target's message printed first.
//   - Breakpoints and watchpoints (Z0-Z4, z0-z4) are the target's: nothing
//     is ever written into guest memory, so a replaying backup stays
//     bit-exact.
//   - Writes (G, P, M, X) only when the target's Writable allows them;
//     otherwise E.text, which gdb 13 shows for registers ("Could not
//     write register "rax"; remote failure reply 'E.writing register rax
//     refused: ...'") and "monitor why" repeats for memory.
//   - monitor (qRcmd) commands go to the target; their output streams back
//     in O packets. The stub adds "why".
//   - One thread (1); qAttached answers 1, so quitting gdb detaches; kill
//     (k, vKill) detaches too: the replica is not gdb's to end.
//   - Framing: + and - acknowledgements with retransmission, no-ack mode
//     (QStartNoAckMode), escapes, run lengths on input, garbage between
//     packets skipped, packets above PacketSize refused with an error,
//     unknown packets answered empty (as vMustReplyEmpty expects).
//
// # Sessions and goroutines
//
// Serve runs the protocol in the caller's goroutine and starts one more
// that reads the connection, so that Ctrl-C and a lost connection reach a
// Resume in progress: Resume gets a context that is cancelled with
// ErrInterrupted or ErrDisconnected. All Target methods are called from
// Serve's goroutine, one at a time.
//
// A session starts with the debugger's first packet (Target.Attach stops
// the target) and ends with D, k or vKill (Target.Detach: the target runs
// freely again), or when the connection ends; the stub removes its
// breakpoints before Detach in every case. A qSupported inside a session
// means a new gdb replaced one that vanished (on a serial line nothing
// else says so): the new one takes the session over, the old one's
// breakpoints removed and the target still stopped where it was (a
// Resume the old one left running is interrupted first), so that a
// replica waiting for a debugger is not let go by the hand-over.
package gdb
