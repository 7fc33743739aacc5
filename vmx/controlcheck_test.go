package vmx

import (
	"strings"
	"testing"
)

func TestControlChecks(t *testing.T) {
	caps := bochsCaps(t)
	for _, tc := range []struct {
		name   string
		real   bool // guest in real mode with unrestricted guest
		mutate func(c *Controls)
		field  string
		rule   string
		sec    string
	}{
		{"must-be-one pin bit cleared", false, func(c *Controls) { c.Pin &^= 1 << 1 },
			"pin-based controls", "reserved bit 1 must be 1", "27.2.1.1"},
		{"monitor trap flag on Bochs", false, func(c *Controls) { c.Proc |= ProcBasedMonitorTrapFlag },
			"primary processor-based controls", `"monitor trap flag" is not supported`, "27.2.1.1"},
		{"unsupported secondary control", false, func(c *Controls) { c.Proc2 |= ProcBased2EnableENCLSExiting },
			"secondary processor-based controls", `"enable ENCLS exiting" is not supported`, "27.2.1.1"},
		{"unrestricted guest without EPT", false, func(c *Controls) { c.Proc2 &^= ProcBased2EnableEPT },
			"secondary processor-based controls", `"unrestricted guest" requires "enable EPT"`, "27.2.1.1"},
		{"VPID 0", false, func(c *Controls) { c.VPID = 0 },
			"virtual-processor identifier (VPID)", `must not be 0000H with "enable VPID"`, "27.2.1.1"},
		{"virtual NMIs without NMI exiting", false, func(c *Controls) { c.Pin |= PinBasedVirtualNMIs },
			"pin-based controls", `"virtual NMIs" requires "NMI exiting"`, "27.2.1.1"},
		{"NMI-window exiting without virtual NMIs", false, func(c *Controls) { c.Proc |= ProcBasedNMIWindowExiting },
			"primary processor-based controls", `"NMI-window exiting" requires "virtual NMIs"`, "27.2.1.1"},
		{"I/O bitmap A unaligned", false, func(c *Controls) { c.IOBitmapA = 0x10800 },
			"address of I/O bitmap A", "bits 11:0 must be 0", "27.2.1.1"},
		{"MSR bitmap beyond MAXPHYADDR", false, func(c *Controls) { c.MSRBitmap = 1 << 44 },
			"address of MSR bitmaps", "beyond the physical-address width", "27.2.1.1"},
		{"EPTP memory type WC", false, func(c *Controls) { c.EPTP = c.EPTP&^7 | 1 },
			"EPT pointer (EPTP)", "memory type 1", "27.2.1.1"},
		{"EPTP 5-level walk", false, func(c *Controls) { c.EPTP = c.EPTP&^(7<<3) | 4<<3 },
			"EPT pointer (EPTP)", "page-walk length 5", "27.2.1.1"},
		{"EPTP reserved bit 8", false, func(c *Controls) { c.EPTP |= 1 << 8 },
			"EPT pointer (EPTP)", "reserved bits 11:8", "27.2.1.1"},
		{"x2APIC virtualization without TPR shadow", false, func(c *Controls) { c.Proc2 |= ProcBased2VirtualizeX2APICMode },
			"secondary processor-based controls", `"virtualize x2APIC mode" requires "use TPR shadow"`, "27.2.1.1"},
		{"too many CR3 targets", false, func(c *Controls) { c.CR3TargetCount = 5 },
			"CR3-target count", "5 exceeds the 4", "27.2.1.1"},
		{"save preemption timer without the timer", false, func(c *Controls) { c.Exit |= ExitSavePreemptionTimer },
			"primary VM-exit controls", `"save VMX-preemption timer value" requires "activate VMX-preemption timer"`, "27.2.1.2"},
		{"exit MSR-store area unaligned", false, func(c *Controls) { c.ExitMSRStoreCount, c.ExitMSRStoreAddr = 2, 0x30008 },
			"VM-exit MSR-store address", "bits 3:0 must be 0", "27.2.1.2"},
		{"entry to SMM", false, func(c *Controls) { c.Entry |= EntryToSMM },
			"VM-entry controls", `"entry to SMM" must be 0 outside SMM`, "27.2.1.3"},
		{"#GP injected without error code", false, func(c *Controls) { c.EntryIntInfo = InjectException(VectorGP, 0, false).Info },
			"VM-entry interruption-information field", "deliver-error-code is 0 but #GP delivers an error code", "27.2.1.3"},
		{"#UD injected with error code", false, func(c *Controls) { c.EntryIntInfo = InjectException(VectorUD, 0, true).Info },
			"VM-entry interruption-information field", "deliver-error-code is 1 but #UD delivers no error code", "27.2.1.3"},
		{"#GP with error code into a real-mode guest", true, func(c *Controls) { c.EntryIntInfo = InjectException(VectorGP, 0, true).Info },
			"VM-entry interruption-information field", "real-mode guest", "27.2.1.3"},
		{"NMI with vector 3", false, func(c *Controls) { c.EntryIntInfo = IntInfoValid | uint32(EventNMI)<<8 | 3 },
			"VM-entry interruption-information field", "vector 3 must be 2 for an NMI", "27.2.1.3"},
		{"hardware exception vector 32", false, func(c *Controls) { c.EntryIntInfo = InjectException(32, 0, false).Info },
			"VM-entry interruption-information field", "vector 32 must be at most 31", "27.2.1.3"},
		{"interruption type 1", false, func(c *Controls) { c.EntryIntInfo = IntInfoValid | 1<<8 | 0x20 },
			"VM-entry interruption-information field", "interruption type 1 is reserved", "27.2.1.3"},
		{"interruption-information reserved bit", false, func(c *Controls) { c.EntryIntInfo = InjectExternal(0x20).Info | 1<<12 },
			"VM-entry interruption-information field", "reserved bits 30:12", "27.2.1.3"},
		{"error code bits 31:16", false, func(c *Controls) {
			j := InjectException(VectorPF, 0x10000, true)
			c.EntryIntInfo, c.EntryErrorCode = j.Info, j.ErrorCode
		}, "VM-entry exception error code", "bits 31:16 must be 0", "27.2.1.3"},
		{"INT n with instruction length 16", false, func(c *Controls) {
			j := InjectSoftwareInterrupt(0x80, 16)
			c.EntryIntInfo, c.EntryInstrLen = j.Info, j.InstrLen
		}, "VM-entry instruction length", "16 must be in 1-15", "27.2.1.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, c := longModeGuest(), testControls(t, caps, true)
			if tc.real {
				g, c = realModeGuest(), realModeControls(t, caps)
			}
			tc.mutate(c)
			fs := CheckControls(c, &g, caps)
			for _, f := range fs {
				if f.Field == tc.field && strings.Contains(f.Rule, tc.rule) && f.Section == tc.sec {
					return
				}
			}
			t.Errorf("no failure %s: ...%s... (SDM %s); got:\n%s", tc.field, tc.rule, tc.sec, fs)
		})
	}
}

func TestValidInjections(t *testing.T) {
	caps := bochsCaps(t)
	for _, j := range []Injection{
		InjectExternal(0x20), InjectNMI(), InjectException(VectorPF, 2, true), InjectException(VectorUD, 0, false),
		InjectSoftwareInterrupt(0x80, 2), InjectSoftwareInterrupt(0x80, 0), // length 0: IA32_VMX_MISC[30] on Bochs
		InjectSoftwareException(VectorBP, 1),
	} {
		g, c := longModeGuest(), testControls(t, caps, true)
		c.EntryIntInfo, c.EntryErrorCode, c.EntryInstrLen = j.Info, j.ErrorCode, j.InstrLen
		if fs := CheckControls(c, &g, caps); len(fs) != 0 {
			t.Errorf("%s:\n%s", j, fs)
		}
	}
	// Real mode: hardware exceptions carry no error code.
	g, c := realModeGuest(), realModeControls(t, caps)
	c.EntryIntInfo = InjectException(VectorGP, 0, false).Info
	if fs := CheckControls(c, &g, caps); len(fs) != 0 {
		t.Errorf("real-mode #GP:\n%s", fs)
	}
}
