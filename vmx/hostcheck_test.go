package vmx

import (
	"strings"
	"testing"
)

// testHost is a 64-bit host: hindsight's ring-0 Go runtime on Bochs (the
// BIOS leaves CR0.CD and NW set, which VM entry ignores).
func testHost() HostState {
	return HostState{
		CR0: CR0PE | CR0MP | CR0ET | CR0NE | CR0WP | CR0AM | CR0NW | CR0CD | CR0PG,
		CR3: 0x100000,
		CR4: CR4PAE | CR4PGE | CR4OSFXSR | CR4OSXMMEXCPT | CR4VMXE | CR4FSGSBASE,
		RSP: 0xC000F000, RIP: 0x401000,
		CS: 0x08, SS: 0x10, TR: 0x18,
		FSBase: 0xC0001000, TRBase: 0x5000, GDTRBase: 0x4000, IDTRBase: 0x6000,
		IA32EFER: EFERSCE | EFERLME | EFERLMA | EFERNXE,
		IA32PAT:  0x0007040600070406,
	}
}

func TestValidHostState(t *testing.T) {
	caps := bochsCaps(t)
	h := testHost()
	if fs := CheckHostState(&h, testControls(t, caps, true), caps); len(fs) != 0 {
		t.Errorf("host state fails:\n%s\n%s", fs, h.Dump())
	}
}

func TestHostStateChecks(t *testing.T) {
	caps := bochsCaps(t)
	for _, tc := range []struct {
		name   string
		mutate func(h *HostState, c *Controls)
		field  string
		rule   string
		sec    string
	}{
		{"CR0.PG clear", func(h *HostState, c *Controls) { h.CR0 &^= CR0PG }, "host CR0", "bits 0x80000000 must be 1", "27.2.2"},
		{"CR4.VMXE clear", func(h *HostState, c *Controls) { h.CR4 &^= CR4VMXE }, "host CR4", "bits 0x2000 must be 1", "27.2.2"},
		{"CR3 beyond MAXPHYADDR", func(h *HostState, c *Controls) { h.CR3 = 1 << 41 }, "host CR3", "beyond the physical-address width", "27.2.2"},
		{"SYSENTER_ESP non-canonical", func(h *HostState, c *Controls) { h.IA32SysenterESP = 1 << 48 }, "host IA32_SYSENTER_ESP", "not canonical", "27.2.2"},
		{"PAT memory type 3", func(h *HostState, c *Controls) { h.IA32PAT = 3 }, "host IA32_PAT", "not 0, 1, 4, 5, 6 or 7", "27.2.2"},
		{"EFER.LMA clear", func(h *HostState, c *Controls) { h.IA32EFER &^= EFERLMA }, "host IA32_EFER", `LMA=0 differs from "host address-space size"=1`, "27.2.2"},
		{"PKRS bits 63:32", func(h *HostState, c *Controls) { c.Exit |= ExitLoadPKRS; h.IA32PKRS = 1 << 32 }, "host IA32_PKRS", "bits 63:32", "27.2.2"},
		{"CS selector 0", func(h *HostState, c *Controls) { h.CS = 0 }, "host CS selector", "must not be 0000H", "27.2.3"},
		{"TR selector 0", func(h *HostState, c *Controls) { h.TR = 0 }, "host TR selector", "must not be 0000H", "27.2.3"},
		{"TR selector RPL", func(h *HostState, c *Controls) { h.TR |= 1 }, "host TR selector", "RPL (bits 1:0) and TI (bit 2) must be 0", "27.2.3"},
		{"DS selector TI", func(h *HostState, c *Controls) { h.DS = 4 }, "host DS selector", "RPL (bits 1:0) and TI (bit 2) must be 0", "27.2.3"},
		{"FS base non-canonical", func(h *HostState, c *Controls) { h.FSBase = 0x0000800000000000 }, "host FS base", "not canonical", "27.2.3"},
		{"GDTR base non-canonical", func(h *HostState, c *Controls) { h.GDTRBase = 1 << 60 }, "host GDTR base", "not canonical", "27.2.3"},
		{"host address-space size 0", func(h *HostState, c *Controls) { c.Exit &^= ExitHostAddressSpaceSize },
			"primary VM-exit controls", `"host address-space size" must be 1`, "27.2.4"},
		{"CR4.PAE clear", func(h *HostState, c *Controls) { h.CR4 &^= CR4PAE }, "host CR4", `PAE must be 1 with "host address-space size"`, "27.2.4"},
		{"RIP non-canonical", func(h *HostState, c *Controls) { h.RIP = 0x0000900000000000 }, "host RIP", "not canonical", "27.2.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, c := testHost(), testControls(t, caps, true)
			tc.mutate(&h, c)
			fs := CheckHostState(&h, c, caps)
			for _, f := range fs {
				if f.Field == tc.field && strings.Contains(f.Rule, tc.rule) && f.Section == tc.sec {
					return
				}
			}
			t.Errorf("no failure %s: ...%s... (SDM %s); got:\n%s", tc.field, tc.rule, tc.sec, fs)
		})
	}
}
