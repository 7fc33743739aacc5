package hv

import (
	"unsafe"

	"hindsight/boot/msr"
	"hindsight/vmx"
)

// The MSR policy: every model-specific register a guest may touch has one
// stated treatment, and every value a guest can read is a function of its
// own state or logged (README, "What a guest meets"). Linux 6.1's are
// those shared/design/linux-guest.md measured, plus the ones its boot
// and context switches use.
//
//	passed through   the guest reads and writes the register itself; its
//	                 value is part of the VMCS guest state (loaded at
//	                 entry, saved at exit): FS_BASE, GS_BASE,
//	                 SYSENTER_CS/ESP/EIP, PAT
//	swapped          passed through, and swapped with the host's value at
//	                 every entry and exit by the MSR-load and -store lists
//	                 (SDM Vol. 3C §25.7.2, §26.4): KERNEL_GS_BASE, STAR,
//	                 LSTAR, CSTAR, FMASK (the host's SYSCALL entry uses
//	                 the last four)
//	emulated         the hypervisor answers: EFER (kept in the VMCS; a
//	                 write updates the "IA-32e mode guest" entry control),
//	                 TSC (a read is an RDTSC, logged by a primary), and
//	                 constants for APIC_BASE (APIC disabled: hidden in
//	                 CPUID), FEATURE_CONTROL (locked, VMX off),
//	                 BIOS_SIGN_ID (microcode revision 0; writes ignored),
//	                 MISC_ENABLE (fast strings on, BTS and PEBS unavailable;
//	                 writes ignored)
//	#GP(0)           everything else, as on a processor without it (logged
//	                 once per MSR): TSC writes, TSC_AUX (RDTSCP is hidden),
//	                 the PMU's, MTRRs, PLATFORM_INFO, MISC_FEATURE_ENABLES...

// MSR numbers (SDM Vol. 4, Table 2-2).
const (
	msrTSC           = 0x10
	msrAPICBase      = 0x1B
	msrFeatureCtl    = 0x3A
	msrBIOSSignID    = 0x8B
	msrSysenterCS    = 0x174
	msrSysenterESP   = 0x175
	msrSysenterEIP   = 0x176
	msrMiscEnable    = 0x1A0
	msrPAT           = 0x277
	msrEFER          = 0xC0000080
	msrSTAR          = 0xC0000081
	msrLSTAR         = 0xC0000082
	msrCSTAR         = 0xC0000083
	msrFMASK         = 0xC0000084
	msrFSBase        = 0xC0000100
	msrGSBase        = 0xC0000101
	msrKernelGSBase  = 0xC0000102
	apicBaseDefault  = 0xFEE00000 | 1<<8 // BSP, global enable (bit 11) clear
	featureCtlLocked = 1                 // lock bit, VMX disabled
	miscEnableValue  = 1<<0 | 1<<11 | 1<<12
)

// passedThrough are the MSRs the guest accesses without exits, the VMCS
// holding their guest values.
var passedThrough = [...]uint32{msrFSBase, msrGSBase, msrSysenterCS, msrSysenterESP, msrSysenterEIP, msrPAT}

// swapped are the MSRs swapped by the MSR lists, in list order.
var swapped = [...]uint32{msrKernelGSBase, msrSTAR, msrLSTAR, msrCSTAR, msrFMASK}

// msrEntry is one entry of an MSR-load or -store list (SDM Vol. 3C Table
// 25-15): 16 bytes, 16-byte aligned.
type msrEntry struct {
	Index    uint32
	Reserved uint32
	Data     uint64
}

// msrLists are a VM's MSR lists: guest holds the guest's values (the
// VM-entry load list and the VM-exit store list: what the exit saves, the
// next entry loads), host the host's (the VM-exit load list).
type msrLists struct {
	guest, host *[len(swapped)]msrEntry
	pa          [2]uint64 // physical addresses of guest and host
}

// allowMSRs clears the exit bits of the passed-through and swapped MSRs
// in an MSR bitmap (SDM Vol. 3C §25.6.9: read-low at 0, read-high at
// 1024, write-low at 2048, write-high at 3072 bytes).
func allowMSRs(bitmap []byte) {
	clearBit := func(m uint32) {
		off := uint32(0)
		if m >= 0xC0000000 {
			off, m = 1024, m-0xC0000000
		}
		for _, base := range [2]uint32{0, 2048} {
			bitmap[base+off+m/8] &^= 1 << (m % 8)
		}
	}
	for _, m := range passedThrough {
		clearBit(m)
	}
	for _, m := range swapped {
		clearBit(m)
	}
}

// initMSRLists allocates the lists, with the guest's values at reset (0)
// and the host's as they are on the calling CPU. Precondition: the caller
// is pinned to the VM's CPU.
func (l *msrLists) init() error {
	for i := range l.pa {
		pa, err := physPage()
		if err != nil {
			return err
		}
		l.pa[i] = pa
	}
	l.guest = (*[len(swapped)]msrEntry)(unsafe.Pointer(uintptr(l.pa[0]))) // a zeroed page of our own
	l.host = (*[len(swapped)]msrEntry)(unsafe.Pointer(uintptr(l.pa[1])))
	for i, m := range swapped {
		l.guest[i] = msrEntry{Index: m}
		l.host[i] = msrEntry{Index: m, Data: msr.Read(m)}
	}
	return nil
}

// msr applies the policy to an RDMSR or WRMSR exit.
func (v *VM) msr(write bool) {
	m := uint32(v.regs.RCX)
	value := v.regs.RDX<<32 | v.regs.RAX&0xFFFFFFFF
	var x uint64
	switch {
	case m == msrEFER && write:
		if !v.writeEFER(value) {
			v.msrFault(m, write)
			return
		}
	case m == msrEFER:
		x, _ = vmx.VMREAD(vmx.GuestIA32EFER)
	case m == msrTSC && !write:
		var ok bool
		if x, ok = v.in.tsc(v); !ok {
			return
		}
	case m == msrAPICBase && !write:
		x = apicBaseDefault
	case m == msrFeatureCtl && !write:
		x = featureCtlLocked
	case m == msrBIOSSignID, m == msrMiscEnable:
		if m == msrMiscEnable {
			x = miscEnableValue
		}
	default:
		v.msrFault(m, write)
		return
	}
	if !write {
		v.regs.RAX, v.regs.RDX = x&0xFFFFFFFF, x>>32
	}
	v.skip()
}

// msrFault injects #GP(0), as for an MSR the processor does not have, with
// one log line per MSR number.
func (v *VM) msrFault(m uint32, write bool) {
	v.stats.MSRFaults++
	if v.msrLogged < uint32(len(v.msrSeen)) && !v.sawMSR(m) {
		v.msrSeen[v.msrLogged] = m
		v.msrLogged++
		var l logLine
		l.str("hv: ").str(v.cfg.Name)
		if write {
			l.str(": WRMSR ")
		} else {
			l.str(": RDMSR ")
		}
		l.hex(uint64(m)).str(" at rip ").hex(v.rip()).str(": not modelled, #GP(0) injected (logged once per MSR)").write()
	}
	v.injectException(vmx.VectorGP, 0, true)
}

func (v *VM) sawMSR(m uint32) bool {
	for _, s := range v.msrSeen[:v.msrLogged] {
		if s == m {
			return true
		}
	}
	return false
}
