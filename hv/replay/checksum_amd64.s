#include "textflag.h"

TEXT ·cpuidECX1(SB),NOSPLIT,$0-4
	MOVL $1, AX
	XORL CX, CX
	CPUID
	MOVL CX, ret+0(FP)
	RET

TEXT ·checksum(SB),NOSPLIT,$0-12
	CMPB ·haveCRC32Insn(SB), $0
	JEQ table
	JMP ·checksumInsn(SB)
table:
	JMP ·checksumTable(SB)

// CRC-32C of bytes 0-3 and 8-63, as hash/crc32 computes it: start from all
// ones, one CRC32L and seven CRC32Q steps, invert.
TEXT ·checksumInsn(SB),NOSPLIT,$0-12
	MOVQ b+0(FP), SI
	MOVL $0xFFFFFFFF, AX
	CRC32L 0(SI), AX
	CRC32Q 8(SI), AX
	CRC32Q 16(SI), AX
	CRC32Q 24(SI), AX
	CRC32Q 32(SI), AX
	CRC32Q 40(SI), AX
	CRC32Q 48(SI), AX
	CRC32Q 56(SI), AX
	NOTL AX
	MOVL AX, ret+8(FP)
	RET
