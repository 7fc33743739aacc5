#include "textflag.h"

// Entry and exit of the ring-0 layer. Everything runs at CPL0: the Go
// runtime's SYSCALL instructions enter through IA32_LSTAR, interrupts and
// exceptions through IDT gates that all use an IST stack (so the CPU never
// pushes onto a goroutine stack). Each path saves the interrupted state into
// the frame at cpu.cur, switches to the per-CPU kernel stack and kernel FS,
// calls trap (Go), and leaves through resume, which restores whatever frame
// cpu.cur names by then: the scheduler switches threads by changing it.

// Offsets into cpu (percpu.go), reached through GS.
#define CPU_SCRATCH 8
#define CPU_CUR 16
#define CPU_KSTACK 24
#define CPU_KTLS 32
#define CPU_INKERNEL 40

// Offsets into frame (percpu.go).
#define F_VECTOR 120
#define F_ERR 128
#define F_RIP 136
#define F_CS 144
#define F_RFLAGS 152
#define F_RSP 160
#define F_SS 168
#define F_FSBASE 176
#define F_FXPTR 184

#define VEC_SYSCALL 256
#define MSR_FS_BASE $0xC0000100

// SAVE_GPRS stores every general-purpose register but RAX into the frame at
// RAX, then RAX itself from CPU_SCRATCH.
#define SAVE_GPRS \
	MOVQ BX, 8(AX); MOVQ CX, 16(AX); MOVQ DX, 24(AX); MOVQ SI, 32(AX); \
	MOVQ DI, 40(AX); MOVQ BP, 48(AX); MOVQ R8, 56(AX); MOVQ R9, 64(AX); \
	MOVQ R10, 72(AX); MOVQ R11, 80(AX); MOVQ R12, 88(AX); MOVQ R13, 96(AX); \
	MOVQ R14, 104(AX); MOVQ R15, 112(AX); \
	MOVQ CPU_SCRATCH(GS), BX; MOVQ BX, 0(AX)

// One 16-byte IDT entry stub per vector: V for vectors without an error code
// (a zero is pushed in its place), VE for those with one (SDM Vol. 3A §6.13).
// The pushes are spelled as bytes (6A ib: PUSH imm8, 68 id: PUSH imm32)
// because the assembler rejects a function whose PUSHes it cannot balance.
#define V(n) BYTE $0x6A; BYTE $0; BYTE $0x68; LONG $n; JMP trapCommon<>(SB); PCALIGN $16
#define VE(n) BYTE $0x68; LONG $n; JMP trapCommon<>(SB); PCALIGN $16

TEXT ·vectors(SB),NOSPLIT|NOFRAME,$0
	V(0); V(1); V(2); V(3); V(4); V(5); V(6); V(7)
	VE(8); V(9); VE(10); VE(11); VE(12); VE(13); VE(14); V(15)
	V(16); VE(17); V(18); V(19); V(20); VE(21); V(22); V(23)
	V(24); V(25); V(26); V(27); V(28); VE(29); VE(30); V(31)
	V(32); V(33); V(34); V(35); V(36); V(37); V(38); V(39)
	V(40); V(41); V(42); V(43); V(44); V(45); V(46); V(47)
	V(48); V(49); V(50); V(51); V(52); V(53); V(54); V(55)
	V(56); V(57); V(58); V(59); V(60); V(61); V(62); V(63)
	V(64); V(65); V(66); V(67); V(68); V(69); V(70); V(71)
	V(72); V(73); V(74); V(75); V(76); V(77); V(78); V(79)
	V(80); V(81); V(82); V(83); V(84); V(85); V(86); V(87)
	V(88); V(89); V(90); V(91); V(92); V(93); V(94); V(95)
	V(96); V(97); V(98); V(99); V(100); V(101); V(102); V(103)
	V(104); V(105); V(106); V(107); V(108); V(109); V(110); V(111)
	V(112); V(113); V(114); V(115); V(116); V(117); V(118); V(119)
	V(120); V(121); V(122); V(123); V(124); V(125); V(126); V(127)
	V(128); V(129); V(130); V(131); V(132); V(133); V(134); V(135)
	V(136); V(137); V(138); V(139); V(140); V(141); V(142); V(143)
	V(144); V(145); V(146); V(147); V(148); V(149); V(150); V(151)
	V(152); V(153); V(154); V(155); V(156); V(157); V(158); V(159)
	V(160); V(161); V(162); V(163); V(164); V(165); V(166); V(167)
	V(168); V(169); V(170); V(171); V(172); V(173); V(174); V(175)
	V(176); V(177); V(178); V(179); V(180); V(181); V(182); V(183)
	V(184); V(185); V(186); V(187); V(188); V(189); V(190); V(191)
	V(192); V(193); V(194); V(195); V(196); V(197); V(198); V(199)
	V(200); V(201); V(202); V(203); V(204); V(205); V(206); V(207)
	V(208); V(209); V(210); V(211); V(212); V(213); V(214); V(215)
	V(216); V(217); V(218); V(219); V(220); V(221); V(222); V(223)
	V(224); V(225); V(226); V(227); V(228); V(229); V(230); V(231)
	V(232); V(233); V(234); V(235); V(236); V(237); V(238); V(239)
	V(240); V(241); V(242); V(243); V(244); V(245); V(246); V(247)
	V(248); V(249); V(250); V(251); V(252); V(253); V(254); V(255)
	RET

// On the IST stack: vector, error code, RIP, CS, RFLAGS, RSP, SS.
TEXT trapCommon<>(SB),NOSPLIT|NOFRAME,$0
	CMPQ CPU_INKERNEL(GS), $0
	JNE kernelTrap
	MOVQ AX, CPU_SCRATCH(GS)
	MOVQ CPU_CUR(GS), AX
	SAVE_GPRS
	POPQ BX; MOVQ BX, F_VECTOR(AX)
	POPQ BX; MOVQ BX, F_ERR(AX)
	POPQ BX; MOVQ BX, F_RIP(AX)
	POPQ BX; MOVQ BX, F_CS(AX)
	POPQ BX; MOVQ BX, F_RFLAGS(AX)
	POPQ BX; MOVQ BX, F_RSP(AX)
	POPQ BX; MOVQ BX, F_SS(AX)
	JMP enterKernel<>(SB)

kernelTrap:
	// A trap while the kernel itself runs is a bug in this package. Lay the
	// registers out below the hardware frame so that the stack from SP is a
	// frame (rax lowest), and report it. kernelFault does not return.
	PUSHQ R15; PUSHQ R14; PUSHQ R13; PUSHQ R12; PUSHQ R11; PUSHQ R10; PUSHQ R9; PUSHQ R8
	PUSHQ BP; PUSHQ DI; PUSHQ SI; PUSHQ DX; PUSHQ CX; PUSHQ BX; PUSHQ AX
	MOVQ SP, AX
	ANDQ $~15, SP
	SUBQ $16, SP
	MOVQ AX, 0(SP)
	CALL ·kernelFault(SB)
	JMP ·haltForever(SB)

// SYSCALL at CPL0 (SDM Vol. 2B, SYSCALL): RCX = return RIP, R11 = RFLAGS,
// IF/TF/DF/AC cleared by IA32_FMASK, and the stack is still the caller's.
TEXT ·syscallEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ AX, CPU_SCRATCH(GS)
	MOVQ CPU_CUR(GS), AX
	SAVE_GPRS
	MOVQ CX, F_RIP(AX)
	MOVQ R11, F_RFLAGS(AX)
	MOVQ SP, F_RSP(AX)
	MOVQ $0x08, F_CS(AX)
	MOVQ $0x10, F_SS(AX)
	MOVQ $VEC_SYSCALL, F_VECTOR(AX)
	MOVQ $0, F_ERR(AX)
	JMP enterKernel<>(SB)

// RAX = the saved frame.
TEXT enterKernel<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ F_FXPTR(AX), BX
	FXSAVE64 (BX)
	MOVQ $1, CPU_INKERNEL(GS)
	MOVQ CPU_KSTACK(GS), SP
	MOVQ CPU_KTLS(GS), AX
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL MSR_FS_BASE, CX
	WRMSR
	CALL ·trap(SB)
	JMP ·resume(SB)

// resume runs the frame at cpu.cur: the interrupted thread, another one the
// scheduler picked, or the idle loop. Interrupts are off until IRETQ loads
// the frame's RFLAGS; returning with IRETQ rather than POPFQ leaves no
// window in which an interrupt could clobber the frame being restored.
TEXT ·resume(SB),NOSPLIT|NOFRAME,$0
	MOVQ CPU_CUR(GS), SI
	MOVQ F_FSBASE(SI), AX
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL MSR_FS_BASE, CX
	WRMSR
	MOVQ SI, AX
	MOVQ F_FXPTR(AX), BX
	FXRSTOR64 (BX)
	MOVQ $0, CPU_INKERNEL(GS)
	MOVQ CPU_KSTACK(GS), SP
	PUSHQ F_SS(AX)
	PUSHQ F_RSP(AX)
	PUSHQ F_RFLAGS(AX)
	PUSHQ F_CS(AX)
	PUSHQ F_RIP(AX)
	MOVQ 8(AX), BX; MOVQ 16(AX), CX; MOVQ 24(AX), DX; MOVQ 32(AX), SI
	MOVQ 40(AX), DI; MOVQ 48(AX), BP; MOVQ 56(AX), R8; MOVQ 64(AX), R9
	MOVQ 72(AX), R10; MOVQ 80(AX), R11; MOVQ 88(AX), R12; MOVQ 96(AX), R13
	MOVQ 104(AX), R14; MOVQ 112(AX), R15
	MOVQ 0(AX), AX
	IRETQ

// The idle "thread" of every CPU: wait for an interrupt, which enters the
// kernel and lets the scheduler pick work. STI's interrupt shadow makes
// STI; HLT atomic, so a wakeup cannot slip in between.
TEXT ·idleLoop(SB),NOSPLIT|NOFRAME,$0
again:
	STI
	HLT
	JMP again

// NMI (IST2): used only to stop every CPU after a fatal error.
TEXT ·nmiEntry(SB),NOSPLIT|NOFRAME,$0
	CMPL ·stopAll(SB), $0
	JNE stop
	IRETQ
stop:
	// A CPU that parked itself first (lock) and is woken from haltForever
	// by the NMI is not counted again. 0(SP) is the interrupted RIP
	// (SDM Vol. 3A Figure 6-9); haltForever is 4 bytes long.
	MOVQ 0(SP), AX
	LEAQ ·haltForever(SB), CX
	SUBQ CX, AX
	CMPQ AX, $16
	JB parked
	JMP ·parkStopped(SB)
parked:
	JMP ·haltForever(SB)

// parkStopped counts the calling CPU in stoppedCPUs and halts it for good.
TEXT ·parkStopped(SB),NOSPLIT|NOFRAME,$0
	LOCK
	INCL ·stoppedCPUs(SB)
	JMP ·haltForever(SB)

// func raiseNMI()
// INT 2 runs the NMI handler as if an NMI had arrived: for an NMI that a
// VM exit took instead of the host (SDM Vol. 3C §27.1, "NMI exiting").
TEXT ·raiseNMI(SB),NOSPLIT,$0-0
	INT $2
	RET

TEXT ·haltForever(SB),NOSPLIT|NOFRAME,$0
	CLI
again:
	HLT
	JMP again

TEXT ·addrIdleLoop(SB),NOSPLIT,$0-8
	MOVQ $·idleLoop(SB), AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·addrSyscallEntry(SB),NOSPLIT,$0-8
	MOVQ $·syscallEntry(SB), AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·addrVectors(SB),NOSPLIT,$0-8
	MOVQ $·vectors(SB), AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·addrNMIEntry(SB),NOSPLIT,$0-8
	MOVQ $·nmiEntry(SB), AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·addrRuntimeEntry(SB),NOSPLIT,$0-8
	MOVQ $_rt0_amd64_linux(SB), AX
	MOVQ AX, ret+0(FP)
	RET
