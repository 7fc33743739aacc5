package ept

// Bits of the exit qualification of an EPT-violation VM exit (exit reason 48;
// SDM Vol. 3C §28.2.1, Table 28-7 "Exit Qualification for EPT Violations").
// The vmx package has its own decoder; this one only serves the report.
const (
	QualRead          uint64 = 1 << 0  // the access was a data read
	QualWrite         uint64 = 1 << 1  // the access was a data write
	QualFetch         uint64 = 1 << 2  // the access was an instruction fetch
	QualReadable      uint64 = 1 << 3  // AND of bit 0 (read) of the EPT entries used
	QualWritable      uint64 = 1 << 4  // AND of bit 1 (write)
	QualExecutable    uint64 = 1 << 5  // AND of bit 2 (execute, supervisor-mode with MBEC)
	QualUserExec      uint64 = 1 << 6  // AND of bit 10 (user-mode execute), with MBEC only
	QualGLAValid      uint64 = 1 << 7  // the guest linear-address field is valid
	QualTranslation   uint64 = 1 << 8  // (if bit 7) access to the translation of the linear address, not to a guest paging-structure entry
	QualUserMode      uint64 = 1 << 9  // (if bits 7 and 8, advanced info) user-mode linear address
	QualRWPage        uint64 = 1 << 10 // (if bits 7 and 8, advanced info) guest page read/write
	QualNXPage        uint64 = 1 << 11 // (if bits 7 and 8, advanced info) guest page execute-disable
	QualNMIUnblocking uint64 = 1 << 12 // NMI unblocking due to IRET
	QualShadowStack   uint64 = 1 << 13 // shadow-stack access
	QualAsync         uint64 = 1 << 16 // asynchronous to instruction execution (e.g. trace output)
)

// Violation is what an EPT-violation exit reports: the exit qualification,
// the guest-physical address (VMCS field 0x2400), the guest linear address
// (0x640A, valid if QualGLAValid) and the guest RIP.
type Violation struct {
	Qual, GPA, GLA, RIP uint64
}

// NotPresent reports whether the GPA had no translation at all (bits 5:3 of
// the qualification all clear).
func (v Violation) NotPresent() bool {
	return v.Qual&(QualReadable|QualWritable|QualExecutable) == 0
}

// String reports the violation on one line, e.g.
//
//	EPT violation at gpa 0xfee00030 (write; page not present) gla 0xfee00030 rip=0xffffffff81000a2e
//	EPT violation at gpa 0x2000 (fetch; page rw-) rip=0x2000
func (v Violation) String() string {
	var b [160]byte
	return string(v.AppendTo(b[:0]))
}

// AppendTo appends the String form to dst; it allocates nothing when dst has
// room (about 110 bytes), so it can run in VM-exit context.
func (v Violation) AppendTo(dst []byte) []byte {
	dst = append(dst, "EPT violation at gpa "...)
	dst = appendHex(dst, v.GPA)
	dst = append(dst, " ("...)
	n := len(dst)
	for _, a := range [...]struct {
		bit  uint64
		name string
	}{{QualRead, "read"}, {QualWrite, "write"}, {QualFetch, "fetch"}} {
		if v.Qual&a.bit != 0 {
			if len(dst) > n {
				dst = append(dst, '+')
			}
			dst = append(dst, a.name...)
		}
	}
	if len(dst) == n {
		dst = append(dst, "access"...)
	}
	if v.NotPresent() {
		dst = append(dst, "; page not present"...)
	} else {
		dst = append(dst, "; page "...)
		rights := [3]byte{'-', '-', '-'}
		if v.Qual&QualReadable != 0 {
			rights[0] = 'r'
		}
		if v.Qual&QualWritable != 0 {
			rights[1] = 'w'
		}
		if v.Qual&QualExecutable != 0 {
			rights[2] = 'x'
		}
		dst = append(dst, rights[:]...)
	}
	dst = append(dst, ')')
	if v.Qual&QualGLAValid != 0 {
		dst = append(dst, " gla "...)
		dst = appendHex(dst, v.GLA)
		if v.Qual&QualTranslation == 0 {
			dst = append(dst, " (guest page walk)"...)
		}
	}
	dst = append(dst, " rip="...)
	return appendHex(dst, v.RIP)
}

func appendHex(dst []byte, x uint64) []byte {
	const digits = "0123456789abcdef"
	var b [18]byte
	i := len(b)
	for {
		i--
		b[i] = digits[x&15]
		x >>= 4
		if x == 0 {
			break
		}
	}
	i -= 2
	b[i], b[i+1] = '0', 'x'
	return append(dst, b[i:]...)
}
