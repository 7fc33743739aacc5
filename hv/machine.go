package hv

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"hindsight/boot"
	"hindsight/boot/msr"
	"hindsight/ept"
	"hindsight/vmx"
)

// Machine is what all VMs share: the VMX capabilities, the adjusted
// control words, the I/O and MSR bitmaps, and which CPUs are in VMX
// operation.
type Machine struct {
	Caps vmx.Caps
	EPT  ept.Caps
	ctl  vmx.Controls // control words and bitmap addresses common to every VM

	quantum uint64 // TSC ticks a guest runs at most before the host gets its CPU back
	cpuid   cpuidTable

	mu    sync.Mutex
	vmxon [64]bool // CPU i has executed VMXON
}

const quantumNs = 10_000_000

// Controls every VM runs with (SDM Vol. 3C §25.6-25.8 names). Port I/O
// always exits (a bitmap of ones): a port the hypervisor does not model
// meets a stated policy rather than the real hardware; so does every MSR
// but those whose guest values VT-x keeps apart (msr.go).
const (
	pinWant = vmx.PinBasedExternalInterruptExiting | vmx.PinBasedNMIExiting |
		vmx.PinBasedActivatePreemptionTimer
	procWant = vmx.ProcBasedHLTExiting | vmx.ProcBasedRDTSCExiting | vmx.ProcBasedPAUSEExiting |
		vmx.ProcBasedMWAITExiting | vmx.ProcBasedMONITORExiting |
		vmx.ProcBasedUseIOBitmaps | vmx.ProcBasedUseMSRBitmaps |
		vmx.ProcBasedActivateSecondaryControls
	proc2Want = vmx.ProcBased2EnableEPT | vmx.ProcBased2UnrestrictedGuest
	exitWant  = vmx.ExitHostAddressSpaceSize | vmx.ExitSaveEFER | vmx.ExitLoadEFER | vmx.ExitSavePAT | vmx.ExitLoadPAT
	entryWant = vmx.EntryIA32eModeGuest | vmx.EntryLoadEFER | vmx.EntryLoadPAT

	// Where the CPU has them: RDPMC, RDRAND and RDSEED would otherwise give
	// a guest values nobody logs (they are hidden in CPUID, but a guest may
	// execute them anyway); the slice clock needs the saved preemption
	// timer.
	procOptional  = vmx.ProcBasedRDPMCExiting
	proc2Optional = vmx.ProcBased2RDRANDExiting | vmx.ProcBased2RDSEEDExiting
	exitOptional  = vmx.ExitSavePreemptionTimer
)

// NewMachine reads the VMX capabilities and prepares what VMs share. It
// fails, naming the feature, on a CPU without VT-x or a required control.
func NewMachine() (*Machine, error) {
	if _, _, ecx, _ := boot.CPUID(1, 0); ecx&(1<<5) == 0 {
		return nil, fmt.Errorf("hv: this CPU has no VT-x (CPUID.1:ECX.VMX[bit 5] = 0); hindsight needs VMX to run guests")
	}
	caps, err := vmx.DecodeCaps(msr.Read)
	if err != nil {
		return nil, err
	}
	if max, _, _, _ := boot.CPUID(0x80000000, 0); max >= 0x80000008 {
		a, _, _, _ := boot.CPUID(0x80000008, 0)
		caps.MaxPhysAddr, caps.LinearAddrBits = uint8(a), uint8(a>>8)
	}
	// A vCPU loop holds its P for as long as its guest computes, and a
	// goroutine locked to its thread gives the P up only when the Go
	// scheduler preempts it at an exit. The host's own goroutines (a
	// monitor, timers, the collector's workers) get a P of their own, so
	// they run whatever the guests do: the ring-0 scheduler time-slices
	// their thread with the vCPU threads at its tick.
	if n := boot.NumCPU() + 1; runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
	m := &Machine{Caps: caps, EPT: ept.CapsFromMSR(caps.EPTVPID.Raw)}
	m.cpuid.fill(boot.CPUID)
	c := &m.ctl
	steps := []struct {
		dst            *uint32
		want, optional uint32
		allow          vmx.Allowed
	}{
		{&c.Pin, pinWant, 0, caps.Pin},
		{&c.Proc, procWant, procOptional, caps.Proc},
		{&c.Proc2, proc2Want, proc2Optional, caps.Proc2},
		{&c.Exit, exitWant, exitOptional, caps.Exit},
		{&c.Entry, entryWant, 0, caps.Entry},
	}
	for _, s := range steps {
		if *s.dst, err = vmx.Adjust(s.want, s.optional, s.allow); err != nil {
			return nil, err
		}
	}
	m.quantum = boot.ReadStats().TSCHz * quantumNs / 1e9
	for _, p := range []*uint64{&c.IOBitmapA, &c.IOBitmapB, &c.MSRBitmap} {
		if *p, err = physPage(); err != nil {
			return nil, err
		}
		b := physBytes(*p, 4096)
		for i := range b {
			b[i] = 0xFF
		}
	}
	allowMSRs(physBytes(c.MSRBitmap, 4096))
	return m, nil
}

// enableVMX puts the calling CPU into VMX operation (SDM Vol. 3C §24.7):
// IA32_FEATURE_CONTROL, the CR0/CR4 fixed bits with CR4.VMXE, and VMXON.
// Precondition: the caller is pinned to that CPU.
func (m *Machine) enableVMX() error {
	h := boot.CurrentHostRegs()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vmxon[h.CPU] {
		return nil
	}
	fc, write, err := vmx.FeatureControl(msr.Read(vmx.IA32_FEATURE_CONTROL)).Enable()
	if err != nil {
		return err
	}
	if write {
		msr.Write(vmx.IA32_FEATURE_CONTROL, fc)
	}
	boot.SetCR0CR4(m.Caps.FixCR0(h.CR0), m.Caps.FixCR4(h.CR4|vmx.CR4VMXE))
	region, err := m.newRegion()
	if err != nil {
		return err
	}
	if err := vmx.StatusError(vmx.VMXONInsn(region)); err != nil {
		return fmt.Errorf("hv: VMXON on CPU%d: %w", h.CPU, err)
	}
	m.vmxon[h.CPU] = true
	return nil
}

// newRegion allocates a VMXON or VMCS region with the revision identifier
// in its first word (SDM Vol. 3C §26.2).
func (m *Machine) newRegion() (uint64, error) {
	pa, err := physPage()
	if err != nil {
		return 0, err
	}
	binary.LittleEndian.PutUint32(physBytes(pa, 4), m.Caps.RevisionID)
	return pa, nil
}

// Features lists the VT-x features hindsight uses and whether this CPU has
// them, for the start-up banner.
func (m *Machine) Features() string {
	has := func(a vmx.Allowed, bit uint32) string {
		if a.MayBeOne(bit) {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprintf("VMCS revision %#x; EPT %s (2M pages %v, 1G pages %v, accessed/dirty flags %v); unrestricted guest %s; VPID %s; "+
		"preemption timer %s (TSC >> %d, value saved at exit %s); RDRAND/RDSEED exiting %s; I/O bitmaps %s; MSR bitmaps %s",
		m.Caps.RevisionID, has(m.Caps.Proc2, vmx.ProcBased2EnableEPT), m.EPT.Pages2M, m.EPT.Pages1G, m.EPT.AccessedDirty,
		has(m.Caps.Proc2, vmx.ProcBased2UnrestrictedGuest), has(m.Caps.Proc2, vmx.ProcBased2EnableVPID),
		has(m.Caps.Pin, vmx.PinBasedActivatePreemptionTimer), m.Caps.Misc.PreemptionTimerRate,
		has(m.Caps.Exit, vmx.ExitSavePreemptionTimer), has(m.Caps.Proc2, vmx.ProcBased2RDRANDExiting),
		has(m.Caps.Proc, vmx.ProcBasedUseIOBitmaps), has(m.Caps.Proc, vmx.ProcBasedUseMSRBitmaps))
}
