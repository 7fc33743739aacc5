package hv

import (
	"fmt"

	"hindsight/apic"
	"hindsight/boot"
	"hindsight/boot/msr"
	"hindsight/hv/pmu"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// The branch clock (clock.go): Count is the guest's retired branches
// since the landmark, counted by general-purpose counter 0 in guest mode
// only. IA32_PERFEVTSEL0 selects Branch Instructions Retired at every
// privilege level; IA32_PERF_GLOBAL_CTRL enables PMC0 while the guest
// runs and nothing while the host does, switched by the "load
// IA32_PERF_GLOBAL_CTRL" VM-entry and VM-exit controls (SDM Vol. 3C
// §25.7.1, §25.8.1). Every entry loads PMC0 (0, or the value that
// overflows a skid margin short of a stop), every asynchronous exit reads
// it: the difference, modulo the counter's width, is the guest's
// progress. A backup bound for a stop overflows there with a PMI, which
// the local APIC delivers as an NMI: an NMI exit ("NMI exiting"), which
// asyncExit passes to the host's NMI handler as it does every NMI. Then
// it runs under a debug-register breakpoint to the stop's RIP, and single
// steps through REP iterations (hv/pmu, step.go, has the phases and their
// reasons).
//
// hv/pmu makes every decision; this file applies them to the MSRs, the
// VMCS, the debug registers and the local APIC through pmuRegs (which the
// tests fake), and holds the boot self-test, probeBranches.
//
// What asyncExit must know (exit.go): a monitor-trap-flag exit is this
// clock's single step, an asynchronous stop like the preemption timer's,
// not a synchronous exit; an exception exit for which clockTrapped holds
// is its breakpoint or single step, a stop too. The PMI's NMI needs
// nothing: it is handed to the host's handler, which ignores an NMI
// outside a shutdown. It must be handed on, not told apart from the
// host's NMIs (by IA32_PERF_GLOBAL_STATUS) and dropped: NMIs that arrive
// together are delivered as one, and the host's stop broadcast would be
// lost.

// pmuRegs is the hardware the branch clock programs.
type pmuRegs interface {
	readMSR(r uint32) uint64
	writeMSR(r uint32, x uint64)
	vmread(f vmx.Field) uint64
	vmwrite(f vmx.Field, x uint64)
	debugReg(i int) uint64
	setDebugReg(i int, x uint64)
	setLVTPerf(x uint32) // the local APIC's LVT performance-counter entry
}

// hostPMU is this CPU's. Leaf routines only: safe in VM-exit context.
type hostPMU struct{}

func (hostPMU) readMSR(r uint32) uint64       { return msr.Read(r) }
func (hostPMU) writeMSR(r uint32, x uint64)   { msr.Write(r, x) }
func (hostPMU) vmread(f vmx.Field) uint64     { x, _ := vmx.VMREAD(f); return x }
func (hostPMU) vmwrite(f vmx.Field, x uint64) { vmx.VMWRITE(f, x) }
func (hostPMU) debugReg(i int) uint64         { return pmu.DebugReg(i) }
func (hostPMU) setDebugReg(i int, x uint64)   { pmu.SetDebugReg(i, x) }

// apicBaseAddr is IA32_APIC_BASE[51:12], the local APIC's physical
// address (SDM Vol. 3A §11.4.4); the boot layer maps it identically.
const apicBaseAddr = 0x000F_FFFF_FFFF_F000

func (hostPMU) setLVTPerf(x uint32) {
	base := msr.Read(apic.MSRIA32_APIC_BASE)
	apic.LAPIC{Base: uintptr(base & apicBaseAddr), X2: base&apic.APICBaseEXTD != 0}.Write(pmu.RegLVTPerf, x)
}

// branchStep is how single steps work on this machine, as the clock
// self-test found (Pair.chooseClock sets it before any VM is made;
// newCounter copies it into each branch counter).
var branchStep = pmu.SingleTrap

// branchCounter is the branch clock of one VM.
type branchCounter struct {
	stepper
	rate   uint8 // the preemption timer's (IA32_VMX_MISC[4:0])
	ctr    pmu.Counter
	single pmu.Single
	ready  bool // the VMCS switches IA32_PERF_GLOBAL_CTRL

	load uint64 // PMC0 at this entry
}

// newBranchCounter returns a branch counter for a VM on this machine;
// the self-test has checked CPUID leaf 0xA, which gives the width.
func newBranchCounter(rate uint8) *branchCounter {
	eax, ebx, _, _ := boot.CPUID(0xA, 0)
	return &branchCounter{stepper: stepper{regs: hostPMU{}}, rate: rate, ctr: pmu.Counter{Width: pmu.DecodeArch(eax, ebx).Width}, single: branchStep}
}

// setup makes the VM's VMCS switch IA32_PERF_GLOBAL_CTRL (guest: PMC0,
// host: nothing), and the stepper's breakpoints possible. Once per VM, on
// its CPU, before the first entry.
func (c *branchCounter) setup() {
	// The host counts nothing from now on: the power-on value of
	// IA32_PERF_GLOBAL_CTRL enables every counter.
	c.regs.writeMSR(pmu.IA32_PERF_GLOBAL_CTRL, 0)
	c.regs.vmwrite(vmx.GuestIA32PerfGlobalCtrl, pmu.GlobalPMC0)
	c.regs.vmwrite(vmx.HostIA32PerfGlobalCtrl, 0)
	c.regs.vmwrite(vmx.EntryControls, c.regs.vmread(vmx.EntryControls)|vmx.EntryLoadPerfGlobalCtrl)
	c.regs.vmwrite(vmx.ExitControls, c.regs.vmread(vmx.ExitControls)|vmx.ExitLoadPerfGlobalCtrl)
	c.stepper.setup()
	c.ready = true
}

func (c *branchCounter) arm(v *VM, ticks, progress, stop uint64) uint32 {
	rip, ok := uint64(0), false
	if pmu.Near(progress, stop) {
		rip, ok = stopRIP(v)
	}
	return c.armAt(v, ticks, progress, stop, rip, ok)
}

// stopRIP returns the RIP of the stop a backup is bound for: the next
// record of its log, whose count budget has just returned (the reader
// holds it, so Head returns it at once). Only a replayer has stops.
func stopRIP(v *VM) (uint64, bool) {
	if v.dbg != nil {
		if rip, ok, mine := v.dbg.stopRIP(v); mine {
			return rip, ok
		}
	}
	p, ok := v.in.(*replayer)
	if !ok {
		return 0, false
	}
	h, st, _ := p.rd.Head(p.now())
	if st != replay.Ready {
		return 0, false
	}
	return h.RIP, true
}

// armAt arms the next entry for a stop at (stop, stopRIP).
func (c *branchCounter) armAt(v *VM, ticks, progress, stop, stopRIP uint64, haveRIP bool) uint32 {
	if !c.ready {
		c.setup()
	}
	c.disarm(v, 0) // still armed if a synchronous exit ended the run
	e := pmu.Entry{Progress: progress, Stop: stop, StopRIP: stopRIP, HaveRIP: haveRIP, Single: c.single, Slot: -1}
	if pmu.Near(progress, stop) {
		e.RIP = c.regs.vmread(vmx.GuestRIP)
		e.Slot = pmu.FreeSlot(c.regs.vmread(vmx.GuestDR7))
		e.Inject = c.regs.vmread(vmx.EntryInterruptionInfo)&vmx.IntInfoValid != 0
		e.GuestTF = c.regs.vmread(vmx.GuestRFLAGS)&pmu.RFLAGSTF != 0
	}
	c.apply(v, pmu.PlanEntry(e))
	return uint32(min(ticks>>c.rate, 0xFFFFFFFF))
}

// apply programs the counter, and the breakpoint or single step, for one
// entry.
func (c *branchCounter) apply(v *VM, p pmu.Plan) {
	sel := uint64(pmu.BranchesRetired)
	c.load = 0
	if p.PMI != 0 {
		sel |= pmu.EvtSelINT
		c.load = c.ctr.Load(p.PMI)
		// A stale overflow bit from an earlier PMI is cleared, and the
		// LVT entry the APIC masked when it delivered that PMI unmasked.
		c.regs.writeMSR(pmu.IA32_PERF_GLOBAL_OVF_CTRL, pmu.GlobalPMC0)
		c.regs.setLVTPerf(pmu.LVTPerfNMI)
	}
	c.regs.writeMSR(pmu.IA32_PERFEVTSEL0, sel)
	c.regs.writeMSR(pmu.IA32_PMC0, c.load) // bits 31:0 sign-extended: pmu.Counter.Writable
	c.stepper.apply(v, p)
}

func (c *branchCounter) elapsed(v *VM) uint64 {
	d := c.ctr.Delta(c.load, c.regs.readMSR(pmu.IA32_PMC0))
	c.checkTrap(v)
	c.disarm(v, d)
	return d
}

func (c *branchCounter) sinceEntry(v *VM) (uint64, bool) {
	return c.ctr.Delta(c.load, c.regs.readMSR(pmu.IA32_PMC0)), true
}

func (c *branchCounter) exact() bool    { return true }
func (c *branchCounter) aligned() bool  { return false }
func (c *branchCounter) stepwise() bool { return true }

// The self-test.

// probeTicks bounds each probe run in TSC ticks (tens of milliseconds on
// hardware).
const probeTicks = 100_000_000

// probeBranches checks every assumption of the branch clock on this CPU
// and says which one fails: CPUID leaf 0xA, the VMX controls, that PMC0
// counts the probe guest's branches exactly, that its PMI comes within
// the skid margin, and that breakpoints and single steps stop exactly.
// Nothing touches a performance-monitoring MSR before CPUID said it
// exists. p gets the stepping method, the skid and the stepping result.
func (v *VM) probeBranches(m *Machine, p *ClockProbe) error {
	a, err := pmu.ReadArch(boot.CPUID)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		allowed vmx.Allowed
		bit     uint32
		name    string
	}{
		{m.Caps.Entry, vmx.EntryLoadPerfGlobalCtrl, `VM-entry control "load IA32_PERF_GLOBAL_CTRL"`},
		{m.Caps.Exit, vmx.ExitLoadPerfGlobalCtrl, `VM-exit control "load IA32_PERF_GLOBAL_CTRL"`},
		{m.Caps.Entry, vmx.EntryLoadDebugControls, `VM-entry control "load debug controls"`},
		{m.Caps.Exit, vmx.ExitSaveDebugControls, `VM-exit control "save debug controls"`},
	} {
		if !c.allowed.MayBeOne(c.bit) {
			return fmt.Errorf("no %s", c.name)
		}
	}
	p.Single = pmu.SingleTrap
	if p.MTF {
		p.Single = pmu.SingleMTF
	}
	c := &branchCounter{stepper: stepper{regs: hostPMU{}}, rate: m.Caps.Misc.PreemptionTimerRate, ctr: pmu.Counter{Width: a.Width}, single: p.Single}
	countErr := v.probeCounting(c, a, p)
	if countErr != nil {
		// Stepping is checked all the same, by RIP and RCX alone: a
		// counter of width 0 reads 0 whatever PMC0 holds.
		c.ctr = pmu.Counter{}
	}
	p.Stepping = v.probeStepping(c, countErr == nil)
	if countErr != nil {
		return countErr
	}
	if p.Stepping != nil {
		return fmt.Errorf("stepping by breakpoints and %v: %w", p.Single, p.Stepping)
	}
	return v.probePMI(c, p)
}

// probeAt puts the probe guest at rip with RCX = rcx.
func (v *VM) probeAt(rip, rcx uint64) {
	v.regs.RCX, v.regs.RDI, v.regs.Slices = rcx, probeBuf, 0
	vmx.VMWRITE(vmx.GuestRIP, rip)
}

// probeEnter resumes the probe guest where it is. An NMI exit is passed
// to the host as asyncExit does.
func (v *VM) probeEnter(timer uint32) (vmx.BasicExitReason, error) {
	vmx.VMWRITE(vmx.PreemptionTimerValue, uint64(timer))
	if st := vmx.Enter(&v.regs, v.launched); st != vmx.Succeed {
		return 0, fmt.Errorf("VM entry failed: %v", vmx.StatusError(st))
	}
	v.launched = true
	v.tf.exit(v, 0x400) // a TF step is given back right after the exit, as the vCPU loop does
	r := vmx.ExitReason(v.regs.ExitReason)
	if r.EntryFailed() {
		return 0, fmt.Errorf("VM entry failed: %v", r)
	}
	if r.Basic() == vmx.ReasonExceptionOrNMI {
		if info, _ := vmx.VMREAD(vmx.VMExitInterruptionInfo); vmx.EventType(info>>vmx.IntInfoTypeShift&7) == vmx.EventNMI {
			boot.DeliverNMI()
			intr, _ := vmx.VMREAD(vmx.GuestInterruptibility)
			vmx.VMWRITE(vmx.GuestInterruptibility, intr&^uint64(vmx.BlockingByNMI))
		}
	}
	return r.Basic(), nil
}

// probeCounting runs the loop (one JMP per iteration) with the counter
// free-running: it must count every branch, no more.
func (v *VM) probeCounting(c *branchCounter, a pmu.Arch, p *ClockProbe) error {
	for _, timer := range []uint64{1000, 100_000, 5_000_000} {
		v.probeAt(probeLoop, 0)
		r, err := v.probeEnter(c.armAt(v, timer<<c.rate, 0, noStop, 0, false))
		if err != nil {
			return err
		}
		pmc := c.regs.readMSR(pmu.IA32_PMC0)
		got := c.elapsed(v)
		ran := v.regs.RCX // JMPs: one per ADD, less the one ahead at probeJmp
		if v.regs.ExitRIP == probeJmp {
			ran--
		}
		p.BranchRuns++
		if got == 0 && ran > 0 {
			return fmt.Errorf("the performance counter did not count: PMC0 read %d after %d branches (CPUID leaf 0xA advertises an %v)", pmc, ran, a)
		}
		if got != ran {
			return fmt.Errorf("PMC0 counted %d branches, the guest ran %d (timer %d, exit %v at RIP %#x)", got, ran, timer, vmx.ExitReason(r), v.regs.ExitRIP)
		}
	}
	return nil
}

// probeReach runs the probe guest from where it is to the stop (stop,
// rip, rcx) as a backup does (after every exit the place is checked),
// with or without the stop's RIP, and returns how many of the exits were
// the clock's own stops (breakpoint, single step; not host interrupts).
func (v *VM) probeReach(c *branchCounter, count *uint64, stop, rip, rcx uint64, haveRIP bool) (int, error) {
	own := 0
	for exits := 1; exits <= 10_000; exits++ {
		r, err := v.probeEnter(c.armAt(v, probeTicks, *count, stop, rip, haveRIP))
		if err != nil {
			return own, err
		}
		*count += c.elapsed(v)
		switch {
		case r == vmx.ReasonExceptionOrNMI && c.trapped, r == vmx.ReasonMonitorTrapFlag:
			own++
		case r == vmx.ReasonExceptionOrNMI:
			if info, _ := vmx.VMREAD(vmx.VMExitInterruptionInfo); vmx.EventType(info>>vmx.IntInfoTypeShift&7) != vmx.EventNMI {
				return own, fmt.Errorf("exception exit %#x (qualification %#x) at RIP %#x: not the stop armed", info, v.regs.ExitQual, v.regs.ExitRIP)
			}
		case r == vmx.ReasonPreemptionTimer, r == vmx.ReasonExternalInterrupt:
		default:
			return own, fmt.Errorf("exit %v at RIP %#x", vmx.ExitReason(r), v.regs.ExitRIP)
		}
		if *count > stop {
			return own, fmt.Errorf("passed the stop (count %d, RIP %#x, RCX %d): at count %d, RIP %#x, RCX %d", stop, rip, rcx, *count, v.regs.ExitRIP, v.regs.RCX)
		}
		if *count == stop && v.regs.ExitRIP == rip && v.regs.RCX == rcx {
			return own, v.probeClean()
		}
	}
	return own, fmt.Errorf("the stop (count %d, RIP %#x, RCX %d) not reached: at count %d, RIP %#x, RCX %d", stop, rip, rcx, *count, v.regs.ExitRIP, v.regs.RCX)
}

// probeClean checks that stepping left nothing of itself in the guest.
func (v *VM) probeClean() error {
	rflags, _ := vmx.VMREAD(vmx.GuestRFLAGS)
	dr7, _ := vmx.VMREAD(vmx.GuestDR7)
	exc, _ := vmx.VMREAD(vmx.ExceptionBitmap)
	proc, _ := vmx.VMREAD(vmx.ProcBasedControls)
	if rflags&pmu.RFLAGSTF != 0 || dr7 != 0x400 || exc != uint64(v.m.ctl.ExceptionBitmap) || proc&vmx.ProcBasedMonitorTrapFlag != 0 {
		return fmt.Errorf("stepping left state behind: RFLAGS %#x, DR7 %#x, exception bitmap %#x, processor-based controls %#x", rflags, dr7, exc, proc)
	}
	return nil
}

// probeStepping stops the probe guest at given (count, RIP, RCX) the
// ways a backup does: at the loop's JMP by a breakpoint (one hit per
// iteration), inside REP STOSB by single steps (one per iteration), and
// at every instruction by single steps alone (no stop RIP). Where PMC0
// does not count (counts false), every stop has count 0: the breakpoint
// and single steps are checked by RIP and RCX alone.
func (v *VM) probeStepping(c *branchCounter, counts bool) error {
	const iterations = 10
	stop := uint64(0)
	if counts {
		stop = iterations - 1 // JMPs retired when the 10th reaches probeJmp
	}
	// A hit per pass; without a count, a hit and a step over the JMP.
	want := 2*iterations - 1
	if counts {
		want = iterations
	}
	var count uint64
	v.probeAt(probeLoop, 0)
	if stops, err := v.probeReach(c, &count, stop, probeJmp, iterations, true); err != nil || stops != want {
		return fmt.Errorf("breakpoint at the loop's JMP, pass %d: %d stops, want %d (%v)", iterations, stops, want, err)
	}
	const steps = 5
	count = 0
	v.probeAt(probeRep, probeRepN)
	if stops, err := v.probeReach(c, &count, 0, probeRep, probeRepN-steps, true); err != nil || stops != steps {
		return fmt.Errorf("REP STOSB %d iterations in: %d single steps, want %d (%v)", steps, stops, steps, err)
	}
	if counts {
		// Single steps alone: 2 per iteration, the JMP counted when it retires.
		count = 0
		v.probeAt(probeLoop, 0)
		if stops, err := v.probeReach(c, &count, 3, probeJmp, 4, false); err != nil || stops != 7 {
			return fmt.Errorf("single steps to the 4th JMP: %d steps, want 7 (%v)", stops, err)
		}
	}
	return nil
}

// probePMI arms the overflow a margin short of stops ever further away:
// the PMI must come as an NMI exit, with the overflow bit set in
// IA32_PERF_GLOBAL_STATUS, less than SkidMargin branches after the
// overflow. p.Skid gets the largest skid seen.
func (v *VM) probePMI(c *branchCounter, p *ClockProbe) error {
	for _, n := range []uint64{1, 1000, 50_000, 2_000_000} {
		stop := n + pmu.SkidMargin
		var count uint64
		v.probeAt(probeLoop, 0)
		for tries := 0; ; tries++ {
			if tries == 100 {
				return fmt.Errorf("no PMI after %d branches (count %d after %d runs)", n, count, tries)
			}
			r, err := v.probeEnter(c.armAt(v, probeTicks, count, stop, 0, false))
			if err != nil {
				return err
			}
			overflow := c.regs.readMSR(pmu.IA32_PERF_GLOBAL_STATUS)&pmu.GlobalPMC0 != 0
			count += c.elapsed(v)
			if r == vmx.ReasonExceptionOrNMI && overflow {
				break
			}
			if count >= n { // a host interrupt came first, too close: again from the start
				count = 0
				v.probeAt(probeLoop, 0)
			}
		}
		if count < n || count-n >= pmu.SkidMargin {
			return fmt.Errorf("the PMI for an overflow after %d branches came at %d: a skid of %d, the margin is %d", n, count, int64(count-n), pmu.SkidMargin)
		}
		p.Skid = max(p.Skid, count-n)
	}
	return nil
}
