package hv

import (
	"fmt"

	"hindsight/boot"
	"hindsight/ept"
	"hindsight/guest/image"
	"hindsight/hv/paging"
	"hindsight/hv/pmu"
	"hindsight/vmx"
)

// The clock self-test: before a clock is trusted, guests whose every
// instruction can be counted from their registers run on the CPUs that
// will use it, and the clock's count must equal theirs.

// probeImage is the self-test guest, entered at one of three points:
//
//	0x100000  add rcx, 1     ; loop: 2 instructions per iteration
//	0x100004  jmp 0x100000
//	0x100006  rep stosb      ; one instruction per iteration
//	0x100008  jmp 0x100008
//	0x10000A  add rcx, 1     ; 7 instructions, then CLI (IF is 0 already)
//	 ...
//	0x100026  cli
//	0x100027  jmp 0x100027
var probeImage = [...]byte{0x48, 0x83, 0xC1, 0x01, 0xEB, 0xFA, 0xF3, 0xAA, 0xEB, 0xFE,
	0x48, 0x83, 0xC1, 0x01, 0x48, 0x83, 0xC1, 0x01, 0x48, 0x83, 0xC1, 0x01, 0x48, 0x83, 0xC1, 0x01,
	0x48, 0x83, 0xC1, 0x01, 0x48, 0x83, 0xC1, 0x01, 0x48, 0x83, 0xC1, 0x01, 0xFA, 0xEB, 0xFE}

const (
	probeLoop  = image.FlatLoadAddr
	probeJmp   = image.FlatLoadAddr + 4
	probeRep   = image.FlatLoadAddr + 6
	probeCLI   = image.FlatLoadAddr + 0xA // 7 ADDs, then the CLI at +0x26
	probeBuf   = 0x200000                 // REP STOSB's buffer
	probeRepN  = 1 << 20                  // its length
	probeLongV = 25_000_005
)

// ClockProbe is what the self-test found on one CPU.
type ClockProbe struct {
	CPU    int
	Slices error // nil: the slice clock counts exactly here
	MTF    bool  // a monitor-trap-flag exit came after one instruction
	Trials int   // guest runs whose count was checked
	Async  int   // of them ended by a host interrupt rather than the timer

	Branches   error      // nil: the branch clock counts and stops exactly here (clock_pmu.go)
	Stepping   error      // nil: its breakpoints and single steps stop exactly (checked even where it cannot count)
	Single     pmu.Single // how it single-steps here
	BranchRuns int        // guest runs whose branch count was checked
	Skid       uint64     // the largest PMI skid measured, in branches
}

// ProbeClock runs the self-test on the calling goroutine's CPU, pinning
// it to cpu, with ram as the test guest's memory (its content is lost).
func (m *Machine) ProbeClock(cpu int, ram boot.GuestRegion) ClockProbe {
	p := ClockProbe{CPU: cpu}
	if err := boot.Pin(cpu); err != nil {
		p.Slices, p.Branches = err, err
		return p
	}
	if err := m.enableVMX(); err != nil {
		p.Slices, p.Branches = err, err
		return p
	}
	var v VM
	if err := m.probeVM(&v, ram); err != nil {
		p.Slices, p.Branches = err, err
		return p
	}
	p.MTF = v.probeMTF(m)
	p.Slices = v.probeSlices(m, &p)
	p.Branches = v.probeBranches(m, &p)
	return p
}

// probeVM makes v a minimal VM over ram holding probeImage, with its VMCS
// current on this CPU.
func (m *Machine) probeVM(v *VM, ram boot.GuestRegion) error {
	v.m, v.cfg.Name = m, "clock probe"
	v.ram = physBytes(ram.Base, ram.Size)
	v.guestMem = paging.RAM(v.ram)
	var err error
	if v.ept, err = ept.Build(eptAlloc{}, m.EPT, ept.Layout{Size: ram.Size, HostBase: ram.Base, Perm: ept.RWX, MemType: ept.WB}); err != nil {
		return err
	}
	p, err := v.ept.EPTP(ept.WB, false)
	if err != nil {
		return err
	}
	v.eptp = uint64(p)
	if v.entry, _, err = image.Load(v.ram, image.Spec{Name: "clock probe", Format: image.Flat64, Kernel: probeImage[:]}); err != nil {
		return err
	}
	if v.vmcs, err = m.newRegion(); err != nil {
		return err
	}
	v.regs.GuestFX, v.regs.HostFX = align16(&v.fx[0]), align16(&v.fx[1])
	initFX(v.regs.GuestFX)
	return v.setupVMCS()
}

// run enters the probe guest at rip with RCX = rcx and the preemption
// timer at timer, and returns the exit reason and the saved timer value.
func (v *VM) probeRun(rip, rcx uint64, timer uint32, slices bool) (vmx.BasicExitReason, uint64, error) {
	v.regs.RCX, v.regs.RDI = rcx, probeBuf
	v.regs.Slices = 0
	if slices {
		v.regs.Slices = 1
	}
	vmx.VMWRITE(vmx.GuestRIP, rip)
	vmx.VMWRITE(vmx.PreemptionTimerValue, uint64(timer))
	if st := vmx.Enter(&v.regs, v.launched); st != vmx.Succeed {
		return 0, 0, fmt.Errorf("VM entry failed: %v", vmx.StatusError(st))
	}
	v.launched = true
	r := vmx.ExitReason(v.regs.ExitReason)
	if r.EntryFailed() {
		return 0, 0, fmt.Errorf("VM entry failed: %v", r)
	}
	saved, _ := vmx.VMREAD(vmx.PreemptionTimerValue)
	if slices {
		extra, ok := vmx.SliceOffset(v.regs.Phase)
		if !ok {
			return 0, 0, fmt.Errorf("the exit stub found no slice boundary after the exit")
		}
		saved -= extra // the count below is timer - saved - 5: add the mid-slice instructions
	}
	return r.Basic(), saved, nil
}

// probeMTF reports whether the monitor trap flag really exits after one
// guest instruction (Bochs 2.7 accepts the control and never exits).
func (v *VM) probeMTF(m *Machine) bool {
	if !m.Caps.Proc.MayBeOne(vmx.ProcBasedMonitorTrapFlag) {
		return false
	}
	vmx.VMWRITE(vmx.ProcBasedControls, uint64(m.ctl.Proc|vmx.ProcBasedMonitorTrapFlag))
	defer vmx.VMWRITE(vmx.ProcBasedControls, uint64(m.ctl.Proc))
	r, _, err := v.probeRun(probeLoop, 0, 1000, false)
	return err == nil && r == vmx.ReasonMonitorTrapFlag && v.regs.RCX == 1
}

// probeSlices checks every assumption of the slice clock (clock.go) on
// this CPU and says which one fails.
func (v *VM) probeSlices(m *Machine, p *ClockProbe) error {
	if m.Caps.Misc.PreemptionTimerRate != 0 {
		return fmt.Errorf("the VMX-preemption timer counts TSC >> %d, not every TSC tick", m.Caps.Misc.PreemptionTimerRate)
	}
	if m.ctl.Exit&vmx.ExitSavePreemptionTimer == 0 {
		return fmt.Errorf("no \"save VMX-preemption timer value\" exit control")
	}
	if !vmx.SliceProbe() {
		return fmt.Errorf("the TSC does not stand still for 5 instructions at a time (not Bochs 2.7 with two CPUs)")
	}
	check := func(what string, timer uint32, r vmx.BasicExitReason, saved, want uint64) error {
		p.Trials++
		if r == vmx.ReasonExternalInterrupt {
			p.Async++
		} else if r != vmx.ReasonPreemptionTimer {
			return fmt.Errorf("%s, timer %d: exit reason %v", what, timer, vmx.ExitReason(r))
		}
		if got := uint64(timer) - saved - sliceUnit; saved > uint64(timer) || got != want {
			return fmt.Errorf("%s, timer %d, saved %d, exit %v: the clock counts %d instructions, the guest ran %d",
				what, timer, saved, vmx.ExitReason(r), int64(got), want)
		}
		return nil
	}
	for _, timer := range []uint32{10, 15, 35, 1000, 77775, probeLongV} {
		r, saved, err := v.probeRun(probeLoop, 0, timer, true)
		if err != nil {
			return err
		}
		rip, _ := vmx.VMREAD(vmx.GuestRIP)
		ran := 2 * v.regs.RCX
		if rip == probeJmp {
			ran--
		}
		if err := check("loop", timer, r, saved, ran); err != nil {
			return err
		}
	}
	for _, timer := range []uint32{10, 505, 20000} {
		r, saved, err := v.probeRun(probeRep, probeRepN, timer, true)
		if err != nil {
			return err
		}
		if err := check("rep stosb", timer, r, saved, probeRepN-v.regs.RCX); err != nil {
			return err
		}
	}
	// A host interrupt pending at entry while the guest has IF=0: Bochs
	// lets it through at the guest's CLI, 8 instructions in, in the middle
	// of a slice (clock.go); the exit stub must place it.
	boot.PokeSelf()
	r, saved, err := v.probeRun(probeCLI, 0, 1_000_000, true)
	if err != nil {
		return err
	}
	if r != vmx.ReasonExternalInterrupt {
		return fmt.Errorf("a host interrupt pending at entry, the guest with IF=0: exit reason %v, want an external interrupt at its CLI", vmx.ExitReason(r))
	}
	if err := check("CLI with a host interrupt held back", 1_000_000, r, saved, v.regs.RCX+1); err != nil {
		return err
	}
	return nil
}
