#include "textflag.h"

// Offsets into clk (clock.go; TestClockLayout).
#define CLK_TSC0 8
#define CLK_NSMULT 16
#define CLK_REALTIME0 32

// int __vdso_clock_gettime(clockid_t clock, struct timespec *ts), System V
// ABI: clock in DI, ts in SI, result in AX. It computes what
// sysClockGettimeImpl does: ns = (TSC - tsc0) * nsMult >> 32, plus the
// boot-time wall clock for CLOCK_REALTIME; other clocks take the system call.
TEXT ·vdsoClockGettime(SB),NOSPLIT|NOFRAME,$0
	CMPQ DI, $1
	JHI syscall
	RDTSC
	SHLQ $32, DX
	ORQ DX, AX
	SUBQ ·clk+CLK_TSC0(SB), AX
	MULQ ·clk+CLK_NSMULT(SB)
	SHRQ $32, AX
	SHLQ $32, DX
	ORQ DX, AX
	TESTQ DI, DI
	JNE split
	ADDQ ·clk+CLK_REALTIME0(SB), AX
split:
	MOVQ $1000000000, CX
	XORL DX, DX
	DIVQ CX
	MOVQ AX, 0(SI)
	MOVQ DX, 8(SI)
	XORL AX, AX
	RET
syscall:
	MOVL $228, AX               // SYS_clock_gettime
	SYSCALL
	RET

TEXT ·addrVDSOClockGettime(SB),NOSPLIT,$0-8
	MOVQ $·vdsoClockGettime(SB), AX
	MOVQ AX, ret+0(FP)
	RET
