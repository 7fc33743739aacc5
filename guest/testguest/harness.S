# harness.S - run the test guest on a bare emulated PC (QEMU TCG, no VT-x).
#
# A multiboot v1 kernel (flat binary, a.out kludge) that builds exactly the
# entry environment the hypervisor provides (see the contract in
# testguest.go) and jumps to the guest image:
#   - copies the guest image (.incbin "testguest.bin") to 0x100000
#   - identity page tables for the first 1 GiB with 2 MiB pages:
#     PML4 at 0x10000, PDPT at 0x11000, PD at 0x12000
#   - GDT at 0x13000: 0x08 = 64-bit code, 0x10 = data
#   - long mode, CPL0, RFLAGS = 0x2, RSP = 0x80000
#   - RDI = mode, RSI = param, read from the multiboot command line
#     ("mode=N param=M", decimal, 64-bit; both default to 0)
# The harness loads no IDT: the guest loads its own before anything can
# interrupt or fault.
#
# Build: as --64 -I DIR_WITH_testguest.bin harness.S; ld -Ttext=0x800000
# --oformat binary. Run: qemu-system-x86_64 -kernel harness.bin
# -append "mode=2 param=0" -device isa-debug-exit,iobase=0x501,iosize=4 ...

	.intel_syntax noprefix

	.equ HARNESS_ADDR, 0x800000		# where QEMU loads this file (8 MiB)
	.equ GUEST_ADDR,   0x100000		# the contract's LoadAddr
	.equ PML4,         0x10000
	.equ PDPT,         0x11000
	.equ PD,           0x12000
	.equ GDT,          0x13000
	.equ STACK_TOP,    0x80000
	.equ MB_MAGIC,     0x1BADB002
	.equ MB_FLAGS,     0x00010000		# bit 16: a.out kludge address fields valid
	.equ MBI_FLAG_CMDLINE, 1 << 2
	.equ MSR_EFER,     0xC0000080
	.equ CMDLINE_MAX,  256

	.text
	.code32
	.globl	_start
_start:
# Multiboot v1 header (must lie in the first 8 KiB, 4-byte aligned).
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
	.long	mb_header			# header_addr
	.long	_start				# load_addr
	.long	harness_end			# load_end_addr
	.long	harness_end			# bss_end_addr (no bss)
	.long	entry32				# entry_addr

# 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = multiboot info.
entry32:
	cli
	cld
	mov	esp, STACK_TOP

	# Keep the command line (parsed in 64-bit mode) before anything below
	# is overwritten: up to CMDLINE_MAX - 1 characters, NUL-terminated.
	mov	edi, offset cmdline
	test	dword ptr [ebx], MBI_FLAG_CMDLINE
	jz	2f
	mov	esi, [ebx + 16]			# cmdline (physical address)
	mov	ecx, CMDLINE_MAX - 1
1:	lodsb
	test	al, al
	jz	2f
	stosb
	loop	1b
2:	mov	byte ptr [edi], 0

	# Copy the guest image to GUEST_ADDR.
	mov	esi, offset guest_image
	mov	edi, GUEST_ADDR
	mov	ecx, guest_image_end - guest_image
	rep movsb

	# Zero PML4, PDPT, PD, GDT.
	mov	edi, PML4
	mov	ecx, 4 * 4096 / 4
	xor	eax, eax
	rep stosd
	mov	dword ptr [PML4], PDPT | 3	# present, writable
	mov	dword ptr [PDPT], PD | 3
	# PD: 512 entries of 2 MiB, present | writable | PS.
	mov	edi, PD
	mov	eax, 0x83
	mov	ecx, 512
2:	mov	[edi], eax
	mov	dword ptr [edi + 4], 0
	add	eax, 0x200000
	add	edi, 8
	loop	2b

	# GDT: null, 0x08 64-bit code (L=1), 0x10 data.
	mov	dword ptr [GDT + 8], 0x0000FFFF
	mov	dword ptr [GDT + 12], 0x00AF9A00
	mov	dword ptr [GDT + 16], 0x0000FFFF
	mov	dword ptr [GDT + 20], 0x00CF9200
	lgdt	[gdtr]

	# Long mode: PAE, CR3, EFER.LME, then paging.
	mov	eax, cr4
	or	eax, 1 << 5			# CR4.PAE
	mov	cr4, eax
	mov	eax, PML4
	mov	cr3, eax
	mov	ecx, MSR_EFER
	rdmsr
	or	eax, 1 << 8			# EFER.LME
	wrmsr
	mov	eax, cr0
	or	eax, (1 << 31) | 1		# CR0.PG | CR0.PE
	and	eax, ~((1 << 30) | (1 << 29))	# CR0.CD = CR0.NW = 0
	mov	cr0, eax
	ljmp	0x08, offset entry64

	.code64
entry64:
	mov	ax, 0x10
	mov	ds, ax
	mov	es, ax
	mov	ss, ax
	mov	fs, ax
	mov	gs, ax
	mov	rsp, STACK_TOP

	# Command line: mode=N param=M.
	lea	rsi, [rip + cmdline]
	lea	rdi, [rip + key_mode]
	call	find_key
	mov	r12, rax
	lea	rsi, [rip + cmdline]
	lea	rdi, [rip + key_param]
	call	find_key
	mov	r13, rax
	mov	rdi, r12			# RDI = mode
	mov	rsi, r13			# RSI = param
	xor	eax, eax
	xor	ebx, ebx
	xor	ecx, ecx
	xor	edx, edx
	xor	ebp, ebp
	push	2
	popfq					# RFLAGS = 0x2: IF=0
	xor	r12d, r12d
	xor	r13d, r13d
	mov	eax, GUEST_ADDR
	jmp	rax

# find_key: RSI = NUL-terminated command line, RDI = NUL-terminated key
# ("mode="); the key must start the line or follow a space. Returns the
# decimal number after the key in RAX (64-bit, wrapping; 0 if the key is
# missing). Clobbers RCX, RDX, RSI, R8.
find_key:
	mov	r8, rsi				# r8: candidate start
1:	cmp	byte ptr [r8], 0
	je	5f
	cmp	r8, rsi				# at the start, or after a space?
	je	2f
	cmp	byte ptr [r8 - 1], ' '
	jne	4f
2:	xor	ecx, ecx
3:	mov	al, [rdi + rcx]
	test	al, al
	jz	6f				# whole key matched
	cmp	al, [r8 + rcx]
	jne	4f
	inc	ecx
	jmp	3b
4:	inc	r8
	jmp	1b
5:	xor	eax, eax			# not found
	ret
6:	lea	rsi, [r8 + rcx]
	xor	eax, eax
7:	movzx	edx, byte ptr [rsi]
	sub	edx, '0'
	cmp	edx, 9
	ja	8f
	imul	rax, rax, 10
	add	rax, rdx
	inc	rsi
	jmp	7b
8:	ret

cmdline:
	.fill	CMDLINE_MAX, 1, 0
key_mode:
	.asciz	"mode="
key_param:
	.asciz	"param="
	.balign	4
	.word	0
gdtr:	.word	3 * 8 - 1
	.long	GDT

	.balign	16
guest_image:
	.incbin	"testguest.bin"
guest_image_end:
	.balign	4
harness_end:
