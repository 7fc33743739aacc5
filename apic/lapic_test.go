package apic

import "testing"

// In x2APIC mode each register is the MSR of SDM Vol. 3A Table 11-6.
func TestX2APICMSRs(t *testing.T) {
	for _, c := range []struct {
		name string
		reg  uint32
		msr  uint32
	}{
		{"ID", RegID, 0x802},
		{"Version", RegVersion, 0x803},
		{"TPR", RegTPR, 0x808},
		{"EOI", RegEOI, 0x80B},
		{"SVR", RegSVR, 0x80F},
		{"ESR", RegESR, 0x828},
		{"ICR", RegICRLow, 0x830},
		{"LVT Timer", RegLVTTimer, 0x832},
		{"LVT LINT0", RegLVTLINT0, 0x835},
		{"LVT LINT1", RegLVTLINT1, 0x836},
		{"LVT Error", RegLVTError, 0x837},
		{"Initial Count", RegTimerInitial, 0x838},
		{"Current Count", RegTimerCurrent, 0x839},
		{"Divide Configuration", RegTimerDivide, 0x83E},
	} {
		if got := x2MSR(c.reg); got != c.msr {
			t.Errorf("%s (offset %#x): MSR %#x, want %#x", c.name, c.reg, got, c.msr)
		}
	}
}
