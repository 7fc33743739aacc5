#include "textflag.h"

// VMX instructions, spelled as bytes: the Go assembler has no mnemonics
// for them. Encodings from SDM Vol. 3C §32 (memory operand [RAX]).
#define VMXON_RAX    BYTE $0xF3; BYTE $0x0F; BYTE $0xC7; BYTE $0x30 // VMXON m64
#define VMCLEAR_RAX  BYTE $0x66; BYTE $0x0F; BYTE $0xC7; BYTE $0x30 // VMCLEAR m64
#define VMPTRLD_RAX  BYTE $0x0F; BYTE $0xC7; BYTE $0x30             // VMPTRLD m64
#define VMREAD_RAX_RCX  BYTE $0x0F; BYTE $0x78; BYTE $0xC8 // VMREAD rax, rcx (rcx = field)
#define VMWRITE_RCX_RAX BYTE $0x0F; BYTE $0x79; BYTE $0xC8 // VMWRITE rcx, rax (rcx = field)
#define VMWRITE_RCX_RDX BYTE $0x0F; BYTE $0x79; BYTE $0xCA // VMWRITE rcx, rdx
#define VMREAD_RDX_RCX  BYTE $0x0F; BYTE $0x78; BYTE $0xCA // VMREAD rdx, rcx (rcx = field)
#define VMLAUNCH     BYTE $0x0F; BYTE $0x01; BYTE $0xC2
#define VMRESUME     BYTE $0x0F; BYTE $0x01; BYTE $0xC3
#define VMXOFF_      BYTE $0x0F; BYTE $0x01; BYTE $0xC4
#define INVEPT_RCX_RAX  BYTE $0x66; BYTE $0x0F; BYTE $0x38; BYTE $0x80; BYTE $0x08 // INVEPT rcx, [rax]
#define INVVPID_RCX_RAX BYTE $0x66; BYTE $0x0F; BYTE $0x38; BYTE $0x81; BYTE $0x08 // INVVPID rcx, [rax]

// STATUS turns RFLAGS after a VMX instruction into a Status in AX:
// CF=1 -> 1 (VMfailInvalid), ZF=1 -> 2 (VMfailValid), else 0.
#define STATUS \
	SETCS BX; SETEQ CX; MOVQ $0, AX; \
	ANDQ $1, BX; ANDQ $1, CX; SHLQ $1, CX; ORQ BX, AX; ORQ CX, AX

TEXT ·vmxon(SB),NOSPLIT,$0-9
	MOVQ ptr+0(FP), AX
	VMXON_RAX
	STATUS
	MOVB AX, ret+8(FP)
	RET

TEXT ·vmclear(SB),NOSPLIT,$0-9
	MOVQ ptr+0(FP), AX
	VMCLEAR_RAX
	STATUS
	MOVB AX, ret+8(FP)
	RET

TEXT ·vmptrld(SB),NOSPLIT,$0-9
	MOVQ ptr+0(FP), AX
	VMPTRLD_RAX
	STATUS
	MOVB AX, ret+8(FP)
	RET

TEXT ·invept(SB),NOSPLIT,$0-17
	MOVQ typ+0(FP), CX
	MOVQ desc+8(FP), AX
	INVEPT_RCX_RAX
	STATUS
	MOVB AX, ret+16(FP)
	RET

TEXT ·invvpid(SB),NOSPLIT,$0-17
	MOVQ typ+0(FP), CX
	MOVQ desc+8(FP), AX
	INVVPID_RCX_RAX
	STATUS
	MOVB AX, ret+16(FP)
	RET

TEXT ·VMXOFF(SB),NOSPLIT,$0-1
	VMXOFF_
	STATUS
	MOVB AX, ret+0(FP)
	RET

TEXT ·VMREAD(SB),NOSPLIT,$0-17
	MOVL f+0(FP), CX
	VMREAD_RAX_RCX
	MOVQ AX, DX
	STATUS
	MOVQ DX, ret+8(FP)
	MOVB AX, ret1+16(FP)
	RET

TEXT ·VMWRITE(SB),NOSPLIT,$0-17
	MOVL f+0(FP), CX
	MOVQ v+8(FP), AX
	VMWRITE_RCX_RAX
	STATUS
	MOVB AX, ret+16(FP)
	RET

// Offsets into GuestRegs.
#define G_CR2 120
#define G_GUESTFX 128
#define G_HOSTFX 136
#define G_EXITREASON 144
#define G_EXITQUAL 152
#define G_EXITRIP 160
#define G_EXITLEN 168
#define G_SLICES 176
#define G_PHASE 184

// SAVE_FIELD reads VMCS field f into the GuestRegs slot off (AX = regs).
#define SAVE_FIELD(f, off) MOVQ f, CX; VMREAD_RDX_RCX; MOVQ DX, off(AX)

#define HOST_RSP $0x6C14

// func enter(regs *GuestRegs, launched bool) Status
//
// Stack while the guest runs (HOST_RSP points at its top):
//	0(SP)  regs
//	8(SP)  caller's BP
//	16(SP) return address; after popping the first two, the result slot
//	       ret+16(FP) is at 24(SP).
//
// Interrupts are off from the first instruction until the exit stub has
// saved the guest's state (CR2 above all: a host page fault in between
// would overwrite it).
TEXT ·enter(SB),NOSPLIT|NOFRAME,$0-17
	CLI
	MOVQ regs+0(FP), AX
	MOVBQZX launched+8(FP), BX
	PUSHQ BP
	PUSHQ AX
	MOVQ HOST_RSP, CX
	MOVQ SP, DX
	VMWRITE_RCX_RDX
	MOVQ G_HOSTFX(AX), DX
	FXSAVE64 (DX)
	MOVQ G_GUESTFX(AX), DX
	FXRSTOR64 (DX)
	MOVQ G_CR2(AX), DX          // CR2 is not part of the VMCS guest state
	MOVQ DX, CR2
	MOVQ 40(AX), DI; MOVQ 48(AX), BP
	MOVQ 56(AX), R8; MOVQ 64(AX), R9; MOVQ 72(AX), R10; MOVQ 80(AX), R11
	MOVQ 88(AX), R12; MOVQ 96(AX), R13; MOVQ 104(AX), R14; MOVQ 112(AX), R15
	MOVQ 16(AX), CX
	CMPQ G_SLICES(AX), $0
	JNE sliced
	MOVQ 32(AX), SI; MOVQ 24(AX), DX
	TESTQ BX, BX
	MOVQ 8(AX), BX              // MOV leaves the flags of TESTQ
	MOVQ 0(AX), AX
	JNE resume
	VMLAUNCH
	JMP failed
resume:
	VMRESUME
	JMP failed

// Slice-aligned entry (GuestRegs.Slices, the slice clock of package hv):
// Bochs 2.7 with two CPUs runs each CPU 5 instructions at a time and
// advances the TSC only between those slices, by 5. Two RDTSCs 4
// instructions apart read the same value only if the first is the
// slice's first instruction and the second its last; from there the
// instructions are counted so that VMLAUNCH/VMRESUME is the last of its
// slice: the guest then runs whole slices, and the preemption timer's
// saved value counts its instructions exactly (hv/clock.go). Only used
// where SliceProbe showed the property holds: elsewhere the loop would
// not end.
sliced:
	TESTQ BX, BX
	MOVQ 8(AX), BX
	JNE slicedResume
	RDTSC
	BYTE $0x90; BYTE $0x90
launchSync:
	MOVL AX, SI
	RDTSC                       // 4 instructions after the previous RDTSC
	CMPL AX, SI
	JNE launchSync              // equal: that RDTSC ended a slice; CMPL began one
	MOVQ 0(SP), AX              // 3rd of the slice
	MOVQ 32(AX), SI             // 4
	MOVQ 24(AX), DX             // 5
	BYTE $0x90; BYTE $0x90; BYTE $0x90 // 6, 7, 8 (NOP)
	MOVQ 0(AX), AX              // 9
	VMLAUNCH                    // 10: the last of its slice
	JMP failed
slicedResume:
	RDTSC
	BYTE $0x90; BYTE $0x90
resumeSync:
	MOVL AX, SI
	RDTSC
	CMPL AX, SI
	JNE resumeSync
	MOVQ 0(SP), AX
	MOVQ 32(AX), SI
	MOVQ 24(AX), DX
	BYTE $0x90; BYTE $0x90; BYTE $0x90
	MOVQ 0(AX), AX
	VMRESUME
	JMP failed

failed:
	// The entry failed as an instruction (SDM §28.1): still the host, with
	// guest values in the registers; only RSP and the flags matter now.
	STATUS
	POPQ BX                     // regs
	POPQ BP
	MOVQ AX, CX
	MOVQ G_GUESTFX(BX), DX      // put the guest's FPU state back
	FXSAVE64 (DX)
	MOVQ G_HOSTFX(BX), DX
	FXRSTOR64 (DX)
	STI
	MOVB CX, ret+16(FP)
	RET

// Host RIP (ExitStub): the processor arrives here on every VM exit with the host
// state of the VMCS loaded, RSP = HOST_RSP, and interrupts disabled
// (RFLAGS = 0x2, SDM §28.5.3).
TEXT ·vmexit(SB),NOSPLIT|NOFRAME,$0
	XCHGQ AX, 0(SP)             //  1: AX = regs; the guest's RAX in its place
	MOVQ BX, 8(AX)              //  2
	MOVQ CX, 16(AX)             //  3
	MOVQ DX, 24(AX)             //  4
	MOVQ SI, 32(AX)             //  5
	MOVQ DI, 40(AX)             //  6
	MOVQ BP, 48(AX)             //  7
	MOVQ R8, 56(AX)             //  8
	MOVQ R9, 64(AX)             //  9
	MOVQ R10, 72(AX)            // 10
	MOVQ R11, 80(AX)            // 11
	MOVQ R12, 88(AX)            // 12
	MOVQ R13, 96(AX)            // 13
	MOVQ R14, 104(AX)           // 14
	MOVQ R15, 112(AX)           // 15
	MOVQ 0(SP), BX              // 16
	MOVQ BX, 0(AX)              // 17
	MOVQ CR2, BX                // 18
	MOVQ BX, G_CR2(AX)          // 19
	CMPQ G_SLICES(AX), $0       // 20
	JEQ saved                   // 21
	// The slice clock: where in its Bochs slice did this exit fall? An
	// exit normally comes at a slice's start, but one for an interrupt
	// Bochs held back while the guest had IF=0 comes right after the
	// guest instruction that let it through (a CLI, STI or POPF), in the
	// middle of a slice. Find the next slice boundary as the entry does
	// (two RDTSCs 4 instructions apart reading the same value) with every
	// instruction since the exit counted: the pair that matches gives the
	// exit's place, so hv knows how many guest instructions ran in its
	// slice (Phase; hv/clock.go). The instruction numbers in the comments
	// count from the exit and must stay as they are.
	MOVQ AX, BX                 // 22: RDTSC takes AX and DX
	RDTSC                       // 23
	BYTE $0x90; BYTE $0x90      // 24, 25
	MOVL AX, SI; RDTSC; CMPL AX, SI; JEQ phase0 // RDTSC at 27: matched, 23 was a slice's first
	MOVL AX, SI; RDTSC; CMPL AX, SI; JEQ phase1 // 31: 27 was
	MOVL AX, SI; RDTSC; CMPL AX, SI; JEQ phase2 // 35
	MOVL AX, SI; RDTSC; CMPL AX, SI; JEQ phase3 // 39
	MOVL AX, SI; RDTSC; CMPL AX, SI; JEQ phase4 // 43
	MOVQ $-1, DI                // no slices here (cannot be: SliceProbe passed)
	JMP measured
phase0:                         // pair k matched: GuestRegs.Phase = k (vmx.SliceOffset)
	MOVQ $0, DI
	JMP measured
phase1:
	MOVQ $1, DI
	JMP measured
phase2:
	MOVQ $2, DI
	JMP measured
phase3:
	MOVQ $3, DI
	JMP measured
phase4:
	MOVQ $4, DI
measured:
	MOVQ DI, G_PHASE(BX)
	MOVQ BX, AX
saved:
	MOVQ 8(SP), BP
	LEAQ 16(SP), SP             // (not POPQ: this stub pushed nothing itself)
	SAVE_FIELD($0x4402, G_EXITREASON) // Exit reason
	SAVE_FIELD($0x6400, G_EXITQUAL)   // Exit qualification
	SAVE_FIELD($0x681E, G_EXITRIP)    // Guest RIP
	SAVE_FIELD($0x440C, G_EXITLEN)    // VM-exit instruction length
	MOVQ G_GUESTFX(AX), DX
	FXSAVE64 (DX)
	MOVQ G_HOSTFX(AX), DX
	FXRSTOR64 (DX)
	STI
	MOVB $0, 24(SP)             // ret+16(FP) of enter: SP is back at its entry value
	RET

// func exitStub() uint64
TEXT ·exitStub(SB),NOSPLIT,$0-8
	MOVQ $·vmexit(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func sliceProbe() bool
//
// The loop of the slice-aligned entry, unrolled 16 times with the same
// 4-instruction spacing between RDTSCs: true if two of them read the same
// value (on Bochs' 5-instruction slices one of any 5 consecutive pairs
// does), false otherwise, where the entry's loop would never end.
// Interrupts are off meanwhile.
#define PROBE_PAIR MOVL AX, SI; RDTSC; CMPL AX, SI; JEQ probeFound
TEXT ·sliceProbe(SB),NOSPLIT,$0-1
	PUSHFQ
	CLI
	MOVL $1, DI
	RDTSC
	BYTE $0x90; BYTE $0x90
	PROBE_PAIR; PROBE_PAIR; PROBE_PAIR; PROBE_PAIR
	PROBE_PAIR; PROBE_PAIR; PROBE_PAIR; PROBE_PAIR
	PROBE_PAIR; PROBE_PAIR; PROBE_PAIR; PROBE_PAIR
	PROBE_PAIR; PROBE_PAIR; PROBE_PAIR; PROBE_PAIR
	MOVL $0, DI
probeFound:
	POPFQ
	MOVB DI, ret+0(FP)
	RET
