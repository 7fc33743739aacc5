package vmx

import (
	"errors"
	"fmt"
)

// VMCS is access to the fields of one VMCS. The machine layer implements it
// with VMREAD and VMWRITE on the current VMCS (a failed instruction returns
// ErrVMFailInvalid or the InstructionError read from the VM-instruction error
// field); SoftVMCS implements it in memory for tests and simulated vCPUs.
//
// Read returns the value zero-extended to 64 bits; Write stores the low
// Field.Bits() bits of v.
type VMCS interface {
	Read(f Field) (uint64, error)
	Write(f Field, v uint64) error
}

// SoftVMCS is an in-memory VMCS with VMREAD/VMWRITE semantics: unknown
// encodings fail with error 12, VMWRITE to a read-only data field fails with
// error 13 (unless VMWriteAnyField, as with IA32_VMX_MISC bit 29), values are
// truncated to the field width, and the high access of a 64-bit field reads
// and writes its bits 63:32. The zero value is ready to use.
type SoftVMCS struct {
	VMWriteAnyField bool
	m               map[Field]uint64
}

// Read implements VMCS.
func (s *SoftVMCS) Read(f Field) (uint64, error) {
	if !f.Known() {
		return 0, VMErrUnsupportedComponent
	}
	v := s.m[f.Full()]
	if f.High() {
		v >>= 32
	}
	return v, nil
}

// Write implements VMCS.
func (s *SoftVMCS) Write(f Field, v uint64) error {
	if !f.Known() {
		return VMErrUnsupportedComponent
	}
	if f.ReadOnly() && !s.VMWriteAnyField {
		return VMErrVMWRITEReadOnly
	}
	s.Set(f, v)
	return nil
}

// Set stores a value like Write but also into read-only data fields, the way
// the processor does on a VM exit. Use it to simulate exits.
func (s *SoftVMCS) Set(f Field, v uint64) {
	if s.m == nil {
		s.m = make(map[Field]uint64)
	}
	if f.High() {
		full := f.Full()
		s.m[full] = s.m[full]&0xFFFFFFFF | uint64(uint32(v))<<32
		return
	}
	s.m[f] = v & f.Mask()
}

// fieldRef binds a VMCS field to the Go variable that holds it.
type fieldRef struct {
	f Field
	p any // *uint16, *uint32 or *uint64
}

func (r fieldRef) get() uint64 {
	switch p := r.p.(type) {
	case *uint16:
		return uint64(*p)
	case *uint32:
		return uint64(*p)
	case *uint64:
		return *p
	}
	panic("vmx: bad field reference")
}

func (r fieldRef) set(v uint64) {
	switch p := r.p.(type) {
	case *uint16:
		*p = uint16(v)
	case *uint32:
		*p = uint32(v)
	case *uint64:
		*p = v
	}
}

func (g *GuestState) refs() []fieldRef {
	r := []fieldRef{
		{GuestCR0, &g.CR0}, {GuestCR3, &g.CR3}, {GuestCR4, &g.CR4}, {GuestDR7, &g.DR7},
		{GuestRSP, &g.RSP}, {GuestRIP, &g.RIP}, {GuestRFLAGS, &g.RFLAGS},
		{GuestGDTRBase, &g.GDTR.Base}, {GuestGDTRLimit, &g.GDTR.Limit},
		{GuestIDTRBase, &g.IDTR.Base}, {GuestIDTRLimit, &g.IDTR.Limit},
		{GuestIA32DebugCtl, &g.IA32DebugCtl}, {GuestIA32SysenterCS, &g.IA32SysenterCS},
		{GuestIA32SysenterESP, &g.IA32SysenterESP}, {GuestIA32SysenterEIP, &g.IA32SysenterEIP},
		{GuestIA32PerfGlobalCtrl, &g.IA32PerfGlobalCtrl}, {GuestIA32PAT, &g.IA32PAT},
		{GuestIA32EFER, &g.IA32EFER}, {GuestIA32BNDCFGS, &g.IA32BNDCFGS},
		{GuestIA32RTITCtl, &g.IA32RTITCtl}, {GuestIA32LBRCtl, &g.IA32LBRCtl},
		{GuestIA32PKRS, &g.IA32PKRS}, {GuestIA32SCET, &g.IA32SCET}, {GuestSSP, &g.SSP},
		{GuestIA32InterruptSSPTable, &g.IA32InterruptSSP}, {GuestSMBASE, &g.SMBASE},
		{GuestPDPTE0, &g.PDPTE[0]}, {GuestPDPTE1, &g.PDPTE[1]}, {GuestPDPTE2, &g.PDPTE[2]}, {GuestPDPTE3, &g.PDPTE[3]},
		{GuestIA32FREDConfig, &g.IA32FREDConfig}, {GuestIA32FREDStkLvls, &g.IA32FREDStkLvls},
		{GuestIA32FREDRSP1, &g.IA32FREDRSP[0]}, {GuestIA32FREDRSP2, &g.IA32FREDRSP[1]}, {GuestIA32FREDRSP3, &g.IA32FREDRSP[2]},
		{GuestIA32FREDSSP1, &g.IA32FREDSSP[0]}, {GuestIA32FREDSSP2, &g.IA32FREDSSP[1]}, {GuestIA32FREDSSP3, &g.IA32FREDSSP[2]},
		{GuestActivityState, (*uint32)(&g.Activity)}, {GuestInterruptibility, (*uint32)(&g.Interruptibility)},
		{GuestPendingDebug, &g.PendingDebug}, {VMCSLinkPointer, &g.VMCSLinkPointer},
		{PreemptionTimerValue, &g.PreemptionTimer}, {GuestInterruptStatus, &g.InterruptStatus},
		{PMLIndex, &g.PMLIndex}, {GuestUINV, &g.UINV},
	}
	for i, s := range g.Segments() {
		d := Field(2 * i)
		r = append(r,
			fieldRef{GuestESSelector + d, &s.Seg.Selector},
			fieldRef{GuestESBase + d, &s.Seg.Base},
			fieldRef{GuestESLimit + d, &s.Seg.Limit},
			fieldRef{GuestESAccessRights + d, (*uint32)(&s.Seg.AR)})
	}
	return r
}

func (h *HostState) refs() []fieldRef {
	return []fieldRef{
		{HostCR0, &h.CR0}, {HostCR3, &h.CR3}, {HostCR4, &h.CR4}, {HostRSP, &h.RSP}, {HostRIP, &h.RIP},
		{HostESSelector, &h.ES}, {HostCSSelector, &h.CS}, {HostSSSelector, &h.SS}, {HostDSSelector, &h.DS},
		{HostFSSelector, &h.FS}, {HostGSSelector, &h.GS}, {HostTRSelector, &h.TR},
		{HostFSBase, &h.FSBase}, {HostGSBase, &h.GSBase}, {HostTRBase, &h.TRBase},
		{HostGDTRBase, &h.GDTRBase}, {HostIDTRBase, &h.IDTRBase},
		{HostIA32SysenterCS, &h.IA32SysenterCS}, {HostIA32SysenterESP, &h.IA32SysenterESP}, {HostIA32SysenterEIP, &h.IA32SysenterEIP},
		{HostIA32PerfGlobalCtrl, &h.IA32PerfGlobalCtrl}, {HostIA32PAT, &h.IA32PAT}, {HostIA32EFER, &h.IA32EFER},
		{HostIA32PKRS, &h.IA32PKRS}, {HostIA32SCET, &h.IA32SCET}, {HostSSP, &h.SSP}, {HostIA32InterruptSSPTable, &h.IA32InterruptSSP},
		{HostIA32FREDConfig, &h.IA32FREDConfig}, {HostIA32FREDStkLvls, &h.IA32FREDStkLvls},
		{HostIA32FREDRSP1, &h.IA32FREDRSP[0]}, {HostIA32FREDRSP2, &h.IA32FREDRSP[1]}, {HostIA32FREDRSP3, &h.IA32FREDRSP[2]},
		{HostIA32FREDSSP1, &h.IA32FREDSSP[0]}, {HostIA32FREDSSP2, &h.IA32FREDSSP[1]}, {HostIA32FREDSSP3, &h.IA32FREDSSP[2]},
	}
}

func (c *Controls) refs() []fieldRef {
	return []fieldRef{
		{PinBasedControls, &c.Pin}, {ProcBasedControls, &c.Proc}, {ProcBasedControls2, &c.Proc2},
		{ProcBasedControls3, &c.Proc3}, {ExitControls, &c.Exit}, {ExitControls2, &c.Exit2}, {EntryControls, &c.Entry},
		{ExceptionBitmap, &c.ExceptionBitmap},
		{PageFaultErrorCodeMask, &c.PageFaultErrorCodeMask}, {PageFaultErrorCodeMatch, &c.PFECMatch},
		{CR0GuestHostMask, &c.CR0Mask}, {CR4GuestHostMask, &c.CR4Mask},
		{CR0ReadShadow, &c.CR0Shadow}, {CR4ReadShadow, &c.CR4Shadow},
		{CR3TargetCount, &c.CR3TargetCount},
		{CR3TargetValue0, &c.CR3Targets[0]}, {CR3TargetValue1, &c.CR3Targets[1]},
		{CR3TargetValue2, &c.CR3Targets[2]}, {CR3TargetValue3, &c.CR3Targets[3]},
		{IOBitmapA, &c.IOBitmapA}, {IOBitmapB, &c.IOBitmapB}, {MSRBitmaps, &c.MSRBitmap},
		{TSCOffset, &c.TSCOffset}, {TSCMultiplier, &c.TSCMultiplier},
		{VirtualAPICAddress, &c.VirtualAPICAddr}, {APICAccessAddress, &c.APICAccessAddr},
		{TPRThreshold, &c.TPRThreshold},
		{PostedInterruptNotifyVector, &c.PostedIntVector}, {PostedInterruptDescAddress, &c.PostedIntDescAddr},
		{EOIExitBitmap0, &c.EOIExitBitmap[0]}, {EOIExitBitmap1, &c.EOIExitBitmap[1]},
		{EOIExitBitmap2, &c.EOIExitBitmap[2]}, {EOIExitBitmap3, &c.EOIExitBitmap[3]},
		{VirtualProcessorID, &c.VPID}, {EPTPointer, &c.EPTP}, {PMLAddress, &c.PMLAddr},
		{VMFunctionControls, &c.VMFuncControls}, {EPTPListAddress, &c.EPTPListAddr},
		{VMReadBitmapAddress, &c.VMReadBitmap}, {VMWriteBitmapAddress, &c.VMWriteBitmap},
		{VEInfoAddress, &c.VEInfoAddr}, {SPPTablePointer, &c.SPPTP}, {XSSExitingBitmap, &c.XSSExitingBitmap},
		{PLEGap, &c.PLEGap}, {PLEWindow, &c.PLEWindow},
		{ExitMSRStoreCount, &c.ExitMSRStoreCount}, {ExitMSRStoreAddress, &c.ExitMSRStoreAddr},
		{ExitMSRLoadCount, &c.ExitMSRLoadCount}, {ExitMSRLoadAddress, &c.ExitMSRLoadAddr},
		{EntryMSRLoadCount, &c.EntryMSRLoadCount}, {EntryMSRLoadAddress, &c.EntryMSRLoadAddr},
		{EntryInterruptionInfo, &c.EntryIntInfo}, {EntryExceptionErrorCode, &c.EntryErrorCode},
		{EntryInstructionLength, &c.EntryInstrLen},
	}
}

// readRefs reads every field; a field the processor does not support
// (VMREAD error 12) is left zero, any other error is returned.
func readRefs(v VMCS, refs []fieldRef) error {
	for _, r := range refs {
		x, err := v.Read(r.f)
		if err != nil {
			var ie InstructionError
			if errors.As(err, &ie) && ie == VMErrUnsupportedComponent {
				continue
			}
			return err
		}
		r.set(x)
	}
	return nil
}

// writeRefs writes the fields; zero values of fields the processor does not
// support are skipped, so that a GuestState built for any CPU can be written.
func writeRefs(v VMCS, refs []fieldRef) error {
	for _, r := range refs {
		x := r.get()
		err := v.Write(r.f, x)
		if err != nil {
			var ie InstructionError
			if x == 0 && errors.As(err, &ie) && ie == VMErrUnsupportedComponent {
				continue
			}
			return fmt.Errorf("VMWRITE %v = %#x: %w", r.f, x, err)
		}
	}
	return nil
}

// ReadGuestState reads the guest-state area (for diagnostics after an exit
// with reason 33, for snapshots and state digests).
func ReadGuestState(v VMCS) (GuestState, error) {
	var g GuestState
	err := readRefs(v, g.refs())
	return g, err
}

// Write stores the guest-state area.
func (g *GuestState) Write(v VMCS) error { return writeRefs(v, g.refs()) }

// ReadHostState reads the host-state area.
func ReadHostState(v VMCS) (HostState, error) {
	var h HostState
	err := readRefs(v, h.refs())
	return h, err
}

// Write stores the host-state area.
func (h *HostState) Write(v VMCS) error { return writeRefs(v, h.refs()) }

// ReadControls reads the control fields of Controls.
func ReadControls(v VMCS) (Controls, error) {
	var c Controls
	err := readRefs(v, c.refs())
	return c, err
}

// Write stores the control fields of Controls.
func (c *Controls) Write(v VMCS) error { return writeRefs(v, c.refs()) }
