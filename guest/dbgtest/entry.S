/*
 * entry.S - the dbgtest guest's multiboot v1 entry, long mode, and its
 * interrupt and exception stubs.
 *
 * The loader enters _start in 32-bit protected mode, paging off, EAX =
 * 0x2BADB002, EBX = the multiboot information (Multiboot Specification
 * 0.6.96 §3.2). The guest builds identity page tables for its first 32 MiB
 * (4 KiB pages below 2 MiB with page 0 not present, so a NULL access
 * faults; 2 MiB pages above), enables PAE, EFER.LME and paging (SDM Vol. 3A
 * §10.8.5), and jumps to 64-bit code, which calls kmain(magic, info).
 *
 * Every vector 0-255 has a stub that pushes a dummy error code where the
 * processor pushes none (SDM Vol. 3A Table 6-1), then the vector, saves the
 * general-purpose registers and calls trap(struct frame *); trap may
 * change the frame, which IRETQ then resumes.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

	.cfi_sections .debug_frame	/* gdb's unwinder ends at long_entry */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	movl $stack_top, %esp
	movl %eax, %edi			/* kmain's arguments, kept across */
	movl %ebx, %esi

	movl $pdpt + 3, pml4		/* present, writable */
	movl $pd + 3, pdpt
	movl $pt + 3, pd
	movl $1, %ecx			/* page 0 stays not present */
1:	movl %ecx, %eax
	shll $12, %eax
	orl $3, %eax
	movl %eax, pt(,%ecx,8)
	incl %ecx
	cmpl $512, %ecx
	jne 1b
	movl $1, %ecx			/* 2 MiB pages up to 32 MiB */
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax			/* present, writable, PS */
	movl %eax, pd(,%ecx,8)
	incl %ecx
	cmpl $16, %ecx
	jne 2b

	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x620, %eax		/* PAE, OSFXSR, OSXMMEXCPT */
	movl %eax, %cr4
	movl $0xC0000080, %ecx		/* IA32_EFER */
	rdmsr
	orl $0x101, %eax		/* LME, SCE */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG, PE */
	movl %eax, %cr0
	lgdt gdtr
	ljmp $0x08, $long_entry

	.code64
long_entry:
	.cfi_startproc
	.cfi_undefined rip		/* the outermost frame */
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movq $stack_top, %rsp
	call kmain
halt:
	cli
	hlt
	jmp halt
	.cfi_endproc

/* The interrupt and exception stubs: 16 bytes apart from stubs, so the
 * stub of vector n is at stubs + 16 n. */
	.align 16
	.globl stubs
stubs:
	.set i, 0
	.rept 256
	.align 16
	.if (i == 8) || (i >= 10 && i <= 14) || (i == 17) || (i == 21)
	.else
	pushq $0
	.endif
	pushq $i
	jmp common
	.set i, i + 1
	.endr

common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	call trap
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp			/* vector, error code */
	iretq

/*
 * syscall_entry: SYSCALL from the guest's own ring 0 (STAR's CS 0x08). The
 * processor left RFLAGS before the instruction in R11, the return RIP in
 * RCX; check_syscall_flags looks at R11, then the guest returns without
 * SYSRET (which would go to ring 3).
 */
	.globl syscall_entry
syscall_entry:
	pushq %rcx
	pushq %r11
	movq %r11, %rdi
	call check_syscall_flags
	popq %r11
	popq %rcx
	pushq %r11
	popfq
	jmp *%rcx

	.data
	.align 16
gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF	/* 0x08: 64-bit code */
	.quad 0x00CF92000000FFFF	/* 0x10: data */
gdtr:
	.word gdtr - gdt - 1
	.quad gdt

	.bss
	.align 4096
pml4:	.space 4096
pdpt:	.space 4096
pd:	.space 4096
pt:	.space 4096
	.space 32768
stack_top:
	.section .note.GNU-stack, "", @progbits
