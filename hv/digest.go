package hv

import (
	"unsafe"

	"hindsight/vmx"
)

// State digests: both replicas hash their vCPU registers, guest RAM and
// the guest's serial output at the same landmarks; the backup compares.

const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
	rflagsRF  = 1 << 16
)

func mix(h, x uint64) uint64 { return (h ^ x) * fnvPrime }

// digest returns the register, memory and output digests of this VM now.
func (v *VM) digest() (regs, mem, out uint64) {
	h := uint64(fnvOffset)
	g := &v.regs
	for _, x := range [...]uint64{g.RAX, g.RBX, g.RCX, g.RDX, g.RSI, g.RDI, g.RBP,
		g.R8, g.R9, g.R10, g.R11, g.R12, g.R13, g.R14, g.R15, g.CR2} {
		h = mix(h, x)
	}
	for _, f := range [...]vmx.Field{vmx.GuestRIP, vmx.GuestRSP, vmx.GuestRFLAGS, vmx.GuestCR0, vmx.GuestCR3, vmx.GuestCR4,
		vmx.GuestInterruptibility} {
		x, _ := vmx.VMREAD(f)
		if f == vmx.GuestRFLAGS {
			x &^= rflagsRF // Bochs 2.7 saves RF inconsistently on some exits
		}
		h = mix(h, x)
	}
	irr, isr, imr := v.pc.PIC.Registers()
	h = mix(h, uint64(irr)|uint64(isr)<<16|uint64(imr)<<32)
	return h, ramDigest(v.ram), v.out.hash
}

// ramDigest hashes guest RAM a word at a time.
func ramDigest(ram []byte) uint64 {
	// ram is a whole number of pages; view it as words.
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(ram))), len(ram)/8)
	h := uint64(fnvOffset)
	for _, w := range words {
		h = mix(h, w)
	}
	return h
}

// verify is the primary's side of a verification point: log the digests.
func (v *VM) verify() {
	if v.cfg.Role != Primary {
		return
	}
	regs, mem, out := v.digest()
	v.logRecord(kindDigest, 0, 0, regs, mem, out)
	v.Verified++
}
