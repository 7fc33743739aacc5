package hv

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/arch/x86/x86asm"

	"hindsight/hv/gdb"
	"hindsight/hv/paging"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// BackupTarget is the backup as the gdb stub sees it (gdb.Target): every
// read runs on the backup's vCPU thread while it is parked (debug.go), and
// every write is refused while it replays.
type BackupTarget struct{ v *VM }

// Target returns the pair's backup as a gdb target.
func (p *Pair) Target() *BackupTarget { return &BackupTarget{p.Backup} }

var _ gdb.Target = (*BackupTarget)(nil)

func (t *BackupTarget) Attach() (gdb.StopEvent, error) {
	ev, _ := t.v.dbg.Attach(nil)
	return ev, nil
}

func (t *BackupTarget) Detach() { t.v.dbg.Detach() }

func (t *BackupTarget) Registers(r *gdb.Registers) error {
	return t.v.dbg.Do(func(v *VM) { v.gdbRegisters(r) })
}

// errReplaying is why the backup refuses writes.
var errReplaying = errors.New("the backup replays the primary's log: a change to its registers or memory would make it diverge from the primary, so hindsight refuses writes while it replays")

func (t *BackupTarget) Writable() error                                  { return errReplaying }
func (t *BackupTarget) SetRegisters(r *gdb.Registers) error              { return errReplaying }
func (t *BackupTarget) WriteMemory(addr uint64, src []byte) (int, error) { return 0, errReplaying }
func (t *BackupTarget) CanReverse() bool                                 { return t.v.errNoReverse() == nil }

func (t *BackupTarget) ReadMemory(addr uint64, dst []byte) (int, error) {
	var n int
	var err error
	if e := t.v.dbg.Do(func(v *VM) { n, err = v.readVirtual(addr, dst) }); e != nil {
		return 0, e
	}
	return n, err
}

func (t *BackupTarget) Resume(ctx context.Context, mode gdb.ResumeMode) gdb.StopEvent {
	if ctx.Err() != nil {
		ev, _ := t.v.dbg.Stop(nil)
		return ev
	}
	switch mode {
	case gdb.ReverseStep:
		return t.v.dbg.reverseStep(ctx.Done())
	case gdb.ReverseContinue:
		return t.v.dbg.reverseContinue(ctx.Done())
	case gdb.Step:
		return t.v.dbg.Resume(resumeHow{mode: runStep}, ctx.Done())
	}
	return t.v.dbg.Resume(resumeHow{mode: runCont}, ctx.Done())
}

func (t *BackupTarget) SetBreakpoint(kind gdb.BreakKind, addr, length uint64, insert bool) error {
	var err error
	if e := t.v.dbg.Do(func(v *VM) { err = v.dbg.setBreak(v, breakpoint{kind: kind, addr: addr, length: length}, insert) }); e != nil {
		return e
	}
	return err
}

func (t *BackupTarget) Monitor(cmd string, out io.Writer) error {
	return t.v.dbg.command(cmd, out, false)
}

// readVirtual reads guest-virtual memory and explains where it stopped.
func (v *VM) readVirtual(addr uint64, dst []byte) (int, error) {
	n := v.readGuest(addr, dst)
	if n == len(dst) {
		return n, nil
	}
	r := v.pagingRegs()
	if t, err := paging.Translate(v.guestMem, &r, addr+uint64(n)); err != nil {
		return n, err
	} else {
		return n, fmt.Errorf("%#x maps to guest-physical %#x, outside the guest's %d MiB", addr+uint64(n), t.PA, len(v.ram)>>20)
	}
}

// gdbRegisters fills r with the guest's registers (the vCPU's thread).
func (v *VM) gdbRegisters(r *gdb.Registers) {
	g := &v.regs
	r.RAX, r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP = g.RAX, g.RBX, g.RCX, g.RDX, g.RSI, g.RDI, g.RBP
	r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15 = g.R8, g.R9, g.R10, g.R11, g.R12, g.R13, g.R14, g.R15
	rd := func(f vmx.Field) uint64 { x := v.hw().vmread(f); return x }
	r.RSP, r.RIP, r.RFLAGS = rd(vmx.GuestRSP), rd(vmx.GuestRIP), rd(vmx.GuestRFLAGS)
	r.CS, r.SS, r.DS = uint16(rd(vmx.GuestCSSelector)), uint16(rd(vmx.GuestSSSelector)), uint16(rd(vmx.GuestDSSelector))
	r.ES, r.FS, r.GS = uint16(rd(vmx.GuestESSelector)), uint16(rd(vmx.GuestFSSelector)), uint16(rd(vmx.GuestGSSelector))
	r.FSBase, r.GSBase = rd(vmx.GuestFSBase), rd(vmx.GuestGSBase)
	if v.msrs.guest != nil {
		r.KernelGSBase = v.msrs.guest[0].Data // swapped[0]: IA32_KERNEL_GS_BASE
	}
	c := v.controlRegs()
	r.CR0, r.CR2, r.CR3, r.CR4, r.EFER = c.cr0, g.CR2, c.cr3, c.cr4, c.efer
	fxToGDB(v.guestFX(), r)
}

// guestFX is the guest's FXSAVE image (saved at every exit), inside
// v.fx[0] at its 16-byte alignment.
func (v *VM) guestFX() []byte {
	off := v.regs.GuestFX - uintptr(unsafe.Pointer(&v.fx[0]))
	return v.fx[0][off : off+512]
}

// fxToGDB converts an FXSAVE64 image (SDM Vol. 1 §10.5.1, Table 10-2) to
// gdb's i387 and SSE registers: the full tag word from the abridged one
// and the registers' contents, the last instruction and operand pointers'
// offsets.
func fxToGDB(fx []byte, r *gdb.Registers) {
	le := binary.LittleEndian
	r.FCtrl, r.FStat = uint32(le.Uint16(fx[0:])), uint32(le.Uint16(fx[2:]))
	r.FOp = uint32(le.Uint16(fx[6:]) & 0x7FF)
	r.FIOff, r.FOOff = uint32(le.Uint64(fx[8:])), uint32(le.Uint64(fx[16:]))
	r.MXCSR = le.Uint32(fx[24:])
	for i := range r.ST {
		copy(r.ST[i][:], fx[32+16*i:32+16*i+10])
	}
	for i := range r.XMM {
		copy(r.XMM[i][:], fx[160+16*i:160+16*i+16])
	}
	top := int(r.FStat>>11) & 7
	abridged := fx[4]
	var tag uint32
	for phys := 0; phys < 8; phys++ {
		t := uint32(3) // empty
		if abridged&(1<<phys) != 0 {
			st := r.ST[(phys-top+8)%8]
			exp := le.Uint16(st[8:]) & 0x7FFF
			mant := le.Uint64(st[0:])
			switch {
			case exp == 0 && mant == 0:
				t = 1 // zero
			case exp == 0x7FFF || exp == 0 || mant>>63 == 0:
				t = 2 // special: NaN, infinity, denormal, unnormal
			default:
				t = 0 // valid
			}
		}
		tag |= t << (2 * phys)
	}
	r.FTag = tag
}

// The monitor commands, for gdb's "monitor" (qRcmd) and the console
// monitor (monitor.go), which adds the run control gdb has of its own.

const monitorHelp = `hindsight's monitor commands (the backup replica):
  where             the backup's landmark, instruction count and RIP; the primary's failure and the distance to it
  goto N[+C]        run the backup to landmark N (N+C: C instructions past it on the clock's counter; +N: N landmarks ahead)
  failure           run to the instruction just before the primary's failure and compare the registers with the primary's final ones
  log [N]           the next N records of the primary's log (default 8)
  disas [ADDR [N]]  disassemble N instructions (default 8) at ADDR (default RIP)
  phys ADDR [LEN]   guest-physical memory, in hex (LEN default 64, at most 4096)
  stats             what steps, runs, reverse commands and snapshots cost the backup's vCPU
  capture           write a capture file now (the oldest snapshot and the log from there; capture=com3)
  help              this list
After goto and failure gdb still shows the registers from before: type
"maint flush register-cache" (or use "continue", which stops just before
the primary's failure by itself).
`

const consoleHelp = `  status            both replicas' landmarks, the lag, the log
  pause             stop the backup where it is
  continue          let it replay on (stopping just before the primary's failure)
  step              execute one instruction (or deliver one event)
  regs              the registers
  x ADDR [LEN]      guest-virtual memory, in hex
`

// command runs one monitor command. Run control (goto, failure) resumes
// the backup and waits for it.
func (d *debugger) command(cmd string, out io.Writer, console bool) error {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		f = []string{"help"}
	}
	arg := func(i int, def uint64) (uint64, error) {
		if len(f) <= i {
			return def, nil
		}
		n, err := strconv.ParseUint(f[i], 0, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number (decimal, or hex with 0x)", f[i])
		}
		return n, nil
	}
	switch f[0] {
	case "help":
		io.WriteString(out, monitorHelp)
		if console {
			io.WriteString(out, consoleHelp)
		}
		return nil
	case "where":
		var s string
		err := d.Do(func(v *VM) { s = v.whereReport() })
		io.WriteString(out, s)
		return err
	case "goto":
		if len(f) != 2 {
			return errors.New("usage: goto N or goto N+C (a landmark, and instructions past it)")
		}
		to, err := parsePosition(f[1])
		if err != nil {
			return err
		}
		if strings.HasPrefix(f[1], "+") { // relative: landmarks ahead of the backup
			d.Do(func(v *VM) { to.Seq += v.seq })
		}
		return d.runTo(out, to, fmt.Sprintf("landmark #%d+%d", to.Seq, to.Count), false)
	case "failure":
		var fl *Failure
		if err := d.Do(func(v *VM) { fl = d.fail.load() }); err != nil {
			return err
		}
		if fl == nil {
			return errors.New("the primary has not failed (yet): nothing to run to")
		}
		return d.runTo(out, fl.Before(), "", true)
	case "capture":
		var s string
		var cerr error
		if err := d.Do(func(v *VM) { s, cerr = d.captureNow(v, d.fail.load()) }); err != nil {
			return err
		}
		io.WriteString(out, s)
		return cerr
	case "stats":
		var s string
		err := d.Do(func(v *VM) { s = d.statsReport(v) })
		io.WriteString(out, s)
		return err
	case "log":
		n, err := arg(1, 8)
		if err != nil {
			return err
		}
		var s string
		err = d.Do(func(v *VM) { s = v.logReport(int(min(n, 64))) })
		io.WriteString(out, s)
		return err
	case "disas":
		addr, err := arg(1, ^uint64(0))
		if err != nil {
			return err
		}
		n, err := arg(2, 8)
		if err != nil {
			return err
		}
		var s string
		err = d.Do(func(v *VM) { s = v.disasReport(addr, int(min(n, 64))) })
		io.WriteString(out, s)
		return err
	case "phys", "x":
		if len(f) < 2 {
			return fmt.Errorf("usage: %s ADDR [LEN]", f[0])
		}
		addr, err := arg(1, 0)
		if err != nil {
			return err
		}
		n, err := arg(2, 64)
		if err != nil {
			return err
		}
		var s string
		var rerr error
		err = d.Do(func(v *VM) { s, rerr = v.dumpReport(addr, int(min(n, 4096)), f[0] == "phys") })
		io.WriteString(out, s)
		if err != nil {
			return err
		}
		return rerr
	}
	return fmt.Errorf("unknown command %q (help lists them)", f[0])
}

// runTo runs the backup to a position and says where it stopped.
func (d *debugger) runTo(out io.Writer, to replay.Landmark, why string, failure bool) error {
	var where string
	var err error
	d.Do(func(v *VM) {
		if failure {
			why = d.failureWhyOf(d.fail.load())
		}
		if d.past(v, to) {
			err = fmt.Errorf("the backup is at #%d+%d, past #%d+%d: it cannot go back (it replays forward only)", v.seq, v.count, to.Seq, to.Count)
		}
		where = v.whereLine()
	})
	if err != nil {
		return err
	}
	if _, ended, _, _, _ := d.state(); ended {
		return errors.New("the backup has ended: it cannot run")
	}
	fmt.Fprintf(out, "running from %s to %s...\n", where, why)
	ev := d.Resume(resumeHow{mode: runTo, target: to, why: why}, nil)
	if ev.Message != "" {
		fmt.Fprintln(out, strings.TrimPrefix(ev.Message, "hindsight: "))
	}
	d.Do(func(v *VM) { where = v.whereLine() })
	fmt.Fprintf(out, "the backup is at %s\n", where)
	if !failure || ev.Reason != gdb.StopEnded {
		io.WriteString(out, "(gdb: \"maint flush register-cache\" shows the registers there)\n")
	}
	return nil
}

func (d *debugger) failureWhyOf(f *Failure) string {
	if d.failure == nil {
		d.failure = f
	}
	return d.failureWhy()
}

// parsePosition reads N or N+C.
func parsePosition(s string) (replay.Landmark, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "+"), "#")
	a, b, plus := strings.Cut(s, "+")
	var l replay.Landmark
	var err error
	if l.Seq, err = strconv.ParseUint(a, 0, 64); err != nil {
		return l, fmt.Errorf("%q is not a landmark (N or N+C)", s)
	}
	if plus {
		if l.Count, err = strconv.ParseUint(b, 0, 64); err != nil {
			return l, fmt.Errorf("%q is not a landmark (N or N+C)", s)
		}
	}
	return l, nil
}

// whereReport says where the backup stands (vCPU thread).
func (v *VM) whereReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backup at landmark %s\n", v.whereLine())
	rip := v.hw().vmread(vmx.GuestRIP)
	fmt.Fprintf(&b, "  next: %s\n", v.disasOne(rip))
	if info := v.hw().vmread(vmx.EntryInterruptionInfo); info&vmx.IntInfoValid != 0 {
		fmt.Fprintf(&b, "  pending: vector %#x (%v) is delivered at the next entry\n", uint8(info), vmx.EventType(info>>vmx.IntInfoTypeShift&7))
	}
	if p, ok := v.in.(*replayer); ok {
		var next [1]replay.Record
		if h, st, _ := p.rd.Head(p.now()); st == replay.Ready {
			fmt.Fprintf(&b, "  log: next record %v\n", h)
		} else if n, in := p.rd.Ahead(next[:]); n == 1 {
			fmt.Fprintf(&b, "  log: next record %v (held back by the lag; %d in the log)\n", next[0], in)
		}
	}
	if d := v.dbg; d != nil {
		if f := d.fail.load(); f != nil {
			fmt.Fprintf(&b, "  the primary failed at landmark %v: %s\n  %s\n", f.At, f.Reason, d.distance(v, f))
		} else {
			b.WriteString("  the primary has not failed\n")
		}
		if d.nbreaks > 0 {
			fmt.Fprintf(&b, "  %d breakpoint(s) and watchpoint(s) set\n", d.nbreaks)
		}
	}
	return b.String()
}

// logReport lists the next n records the backup will replay.
func (v *VM) logReport(n int) string {
	p, ok := v.in.(*replayer)
	if !ok {
		return "no log: this VM does not replay one\n"
	}
	var b strings.Builder
	recs := make([]replay.Record, n)
	got := 0
	if h, st, _ := p.rd.Head(p.now()); st == replay.Ready {
		recs[0] = *h
		k, _ := p.rd.Ahead(recs[1:])
		got = 1 + k
	} else {
		got, _ = p.rd.Ahead(recs)
	}
	st := p.log.Status(p.now())
	fmt.Fprintf(&b, "the backup is at #%d+%d; %d records in the log (%d read so far)", v.seq, v.count, st.InFlight, st.Read)
	if st.WriterClosed {
		b.WriteString(", the primary has ended")
	}
	b.WriteString("\n")
	for _, r := range recs[:got] {
		fmt.Fprintf(&b, "  %v\n", r)
	}
	if got == 0 {
		b.WriteString("  (no record yet)\n")
	}
	return b.String()
}

// disasOne disassembles the instruction at guest-virtual rip.
func (v *VM) disasOne(rip uint64) string {
	s, _ := v.disasAt(rip)
	return s
}

// disasAt disassembles one instruction and returns its length (0 if none).
func (v *VM) disasAt(rip uint64) (string, int) {
	var code [15]byte
	cs := codeSegment(v.hw())
	n := v.readGuest(cs.linear(rip), code[:])
	if n == 0 {
		return fmt.Sprintf("%#x: (not readable)", rip), 0
	}
	inst, err := x86asm.Decode(code[:n], cs.bits)
	if err != nil || inst.Op == 0 {
		return fmt.Sprintf("%#x: % x (%v)", rip, code[:min(n, 4)], err), 0
	}
	return fmt.Sprintf("%#x: %-40s % x", rip, x86asm.IntelSyntax(inst, rip, nil), code[:inst.Len]), inst.Len
}

func (v *VM) disasReport(addr uint64, n int) string {
	if addr == ^uint64(0) {
		addr = v.hw().vmread(vmx.GuestRIP)
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		s, l := v.disasAt(addr)
		b.WriteString(s)
		b.WriteString("\n")
		if l == 0 {
			break
		}
		addr += uint64(l)
	}
	return b.String()
}

// dumpReport dumps guest memory, physical or virtual, 16 bytes a line.
func (v *VM) dumpReport(addr uint64, n int, physical bool) (string, error) {
	buf := make([]byte, n)
	var got int
	var err error
	if physical {
		if addr < uint64(len(v.ram)) {
			got = copy(buf, v.ram[addr:])
		}
		if got < n {
			err = fmt.Errorf("guest-physical %#x lies outside the guest's %d MiB", addr+uint64(got), len(v.ram)>>20)
		}
	} else {
		got, err = v.readVirtual(addr, buf)
	}
	var b strings.Builder
	for i := 0; i < got; i += 16 {
		fmt.Fprintf(&b, "%#x: % x\n", addr+uint64(i), buf[i:min(i+16, got)])
	}
	return b.String(), err
}

// statsReport says what debugging cost the backup's vCPU thread, in TSC
// ticks of its own time (boot.ThreadTSC; in Bochs one tick is one
// instruction, hypervisor and guest together).
func (d *debugger) statsReport(v *VM) string {
	s := &d.stats
	var b strings.Builder
	per := func(a, n uint64) uint64 {
		if n == 0 {
			return 0
		}
		return a / n
	}
	ratio := func(t, g uint64) string {
		if g == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f", float64(t)/float64(g))
	}
	fmt.Fprintf(&b, "steps: %d, %d vCPU ticks and %d exits each\n", s.steps, per(s.stepTSC, s.steps), per(s.stepExits, s.steps))
	fmt.Fprintf(&b, "runs without breakpoints: %d, %d guest %s in %d vCPU ticks (%s per guest %s), %d exits\n",
		s.runs, s.runGuest, v.unit(), s.runTSC, ratio(s.runTSC, s.runGuest), v.unit(), s.runExits)
	fmt.Fprintf(&b, "runs with breakpoints or watchpoints: %d, %d guest %s in %d vCPU ticks (%s per guest %s), %d exits, %d entries armed, %d hits\n",
		s.bpRuns, s.bpGuest, v.unit(), s.bpTSC, ratio(s.bpTSC, s.bpGuest), v.unit(), s.bpExits, s.bpArmed, s.hits)
	if s.reverse > 0 {
		n := min(s.nreplayed, len(s.replayed))
		last := slices.Clone(s.replayed[:n])
		slices.Sort(last)
		fmt.Fprintf(&b, "reverse commands: %d, %d runs from snapshots, %d counting steps; guest %s replayed per command (last %d): median %d, worst %d\n",
			s.reverse, s.reverseRuns, s.reverseSteps, v.unit(), n, last[n/2], last[n-1])
	}
	if sn := v.snaps; sn != nil {
		fmt.Fprintf(&b, "snapshots: %s\n", v.SnapReport())
		if sn.n > 0 {
			fmt.Fprintf(&b, "snapshots span %v to %v; log history: records %d to %d\n", sn.list[0].pt, sn.list[sn.n-1].pt, sn.hist.Oldest(), sn.hist.End())
		}
	}
	return b.String()
}
