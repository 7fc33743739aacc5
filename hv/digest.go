package hv

import (
	"fmt"
	"unsafe"

	"hindsight/boot"

	"hindsight/ept"
	"hindsight/vmx"
)

// State digests: both replicas hash their whole guest state at the same
// landmarks (the primary logs its digests, the backup compares): the vCPU
// (registers, FPU/SSE, the VMCS guest state that is architectural), guest
// RAM, and the devices with the guest's serial output. A divergence
// anywhere in them shows at the next digest.

const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
	rflagsRF  = 1 << 16
)

func mix(h, x uint64) uint64 { return (h ^ x) * fnvPrime }

// digestFields is the architectural guest state kept in the VMCS, every
// field a guest can observe or that shapes what it does next. Not in it:
// the VMX-preemption timer (the hypervisor's), pending debug exceptions
// (Bochs 2.7 leaves stale values there after exits), the VMCS link pointer.
var digestFields = [...]vmx.Field{
	vmx.GuestRIP, vmx.GuestRSP, vmx.GuestRFLAGS,
	vmx.GuestCR0, vmx.GuestCR3, vmx.GuestCR4, vmx.CR0ReadShadow, vmx.CR4ReadShadow, vmx.GuestDR7,
	vmx.GuestIA32EFER, vmx.GuestIA32PAT, vmx.GuestIA32DebugCtl,
	vmx.GuestIA32SysenterCS, vmx.GuestIA32SysenterESP, vmx.GuestIA32SysenterEIP,
	vmx.GuestESSelector, vmx.GuestCSSelector, vmx.GuestSSSelector, vmx.GuestDSSelector,
	vmx.GuestFSSelector, vmx.GuestGSSelector, vmx.GuestLDTRSelector, vmx.GuestTRSelector,
	vmx.GuestESBase, vmx.GuestCSBase, vmx.GuestSSBase, vmx.GuestDSBase,
	vmx.GuestFSBase, vmx.GuestGSBase, vmx.GuestLDTRBase, vmx.GuestTRBase,
	vmx.GuestESLimit, vmx.GuestCSLimit, vmx.GuestSSLimit, vmx.GuestDSLimit,
	vmx.GuestFSLimit, vmx.GuestGSLimit, vmx.GuestLDTRLimit, vmx.GuestTRLimit,
	vmx.GuestESAccessRights, vmx.GuestCSAccessRights, vmx.GuestSSAccessRights, vmx.GuestDSAccessRights,
	vmx.GuestFSAccessRights, vmx.GuestGSAccessRights, vmx.GuestLDTRAccessRights, vmx.GuestTRAccessRights,
	vmx.GuestGDTRBase, vmx.GuestGDTRLimit, vmx.GuestIDTRBase, vmx.GuestIDTRLimit,
	vmx.GuestInterruptibility, vmx.GuestActivityState,
}

// fxDigestBytes is the part of the FXSAVE image with architectural state:
// the x87 registers and control words, MXCSR, ST0-7 and XMM0-15 (SDM
// Vol. 1 §10.5.1, Table 10-2); the rest is reserved or free for software.
const fxDigestBytes = 416

// digest returns the vCPU, RAM and device digests of this VM now.
func (v *VM) digest() (cpu, ram, devs uint64) {
	h := uint64(fnvOffset)
	for _, x := range (*[16]uint64)(unsafe.Pointer(&v.regs.RAX)) { // the 15 GPRs but RSP, and CR2
		h = mix(h, x)
	}
	for _, f := range digestFields {
		x, _ := vmx.VMREAD(f)
		if f == vmx.GuestRFLAGS {
			x &^= rflagsRF // Bochs 2.7 saves RF inconsistently on some exits
		}
		h = mix(h, x)
	}
	fx := (*[fxDigestBytes / 8]uint64)(unsafe.Pointer(v.regs.GuestFX))
	for _, x := range fx {
		h = mix(h, x)
	}
	t := boot.ThreadTSC()
	ram = v.mem.digest(v.eptp)
	v.stats.DigestTicks += boot.ThreadTSC() - t
	v.stats.PagesHashed += v.mem.Rehashed
	return h, ram, v.pc.Digest(mix(fnvOffset, v.out.hash))
}

// FullDigestTicks measures what a digest of all guest RAM costs, in TSC
// ticks of the calling thread (the reference for the dirty-page digest;
// benchmarks call it once the VM has ended).
func (v *VM) FullDigestTicks() uint64 {
	t := boot.ThreadTSC()
	for i := range v.mem.pages {
		v.mem.rehash(i)
	}
	return boot.ThreadTSC() - t
}

// fingerprint hashes the registers that place an asynchronous stop: the
// GPRs, RIP, RSP and RFLAGS. Two points of a guest's execution with the
// same count and RIP but another fingerprint are not the same point.
func (v *VM) fingerprint() uint64 { return v.fingerprintAt(v.rip()) }

// fingerprintAt is fingerprint with rip for RIP: a debugger's point takes
// the guest's RIP as it is, not the last exit's.
func (v *VM) fingerprintAt(rip uint64) uint64 {
	h := uint64(fnvOffset)
	for _, x := range (*[15]uint64)(unsafe.Pointer(&v.regs.RAX)) {
		h = mix(h, x)
	}
	rsp, _ := vmx.VMREAD(vmx.GuestRSP)
	rflags, _ := vmx.VMREAD(vmx.GuestRFLAGS)
	return mix(mix(mix(h, rip), rsp), rflags&^rflagsRF)
}

// memDigest is the digest of guest RAM, kept per 4 KiB page. With EPT
// accessed and dirty flags the processor marks the pages the guest writes,
// so a digest rehashes only those: it costs what the guest wrote since the
// last one, not all of its RAM. Without them every page is rehashed. The
// page hashes combine by addition, so one page's change updates the sum.
type memDigest struct {
	ram    []byte
	leaves []*uint64 // EPT leaf entry of each page; nil: no dirty flags
	pages  []uint64  // each page's hash, mixed with its number
	sum    uint64
	// track, if set, collects the pages found written (a backup's
	// snapshots: the pages that may differ from their shadow).
	track []uint64
	// Last digest's work, for the benchmark.
	Rehashed uint64
}

const pageSize = 4096

func (d *memDigest) init(ram []byte, t *ept.Tables, dirty bool) error {
	d.ram = ram
	d.pages = make([]uint64, len(ram)/pageSize)
	if dirty {
		var err error
		if d.leaves, err = t.LeafEntries(uint64(len(ram))); err != nil {
			return fmt.Errorf("dirty-page tracking: %w", err)
		}
	}
	for i := range d.pages {
		d.rehash(i)
	}
	return nil
}

// digest returns the RAM digest now.
func (d *memDigest) digest(eptp uint64) uint64 {
	d.Rehashed = 0
	if d.leaves == nil {
		for i := range d.pages {
			d.rehash(i)
		}
		return d.sum
	}
	cleared := false
	for i, e := range d.leaves {
		if *e&ept.Dirty != 0 {
			*e &^= ept.Dirty
			cleared = true
			d.rehash(i)
			if d.track != nil {
				d.track[i/64] |= 1 << (i % 64)
			}
		}
	}
	if cleared {
		// Translations cached with the dirty flag set would not set it
		// again (SDM Vol. 3C §29.4.3.4): flush this EPTP's.
		vmx.INVEPT(invEPTSingleContext, eptp)
	}
	return d.sum
}

const invEPTSingleContext = 1

func (d *memDigest) rehash(i int) {
	words := (*[pageSize / 8]uint64)(unsafe.Pointer(&d.ram[i*pageSize]))
	h := uint64(fnvOffset)
	for _, w := range words {
		h = mix(h, w)
	}
	h = mix(h, uint64(i))
	d.sum += h - d.pages[i]
	d.pages[i] = h
	d.Rehashed++
}

// Pages returns the number of 4 KiB pages of guest RAM.
func (v *VM) Pages() int { return len(v.mem.pages) }
