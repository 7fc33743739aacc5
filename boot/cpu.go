package boot

// Privileged x86-64 instructions, one Go declaration per assembly routine in
// cpu_amd64.s. Names follow the Intel SDM mnemonics. All of them are leaf
// routines: safe in trap, syscall and VM-exit context.

// Model-specific registers (SDM Vol. 4, Table 2-2).
const (
	msrIA32_APIC_BASE       = 0x1B
	msrIA32_FEATURE_CONTROL = 0x3A
	msrIA32_EFER            = 0xC0000080
	msrIA32_STAR            = 0xC0000081
	msrIA32_LSTAR           = 0xC0000082
	msrIA32_FMASK           = 0xC0000084
	msrIA32_FS_BASE         = 0xC0000100
	msrIA32_GS_BASE         = 0xC0000101
	msrIA32_KERNEL_GS_BASE  = 0xC0000102
)

// IA32_EFER bits.
const (
	eferSCE = 1 << 0  // SYSCALL enable
	eferLME = 1 << 8  // IA-32e mode enable
	eferNXE = 1 << 11 // execute-disable bit enable
)

// Control register bits (SDM Vol. 3A §2.5).
const (
	cr0PE = 1 << 0
	cr0MP = 1 << 1
	cr0EM = 1 << 2
	cr0TS = 1 << 3
	cr0NE = 1 << 5
	cr0WP = 1 << 16
	cr0NW = 1 << 29
	cr0CD = 1 << 30
	cr0PG = 1 << 31

	cr4PAE        = 1 << 5
	cr4PGE        = 1 << 7
	cr4OSFXSR     = 1 << 9
	cr4OSXMMEXCPT = 1 << 10
	cr4VMXE       = 1 << 13
)

// RFLAGS bits.
const (
	rflagsCF       = 1 << 0
	rflagsReserved = 1 << 1 // always 1
	rflagsTF       = 1 << 8
	rflagsIF       = 1 << 9
	rflagsDF       = 1 << 10
	rflagsNT       = 1 << 14
	rflagsAC       = 1 << 18
)

func inb(port uint16) uint8
func outb(port uint16, v uint8)
func inl(port uint16) uint32
func outl(port uint16, v uint32)
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func rdtsc() uint64
func readCR0() uint64
func writeCR0(v uint64)
func readCR2() uint64
func readCR3() uint64
func writeCR3(v uint64)
func readCR4() uint64
func writeCR4(v uint64)
func lgdt(gdtr uintptr)
func lidt(idtr uintptr)
func ltr(sel uint16)
func invlpg(addr uintptr)
func pause()
func halt() // HLT with interrupts as they are.
func cli()
func sti()
func fpuInit() // FNINIT and MXCSR = 0x1F80
func rdrand() (v uint64, ok bool)
func fxsave(area uintptr)

// rawGetCPU returns the per-CPU block through GS (set once per CPU at start).
func rawGetCPU() uintptr
