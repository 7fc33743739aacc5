package gdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/arch/x86/x86asm"

	"hindsight/hv/paging"
)

// fakeMachine is a tiny simulated x86-64 machine that implements Target
// for the tests: a register file, 64 KiB of RAM with real 4-level page
// tables (4 KiB pages and one 2 MiB page), and an interpreter that decodes
// each instruction with x86asm and executes the few the test program uses
// (MOV, INC, NOP, JMP), recording memory accesses for watchpoints and an
// undo log for reverse execution.
type fakeMachine struct {
	mu sync.Mutex

	regs    Registers
	scratch uint64 // stands for registers the interpreter does not simulate
	ram     paging.RAM

	breaks   map[uint64]BreakKind // BreakSoftware or BreakHardware
	watches  []watch
	history  []undo
	executed uint64
	logEnd   uint64 // forward execution stops here: the end of the replay log
	live     bool   // writes allowed (the replica has "gone live")
	reverse  bool   // reverse execution offered

	attaches, detaches int
	leftAtDetach       int           // breakpoints and watchpoints still set at Detach (the stub must remove them)
	endAt              uint64        // if not 0, the replica ends (StopEnded) after this many instructions
	resumeStarted      chan struct{} // if set, signalled when a Resume begins
	attachErr          error         // if set, Attach fails with it
	monitorOutput      string        // what "monitor echo" prints
}

type watch struct {
	kind       BreakKind
	addr, size uint64
}

type undo struct {
	regs   Registers
	writes []memWrite // in execution order
}

type memWrite struct {
	addr uint64 // guest-physical
	old  []byte
}

// The fake's address space (4-level paging, kernel-style high addresses).
const (
	fakeCode     = 0xFFFF_FFFF_8000_0000 // 2 pages, physical 0x4000
	fakeData     = 0xFFFF_FFFF_8010_0000 // 1 page, physical 0x6000
	fakeStack    = 0xFFFF_FFFF_8020_0000 // 1 page, physical 0x7000
	fakeUnmapped = 0xFFFF_FFFF_8030_0000 // nothing mapped
	fakeLarge    = 0xFFFF_FFFF_8040_0000 // a 2 MiB page at physical 0, beyond the 64 KiB of RAM after that
	fakeRAMSize  = 64 << 10

	fakeLoop    = fakeCode + 7  // inc rax
	fakeStore   = fakeCode + 10 // mov [fakeData], rax
	fakeLoad    = fakeCode + 17 // mov rcx, [fakeData+8]
	fakeNop     = fakeCode + 24
	fakeJmp     = fakeCode + 25
	fakeCounter = fakeData     // written by the loop
	fakeInput   = fakeData + 8 // read by the loop
)

// fakeProgram counts in rax, stores it to fakeCounter and loads rcx from
// fakeInput, forever.
var fakeProgram = []byte{
	0x48, 0xC7, 0xC0, 0x01, 0x00, 0x00, 0x00, // +0  mov rax, 1
	0x48, 0xFF, 0xC0, //                         +7  inc rax
	0x48, 0x89, 0x05, 0xEF, 0xFF, 0x0F, 0x00, // +10 mov [rip+0xFFFEF], rax  (fakeCounter)
	0x48, 0x8B, 0x0D, 0xF0, 0xFF, 0x0F, 0x00, // +17 mov rcx, [rip+0xFFFF0]  (fakeInput)
	0x90,       //                               +24 nop
	0xEB, 0xEC, //                               +25 jmp +7
}

func newFakeMachine() *fakeMachine {
	m := &fakeMachine{ram: make(paging.RAM, fakeRAMSize), breaks: map[uint64]BreakKind{}, logEnd: 1 << 62}
	const (
		pml4, pdpt, pd, pt0, pt1 = 0x1000, 0x2000, 0x3000, 0x8000, 0x9000
		p, rw, ps                = paging.EntryP, paging.EntryRW, paging.EntryPS
	)
	put := func(addr, v uint64) { binary.LittleEndian.PutUint64(m.ram[addr:], v) }
	put(pml4+511*8, pdpt|p|rw)
	put(pdpt+510*8, pd|p|rw)
	put(pd+0*8, pt0|p|rw)
	put(pd+1*8, pt1|p|rw)
	put(pd+2*8, 0|p|rw|ps) // fakeLarge: 2 MiB at physical 0
	put(pt0+0*8, 0x4000|p) // code, read-only
	put(pt0+1*8, 0x5000|p)
	put(pt0+0x100*8, 0x6000|p|rw|paging.EntryXD) // data
	put(pt1+0*8, 0x7000|p|rw|paging.EntryXD)     // stack
	copy(m.ram[0x4000:], fakeProgram)
	binary.LittleEndian.PutUint64(m.ram[0x6008:], 0x1122334455667788) // fakeInput

	m.regs = Registers{
		RIP: fakeCode, RSP: fakeStack + 0xFF0, RFLAGS: 0x2,
		CS: 0x10, SS: 0x18, DS: 0x18, ES: 0x18,
		CR0: 0x8000_0011, CR3: pml4, CR4: paging.CR4PAE, EFER: 0xD00, // LME, LMA, NXE
		FCtrl: 0x37F, FTag: 0xFFFF, MXCSR: 0x1F80,
	}
	return m
}

func (m *fakeMachine) pagingRegs() paging.Regs {
	return paging.Regs{CR0: m.regs.CR0, CR3: m.regs.CR3, CR4: m.regs.CR4, EFER: m.regs.EFER}
}

func (m *fakeMachine) Attach() (StopEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.attachErr != nil {
		return StopEvent{}, m.attachErr
	}
	m.attaches++
	return StopEvent{Reason: StopInterrupt}, nil
}

func (m *fakeMachine) Detach() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.detaches++
	m.leftAtDetach += len(m.breaks) + len(m.watches)
}

func (m *fakeMachine) Registers(r *Registers) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	*r = m.regs
	return nil
}

func (m *fakeMachine) SetRegisters(r *Registers) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.live {
		panic("fake: SetRegisters while not writable")
	}
	m.regs = *r
	return nil
}

func (m *fakeMachine) ReadMemory(addr uint64, dst []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.pagingRegs()
	return paging.ReadVirtual(m.ram, &r, addr, dst)
}

func (m *fakeMachine) WriteMemory(addr uint64, src []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.live {
		panic("fake: WriteMemory while not writable")
	}
	for i, c := range src {
		pa, err := m.physical(addr + uint64(i))
		if err != nil {
			return i, err
		}
		m.ram[pa] = c
	}
	return len(src), nil
}

func (m *fakeMachine) physical(va uint64) (uint64, error) {
	r := m.pagingRegs()
	t, err := paging.Translate(m.ram, &r, va)
	if err != nil {
		return 0, err
	}
	if t.PA >= uint64(len(m.ram)) {
		return 0, fmt.Errorf("guest-physical %#x is outside RAM", t.PA)
	}
	return t.PA, nil
}

var errReplaying = errors.New("the backup is replaying its log; a write would make it diverge from the primary")

func (m *fakeMachine) Writable() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.live {
		return errReplaying
	}
	return nil
}

func (m *fakeMachine) CanReverse() bool { return m.reverse }

func (m *fakeMachine) SetBreakpoint(kind BreakKind, addr, length uint64, insert bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch kind {
	case BreakSoftware, BreakHardware:
		if insert {
			m.breaks[addr] = kind
		} else {
			delete(m.breaks, addr)
		}
	default:
		w := watch{kind, addr, length}
		for i, x := range m.watches {
			if x == w {
				m.watches = append(m.watches[:i], m.watches[i+1:]...)
				break
			}
		}
		if insert {
			m.watches = append(m.watches, w)
		}
	}
	return nil
}

func (m *fakeMachine) Monitor(cmd string, out io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch cmd {
	case "help":
		_, err := io.WriteString(out, "help     this list\ninfo     instructions executed and where the log ends\n")
		return err
	case "info":
		_, err := fmt.Fprintf(out, "executed %d instructions; the log ends at %d\n", m.executed, m.logEnd)
		return err
	case "echo":
		_, err := io.WriteString(out, m.monitorOutput)
		return err
	}
	return fmt.Errorf("unknown command %q (try monitor help)", cmd)
}

func (m *fakeMachine) Resume(ctx context.Context, mode ResumeMode) StopEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.resumeStarted != nil {
		select {
		case m.resumeStarted <- struct{}{}:
		default:
		}
	}
	for i := 0; ; i++ {
		if i%64 == 0 && ctx.Err() != nil {
			return StopEvent{Reason: StopInterrupt}
		}
		if kind, ok := m.breaks[m.regs.RIP]; ok && i > 0 {
			if kind == BreakHardware {
				return StopEvent{Reason: StopHWBreakpoint}
			}
			return StopEvent{Reason: StopBreakpoint}
		}
		switch mode {
		case Continue, Step:
			if m.executed >= m.logEnd {
				return StopEvent{Reason: StopHistoryEnd}
			}
			if m.endAt != 0 && m.executed >= m.endAt {
				return StopEvent{Reason: StopEnded, Message: "the guest triple-faulted"}
			}
			hit, err := m.execute()
			if err != nil {
				return StopEvent{Reason: StopEnded, Message: err.Error()}
			}
			if hit != nil {
				return *hit
			}
		case ReverseContinue, ReverseStep:
			if len(m.history) == 0 {
				return StopEvent{Reason: StopHistoryBegin}
			}
			m.unexecute()
		}
		if mode == Step || mode == ReverseStep {
			return StopEvent{Reason: StopStep}
		}
	}
}

// execute runs the instruction at rip. It returns the watchpoint stop the
// instruction's memory accesses trigger, if any.
func (m *fakeMachine) execute() (*StopEvent, error) {
	var code [15]byte
	r := m.pagingRegs()
	n, _ := paging.ReadVirtual(m.ram, &r, m.regs.RIP, code[:])
	inst, err := x86asm.Decode(code[:n], 64)
	if err != nil {
		return nil, fmt.Errorf("fake: cannot decode at %#x: %v", m.regs.RIP, err)
	}
	u := undo{regs: m.regs}
	next := m.regs.RIP + uint64(inst.Len)
	var access struct {
		addr  uint64
		write bool
		ok    bool
	}
	memAddr := func(a x86asm.Mem) uint64 {
		if a.Base == x86asm.RIP {
			return next + uint64(a.Disp)
		}
		return *m.reg(a.Base) + uint64(a.Disp)
	}
	switch inst.Op {
	case x86asm.MOV:
		switch dst := inst.Args[0].(type) {
		case x86asm.Reg:
			switch src := inst.Args[1].(type) {
			case x86asm.Imm:
				*m.reg(dst) = uint64(src)
			case x86asm.Reg:
				*m.reg(dst) = *m.reg(src)
			case x86asm.Mem:
				addr := memAddr(src)
				var b [8]byte
				if _, err := paging.ReadVirtual(m.ram, &r, addr, b[:]); err != nil {
					return nil, fmt.Errorf("fake: page fault reading %#x at rip %#x: %v", addr, m.regs.RIP, err)
				}
				*m.reg(dst) = binary.LittleEndian.Uint64(b[:])
				access.addr, access.ok = addr, true
			}
		case x86asm.Mem:
			addr := memAddr(dst)
			pa, err := m.physical(addr)
			if err != nil {
				return nil, fmt.Errorf("fake: page fault writing %#x at rip %#x: %v", addr, m.regs.RIP, err)
			}
			src, _ := inst.Args[1].(x86asm.Reg) // an immediate stores the scratch register
			if pa+8 > uint64(len(m.ram)) {
				return nil, fmt.Errorf("fake: store to %#x crosses the end of RAM", addr)
			}
			u.writes = append(u.writes, memWrite{pa, bytes8(m.ram[pa:])})
			binary.LittleEndian.PutUint64(m.ram[pa:], *m.reg(src))
			access.addr, access.write, access.ok = addr, true, true
		}
	case x86asm.INC:
		if r, ok := inst.Args[0].(x86asm.Reg); ok {
			*m.reg(r)++
		}
	case x86asm.JMP:
		if rel, ok := inst.Args[0].(x86asm.Rel); ok {
			next += uint64(int64(rel))
		}
	}
	m.regs.RIP = next
	m.executed++
	m.history = append(m.history, u)
	if access.ok {
		return m.watchHit(access.addr, access.write), nil
	}
	return nil, nil
}

func bytes8(b []byte) []byte { return append([]byte(nil), b[:8]...) }

// unexecute undoes the last instruction.
func (m *fakeMachine) unexecute() {
	u := m.history[len(m.history)-1]
	m.history = m.history[:len(m.history)-1]
	m.regs = u.regs
	m.executed--
	for i := len(u.writes) - 1; i >= 0; i-- {
		copy(m.ram[u.writes[i].addr:], u.writes[i].old)
	}
}

func (m *fakeMachine) watchHit(addr uint64, write bool) *StopEvent {
	for _, w := range m.watches {
		if addr+8 <= w.addr || addr >= w.addr+w.size {
			continue
		}
		if w.kind == WatchAccess || (w.kind == WatchWrite) == write {
			return &StopEvent{Reason: StopWatch, Watch: w.kind, Addr: max(addr, w.addr)}
		}
	}
	return nil
}

func (m *fakeMachine) reg(r x86asm.Reg) *uint64 {
	switch r {
	case x86asm.RAX:
		return &m.regs.RAX
	case x86asm.RCX:
		return &m.regs.RCX
	case x86asm.RDX:
		return &m.regs.RDX
	case x86asm.RBX:
		return &m.regs.RBX
	case x86asm.RSP:
		return &m.regs.RSP
	case x86asm.RBP:
		return &m.regs.RBP
	case x86asm.RSI:
		return &m.regs.RSI
	case x86asm.RDI:
		return &m.regs.RDI
	}
	// Other registers (and none, for a memory operand without a base)
	// are not simulated: they read and write a scratch value. Only
	// programs that tests write into guest memory get here.
	return &m.scratch
}

// state returns a copy of what tests inspect, under the lock.
func (m *fakeMachine) state() (regs Registers, executed uint64, attaches, detaches int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regs, m.executed, m.attaches, m.detaches
}
