/*
 * mbtest.c - a multiboot v1 test guest: checks the entry state a loader
 * gives it and prints the multiboot information structure (Multiboot
 * Specification 0.6.96 §3.3) on COM1, one "mbtest: VARIANT: ..." line per
 * fact, "\n"-terminated:
 *
 *   mbtest: mb32: start
 *   mbtest: mb32: magic 0x2badb002 ok
 *   mbtest: mb32: flags 0x00000245
 *   mbtest: mb32: mem_lower 639 KiB, mem_upper 31744 KiB
 *   mbtest: mb32: mmap 0x00000000_00000000 +0x00000000_0009fc00 type 1
 *   mbtest: mb32: cmdline "mb32.elf hello"
 *   mbtest: mb32: loader "hindsight"
 *   mbtest: mb32: mods 1
 *   mbtest: mb32: mod 0: 0x00108000-0x0010a000 8192 bytes, cksum 4294967295, string "a.bin x"
 *   mbtest: mb32: done, 0 problems
 *
 * A module's cksum is POSIX cksum's CRC (what `cksum FILE` prints first),
 * so a test compares it with the file's. Problems counted: a wrong magic in
 * EAX, mem_* or the memory map missing (header flags bit 1 asks for them),
 * a module not page-aligned (bit 0) or ending before it starts. Then the
 * guest halts (CLI; HLT), or with EXIT_PORT writes the problem count to
 * that port with a 32-bit OUT (hindsight's exit port 0x501; QEMU's
 * isa-debug-exit there exits with 2 * count + 1).
 *
 * Freestanding 32-bit code: no library, no 64-bit division (there is no
 * 32-bit libgcc here), numbers in hex or 32-bit decimal.
 */
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned char u8;

#define MB_BOOT_MAGIC 0x2BADB002
#define COM1 0x3F8
#define LSR_THRE 0x20 /* line status: transmitter holding register empty */

/* Information structure flags. */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER (1u << 9)

struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline;
	u32 mods_count, mods_addr, syms[4];
	u32 mmap_length, mmap_addr;
	u32 drives_length, drives_addr, config_table, boot_loader_name;
};

struct mb_mod {
	u32 mod_start, mod_end, string, reserved;
};

struct mb_mmap {
	u32 size;
	u64 base, length;
	u32 type;
} __attribute__((packed));

static inline void outb(unsigned short port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(unsigned short port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(unsigned short port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc(char c)
{
	while (!(inb(COM1 + 5) & LSR_THRE))
		;
	outb(COM1, c);
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void hex32(u32 v)
{
	puts("0x");
	for (int i = 28; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 15]);
}

static void hex64(u64 v)
{
	hex32((u32)(v >> 32));
	putc('_');
	for (int i = 28; i >= 0; i -= 4)
		putc("0123456789abcdef"[((u32)v >> i) & 15]);
}

static void dec(u32 v)
{
	char b[11];
	int n = 0;
	do {
		b[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (n)
		putc(b[--n]);
}

static void line(const char *s)
{
	puts("mbtest: " VARIANT ": ");
	puts(s);
}

static void quoted(u32 addr)
{
	putc('"');
	puts((const char *)addr);
	puts("\"\n");
}

/* POSIX cksum: CRC-32 with polynomial 0x04C11DB7, MSB first, over the
 * bytes and then the length (least significant byte first, as few bytes
 * as it takes), complemented. */
static u32 crc_byte(u32 crc, u8 b)
{
	crc ^= (u32)b << 24;
	for (int i = 0; i < 8; i++)
		crc = crc & 0x80000000u ? crc << 1 ^ 0x04C11DB7u : crc << 1;
	return crc;
}

static u32 cksum(const u8 *p, u32 n)
{
	u32 crc = 0;
	for (u32 i = 0; i < n; i++)
		crc = crc_byte(crc, p[i]);
	for (u32 len = n; len; len >>= 8)
		crc = crc_byte(crc, (u8)len);
	return ~crc;
}

void mbmain(u32 magic, struct mb_info *mbi)
{
	u32 problems = 0;

	line("start\n");
	line("magic ");
	hex32(magic);
	if (magic != MB_BOOT_MAGIC) {
		puts(" WRONG: want 0x2badb002; stopping\n");
		problems++;
		goto out;
	}
	puts(" ok\n");
	line("flags ");
	hex32(mbi->flags);
	putc('\n');
	if (mbi->flags & MBI_MEM) {
		line("mem_lower ");
		dec(mbi->mem_lower);
		puts(" KiB, mem_upper ");
		dec(mbi->mem_upper);
		puts(" KiB\n");
	} else {
		line("PROBLEM: no mem_lower/mem_upper (flags bit 0)\n");
		problems++;
	}
	if (mbi->flags & MBI_MMAP) {
		u32 p = mbi->mmap_addr, end = mbi->mmap_addr + mbi->mmap_length;
		while (p < end) {
			struct mb_mmap *e = (struct mb_mmap *)p;
			line("mmap ");
			hex64(e->base);
			puts(" +");
			hex64(e->length);
			puts(" type ");
			dec(e->type);
			putc('\n');
			p += e->size + 4;
		}
	} else {
		line("PROBLEM: no memory map (flags bit 6)\n");
		problems++;
	}
	if (mbi->flags & MBI_CMDLINE) {
		line("cmdline ");
		quoted(mbi->cmdline);
	}
	if (mbi->flags & MBI_LOADER) {
		line("loader ");
		quoted(mbi->boot_loader_name);
	}
	line("mods ");
	dec(mbi->flags & MBI_MODS ? mbi->mods_count : 0);
	putc('\n');
	if (mbi->flags & MBI_MODS) {
		struct mb_mod *m = (struct mb_mod *)mbi->mods_addr;
		for (u32 i = 0; i < mbi->mods_count; i++, m++) {
			line("mod ");
			dec(i);
			puts(": ");
			hex32(m->mod_start);
			putc('-');
			hex32(m->mod_end);
			if (m->mod_end < m->mod_start || m->mod_start & 0xFFF) {
				puts(" PROBLEM: not page-aligned or ends before it starts\n");
				problems++;
				continue;
			}
			putc(' ');
			dec(m->mod_end - m->mod_start);
			puts(" bytes, cksum ");
			dec(cksum((const u8 *)m->mod_start, m->mod_end - m->mod_start));
			puts(", string ");
			quoted(m->string ? m->string : (u32) "");
		}
	}
out:
	line("done, ");
	dec(problems);
	puts(" problems\n");
#ifdef EXIT_PORT
	outl(EXIT_PORT, problems);
#endif
}
