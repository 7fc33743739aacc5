package boot

import (
	"sync/atomic"
	"unsafe"
)

// The Linux system calls the Go 1.26 runtime (with os, fmt, time) makes,
// each with the semantics the runtime relies on (ring0-go.md lists them).
// Arguments arrive in RDI, RSI, RDX, R10, R8, R9; the result goes to RAX,
// negative errno on failure. Every other register is preserved.

// x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	sysRead             = 0
	sysWrite            = 1
	sysClose            = 3
	sysMmap             = 9
	sysMprotect         = 10
	sysMunmap           = 11
	sysRtSigaction      = 13
	sysRtSigprocmask    = 14
	sysRtSigreturn      = 15
	sysSchedYield       = 24
	sysMadvise          = 28
	sysNanosleep        = 35
	sysGetpid           = 39
	sysClone            = 56
	sysExit             = 60
	sysUname            = 63
	sysFcntl            = 72
	sysSigaltstack      = 131
	sysPrctl            = 157
	sysArchPrctl        = 158
	sysGettid           = 186
	sysFutex            = 202
	sysSchedSetaffinity = 203
	sysSchedGetaffinity = 204
	sysClockGettime     = 228
	sysExitGroup        = 231
	sysEpollCtl         = 233
	sysTgkill           = 234
	sysOpenat           = 257
	sysEpollPwait       = 281
	sysEventfd2         = 290
	sysEpollCreate1     = 291
	sysPrlimit64        = 302
	sysGetcpu           = 309
	sysGetrandom        = 318

	// Private to hindsight: the hypervisor's requests to the ring-0 layer.
	sysAllocPhys = 1000 // (pages, align) -> physical address, identity-mapped
	sysPhysFree  = 1001 // () -> bytes of physical memory still free
)

// Linux errno values.
const (
	EPERM     = 1
	ENOENT    = 2
	ESRCH     = 3
	EBADF     = 9
	EAGAIN    = 11
	ENOMEM    = 12
	EFAULT    = 14
	ENODEV    = 19
	EINVAL    = 22
	EMFILE    = 24
	ENOSYS    = 38
	ETIMEDOUT = 110
)

func errno(e int) uint64 { return uint64(-int64(e)) }

var (
	traceSyscalls bool   // "trace=syscalls" on the command line
	unimplemented uint32 // count of system calls answered with ENOSYS
	syscallCount  uint64
)

// doSyscall runs the system call in t's frame. Precondition: klock held, t
// running on c. A blocking call parks t (schedule picks another thread).
func doSyscall(c *cpu, idx int32) {
	t := &threads[idx]
	f := &t.f
	nr := f.rax
	a0, a1, a2, a3, a4 := f.rdi, f.rsi, f.rdx, f.r10, f.r8
	atomic.AddUint64(&syscallCount, 1)
	var r uint64
	switch nr {
	case sysWrite:
		r = sysWriteImpl(a0, a1, a2)
	case sysRead:
		r = sysReadImpl(a0, a1, a2)
	case sysClose:
		r = fdClose(a0)
	case sysMmap:
		r = sysMmapImpl(a0, a1, uint32(a2), uint32(a3), int64(a4))
	case sysMunmap:
		r = sysMunmapImpl(a0, a1)
	case sysMprotect:
		r = sysMprotectImpl(a0, a1, uint32(a2))
	case sysMadvise:
		r = sysMadviseImpl(a0, a1, a2)
	case sysRtSigaction:
		r = sysRtSigactionImpl(a0, a1, a2)
	case sysRtSigprocmask:
		r = sysRtSigprocmaskImpl(t, a0, a1, a2)
	case sysRtSigreturn:
		if !restoreSigframe(t) {
			fatalSignal(t, SIGSEGV)
		}
		return // every register came from the frame, RAX included
	case sysSigaltstack:
		r = sysSigaltstackImpl(t, a0, a1)
	case sysSchedYield:
		if runnableFor(c.id) {
			schedule(c, true)
		}
	case sysNanosleep:
		r = sysNanosleepImpl(c, a0)
	case sysGetpid:
		r = 1
	case sysGettid:
		r = uint64(t.tid)
	case sysClone:
		r = sysCloneImpl(idx, a0, a1, f.r8)
	case sysExit:
		t.state = tsFree
		charge(c)
		c.running = -1
		return
	case sysExitGroup:
		shutdown(int(a0))
	case sysUname:
		r = sysUnameImpl(a0)
	case sysFcntl:
		r = sysFcntlImpl(a0, a1)
	case sysArchPrctl:
		r = sysArchPrctlImpl(t, a0, a1)
	case sysFutex:
		r = sysFutexImpl(c, a0, a1, uint32(a2), a3)
	case sysSchedGetaffinity:
		r = sysSchedGetaffinityImpl(t, a1, a2)
	case sysSchedSetaffinity:
		r = sysSchedSetaffinityImpl(t, a0, a1, a2)
	case sysClockGettime:
		r = sysClockGettimeImpl(a0, a1)
	case sysTgkill:
		r = sysTgkillImpl(a1, int(a2))
	case sysOpenat:
		r = errno(ENOENT)
	case sysPrctl:
		r = errno(EINVAL)
	case sysPrlimit64:
		r = errno(ENOSYS)
	case sysEpollCreate1:
		r = fdNew(fdEpoll)
	case sysEpollCtl:
		r = sysEpollCtlImpl(a0, int(a1), a2, a3)
	case sysEpollPwait:
		r = sysEpollPwaitImpl(c, a0, a1, int32(a2), int64(int32(a3)))
	case sysEventfd2:
		r = sysEventfd2Impl(a0, a1)
	case sysGetcpu:
		r = sysGetcpuImpl(c, a0, a1)
	case sysGetrandom:
		r = sysGetrandomImpl(a0, a1)
	case sysAllocPhys:
		r = sysAllocPhysImpl(a0, a1)
	case sysPhysFree:
		r = physFreeBytes()
	default:
		atomic.AddUint32(&unimplemented, 1)
		puts("boot: unimplemented syscall ")
		putDec(nr)
		puts(" at rip ")
		putHex(f.rip)
		puts("\n")
		r = errno(ENOSYS)
	}
	if t.state == tsRunning || t.state == tsRunnable {
		f.rax = r
	}
	if traceSyscalls {
		traceSyscall(c, t, nr, a0, a1, a2, r)
	}
}

func traceSyscall(c *cpu, t *thread, nr, a0, a1, a2, r uint64) {
	puts("boot: cpu")
	putDec(uint64(c.id))
	puts(" tid ")
	putDec(uint64(t.tid))
	puts(" sys ")
	putDec(nr)
	puts("(")
	putHex(a0)
	puts(", ")
	putHex(a1)
	puts(", ")
	putHex(a2)
	if t.state == tsBlocked {
		puts(") blocks\n")
		return
	}
	puts(") = ")
	putHex(r)
	puts("\n")
}

// Console output. Lines from the Go program go to COM1 unchanged: the
// hypervisor tags its own lines.
func sysWriteImpl(fd, buf, n uint64) uint64 {
	e := fdGet(fd)
	if e == nil {
		return errno(EBADF)
	}
	switch e.kind {
	case fdConsole:
		if !userAccess(buf, n, false) {
			return errno(EFAULT)
		}
		putBytes(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(buf))), n))
		return n
	case fdEventfd:
		if n < 8 || !userAccess(buf, 8, false) {
			return errno(EINVAL)
		}
		e.count += load64(uintptr(buf))
		eventfdReady()
		return 8
	}
	return errno(EINVAL)
}

func sysReadImpl(fd, buf, n uint64) uint64 {
	e := fdGet(fd)
	if e == nil {
		return errno(EBADF)
	}
	if e.kind != fdEventfd {
		return errno(EAGAIN) // the console has no input for the runtime
	}
	if n < 8 || !userAccess(buf, 8, true) {
		return errno(EINVAL)
	}
	if e.count == 0 {
		return errno(EAGAIN)
	}
	*(*uint64)(unsafe.Pointer(uintptr(buf))) = e.count
	e.count = 0
	return 8
}

// Memory.
const (
	mapFixed     = 0x10
	mapAnonymous = 0x20

	madvDontneed = 4
	madvFree     = 8
)

func sysMmapImpl(addr, length uint64, prot, flags uint32, fd int64) uint64 {
	if flags&mapAnonymous == 0 {
		return errno(ENODEV)
	}
	length = (length + pageSize - 1) &^ (pageSize - 1)
	if length == 0 || addr&(pageSize-1) != 0 {
		return errno(EINVAL)
	}
	switch {
	case flags&mapFixed != 0:
		if !userRangeOK(addr, addr+length) {
			return errno(ENOMEM)
		}
		zeroPages(addr, addr+length, false)
		setProt(addr, addr+length, prot)
		if !vmaRemove(addr, addr+length) {
			return errno(ENOMEM)
		}
	case addr != 0 && userRangeOK(addr, addr+length) && !vmaOverlaps(addr, addr+length):
		// the hint is free: take it
	default:
		addr = vm.next
		if !userRangeOK(addr, addr+length) {
			return errno(ENOMEM)
		}
		vm.next += length
	}
	if !vmaInsert(addr, addr+length, prot) {
		return errno(ENOMEM)
	}
	return addr
}

func sysMunmapImpl(addr, length uint64) uint64 {
	length = (length + pageSize - 1) &^ (pageSize - 1)
	if addr&(pageSize-1) != 0 || !userRangeOK(addr, addr+length) {
		return errno(EINVAL)
	}
	zeroPages(addr, addr+length, true)
	if !vmaRemove(addr, addr+length) {
		return errno(ENOMEM)
	}
	return 0
}

func sysMprotectImpl(addr, length uint64, prot uint32) uint64 {
	length = (length + pageSize - 1) &^ (pageSize - 1)
	if addr&(pageSize-1) != 0 || !userRangeOK(addr, addr+length) {
		return errno(EINVAL)
	}
	if !vmaRemove(addr, addr+length) || !vmaInsert(addr, addr+length, prot) {
		return errno(ENOMEM)
	}
	setProt(addr, addr+length, prot)
	return 0
}

func sysMadviseImpl(addr, length, advice uint64) uint64 {
	if advice == madvDontneed || advice == madvFree {
		length = (length + pageSize - 1) &^ (pageSize - 1)
		if userRangeOK(addr, addr+length) {
			zeroPages(addr, addr+length, false)
		}
	}
	return 0
}

// Signals.
const (
	sigBlock   = 0
	sigUnblock = 1
	sigSetmask = 2
)

func sysRtSigactionImpl(sig, act, oact uint64) uint64 {
	if sig < 1 || sig > nsig {
		return errno(EINVAL)
	}
	a := &sigactions[sig]
	if oact != 0 {
		if !userAccess(oact, 32, true) {
			return errno(EFAULT)
		}
		*(*sigaction)(unsafe.Pointer(uintptr(oact))) = *a
	}
	if act != 0 {
		if !userAccess(act, 32, false) {
			return errno(EFAULT)
		}
		*a = *(*sigaction)(unsafe.Pointer(uintptr(act)))
	}
	return 0
}

func sysRtSigprocmaskImpl(t *thread, how, set, oset uint64) uint64 {
	old := t.sigBlocked
	if set != 0 {
		if !userAccess(set, 8, false) {
			return errno(EFAULT)
		}
		s := load64(uintptr(set)) &^ (sigbit(9) | sigbit(19))
		switch how {
		case sigBlock:
			t.sigBlocked |= s
		case sigUnblock:
			t.sigBlocked &^= s
		case sigSetmask:
			t.sigBlocked = s
		default:
			return errno(EINVAL)
		}
	}
	if oset != 0 {
		if !userAccess(oset, 8, true) {
			return errno(EFAULT)
		}
		*(*uint64)(unsafe.Pointer(uintptr(oset))) = old
	}
	return 0
}

func sysSigaltstackImpl(t *thread, ss, old uint64) uint64 {
	if old != 0 {
		if !userAccess(old, 24, true) {
			return errno(EFAULT)
		}
		p := uintptr(old)
		*(*uint64)(unsafe.Pointer(p)) = t.altSP
		flags := t.altFlags
		if t.altSize == 0 {
			flags = ssDisable
		}
		*(*int32)(unsafe.Pointer(p + 8)) = flags
		*(*uint64)(unsafe.Pointer(p + 16)) = t.altSize
	}
	if ss != 0 {
		if !userAccess(ss, 24, false) {
			return errno(EFAULT)
		}
		p := uintptr(ss)
		flags := *(*int32)(unsafe.Pointer(p + 8))
		if flags&ssDisable != 0 {
			t.altSP, t.altSize, t.altFlags = 0, 0, ssDisable
		} else {
			t.altSP, t.altSize, t.altFlags = load64(p), load64(p+16), 0
		}
	}
	return 0
}

func sysTgkillImpl(tid uint64, sig int) uint64 {
	if sig < 1 || sig > nsig {
		return errno(EINVAL)
	}
	t := threadByTID(tid)
	if t == nil {
		return errno(ESRCH)
	}
	queueSignal(t, sig, siTkill, 0)
	if t.state == tsRunning && t.cpu >= 0 && int(t.cpu) != thisCPU().id {
		lapic.SendIPI(cpus[t.cpu].apicID, vecWakeup) // deliver now, not at the next tick
	}
	return 0
}

// Threads and scheduling.
const (
	cloneSettls = 0x00080000
	clonePidfd  = 0x00001000
)

func sysCloneImpl(parent int32, flags, stack, tls uint64) uint64 {
	idx, t := newThread()
	if t == nil {
		return errno(EAGAIN)
	}
	p := &threads[parent]
	fx := t.f.fxptr
	t.f = p.f
	t.f.fxptr = fx
	*(*[512]byte)(unsafe.Pointer(fx)) = *(*[512]byte)(unsafe.Pointer(p.f.fxptr))
	t.f.rax = 0
	if stack != 0 {
		t.f.rsp = stack
	}
	if flags&cloneSettls != 0 {
		t.f.fsbase = tls
	}
	t.affinity = p.affinity
	t.sigBlocked = p.sigBlocked
	makeRunnable(idx)
	return uint64(t.tid)
}

func sysSchedGetaffinityImpl(t *thread, size, mask uint64) uint64 {
	if size < 8 {
		return errno(EINVAL)
	}
	if !userAccess(mask, 8, true) {
		return errno(EFAULT)
	}
	*(*uint64)(unsafe.Pointer(uintptr(mask))) = t.affinity
	return 8
}

func sysSchedSetaffinityImpl(t *thread, pid, size, mask uint64) uint64 {
	if size < 8 {
		return errno(EINVAL)
	}
	if !userAccess(mask, 8, false) {
		return errno(EFAULT)
	}
	target := t
	if pid != 0 && pid != uint64(t.tid) {
		if target = threadByTID(pid); target == nil {
			return errno(ESRCH)
		}
	}
	m := load64(uintptr(mask)) & onlineMask
	if m == 0 {
		return errno(EINVAL)
	}
	target.affinity = m // schedule migrates the caller if it left its CPU's set
	return 0
}

func sysGetcpuImpl(c *cpu, cpuPtr, nodePtr uint64) uint64 {
	if cpuPtr != 0 {
		if !userAccess(cpuPtr, 4, true) {
			return errno(EFAULT)
		}
		*(*uint32)(unsafe.Pointer(uintptr(cpuPtr))) = uint32(c.id)
	}
	if nodePtr != 0 {
		if !userAccess(nodePtr, 4, true) {
			return errno(EFAULT)
		}
		*(*uint32)(unsafe.Pointer(uintptr(nodePtr))) = 0
	}
	return 0
}

// Time.
const (
	clockRealtime        = 0
	clockMonotonic       = 1
	clockMonotonicRaw    = 4
	clockRealtimeCoarse  = 5
	clockMonotonicCoarse = 6
	clockBoottime        = 7
)

func sysClockGettimeImpl(clock, ts uint64) uint64 {
	var ns int64
	switch clock {
	case clockRealtime, clockRealtimeCoarse:
		ns = clk.realtime0 + nanotime()
	case clockMonotonic, clockMonotonicRaw, clockMonotonicCoarse, clockBoottime:
		ns = nanotime()
	default:
		return errno(EINVAL)
	}
	if !userAccess(ts, 16, true) {
		return errno(EFAULT)
	}
	p := uintptr(ts)
	*(*int64)(unsafe.Pointer(p)) = ns / 1e9
	*(*int64)(unsafe.Pointer(p + 8)) = ns % 1e9
	return 0
}

// readTimespec converts a relative struct timespec to ns; ok false on fault.
func readTimespec(ts uint64) (int64, bool) {
	if !userAccess(ts, 16, false) {
		return 0, false
	}
	return int64(load64(uintptr(ts)))*1e9 + int64(load64(uintptr(ts+8))), true
}

func sysNanosleepImpl(c *cpu, req uint64) uint64 {
	d, ok := readTimespec(req)
	if !ok {
		return errno(EFAULT)
	}
	if d <= 0 {
		return 0
	}
	blockCurrent(c, blockSleep, nanotime()+d)
	return 0
}

// Futexes: private FUTEX_WAIT and FUTEX_WAKE, all the runtime uses.
const (
	futexWait    = 0
	futexWake    = 1
	futexPrivate = 128
	futexClockRT = 256
)

func sysFutexImpl(c *cpu, addr, op uint64, val uint32, timeout uint64) uint64 {
	switch op &^ (futexPrivate | futexClockRT) {
	case futexWait:
		if addr&3 != 0 || !userAccess(addr, 4, false) {
			return errno(EFAULT)
		}
		if atomic.LoadUint32((*uint32)(unsafe.Pointer(uintptr(addr)))) != val {
			return errno(EAGAIN)
		}
		var deadline int64
		if timeout != 0 {
			d, ok := readTimespec(timeout)
			if !ok {
				return errno(EFAULT)
			}
			if d <= 0 {
				return errno(ETIMEDOUT)
			}
			deadline = nanotime() + d
		}
		blockCurrent(c, blockFutex, deadline)
		threads[c.running].waitAddr = addr
		return 0
	case futexWake:
		woken := uint64(0)
		for i := range threads {
			if woken >= uint64(val) {
				break
			}
			t := &threads[i]
			if t.state == tsBlocked && t.block == blockFutex && t.waitAddr == addr {
				wake(int32(i), 0)
				woken++
			}
		}
		return woken
	}
	return errno(ENOSYS)
}

func sysUnameImpl(buf uint64) uint64 {
	const field = 65
	if !userAccess(buf, 6*field, true) {
		return errno(EFAULT)
	}
	p := uintptr(buf)
	*(*[6 * field]byte)(unsafe.Pointer(p)) = [6 * field]byte{}
	for i, s := range [...]string{"Linux", "hindsight", "6.1.0-hindsight", "#1", "x86_64", ""} {
		copy((*[field]byte)(unsafe.Pointer(p + uintptr(i*field)))[:], s)
	}
	return 0
}

const (
	fGetfd = 1
	fSetfd = 2
	fGetfl = 3
	fSetfl = 4
	oRdwr  = 2
)

func sysFcntlImpl(fd, cmd uint64) uint64 {
	if fdGet(fd) == nil {
		return errno(EBADF)
	}
	switch cmd {
	case fGetfd, fSetfd, fSetfl:
		return 0
	case fGetfl:
		return oRdwr
	}
	return errno(EINVAL)
}

const (
	archSetFS = 0x1002
	archGetFS = 0x1003
)

func sysArchPrctlImpl(t *thread, code, addr uint64) uint64 {
	switch code {
	case archSetFS:
		t.f.fsbase = addr
		return 0
	case archGetFS:
		if !userAccess(addr, 8, true) {
			return errno(EFAULT)
		}
		*(*uint64)(unsafe.Pointer(uintptr(addr))) = t.f.fsbase
		return 0
	}
	return errno(EINVAL)
}

// getrandom: RDRAND where the CPU has it (and "rdrand=off" is not given),
// else a xorshift generator seeded from the TSC: fine for the runtime's hash
// seeds, not for keys, and deterministic in Bochs, whose TSC counts
// instructions.
var (
	rngState uint64
	noRDRAND bool
)

func random64() uint64 {
	if hasRDRAND {
		if v, ok := rdrand(); ok {
			return v
		}
	}
	if rngState == 0 {
		rngState = rdtsc() | 1
	}
	rngState ^= rngState << 13
	rngState ^= rngState >> 7
	rngState ^= rngState << 17
	return rngState
}

func sysGetrandomImpl(buf, n uint64) uint64 {
	if !userAccess(buf, n, true) {
		return errno(EFAULT)
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(buf))), n)
	for i := 0; i < len(b); i += 8 {
		v := random64()
		for j := i; j < i+8 && j < len(b); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return n
}

func sysAllocPhysImpl(pages, align uint64) uint64 {
	if pages == 0 || align < pageSize || align&(align-1) != 0 {
		return errno(EINVAL)
	}
	pa, ok := physAllocContig(pages, align)
	if !ok {
		return errno(ENOMEM)
	}
	return pa
}
