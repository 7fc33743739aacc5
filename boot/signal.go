package boot

import "unsafe"

// Signals, as the Go runtime uses them: SIGURG from tgkill for asynchronous
// preemption, and SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP for faults in its
// code (nil dereferences become recoverable panics this way). Delivery
// builds a Linux x86-64 rt_sigframe on the thread's alternate signal stack
// (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h) so the runtime's
// handler reads and edits the interrupted context exactly as on Linux.

const (
	SIGILL  = 4
	SIGTRAP = 5
	SIGBUS  = 7
	SIGFPE  = 8
	SIGSEGV = 11
	SIGURG  = 23
	nsig    = 64

	saSiginfo   = 0x4
	saOnstack   = 0x08000000
	saRestorer  = 0x04000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000

	sigDFL = 0
	sigIGN = 1

	ssOnstack = 1
	ssDisable = 2

	siTkill    = -6 // si_code of tgkill
	segvMaperr = 1
	segvAccerr = 2
	siKernel   = 0x80
)

// sigaction as the kernel keeps it (struct kernel_sigaction layout).
type sigaction struct {
	handler  uint64
	flags    uint64
	restorer uint64
	mask     uint64
}

var sigactions [nsig + 1]sigaction

// rt_sigframe layout: pretcode, then struct ucontext, then siginfo; the
// FXSAVE image follows, 64-byte aligned, and uc_mcontext.fpstate points at it.
const (
	sfPretcode  = 0
	sfUC        = 8
	ucFlags     = 0
	ucLink      = 8
	ucStack     = 16 // ss_sp, ss_flags, ss_size
	ucMcontext  = 40 // struct sigcontext: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags, csgsfs, err, trapno, oldmask, cr2, fpstate, reserved[8]
	ucSigmask   = 40 + 256
	ucSize      = ucSigmask + 8
	sfInfo      = sfUC + ucSize
	siginfoSize = 128
	sfFPOff     = sfInfo + siginfoSize // rounded up to 64 at build time
	fpSize      = 512
	sfSize      = sfFPOff + 64 + fpSize

	// Indices of struct sigcontext's first 18 words.
	scR8, scR9, scR10, scR11, scR12, scR13, scR14, scR15                    = 0, 1, 2, 3, 4, 5, 6, 7
	scRDI, scRSI, scRBP, scRBX, scRDX, scRAX, scRCX, scRSP                  = 8, 9, 10, 11, 12, 13, 14, 15
	scRIP, scEFLAGS, scCSGSFS, scERR, scTRAPNO, scOLDMASK, scCR2, scFPSTATE = 16, 17, 18, 19, 20, 21, 22, 23
)

func sigbit(sig int) uint64 { return 1 << uint(sig-1) }

// queueSignal marks sig pending on t with its fault details.
func queueSignal(t *thread, sig int, code int32, addr uint64) {
	t.sigPending |= sigbit(sig)
	t.sigInfo[sig] = sigFault{code, addr}
}

// deliverSignals runs before t resumes: it builds a frame for the lowest
// pending unblocked signal. A synchronous fault signal that cannot be
// delivered (blocked, default action, or no room) kills the process, as on
// Linux. Precondition: klock held, t about to run on this CPU.
func deliverSignals(t *thread) {
	ready := t.sigPending &^ t.sigBlocked
	if ready == 0 {
		return
	}
	sig := 1
	for ready&1 == 0 {
		ready >>= 1
		sig++
	}
	t.sigPending &^= sigbit(sig)
	act := &sigactions[sig]
	switch act.handler {
	case sigIGN:
		return
	case sigDFL:
		if sig == SIGURG {
			return // default action: ignore
		}
		fatalSignal(t, sig)
		return
	}
	if !buildSigframe(t, sig, act) {
		fatalSignal(t, sig)
	}
}

// buildSigframe writes the rt_sigframe and redirects t to the handler.
func buildSigframe(t *thread, sig int, act *sigaction) bool {
	f := &t.f
	sp := f.rsp
	onAlt := t.altSize != 0 && sp-t.altSP < t.altSize
	if act.flags&saOnstack != 0 && t.altFlags&ssDisable == 0 && t.altSize != 0 && !onAlt {
		sp = t.altSP + t.altSize
	} else {
		sp -= 128 // the System V red zone
	}
	base := (sp-sfSize)&^63 - 8 // (base+8) % 16 == 0 at handler entry
	if !userAccess(base, sfSize, true) {
		return false
	}
	p := uintptr(base)
	*(*[sfSize]byte)(unsafe.Pointer(p)) = [sfSize]byte{}
	fp := (base + sfFPOff + 63) &^ 63

	put := func(off uintptr, v uint64) { *(*uint64)(unsafe.Pointer(p + off)) = v }
	sc := func(i int, v uint64) { put(sfUC+ucMcontext+uintptr(i)*8, v) }
	put(sfPretcode, act.restorer)
	put(sfUC+ucStack, t.altSP)
	altFlags := uint64(t.altFlags)
	if onAlt {
		altFlags |= ssOnstack
	}
	put(sfUC+ucStack+8, altFlags)
	put(sfUC+ucStack+16, t.altSize)
	sc(scR8, f.r8)
	sc(scR9, f.r9)
	sc(scR10, f.r10)
	sc(scR11, f.r11)
	sc(scR12, f.r12)
	sc(scR13, f.r13)
	sc(scR14, f.r14)
	sc(scR15, f.r15)
	sc(scRDI, f.rdi)
	sc(scRSI, f.rsi)
	sc(scRBP, f.rbp)
	sc(scRBX, f.rbx)
	sc(scRDX, f.rdx)
	sc(scRAX, f.rax)
	sc(scRCX, f.rcx)
	sc(scRSP, f.rsp)
	sc(scRIP, f.rip)
	sc(scEFLAGS, f.rflags)
	sc(scCSGSFS, f.cs)
	sc(scERR, f.errcode)
	if f.vector < 32 {
		sc(scTRAPNO, f.vector)
	}
	sc(scOLDMASK, t.sigBlocked)
	info := t.sigInfo[sig]
	sc(scCR2, info.addr)
	sc(scFPSTATE, fp)
	put(sfUC+ucSigmask, t.sigBlocked)
	*(*[fpSize]byte)(unsafe.Pointer(uintptr(fp))) = *(*[fpSize]byte)(unsafe.Pointer(f.fxptr))

	// siginfo: si_signo, si_errno, si_code, then si_addr (faults) or
	// si_pid/si_uid (tgkill).
	*(*int32)(unsafe.Pointer(p + sfInfo)) = int32(sig)
	*(*int32)(unsafe.Pointer(p + sfInfo + 8)) = info.code
	if info.code == siTkill {
		*(*int32)(unsafe.Pointer(p + sfInfo + 16)) = 1
	} else {
		put(sfInfo+16, info.addr)
	}

	t.sigBlocked |= act.mask
	if act.flags&saNodefer == 0 {
		t.sigBlocked |= sigbit(sig)
	}
	if act.flags&saResethand != 0 {
		act.handler = sigDFL
	}
	f.rsp = base
	f.rip = act.handler
	f.rdi = uint64(sig)
	f.rsi = base + sfInfo
	f.rdx = base + sfUC
	f.rax = 0
	f.rflags &^= rflagsDF | rflagsTF
	return true
}

// restoreSigframe restores the context saved by buildSigframe; the handler's
// restorer calls it with RSP just past pretcode. Only the flags a program
// may change are taken from the frame.
func restoreSigframe(t *thread) bool {
	f := &t.f
	uc := f.rsp
	if !userAccess(uc, ucSize, false) {
		return false
	}
	get := func(i int) uint64 { return load64(uintptr(uc + ucMcontext + uint64(i)*8)) }
	f.r8, f.r9, f.r10, f.r11 = get(scR8), get(scR9), get(scR10), get(scR11)
	f.r12, f.r13, f.r14, f.r15 = get(scR12), get(scR13), get(scR14), get(scR15)
	f.rdi, f.rsi, f.rbp, f.rbx = get(scRDI), get(scRSI), get(scRBP), get(scRBX)
	f.rdx, f.rax, f.rcx, f.rsp = get(scRDX), get(scRAX), get(scRCX), get(scRSP)
	f.rip = get(scRIP)
	const userFlags = 0x3F7FD5 // CF PF AF ZF SF TF IF DF OF NT AC ID, as Linux
	f.rflags = f.rflags&^userFlags | get(scEFLAGS)&userFlags | rflagsIF
	if fp := get(scFPSTATE); fp != 0 && userAccess(fp, fpSize, false) {
		*(*[fpSize]byte)(unsafe.Pointer(f.fxptr)) = *(*[fpSize]byte)(unsafe.Pointer(uintptr(fp)))
		// MXCSR reserved bits set in the image would make FXRSTOR #GP.
		*(*uint32)(unsafe.Pointer(f.fxptr + 24)) &= 0xFFFF
	}
	t.sigBlocked = load64(uintptr(uc+ucSigmask)) &^ (sigbit(9) | sigbit(19))
	return true
}
