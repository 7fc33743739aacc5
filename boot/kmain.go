package boot

import (
	"bytes"
	"unsafe"

	"hindsight/apic"
	"hindsight/boot/msr"
)

// Kernel start on the bootstrap processor. kmain runs on bootStack in
// kernel context (interrupts off, GS/FS set up by start64) and returns into
// resume with cpus[0].cur naming thread 0, whose frame enters the Go
// runtime at _rt0_amd64_linux with a Linux process stack.

// CPU features found by kmain (CPUID leaf 1 and 0x80000001).
var (
	hasRDRAND bool
	hasX2APIC bool
	hasVMX    bool
	hasNX     bool
)

// imageEnd is the end of the loaded image (bss included), set from the
// linker's runtime.end symbol.
func imageEnd() uintptr

// The kernel image starts at the multiboot header page (tools/mkimage).
const imageStart = 0x3FF000

// Boot timing, in TSC ticks (one per emulated instruction in Bochs).
var (
	entryTSC uint64 // at multibootEntry
	waitTSC  uint64 // spent in calibration and AP start-up busy-waits
)

func kmain(magic, info uint64) {
	entryTSC = load64(0x6FF8)
	consoleInit()
	puts("\nboot: hindsight starting\n")
	if magic != multibootMagic {
		puts("boot: not started by a multiboot loader (eax ")
		putHex(magic)
		puts("); stopping\n")
		haltForever()
	}
	parseMultiboot(uintptr(info))
	ebdaBase = uintptr(*(*uint16)(unsafe.Pointer(uintptr(0x40E)))) << 4
	parseCmdline()
	probeCPU()
	hasRDRAND = hasRDRAND && !noRDRAND
	lapic.X2 = hasX2APIC && !noX2APIC
	initFPU()

	if !initMemory() {
		haltForever()
	}
	c := &cpus[0]
	initCPUBlock(c, 0)
	if !checkVectorStubs() {
		klog("interrupt stubs are not 16 bytes apart; the IDT would be wrong")
		haltForever()
	}
	initIDT()
	loadDescriptors(c)
	initSyscallMSRs()
	initPIC()
	if lapic.X2 {
		apic.EnableX2APIC()
	}
	lapic.Enable(vecSpurious)
	c.apicID = lapic.ID()
	w := rdtsc()
	calibrate(lapic)
	waitTSC += rdtsc() - w
	puts("boot: tsc ")
	putDec(clk.tscHz / 1000)
	puts(" kHz, apic timer ")
	putDec(clk.lapicHz / 1000)
	if lapic.X2 {
		puts(" kHz, local APIC in x2APIC mode\n")
	} else {
		puts(" kHz, local APIC in xAPIC mode\n")
	}

	c.online = 1
	ncpu = 1
	onlineMask = 1
	w = rdtsc()
	startAPs()
	waitTSC += rdtsc() - w
	routeConsoleIRQ()
	initFDs()
	vm.next = mmapBase

	idx, t := newThread()
	if !setupProcess(t) {
		klog("cannot build the process stack")
		haltForever()
	}
	t.state = tsRunning
	t.cpu = 0
	charge(c)
	c.running = idx
	c.cur = uintptr(unsafe.Pointer(&t.f))
	lapic.StartTimer(vecTimer, uint32(clk.lapicHz/tickHz), true)
	puts("boot: entering the Go runtime\n")
}

func probeCPU() {
	_, _, ecx, _ := cpuid(1, 0)
	hasRDRAND = ecx&(1<<30) != 0
	hasX2APIC = ecx&(1<<21) != 0
	hasVMX = ecx&(1<<5) != 0
	if max, _, _, _ := cpuid(0x80000000, 0); max >= 0x80000001 {
		_, _, _, edx := cpuid(0x80000001, 0)
		hasNX = edx&(1<<20) != 0
	}
}

// initFPU enables SSE (the Go runtime needs it) and leaves AVX disabled
// (CR4.OSXSAVE clear), so FXSAVE covers all the state a thread has.
func initFPU() {
	writeCR0(readCR0()&^(cr0EM|cr0TS|cr0CD|cr0NW) | cr0MP | cr0NE | cr0WP)
	writeCR4(readCR4() | cr4OSFXSR | cr4OSXMMEXCPT)
	fpuInit()
}

func initSyscallMSRs() {
	efer := msr.Read(msrIA32_EFER) | eferSCE
	if hasNX {
		efer |= eferNXE
	}
	msr.Write(msrIA32_EFER, efer)
	msr.Write(msrIA32_STAR, uint64(selCode)<<32)
	msr.Write(msrIA32_LSTAR, uint64(addrSyscallEntry()))
	msr.Write(msrIA32_FMASK, rflagsIF|rflagsTF|rflagsDF|rflagsAC|rflagsNT)
}

// initPIC remaps the 8259 pair to vectors 0x30-0x3F and masks it: left as
// the BIOS set it, IRQ0 arrives on vector 8 and looks like a double fault.
func initPIC() {
	outb(0x20, 0x11)
	outb(0xA0, 0x11)
	outb(0x21, 0x30)
	outb(0xA1, 0x38)
	outb(0x21, 0x04)
	outb(0xA1, 0x02)
	outb(0x21, 0x01)
	outb(0xA1, 0x01)
	outb(0x21, 0xFF)
	outb(0xA1, 0xFF)
}

// initMemory collects free RAM, reserves the guest regions, and switches to
// the kernel's page tables.
func initMemory() bool {
	// Holes: the low megabyte, the image, and the multiboot modules, which
	// stay where the loader put them until the hypervisor copies them.
	var holes [2 + maxModules]memRange
	holes[0] = memRange{0, 1 << 20}
	holes[1] = memRange{imageStart, uint64(imageEnd())}
	nholes := 2 + keepModules(holes[2:])
	printModules()
	var top uint64
	for i := 0; i < bootInfo.nram; i++ {
		r := bootInfo.ram[i]
		phys.total += r.end - r.start
		if r.end > top {
			top = r.end
		}
		physAddRange(r.start, r.end, holes[:nholes])
	}
	phys.top = top
	nxEnabled = hasNX
	if hasNX {
		msr.Write(msrIA32_EFER, msr.Read(msrIA32_EFER)|eferNXE)
	}
	if !reserveGuestRAM() {
		return false
	}
	if !buildKernelTables(top) {
		klog("out of memory building the page tables")
		return false
	}
	writeCR3(kernelPML4)
	puts("boot: memory ")
	putDec(phys.total >> 20)
	puts(" MiB, free ")
	putDec(physFreeBytes() >> 20)
	puts(" MiB\n")
	return true
}

// noVDSO ("vdso=off") leaves clock_gettime a system call.
var noVDSO bool

// noX2APIC ("x2apic=off") keeps the local APICs in xAPIC mode on a CPU
// that has x2APIC.
var noX2APIC bool

// Process start-up stack (System V ABI AMD64 §3.4.1): argc, argv[], NULL,
// envp[], NULL, auxv pairs, then the strings.
const (
	atNull   = 0
	atPagesz = 6
	atClktck = 17
	atSecure = 23
	atRandom = 25

	maxArgs = 32
)

var processStack [256 << 10]byte

func setupProcess(t *thread) bool {
	top := uintptr(unsafe.Pointer(&processStack)) + uintptr(len(processStack))
	// Strings: the command line words, copied to the top of the stack.
	strs := top - 1024
	copy(unsafe.Slice((*byte)(unsafe.Pointer(strs)), 1024), bootInfo.cmdline[:bootInfo.cmdlen])
	random := strs - 16
	for i := uintptr(0); i < 16; i += 8 {
		*(*uint64)(unsafe.Pointer(random + i)) = random64()
	}
	var argv [maxArgs]uintptr
	argc := 0
	argv[argc] = uintptr(unsafe.Pointer(&progName[0]))
	argc++
	b := unsafe.Slice((*byte)(unsafe.Pointer(strs)), bootInfo.cmdlen+1)
	for i := 0; i < bootInfo.cmdlen && argc < maxArgs; {
		for i < bootInfo.cmdlen && b[i] == ' ' {
			b[i] = 0
			i++
		}
		if i < bootInfo.cmdlen {
			argv[argc] = strs + uintptr(i)
			argc++
		}
		for i < bootInfo.cmdlen && b[i] != ' ' {
			i++
		}
	}
	// argc, argv[argc], NULL, envp NULL, five auxv pairs, AT_NULL pair.
	nwords := 1 + argc + 1 + 1 + 10 + 2
	sp := (random - uintptr(8*nwords)) &^ 15
	words := unsafe.Slice((*uint64)(unsafe.Pointer(sp)), nwords)
	n := 0
	push := func(v uint64) { words[n] = v; n++ }
	push(uint64(argc))
	for i := 0; i < argc; i++ {
		push(uint64(argv[i]))
	}
	push(0) // end of argv
	push(0) // empty envp
	push(atPagesz)
	push(pageSize)
	push(atClktck)
	push(tickHz)
	push(atSecure)
	push(0)
	push(atRandom)
	push(uint64(random))
	if !noVDSO {
		buildVDSO(&vdsoImage, addrVDSOClockGettime())
		push(atSysinfoEhdr)
		push(uint64(uintptr(unsafe.Pointer(&vdsoImage))))
	} else {
		push(atSecure) // a harmless repeat keeps the word count fixed
		push(0)
	}
	push(atNull)
	push(0)
	t.f.rip = uint64(addrRuntimeEntry())
	t.f.rsp = uint64(sp)
	t.f.cs = selCode
	t.f.ss = selData
	t.f.rflags = rflagsReserved | rflagsIF
	fxsave(t.f.fxptr) // the FPU state fpuInit left: FCW 0x37F, MXCSR 0x1F80
	return true
}

var progName = [...]byte{'h', 'i', 'n', 'd', 's', 'i', 'g', 'h', 't', 0}

// parseCmdline applies the options the kernel itself reads.
func parseCmdline() {
	traceSyscalls = cmdlineHas("trace=syscalls")
	noRDRAND = cmdlineHas("rdrand=off")
	noVDSO = cmdlineHas("vdso=off")
	noX2APIC = cmdlineHas("x2apic=off")
}

// cmdlineHas reports whether word appears as a whole word in the command line.
func cmdlineHas(word string) bool {
	return cmdlineWord(func(w []byte) bool { return string(w) == word }) != nil
}

// cmdlineWord returns the first space-separated word of the command line
// that match accepts, or nil.
func cmdlineWord(match func(w []byte) bool) []byte {
	s := bootInfo.cmdline[:bootInfo.cmdlen]
	for len(s) > 0 {
		n := bytes.IndexByte(s, ' ')
		if n < 0 {
			n = len(s)
		}
		if w := s[:n]; len(w) > 0 && match(w) {
			return w
		}
		s = s[min(n+1, len(s)):]
	}
	return nil
}
