package hv

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"hindsight/boot"
	"hindsight/boot/msr"
	"hindsight/ept"
	"hindsight/guest/image"
	"hindsight/hv/dev"
	"hindsight/hv/paging"
	"hindsight/hv/pmu"
	"hindsight/vmx"
)

// State is where a vCPU is in its life (see the package doc).
type State uint32

const (
	Created State = iota
	Running
	Stopped
	Failed
	Paused // a backup stopped by its debugger (debug.go); it runs on when resumed
)

func (s State) String() string {
	return [...]string{"created", "running", "stopped", "failed", "paused"}[s]
}

// Config describes one VM.
type Config struct {
	Name      string           // console tag: "primary", "backup", ...
	CPU       int              // the CPU its vCPU loop is pinned to
	RAM       boot.GuestRegion // host-physical memory for guest-physical [0, Size)
	Guest     image.Spec       // the guest kernel, its command line and modules or initrd
	RTCBase   int64            // the CMOS clock at device time 0, Unix seconds
	Mute      bool             // count and hash the guest's output instead of printing it
	TimeExits bool             // time CPUID, port 0x80 and RDTSC exits (ExitCost)
	Account   bool             // split the vCPU's time into guest, hypervisor and waiting (Cost)
	Inputs    Inputs           // where its inputs come from; nil: the outside world, no console (NewLive)
	Trace     [2]uint64        // log every exit whose landmark lies in [Trace[0], Trace[1]): landmark, reason, RIP (trace=exits:FROM-TO)
	Clock     ClockKind        // what its landmarks count
	PanicEnds bool             // its guest ends (EndPanic) at the OUT that completes a console line "Kernel panic - not syncing"
	Mark      string           // note when a line of the guest's output first contains this (Stats.Marked)

	// Restore, if set, fills guest RAM instead of the loader (an offline
	// replay: the RAM of a capture's snapshot).
	Restore func(ram []byte) error

	// Corrupt, if set, edits the guest state before the first entry: tests
	// use it to check the reporting of invalid guest state.
	Corrupt func(*vmx.GuestState)
}

// Exit status of the guest-exit port; see exitPort.
const exitPort = 0x501

// VM is one guest with one vCPU. Its fields belong to the vCPU loop's
// goroutine; other goroutines read Progress, and Stats once Run returned.
type VM struct {
	cfg      Config
	m        *Machine
	ram      []byte
	guestMem paging.Memory // ram, for walks of the guest's page tables
	ept      *ept.Tables
	eptp     uint64
	vmcs     uint64
	regs     vmx.GuestRegs
	fx       [2][512 + 16]byte // guest and host FXSAVE areas (16-byte aligned inside)
	pc       dev.PC
	out      lineWriter
	launched bool
	started  uint64 // ThreadTSC when Run began

	entry image.Entry // the guest's state at entry (guest.go)
	msrs  msrLists    // the MSRs swapped at entry and exit (msr.go)
	in    Inputs      // where non-deterministic inputs come from (inputs.go)
	clock counter     // what Count counts (clock.go)
	exact bool        // clock.exact(), asked once: every exit needs it
	mem   memDigest

	// The landmark: synchronous exits so far, and the guest's progress
	// since the last one on the clock's counter.
	seq, count uint64
	irqWindow  bool // interrupt-window exiting is on
	// devicesChanged counts the changes of time-dependent device state
	// (advances, accesses to timed ports): the inputs recompute the next
	// device interrupt only after one.
	devicesChanged uint64
	// While inputsQuiet and seq is below pollSeq the inputs have nothing
	// to do at a synchronous landmark, so the landmarks skip their poll:
	// live inputs while no device will interrupt and no console input
	// comes (a recorder then polls only where its next progress record or
	// digest falls due), a backup until the landmark of its next record.
	// A change of the devices (devicesMoved) ends the quiet.
	inputsQuiet bool
	pollSeq     uint64
	clockArmed  bool // the clock's stepper armed a breakpoint, step or counter overflow for this entry
	rearm       bool // the preemption timer ran out or was never loaded
	injected    bool // an exception is being injected at this entry

	// Where the clock counts (clock.exact): the guest's progress from its
	// start to landmark seq, and from landmark seq-1 to the synchronous
	// exit that made landmark seq (the instructions before the one that
	// exited). lastSync says whether the last exit was synchronous.
	total, before uint64
	lastSync      bool

	tf    tfStep     // the single step armed for this entry, if any (tfstep.go)
	dbg   *debugger  // a backup's debugger (debug.go); nil for other VMs
	snaps *snapStore // a backup's snapshots (snapshot.go), or nil
	// A backup's, at each entry before the hypervisor arms anything: the
	// guest's own DR7 and RFLAGS.TF; and at the exit, the guest's own
	// debug conditions the hypervisor's interception caught, to reflect.
	guestDR7     uint64
	guestTF      bool
	reflectDB    uint64
	reflectICEBP bool

	end endInfo // why the VM left Running (exit.go)

	// startState, if set, is loaded before the first entry (an offline
	// replay starts at a capture's snapshot).
	startState *vcpuState

	stopRequest atomic.Bool // Stop was called
	published   struct {
		seq   atomic.Uint64
		state atomic.Uint32
	}

	cpuidClock, outClock, rdtscClock exitClock // exit timing (exitbench.go), with Config.TimeExits
	msrSeen                          [32]uint32
	msrLogged                        uint32
	stats                            Stats

	// Loaded says what the loader put where, for the console.
	Loaded image.Report
}

// Stats counts what a VM did. Valid once Run returned.
type Stats struct {
	Exits     uint64 // VM exits handled
	ExitsBy   [80]uint64
	Landmarks uint64 // synchronous exits (set when Run returns)
	Stops     uint64 // asynchronous stops where inputs were taken
	MSRFaults uint64 // RDMSR/WRMSR answered with #GP
	IRQs      uint64 // interrupts injected
	Clock     uint64 // device-time advances applied
	SerialIn  uint64 // bytes received
	Waits     uint64 // polls while halted (primary) or waiting for the log (backup)
	Records   uint64 // records logged (primary) or replayed (backup)
	Digests   uint64 // digests logged (primary) or matched (backup)
	// The RAM digests' work: guest pages rehashed, TSC ticks spent.
	PagesHashed, DigestTicks uint64
	// Device interrupts that fell due (a primary's, or a VM's alone), and
	// how late the hypervisor noticed them in all and at most, in device
	// time (PIT ticks).
	Due, Late, LateMax uint64
	Steps              uint64 // exits the clock's breakpoints and single steps made (a backup's, reaching stops)
	// Where the guest's output first contained Config.Mark (0: never):
	// the landmark, and the guest's TSC ticks so far (with Account).
	MarkedAt, MarkedGuest uint64
	Stalls                uint64 // Primary: records that found the log full and waited
	Dropped               uint64 // Primary: records dropped after the backup stopped
	Cost                  Cost   // where the vCPU's time went, in TSC ticks
}

// Cost splits a vCPU's run in TSC ticks (in Bochs: instructions) of the
// vCPU thread's own time (boot.ThreadTSC): other host threads that ran on
// its CPU meanwhile are not counted. Total is from the first entry to the
// end; Hypervisor is spent between VM exit and the next entry, Waiting the
// part of that spent waiting for the outside world (the primary's HLT) or
// for the log (the backup's lag; sleeping there is not on the CPU at all).
// Guest time is Total - Hypervisor, less the VM transitions themselves.
type Cost struct {
	Total, Hypervisor, Waiting uint64
}

// Active is the time the vCPU worked: the guest and the hypervisor, not
// waiting.
func (c Cost) Active() uint64 { return c.Total - c.Waiting }

// Progress is what other goroutines may read of a running VM.
type Progress struct {
	Seq   uint64 // landmark: synchronous exits so far
	State State
}

// Progress returns the VM's landmark and state; safe from any goroutine.
func (v *VM) Progress() Progress {
	return Progress{Seq: v.published.seq.Load(), State: State(v.published.state.Load())}
}

// Stats returns the VM's counters. Call it once Run has returned.
func (v *VM) Stats() *Stats { return &v.stats }

// End returns how the VM ended. Call it once Run has returned.
func (v *VM) End() EndReport { return v.end.report }

// OutputHash returns the hash of everything the guest wrote to its COM1.
// Call it once Run has returned.
func (v *VM) OutputHash() (hash, bytes uint64) { return v.out.hash, v.out.bytes }

// Name returns the VM's tag.
func (v *VM) Name() string { return v.cfg.Name }

// Stop asks the VM to end at its next exit ("stopped by the host"); safe
// from any goroutine.
func (v *VM) Stop() { v.stopRequest.Store(true) }

func (v *VM) setState(s State) { v.published.state.Store(uint32(s)) }

func (v *VM) state() State { return State(v.published.state.Load()) }

// NewVM maps the VM's RAM through EPT and loads its image.
func (m *Machine) NewVM(cfg Config) (*VM, error) {
	if cfg.RAM.Size == 0 {
		return nil, errors.New("hv: no guest RAM (boot with guestmem=SIZE)")
	}
	if cfg.Inputs == nil {
		cfg.Inputs = NewLive(false)
	}
	ram := physBytes(cfg.RAM.Base, cfg.RAM.Size)
	v := &VM{cfg: cfg, m: m, ram: ram, guestMem: paging.RAM(ram), in: cfg.Inputs,
		clock: newCounter(cfg.Clock, m.Caps.Misc.PreemptionTimerRate)}
	var err error
	// 4 KiB pages where EPT has accessed and dirty flags: the memory
	// digest rehashes only the pages written since the last one.
	caps, dirty := m.EPT, m.EPT.AccessedDirty
	if dirty {
		caps.Pages2M, caps.Pages1G = false, false
	}
	layout := ept.Layout{Size: cfg.RAM.Size, HostBase: cfg.RAM.Base, Perm: ept.RWX, MemType: ept.WB}
	if v.ept, err = ept.Build(eptAlloc{}, caps, layout); err != nil {
		return nil, fmt.Errorf("hv: %s: EPT: %w", cfg.Name, err)
	}
	p, err := v.ept.EPTP(ept.WB, dirty)
	if err != nil {
		return nil, err
	}
	v.eptp = uint64(p)
	if cfg.Restore != nil {
		if err := cfg.Restore(v.ram); err != nil {
			return nil, fmt.Errorf("hv: %s: %w", cfg.Name, err)
		}
		v.entry.Mode = image.Long64 // the snapshot's state replaces the loader's
	} else if v.entry, v.Loaded, err = image.Load(v.ram, cfg.Guest); err != nil {
		return nil, err
	}
	if err := v.mem.init(v.ram, v.ept, dirty); err != nil {
		return nil, fmt.Errorf("hv: %s: %w", cfg.Name, err)
	}
	if v.vmcs, err = m.newRegion(); err != nil {
		return nil, err
	}
	v.out.init(cfg.Name)
	v.out.mute, v.out.mark = cfg.Mute, cfg.Mark
	v.rearm = true
	v.pc.Init(cfg.RTCBase)
	v.regs.GuestFX = align16(&v.fx[0])
	v.regs.HostFX = align16(&v.fx[1])
	initFX(v.regs.GuestFX)
	v.regs.RAX, v.regs.RBX, v.regs.RSI, v.regs.RDI = v.entry.RAX, v.entry.RBX, v.entry.RSI, v.entry.RDI
	if v.clock.aligned() {
		v.regs.Slices = 1
	}
	v.exact = v.clock.exact()
	return v, nil
}

func align16(a *[512 + 16]byte) uintptr { return (uintptr(unsafe.Pointer(a)) + 15) &^ 15 }

// initFX gives the guest the FPU state after FNINIT with MXCSR at its reset
// value (FCW 0x37F, MXCSR 0x1F80; SDM Vol. 1 §10.5.1, Table 10-2).
func initFX(p uintptr) {
	fx := (*[512]byte)(unsafe.Pointer(p))
	fx[0], fx[1] = 0x7F, 0x03   // FCW
	fx[24], fx[25] = 0x80, 0x1F // MXCSR
	fx[28], fx[29] = 0xFF, 0xFF // MXCSR_MASK (informational)
}

// Run pins the calling goroutine to the VM's CPU and runs the vCPU loop
// until the VM ends. Every way out reaches the VM's inputs (Inputs.finish),
// so a primary's end always reaches its backup.
func (v *VM) Run() {
	v.setState(Running)
	start := boot.ThreadTSC()
	v.started = start
	if err := v.prepare(); err != nil {
		v.fail(err)
	} else if err := v.restoreStart(); err != nil {
		v.fail(err)
	} else {
		v.loop()
	}
	v.stats.Cost.Total = boot.ThreadTSC() - start
	v.stats.Landmarks = v.seq
	v.out.flush()
	v.in.finish(v)
	v.report()
	if v.dbg != nil {
		v.dbg.atEnd(v)
	}
	v.setState(v.end.state)
}

// prepare pins the thread and makes the VMCS current and complete.
func (v *VM) prepare() error {
	if err := boot.Pin(v.cfg.CPU); err != nil {
		return fmt.Errorf("pinning to CPU%d: %w", v.cfg.CPU, err)
	}
	if err := v.m.enableVMX(); err != nil {
		return err
	}
	if err := v.setupVMCS(); err != nil {
		return fmt.Errorf("setting up the VMCS: %w", err)
	}
	return nil
}

// loop is the vCPU state machine's Running state: enter, handle the exit,
// until a handler ends the VM.
//
// A backup's debugger (debug.go) may stop the loop at the top of an
// iteration, where the exit is handled and nothing is armed yet; what it
// and the clock arm for an entry is given back right after the exit
// (exitTraps).
func (v *VM) loop() {
	for v.end.cause == 0 {
		// hooked: the debugger has something to arm or watch at this
		// entry (a frontend, a stop asked for, a step or target); while
		// it has none the backup runs as fast as a VM without one.
		hooked := false
		if s := v.snaps; s != nil && s.due(v) {
			s.take(v)
		}
		if d := v.dbg; d != nil {
			if d.attention.Load() {
				d.boundary(v)
			}
			hooked = d.attention.Load() || d.stepping
			if d.rep.rd.Held() == nil {
				d.rep.await(v, true) // the next record, for the coming entry's budget
			}
			// The guest's own DR7 and TF, before the clock or the
			// debugger arms anything for this entry (exitTraps; the
			// clock's stepper takes DR7 itself when it arms).
			if hooked {
				v.guestDR7, _ = vmx.VMREAD(vmx.GuestDR7)
				rflags, _ := vmx.VMREAD(vmx.GuestRFLAGS)
				v.guestTF = rflags&pmu.RFLAGSTF != 0
			}
		}
		if v.rearm || v.exact {
			v.arm()
		}
		if hooked {
			v.dbg.armEntry(v)
		}
		if st := vmx.Enter(&v.regs, v.launched); st != vmx.Succeed {
			v.lastSync = false
			v.endVM(causeEntryInsn, uint64(st), 0)
			break
		}
		v.launched = true
		v.stats.Exits++
		if v.dbg != nil || v.tf.armed {
			if basic := vmx.ExitReason(v.regs.ExitReason).Basic(); hooked || v.tf.armed || basic == vmx.ReasonExceptionOrNMI {
				v.exitTraps()
			} else {
				v.forgetTraps()
				if v.clockArmed && synchronous(basic) {
					v.clock.release(v) // a synchronous exit ended the run before the clock's stop
				}
			}
		}
		if v.cfg.Account {
			t := boot.ThreadTSC()
			v.handleExit()
			v.stats.Cost.Hypervisor += boot.ThreadTSC() - t
		} else {
			v.handleExit()
		}
		if v.seq >= v.cfg.Trace[0] && v.seq < v.cfg.Trace[1] {
			v.traceExit()
		}
	}
}

// arm loads the VMX-preemption timer for the next entry: the inputs say
// how long they may wait for the CPU (time) and where the guest must stop
// (a replayed asynchronous input); the clock turns that into a timer value.
//
// The exit clock needs the timer only to bound how long the guest keeps
// the CPU: it takes inputs at synchronous exits alone, so a timer set to
// a device deadline would, once the deadline passed, expire at every entry
// and never let the guest reach the exit that takes the interrupt. It
// runs for a quantum; the value saved at a synchronous exit goes on
// counting down at the next entry, so loop arms it again only after an
// asynchronous exit.
func (v *VM) arm() {
	ticks, stop := v.m.quantum, noStop
	if v.exact {
		t, s := v.in.budget(v)
		ticks, stop = min(t, ticks), s
		if d := v.dbg; d != nil {
			stop = d.limit(v, stop) // the debugger's target, if nearer
		}
	}
	vmx.VMWRITE(vmx.PreemptionTimerValue, uint64(v.clock.arm(v, ticks, v.count, stop)))
	v.rearm = false
}

// setupVMCS makes the VM's VMCS current and fills its control, host and
// guest areas (SDM Vol. 3C §25).
func (v *VM) setupVMCS() error {
	if err := vmx.StatusError(vmx.VMCLEAR(v.vmcs)); err != nil {
		return fmt.Errorf("VMCLEAR: %w", err)
	}
	if err := vmx.StatusError(vmx.VMPTRLD(v.vmcs)); err != nil {
		return fmt.Errorf("VMPTRLD: %w", err)
	}
	vmcs := vmx.CurrentVMCS{}
	ctl := v.m.ctl
	ctl.EPTP = v.eptp
	if v.entry.Mode != image.Long64 {
		ctl.Entry &^= vmx.EntryIA32eModeGuest
	}
	ctl.CR0Mask, ctl.CR4Mask = crMasks(&v.m.Caps)
	ctl.CR0Shadow, ctl.CR4Shadow = v.entry.CR0, v.entry.CR4
	if err := v.msrs.init(); err != nil {
		return err
	}
	ctl.EntryMSRLoadAddr, ctl.ExitMSRStoreAddr, ctl.ExitMSRLoadAddr = v.msrs.pa[0], v.msrs.pa[0], v.msrs.pa[1]
	ctl.EntryMSRLoadCount, ctl.ExitMSRStoreCount, ctl.ExitMSRLoadCount = uint32(len(swapped)), uint32(len(swapped)), uint32(len(swapped))
	if err := ctl.Write(vmcs); err != nil {
		return fmt.Errorf("controls: %w", err)
	}
	h := boot.CurrentHostRegs()
	host := vmx.HostState{
		CR0: h.CR0, CR3: h.CR3, CR4: h.CR4,
		RIP: vmx.ExitStub(), // RSP: per entry (vmx.Enter)
		CS:  h.CS, SS: h.SS, TR: h.TR,
		FSBase: h.FSBase, GSBase: h.GSBase, TRBase: h.TRBase,
		GDTRBase: h.GDTRBase, IDTRBase: h.IDTRBase,
		IA32EFER: h.EFER,
		IA32PAT:  msr.Read(msr.IA32_PAT),
	}
	if err := host.Write(vmcs); err != nil {
		return fmt.Errorf("host state: %w", err)
	}
	g := guestState(&v.entry, &v.m.Caps)
	if v.cfg.Corrupt != nil {
		v.cfg.Corrupt(&g)
	}
	if err := g.Write(vmcs); err != nil {
		return fmt.Errorf("guest state: %w", err)
	}
	return nil
}
