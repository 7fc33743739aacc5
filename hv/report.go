package hv

import (
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"hindsight/hv/replay"
	"hindsight/vmx"
)

// EndKind sorts the ways a VM ends, for the pair's verdict.
type EndKind uint8

const (
	EndedGuest    EndKind = iota // the guest ended: exit port, triple fault, halted, an exit the hypervisor does not handle
	EndedFailed                  // the hypervisor could not run it (VM entry failure, setup)
	EndedStopped                 // the host stopped it
	EndedDiverged                // Backup: its execution left the primary's
	EndedLost                    // Backup: the log was malformed, or ended without the primary's end
	EndedFollowed                // Backup: it reached the landmark where the primary ended and stopped there
)

// EndReport says how a VM ended.
type EndReport struct {
	Kind   EndKind
	Cause  replay.EndCause // the log's name for it (0 for the backup's own kinds)
	Status uint32          // what the guest wrote to the exit port
	At     replay.Landmark // where
	Reason string          // one line
	Detail string          // further lines: guest state, the records involved
}

// report turns the cause recorded in VM-exit context into an EndReport and
// prints it. The VMCS is still current on this CPU, so the guest state can
// be read.
func (v *VM) report() {
	e := &v.end.report
	e.At = replay.Landmark{Seq: v.seq, Count: v.count, RIP: v.rip()}
	e.Status = v.end.status
	e.Cause = v.end.cause.endCause()
	c := v.end.cause
	var g vmx.GuestState
	if v.launched {
		g, _ = vmx.ReadGuestState(vmx.CurrentVMCS{})
	}
	switch c {
	case causeExitPort:
		e.Reason = fmt.Sprintf("guest wrote exit status %d to port %#x", v.end.status, exitPort)
	case causeTripleFault:
		e.Reason = "triple fault (VM exit reason 2): the guest could not deliver an exception"
		e.Detail = g.Dump()
	case causeHalted:
		if v.end.info[0] != 0 {
			e.Reason = "halted: HLT with interrupts on, and nothing can interrupt it (no timer programmed, no console input)"
		} else {
			e.Reason = "halted: HLT with interrupts disabled"
		}
	case causeEPTViolation:
		e.Reason = fmt.Sprintf("%v: outside the guest's RAM", vmx.DecodeEPTViolation(v.end.info[1], v.end.info[0], 0))
		e.Detail = g.Dump()
	case causeUnhandledExit:
		e.Reason = fmt.Sprintf("unhandled VM exit: %v, qualification %#x", vmx.ExitReason(v.end.info[0]), v.end.info[1])
		e.Detail = g.Dump()
	case causeUnsupportedIO:
		e.Reason = fmt.Sprintf("unsupported port I/O (%v): string and REP I/O are not emulated", vmx.DecodeIO(v.end.info[0]))
		e.Detail = g.Dump()
	case causeEntryFailed:
		ctl, _ := vmx.ReadControls(vmx.CurrentVMCS{})
		fs := vmx.CheckGuestState(&g, &ctl, &v.m.Caps)
		e.Reason = fmt.Sprintf("VM entry failed: %v, qualification %#x", vmx.ExitReason(v.end.info[0]), v.end.info[1])
		e.Detail = describe(fs, &g)
	case causeEntryInsn:
		ctl, _ := vmx.ReadControls(vmx.CurrentVMCS{})
		host, _ := vmx.ReadHostState(vmx.CurrentVMCS{})
		fs := append(vmx.CheckControls(&ctl, &g, &v.m.Caps), vmx.CheckHostState(&host, &ctl, &v.m.Caps)...)
		fs = append(fs, vmx.CheckGuestState(&g, &ctl, &v.m.Caps)...)
		e.Reason = fmt.Sprintf("VM entry failed: %v", vmx.StatusError(vmx.Status(v.end.info[0])))
		e.Detail = describe(fs, &g)
	case causeSetup:
		// Reason set by fail.
	case causeClockLost:
		e.Reason = fmt.Sprintf("the slice clock lost its slices at an exit (preemption timer armed %d, saved %d, exit phase %#x): "+
			"the guest's count is unknown, so replay cannot go on", v.end.info[1], v.end.info[0], v.regs.Phase)
	case causePanic:
		e.Reason = fmt.Sprintf("kernel panic: the guest's console printed %q", v.out.panicText())
		e.Detail = g.Dump()
	case causeStopped:
		e.Reason = "stopped by the host"
	case causeDivergence:
		e.Reason, e.Detail = v.divergenceReport()
	case causeMalformed:
		var r replay.Record
		rp := v.in.(*replayer)
		e.Reason = fmt.Sprintf("malformed log record after landmark %v: %v", e.At, replay.Decode(rp.rd.Bad()[:], &r))
	case causeLogEnded:
		e.Reason = fmt.Sprintf("the primary's log ended at landmark %v without an end record: the primary is lost", e.At)
	case causePrimaryEnded:
		e.Reason = fmt.Sprintf("reached landmark %v, where the primary's guest ended (%v, status %d)",
			e.At, replay.EndCause(v.end.info[1]), v.end.info[0])
	}
	switch c {
	case causeExitPort, causeTripleFault, causeHalted, causeEPTViolation, causeUnhandledExit, causeUnsupportedIO, causePanic:
		e.Kind = EndedGuest
	case causeEntryFailed, causeEntryInsn, causeSetup, causeClockLost:
		e.Kind = EndedFailed
	case causeStopped:
		e.Kind = EndedStopped
	case causeDivergence:
		e.Kind = EndedDiverged
	case causeMalformed, causeLogEnded:
		e.Kind = EndedLost
	case causePrimaryEnded:
		e.Kind = EndedFollowed
	}
	if e.Detail != "" && !strings.HasSuffix(e.Detail, "\n") {
		e.Detail += "\n"
	}
	if e.Kind == EndedFailed {
		fmt.Printf("hv: %s: FAILED at landmark %v: %s\n%s", v.cfg.Name, e.At, e.Reason, e.Detail)
		return
	}
	fmt.Printf("hv: %s: stopped at landmark %v: %s (%d exits)\n%s", v.cfg.Name, e.At, e.Reason, v.stats.Exits, e.Detail)
}

// fail ends a VM that could not be set up.
func (v *VM) fail(err error) {
	v.endVM(causeSetup, 0, 0)
	v.end.report.Reason = err.Error()
}

// divergenceReport describes where the backup left the primary's path:
// both sides' landmarks and RIPs, the instruction at each, and the record.
func (v *VM) divergenceReport() (string, string) {
	p := v.in.(*replayer)
	d := &p.div
	r := d.rec
	mine := replay.Landmark{Seq: v.seq, Count: v.count, RIP: v.rip()}
	var reason string
	switch d.what {
	case divDigest:
		var parts []string
		for i, name := range [...]string{"vCPU", "memory", "devices and output"} {
			if theirs := [3]uint64{r.Value, r.Value2, r.Value3}[i]; theirs != d.mine[i] {
				parts = append(parts, fmt.Sprintf("%s: primary %#x backup %#x", name, theirs, d.mine[i]))
			}
		}
		reason = fmt.Sprintf("DIVERGENCE at landmark %v: state digests differ (%s); %d digests matched before",
			r.Landmark(), strings.Join(parts, "; "), v.stats.Digests)
	case divInterrupts:
		reason = fmt.Sprintf("DIVERGENCE at landmark %v: interrupt delivery differs after the input %v: "+
			"the backup's PIC requests %s and the guest was given %s",
			mine, r, replay.AppendCode(nil, d.mine[0]), replay.AppendCode(nil, d.mine[1]))
	case divPosition:
		reason = fmt.Sprintf("DIVERGENCE at landmark %v: the primary stopped here with rcx %#x, registers %#x; "+
			"the backup has rcx %#x, registers %#x", mine, r.Value, r.Value2, d.mine[0], d.mine[1])
	case divEnd:
		reason = fmt.Sprintf("DIVERGENCE at landmark %v: the backup's guest ended (%v, status %d), the primary's log has %v",
			mine, replay.EndCause(d.mine[0]), d.mine[1], r)
	case divKind:
		if d.want != 0 {
			reason = fmt.Sprintf("DIVERGENCE at landmark %v: the backup needed a %v record, the log has %v", mine, d.want, r)
		} else {
			reason = fmt.Sprintf("DIVERGENCE at landmark %v: the log has %v, which this exit does not read", mine, r)
		}
	default:
		reason = fmt.Sprintf("DIVERGENCE: the backup is at landmark %v, the primary's next record is at %v: %v",
			mine, r.Landmark(), r)
	}
	detail := fmt.Sprintf("  backup  at %v: %s\n  primary at %v: %s\n", mine, v.disassemble(mine.RIP), r.Landmark(), v.disassemble(r.RIP))
	return reason, detail
}

// disassemble returns the instruction at guest address rip in the
// backup's memory (the primary's is the same where the replicas agree).
func (v *VM) disassemble(rip uint64) string {
	code := v.guestCode(rip)
	if code == nil {
		return "(code not readable)"
	}
	mode := 64
	if efer, _ := vmx.VMREAD(vmx.GuestIA32EFER); efer&eferLMA == 0 {
		mode = 32
	}
	inst, err := x86asm.Decode(code, mode)
	if err != nil {
		return fmt.Sprintf("% x (%v)", code[:4], err)
	}
	return fmt.Sprintf("%-40s (% x)", x86asm.IntelSyntax(inst, rip, nil), code[:inst.Len])
}

const eferLMA = 1 << 10

// guestCode returns up to 15 bytes of guest memory at guest-virtual rip,
// for guests whose code is identity-mapped (the test guest, and guests
// with paging off).
func (v *VM) guestCode(rip uint64) []byte {
	if rip >= uint64(len(v.ram)) {
		return nil
	}
	return v.ram[rip:min(rip+15, uint64(len(v.ram)))]
}

// describe lists failed checks and dumps the guest state.
func describe(fs vmx.Failures, g *vmx.GuestState) string {
	var b strings.Builder
	if len(fs) == 0 {
		b.WriteString("  no check of SDM Vol. 3C §27.2-27.3 fails on the VMCS as read back\n")
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "  failed check: %s\n", f)
	}
	b.WriteString(g.Dump())
	return b.String()
}
