package boot

import "unsafe"

// Segment selectors of the per-CPU GDT. The SYSCALL instruction derives CS
// and SS from IA32_STAR[47:32] (CS) and +8 (SS) (SDM Vol. 2B, SYSCALL).
const (
	selCode = 0x08
	selData = 0x10
	selTSS  = 0x20
)

// Descriptor bits (SDM Vol. 3A §3.4.5, §8.2.3).
const (
	descCode64 = 0x00AF9A000000FFFF // P, DPL0, code exec/read, L=1, G
	descData   = 0x00CF92000000FFFF // P, DPL0, data read/write, D/B, G
	descTSSAvl = 0x9                // 64-bit TSS (available)
	descP      = 1 << 47
)

// IST slots (1-based in the gate descriptor).
const (
	istTrap   = 1 // exceptions and interrupts
	istNMI    = 2
	istDouble = 3 // #DF and #MC
)

// idt is shared by all CPUs: 256 interrupt gates, all with an IST.
var idt [256][2]uint64

type descPtr struct {
	limit uint16
	base  uint64
}

// loadDescriptors installs c's GDT with its TSS, the IDT, and the segment
// registers. Precondition: c was prepared by initCPUBlock.
func loadDescriptors(c *cpu) {
	c.tss.setIST(istTrap, uintptr(unsafe.Pointer(&c.ist[0]))+istSize)
	c.tss.setIST(istNMI, uintptr(unsafe.Pointer(&c.ist[1]))+istSize)
	c.tss.setIST(istDouble, uintptr(unsafe.Pointer(&c.ist[2]))+istSize)
	c.tss[tssIOMapBase] = uint32(unsafe.Sizeof(c.tss)) << 16 // no I/O bitmap

	c.gdt[1] = descCode64
	c.gdt[2] = descData
	base := uint64(uintptr(unsafe.Pointer(&c.tss)))
	limit := uint64(unsafe.Sizeof(c.tss) - 1)
	c.gdt[4] = limit&0xFFFF | (base&0xFFFFFF)<<16 | descTSSAvl<<40 | descP |
		(limit>>16&0xF)<<48 | (base>>24&0xFF)<<56
	c.gdt[5] = base >> 32

	var p [2]uint64 // descPtr packed: limit in the low 16 bits, then the base
	gdt := uint64(uintptr(unsafe.Pointer(&c.gdt)))
	p[0] = uint64(len(c.gdt)*8-1) | gdt<<16
	p[1] = gdt >> 48
	lgdt(uintptr(unsafe.Pointer(&p)))
	reloadSegments()
	ltr(selTSS)

	base = uint64(uintptr(unsafe.Pointer(&idt)))
	p[0] = uint64(len(idt)*16-1) | base<<16
	p[1] = base >> 48
	lidt(uintptr(unsafe.Pointer(&p)))
}

// initIDT fills the shared IDT once: vector n's stub is at vectors + 16n.
func initIDT() {
	stubs := addrVectors()
	for n := range idt {
		h := uint64(stubs) + uint64(n)*16
		ist := uint64(istTrap)
		switch n {
		case 2:
			h = uint64(addrNMIEntry())
			ist = istNMI
		case 8, 18:
			ist = istDouble
		}
		// 64-bit interrupt gate, DPL0, present (SDM Vol. 3A §6.14.1).
		idt[n][0] = h&0xFFFF | selCode<<16 | ist<<32 | 0x8E<<40 | (h>>16&0xFFFF)<<48
		idt[n][1] = h >> 32
	}
}

// checkVectorStubs verifies that every 16-byte slot starts with a PUSHQ
// (0x6A imm8 or 0x68 imm32): the IDT assumes the stubs are evenly spaced.
func checkVectorStubs() bool {
	stubs := addrVectors()
	for n := 0; n < 256; n++ {
		b := *(*byte)(unsafe.Pointer(stubs + uintptr(n)*16))
		if b != 0x6A && b != 0x68 {
			return false
		}
	}
	return true
}

func reloadSegments()
