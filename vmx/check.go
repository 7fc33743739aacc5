package vmx

import (
	"fmt"
	"strings"
)

// Failure is one VM-entry check of SDM Vol. 3C chapter 27 that a VMCS does
// not pass.
type Failure struct {
	Field   string // what was checked: "guest CS.AR", "host CR4", "VM-entry controls"
	Rule    string // the rule broken, in the SDM's terms
	Section string // SDM Vol. 3C section, e.g. "27.3.1.2"
}

// String is e.g.
// `guest CS.AR: L=1 and D/B=1 with "IA-32e mode guest" (SDM 27.3.1.2)`.
func (f Failure) String() string { return f.Field + ": " + f.Rule + " (SDM " + f.Section + ")" }

// Failures is the result of a Check function; empty means every check passed.
type Failures []Failure

// String lists the failures one per line.
func (fs Failures) String() string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// Err is nil when there are no failures, else an error listing them.
func (fs Failures) Err() error {
	if len(fs) == 0 {
		return nil
	}
	return fmt.Errorf("vmx: %d VM-entry check(s) fail:\n%s", len(fs), fs)
}

// checker collects failures.
type checker struct {
	caps *Caps
	out  Failures
}

func (k *checker) fail(section, field, format string, args ...any) {
	k.out = append(k.out, Failure{Field: field, Rule: fmt.Sprintf(format, args...), Section: section})
}

// canonical reports whether bits 63:n-1 of a are all equal (SDM Vol. 1
// "Canonical Addressing"); n is the processor's linear-address width. VM entry
// checks canonicality against that width, not against the guest's paging mode.
func (k *checker) canonical(a uint64) bool {
	n := k.caps.linBits()
	if n >= 64 {
		return true
	}
	sh := 64 - n
	return uint64(int64(a<<sh)>>sh) == a
}

// physOK reports whether a sets no bit beyond the physical-address width.
func (k *checker) physOK(a uint64) bool {
	n := k.caps.physBits()
	return n >= 64 || a>>n == 0
}

// patValid reports whether each byte of an IA32_PAT value is a memory type
// WRMSR accepts: 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-).
func patValid(pat uint64) bool {
	for i := 0; i < 8; i++ {
		switch pat >> (8 * i) & 0xFF {
		case 0, 1, 4, 5, 6, 7:
		default:
			return false
		}
	}
	return true
}

// Architecturally reserved bits of MSRs the checks look at (SDM Vol. 4).
const (
	eferReserved     = ^uint64(EFERSCE | EFERLME | EFERLMA | EFERNXE)
	debugCtlReserved = 0xFFFFFFFFFFFF0038 // bits 63:16 and 5:3 of IA32_DEBUGCTL
	sCETReserved     = 0x3C0              // bits 9:6 of IA32_S_CET
	sCETSuppress     = 1 << 10
	sCETTracker      = 1 << 11
	bndcfgsReserved  = 0xFFC // bits 11:2 of IA32_BNDCFGS
)

// checkSegmentLimitG is the granularity rule for usable segments and TR:
// if any bit of limit 11:0 is 0, G must be 0; if any bit of 31:20 is 1, G
// must be 1.
func (k *checker) checkSegmentLimitG(sec, field string, s Segment) {
	if s.Limit&0xFFF != 0xFFF && s.AR.G() {
		k.fail(sec, field, "G=1 but limit %#x has a 0 in bits 11:0", s.Limit)
	}
	if s.Limit&0xFFF00000 != 0 && !s.AR.G() {
		k.fail(sec, field, "G=0 but limit %#x has a 1 in bits 31:20", s.Limit)
	}
}

func yes(b bool) int {
	if b {
		return 1
	}
	return 0
}
