package vmx

import (
	"hindsight/vmx/vmxtest"
	"strings"
	"testing"
)

// bochsSkylakeX holds the capability MSRs read from Bochs 2.7, cpu model
// corei7_skylake_x (/work/shared/design/bochs-vmx.md).
var bochsSkylakeX = vmxtest.BochsSkylakeX

// decodeMap runs DecodeCaps over a map and reports which MSRs were read.
func decodeMap(t *testing.T, m map[uint32]uint64) (Caps, map[uint32]bool, error) {
	t.Helper()
	read := map[uint32]bool{}
	c, err := DecodeCaps(func(msr uint32) uint64 {
		read[msr] = true
		return m[msr]
	})
	return c, read, err
}

// bochsCaps is the decoded Bochs capabilities with a 40-bit physical and a
// 48-bit linear address width.
func bochsCaps(t *testing.T) *Caps {
	t.Helper()
	c, _, err := decodeMap(t, bochsSkylakeX)
	if err != nil {
		t.Fatal(err)
	}
	c.MaxPhysAddr = 40
	c.LinearAddrBits = 48
	return &c
}

func TestDecodeCapsBochs(t *testing.T) {
	c, read, err := decodeMap(t, bochsSkylakeX)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("RevisionID", c.RevisionID, uint32(0x2b))
	check("RegionSize", c.RegionSize, uint32(4096))
	check("MemoryType", c.MemoryType, uint8(MemTypeWB))
	check("TrueControls", c.TrueControls, true)
	check("InsOutsInfo", c.InsOutsInfo, true)
	check("PhysAddr32", c.PhysAddr32, false)
	check("NoErrorCodeCheck", c.NoErrorCodeCheck, false)
	check("Pin", c.Pin, Allowed{PinBased, 0x16, 0x7f})
	check("Proc", c.Proc, Allowed{ProcBased, 0x04006172, 0xf7f9fffe})
	check("Proc2", c.Proc2, Allowed{ProcBased2, 0, 0x02177fff})
	check("Exit", c.Exit, Allowed{ExitCtls, 0x00036dfb, 0x007fffff})
	check("Entry", c.Entry, Allowed{EntryCtls, 0x000011fb, 0x0000ffff})
	check("Proc3", c.Proc3, Allowed64{Word: ProcBased3})
	check("Exit2", c.Exit2, Allowed64{Word: ExitCtls2})

	m := c.Misc
	check("PreemptionTimerRate", m.PreemptionTimerRate, uint8(0))
	check("StoresLMA", m.StoresLMA, true)
	check("ActivityHLT", m.ActivityHLT, true)
	check("ActivityShutdown", m.ActivityShutdown, true)
	check("ActivityWaitForSIPI", m.ActivityWaitForSIPI, true)
	check("CR3Targets", m.CR3Targets, uint32(4))
	check("MaxMSRListEntries", m.MaxMSRListEntries, uint32(512))
	check("VMWriteAnyField", m.VMWriteAnyField, true)
	check("ZeroLengthInjection", m.ZeroLengthInjection, true)

	e := c.EPTVPID
	want := EPTVPIDCap{
		Raw: 0x00000f0106334141, ExecuteOnly: true, PageWalk4: true, MemTypeUC: true, MemTypeWB: true,
		Pages2M: true, Pages1G: true, INVEPT: true, AccessedDirty: true,
		INVEPTSingleContext: true, INVEPTAllContext: true, INVVPID: true,
		INVVPIDIndividualAddress: true, INVVPIDSingleContext: true, INVVPIDAllContext: true, INVVPIDSingleContextGlobs: true,
	}
	check("EPTVPID", e, want)

	check("CR0Fixed0", c.CR0Fixed0, uint64(0x80000021))
	check("CR4Fixed1", c.CR4Fixed1, uint64(0x3727ff))
	check("FeatureControl.Locked", c.FeatureControl.Locked(), true)
	check("FeatureControl.VMXOutsideSMX", c.FeatureControl.VMXOutsideSMX(), true)
	if _, write, err := c.FeatureControl.Enable(); write || err != nil {
		t.Errorf("FeatureControl.Enable() = write %v, err %v; want nothing to do", write, err)
	}

	// MSRs that do not exist on this CPU, or are superseded by the TRUE_
	// ones, must not be read: RDMSR of them would fault on hardware.
	for _, msr := range []uint32{IA32_VMX_PINBASED_CTLS, IA32_VMX_PROCBASED_CTLS, IA32_VMX_EXIT_CTLS,
		IA32_VMX_ENTRY_CTLS, IA32_VMX_PROCBASED_CTLS3, IA32_VMX_EXIT_CTLS2} {
		if read[msr] {
			t.Errorf("DecodeCaps read MSR %#x", msr)
		}
	}
	for _, msr := range []uint32{IA32_VMX_PROCBASED_CTLS2, IA32_VMX_EPT_VPID_CAP, IA32_VMX_VMFUNC} {
		if !read[msr] {
			t.Errorf("DecodeCaps did not read MSR %#x", msr)
		}
	}
	if s := c.String(); !strings.Contains(s, "revision 0x2b") || !strings.Contains(s, "4-level true") {
		t.Errorf("Caps.String() =\n%s", s)
	}
}

func TestDecodeCapsWithoutTrueControls(t *testing.T) {
	m := map[uint32]uint64{
		IA32_VMX_BASIC:          0x00da040000000012 &^ (1 << 55), // revision 0x12, 1024 bytes, WB
		IA32_VMX_PINBASED_CTLS:  0x0000003f00000016,
		IA32_VMX_PROCBASED_CTLS: 0x77f9fffe0401e172, // no secondary controls
		IA32_VMX_EXIT_CTLS:      0x0003ffff00036dff,
		IA32_VMX_ENTRY_CTLS:     0x000011ff000011ff,
		IA32_VMX_CR0_FIXED0:     0x80000021, IA32_VMX_CR0_FIXED1: 0xffffffff,
		IA32_VMX_CR4_FIXED0: 0x2000, IA32_VMX_CR4_FIXED1: 0x27ff,
	}
	c, read, err := decodeMap(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if c.TrueControls || c.RegionSize != 1024 || c.Proc.Allowed0 != 0x0401e172 {
		t.Errorf("decoded %+v", c)
	}
	for _, msr := range []uint32{IA32_VMX_TRUE_PROCBASED_CTLS, IA32_VMX_PROCBASED_CTLS2, IA32_VMX_EPT_VPID_CAP, IA32_VMX_VMFUNC} {
		if read[msr] {
			t.Errorf("DecodeCaps read MSR %#x, which does not exist here", msr)
		}
	}
	if _, err := Adjust(0, ProcBasedActivateSecondaryControls, c.Proc); err != nil {
		t.Error(err)
	}
	if _, err := Adjust(ProcBased2EnableEPT, 0, c.Proc2); err == nil ||
		err.Error() != `vmx: required control "enable EPT" (secondary processor-based bit 1) not supported by this CPU` {
		t.Errorf("Adjust(enable EPT) without secondary controls: %v", err)
	}
}

func TestDecodeCapsErrors(t *testing.T) {
	if _, _, err := decodeMap(t, map[uint32]uint64{}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("no VMX: %v", err)
	}
	bad := map[uint32]uint64{}
	for k, v := range bochsSkylakeX {
		bad[k] = v
	}
	bad[IA32_VMX_BASIC] = 0x00c0180000000001 // region 0x1800 bytes, memory type 0 (UC)
	bad[IA32_VMX_TRUE_PINBASED_CTLS] = 0x0000000100000016
	bad[IA32_VMX_CR4_FIXED0] = 0x4000
	_, _, err := decodeMap(t, bad)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"region size of 6144", "pin-based controls: bits 0x16", "CR4 bits 0x4000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestFeatureControlEnable(t *testing.T) {
	v, write, err := FeatureControl(0).Enable()
	if !write || err != nil || v != FeatureControlLock|FeatureControlVMXOutsideSMX {
		t.Errorf("unlocked: %#x %v %v", v, write, err)
	}
	if _, _, err := FeatureControl(FeatureControlLock).Enable(); err == nil || !strings.Contains(err.Error(), "disabled by firmware") {
		t.Errorf("locked off: %v", err)
	}
}

func TestFixCR(t *testing.T) {
	c := bochsCaps(t)
	if got := c.FixCR0(0x60000010); got != 0xe0000031 {
		t.Errorf("FixCR0 = %#x", got)
	}
	if got := c.FixCR4(0x20 | 1<<12); got != 0x2020 {
		t.Errorf("FixCR4 = %#x", got)
	}
}
