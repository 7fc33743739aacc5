/*
 * entry.S - multiboot v1 entry of the mbtest guests (Multiboot
 * Specification 0.6.96 §3.1 header, §3.2 machine state).
 *
 * The header asks for page-aligned modules (flags bit 0) and memory
 * information (bit 1); built with -DAOUT it also carries the a.out kludge
 * address fields (bit 16), for a flat binary. The loader enters _start in
 * 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = the
 * information structure; ESP is undefined, so the guest sets its own.
 */
#define MB_MAGIC 0x1BADB002
#ifdef AOUT
#define MB_FLAGS 0x00010003
#else
#define MB_FLAGS 0x00000003
#endif

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT
	.long mb_header		/* header_addr */
	.long __image_start	/* load_addr */
	.long __data_end	/* load_end_addr */
	.long __bss_end		/* bss_end_addr */
	.long _start		/* entry_addr */
#endif

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	movl $stack_top, %esp
	pushl %ebx		/* information structure */
	pushl %eax		/* magic */
	call mbmain
halt:
	cli
	hlt
	jmp halt

	.bss
	.align 16
	.space 16384
stack_top:
	.section .note.GNU-stack, "", @progbits
