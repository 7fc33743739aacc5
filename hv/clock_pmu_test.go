package hv

import (
	"testing"

	"hindsight/hv/pmu"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// Host tests of the branch clock's register layer: what arm and elapsed
// write to the MSRs, the VMCS, the debug registers and the APIC for each
// plan, and that the guest gets back everything a breakpoint or single
// step took. hv/pmu tests the plans themselves against a simulated guest.

type fakePMU struct {
	msr   map[uint32]uint64
	vmcs  map[vmx.Field]uint64
	dr    [4]uint64
	lvt   uint32
	lvtWr int
}

func newFakePMU() *fakePMU {
	return &fakePMU{msr: map[uint32]uint64{}, vmcs: map[vmx.Field]uint64{
		vmx.GuestDR7:          0x400,
		vmx.GuestRFLAGS:       0x202,
		vmx.ProcBasedControls: vmx.ProcBasedHLTExiting,
		vmx.EntryControls:     vmx.EntryIA32eModeGuest,
		vmx.ExitControls:      vmx.ExitHostAddressSpaceSize,
	}}
}

func (f *fakePMU) readMSR(r uint32) uint64        { return f.msr[r] }
func (f *fakePMU) writeMSR(r uint32, x uint64)    { f.msr[r] = x }
func (f *fakePMU) vmread(fl vmx.Field) uint64     { return f.vmcs[fl] }
func (f *fakePMU) vmwrite(fl vmx.Field, x uint64) { f.vmcs[fl] = x }
func (f *fakePMU) debugReg(i int) uint64          { return f.dr[i] }
func (f *fakePMU) setDebugReg(i int, x uint64)    { f.dr[i] = x }
func (f *fakePMU) setLVTPerf(x uint32)            { f.lvt, f.lvtWr = x, f.lvtWr+1 }

const testWidth = 48

func testBranchVM(single pmu.Single) (*VM, *branchCounter, *fakePMU) {
	f := newFakePMU()
	c := &branchCounter{stepper: stepper{regs: f}, ctr: pmu.Counter{Width: testWidth}, single: single}
	v := &VM{clock: c}
	v.tf.regs, v.tf.mem = f, fakeGuestMem{}
	return v, c, f
}

// fakeGuestMem is guest memory at linear addresses, for tfStep.
type fakeGuestMem map[uint64]byte

func (m fakeGuestMem) readLinear(va uint64, dst []byte) int {
	for i := range dst {
		b, ok := m[va+uint64(i)]
		if !ok {
			return i
		}
		dst[i] = b
	}
	return len(dst)
}

func (m fakeGuestMem) writeLinear(va uint64, src []byte) int {
	for i, b := range src {
		if _, ok := m[va+uint64(i)]; !ok {
			return i
		}
		m[va+uint64(i)] = b
	}
	return len(src)
}

// exitAfter makes the fake counter have counted n branches since the
// entry, and the exit look like reason r at the guest's RIP.
func exitAfter(v *VM, c *branchCounter, f *fakePMU, n uint64, r vmx.BasicExitReason) {
	f.msr[pmu.IA32_PMC0] = (c.load + n) & c.ctr.Mask()
	v.regs.ExitReason = uint64(r)
	v.regs.ExitRIP = f.vmcs[vmx.GuestRIP]
}

// debugExit makes the exit a #DB with this exit qualification.
func debugExit(v *VM, f *fakePMU, qual uint64) {
	v.regs.ExitReason = uint64(vmx.ReasonExceptionOrNMI)
	v.regs.ExitQual = qual
	f.vmcs[vmx.VMExitInterruptionInfo] = vmx.IntInfoValid | uint64(vmx.EventHardwareException)<<vmx.IntInfoTypeShift | vmx.VectorDB
}

func TestBranchClockSetup(t *testing.T) {
	v, c, f := testBranchVM(pmu.SingleMTF)
	f.msr[pmu.IA32_PERF_GLOBAL_CTRL] = 0xFF // the power-on value: every counter enabled
	c.rate = 5
	if got := c.arm(v, 1<<20, 0, noStop); got != 1<<15 {
		t.Errorf("timer %d, want ticks >> rate", got)
	}
	if got := c.arm(v, 1<<60, 0, noStop); got != 0xFFFFFFFF {
		t.Errorf("timer %d, want the largest", got)
	}
	switch {
	case f.msr[pmu.IA32_PERF_GLOBAL_CTRL] != 0:
		t.Error("the host's IA32_PERF_GLOBAL_CTRL still enables counters")
	case f.vmcs[vmx.GuestIA32PerfGlobalCtrl] != pmu.GlobalPMC0 || f.vmcs[vmx.HostIA32PerfGlobalCtrl] != 0:
		t.Error("guest/host IA32_PERF_GLOBAL_CTRL")
	case f.vmcs[vmx.EntryControls] != vmx.EntryIA32eModeGuest|vmx.EntryLoadPerfGlobalCtrl|vmx.EntryLoadDebugControls:
		t.Errorf("entry controls %#x", f.vmcs[vmx.EntryControls])
	case f.vmcs[vmx.ExitControls] != vmx.ExitHostAddressSpaceSize|vmx.ExitLoadPerfGlobalCtrl|vmx.ExitSaveDebugControls:
		t.Errorf("exit controls %#x", f.vmcs[vmx.ExitControls])
	}
	// Once per VM: a change made since (here by hand) stays.
	f.vmcs[vmx.EntryControls] = 0
	c.arm(v, 1000, 0, noStop)
	if f.vmcs[vmx.EntryControls] != 0 {
		t.Error("setup ran again")
	}
}

// The primary: the counter runs from 0, no PMI, and every asynchronous
// exit reads the branches since the entry.
func TestBranchClockCounts(t *testing.T) {
	v, c, f := testBranchVM(pmu.SingleMTF)
	for _, n := range []uint64{0, 1, 12345, 1 << 40} {
		c.arm(v, 1000, 77, noStop)
		if f.msr[pmu.IA32_PERFEVTSEL0] != pmu.BranchesRetired || f.msr[pmu.IA32_PMC0] != 0 || f.lvtWr != 0 {
			t.Fatalf("free-running: event select %#x, PMC0 %#x, LVT written %d times", f.msr[pmu.IA32_PERFEVTSEL0], f.msr[pmu.IA32_PMC0], f.lvtWr)
		}
		exitAfter(v, c, f, n, vmx.ReasonPreemptionTimer)
		if got := c.elapsed(v); got != n {
			t.Errorf("elapsed %d, want %d", got, n)
		}
	}
}

// A far stop: the PMI is armed a margin short, as an NMI, with a stale
// overflow cleared; the count is right whatever the skid.
func TestBranchClockFarStop(t *testing.T) {
	v, c, f := testBranchVM(pmu.SingleMTF)
	const progress, stop = 100, 100_000
	c.arm(v, 1000, progress, stop)
	n := uint64(stop - progress - pmu.SkidMargin)
	switch {
	case f.msr[pmu.IA32_PERFEVTSEL0] != pmu.BranchesRetired|pmu.EvtSelINT:
		t.Errorf("event select %#x: no PMI", f.msr[pmu.IA32_PERFEVTSEL0])
	case f.msr[pmu.IA32_PMC0] != 1<<testWidth-n:
		t.Errorf("PMC0 %#x, want 2^48 - %d", f.msr[pmu.IA32_PMC0], n)
	case f.msr[pmu.IA32_PERF_GLOBAL_OVF_CTRL] != pmu.GlobalPMC0:
		t.Error("the overflow status was not cleared")
	case f.lvt != pmu.LVTPerfNMI || f.lvtWr != 1:
		t.Errorf("LVT %#x (written %d times), want NMI delivery unmasked", f.lvt, f.lvtWr)
	}
	exitAfter(v, c, f, n+70, vmx.ReasonExceptionOrNMI)
	if got := c.elapsed(v); got != n+70 {
		t.Errorf("elapsed across the overflow: %d, want %d", got, n+70)
	}
	if v.clockTrapped() {
		t.Error("the PMI's NMI taken for the clock's #DB")
	}
}

// Near a stop: a breakpoint at its RIP in a debug register the guest
// leaves free, the counter overflowing one branch past the stop; at the
// breakpoint the exit is the clock's own, and the guest gets its DR7,
// debug register, exception bitmap and RFLAGS back.
func TestBranchClockBreakpoint(t *testing.T) {
	v, c, f := testBranchVM(pmu.SingleMTF)
	const stopRIP = 0x2000
	f.vmcs[vmx.GuestRIP] = 0x1000
	guestDR7 := uint64(0x400 | 1<<6) // the guest uses DR3
	f.vmcs[vmx.GuestDR7] = guestDR7
	f.dr = [4]uint64{0, 0, 0xAAAA, 0xBBBB}
	f.vmcs[vmx.ExceptionBitmap] = 1 << vmx.VectorPF
	c.armAt(v, 1000, 10, 20, stopRIP, true)
	if f.dr[2] != stopRIP || f.vmcs[vmx.GuestDR7] != pmu.WithBreakpoint(guestDR7, 2) {
		t.Fatalf("DR2 %#x, DR7 %#x: want the breakpoint in DR2", f.dr[2], f.vmcs[vmx.GuestDR7])
	}
	if f.vmcs[vmx.ExceptionBitmap] != 1<<vmx.VectorPF|1<<vmx.VectorDB || f.vmcs[vmx.GuestRFLAGS]&pmu.RFLAGSRF != 0 {
		t.Fatalf("exception bitmap %#x, RFLAGS %#x", f.vmcs[vmx.ExceptionBitmap], f.vmcs[vmx.GuestRFLAGS])
	}
	if f.msr[pmu.IA32_PMC0] != 1<<testWidth-11 {
		t.Errorf("PMC0 %#x: want the overflow one branch past the stop", f.msr[pmu.IA32_PMC0])
	}
	// The breakpoint hits at count 13: the clock's stop.
	f.vmcs[vmx.GuestRIP] = stopRIP
	exitAfter(v, c, f, 3, vmx.ReasonExceptionOrNMI)
	debugExit(v, f, 1<<2)
	f.vmcs[vmx.GuestPendingDebug] = 1 << 2
	if got := c.elapsed(v); got != 3 || !v.clockTrapped() {
		t.Fatalf("elapsed %d, trapped %v", got, v.clockTrapped())
	}
	if f.vmcs[vmx.GuestDR7] != guestDR7 || f.dr[2] != 0xAAAA || f.vmcs[vmx.ExceptionBitmap] != 1<<vmx.VectorPF || f.vmcs[vmx.GuestPendingDebug] != 0 {
		t.Fatalf("not given back: DR7 %#x, DR2 %#x, exception bitmap %#x, pending %#x",
			f.vmcs[vmx.GuestDR7], f.dr[2], f.vmcs[vmx.ExceptionBitmap], f.vmcs[vmx.GuestPendingDebug])
	}
	// Not there yet (count 13 of 20): resume over the breakpoint with RF.
	c.armAt(v, 1000, 13, 20, stopRIP, true)
	if f.vmcs[vmx.GuestRFLAGS]&pmu.RFLAGSRF == 0 {
		t.Fatal("no RF to step over the breakpoint")
	}
	// An NMI exits before the instruction ran: RF is taken back.
	exitAfter(v, c, f, 0, vmx.ReasonExceptionOrNMI)
	f.vmcs[vmx.VMExitInterruptionInfo] = vmx.IntInfoValid | uint64(vmx.EventNMI)<<vmx.IntInfoTypeShift | vmx.VectorNMI
	c.elapsed(v)
	if v.clockTrapped() || f.vmcs[vmx.GuestRFLAGS] != 0x202 {
		t.Fatalf("after an NMI: trapped %v, RFLAGS %#x", v.clockTrapped(), f.vmcs[vmx.GuestRFLAGS])
	}
	// Again with RF; this time a synchronous exit ends the run (the
	// backup left the path): the next arm gives the guest its state back
	// before it arms anything, and saves the guest's values, not its own.
	c.armAt(v, 1000, 13, 20, stopRIP, true)
	v.regs.ExitReason = uint64(vmx.ReasonCPUID)
	c.armAt(v, 1000, 0, noStop, 0, false)
	if f.vmcs[vmx.GuestDR7] != guestDR7 || f.dr[2] != 0xAAAA || f.vmcs[vmx.ExceptionBitmap] != 1<<vmx.VectorPF {
		t.Fatalf("after a synchronous exit: DR7 %#x, DR2 %#x, exception bitmap %#x", f.vmcs[vmx.GuestDR7], f.dr[2], f.vmcs[vmx.ExceptionBitmap])
	}
}

// A #DB the clock did not arm is not its stop: asyncExit ends the VM.
func TestBranchClockForeignDebugExit(t *testing.T) {
	v, c, f := testBranchVM(pmu.SingleMTF)
	f.vmcs[vmx.GuestRIP] = 0x1000
	f.vmcs[vmx.GuestDR7] = 0x400 | 1 // the guest's own breakpoint in DR0
	c.armAt(v, 1000, 10, 20, 0x2000, true)
	exitAfter(v, c, f, 2, vmx.ReasonExceptionOrNMI)
	debugExit(v, f, 1<<0)
	c.elapsed(v)
	if v.clockTrapped() {
		t.Error("the guest's breakpoint taken for the clock's")
	}
	// Nothing armed: no exception exit is the clock's.
	c.armAt(v, 1000, 0, noStop, 0, false)
	exitAfter(v, c, f, 2, vmx.ReasonExceptionOrNMI)
	debugExit(v, f, pmu.DR6BS)
	c.elapsed(v)
	if v.clockTrapped() {
		t.Error("a single step taken for the clock's with nothing armed")
	}
}

// Single steps inside a REP instruction: by the monitor trap flag, with
// the other processor-based controls (interrupt-window exiting, set by a
// handler meanwhile) kept; or by RFLAGS.TF, taken back with its pending
// single step.
func TestBranchClockSingleSteps(t *testing.T) {
	const stopRIP = 0x2000
	v, c, f := testBranchVM(pmu.SingleMTF)
	f.vmcs[vmx.GuestRIP] = stopRIP
	c.armAt(v, 1000, 20, 20, stopRIP, true)
	if f.vmcs[vmx.ProcBasedControls] != vmx.ProcBasedHLTExiting|vmx.ProcBasedMonitorTrapFlag {
		t.Fatalf("processor-based controls %#x", f.vmcs[vmx.ProcBasedControls])
	}
	exitAfter(v, c, f, 0, vmx.ReasonMonitorTrapFlag)
	if got := c.elapsed(v); got != 0 {
		t.Fatalf("a REP iteration counted %d branches", got)
	}
	f.vmcs[vmx.ProcBasedControls] |= vmx.ProcBasedInterruptWindowExiting
	c.armAt(v, 1000, 20, 20, stopRIP, true)
	exitAfter(v, c, f, 0, vmx.ReasonMonitorTrapFlag)
	c.elapsed(v)
	if f.vmcs[vmx.ProcBasedControls] != vmx.ProcBasedHLTExiting|vmx.ProcBasedInterruptWindowExiting {
		t.Fatalf("processor-based controls after the step %#x", f.vmcs[vmx.ProcBasedControls])
	}

	v, c, f = testBranchVM(pmu.SingleTrap)
	f.vmcs[vmx.GuestRIP] = stopRIP
	c.armAt(v, 1000, 20, 20, stopRIP, true)
	// TF, and every exception intercepted (tfStep): a fault of the
	// stepped instruction exits before it is delivered.
	if f.vmcs[vmx.GuestRFLAGS] != 0x202|pmu.RFLAGSTF || f.vmcs[vmx.ExceptionBitmap] != allExceptions {
		t.Fatalf("RFLAGS %#x, exception bitmap %#x", f.vmcs[vmx.GuestRFLAGS], f.vmcs[vmx.ExceptionBitmap])
	}
	// A host interrupt came after one iteration: the single step is
	// pending, and must not reach the guest.
	exitAfter(v, c, f, 0, vmx.ReasonExternalInterrupt)
	f.vmcs[vmx.GuestPendingDebug] = pmu.DR6BS
	v.tf.exit(v, 0x400) // as the vCPU loop does right after the exit
	c.elapsed(v)
	if f.vmcs[vmx.GuestRFLAGS] != 0x202 || f.vmcs[vmx.ExceptionBitmap] != 0 || f.vmcs[vmx.GuestPendingDebug] != 0 {
		t.Fatalf("RFLAGS %#x, exception bitmap %#x, pending %#x", f.vmcs[vmx.GuestRFLAGS], f.vmcs[vmx.ExceptionBitmap], f.vmcs[vmx.GuestPendingDebug])
	}
	// The guest single-steps itself: the clock will not touch TF.
	f.vmcs[vmx.GuestRFLAGS] |= pmu.RFLAGSTF
	c.armAt(v, 1000, 20, 20, stopRIP, true)
	exitAfter(v, c, f, 0, vmx.ReasonExternalInterrupt)
	v.tf.exit(v, 0x400)
	c.elapsed(v)
	if f.vmcs[vmx.GuestRFLAGS]&pmu.RFLAGSTF == 0 || f.vmcs[vmx.ExceptionBitmap] != 0 {
		t.Errorf("the guest's own TF: RFLAGS %#x, exception bitmap %#x", f.vmcs[vmx.GuestRFLAGS], f.vmcs[vmx.ExceptionBitmap])
	}
}

// A backup takes its stop's RIP from the record budget gave the count of.
func TestBranchClockStopRIP(t *testing.T) {
	_, b, _, rep := testPair(t, 16, replay.Lag{}, Corruption{})
	if _, ok := stopRIP(b); ok {
		t.Error("a stop RIP with an empty log")
	}
	w := rep.log.Writer()
	if w.Write(&replay.Record{Kind: replay.KindPosition, Seq: 4, Count: 300, RIP: 0x5000, Value: 7}, 0) != replay.Written {
		t.Fatal("log write")
	}
	b.seq = 4
	if _, stop := rep.budget(b); stop != 300 {
		t.Fatalf("budget: stop %d", stop)
	}
	if rip, ok := stopRIP(b); !ok || rip != 0x5000 {
		t.Errorf("stop RIP %#x %v", rip, ok)
	}
	if _, ok := stopRIP(testVM("primary", NewLive(false))); ok {
		t.Error("a VM without a log has a stop RIP")
	}
}

// What the replayer makes of the branch clock's stops: within the stop's
// count at another RIP or RCX it steps on; past the count the backup has
// left the primary's path.
func TestBranchClockPlaces(t *testing.T) {
	_, b, _, rep := testPair(t, 16, replay.Lag{}, Corruption{})
	_, c, _ := testBranchVM(pmu.SingleMTF)
	b.clock = c
	h := &replay.Record{Kind: replay.KindPosition, Seq: 4, Count: 300, RIP: 0x5000, Value: 7}
	b.seq, b.count, b.regs.ExitRIP, b.regs.RCX = 4, 300, 0x4ff0, 7
	if got := rep.place(b, h); got != later {
		t.Errorf("same count, RIP before the stop's: %v, want later", got)
	}
	b.regs.ExitRIP, b.regs.RCX = 0x5000, 9
	if got := rep.place(b, h); got != later {
		t.Errorf("same count and RIP, REP part way (RCX 9 of 7): %v, want later", got)
	}
	b.count = 301
	if got := rep.place(b, h); got != departed || rep.div.what != divPlace {
		t.Errorf("count past the stop: %v (divergence %d), want departed", got, rep.div.what)
	}
}
