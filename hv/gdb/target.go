package gdb

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Target is the machine the stub debugs: for the hypervisor, the backup
// replica's vCPU. The stub calls every method from the one goroutine that
// runs Serve, never two at a time, so a Target needs no locking against
// the stub (only against its own vCPU loop).
//
// Session lifecycle: the first packet of a debugger calls Attach; the
// target is then stopped and the stub reads and resumes it; D, k and vKill
// end the session with Detach, and so does a lost connection (also in the
// middle of a Resume: Resume's context is cancelled with ErrDisconnected,
// the target stops, the stub removes its breakpoints and calls Detach, and
// Serve returns an error). A target is therefore never left stopped by a
// debugger that went away.
type Target interface {
	// Attach stops the target at an instruction boundary for debugging and
	// returns why it is stopped now (normally StopInterrupt; StopEnded or
	// StopHistoryEnd if it had already ended or caught up). An error
	// refuses the debugger; the stub reports it and stays detached.
	Attach() (StopEvent, error)

	// Detach lets the target run freely again (the backup resumes its
	// replay). The stub has removed its breakpoints and watchpoints first.
	Detach()

	// Registers fills r with the stopped target's register file.
	Registers(r *Registers) error

	// SetRegisters replaces the register file. The stub calls it only if
	// Writable returns nil.
	SetRegisters(r *Registers) error

	// ReadMemory copies guest memory at the guest-virtual address addr
	// (translated through the guest's current page tables) into dst and
	// returns how many bytes it copied; if fewer than len(dst), the error
	// says why (an unmapped page, say). Breakpoints and watchpoints are
	// never visible in guest memory: the target implements them without
	// writing to it.
	ReadMemory(addr uint64, dst []byte) (int, error)

	// WriteMemory copies src to guest-virtual addr. The stub calls it only
	// if Writable returns nil.
	WriteMemory(addr uint64, src []byte) (int, error)

	// Writable returns nil if registers and memory may be changed now, or
	// an error saying why not (e.g. the backup is replaying: a write would
	// make it diverge from the primary). The stub calls it before every
	// write and passes its text to the debugger.
	Writable() error

	// Resume runs the target as mode says and blocks until it stops, then
	// returns why. It returns promptly once ctx is done (Ctrl-C in the
	// debugger, or the connection lost: context.Cause(ctx) is
	// ErrInterrupted or ErrDisconnected), with StopInterrupt unless another
	// stop happened first; if ctx is already done when it is called, it
	// returns without running. A breakpoint at the address Resume starts
	// from does not stop it before that instruction executes (as the
	// processor's EFLAGS.RF does). Reverse modes are used only if
	// CanReverse is true. Once the target has stopped with StopEnded
	// (or StopHistoryEnd), a forward Resume returns that stop again at
	// once.
	Resume(ctx context.Context, mode ResumeMode) StopEvent

	// SetBreakpoint inserts (insert true) or removes a breakpoint or
	// watchpoint over [addr, addr+length) (guest-virtual). Breakpoints stop
	// before the instruction at addr executes; watchpoints stop after the
	// access, with the instruction completed. ErrUnsupported makes the stub
	// tell gdb the kind is not supported (gdb then falls back: single
	// stepping for watchpoints).
	SetBreakpoint(kind BreakKind, addr, length uint64, insert bool) error

	// Monitor runs a "monitor" command typed in the debugger and writes its
	// output, text lines, to out; the stub forwards them to the debugger as
	// they are written. "help" must list the commands. An error is shown
	// after the output.
	Monitor(cmd string, out io.Writer) error

	// CanReverse says whether Resume supports ReverseStep and
	// ReverseContinue (asked once per session, when gdb connects).
	CanReverse() bool
}

// ResumeMode says how Resume runs the target.
type ResumeMode uint8

const (
	Continue        ResumeMode = iota // run until a stop event
	Step                              // execute one instruction
	ReverseContinue                   // run backwards until a breakpoint, a watchpoint or the start of the history
	ReverseStep                       // go back one instruction
)

var resumeNames = [...]string{"continue", "step", "reverse-continue", "reverse-step"}

func (m ResumeMode) String() string {
	if int(m) < len(resumeNames) {
		return resumeNames[m]
	}
	return fmt.Sprintf("ResumeMode(%d)", m)
}

// StopReason is why the target stopped.
type StopReason uint8

const (
	// StopStep: a Step or ReverseStep finished.
	StopStep StopReason = iota
	// StopBreakpoint: a software breakpoint (Z0) at rip, not yet executed.
	StopBreakpoint
	// StopHWBreakpoint: a hardware breakpoint (Z1) at rip, not yet executed.
	StopHWBreakpoint
	// StopWatch: a watchpoint fired; Watch is its kind and Addr the data
	// address that was accessed. The accessing instruction has completed.
	StopWatch
	// StopInterrupt: stopped at the debugger's request (Ctrl-C, attach).
	StopInterrupt
	// StopHistoryBegin: reverse execution reached the oldest state kept.
	StopHistoryBegin
	// StopHistoryEnd: forward replay reached the end of the log (the
	// backup has caught up with the primary); it can go no further now.
	StopHistoryEnd
	// StopEnded: the replica ended (the guest shut down or triple-faulted,
	// or replay failed); its last state can still be inspected. Message
	// should say what happened.
	StopEnded
)

var stopNames = [...]string{"step", "breakpoint", "hardware breakpoint", "watchpoint", "interrupt",
	"beginning of history", "end of history", "ended"}

func (r StopReason) String() string {
	if int(r) < len(stopNames) {
		return stopNames[r]
	}
	return fmt.Sprintf("StopReason(%d)", r)
}

// StopEvent is what Resume and Attach return.
type StopEvent struct {
	Reason  StopReason
	Watch   BreakKind // StopWatch: WatchWrite, WatchRead or WatchAccess
	Addr    uint64    // StopWatch: the data address accessed
	Message string    // optional text for the user, printed by gdb before the stop
}

// BreakKind is the type of a Z packet: a breakpoint or a watchpoint.
type BreakKind uint8

const (
	BreakSoftware BreakKind = iota // Z0: "break"; never written into guest memory
	BreakHardware                  // Z1: "hbreak"
	WatchWrite                     // Z2: "watch"
	WatchRead                      // Z3: "rwatch"
	WatchAccess                    // Z4: "awatch"
)

var breakNames = [...]string{"software breakpoint", "hardware breakpoint", "write watchpoint", "read watchpoint", "access watchpoint"}

func (k BreakKind) String() string {
	if int(k) < len(breakNames) {
		return breakNames[k]
	}
	return fmt.Sprintf("BreakKind(%d)", k)
}

var (
	// ErrUnsupported is returned by a Target for a breakpoint kind it does
	// not implement.
	ErrUnsupported = errors.New("not supported by this target")
	// ErrInterrupted is the cause of a Resume context cancelled by Ctrl-C.
	ErrInterrupted = errors.New("interrupted by the debugger (Ctrl-C)")
	// ErrDisconnected is the cause of a Resume context cancelled because
	// the debugger's connection ended.
	ErrDisconnected = errors.New("debugger connection lost")
	// errReplaced is the cause of a Resume context cancelled because a
	// new debugger started a session on the line (its qSupported): the
	// one the run was for is gone.
	errReplaced = errors.New("replaced by a new debugger")
)
