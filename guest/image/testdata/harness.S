# harness.S - run what image.Load produced on a bare emulated PC (QEMU
# TCG, no VT-x), for qemu_test.go.
#
# A multiboot v1 kernel (flat binary, a.out kludge) linked high above the
# guest's RAM (ld -Ttext=ADDR). It carries payload.bin (.incbin, made by
# the test from guest RAM and the Entry) and:
#   - clears guest RAM [0, 0xA0000) and [0x100000, ram_size) (QEMU's
#     firmware and multiboot loader leave data there; Load's RAM is zero
#     wherever it wrote nothing);
#   - copies the payload's runs of non-zero pages into place;
#   - loads the guest's GDT, then enters as the Entry says: Protected32 by a
#     far jump with paging off; Long64 by enabling PAE, CR3, EFER.LME and
#     paging (SDM Vol. 3A §10.8.5), then a far jump to 64-bit code that
#     sets the registers and jumps to RIP.
# Registers the Entry does not name are zero, RFLAGS = 0x2.
#
# Payload layout (little-endian), offsets:
#   0 mode u32 (1 Protected32, 2 Long64)   4 ram_size u32   8 nruns u32
#   16 rip  24 rsp  32 rax  40 rbx  48 rsi  56 rdi  64 cr0  72 cr3  80 cr4
#   88 efer (u64 each)   96 gdt_base u32  100 gdt_limit u16  102 cs u16
#   104 ds u16   128: nruns x {dst u32, len u32}, then the runs' bytes.

	.equ MB_MAGIC, 0x1BADB002
	.equ MB_FLAGS, 0x00010000		# a.out kludge
	.equ MSR_EFER, 0xC0000080

	.equ P_MODE, 0
	.equ P_RAM, 4
	.equ P_NRUNS, 8
	.equ P_RIP, 16
	.equ P_RSP, 24
	.equ P_RAX, 32
	.equ P_RBX, 40
	.equ P_RSI, 48
	.equ P_RDI, 56
	.equ P_CR0, 64
	.equ P_CR3, 72
	.equ P_CR4, 80
	.equ P_EFER, 88
	.equ P_GDT, 96
	.equ P_GDTLIM, 100
	.equ P_CS, 102
	.equ P_DS, 104
	.equ P_RUNS, 128

	.text
	.code32
	.globl _start
_start:
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header
	.long _start
	.long harness_end
	.long bss_end
	.long entry32

entry32:
	cli
	cld
	movl $stack_top, %esp

	# Clear guest RAM (not the VGA window and ROMs).
	xorl %eax, %eax
	xorl %edi, %edi
	movl $0xA0000, %ecx
	rep stosb
	movl $0x100000, %edi
	movl payload+P_RAM, %ecx
	subl $0x100000, %ecx
	rep stosb

	# Copy the runs.
	movl payload+P_NRUNS, %edx
	leal payload+P_RUNS, %ebx		# run table
	movl %edx, %esi
	shll $3, %esi
	addl %ebx, %esi				# the runs' bytes follow the table
1:	testl %edx, %edx
	jz 2f
	movl (%ebx), %edi
	movl 4(%ebx), %ecx
	rep movsb
	addl $8, %ebx
	decl %edx
	jmp 1b
2:
	movw payload+P_GDTLIM, %ax
	movw %ax, gdtr
	movl payload+P_GDT, %eax
	movl %eax, gdtr+2
	lgdt gdtr
	cmpl $2, payload+P_MODE
	je long64

	# Protected32: flat segments from the guest's GDT, then CS:EIP.
	movl payload+P_CR0, %eax
	movl %eax, %cr0
	movl payload+P_RIP, %eax
	movl %eax, farptr
	movw payload+P_CS, %ax
	movw %ax, farptr+4
	movw payload+P_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	pushl $2
	popfl
	movl payload+P_RAX, %eax
	movl payload+P_RBX, %ebx
	movl payload+P_RSI, %esi
	movl payload+P_RDI, %edi
	movl payload+P_RSP, %esp
	xorl %ecx, %ecx
	xorl %edx, %edx
	xorl %ebp, %ebp
	ljmp *farptr

long64:
	movl payload+P_CR4, %eax
	movl %eax, %cr4
	movl payload+P_CR3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl payload+P_EFER, %eax
	andl $~0x400, %eax			# LMA is the processor's to set
	xorl %edx, %edx
	wrmsr
	movl payload+P_CR0, %eax
	movl %eax, %cr0
	movl $entry64, farptr
	movw payload+P_CS, %ax
	movw %ax, farptr+4
	ljmp *farptr

	.code64
entry64:
	movw payload+P_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	pushq $2
	popfq
	movq payload+P_RAX, %rax
	movq payload+P_RBX, %rbx
	movq payload+P_RSI, %rsi
	movq payload+P_RDI, %rdi
	movq payload+P_RSP, %rsp
	xorl %ecx, %ecx
	xorl %edx, %edx
	xorl %ebp, %ebp
	jmp *payload+P_RIP

	# Data, all in .text: the flat binary is one piece.
	.align 8
gdtr:	.word 0
	.long 0
	.align 8
farptr:	.long 0
	.word 0
	.align 16
payload:
	.incbin "payload.bin"
	.align 16
	.space 4096
stack_top:
harness_end:
bss_end:
