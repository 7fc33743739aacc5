#include "textflag.h"

// Boot entry. A multiboot v1 loader (GRUB, QEMU -kernel) jumps to
// multibootEntry in 32-bit protected mode with paging off: EAX = 0x2BADB002,
// EBX = physical address of the multiboot information, ESP undefined
// (Multiboot Specification 0.6.96 §3.2).
//
// Until the far return into start64 this code executes in 32-bit mode but is
// assembled by the Go amd64 assembler, so it uses only instructions whose
// encoding means the same in both modes: no REX prefixes (32-bit registers,
// no R8-R15), no RIP-relative operands. A symbol address is obtained with
// ADDR32: in 32-bit mode "LEAL sym(SB), r" (8D /r disp32, 6 bytes) loads the
// displacement itself, sym - (address of the next instruction), and mbGetPC
// gives the address of the LEAL, so sym = r + pc + 6. TestEntryDecodes32
// disassembles this code in i386 mode to keep the rule honest.
#define ADDR32(sym, r) CALL ·mbGetPC(SB); LEAL sym, r; ADDL BP, r; ADDL $6, r

// Layout of bootScratch (page aligned at run time): PML4, PDPT, four page
// directories mapping 0-4 GiB with 2 MiB pages, then the boot GDT.
#define PML4 0
#define PDPT 4096
#define PD0 8192
#define GDT 24576
#define GDTR 24600

TEXT ·multibootEntry(SB),NOSPLIT|NOFRAME,$0
	CLI
	MOVL AX, SI                 // multiboot magic
	MOVL BX, DI                 // multiboot information
	MOVL $0x7000, SP            // a few bytes of conventional memory for CALL
	RDTSC                       // boot benchmark: TSC at entry, kept at 0x6FF8
	PUSHQ DX                    // (one 4-byte push each in 32-bit mode)
	PUSHQ AX
	ADDR32(·bootScratch(SB), BX)
	ADDL $4095, BX
	ANDL $~4095, BX

	// PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3 (present, writable).
	LEAL (PDPT+3)(BX), AX
	MOVL AX, PML4(BX)
	LEAL (PD0+3)(BX), AX
	MOVL AX, PDPT(BX)
	ADDL $4096, AX
	MOVL AX, (PDPT+8)(BX)
	ADDL $4096, AX
	MOVL AX, (PDPT+16)(BX)
	ADDL $4096, AX
	MOVL AX, (PDPT+24)(BX)

	// 2048 PDEs: 2 MiB page i at physical i<<21, present|writable|PS.
	MOVL $0x83, AX
	LEAL PD0(BX), BP
	MOVL $2048, CX
pde:
	MOVL AX, (BP)
	ADDL $0x200000, AX
	ADDL $8, BP
	DECL CX
	JNE pde

	// GDT: null, 0x08 64-bit code (L=1), 0x10 data.
	MOVL $0x0000FFFF, (GDT+8)(BX)
	MOVL $0x00AF9A00, (GDT+12)(BX)
	MOVL $0x0000FFFF, (GDT+16)(BX)
	MOVL $0x00CF9200, (GDT+20)(BX)
	MOVW $23, GDTR(BX)
	LEAL GDT(BX), AX
	MOVL AX, (GDTR+2)(BX)
	LGDT GDTR(BX)

	// Long mode: CR4.PAE, CR3, EFER.LME, then CR0.PG|PE (SDM Vol. 3A §10.8.5).
	MOVL CR4, AX
	ORL $0x20, AX
	MOVL AX, CR4
	MOVL BX, CR3
	MOVL $0xC0000080, CX
	RDMSR
	ORL $0x100, AX
	WRMSR
	MOVL CR0, AX
	ORL $0x80000001, AX
	MOVL AX, CR0

	// Far return into the 64-bit code segment.
	ADDR32(·start64(SB), DX)
	PUSHQ $0x08
	PUSHQ DX
	RETFL

TEXT ·mbGetPC(SB),NOSPLIT|NOFRAME,$0
	MOVL (SP), BP
	RET

// ENTER_64 is the first thing a CPU does in 64-bit mode: data segments,
// then SSE before any Go code runs, since the ABI wrappers zero X15
// (CR0.EM=0, CR0.MP=1, CR4.OSFXSR|OSXMMEXCPT; SDM Vol. 3A §14.1.3).
#define ENTER_64 \
	MOVL $0x10, AX; MOVW AX, DS; MOVW AX, ES; MOVW AX, SS; MOVW AX, FS; MOVW AX, GS; \
	MOVQ CR0, AX; ANDQ $~4, AX; ORQ $2, AX; MOVQ AX, CR0; \
	MOVQ CR4, AX; ORQ $0x600, AX; MOVQ AX, CR4

// USE_CPU_BLOCK points GS at the cpu block in BX and FS at its kernel TLS
// (cpu.tlsEnd, offset 56; see percpu.go), and marks the CPU as in the
// kernel: a trap from now on is a boot failure.
#define USE_CPU_BLOCK \
	MOVQ BX, AX; MOVQ AX, DX; SHRQ $32, DX; MOVL $0xC0000101, CX; WRMSR; \
	LEAQ 56(BX), AX; MOVQ AX, DX; SHRQ $32, DX; MOVL $0xC0000100, CX; WRMSR; \
	MOVQ $1, 40(BX)

// 64-bit mode from here on, identity-mapped 0-4 GiB.
TEXT ·start64(SB),NOSPLIT|NOFRAME,$0
	ENTER_64
	MOVL SI, SI                 // zero-extend magic and info pointer
	MOVL DI, DI
	LEAQ ·bootStack+32768(SB), SP

	// cpus[0]: the self and g-slot fields initCPUBlock fills for APs.
	LEAQ ·cpus(SB), BX
	MOVQ BX, 0(BX)
	LEAQ 64(BX), AX
	MOVQ AX, 48(BX)
	USE_CPU_BLOCK

	SUBQ $16, SP
	MOVQ SI, 0(SP)
	MOVQ DI, 8(SP)
	CALL ·kmain(SB)
	JMP ·resume(SB)

// Application processors arrive here from apTrampoline (smp.go) in 64-bit
// mode with the kernel's page tables; 0x80D8 holds their cpu block.
TEXT ·apEntry64(SB),NOSPLIT|NOFRAME,$0
	ENTER_64
	MOVQ $0x80D8, BX
	MOVQ (BX), BX
	MOVQ 24(BX), SP
	USE_CPU_BLOCK
	SUBQ $16, SP
	MOVQ BX, 0(SP)
	CALL ·apMain(SB)
	JMP ·resume(SB)

TEXT ·addrAPEntry64(SB),NOSPLIT,$0-8
	MOVQ $·apEntry64(SB), AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·addrMultibootEntry(SB),NOSPLIT,$0-8
	MOVQ $·multibootEntry(SB), AX
	MOVQ AX, ret+0(FP)
	RET
