/*
 * dbgtest.c - the guest of hindsight's debugger tests (guest/dbgtest): a
 * 64-bit multiboot guest with symbols and DWARF, whose path depends on
 * where its timer interrupts land, and which then fails on purpose, or
 * checks that single steps leave no trace in its flags.
 *
 * The multiboot command line picks what it does (words after the file
 * name):
 *
 *   rounds=N     compute N rounds (default 200000); each calls
 *                compute_step, which mixes in the tick count: the state
 *                printed ("dbgtest: state 0x...") depends on where every
 *                tick landed
 *   crash=null   then call a NULL function pointer: #PF at address 0 (page
 *                0 is not present); the page-fault handler reports it and
 *                writes exit status 14 to port 0x501 (a failure)
 *   crash=triple then load an IDT of limit 0 and execute INT3: #GP, #DF,
 *                triple fault
 *   crash=exit   then write exit status 3 to port 0x501
 *   flags        instead, check that RFLAGS.TF never shows where the guest
 *                can see it: PUSHF, an INT 0x80 frame, INT3, a #UD fault
 *                frame, R11 after SYSCALL; and that its own TF still
 *                single-steps it (a #DB per instruction); prints
 *                "dbgtest: flags: N checks, M bad" and exits with status M
 *
 * Without crash= or flags it exits with status 0. Output goes to COM1.
 */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define COM1 0x3F8
#define EXIT_PORT 0x501
#define RFLAGS_TF (1ull << 8)

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, c);
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void puthex(u64 v)
{
	puts("0x");
	for (int i = 60; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 0xF]);
}

static void putdec(u64 v)
{
	char b[21];
	int i = 20;
	b[i] = 0;
	do {
		b[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	puts(b + i);
}

static void exit_status(u32 status)
{
	puts("dbgtest: exit status ");
	putdec(status);
	puts("\n");
	outl(EXIT_PORT, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* The frame the stubs in entry.S build. */
struct frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

struct gate {
	u16 off0, sel;
	u8 ist, type;
	u16 off1;
	u32 off2, zero;
} __attribute__((packed));

static struct gate idt[256] __attribute__((aligned(16)));
extern char stubs[];
extern char syscall_entry[];

struct dtr {
	u16 limit;
	u64 base;
} __attribute__((packed));

static void set_gate(int v, u8 type)
{
	u64 a = (u64)stubs + 16 * v;
	idt[v] = (struct gate){.off0 = a, .sel = 0x08, .type = type, .off1 = a >> 16, .off2 = a >> 32};
}

static void load_idt(void *base, u16 limit)
{
	struct dtr d = {.limit = limit, .base = (u64)base};
	__asm__ volatile("lidt %0" : : "m"(d));
}

/* The timer: the PIT's channel 0 at 1 kHz through the master PIC's IRQ0,
 * on vector 0x20. */
volatile u64 ticks;
volatile u64 tick_mix; /* where the ticks landed */
volatile u64 round;

static void pic_pit_init(void)
{
	outb(0x20, 0x11), outb(0x21, 0x20), outb(0x21, 0x04), outb(0x21, 0x01);
	outb(0xA0, 0x11), outb(0xA1, 0x28), outb(0xA1, 0x02), outb(0xA1, 0x01);
	outb(0x21, 0xFE), outb(0xA1, 0xFF); /* IRQ0 only */
	outb(0x43, 0x34);		    /* channel 0, lobyte/hibyte, mode 2 */
	outb(0x40, 1193 & 0xFF), outb(0x40, 1193 >> 8);
}

/* The flag checks. */
static u64 checks, bad;
static volatile u64 own_steps; /* #DB traps of the guest's own TF */
static volatile int stepping_self;

static void check(const char *what, u64 rflags)
{
	checks++;
	if (rflags & RFLAGS_TF) {
		bad++;
		puts("dbgtest: flags: TF visible in ");
		puts(what);
		puts("\n");
	}
}

void check_syscall_flags(u64 r11) { check("R11 after SYSCALL", r11); }

void tick_handler(struct frame *f)
{
	ticks++;
	tick_mix = tick_mix * 31 + round + (f->rip & 0xFFF);
	outb(0x20, 0x20); /* EOI */
}

void trap(struct frame *f)
{
	switch (f->vector) {
	case 0x20:
		tick_handler(f);
		return;
	case 0x80:
		check("an INT 0x80 frame", f->rflags);
		return;
	case 3:
		check("an INT3 frame", f->rflags);
		return;
	case 6:
		check("a #UD fault frame", f->rflags);
		f->rip += 2; /* past the UD2 */
		return;
	case 1:
		if (stepping_self) {
			own_steps++;
			if (own_steps >= 3)
				f->rflags &= ~RFLAGS_TF; /* three traps are enough */
			return;
		}
		break;
	case 14: {
		u64 cr2;
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		puts("dbgtest: page fault at ");
		puthex(cr2);
		puts(", rip ");
		puthex(f->rip);
		puts("\n");
		exit_status(14);
	}
	}
	puts("dbgtest: unexpected vector ");
	puthex(f->vector);
	puts(" at rip ");
	puthex(f->rip);
	puts("\n");
	exit_status(0x40 + (u32)f->vector);
}

__attribute__((noinline)) u64 compute_step(u64 x, u64 i)
{
	return x * 6364136223846793005ull + i + ticks;
}

static u64 read_flags(void)
{
	u64 f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

static void wrmsr(u32 msr, u64 v) { __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32))); }

__attribute__((noinline)) void flags_test(void)
{
	wrmsr(0xC0000081, 0x08ull << 32);	  /* STAR: SYSCALL CS 0x08, SS 0x10 */
	wrmsr(0xC0000082, (u64)syscall_entry);	  /* LSTAR */
	wrmsr(0xC0000084, RFLAGS_TF | (1 << 9)); /* FMASK: TF, IF, as Linux */
	for (int i = 0; i < 4; i++) {
		check("PUSHF", read_flags());
		__asm__ volatile("int $0x80");
		__asm__ volatile("int3");
		__asm__ volatile("syscall" : : : "rcx", "r11", "memory");
		/* Last: the #UD handler's IRET returns with RF set (a fault's
		 * frame has it), which suppresses a debug-register breakpoint at
		 * the next instruction, as on any x86. */
		__asm__ volatile("ud2");
	}
	/* The guest's own single steps: TF set by POPF traps after each
	 * instruction; the handler counts three and clears it. */
	stepping_self = 1;
	__asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq; nop; nop; nop; nop; nop" : : : "memory");
	stepping_self = 0;
	checks++;
	if (own_steps != 3) {
		bad++;
		puts("dbgtest: flags: the guest's own TF trapped ");
		putdec(own_steps);
		puts(" times, want 3\n");
	}
	check("PUSHF after the guest's own steps", read_flags());
	puts("dbgtest: flags: ");
	putdec(checks);
	puts(" checks, ");
	putdec(bad);
	puts(" bad\n");
}

__attribute__((noinline)) void crash_now(const char *how)
{
	puts("dbgtest: crashing: ");
	puts(how);
	puts("\n");
	if (how[0] == 'n') { /* null */
		void (*f)(void) = 0;
		__asm__ volatile("" : "+r"(f));
		f();
	} else if (how[0] == 't') { /* triple */
		load_idt(idt, 0);
		__asm__ volatile("int3");
	}
	exit_status(3);
}

/* word returns the value of key=... in the command line, or 0. */
static const char *word(const char *cmd, const char *key, int *len)
{
	for (const char *p = cmd; p && *p;) {
		while (*p == ' ')
			p++;
		const char *k = key, *q = p;
		while (*k && *q == *k)
			k++, q++;
		if (!*k && (*q == '=' || *q == ' ' || !*q)) {
			if (*q == '=')
				q++;
			const char *e = q;
			while (*e && *e != ' ')
				e++;
			*len = e - q;
			return q;
		}
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

void kmain(u32 magic, u32 info)
{
	const char *cmd = "";
	if (magic == 0x2BADB002 && (*(u32 *)(u64)info & (1 << 2)))
		cmd = (const char *)(u64)((u32 *)(u64)info)[4];
	puts("dbgtest: start: ");
	puts(cmd);
	puts("\n");
	for (int v = 0; v < 256; v++)
		set_gate(v, 0x8E);
	set_gate(0x80, 0x8F);
	set_gate(3, 0x8F);
	load_idt(idt, sizeof idt - 1);
	int len;
	if (word(cmd, "flags", &len)) {
		flags_test();
		exit_status(bad);
	}
	u64 rounds = 200000;
	const char *r = word(cmd, "rounds", &len);
	if (r) {
		rounds = 0;
		for (int i = 0; i < len; i++)
			rounds = rounds * 10 + (r[i] - '0');
	}
	pic_pit_init();
	__asm__ volatile("sti");
	u64 state = 0;
	for (round = 0; round < rounds; round++) {
		state = compute_step(state, round);
		if (round % 50000 == 0) {
			puts("dbgtest: round ");
			putdec(round);
			puts("\n");
		}
	}
	__asm__ volatile("cli");
	puts("dbgtest: state ");
	puthex(state ^ tick_mix);
	puts(", ticks ");
	putdec(ticks);
	puts("\n");
	const char *how = word(cmd, "crash", &len);
	if (how)
		crash_now(how);
	exit_status(0);
}
