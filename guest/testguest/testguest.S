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
#   0x101000  data page (subsection 2): IDT, variables, serial receive ring
# Memory outside the image that the guest uses:
#   0x070000-0x07FFFF  stack (RSP = 0x80000 at entry, grows down)
#   0x200000-0x2FFFFF  mode 0 work buffer (1 MiB)
#   0x300000-0x30FFFF  mode 2 work buffer (64 KiB)
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
	.equ DATA_OFFSET,    0x1000		# data page at LOAD_ADDR + 0x1000

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

	.equ IDT_VECTORS,    48			# 0x00-0x2F

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
	PUTS	"testguest: unknown mode\n"
	mov	edi, EXIT_BAD_MODE
	jmp	guest_exit

# ---------------------------------------------------------------------------
# Mode 0: VMX bring-up. CPUID 0 and 1, RDTSC twice, a 1 MiB memory
# computation, one HLT with IF=0, exit 0.

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

	# One HLT with interrupts disabled: the hypervisor resumes it at the
	# next instruction when no event is pending (the QEMU harness wakes it
	# with an NMI instead).
	PUTS	"testguest: hlt\n"
	cli
	hlt
	PUTS	"testguest: hlt resumed\n"

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
	mov	al, PIT_MODE2
	out	PIT_CMD, al
	mov	al, PIT_DIVISOR & 0xFF
	out	PIT_CH0, al
	mov	al, PIT_DIVISOR >> 8
	out	PIT_CH0, al
	ret

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

# NMI (vector 2): ignored. The hypervisor never sends one; the QEMU harness
# uses periodic NMIs to wake mode 0's HLT with IF=0.
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

# idt_init: fill the IDT (vectors 0x00-0x2F) with 64-bit interrupt gates
# (selector 0x08, DPL 0, type 0xE, present) and load it.
idt_init:
	lea	rdi, [rip + idt]
	lea	rsi, [rip + vectors]
	xor	ecx, ecx
1:	mov	rax, [rsi + rcx*8]		# handler address
	mov	rdx, rax
	and	edx, 0xFFFF			# offset 15:0
	or	edx, 0x08 << 16			# segment selector
	mov	r8, 0x00008E0000000000		# P=1, DPL=0, type=0xE (interrupt gate)
	or	rdx, r8
	mov	r8, rax
	shr	r8, 16
	and	r8d, 0xFFFF
	shl	r8, 48				# offset 31:16
	or	rdx, r8
	mov	[rdi], rdx
	shr	rax, 32				# offset 63:32, reserved 0
	mov	[rdi + 8], rax
	add	rdi, 16
	inc	ecx
	cmp	ecx, IDT_VECTORS
	jb	1b
	lidt	[rip + idtr]
	ret

# guest_exit: write EDI to the guest exit port. Does not return: if the write
# does not end the VM, halt forever.
guest_exit:
	mov	eax, edi
	mov	dx, EXIT_PORT
	out	dx, eax
1:	cli
	hlt
	jmp	1b

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

# ---------------------------------------------------------------------------
# Data page at LOAD_ADDR + 0x1000 (text subsection 2). Zero in the image;
# mode 2 re-initialises what it uses.

	.text 2
	.org	DATA_OFFSET			# fails to assemble if the code outgrows 4 KiB
	.globl	idt
idt:	.fill	IDT_VECTORS * 16, 1, 0		# at 0x101000
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
	.balign	256
rx_ring:	.fill 256, 1, 0
