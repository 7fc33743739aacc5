#include "textflag.h"

// In x2APIC mode the local APIC's registers are MSRs 0x800-0x8FF (SDM Vol.
// 3A §11.12.1.2).

// func rdmsr(msr uint32) uint64
TEXT ·rdmsr(SB),NOSPLIT,$0-16
	MOVL msr+0(FP), CX
	RDMSR
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+8(FP)
	RET

// func wrmsr(msr uint32, value uint64)
TEXT ·wrmsr(SB),NOSPLIT,$0-16
	MOVL msr+0(FP), CX
	MOVQ value+8(FP), AX
	MOVQ AX, DX
	SHRQ $32, DX
	WRMSR
	RET
