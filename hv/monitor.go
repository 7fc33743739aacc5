package hv

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"hindsight/boot"
	"hindsight/hv/gdb"
)

// The console monitor: the backup's debugger on the hypervisor's console
// (COM1), for people without gdb. The console's input normally goes to
// the primary's guest; a key sequence that starts with Ctrl-A goes to the
// monitor instead:
//
//	Ctrl-A Ctrl-A   a Ctrl-A for the guest
//	Ctrl-A :        a command line (the monitor's commands, "help" lists
//	                them): Enter runs it, Backspace edits, Ctrl-C or Esc
//	                drops it
//	Ctrl-A h        help
//	Ctrl-A s        status: both replicas, the lag, the log
//	Ctrl-A p        pause the backup; Ctrl-A c lets it continue
//	Ctrl-A n        step one instruction
//	Ctrl-A r        registers; Ctrl-A w where; Ctrl-A l the next records;
//	                Ctrl-A d disassembly at RIP; Ctrl-A f run to just
//	                before the primary's failure
//
// Nothing else is taken from the guest: every other byte, Ctrl-A's
// included when doubled, reaches it as typed. The pair's consoleMux owns
// the console's input (boot.ConsoleRead has one caller): it polls the
// UART, hands the guest's bytes to the primary through a lock-free queue
// its exit handlers read (world.serial), and runs the monitor's commands
// in goroutines of their own, so a command that waits for the backup
// never holds the guest's input up.

const (
	keyEscape = 0x01 // Ctrl-A
	keyCancel = 0x03 // Ctrl-C
	keyEsc    = 0x1B
	muxPoll   = 2 * time.Millisecond
)

// consoleQueue passes bytes from the console's reader to the primary's
// exit handlers: one producer, one consumer, no locks, no allocation.
type consoleQueue struct {
	buf        [256]byte
	head, tail atomic.Uint32 // head: next to read; tail: next to write (free running)
}

func (q *consoleQueue) put(b byte) bool {
	t := q.tail.Load()
	if t-q.head.Load() == uint32(len(q.buf)) {
		return false
	}
	q.buf[t%uint32(len(q.buf))] = b
	q.tail.Store(t + 1)
	return true
}

func (q *consoleQueue) get() (byte, bool) {
	h := q.head.Load()
	if h == q.tail.Load() {
		return 0, false
	}
	b := q.buf[h%uint32(len(q.buf))]
	q.head.Store(h + 1)
	return b, true
}

// consoleMux reads the console and splits it between the guest and the
// monitor.
type consoleMux struct {
	q      consoleQueue
	pair   *Pair
	out    io.Writer
	esc    bool
	inLine bool
	line   []byte
	cmds   chan string // run one after another, in the order typed
	done   chan struct{}
}

func newConsoleMux(p *Pair) *consoleMux {
	return &consoleMux{pair: p, out: os.Stdout, cmds: make(chan string, 16), done: make(chan struct{})}
}

// run polls the console until stop is closed.
func (m *consoleMux) run(stop <-chan struct{}) {
	defer close(m.done)
	go m.runCommands(stop)
	for {
		b, ok := boot.ConsoleRead()
		if !ok {
			select {
			case <-stop:
				return
			case <-time.After(muxPoll):
			}
			continue
		}
		m.feed(b)
	}
}

// feed takes one byte typed on the console.
func (m *consoleMux) feed(b byte) {
	switch {
	case m.inLine:
		m.edit(b)
	case m.esc:
		m.esc = false
		m.key(b)
	case b == keyEscape:
		m.esc = true
	default:
		m.q.put(b)
	}
}

func (m *consoleMux) key(b byte) {
	cmd := ""
	switch b {
	case keyEscape:
		m.q.put(b)
		return
	case ':':
		m.inLine, m.line = true, m.line[:0]
		io.WriteString(m.out, "\nhv> ")
		return
	case 'h', '?':
		cmd = "help"
	case 's':
		cmd = "status"
	case 'p':
		cmd = "pause"
	case 'c':
		cmd = "continue"
	case 'n':
		cmd = "step"
	case 'r':
		cmd = "regs"
	case 'w':
		cmd = "where"
	case 'l':
		cmd = "log"
	case 'd':
		cmd = "disas"
	case 'f':
		cmd = "failure"
	default:
		fmt.Fprintf(m.out, "\nhv: monitor: Ctrl-A %q is no command (Ctrl-A h lists them; Ctrl-A Ctrl-A sends a Ctrl-A to the guest)\n", b)
		return
	}
	m.enqueue(cmd)
}

// edit takes a byte of a command line.
func (m *consoleMux) edit(b byte) {
	switch {
	case b == '\r' || b == '\n':
		m.inLine = false
		io.WriteString(m.out, "\n")
		m.enqueue(string(m.line))
	case b == keyCancel || b == keyEsc:
		m.inLine = false
		io.WriteString(m.out, " (dropped)\n")
	case b == 0x7F || b == 0x08:
		if len(m.line) > 0 {
			m.line = m.line[:len(m.line)-1]
			io.WriteString(m.out, "\b \b")
		}
	case b >= 0x20 && b < 0x7F && len(m.line) < 120:
		m.line = append(m.line, b)
		m.out.Write([]byte{b})
	}
}

// enqueue hands a command to runCommands; a command typed while too many
// wait is dropped, with a word.
func (m *consoleMux) enqueue(cmd string) {
	select {
	case m.cmds <- cmd:
	default:
		io.WriteString(m.out, "hv: monitor: busy, "+cmd+" dropped\n")
	}
}

// runCommands runs the commands one after another. One that runs the
// backup to a position (goto, failure) goes on in a goroutine of its own,
// so that a pause typed after it still comes through.
func (m *consoleMux) runCommands(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case cmd := <-m.cmds:
			if f := strings.Fields(cmd); len(f) > 0 && (f[0] == "goto" || f[0] == "failure") {
				go m.run1(cmd)
			} else {
				m.run1(cmd)
			}
		}
	}
}

// run1 runs one monitor command and prints its output as one block.
func (m *consoleMux) run1(cmd string) {
	var b strings.Builder
	if err := m.command(cmd, &b); err != nil {
		fmt.Fprintf(&b, "%v\n", err)
	}
	text := strings.TrimRight(b.String(), "\n")
	io.WriteString(m.out, "hv: monitor: "+strings.ReplaceAll(text, "\n", "\nhv: monitor: ")+"\n")
}

// command runs a console command: the run control gdb has of its own,
// then the monitor commands both share (debugger.command).
func (m *consoleMux) command(cmd string, out io.Writer) error {
	d := m.pair.Backup.dbg
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return nil
	}
	switch f[0] {
	case "status":
		s := m.pair.Status()
		fmt.Fprintf(out, "primary #%d %v, backup #%d %v, log %d records in flight (%d%% full), %d stalls\n",
			s.Primary.Seq, s.Primary.State, s.Backup.Seq, s.Backup.State, s.Log.InFlight, s.Log.InFlight*100/s.Log.Capacity, s.Log.Stalls)
		parked, ended, ev, _, _ := d.state()
		switch {
		case ended:
			fmt.Fprintf(out, "the backup has ended: %s\n", ev.Message)
		case parked:
			fmt.Fprintf(out, "the backup is paused (%v) at %s\n", ev.Reason, d.whereNow())
		default:
			io.WriteString(out, "the backup replays\n")
		}
		if f := d.fail.load(); f != nil {
			fmt.Fprintf(out, "the primary failed at landmark %v: %s\n", f.At, f.Reason)
		}
		return nil
	case "pause":
		ev, _ := d.Stop(nil)
		fmt.Fprintf(out, "the backup is paused (%v) at %s\n", ev.Reason, d.whereNow())
		if ev.Message != "" {
			fmt.Fprintln(out, strings.TrimPrefix(ev.Message, "hindsight: "))
		}
		return nil
	case "continue":
		if parked, _, _, _, _ := d.state(); !parked {
			return fmt.Errorf("the backup is not paused")
		}
		io.WriteString(out, "the backup replays on (it stops just before the primary's failure; Ctrl-A p pauses it)\n")
		go func() {
			ev := d.Resume(resumeHow{mode: runCont}, nil)
			m.report(ev)
		}()
		return nil
	case "step":
		ev := d.Resume(resumeHow{mode: runStep}, nil)
		if ev.Message != "" {
			fmt.Fprintln(out, strings.TrimPrefix(ev.Message, "hindsight: "))
		}
		var s string
		err := d.Do(func(v *VM) { s = v.whereReport() })
		io.WriteString(out, s)
		return err
	case "regs":
		var r gdb.Registers
		if err := d.Do(func(v *VM) { v.gdbRegisters(&r) }); err != nil {
			return err
		}
		fmt.Fprintf(out, "rax 0x%016x rbx 0x%016x rcx 0x%016x rdx 0x%016x\n", r.RAX, r.RBX, r.RCX, r.RDX)
		fmt.Fprintf(out, "rsi 0x%016x rdi 0x%016x rbp 0x%016x rsp 0x%016x\n", r.RSI, r.RDI, r.RBP, r.RSP)
		fmt.Fprintf(out, "r8  0x%016x r9  0x%016x r10 0x%016x r11 0x%016x\n", r.R8, r.R9, r.R10, r.R11)
		fmt.Fprintf(out, "r12 0x%016x r13 0x%016x r14 0x%016x r15 0x%016x\n", r.R12, r.R13, r.R14, r.R15)
		fmt.Fprintf(out, "rip 0x%016x rflags %#x cs %#x ss %#x ds %#x es %#x fs %#x gs %#x\n", r.RIP, r.RFLAGS, r.CS, r.SS, r.DS, r.ES, r.FS, r.GS)
		fmt.Fprintf(out, "cr0 %#x cr2 %#x cr3 %#x cr4 %#x efer %#x fs_base %#x gs_base %#x\n", r.CR0, r.CR2, r.CR3, r.CR4, r.EFER, r.FSBase, r.GSBase)
		return nil
	}
	return d.command(cmd, out, true)
}

// report prints where a run the console started stopped.
func (m *consoleMux) report(ev gdb.StopEvent) {
	d := m.pair.Backup.dbg
	msg := ""
	if ev.Message != "" {
		msg = ": " + strings.ReplaceAll(strings.TrimPrefix(ev.Message, "hindsight: "), "\n", "; ")
	}
	fmt.Fprintf(m.out, "hv: monitor: the backup stopped (%v) at %s%s\n", ev.Reason, d.whereNow(), msg)
}

// whereNow is the position the backup published at its last parking.
func (d *debugger) whereNow() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.where
}

// read returns a byte typed for the guest (world.serial).
func (m *consoleMux) read() (byte, bool) { return m.q.get() }
