package vmx

import (
	"strings"
	"testing"
)

func TestGuestDump(t *testing.T) {
	g := longModeGuest()
	d := g.Dump()
	for _, want := range []string{
		"CR0    0000000080050033 PE MP ET NE WP AM PG",
		"CR4    0000000000002620 PAE OSFXSR OSXMMEXCPT VMXE",
		"RIP    ffffffff80100000",
		"EFER   0000000000000d01 SCE LME LMA NXE",
		"CS   0008 0000000000000000 ffffffff 0a09b code XRA dpl0 P L G",
		"SS   0010 0000000000000000 ffffffff 0c093 data RWA dpl0 P D G",
		"LDTR 0000 0000000000000000 00000000 10000 unusable",
		"TR   0018 0000000000005000 00000067 0008b busy-TSS32/64 dpl0 P",
		"GDTR ffffffff80004000 limit 0027",
		"activity active  interruptibility none",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("dump lacks %q:\n%s", want, d)
		}
	}
	if n := strings.Count(d, "\n") + 1; n > 24 {
		t.Errorf("dump has %d lines; one screen is 24", n)
	}
	g.Activity, g.Interruptibility = ActivityHLT, BlockingBySTI|BlockingByNMI
	if d := g.Dump(); !strings.Contains(d, "activity HLT  interruptibility blocking by STI, blocking by NMI") {
		t.Errorf("non-register state:\n%s", d)
	}
}

func TestAccessRightsString(t *testing.T) {
	for ar, want := range map[AccessRights]string{
		0xA09B:  "0a09b code XRA dpl0 P L G",
		0xC0F3:  "0c0f3 data RWA dpl3 P D G",
		0x9F:    "0009f code XRCA dpl0 P",
		0x97:    "00097 data RWEA dpl0 P",
		0x82:    "00082 LDT dpl0 P",
		0x10000: "10000 unusable",
		0xE0193: "e0193 data RWA dpl0 P reserved=0xe0100",
	} {
		if got := ar.String(); got != want {
			t.Errorf("%#x: %q, want %q", uint32(ar), got, want)
		}
	}
}

func TestHostAndControlsDump(t *testing.T) {
	h := testHost()
	if d := h.Dump(); !strings.Contains(d, "CS 0008 SS 0010") || !strings.Contains(d, "NW CD PG") {
		t.Errorf("host dump:\n%s", d)
	}
	c := testControls(t, bochsCaps(t), true)
	d := c.Dump()
	for _, want := range []string{
		"pin-based    0x00000017 [external-interrupt exiting] reserved=0x16",
		"secondary    0x000000a2 [enable EPT, enable VPID, unrestricted guest]",
		"VM-entry     0x0000d3ff [load debug controls, IA-32e mode guest, load IA32_PAT, load IA32_EFER] reserved=0x11fb",
		"inject none",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("controls dump lacks %q:\n%s", want, d)
		}
	}
}
