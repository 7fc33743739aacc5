package hv

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"hindsight/boot"
	"hindsight/boot/msr"
	"hindsight/ept"
	"hindsight/hv/dev"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// State is where a vCPU is in its life (see the package doc).
type State uint8

const (
	Created State = iota
	Running
	Halted
	Stopped
	Failed
)

func (s State) String() string {
	return [...]string{"created", "running", "halted", "stopped", "failed"}[s]
}

// Config describes one VM.
type Config struct {
	Name      string           // console tag: "primary", "backup", ...
	CPU       int              // the CPU its vCPU loop is pinned to
	RAM       boot.GuestRegion // host-physical memory for guest-physical [0, Size)
	Image     []byte           // loaded at LoadAddr, entered in 64-bit mode
	RDI       uint64           // entry registers (the image's parameters)
	RSI       uint64
	Mute      bool // count and hash the guest's output instead of printing it
	TimeExits bool // time CPUID and port 0x80 exits (ExitCost)
	Account   bool // split the vCPU's time into guest, hypervisor and waiting (Cost)

	// Log and replay (events.go, log.go).
	Role          Role
	Log           *Log        // Primary and Backup: the shared log
	Peer          *VM         // Backup: its primary (to see when it has ended)
	Input         bool        // the host console's input goes to this VM's COM1
	VerifyEvery   uint64      // Primary: log state digests every so many landmarks
	RealRTC       bool        // the CMOS clock shows the host's time, not a fixed one (a primary logs its reads)
	CorruptRecord uint64      // test hook: the n-th record logged carries a wrong value...
	CorruptKind   replay.Kind // ...counting only records of this kind, if set

	// Corrupt, if set, edits the guest state before the first entry: tests
	// use it to check the reporting of invalid guest state.
	Corrupt func(*vmx.GuestState)
}

// Exit status of the guest-exit port; see exitPort.
const exitPort = 0x501

// VM is one guest with one vCPU.
type VM struct {
	cfg      Config
	m        *Machine
	state    State
	ram      []byte
	ept      *ept.Tables
	eptp     uint64
	vmcs     uint64
	regs     vmx.GuestRegs
	fx       [2][512 + 16]byte // guest and host FXSAVE areas (16-byte aligned inside)
	pc       dev.PC
	out      lineWriter
	launched bool

	cpuidClock, outClock exitClock // exit timing (exitbench.go), with Config.TimeExits

	// The exit clock and the log.
	tsc0, tscHz         uint64 // time base (shared by a primary and its backup)
	seq                 uint64 // landmark: synchronous exits so far
	tickDeadline        uint64 // TSC of the PIT's next interrupt (pollEvents)
	nextPoll            uint64
	inByte              byte
	inPending           bool
	injected, irqWindow bool
	staged              [stageRecords]replay.Record // Primary: records held back until the injection (flushLog)
	nstaged             int
	recBuf              [replay.RecordSize]byte
	rec                 replay.Record // Backup: the head record
	hookCount           uint64        // records the CorruptRecord hook has counted
	lastLogged          uint64
	haveHead            bool
	badRecord           [replay.RecordSize]byte
	input               replay.Record // Backup: the last input record of this landmark
	checkInjection      bool          // and whether there is one
	interruptMismatch   bool          // the divergence is in the interrupts requested or delivered
	mine                [3]uint64     // the backup's digests or interrupts at a mismatch
	expected            replay.Kind
	expectedPort        uint16

	cause cause     // why the VM left Running (exit.go)
	info  [2]uint64 // the values that explain it

	// Result, valid once Run returned.
	ExitStatus uint32 // written by the guest to exitPort
	Reason     string // why the VM stopped or failed, with the guest state where it helps
	Exits      uint64 // VM exits handled
	ExitsBy    [80]uint64
	MSRFaults  uint64 // RDMSR/WRMSR answered with #GP
	LastMSR    uint32
	msrSeen    [32]uint32 // MSR numbers already logged
	msrLogged  uint32

	IRQs, SerialIn, Injected uint64 // inputs applied, interrupts injected
	Waits                    uint64 // polls while halted (primary) or waiting for the log (backup)
	Stalls                   uint64 // Primary: records that found the log full and waited
	Replayed, Verified       uint64 // Backup: records consumed; both: digests logged/matched

	Cost Cost // where the vCPU's time went, in TSC ticks

	CorruptedAt   uint64      // Primary, test hook: landmark of the record logged wrong
	CorruptedKind replay.Kind // and its kind
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

// Seq returns the VM's landmark (synchronous exits so far).
func (v *VM) Seq() uint64 { return atomic.LoadUint64(&v.seq) }

// OutputHash returns the hash of everything the guest wrote to its COM1.
func (v *VM) OutputHash() (hash, bytes uint64) { return v.out.hash, v.out.bytes }

// NewVM maps the VM's RAM through EPT and loads its image.
func (m *Machine) NewVM(cfg Config) (*VM, error) {
	if cfg.RAM.Size == 0 {
		return nil, errors.New("hv: no guest RAM (boot with guestmem=SIZE)")
	}
	v := &VM{cfg: cfg, m: m, ram: physBytes(cfg.RAM.Base, cfg.RAM.Size)}
	var err error
	v.ept, err = ept.Build(eptAlloc{}, m.EPT, ept.Layout{Size: cfg.RAM.Size, HostBase: cfg.RAM.Base, Perm: ept.RWX, MemType: ept.WB})
	if err != nil {
		return nil, fmt.Errorf("hv: %s: EPT: %w", cfg.Name, err)
	}
	p, err := v.ept.EPTP(ept.WB, false)
	if err != nil {
		return nil, err
	}
	v.eptp = uint64(p)
	if err := loadImage(v.ram, cfg.Image); err != nil {
		return nil, err
	}
	if v.vmcs, err = m.newRegion(); err != nil {
		return nil, err
	}
	v.out.init(cfg.Name)
	v.out.mute = cfg.Mute
	v.pc.Init(v.out.putByte, v.logPort)
	v.regs.GuestFX = align16(&v.fx[0])
	v.regs.HostFX = align16(&v.fx[1])
	initFX(v.regs.GuestFX)
	v.regs.RDI, v.regs.RSI = cfg.RDI, cfg.RSI
	v.tsc0, v.tscHz = boot.TSC(), boot.ReadStats().TSCHz
	if cfg.Log != nil {
		v.tsc0 = cfg.Log.tsc0
	}
	if cfg.RealRTC {
		v.pc.RTC.SetTime(time.Now().Unix()) // a primary advances it from the TSC at each read (io)
	}
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

// logPort reports the first access to each port no device claims.
func (v *VM) logPort(port uint16, write bool, size int, value uint32) {
	var l logLine
	l.str("hv: ").str(v.cfg.Name)
	if write {
		l.str(": write to unmodelled port ")
	} else {
		l.str(": read from unmodelled port ")
	}
	l.hex(uint64(port)).str(" (size ").dec(uint64(size)).str(", value ").hex(uint64(value)).str(") at rip ").hex(v.rip())
	l.str(": ignored, reads give all ones (logged once per port)").write()
}

// State returns the vCPU's state.
func (v *VM) State() State { return v.state }

// Name returns the VM's tag.
func (v *VM) Name() string { return v.cfg.Name }

// Run pins the calling goroutine to the VM's CPU and runs the vCPU loop
// until the VM stops or fails.
func (v *VM) Run() {
	if err := boot.Pin(v.cfg.CPU); err != nil {
		v.fail("pinning to CPU%d: %v", v.cfg.CPU, err)
		return
	}
	if err := v.m.enableVMX(); err != nil {
		v.fail("%v", err)
		return
	}
	if err := v.setupVMCS(); err != nil {
		v.fail("setting up the VMCS: %v", err)
		return
	}
	v.state = Running
	start := boot.ThreadTSC()
	for v.state == Running {
		if st := vmx.Enter(&v.regs, v.launched); st != vmx.Succeed {
			v.end(causeEntryInsn, uint64(st), 0)
			break
		}
		v.launched = true
		v.Exits++
		if v.cfg.Account {
			t := boot.ThreadTSC()
			v.handleExit()
			v.Cost.Hypervisor += boot.ThreadTSC() - t
		} else {
			v.handleExit()
		}
	}
	v.Cost.Total = boot.ThreadTSC() - start
	v.out.flush()
	if v.cfg.Role == Primary {
		v.logRecord(kindEnd, 0, 0, uint64(v.ExitStatus)|uint64(v.cause)<<32, 0, 0)
		v.flushLog(replay.Unrecorded) // no injection follows
	}
	v.report()
}

// report turns the cause recorded in VM-exit context into Reason and prints
// it. The VMCS is still current on this CPU, so the guest state can be read.
func (v *VM) report() {
	if v.cause == causeExitPort {
		v.Reason = fmt.Sprintf("guest wrote exit status %d to port %#x", v.ExitStatus, exitPort)
		fmt.Printf("hv: %s: stopped: %s after %d exits\n", v.cfg.Name, v.Reason, v.Exits)
		return
	}
	vmcs := vmx.CurrentVMCS{}
	g, _ := vmx.ReadGuestState(vmcs)
	switch v.cause {
	case causeTripleFault:
		v.Reason = "triple fault (VM exit reason 2): the guest could not deliver an exception"
	case causeEPTViolation:
		v.Reason = fmt.Sprintf("%v", vmx.DecodeEPTViolation(v.info[1], v.info[0], 0)) + ": outside the guest's RAM"
	case causeUnhandledExit:
		v.Reason = fmt.Sprintf("unhandled VM exit: %v, qualification %#x", vmx.ExitReason(v.info[0]), v.info[1])
	case causeUnsupportedIO:
		v.Reason = fmt.Sprintf("unsupported port I/O (%v): string and REP I/O are not emulated", vmx.DecodeIO(v.info[0]))
	case causeEntryFailed:
		ctl, _ := vmx.ReadControls(vmcs)
		fs := vmx.CheckGuestState(&g, &ctl, &v.m.Caps)
		v.fail("VM entry failed: %v, qualification %#x\n%s", vmx.ExitReason(v.info[0]), v.info[1], describe(fs, &g))
		return
	case causeEntryInsn:
		v.entryFailed(vmx.Status(v.info[0]), &g)
		return
	case causePrimaryEnded:
		v.Reason = fmt.Sprintf("reached landmark #%d, where the primary's guest ended (%s)", v.seq, endCause(v.info[0]))
		fmt.Printf("hv: %s: stopped: %s; %d records replayed, %d digests matched\n", v.cfg.Name, v.Reason, v.Replayed, v.Verified)
		return
	case causeMalformed:
		var r replay.Record
		v.Reason = fmt.Sprintf("malformed log record after landmark #%d: %v", v.seq, replay.Decode(v.badRecord[:], &r))
	case causeDivergence:
		v.Reason = v.divergence()
	}
	v.Reason += " at rip " + fmt.Sprintf("%#x", g.RIP)
	fmt.Printf("hv: %s: stopped: %s\n%s", v.cfg.Name, v.Reason, g.Dump())
}

// stop ends the VM (the guest finished or did something the hypervisor
// does not support); the other VMs go on.
func (v *VM) stop(format string, args ...any) {
	v.state = Stopped
	v.Reason = fmt.Sprintf(format, args...)
}

func (v *VM) fail(format string, args ...any) {
	v.state = Failed
	v.Reason = fmt.Sprintf(format, args...)
	fmt.Printf("hv: %s: FAILED: %s\n", v.cfg.Name, v.Reason)
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
	// CR4.VMXE must stay set in VMX operation; the guest reads its own view.
	ctl.CR4Mask = cr4VMXE
	if err := ctl.Write(vmcs); err != nil {
		return fmt.Errorf("controls: %w", err)
	}
	h := boot.CurrentHostRegs()
	host := vmx.HostState{
		CR0: h.CR0, CR3: h.CR3, CR4: h.CR4,
		CS: h.CS, SS: h.SS, TR: h.TR,
		FSBase: h.FSBase, GSBase: h.GSBase, TRBase: h.TRBase,
		GDTRBase: h.GDTRBase, IDTRBase: h.IDTRBase,
		IA32EFER: h.EFER,
		IA32PAT:  msr.Read(msr.IA32_PAT),
	}
	if err := host.Write(vmcs); err != nil {
		return fmt.Errorf("host state: %w", err)
	}
	g := entryState(&v.m.Caps)
	g.PreemptionTimer = v.m.quantum
	if v.cfg.Corrupt != nil {
		v.cfg.Corrupt(&g)
	}
	if err := g.Write(vmcs); err != nil {
		return fmt.Errorf("guest state: %w", err)
	}
	return nil
}

// entryFailed reports a VMLAUNCH/VMRESUME that failed as an instruction:
// the VM-instruction error by number and name, the checks of the SDM that
// the current settings break, and the guest state.
func (v *VM) entryFailed(st vmx.Status, g *vmx.GuestState) {
	ctl, _ := vmx.ReadControls(vmx.CurrentVMCS{})
	host, _ := vmx.ReadHostState(vmx.CurrentVMCS{})
	fs := append(vmx.CheckControls(&ctl, g, &v.m.Caps), vmx.CheckHostState(&host, &ctl, &v.m.Caps)...)
	fs = append(fs, vmx.CheckGuestState(g, &ctl, &v.m.Caps)...)
	v.fail("VM entry failed: %v\n%s", vmx.StatusError(st), describe(fs, g))
}

// divergence describes where the backup left the primary's path: both
// sides' landmark and RIP, and the record.
func (v *VM) divergence() string {
	r := &v.rec
	switch {
	case r.Kind == kindDigest && v.expected == kindDigest:
		return fmt.Sprintf("DIVERGENCE at landmark #%d rip %#x: state digests differ (registers: primary %#x backup %#x; "+
			"memory: primary %#x backup %#x; output: primary %#x backup %#x); last matching digest before it: %d matched",
			r.Seq, r.RIP, r.Value, v.mine[0], r.Value2, v.mine[1], r.Value3, v.mine[2], v.Verified)
	case v.interruptMismatch:
		return fmt.Sprintf("DIVERGENCE at landmark #%d rip %#x: interrupt delivery differs after the input %v: "+
			"the backup's PIC requests %s and the guest was given %s",
			v.seq, v.rip(), v.input, replay.AppendCode(nil, v.mine[0]), replay.AppendCode(nil, v.mine[1]))
	case r.Seq != v.seq || r.RIP != v.rip():
		return fmt.Sprintf("DIVERGENCE: backup at landmark #%d rip %#x, primary's next record is at landmark #%d rip %#x: %v",
			v.seq, v.rip(), r.Seq, r.RIP, r)
	}
	return fmt.Sprintf("DIVERGENCE at landmark #%d rip %#x: the backup needed a %v record, the log has %v", v.seq, v.rip(), v.expected, r)
}

// endCause decodes the status of a primary's end record.
func endCause(x uint64) string {
	switch cause(x >> 32) {
	case causeExitPort:
		return fmt.Sprintf("exit status %d", uint32(x))
	case causeTripleFault:
		return "triple fault"
	}
	return fmt.Sprintf("stopped, cause %d", x>>32)
}

// describe lists failed checks and dumps the guest state.
func describe(fs vmx.Failures, g *vmx.GuestState) string {
	var b strings.Builder
	if len(fs) == 0 {
		b.WriteString("  no check of SDM Vol. 3C §27.2-27.3 fails on the VMCS as read back\n")
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "  failed check: %s\n", f)
	}
	b.WriteString(g.Dump())
	return b.String()
}
