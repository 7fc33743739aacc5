package boot

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"hindsight/boot/msr"
)

// The API the hypervisor (ordinary Go code) uses. It runs as a normal
// program on top of the Linux system call layer, so everything here goes
// through system calls or reads state the kernel wrote before the runtime
// started.

// CmdLine returns the multiboot command line.
func CmdLine() string { return string(bootInfo.cmdline[:bootInfo.cmdlen]) }

// Module is a multiboot module the loader placed in memory (GRUB's
// `module` lines, QEMU's -initrd list), kept out of the frame allocator:
// its bytes stay as the loader left them.
type Module struct {
	Cmdline    string // the module's string: the file name, then its arguments
	Base, Size uint64 // host-physical, identity-mapped
}

// Bytes returns the module's contents, in place (identity-mapped); writes
// change the module.
func (m Module) Bytes() []byte {
	if m.Size == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(m.Base))), m.Size)
}

// Modules returns the modules in the loader's order, without those boot
// could not keep (its boot line says IGNORED).
func Modules() []Module {
	var ms []Module
	for i := 0; i < bootInfo.nmods; i++ {
		m := &bootInfo.mods[i]
		if m.below1M || m.overlap {
			continue
		}
		ms = append(ms, Module{Cmdline: string(moduleString(i)), Base: m.start, Size: m.end - m.start})
	}
	return ms
}

// NumCPU returns the number of CPUs running the scheduler.
func NumCPU() int { return ncpu }

// CPUSource says where the CPU list came from (ACPI MADT, MP table, ...).
func CPUSource() string { return cpuSource }

// CurrentCPU returns the CPU the calling thread runs on (getcpu).
func CurrentCPU() int {
	var c uint32
	syscall.RawSyscall(sysGetcpu, uintptr(unsafe.Pointer(&c)), 0, 0)
	return int(c)
}

// Pin locks the calling goroutine to its OS thread and that thread to CPU
// cpu for the rest of the goroutine's life (the vCPU loops live this way).
func Pin(cpu int) error {
	if cpu < 0 || cpu >= ncpu {
		return errBadCPU
	}
	runtime.LockOSThread()
	mask := uint64(1) << uint(cpu)
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, 8, uintptr(unsafe.Pointer(&mask)))
	if e != 0 {
		return e
	}
	if CurrentCPU() != cpu {
		runtime.Gosched() // the scheduler moves the thread at its next entry
	}
	return nil
}

type bootError string

func (e bootError) Error() string { return string(e) }

const errBadCPU = bootError("boot: no such CPU")

// GuestRegion is host-physical memory reserved for a guest; identity-mapped.
type GuestRegion struct{ Base, Size uint64 }

// GuestMemory returns the memory reserved for guests with guestmem=
// (Size 0 without it): one 2 MiB-aligned region; the hypervisor decides
// how to split it between replicas.
func GuestMemory() GuestRegion { return GuestRegion{guestRAM.base, guestRAM.size} }

// Stats are counters of the ring-0 layer.
type Stats struct {
	Syscalls      uint64
	Unimplemented uint32
	FramesUsed    uint64 // bytes of physical memory given to the runtime
	FramesLeaked  uint64 // bytes kept out of circulation after munmap
	TSCHz         uint64
	Entry         uintptr // multiboot entry point of the image
	EntryTSC      uint64  // TSC when the loader entered the image
	WaitTSC       uint64  // TSC ticks spent in boot busy-waits (calibration, AP start)
}

// ReadStats returns the current counters.
func ReadStats() Stats {
	return Stats{
		Syscalls:      atomic.LoadUint64(&syscallCount),
		Unimplemented: atomic.LoadUint32(&unimplemented),
		FramesUsed:    atomic.LoadUint64(&phys.used),
		FramesLeaked:  atomic.LoadUint64(&phys.leaked),
		TSCHz:         clk.tscHz,
		Entry:         imageEntry,
		EntryTSC:      entryTSC,
		WaitTSC:       waitTSC,
	}
}

// HasVMX reports CPUID.1:ECX.VMX.
func HasVMX() bool { return hasVMX }

// TSC reads the time-stamp counter (RDTSC; CPL0, so always allowed).
func TSC() uint64 { return rdtsc() }

// AllocPhys returns pages zeroed, physically contiguous 4 KiB frames aligned
// to align bytes, for structures the CPU reads by physical address (VMCS,
// EPT tables, bitmaps). Physical memory is identity-mapped, so the address
// is also a valid pointer. The frames are never freed.
func AllocPhys(pages int, align uint64) (uint64, error) {
	r, _, e := syscall.RawSyscall(sysAllocPhys, uintptr(pages), uintptr(align), 0)
	if e != 0 {
		return 0, fmt.Errorf("boot: allocating %d physical pages (align %#x): %w", pages, align, e)
	}
	return uint64(r), nil
}

// FreeMemory returns how many bytes of physical memory are still free
// for AllocPhys and the Go heap.
func FreeMemory() uint64 {
	r, _, _ := syscall.RawSyscall(sysPhysFree, 0, 0, 0)
	return uint64(r)
}

// HostRegs is the processor state a VMCS host-state area must reproduce so
// that the Go runtime keeps working after a VM exit: the calling thread on
// its current CPU.
type HostRegs struct {
	CR0, CR3, CR4, EFER uint64
	GDTRBase, IDTRBase  uint64
	TRBase              uint64 // this CPU's TSS
	FSBase, GSBase      uint64 // the thread's TLS; this CPU's block
	CS, SS, TR          uint16 // selectors (DS, ES, FS, GS may be 0)
	CPU                 int
}

// CurrentHostRegs returns HostRegs for the caller. Precondition: the caller
// is pinned (Pin), so the CPU cannot change under it.
func CurrentHostRegs() HostRegs {
	c := thisCPU()
	return HostRegs{
		CR0: readCR0(), CR3: readCR3(), CR4: readCR4(), EFER: msr.Read(msrIA32_EFER),
		GDTRBase: uint64(uintptr(unsafe.Pointer(&c.gdt))),
		IDTRBase: uint64(uintptr(unsafe.Pointer(&idt))),
		TRBase:   uint64(uintptr(unsafe.Pointer(&c.tss))),
		FSBase:   msr.Read(msrIA32_FS_BASE),
		GSBase:   uint64(c.self),
		CS:       selCode, SS: selData, TR: selTSS,
		CPU: c.id,
	}
}

// SetCR0CR4 loads CR0 and CR4 on the caller's CPU (e.g. CR4.VMXE and the
// VMX fixed bits before VMXON). Precondition: the caller is pinned.
func SetCR0CR4(cr0, cr4 uint64) {
	writeCR0(cr0)
	writeCR4(cr4)
}

// ThreadTSC returns the TSC ticks the calling thread has spent on a CPU,
// kernel work done while it was current included: its own time, unlike
// TSC differences, which also count other threads that ran meanwhile. No
// system call; safe in VM-exit context. Precondition: the caller is pinned
// (Pin), so its CPU block stays its own.
func ThreadTSC() uint64 {
	c := thisCPU()
	for {
		since := atomic.LoadUint64(&c.switched)
		t := threads[c.running].onCPU + rdtsc() - since
		if atomic.LoadUint64(&c.switched) == since {
			return t // no switch in between
		}
	}
}

// SendNMI sends an NMI to CPU cpu. Outside a shutdown the host's handler
// ignores it; a guest running there sees a VM exit (tests use it).
func SendNMI(cpu int) error {
	if cpu < 0 || cpu >= ncpu {
		return errBadCPU
	}
	lapic.SendNMI(cpus[cpu].apicID)
	return nil
}

// PokeSelf disables interrupts on the calling CPU and sends it an
// interrupt whose handler does nothing (the scheduler's wakeup vector),
// which stays pending until interrupts are enabled again: the clock's
// self-test uses it to have a host interrupt waiting the moment a guest is
// entered (vmx.Enter enables interrupts once the guest exits). Only VMX
// instructions may come between. Precondition: the caller is pinned.
func PokeSelf() {
	cli()
	lapic.SendIPI(thisCPU().apicID, vecWakeup)
}

// DeliverNMI runs the host's NMI handler on the caller's CPU: a VM exit
// caused by an NMI (with "NMI exiting") consumed it, and the host must
// still see it. While the host is stopping after a fatal error the CPU
// parks there and DeliverNMI does not return.
func DeliverNMI() { raiseNMI() }

// CPUID executes CPUID on the caller's CPU.
func CPUID(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) { return cpuid(leaf, subleaf) }

// ConsoleIRQs returns how many console-input interrupts CPU cpu has taken
// (with the IOAPIC routing, only CPU0 takes any).
func ConsoleIRQs(cpu int) uint64 { return atomic.LoadUint64(&cpus[cpu].consoleIRQs) }

// Ticks returns how many scheduler ticks CPU cpu has taken.
func Ticks(cpu int) uint64 { return atomic.LoadUint64(&cpus[cpu].ticks) }

// ConsoleRead returns a byte typed on the host console (COM1), if one is
// waiting: from the buffer the CPU0 interrupt handler fills (COM1 routed
// through the IOAPIC), else by polling the UART. One caller at a time: the
// loop that feeds a guest's serial input.
func ConsoleRead() (byte, bool) {
	if !consoleIn.routed {
		if inb(com1+uartLSR)&lsrDR == 0 {
			return 0, false
		}
		return inb(com1 + uartRBR), true
	}
	h := atomic.LoadUint32(&consoleIn.head)
	if h == atomic.LoadUint32(&consoleIn.tail) {
		return 0, false
	}
	b := consoleIn.buf[h%consoleInSize]
	atomic.StoreUint32(&consoleIn.head, h+1)
	return b, true
}

// Pause executes PAUSE (a spin-wait hint).
func Pause() { pause() }

// VDSO reports whether clock_gettime is served without a system call.
func VDSO() bool { return !noVDSO }
