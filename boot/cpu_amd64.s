#include "textflag.h"

TEXT ·inb(SB),NOSPLIT,$0-9
	MOVW port+0(FP), DX
	INB
	MOVB AX, ret+8(FP)
	RET

TEXT ·outb(SB),NOSPLIT,$0-3
	MOVW port+0(FP), DX
	MOVB v+2(FP), AX
	OUTB
	RET

TEXT ·inl(SB),NOSPLIT,$0-12
	MOVW port+0(FP), DX
	INL
	MOVL AX, ret+8(FP)
	RET

TEXT ·outl(SB),NOSPLIT,$0-8
	MOVW port+0(FP), DX
	MOVL v+4(FP), AX
	OUTL
	RET

TEXT ·cpuid(SB),NOSPLIT,$0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

TEXT ·rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·readCR0(SB),NOSPLIT,$0-8
	MOVQ CR0, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeCR0(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	MOVQ AX, CR0
	RET

TEXT ·readCR2(SB),NOSPLIT,$0-8
	MOVQ CR2, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·readCR3(SB),NOSPLIT,$0-8
	MOVQ CR3, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeCR3(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	MOVQ AX, CR3
	RET

TEXT ·readCR4(SB),NOSPLIT,$0-8
	MOVQ CR4, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeCR4(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	MOVQ AX, CR4
	RET

TEXT ·lgdt(SB),NOSPLIT,$0-8
	MOVQ gdtr+0(FP), AX
	LGDT (AX)
	RET

TEXT ·lidt(SB),NOSPLIT,$0-8
	MOVQ idtr+0(FP), AX
	LIDT (AX)
	RET

TEXT ·ltr(SB),NOSPLIT,$0-2
	MOVW sel+0(FP), AX
	LTR AX
	RET

TEXT ·invlpg(SB),NOSPLIT,$0-8
	MOVQ addr+0(FP), AX
	INVLPG (AX)
	RET

TEXT ·pause(SB),NOSPLIT,$0
	PAUSE
	RET

TEXT ·halt(SB),NOSPLIT,$0
	HLT
	RET

TEXT ·cli(SB),NOSPLIT,$0
	CLI
	RET

TEXT ·sti(SB),NOSPLIT,$0
	STI
	RET

TEXT ·fpuInit(SB),NOSPLIT,$8
	BYTE $0xDB; BYTE $0xE3 // FNINIT
	MOVL $0x1F80, 0(SP)
	LDMXCSR 0(SP)
	RET

// RDRAND can transiently fail (CF=0); retry a few times (SDM Vol. 1 §7.3.17).
TEXT ·rdrand(SB),NOSPLIT,$0-9
	MOVL $10, CX
retry:
	RDRANDQ AX
	JCS got
	DECL CX
	JNE retry
	MOVQ $0, v+0(FP)
	MOVB $0, ok+8(FP)
	RET
got:
	MOVQ AX, v+0(FP)
	MOVB $1, ok+8(FP)
	RET

TEXT ·fxsave(SB),NOSPLIT,$0-8
	MOVQ area+0(FP), AX
	FXSAVE64 (AX)
	RET

TEXT ·rawGetCPU(SB),NOSPLIT,$0-8
	MOVQ 0(GS), AX
	MOVQ AX, ret+0(FP)
	RET

// reloadSegments loads CS through a far return and the data segments with
// selData after LGDT (SDM Vol. 3A §3.4.3).
TEXT ·reloadSegments(SB),NOSPLIT,$0
	MOVL $0x10, AX
	MOVW AX, DS
	MOVW AX, ES
	MOVW AX, SS
	POPQ AX                     // return address
	PUSHQ $0x08
	PUSHQ AX
	RETFQ

TEXT ·imageEnd(SB),NOSPLIT,$0-8
	MOVQ $runtime·end(SB), AX
	MOVQ AX, ret+0(FP)
	RET
