package vmx

import (
	"strings"
	"testing"
)

func TestDecodeIO(t *testing.T) {
	for _, tc := range []struct {
		q    uint64
		want string
		io   IOQual
	}{
		{0x3f8<<16 | 1<<3, "IN  dx=0x3f8 size=1", IOQual{Size: 1, In: true, Port: 0x3f8}},
		{0x3f8 << 16, "OUT dx=0x3f8 size=1", IOQual{Size: 1, Port: 0x3f8}},
		{0x80<<16 | 1<<6, "OUT imm=0x80 size=1", IOQual{Size: 1, Imm: true, Port: 0x80}},
		{0x1f0<<16 | 1 | 1<<3 | 1<<4 | 1<<5, "REP INS dx=0x1f0 size=2", IOQual{Size: 2, In: true, StringOp: true, Rep: true, Port: 0x1f0}},
		{0xcfc<<16 | 3, "OUT dx=0xcfc size=4", IOQual{Size: 4, Port: 0xcfc}},
	} {
		io := DecodeIO(tc.q)
		if io != tc.io || io.String() != tc.want {
			t.Errorf("%#x: %+v %q, want %+v %q", tc.q, io, io, tc.io, tc.want)
		}
	}
}

func TestDecodeCRAccess(t *testing.T) {
	for _, tc := range []struct {
		q    uint64
		want string
	}{
		{3, "MOV CR3, RAX"},
		{0 | 0<<4 | 12<<8, "MOV CR0, R12"},
		{8 | 1<<4 | 3<<8, "MOV RBX, CR8"},
		{2 << 4, "CLTS"},
		{3<<4 | 1<<6 | 0x1<<16, "LMSW 0x1 (memory)"},
		{3<<4 | 0x000b<<16, "LMSW 0xb"},
	} {
		if got := DecodeCRAccess(tc.q).String(); got != tc.want {
			t.Errorf("%#x: %q, want %q", tc.q, got, tc.want)
		}
	}
	q := DecodeCRAccess(4 | 0<<4 | 7<<8)
	if q.CR != 4 || q.Access != MovToCR || q.GPR != 7 {
		t.Errorf("%+v", q)
	}
	if got := DecodeDRAccess(7 | 2<<8).String(); got != "MOV DR7, RDX" {
		t.Error(got)
	}
	if got := DecodeDRAccess(6 | 1<<4 | 1<<8).String(); got != "MOV RCX, DR6" {
		t.Error(got)
	}
}

func TestDecodeEPTViolation(t *testing.T) {
	v := DecodeEPTViolation(1<<1|1<<7|1<<8, 0xfee00000, 0xfffff000fee00000)
	if !v.Write || v.Read || !v.NotPresent() || !v.GLAValid || !v.Translation {
		t.Errorf("%+v", v)
	}
	if got := v.String(); got != "EPT violation: write gpa=0xfee00000 gla=0xfffff000fee00000 (page not present)" {
		t.Error(got)
	}
	v = DecodeEPTViolation(1<<2|1<<3|1<<12, 0x1000, 0x401000)
	if got := v.String(); got != "EPT violation: fetch gpa=0x1000 (r--) NMI-unblocking" {
		t.Error(got)
	}
	if v.GLA != 0 {
		t.Error("GLA taken although bit 7 is clear")
	}
	v = DecodeEPTViolation(1|1<<7, 0x2000, 0x7000)
	if got := v.String(); !strings.Contains(got, "(guest page walk)") {
		t.Error(got)
	}
}

func TestDecodeOthers(t *testing.T) {
	if got := DecodeDebug(1 << 14).String(); got != "#DB BS" {
		t.Error(got)
	}
	if got := DecodeDebug(5 | 1<<13).String(); got != "#DB B0 B2 BD" {
		t.Error(got)
	}
	if got := DecodeTaskSwitch(0x28 | 2<<30).String(); got != "task switch to TSS 0x28 by JMP" {
		t.Error(got)
	}
	if got := DecodeTaskSwitch(0x30 | 3<<30).Source; got != TaskSwitchTaskGate {
		t.Error(got)
	}
	if got := DecodeAPICAccess(0xb0 | 1<<12).String(); got != "APIC write offset=0x0b0" {
		t.Error(got)
	}
	if got := DecodeEntryFailure(ReasonInvalidGuestState, EntryFailLinkPointer).String(); got != "invalid guest state: invalid VMCS link pointer" {
		t.Error(got)
	}
	if got := DecodeEntryFailure(ReasonMSRLoading, 3).String(); got != "MSR loading failed at VM-entry MSR-load entry 3" {
		t.Error(got)
	}
	ii := DecodeExitInterruption(0x80000b0e, 2)
	if ii.Vector != 14 || ii.Type != EventHardwareException || !ii.ErrorCodeValid || ii.ErrorCode != 2 || ii.String() != "hardware exception #PF err=0x2" {
		t.Errorf("%+v %q", ii, ii)
	}
	if got := DecodeExitInterruption(0x80001202, 0).String(); got != "NMI (NMI unblocking due to IRET)" {
		t.Error(got)
	}
	if got := DecodeIDTVectoring(0x80001020, 0); got.NMIUnblocking || got.String() != "external interrupt 0x20" {
		t.Error(got)
	}
	if got := DecodeExitInterruption(0x0000030e, 0).String(); got != "none" {
		t.Error(got)
	}
	if got := FormatQualification(ReasonIOInstruction, 0x3f8<<16|1<<3, 0, 0); got != "IN  dx=0x3f8 size=1" {
		t.Error(got)
	}
	if got := FormatQualification(ReasonEPTMisconfiguration, 0, 0xfee00000, 0); got != "EPT misconfiguration: gpa=0xfee00000" {
		t.Error(got)
	}
}

// The decoders run in VM-exit handlers: they must not allocate.
func TestDecodersDoNotAllocate(t *testing.T) {
	var sink uint64
	n := testing.AllocsPerRun(100, func() {
		sink += uint64(DecodeIO(0x3f8 << 16).Port)
		sink += uint64(DecodeCRAccess(3).GPR)
		sink += uint64(DecodeDRAccess(7).DR)
		sink += DecodeEPTViolation(2, 0x1000, 0).GPA
		sink += uint64(DecodeDebug(1 << 14).B)
		sink += uint64(DecodeTaskSwitch(0x28).Selector)
		sink += uint64(DecodeAPICAccess(0xb0).Offset)
		sink += uint64(DecodeExitInterruption(0x80000b0e, 2).ErrorCode)
		sink += uint64(DecodeIDTVectoring(0x80000b0e, 2).Vector)
		sink += uint64(ExitReason(0x80000021).Basic())
		sink += uint64(InjectException(VectorGP, 0, true).Info)
		j, _ := Reinject(0x80000b0e, 0, 0)
		sink += uint64(j.Info)
		sink += uint64(GuestRIP.Width()) + uint64(GuestRIP.Bits())
		if ExceptionHasErrorCode(14) && GuestRIP.Known() {
			sink++
		}
	})
	if n != 0 {
		t.Errorf("decoders allocate %v times per run", n)
	}
	_ = sink
}
