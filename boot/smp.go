package boot

import (
	"sync/atomic"
	"unsafe"

	"hindsight/apic"
)

// SMP bring-up: the processors come from the ACPI MADT (else the MP
// table's processor entries; else just the bootstrap processor, said so on
// the console). Each AP is started with INIT-SIPI-SIPI into a real-mode
// trampoline at 0x8000 that goes straight to long mode with the kernel's
// page tables and jumps to apEntry64 (entry_amd64.s).

const (
	trampolineAddr = 0x8000
	trampolineSIPI = trampolineAddr >> 12

	// Data words inside the trampoline page, written by the BSP per AP.
	trampCPU  = 0xD8 // *cpu for apEntry64
	trampCR3  = 0xE8
	trampGDTR = 0xF0 // limit (2 bytes), base (4 bytes)
	trampJump = 0x3C // imm32 of the far jump: apEntry64
	trampEFER = 0x28 // imm32 ORed into EFER: LME, and NXE when present
)

// apTrampoline is 16-bit code, hand-assembled (offsets on the left):
var apTrampoline = [...]byte{
	0xFA,       // 00 cli
	0x8C, 0xC8, // 01 mov ax, cs
	0x8E, 0xD8, // 03 mov ds, ax          ; offsets below are page-relative
	0x66, 0x0F, 0x01, 0x16, trampGDTR, 0x00, // 05 lgdt dword [0xF0]
	0x0F, 0x20, 0xE0, // 0B mov eax, cr4
	0x66, 0x0D, 0x20, 0x00, 0x00, 0x00, // 0E or eax, CR4.PAE
	0x0F, 0x22, 0xE0, // 14 mov cr4, eax
	0x66, 0xA1, trampCR3, 0x00, // 17 mov eax, [0xE8]
	0x0F, 0x22, 0xD8, // 1B mov cr3, eax
	0x66, 0xB9, 0x80, 0x00, 0x00, 0xC0, // 1E mov ecx, IA32_EFER
	0x0F, 0x32, // 24 rdmsr
	0x66, 0x0D, 0x00, 0x01, 0x00, 0x00, // 26 or eax, EFER.LME (patched: | NXE)
	0x0F, 0x30, // 2C wrmsr
	0x0F, 0x20, 0xC0, // 2E mov eax, cr0
	0x66, 0x0D, 0x01, 0x00, 0x00, 0x80, // 31 or eax, CR0.PG | CR0.PE
	0x0F, 0x22, 0xC0, // 37 mov cr0, eax      ; long mode, 16-bit compatibility
	0x66, 0xEA, 0, 0, 0, 0, selCode, 0x00, // 3A jmp far 0x08:apEntry64 (patched)
}

// ioapicInfo is what the MADT says about the first IOAPIC and the serial
// line's routing (ACPI 6.4 §5.2.12.5, §5.2.12.6).
var ioapicInfo struct {
	base       uintptr
	gsiBase    uint32
	com1GSI    uint32
	com1Flags  uint16 // MPS INTI flags: polarity bits 1:0, trigger bits 3:2
	overridden bool
}

// ebdaBase is the Extended BIOS Data Area's address, read from the BIOS
// data area (word at 0x40E) while page 0 is still mapped.
var ebdaBase uintptr

// APIC IDs of the processors found, in discovery order (index 0: the BSP).
var (
	cpuAPICIDs [maxCPUs]uint32
	ncpuFound  int
	cpuSource  string
)

// startAPs finds the processors and starts every AP, one at a time.
func startAPs() {
	findCPUs()
	puts("boot: ")
	putDec(uint64(ncpuFound))
	puts(" CPU(s) from ")
	puts(cpuSource)
	puts("\n")
	page := uintptr(trampolineAddr)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(page)), len(apTrampoline)), apTrampoline[:])
	*(*uint32)(unsafe.Pointer(page + trampJump)) = uint32(addrAPEntry64())
	efer := uint32(eferLME)
	if hasNX {
		efer |= eferNXE
	}
	*(*uint32)(unsafe.Pointer(page + trampEFER)) = efer
	*(*uint32)(unsafe.Pointer(page + trampCR3)) = uint32(kernelPML4)

	for i := 0; i < ncpuFound; i++ {
		id := cpuAPICIDs[i]
		if id == cpus[0].apicID {
			continue
		}
		if ncpu == maxCPUs {
			klog("more CPUs than maxCPUs; the rest stay parked")
			break
		}
		c := &cpus[ncpu]
		initCPUBlock(c, ncpu)
		c.apicID = id
		gdt := uintptr(unsafe.Pointer(&c.gdt))
		*(*uint16)(unsafe.Pointer(page + trampGDTR)) = uint16(len(c.gdt)*8 - 1)
		*(*uint32)(unsafe.Pointer(page + trampGDTR + 2)) = uint32(gdt)
		c.gdt[1] = descCode64
		c.gdt[2] = descData
		*(*uint64)(unsafe.Pointer(page + trampCPU)) = uint64(uintptr(unsafe.Pointer(c)))

		// INIT, 10 ms, SIPI, 200 us, SIPI (SDM Vol. 3A §9.4.4.1).
		lapic.SendInit(id)
		delay(10e6)
		lapic.SendStartup(id, trampolineSIPI)
		delay(200e3)
		if atomic.LoadUint32(&c.online) == 0 {
			lapic.SendStartup(id, trampolineSIPI)
		}
		deadline := nanotime() + 200e6
		for atomic.LoadUint32(&c.online) == 0 && nanotime() < deadline {
			pause()
		}
		if atomic.LoadUint32(&c.online) == 0 {
			puts("boot: CPU with APIC ID ")
			putDec(uint64(id))
			puts(" did not start\n")
			continue
		}
		onlineMask |= 1 << uint(ncpu)
		ncpu++
	}
}

// apMain runs on a freshly started AP in kernel context, then returns into
// resume to run its idle loop until the scheduler gives it a thread.
func apMain(c *cpu) {
	initFPU()
	loadDescriptors(c)
	initSyscallMSRs()
	if lapic.X2 {
		apic.EnableX2APIC()
	}
	lapic.Enable(vecSpurious)
	lapic.StartTimer(vecTimer, uint32(clk.lapicHz/tickHz), true)
	atomic.StoreUint32(&c.online, 1)
}

// findCPUs fills cpuAPICIDs.
func findCPUs() {
	if rsdp := findRSDP(); rsdp != 0 && parseMADT(rsdp) {
		cpuSource = "the ACPI MADT"
		return
	}
	if parseMPTable() {
		cpuSource = "the MP table"
		return
	}
	cpuAPICIDs[0] = cpus[0].apicID
	ncpuFound = 1
	cpuSource = "nowhere (no ACPI MADT, no MP table): running on the boot CPU only"
}

func bytesAt(p uintptr, n int) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(p)), n) }

func checksumOK(p uintptr, n int) bool {
	var s byte
	for _, b := range bytesAt(p, n) {
		s += b
	}
	return s == 0
}

// scanFor finds a 16-byte-aligned signature with a valid checksum over
// length(p) bytes in [start, end).
func scanFor(start, end uintptr, sig string, length func(p uintptr) int) uintptr {
	for p := start; p+16 <= end; p += 16 {
		if string(bytesAt(p, len(sig))) == sig && checksumOK(p, length(p)) {
			return p
		}
	}
	return 0
}

// findRSDP searches the EBDA's first KiB and the BIOS area 0xE0000-0xFFFFF
// (ACPI 6.4 §5.2.5.1).
func findRSDP() uintptr {
	rsdpLen := func(uintptr) int { return 20 }
	if ebda := ebdaBase; ebda >= 0x80000 && ebda < 0xA0000 {
		if p := scanFor(ebda, ebda+1024, "RSD PTR ", rsdpLen); p != 0 {
			return p
		}
	}
	return scanFor(0xE0000, 0x100000, "RSD PTR ", rsdpLen)
}

// parseMADT walks the RSDT (or XSDT) to the "APIC" table and collects the
// enabled processor-local-APIC entries (ACPI 6.4 §5.2.12).
func parseMADT(rsdp uintptr) bool {
	rev := *(*byte)(unsafe.Pointer(rsdp + 15))
	root, entry := uintptr(load32(rsdp+16)), uintptr(4)
	if rev >= 2 && load64(rsdp+24) != 0 {
		root, entry = uintptr(load64(rsdp+24)), 8
	}
	if root == 0 || root >= uintptr(identTop) {
		return false
	}
	n := (uintptr(load32(root+4)) - 36) / entry
	for i := uintptr(0); i < n; i++ {
		var t uintptr
		if entry == 8 {
			t = uintptr(load64(root + 36 + i*8))
		} else {
			t = uintptr(load32(root + 36 + i*4))
		}
		if t == 0 || t >= uintptr(identTop) || string(bytesAt(t, 4)) != "APIC" {
			continue
		}
		end := t + uintptr(load32(t+4))
		for p := t + 44; p+2 <= end; {
			typ, l := *(*byte)(unsafe.Pointer(p)), uintptr(*(*byte)(unsafe.Pointer(p + 1)))
			if l < 2 {
				break
			}
			const madtLocalAPIC, madtIOAPIC, madtOverride, madtLocalX2APIC, enabled = 0, 1, 2, 9, 1
			switch {
			case typ == madtLocalAPIC && load32(p+4)&enabled != 0 && ncpuFound < maxCPUs:
				cpuAPICIDs[ncpuFound] = uint32(*(*byte)(unsafe.Pointer(p + 3)))
				ncpuFound++
			case typ == madtLocalX2APIC && l >= 16 && load32(p+8)&enabled != 0 && ncpuFound < maxCPUs && lapic.X2:
				// ACPI 6.5 §5.2.12.12: processors whose APIC ID does not
				// fit 8 bits; only x2APIC mode can address them.
				cpuAPICIDs[ncpuFound] = load32(p + 4)
				ncpuFound++
			case typ == madtIOAPIC && ioapicInfo.base == 0:
				ioapicInfo.base, ioapicInfo.gsiBase = uintptr(load32(p+4)), load32(p+8)
			case typ == madtOverride && *(*byte)(unsafe.Pointer(p + 3)) == irqCOM1:
				ioapicInfo.com1GSI = load32(p + 4)
				ioapicInfo.com1Flags = *(*uint16)(unsafe.Pointer(p + 8))
				ioapicInfo.overridden = true
			}
			p += l
		}
		return ncpuFound > 0
	}
	return false
}

// parseMPTable reads processor entries from the Intel MultiProcessor
// Specification 1.4 configuration table.
func parseMPTable() bool {
	mpLen := func(p uintptr) int { return 16 * int(*(*byte)(unsafe.Pointer(p + 8))) }
	fp := scanFor(0xF0000, 0x100000, "_MP_", mpLen)
	if fp == 0 {
		if ebda := ebdaBase; ebda >= 0x80000 && ebda < 0xA0000 {
			fp = scanFor(ebda, ebda+1024, "_MP_", mpLen)
		}
	}
	if fp == 0 || load32(fp+4) == 0 {
		return false
	}
	cfg := uintptr(load32(fp + 4))
	if string(bytesAt(cfg, 4)) != "PCMP" {
		return false
	}
	count := int(*(*uint16)(unsafe.Pointer(cfg + 34)))
	p := cfg + 44
	for i := 0; i < count; i++ {
		switch *(*byte)(unsafe.Pointer(p)) {
		case 0: // processor, 20 bytes: APIC ID at 1, flags at 3 (bit 0: enabled)
			if *(*byte)(unsafe.Pointer(p + 3))&1 != 0 && ncpuFound < maxCPUs {
				cpuAPICIDs[ncpuFound] = uint32(*(*byte)(unsafe.Pointer(p + 1)))
				ncpuFound++
			}
			p += 20
		default:
			p += 8
		}
	}
	return ncpuFound > 0
}
