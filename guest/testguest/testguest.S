# testguest.S - the small 64-bit test guest of hindsight.
#
# Assembled with `as --64` and linked to a flat binary at guest-physical
# 0x100000 (see build.sh). The contract with the hypervisor (entry state,
# memory, ports, modes, output lines, exit statuses) is documented in
# testguest.go; the constants there must match the .equ lines below (TestConstantsMatchSource
# checks them).
#
# Layout of the image:
#   0x100000  code (text subsection 0), then strings and tables (subsection 1)
#   0x102000  data page (subsection 2): IDT, variables, serial receive ring
# Memory outside the image that the guest uses:
#   0x070000-0x07FFFF  stack (RSP = 0x80000 at entry, grows down)
#   0x200000-0x2FFFFF  mode 0 work buffer (1 MiB)
#   0x300000-0x30FFFF  mode 2 work buffer (64 KiB)
#   0x400000-0x47FFFF  mode 5 REP buffers A and B (256 KiB each)
# Nothing else below 0x100000 is read or written by the guest.
#
# Register convention: helpers (putc, puts, puthex, putdec, ...) may clobber
# RAX, RCX, RDX, RSI, RDI, R8-R11 (the SysV caller-saved set) and preserve
# RBX, RBP, R12-R15, which hold the state of the main loops.

	.intel_syntax noprefix
	.code64

# ---------------------------------------------------------------------------
# Constants (keep in sync with testguest.go)

	.equ LOAD_ADDR,      0x100000
	.equ DATA_OFFSET,    0x2000		# data page at LOAD_ADDR + 0x2000

	# COM1: 16550 UART
	.equ COM1,           0x3F8
	.equ COM1_RBR,       COM1 + 0		# receiver buffer (read, DLAB=0)
	.equ COM1_THR,       COM1 + 0		# transmitter holding (write, DLAB=0)
	.equ COM1_IER,       COM1 + 1		# interrupt enable
	.equ COM1_MCR,       COM1 + 4		# modem control
	.equ COM1_LSR,       COM1 + 5		# line status
	.equ LSR_DR,         0x01		# LSR bit 0: data ready
	.equ LSR_THRE,       0x20		# LSR bit 5: THR empty
	.equ IER_ERBFI,      0x01		# IER bit 0: received data available interrupt
	.equ MCR_DTR_RTS_OUT2, 0x0B		# MCR: DTR, RTS, OUT2 (OUT2 gates IRQ4 on a PC)

	# 8259A PIC pair
	.equ PIC1_CMD,       0x20
	.equ PIC1_DATA,      0x21
	.equ PIC2_CMD,       0xA0
	.equ PIC2_DATA,      0xA1
	.equ PIC_EOI,        0x20		# OCW2: non-specific EOI
	.equ IRQ_BASE1,      0x20		# IRQ0-7  -> vectors 0x20-0x27
	.equ IRQ_BASE2,      0x28		# IRQ8-15 -> vectors 0x28-0x2F
	.equ PIC1_MASK,      0xEE		# OCW1: only IRQ0 (PIT) and IRQ4 (COM1) unmasked
	.equ PIC2_MASK,      0xFF		# OCW1: all slave IRQs masked

	# 8254 PIT, channel 0
	.equ PIT_CH0,        0x40
	.equ PIT_CMD,        0x43
	.equ PIT_MODE2,      0x34		# channel 0, lobyte/hibyte, mode 2 (rate generator), binary
	.equ PIT_DIVISOR,    1193		# 1193182 Hz / 1193 = 1000.15 Hz
	.equ PIT_INPUT_HZ,   1193182		# the 8254's input clock on a PC
	.equ PIT_LATCH0,     0x00		# counter latch command, channel 0 (8254 datasheet: SC=00, RW=00)

	# Other ports
	.equ POST_PORT,      0x80		# POST code port: a cheap synchronous exit
	.equ CMOS_INDEX,     0x70		# CMOS RTC register select
	.equ CMOS_DATA,      0x71
	.equ CMOS_SECONDS,   0x00
	.equ CMOS_MINUTES,   0x02
	.equ CMOS_HOURS,     0x04
	.equ EXIT_PORT,      0x501		# guest exit: 32-bit write ends the VM

	# Exit statuses
	.equ EXIT_OK,              0
	.equ EXIT_BAD_MODE,        1
	.equ EXIT_RDTSC_BACKWARDS, 2
	.equ EXIT_NO_TRIPLE_FAULT, 3
	.equ EXIT_BAD_PARAM,       4		# mode 5: param out of range
	.equ EXIT_SHADOW_BROKEN,   5		# mode 5: an interrupt was taken inside an STI shadow
	.equ EXIT_EXCEPTION,       0x40		# + vector

	# The computation
	.equ FNV_OFFSET,     0xcbf29ce484222325	# FNV-1a 64-bit offset basis
	.equ FNV_PRIME,      0x100000001b3	# FNV-1a 64-bit prime
	.equ SEED0,          0x9E3779B97F4A7C15	# xorshift seed, mode 0
	.equ SEED2,          0xD1B54A32D192ED03	# xorshift seed, mode 2
	.equ BUF0,           0x200000		# mode 0 buffer: 1 MiB
	.equ BUF0_MASK,      (0x100000 / 8) - 1	# qword index mask (131071)
	.equ BUF2,           0x300000		# mode 2 buffer: 64 KiB
	.equ BUF2_MASK,      (0x10000 / 8) - 1	# qword index mask (8191)
	.equ MODE0_DEFAULT,  300000		# mode 0 iterations when param = 0
	.equ MODE2_DEFAULT,  500000		# mode 2 iterations when param = 0

	# Mode 2 loop cadence (iteration counts; powers of two)
	.equ SYNC_EVERY,     128		# OUT to POST_PORT
	.equ MIX_EVERY,      1024		# RDTSC + tick count + IRQ hash mixed in
	.equ WAIT_EVERY,     2048		# STI;HLT until the next timer tick
	.equ PRINT_TICKS,    100		# tick line every 100 timer ticks

	.equ IDT_VECTORS,    49			# 0x00-0x30
	.equ SOFT_VECTOR,    0x30		# mode 5: INT 0x30 through a trap gate
	.equ GATE_INTERRUPT, 0x8E		# IDT gate byte 5: P=1, DPL=0, type 0xE (64-bit interrupt gate)
	.equ GATE_TRAP,      0x8F		# P=1, DPL=0, type 0xF (64-bit trap gate: IF is not cleared)
	.equ RFLAGS_IF,      0x200		# RFLAGS bit 9

	# Mode 5 (exact asynchronous events). Work per phase: param bits 31:0
	# rounds (0 = ASYNC_DEFAULT_ROUNDS); every phase goes on past its rounds
	# until it has taken ASYNC_MIN_TICKS timer interrupts.
	.equ ASYNC_DEFAULT_ROUNDS, 2
	.equ ASYNC_MIN_TICKS,      4
	.equ ASYNC_MIN_DIVISOR,    2		# the 8254 rate generator cannot count 1
	.equ ASYNC_SPIN_TICKS,     4		# spin phase: ticks waited per round
	.equ ASYNC_BUF,            0x400000	# rep phase: buffer A, then B at + ASYNC_LEN
	.equ ASYNC_LEN,            0x40000	# 256 KiB: bytes per REP operation
	.equ SHADOW_ITERS,         1024		# shadow phase iterations per round (power of two)
	.equ SHADOW_WORK,          32		# WORK steps per IF=0 stretch
	.equ NESTED_CALLS,         128		# nested phase INT 0x30 per round (power of two)
	.equ NESTED_OUTER_WORK,    8		# WORK steps between two INT 0x30
	.equ NESTED_SPINS,         512		# steps inside each INT 0x30 handler
	.equ NESTED_BP_EVERY,      64		# an INT3 every 64 steps in there (power of two)
	.equ UD_ITERS,             16384	# ud phase UD2s per round (power of two)
	.equ UD_WORK,              4		# WORK steps between two UD2s
	.equ CLOCK_ITERS,          128		# clock phase clock reads per round (power of two)
	.equ CLOCK_SPAN,           1024		# inner loop: 64 + (hash bits & 1023) steps (power of two)
	.equ CLOCK_MIN,            64
	.equ SEED5,                0xA0761D6478BD642F	# xorshift seed, mode 5

# ---------------------------------------------------------------------------
# Macros

# PUTS "text": print a string literal (escapes such as \n allowed).
.macro PUTS str:req
	.text 1
.Lstr\@:
	.asciz "\str"
	.text 0
	lea	rsi, [rip + .Lstr\@]
	call	puts
.endm

# MIX reg: r14 (running checksum) = (r14 ^ reg) * FNV_PRIME (RBP holds the prime).
.macro MIX reg:req
	xor	r14, \reg
	imul	r14, rbp
.endm

# XORSHIFT: one step of Marsaglia's xorshift64 (13, 7, 17) on R15; clobbers RAX.
.macro XORSHIFT
	mov	rax, r15
	shl	rax, 13
	xor	r15, rax
	mov	rax, r15
	shr	rax, 7
	xor	r15, rax
	mov	rax, r15
	shl	rax, 17
	xor	r15, rax
.endm

# STEP mask: one iteration of the memory-mixing kernel shared by modes 0 and 2
# (Checksum0 in testguest.go is the same function):
#   x = xorshift64(x); idx = x & mask; v = buf[idx]
#   buf[idx] = rotl64(v ^ h, 23) + i;  h = (h ^ v ^ x) * FNV_PRIME;  i++
# State: RBX = buf, R12 = i, R14 = h, R15 = x, RBP = FNV_PRIME.
# Clobbers RAX, RCX, RDX. 21 instructions.
.macro STEP mask:req
	XORSHIFT
	mov	rcx, r15
	and	ecx, \mask
	mov	rax, [rbx + rcx*8]		# v
	mov	rdx, rax
	xor	rdx, r14
	rol	rdx, 23
	add	rdx, r12
	mov	[rbx + rcx*8], rdx		# buf[idx] = rotl(v ^ h, 23) + i
	xor	r14, rax
	xor	r14, r15
	imul	r14, rbp			# h = (h ^ v ^ x) * prime
	inc	r12
.endm

# WORK n: mode 5's exit-free filler: n steps of x = xorshift64(x) mixed into
# the phase hash (R15 = x, R14 = hash, RBP = FNV_PRIME), RCX counting down.
# 13 instructions a step. Clobbers RAX, RCX.
.macro WORK n:req
	mov	ecx, \n
.Lwork\@:
	XORSHIFT
	MIX	r15
	dec	ecx
	jnz	.Lwork\@
.endm

# NEXT_ROUND label: a mode 5 phase finished a round; back to label until the
# phase has done R13 rounds and taken ASYNC_MIN_TICKS timer interrupts (the
# tick count is a plain memory read: no exit). Clobbers RAX.
.macro NEXT_ROUND label:req
	inc	qword ptr [rip + phase_rounds]
	mov	rax, [rip + phase_rounds]
	cmp	rax, r13
	jb	\label
	cmp	qword ptr [rip + phase_ticks], ASYNC_MIN_TICKS
	jb	\label
.endm

# ---------------------------------------------------------------------------
# Entry: 64-bit mode, CPL0, RFLAGS = 0x2, RSP = 0x80000, RDI = mode, RSI = param.

	.text 0
	.globl	_start
_start:
	cld
	mov	[rip + mode], rdi
	mov	[rip + param], rsi
	call	idt_init

	PUTS	"testguest: mode "
	mov	rax, [rip + mode]
	call	putdec
	PUTS	" start\n"

	mov	rax, [rip + mode]
	cmp	rax, 0
	je	mode0
	cmp	rax, 1
	je	mode1
	cmp	rax, 2
	je	mode2
	cmp	rax, 3
	je	mode3
	cmp	rax, 4
	je	mode4
	cmp	rax, 5
	je	mode5
	cmp	rax, 6
	je	mode6
	PUTS	"testguest: unknown mode\n"
	mov	edi, EXIT_BAD_MODE
	jmp	guest_exit

# ---------------------------------------------------------------------------
# Mode 0: VMX bring-up. CPUID 0 and 1, RDTSC twice, a 1 MiB memory
# computation, exit 0.

mode0:
	# CPUID leaf 0: vendor string in EBX, EDX, ECX.
	xor	eax, eax
	xor	ecx, ecx
	cpuid
	mov	[rip + vendor + 0], ebx
	mov	[rip + vendor + 4], edx
	mov	[rip + vendor + 8], ecx
	mov	byte ptr [rip + vendor + 12], 0
	PUTS	"testguest: cpuid vendor "
	lea	rsi, [rip + vendor]
	call	puts
	PUTS	"\n"

	# CPUID leaf 1: version, features.
	mov	eax, 1
	xor	ecx, ecx
	cpuid
	mov	r12d, ebx
	mov	r13d, ecx
	mov	r14d, edx
	mov	r15d, eax
	PUTS	"testguest: cpuid 1 eax 0x"
	mov	eax, r15d
	call	puthex32
	PUTS	" ebx 0x"
	mov	eax, r12d
	call	puthex32
	PUTS	" ecx 0x"
	mov	eax, r13d
	call	puthex32
	PUTS	" edx 0x"
	mov	eax, r14d
	call	puthex32
	PUTS	"\n"

	# RDTSC twice: the values differ between runs and VMs, so only the
	# order is printed.
	mov	dword ptr [rip + status], EXIT_OK
	rdtsc
	shl	rdx, 32
	or	rax, rdx
	mov	r12, rax
	rdtsc
	shl	rdx, 32
	or	rax, rdx
	cmp	rax, r12
	jb	1f
	PUTS	"testguest: rdtsc monotonic\n"
	jmp	2f
1:	PUTS	"testguest: rdtsc went backwards\n"
	mov	dword ptr [rip + status], EXIT_RDTSC_BACKWARDS
2:
	# The deterministic computation over a 1 MiB buffer.
	mov	r13, [rip + param]
	test	r13, r13
	jnz	3f
	mov	r13, MODE0_DEFAULT
3:	PUTS	"testguest: iterations "
	mov	rax, r13
	call	putdec
	PUTS	"\n"

	mov	rbx, BUF0
	mov	rbp, FNV_PRIME
	mov	r15, SEED0
	# Fill: buf[k] = successive xorshift values (touches all 256 4K pages).
	xor	ecx, ecx
4:	XORSHIFT
	mov	[rbx + rcx*8], r15
	inc	ecx
	cmp	ecx, BUF0_MASK + 1
	jb	4b
	# Mix: n iterations of STEP at random qword indices.
	xor	r12d, r12d
	mov	r14, FNV_OFFSET
	test	r13, r13
	jz	6f
5:	STEP	BUF0_MASK
	cmp	r12, r13
	jb	5b
6:	PUTS	"testguest: checksum 0x"
	mov	rax, r14
	call	puthex64
	PUTS	"\n"

	PUTS	"testguest: done\n"
	mov	edi, [rip + status]
	jmp	guest_exit

# ---------------------------------------------------------------------------
# Mode 1: triple fault. An IDT with limit 0 makes INT3 fault (#GP), the #GP
# fault (#DF), and the #DF shut the processor down (triple fault).

mode1:
	PUTS	"testguest: triple fault next\n"
	lidt	[rip + empty_idtr]
	int3
	# Not reached.
	PUTS	"testguest: no triple fault\n"
	mov	edi, EXIT_NO_TRIPLE_FAULT
	jmp	guest_exit

# ---------------------------------------------------------------------------
# Mode 3: what the hypervisor does not model. A read and a write of COM2's
# port 0x2F8 (no device there: reads must give all ones), then RDMSR of an
# MSR no model covers, which must raise #GP: the exception handler prints it
# and exits with EXIT_EXCEPTION + 13.

# ---------------------------------------------------------------------------
# Mode 4: spin with interrupts disabled and never exit: the guest makes no
# VM exit of its own, so the CPU is in the guest whenever the host looks.

mode4:
	PUTS	"testguest: spinning\n"
	cli
1:	jmp	1b

# ---------------------------------------------------------------------------
# Mode 6: halt for good. CLI; HLT is the end of a VM, as a real processor
# stays halted: no exit status is written.

mode6:
	PUTS	"testguest: halting\n"
	jmp	halt_forever

mode3:
	mov	dx, 0x2F8
	in	al, dx
	cmp	al, 0xFF
	jne	1f
	PUTS	"testguest: unclaimed port reads all ones\n"
	jmp	2f
1:	PUTS	"testguest: unclaimed port read something\n"
2:	out	dx, al
	PUTS	"testguest: rdmsr next\n"
	mov	ecx, 0xC0011020
	rdmsr
	PUTS	"testguest: rdmsr did not fault\n"
	mov	edi, EXIT_OK
	jmp	guest_exit

# ---------------------------------------------------------------------------
# Mode 2: deterministic replay test. Timer (IRQ0) and COM1 receive (IRQ4)
# interrupts; a long computation whose checksum mixes in RDTSC values, the
# tick count, and a hash of where each interrupt hit (RIP, R12) and of every
# received byte.

mode2:
	xor	eax, eax
	mov	[rip + ticks], rax
	mov	[rip + irqhash], rax
	mov	[rip + rx_head], rax
	mov	[rip + rx_tail], rax
	mov	[rip + rx_count], rax
	mov	[rip + rx_dropped], rax
	mov	[rip + stray_irqs], rax
	mov	[rip + hlts], rax
	mov	qword ptr [rip + next_print], PRINT_TICKS

	mov	r13, [rip + param]
	test	r13, r13
	jnz	1f
	mov	r13, MODE2_DEFAULT
1:	PUTS	"testguest: iterations "
	mov	rax, r13
	call	putdec
	PUTS	"\n"
	call	rtc_print

	call	pic_init
	call	pit_init
	# COM1: OUT2 on (routes the UART interrupt to the PIC), then
	# received-data interrupts on.
	mov	dx, COM1_MCR
	mov	al, MCR_DTR_RTS_OUT2
	out	dx, al
	mov	dx, COM1_IER
	mov	al, IER_ERBFI
	out	dx, al

	# Work buffer: deterministic initial contents (64 KiB).
	mov	rbx, BUF2
	mov	rbp, FNV_PRIME
	mov	r15, SEED2
	xor	ecx, ecx
2:	XORSHIFT
	mov	[rbx + rcx*8], r15
	inc	ecx
	cmp	ecx, BUF2_MASK + 1
	jb	2b

	xor	r12d, r12d
	mov	r14, FNV_OFFSET
	PUTS	"testguest: interrupts on\n"
	sti

	test	r13, r13
	jz	.Lm2_end
.Lm2_loop:
	STEP	BUF2_MASK
	test	r12d, SYNC_EVERY - 1
	jnz	.Lm2_next
	# Every SYNC_EVERY iterations (~3,200 instructions): a synchronous exit.
	mov	eax, r14d
	out	POST_PORT, al
	test	r12d, MIX_EVERY - 1
	jnz	.Lm2_next
	call	sync_point
	test	r12d, WAIT_EVERY - 1
	jnz	.Lm2_next
	call	wait_tick
.Lm2_next:
	cmp	r12, r13
	jb	.Lm2_loop

.Lm2_end:
	cli
	# Final mix: tick count and IRQ hash (no RDTSC, so the final line is
	# reproducible wherever the IRQs are).
	mov	r12, [rip + ticks]
	MIX	r12
	mov	rax, [rip + irqhash]
	MIX	rax
	call	drain_rx
	PUTS	"testguest: rx total "
	mov	rax, [rip + rx_count]
	call	putdec
	PUTS	"\n"
	cmp	qword ptr [rip + rx_dropped], 0
	je	3f
	PUTS	"testguest: rx dropped "
	mov	rax, [rip + rx_dropped]
	call	putdec
	PUTS	"\n"
3:	cmp	qword ptr [rip + stray_irqs], 0
	je	4f
	PUTS	"testguest: stray irqs "
	mov	rax, [rip + stray_irqs]
	call	putdec
	PUTS	"\n"
4:	PUTS	"testguest: hlts "
	mov	rax, [rip + hlts]
	call	putdec
	PUTS	"\n"
	PUTS	"testguest: irq hash 0x"
	mov	rax, [rip + irqhash]
	call	puthex64
	PUTS	"\n"
	PUTS	"testguest: final ticks "
	mov	rax, r12
	call	putdec
	PUTS	" checksum 0x"
	mov	rax, r14
	call	puthex64
	PUTS	"\n"
	call	rtc_print
	PUTS	"testguest: done\n"
	mov	edi, EXIT_OK
	jmp	guest_exit

# rtc_print: print the CMOS clock as "testguest: rtc HH:MM:SS", the
# registers as stored (BCD digits by default). Each read is a port exit;
# with a clock in real time the primary logs it for the backup.
# Clobbers RAX, RCX, RDX, RSI, R8, R9.
rtc_print:
	PUTS	"testguest: rtc "
	mov	al, CMOS_HOURS
	call	rtc_put
	PUTS	":"
	mov	al, CMOS_MINUTES
	call	rtc_put
	PUTS	":"
	mov	al, CMOS_SECONDS
	call	rtc_put
	PUTS	"\n"
	ret

# rtc_put: print CMOS register AL as two hex digits.
rtc_put:
	out	CMOS_INDEX, al
	in	al, CMOS_DATA
	movzx	eax, al
	mov	ecx, 2
	jmp	puthex

# sync_point: every MIX_EVERY iterations. Mixes RDTSC, the tick count and the
# IRQ hash into R14, echoes received bytes, and prints a tick line when
# another PRINT_TICKS ticks have passed.
sync_point:
	rdtsc
	shl	rdx, 32
	or	rax, rdx
	MIX	rax
	mov	rdi, [rip + ticks]		# one snapshot, used for mix and line
	MIX	rdi
	mov	rax, [rip + irqhash]
	MIX	rax
	push	rdi
	call	drain_rx
	pop	rdi
	cmp	rdi, [rip + next_print]
	jb	2f
	push	rdi
	PUTS	"testguest: tick "
	mov	rax, [rsp]
	call	putdec
	PUTS	" checksum 0x"
	mov	rax, r14
	call	puthex64
	PUTS	"\n"
	pop	rdi
	mov	rax, [rip + next_print]
1:	add	rax, PRINT_TICKS
	cmp	rax, rdi
	jbe	1b
	mov	[rip + next_print], rax
2:	ret

# wait_tick: sleep until the timer tick count changes. STI's interrupt
# shadow covers the HLT, so an interrupt that became pending before the STI is
# taken only once the HLT has begun (it wakes the HLT and is never lost
# between the check and the HLT).
wait_tick:
	cli
	mov	rax, [rip + ticks]
1:	inc	qword ptr [rip + hlts]
	sti
	hlt
	cli
	cmp	rax, [rip + ticks]
	je	1b
	sti
	ret

# drain_rx: print each byte the COM1 handler queued as "testguest: rx 0xNN".
drain_rx:
	push	rbx
1:	mov	rbx, [rip + rx_tail]
	cmp	rbx, [rip + rx_head]
	je	2f
	PUTS	"testguest: rx 0x"
	lea	rax, [rip + rx_ring]
	movzx	ecx, bl
	movzx	eax, byte ptr [rax + rcx]
	mov	ecx, 2
	call	puthex
	PUTS	"\n"
	inc	rbx
	mov	[rip + rx_tail], rbx
	jmp	1b
2:	pop	rbx
	ret

# pic_init: ICW1-ICW4 to both 8259As, remapping IRQ0-7 to 0x20-0x27 and
# IRQ8-15 to 0x28-0x2F, then the masks.
pic_init:
	mov	al, 0x11			# ICW1: edge triggered, cascade, ICW4 follows
	out	PIC1_CMD, al
	out	PIC2_CMD, al
	mov	al, IRQ_BASE1			# ICW2: vector base
	out	PIC1_DATA, al
	mov	al, IRQ_BASE2
	out	PIC2_DATA, al
	mov	al, 0x04			# ICW3 (master): slave on IRQ2
	out	PIC1_DATA, al
	mov	al, 0x02			# ICW3 (slave): cascade identity 2
	out	PIC2_DATA, al
	mov	al, 0x01			# ICW4: 8086 mode, normal EOI
	out	PIC1_DATA, al
	out	PIC2_DATA, al
	mov	al, PIC1_MASK			# OCW1: masks
	out	PIC1_DATA, al
	mov	al, PIC2_MASK
	out	PIC2_DATA, al
	ret

# pit_init: channel 0, mode 2, 1000 Hz.
pit_init:
	mov	eax, PIT_DIVISOR
# pit_program: channel 0, mode 2 (rate generator), divisor AX (low byte
# first). Clobbers RAX, RDX.
pit_program:
	mov	edx, eax
	mov	al, PIT_MODE2
	out	PIT_CMD, al
	mov	al, dl
	out	PIT_CH0, al
	mov	al, dh
	out	PIT_CH0, al
	ret

# ---------------------------------------------------------------------------
# Mode 5: exact asynchronous events. The PIT ticks at the rate param asks
# for and six phases run with interrupts enabled, none of which makes a VM
# exit of its own inside it (phase clock's clock reads aside: they are its
# point); each timer interrupt mixes where it landed (RIP, RFLAGS, RCX, RSI,
# RDI, R12) into the phase's hash, so a tick one instruction (or one REP
# iteration) elsewhere prints another hash. Output happens only between
# phases, with interrupts disabled.
# State: R13 = rounds, R12 = the phase's loop counter, R14 = the phase's own
# result (a hash), R15 = xorshift state, RBP = FNV_PRIME.

mode5:
	# param = rounds (bits 31:0, 0 = default) | PIT divisor << 32 (bits
	# 47:32, 0 = 1193); bits 63:48 must be zero.
	mov	rax, [rip + param]
	mov	rcx, rax
	shr	rcx, 48
	jnz	.Lm5_bad_param
	mov	rcx, rax
	shr	rcx, 32
	jnz	1f
	mov	ecx, PIT_DIVISOR
1:	cmp	ecx, ASYNC_MIN_DIVISOR
	jb	.Lm5_bad_param
	mov	[rip + divisor], rcx
	mov	r13d, eax
	test	r13, r13
	jnz	2f
	mov	r13d, ASYNC_DEFAULT_ROUNDS
2:	PUTS	"testguest: async rounds "
	mov	rax, r13
	call	putdec
	PUTS	" divisor "
	mov	rax, [rip + divisor]
	call	putdec
	PUTS	" hz "
	mov	eax, PIT_INPUT_HZ
	xor	edx, edx
	div	qword ptr [rip + divisor]
	call	putdec
	PUTS	"\n"

	xor	eax, eax
	mov	[rip + ticks], rax
	mov	[rip + rx_count], rax
	mov	[rip + stray_irqs], rax
	mov	[rip + bps], rax
	mov	[rip + uds], rax
	mov	[rip + status], rax		# EXIT_OK
	mov	rax, FNV_OFFSET
	mov	[rip + digest], rax

	# Mode 5's own handlers: timer and COM1 interrupts hash where they
	# land; #BP returns; #UD skips a UD2; INT 0x30 through a trap gate.
	mov	edi, IRQ_BASE1
	lea	rsi, [rip + irq_async_timer]
	mov	edx, GATE_INTERRUPT
	call	idt_set
	mov	edi, IRQ_BASE1 + 4
	lea	rsi, [rip + irq_async_com1]
	mov	edx, GATE_INTERRUPT
	call	idt_set
	mov	edi, 3
	lea	rsi, [rip + bp_return]
	mov	edx, GATE_INTERRUPT
	call	idt_set
	mov	edi, 6
	lea	rsi, [rip + ud_skip]
	mov	edx, GATE_INTERRUPT
	call	idt_set
	mov	edi, SOFT_VECTOR
	lea	rsi, [rip + soft_handler]
	mov	edx, GATE_TRAP
	call	idt_set

	call	pic_init
	mov	rax, [rip + divisor]
	call	pit_program
	mov	dx, COM1_MCR
	mov	al, MCR_DTR_RTS_OUT2
	out	dx, al
	mov	dx, COM1_IER
	mov	al, IER_ERBFI
	out	dx, al

	mov	rbp, FNV_PRIME
	mov	r15, SEED5

	# Phase spin: wait for ASYNC_SPIN_TICKS ticks a round in a loop of
	# three instructions (a counter, a compare with memory, a branch).
	lea	rdi, [rip + desc_spin]
	call	phase_begin
	mov	[rip + phase_rounds], r13
	mov	rax, r13
	imul	rax, rax, ASYNC_SPIN_TICKS
	add	rax, [rip + ticks]
	sti
async_spin_lo:
	inc	r12
	cmp	[rip + ticks], rax
	jb	async_spin_lo
async_spin_hi:
	cli
	MIX	r12
	call	phase_end

	# Phase rep: eight REP string instructions a round, MOVSB, MOVSQ,
	# STOSB, STOSQ each forward and backward (DF=1), 32 Ki to 256 Ki
	# iterations each over the 256 KiB buffers A and B.
	lea	rdi, [rip + desc_rep]
	call	phase_begin
	mov	rbx, ASYNC_BUF
	sti
.Lrep_round:
	XORSHIFT
	mov	rdi, rbx			# STOSQ forward: A[0, L) = x
	mov	ecx, ASYNC_LEN / 8
	mov	rax, r15
	call	rep_stosq
	std					# STOSB backward: B[0, L) = x >> 8
	lea	rdi, [rbx + 2*ASYNC_LEN - 1]
	mov	ecx, ASYNC_LEN
	mov	rax, r15
	shr	rax, 8
	call	rep_stosb
	cld					# MOVSB forward, unaligned:
	mov	edx, r15d			# B[s, L) = A[0, L - s), s = 1..8
	and	edx, 7
	inc	edx
	mov	rsi, rbx
	lea	rdi, [rbx + ASYNC_LEN + rdx]
	mov	ecx, ASYNC_LEN
	sub	ecx, edx
	call	rep_movsb
	std					# MOVSQ backward: A[8, L) = B[0, L - 8)
	lea	rsi, [rbx + 2*ASYNC_LEN - 16]
	lea	rdi, [rbx + ASYNC_LEN - 8]
	mov	ecx, ASYNC_LEN / 8 - 1
	call	rep_movsq
	XORSHIFT				# STOSQ backward: B[L/2, L) = x'
	lea	rdi, [rbx + 2*ASYNC_LEN - 8]
	mov	ecx, ASYNC_LEN / 16
	mov	rax, r15
	call	rep_stosq
	mov	edx, r15d			# MOVSB backward, overlapping (a move
	shr	edx, 3				# up): A[t, L) = A[0, L - t), t = 1..16
	and	edx, 15
	inc	edx
	lea	rdi, [rbx + ASYNC_LEN - 1]
	mov	rsi, rdi
	sub	rsi, rdx
	mov	ecx, ASYNC_LEN
	sub	ecx, edx
	call	rep_movsb
	cld					# STOSB forward, unaligned:
	movzx	edx, r15w			# A[u, u + L/2) = x' >> 16, u = 0..255
	shr	edx, 8
	lea	rdi, [rbx + rdx]
	mov	ecx, ASYNC_LEN / 2
	mov	rax, r15
	shr	rax, 16
	call	rep_stosb
	mov	rsi, rbx			# MOVSQ forward: B[0, L) = A[0, L)
	lea	rdi, [rbx + ASYNC_LEN]
	mov	ecx, ASYNC_LEN / 8
	call	rep_movsq
	mov	rax, [rbx + ASYNC_LEN]		# sample B: first, last, one at random
	MIX	rax
	mov	rax, [rbx + 2*ASYNC_LEN - 8]
	MIX	rax
	mov	eax, r15d
	and	eax, ASYNC_LEN - 8
	mov	rax, [rbx + ASYNC_LEN + rax]
	MIX	rax
	inc	r12
	NEXT_ROUND .Lrep_round
	cli
	xor	ecx, ecx			# then all of A and B
1:	mov	rax, [rbx + rcx*8]
	MIX	rax
	inc	ecx
	cmp	ecx, 2*ASYNC_LEN / 8
	jb	1b
	call	phase_end

	# Phase shadow: the loop runs with IF=0 and opens interrupts only for
	# an instant, at STI's interrupt shadow and after POPF, so a tick that
	# became pending while IF=0 is taken exactly there (SDM Vol. 2B STI:
	# interrupts are recognised only after the instruction that follows
	# it; POPF has no shadow). STI; CLI keeps it pending.
	lea	rdi, [rip + desc_shadow]
	call	phase_begin
.Lshadow_loop:
	WORK	SHADOW_WORK
	sti
async_shadow_forbid:
	cli					# in STI's shadow: no interrupt before it
	sti
	nop					# in STI's shadow
async_shadow_sti:
	cli					# a pending tick is taken before this CLI
	WORK	SHADOW_WORK
	pushfq
	or	qword ptr [rsp], RFLAGS_IF
	popfq
async_shadow_popf:
	pushfq					# ... or before this PUSHF
	and	qword ptr [rsp], ~RFLAGS_IF
	popfq
	inc	r12
	test	r12d, SHADOW_ITERS - 1
	jnz	.Lshadow_loop
	NEXT_ROUND .Lshadow_loop
	call	phase_end

	# Phase nested: INT 0x30 through a trap gate; its handler computes with
	# interrupts enabled and executes INT3 (whose handler returns), so
	# timer interrupts nest inside a software-interrupt handler.
	lea	rdi, [rip + desc_nested]
	call	phase_begin
	sti
.Lnested_loop:
	WORK	NESTED_OUTER_WORK
	int	SOFT_VECTOR
	inc	r12
	test	r12d, NESTED_CALLS - 1
	jnz	.Lnested_loop
	NEXT_ROUND .Lnested_loop
	cli
	mov	rax, [rip + bps]
	MIX	rax
	call	phase_end

	# Phase ud: a UD2 between short computations; the #UD handler skips it.
	lea	rdi, [rip + desc_ud]
	call	phase_begin
	sti
.Lud_loop:
	WORK	UD_WORK
async_ud_at:
	ud2
async_ud_next:
	inc	r12
	test	r12d, UD_ITERS - 1
	jnz	.Lud_loop
	NEXT_ROUND .Lud_loop
	cli
	mov	rax, [rip + uds]
	MIX	rax
	call	phase_end

	# Phase clock: RDTSC and a latched read of PIT counter 0 (these exit:
	# they are the point), mixed into the hash; the exit-free loop after
	# them runs CLOCK_MIN + (hash & (CLOCK_SPAN - 1)) steps, so its length
	# depends on the values read.
	lea	rdi, [rip + desc_clock]
	call	phase_begin
	sti
.Lclock_loop:
	rdtsc
	shl	rdx, 32
	or	rax, rdx
	MIX	rax
	mov	al, PIT_LATCH0
	out	PIT_CMD, al
	in	al, PIT_CH0			# latched count, low byte
	movzx	edx, al
	in	al, PIT_CH0			# high byte
	movzx	eax, al
	shl	eax, 8
	or	eax, edx
	MIX	rax
	mov	rcx, r14
	shr	rcx, 32
	and	ecx, CLOCK_SPAN - 1
	add	ecx, CLOCK_MIN
async_clock_lo:
1:	XORSHIFT
	MIX	r15
	dec	ecx
	jnz	1b
async_clock_hi:
	inc	r12
	test	r12d, CLOCK_ITERS - 1
	jnz	.Lclock_loop
	NEXT_ROUND .Lclock_loop
	cli
	call	phase_end

	PUTS	"testguest: async total ticks "
	mov	rax, [rip + ticks]
	call	putdec
	PUTS	" rx "
	mov	rax, [rip + rx_count]
	call	putdec
	PUTS	"\n"
	cmp	qword ptr [rip + stray_irqs], 0
	je	3f
	PUTS	"testguest: stray irqs "
	mov	rax, [rip + stray_irqs]
	call	putdec
	PUTS	"\n"
3:	PUTS	"testguest: async digest 0x"
	mov	rax, [rip + digest]
	call	puthex64
	PUTS	"\n"
	PUTS	"testguest: done\n"
	mov	edi, [rip + status]
	jmp	guest_exit

.Lm5_bad_param:
	PUTS	"testguest: async bad param 0x"
	mov	rax, [rip + param]
	call	puthex64
	PUTS	": want rounds | divisor << 32 with divisor 2-65535 (0 = 1193)\n"
	mov	edi, EXIT_BAD_PARAM
	jmp	guest_exit

# phase_begin: start the mode 5 phase of descriptor RDI (interrupts
# disabled): zero its counters, start its hash, R14 and R12, and load its
# target and forbidden RIP ranges for the interrupt handlers.
# Clobbers RAX, RDX.
phase_begin:
	mov	[rip + phase_desc], rdi
	xor	eax, eax
	mov	[rip + phase_rounds], rax
	mov	[rip + phase_ticks], rax
	mov	[rip + phase_target], rax
	mov	[rip + phase_forbidden], rax
	xor	r12d, r12d
	mov	rax, FNV_OFFSET
	mov	[rip + phase_hash], rax
	mov	r14, rax
	mov	rax, [rdi + 8]
	mov	[rip + target1_lo], rax
	mov	rdx, [rdi + 16]
	sub	rdx, rax
	mov	[rip + target1_len], rdx
	mov	rax, [rdi + 24]
	mov	[rip + target2_lo], rax
	mov	rdx, [rdi + 32]
	sub	rdx, rax
	mov	[rip + target2_len], rdx
	mov	rax, [rdi + 40]
	mov	[rip + target_rcx], rax
	mov	rax, [rdi + 48]
	mov	[rip + forbid_lo], rax
	mov	rdx, [rdi + 56]
	sub	rdx, rax
	mov	[rip + forbid_len], rdx
	ret

# phase_end: end the running phase (interrupts disabled): mix its own result
# R14 into its hash, print its two lines, and mix hash and tick count into
# the digest. An interrupt inside an STI shadow is reported and makes the
# exit status EXIT_SHADOW_BROKEN.
phase_end:
	mov	rax, [rip + phase_hash]
	xor	rax, r14
	imul	rax, rbp
	mov	[rip + phase_hash], rax
	PUTS	"testguest: async "
	call	phase_name
	PUTS	" rounds "
	mov	rax, [rip + phase_rounds]
	call	putdec
	PUTS	" target "
	mov	rax, [rip + phase_target]
	call	putdec
	PUTS	"\ntestguest: async "
	call	phase_name
	PUTS	" ticks "
	mov	rax, [rip + phase_ticks]
	call	putdec
	PUTS	" hash 0x"
	mov	rax, [rip + phase_hash]
	call	puthex64
	PUTS	"\n"
	mov	rax, [rip + digest]
	xor	rax, [rip + phase_hash]
	imul	rax, rbp
	xor	rax, [rip + phase_ticks]
	imul	rax, rbp
	mov	[rip + digest], rax
	cmp	qword ptr [rip + phase_forbidden], 0
	je	1f
	PUTS	"testguest: async sti shadow broken "
	mov	rax, [rip + phase_forbidden]
	call	putdec
	PUTS	" last rip 0x"
	mov	rax, [rip + forbid_rip]
	call	puthex64
	PUTS	"\n"
	mov	dword ptr [rip + status], EXIT_SHADOW_BROKEN
1:	ret

# phase_name: print the running phase's name.
phase_name:
	mov	rsi, [rip + phase_desc]
	mov	rsi, [rsi]
	jmp	puts

# The rep phase's string instructions, each alone before a RET: the timer
# handler knows an interrupted one by its RIP in [async_rep_lo, async_rep_hi)
# and RCX != 0 (SDM Vol. 2B REP: an interrupt suspends it with RIP at the
# instruction and RCX, RSI, RDI at the next iteration).
async_rep_lo:
rep_movsb:
	rep movsb
	ret
rep_movsq:
	rep movsq
	ret
rep_stosb:
	rep stosb
	ret
rep_stosq:
	rep stosq
	ret
async_rep_hi:

# ---------------------------------------------------------------------------
# Interrupt and exception handlers (64-bit interrupt gates: IF=0 inside).

# IRQ0 (vector 0x20): count the tick and hash where it hit.
irq_timer:
	push	rax
	push	rdx
	inc	qword ptr [rip + ticks]
	mov	rax, [rsp + 16]			# interrupted RIP
	xor	rax, r12			# the main loop's iteration counter
	xor	rax, [rip + irqhash]
	mov	rdx, FNV_PRIME
	imul	rax, rdx
	mov	[rip + irqhash], rax
	mov	al, PIC_EOI
	out	PIC1_CMD, al
	pop	rdx
	pop	rax
	iretq

# IRQ4 (vector 0x24): read RBR while LSR.DR; queue each byte for echo and
# hash it with the interrupted RIP.
irq_com1:
	push	rax
	push	rcx
	push	rdx
1:	mov	dx, COM1_LSR
	in	al, dx
	test	al, LSR_DR
	jz	3f
	mov	dx, COM1_RBR
	in	al, dx
	movzx	eax, al
	mov	rcx, [rip + rx_head]
	mov	rdx, rcx
	sub	rdx, [rip + rx_tail]
	cmp	rdx, 256
	jb	2f
	inc	qword ptr [rip + rx_dropped]	# ring full: drop (still hashed)
	jmp	4f
2:	lea	rdx, [rip + rx_ring]
	movzx	ecx, cl
	mov	[rdx + rcx], al
	inc	qword ptr [rip + rx_head]
4:	inc	qword ptr [rip + rx_count]
	mov	rcx, [rsp + 24]			# interrupted RIP
	shl	rcx, 8
	or	rax, rcx
	xor	rax, r12
	xor	rax, [rip + irqhash]
	mov	rdx, FNV_PRIME
	imul	rax, rdx
	mov	[rip + irqhash], rax
	jmp	1b
3:	mov	al, PIC_EOI
	out	PIC1_CMD, al
	pop	rdx
	pop	rcx
	pop	rax
	iretq

# Mode 5's IRQ0 (vector 0x20): count the tick, hash where it landed, and
# count it against the running phase's target and forbidden ranges.
irq_async_timer:
	push	rax
	push	rdx
	inc	qword ptr [rip + ticks]
	inc	qword ptr [rip + phase_ticks]
	mov	rax, [rip + ticks]
	lea	rdx, [rsp + 16]			# the interrupt frame
	call	async_mix
	call	async_where
	mov	al, PIC_EOI
	out	PIC1_CMD, al
	pop	rdx
	pop	rax
	iretq

# Mode 5's IRQ4 (vector 0x24): hash each received byte with where it landed.
irq_async_com1:
	push	rax
	push	rdx
1:	mov	dx, COM1_LSR
	in	al, dx
	test	al, LSR_DR
	jz	2f
	mov	dx, COM1_RBR
	in	al, dx
	movzx	eax, al
	inc	qword ptr [rip + rx_count]
	lea	rdx, [rsp + 16]
	call	async_mix
	call	async_forbid
	jmp	1b
2:	mov	al, PIC_EOI
	out	PIC1_CMD, al
	pop	rdx
	pop	rax
	iretq

# async_mix: phase_hash = FNV over the interrupted RIP and RFLAGS (frame at
# RDX), the interrupted RCX, RSI, RDI (REP state) and R12 (loop counter),
# and RAX (the tick count or the received byte). Clobbers RAX.
async_mix:
	push	rbx
	push	r8
	mov	r8, rax
	mov	rbx, FNV_PRIME
	mov	rax, [rip + phase_hash]
	xor	rax, [rdx]			# RIP
	imul	rax, rbx
	xor	rax, [rdx + 16]			# RFLAGS
	imul	rax, rbx
	xor	rax, rcx
	imul	rax, rbx
	xor	rax, rsi
	imul	rax, rbx
	xor	rax, rdi
	imul	rax, rbx
	xor	rax, r12
	imul	rax, rbx
	xor	rax, r8
	imul	rax, rbx
	mov	[rip + phase_hash], rax
	pop	r8
	pop	rbx
	ret

# async_where: count the tick of frame RDX in phase_target if its RIP lies in
# one of the phase's target ranges (and RCX != 0 where the phase asks), then
# go on as async_forbid. Clobbers RAX.
async_where:
	mov	rax, [rdx]
	sub	rax, [rip + target1_lo]
	cmp	rax, [rip + target1_len]
	jb	1f
	mov	rax, [rdx]
	sub	rax, [rip + target2_lo]
	cmp	rax, [rip + target2_len]
	jae	async_forbid
1:	cmp	qword ptr [rip + target_rcx], 0
	je	2f
	test	rcx, rcx
	jz	async_forbid
2:	inc	qword ptr [rip + phase_target]
# async_forbid: count an interrupt (frame RDX) whose RIP lies in the phase's
# forbidden range, inside an STI shadow, and keep its RIP. Clobbers RAX.
async_forbid:
	mov	rax, [rdx]
	sub	rax, [rip + forbid_lo]
	cmp	rax, [rip + forbid_len]
	jae	1f
	inc	qword ptr [rip + phase_forbidden]
	mov	rax, [rdx]
	mov	[rip + forbid_rip], rax
1:	ret

# Mode 5's INT 0x30 (trap gate: IF stays 1): NESTED_SPINS steps of
# computation with an INT3 every NESTED_BP_EVERY, so timer interrupts land
# inside it and after the #BP handler's IRETQ. [soft_handler,
# soft_handler_end) is the nested phase's target.
soft_handler:
	push	rax
	push	rcx
	mov	ecx, NESTED_SPINS
1:	XORSHIFT
	MIX	r15
	test	ecx, NESTED_BP_EVERY - 1
	jnz	2f
	int3
2:	dec	ecx
	jnz	1b
	pop	rcx
	pop	rax
	iretq
soft_handler_end:

# Mode 5's #BP (vector 3, a trap: the frame's RIP follows the INT3): count
# and return.
bp_return:
	inc	qword ptr [rip + bps]
	iretq

# Mode 5's #UD (vector 6, a fault: the frame's RIP is the UD2): skip the two
# bytes of a UD2 (0F 0B) and count it; any other #UD is an exception.
ud_skip:
	push	rax
	mov	rax, [rsp + 8]
	cmp	word ptr [rax], 0x0B0F
	jne	1f
	add	qword ptr [rsp + 8], 2
	inc	qword ptr [rip + uds]
	pop	rax
	iretq
1:	pop	rax
	jmp	exc6

# Other master IRQs (masked; counted if they arrive anyway).
irq_other1:
	push	rax
	inc	qword ptr [rip + stray_irqs]
	mov	al, PIC_EOI
	out	PIC1_CMD, al
	pop	rax
	iretq

# Other slave IRQs: EOI to both PICs.
irq_other2:
	push	rax
	inc	qword ptr [rip + stray_irqs]
	mov	al, PIC_EOI
	out	PIC2_CMD, al
	out	PIC1_CMD, al
	pop	rax
	iretq

# Spurious IRQ7 (vector 0x27): no EOI (the master's ISR bit is not set).
irq_spurious1:
	inc	qword ptr [rip + stray_irqs]
	iretq

# Spurious IRQ15 (vector 0x2F): EOI to the master only (for the cascade).
irq_spurious2:
	push	rax
	inc	qword ptr [rip + stray_irqs]
	mov	al, PIC_EOI
	out	PIC1_CMD, al
	pop	rax
	iretq

# NMI (vector 2): ignored (the hypervisor never sends one).
nmi:
	iretq

# Exceptions: each stub pushes an error code (0 where the CPU pushes none)
# and the vector; exc_common prints them and exits with 0x40 + vector.
.macro EXC_NOERR v:req
exc\v:
	push	0
	push	\v
	jmp	exc_common
.endm
.macro EXC_ERR v:req
exc\v:
	push	\v
	jmp	exc_common
.endm
	EXC_NOERR 0
	EXC_NOERR 1
	EXC_NOERR 3
	EXC_NOERR 4
	EXC_NOERR 5
	EXC_NOERR 6
	EXC_NOERR 7
	EXC_ERR   8
	EXC_NOERR 9
	EXC_ERR   10
	EXC_ERR   11
	EXC_ERR   12
	EXC_ERR   13
	EXC_ERR   14
	EXC_NOERR 15
	EXC_NOERR 16
	EXC_ERR   17
	EXC_NOERR 18
	EXC_NOERR 19
	EXC_NOERR 20
	EXC_ERR   21
	EXC_NOERR 22
	EXC_NOERR 23
	EXC_NOERR 24
	EXC_NOERR 25
	EXC_NOERR 26
	EXC_NOERR 27
	EXC_NOERR 28
	EXC_ERR   29
	EXC_ERR   30
	EXC_NOERR 31
	EXC_NOERR 48				# INT 0x30 outside mode 5

# Stack: [rsp] vector, [rsp+8] error code, [rsp+16] RIP, CS, RFLAGS, RSP, SS.
exc_common:
	PUTS	"testguest: exception 0x"
	mov	rax, [rsp]
	mov	ecx, 2
	call	puthex
	PUTS	" error 0x"
	mov	rax, [rsp + 8]
	call	puthex64
	PUTS	" rip 0x"
	mov	rax, [rsp + 16]
	call	puthex64
	PUTS	" cr2 0x"
	mov	rax, cr2
	call	puthex64
	PUTS	"\n"
	mov	edi, [rsp]
	add	edi, EXIT_EXCEPTION
	jmp	guest_exit

# ---------------------------------------------------------------------------
# Helpers

# idt_init: fill the IDT (vectors 0x00-0x30) with 64-bit interrupt gates
# to the handlers in vectors and load it.
idt_init:
	push	rbx
	xor	ebx, ebx
1:	mov	edi, ebx
	lea	rax, [rip + vectors]
	mov	rsi, [rax + rbx*8]
	mov	edx, GATE_INTERRUPT
	call	idt_set
	inc	ebx
	cmp	ebx, IDT_VECTORS
	jb	1b
	pop	rbx
	lidt	[rip + idtr]
	ret

# idt_set: IDT gate EDI := handler RSI, selector 0x08, IST 0, type and
# present byte DL (GATE_INTERRUPT or GATE_TRAP); the 16-byte layout of SDM
# Vol. 3A 6.14.1 (Figure 6-8). Clobbers RAX, RDX, RDI, R8.
idt_set:
	lea	r8, [rip + idt]
	shl	edi, 4
	add	r8, rdi
	movzx	edx, dl
	shl	rdx, 40				# byte 5: P, DPL, type
	mov	rax, rsi
	and	eax, 0xFFFF			# offset 15:0
	or	eax, 0x08 << 16			# segment selector
	or	rax, rdx
	mov	rdx, rsi
	shr	rdx, 16
	and	edx, 0xFFFF
	shl	rdx, 48				# offset 31:16
	or	rax, rdx
	mov	[r8], rax
	mov	rax, rsi
	shr	rax, 32				# offset 63:32, reserved 0
	mov	[r8 + 8], rax
	ret

# guest_exit: write EDI to the guest exit port. Does not return: if the write
# does not end the VM, halt forever.
guest_exit:
	mov	eax, edi
	mov	dx, EXIT_PORT
	out	dx, eax
halt_forever:
	cli
	hlt
	jmp	halt_forever			# only an NMI or SMI would get here

# putc: print AL on COM1 (poll LSR.THRE, write THR). Preserves all registers.
putc:
	push	rdx
	push	rax
	mov	dx, COM1_LSR
1:	in	al, dx
	test	al, LSR_THRE
	jz	1b
	pop	rax
	mov	dx, COM1_THR
	out	dx, al
	pop	rdx
	ret

# puts: print the NUL-terminated string at RSI. Clobbers RAX, RSI.
puts:
1:	mov	al, [rsi]
	test	al, al
	jz	2f
	call	putc
	inc	rsi
	jmp	1b
2:	ret

# puthex: print the low ECX hex digits of RAX (lowercase, no prefix).
# Clobbers RAX, RCX, RDX, R8, R9.
puthex:
	mov	r8, rax
	mov	r9d, ecx
1:	lea	ecx, [r9*4 - 4]			# bit position of this digit
	mov	rax, r8
	shr	rax, cl
	and	eax, 0xF
	lea	rdx, [rip + hexdigits]
	mov	al, [rdx + rax]
	call	putc
	dec	r9d
	jnz	1b
	ret

puthex64:
	mov	ecx, 16
	jmp	puthex

puthex32:
	mov	ecx, 8
	jmp	puthex

# putdec: print RAX as an unsigned decimal. Clobbers RAX, RCX, RDX, R8.
putdec:
	sub	rsp, 24
	lea	r8, [rsp + 24]			# digits are built backwards from here
	mov	ecx, 10
1:	xor	edx, edx
	div	rcx
	add	dl, '0'
	dec	r8
	mov	[r8], dl
	test	rax, rax
	jnz	1b
2:	mov	al, [r8]
	call	putc
	inc	r8
	lea	rdx, [rsp + 24]
	cmp	r8, rdx
	jb	2b
	add	rsp, 24
	ret

# ---------------------------------------------------------------------------
# Read-only data (text subsection 1, after the code)

	.text 1
	.balign 8
# Handler of each IDT vector 0x00-0x2F.
vectors:
	.quad	exc0, exc1, nmi, exc3, exc4, exc5, exc6, exc7
	.quad	exc8, exc9, exc10, exc11, exc12, exc13, exc14, exc15
	.quad	exc16, exc17, exc18, exc19, exc20, exc21, exc22, exc23
	.quad	exc24, exc25, exc26, exc27, exc28, exc29, exc30, exc31
	.quad	irq_timer, irq_other1, irq_other1, irq_other1	# IRQ0-3
	.quad	irq_com1, irq_other1, irq_other1, irq_spurious1	# IRQ4-7
	.quad	irq_other2, irq_other2, irq_other2, irq_other2	# IRQ8-11
	.quad	irq_other2, irq_other2, irq_other2, irq_spurious2	# IRQ12-15
	.quad	exc48						# INT 0x30 (mode 5 replaces it)

	.balign 8
	.word	0				# pad: limit at 2 mod 4, base 4-aligned (SDM)
idtr:	.word	IDT_VECTORS * 16 - 1		# limit
	.quad	idt				# base
	.word	0				# pad
empty_idtr:
	.word	0				# limit 0: every vector is out of range
	.quad	0

hexdigits:
	.ascii	"0123456789abcdef"

# Mode 5 phase descriptors: name, target RIP ranges 1 and 2 as [lo, hi) (a
# timer tick that lands there counts in the phase's "target"), nonzero if a
# target tick also needs RCX != 0, forbidden range [lo, hi) (inside an STI
# shadow).
	.balign	8
desc_spin:
	.quad	name_spin, async_spin_lo, async_spin_hi, 0, 0, 0, 0, 0
desc_rep:
	.quad	name_rep, async_rep_lo, async_rep_hi, 0, 0, 1, 0, 0
desc_shadow:
	.quad	name_shadow, async_shadow_sti, async_shadow_sti + 1
	.quad	async_shadow_popf, async_shadow_popf + 1, 0
	.quad	async_shadow_forbid, async_shadow_sti
desc_nested:
	.quad	name_nested, soft_handler, soft_handler_end, 0, 0, 0, 0, 0
desc_ud:
	.quad	name_ud, async_ud_at, async_ud_next + 1, 0, 0, 0, 0, 0
desc_clock:
	.quad	name_clock, async_clock_lo, async_clock_hi, 0, 0, 0, 0, 0
name_spin:	.asciz	"spin"
name_rep:	.asciz	"rep"
name_shadow:	.asciz	"shadow"
name_nested:	.asciz	"nested"
name_ud:	.asciz	"ud"
name_clock:	.asciz	"clock"

# ---------------------------------------------------------------------------
# Data page at LOAD_ADDR + 0x2000 (text subsection 2). Zero in the image;
# modes 2 and 5 re-initialise what they use.

	.text 2
	.org	DATA_OFFSET			# fails to assemble if the code outgrows 8 KiB
	.globl	idt
idt:	.fill	IDT_VECTORS * 16, 1, 0		# at 0x102000
	.balign	8
mode:		.quad 0
param:		.quad 0
status:		.quad 0
ticks:		.quad 0			# timer interrupts taken
irqhash:	.quad 0			# hash of (RIP, R12, byte) of every IRQ taken
next_print:	.quad 0			# tick count of the next tick line
rx_head:	.quad 0			# bytes queued by irq_com1
rx_tail:	.quad 0			# bytes echoed by drain_rx
rx_count:	.quad 0			# bytes received
rx_dropped:	.quad 0			# bytes dropped (ring full)
stray_irqs:	.quad 0			# IRQs other than 0 and 4
hlts:		.quad 0			# HLTs executed in wait_tick
vendor:		.fill 16, 1, 0		# CPUID vendor string
# Mode 5
divisor:	.quad 0			# PIT divisor in use
digest:		.quad 0			# hash of every phase's hash and tick count
bps:		.quad 0			# #BP taken (nested phase)
uds:		.quad 0			# #UD taken and skipped (ud phase)
phase_desc:	.quad 0			# descriptor of the running phase
phase_rounds:	.quad 0			# rounds done in the running phase
phase_ticks:	.quad 0			# timer interrupts taken in the running phase
phase_target:	.quad 0			# ... of which at the phase's target
phase_hash:	.quad 0			# hash of the phase's interrupts and result
phase_forbidden: .quad 0		# interrupts taken inside an STI shadow
forbid_rip:	.quad 0			# RIP of the last of those
target1_lo:	.quad 0			# the running phase's target and forbidden
target1_len:	.quad 0			# ranges of interrupted RIPs, as start and
target2_lo:	.quad 0			# length (length 0: no range)
target2_len:	.quad 0
target_rcx:	.quad 0			# nonzero: a target tick also needs RCX != 0
forbid_lo:	.quad 0
forbid_len:	.quad 0
	.balign	256
rx_ring:	.fill 256, 1, 0
