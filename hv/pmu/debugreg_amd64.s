#include "textflag.h"

// Debug-register moves (SDM Vol. 2B, "MOV—Move to/from Debug Registers"):
// privileged leaf routines, safe in VM-exit context. In 64-bit mode the
// move is always 64 bits wide (the disassembler shows MOVL).

TEXT ·readDR0(SB),NOSPLIT,$0-8
	MOVQ DR0, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeDR0(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	MOVQ AX, DR0
	RET

// The Go assembler has no MOV to or from DR1: the bytes are
// MOV RAX, DR1 (0F 21 /r, ModRM C8: reg DR1, r/m RAX) and back (0F 23 /r).
TEXT ·readDR1(SB),NOSPLIT,$0-8
	BYTE $0x0F; BYTE $0x21; BYTE $0xC8
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeDR1(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	BYTE $0x0F; BYTE $0x23; BYTE $0xC8
	RET

TEXT ·readDR2(SB),NOSPLIT,$0-8
	MOVQ DR2, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeDR2(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	MOVQ AX, DR2
	RET

TEXT ·readDR3(SB),NOSPLIT,$0-8
	MOVQ DR3, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeDR3(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	MOVQ AX, DR3
	RET

TEXT ·readDR6(SB),NOSPLIT,$0-8
	MOVQ DR6, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·writeDR6(SB),NOSPLIT,$0-8
	MOVQ v+0(FP), AX
	MOVQ AX, DR6
	RET
