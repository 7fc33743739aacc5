package vmx

import "testing"

func TestInjectEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		j    Injection
		want Injection
	}{
		{"external", InjectExternal(0x20), Injection{Info: 0x80000020}},
		{"NMI", InjectNMI(), Injection{Info: 0x80000202}},
		{"#PF", InjectException(VectorPF, 0x2, true), Injection{Info: 0x80000b0e, ErrorCode: 2}},
		{"#UD", InjectException(VectorUD, 0x99, false), Injection{Info: 0x80000306}},
		{"INT 0x80", InjectSoftwareInterrupt(0x80, 2), Injection{Info: 0x80000480, InstrLen: 2}},
		{"INT3", InjectSoftwareException(VectorBP, 1), Injection{Info: 0x80000603, InstrLen: 1}},
		{"INT1", InjectPrivilegedSoftwareException(VectorDB, 1), Injection{Info: 0x80000501, InstrLen: 1}},
		{"MTF", InjectPendingMTF(), Injection{Info: 0x80000700}},
	} {
		if tc.j != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.j, tc.want)
		}
	}
	if s := InjectException(VectorGP, 0x10, true).String(); s != "hardware exception #GP err=0x10" {
		t.Error(s)
	}
	if s := InjectSoftwareInterrupt(0x80, 2).String(); s != "software interrupt INT 0x80 len=2" {
		t.Error(s)
	}
	if s := (Injection{}).String(); s != "none" {
		t.Error(s)
	}
}

func TestExceptionHasErrorCode(t *testing.T) {
	with := map[uint8]bool{8: true, 10: true, 11: true, 12: true, 13: true, 14: true, 17: true, 21: true}
	for v := 0; v < 256; v++ {
		if ExceptionHasErrorCode(uint8(v)) != with[uint8(v)] {
			t.Errorf("vector %d", v)
		}
	}
	if ExceptionName(14) != "#PF" || ExceptionName(15) != "vector 15" || ExceptionName(21) != "#CP" {
		t.Error("names")
	}
}

func TestReinject(t *testing.T) {
	if _, ok := Reinject(0x0000030e, 0, 0); ok {
		t.Error("invalid IDT-vectoring information reinjected")
	}
	j, ok := Reinject(0x80001b0e, 0x4, 3) // #PF with error code, bit 12 (undefined) set
	if !ok || j != (Injection{Info: 0x80000b0e, ErrorCode: 4}) {
		t.Errorf("%+v", j)
	}
	j, _ = Reinject(0x80000480, 0, 2) // INT 0x80 interrupted: needs the instruction length
	if j != (Injection{Info: 0x80000480, InstrLen: 2}) {
		t.Errorf("%+v", j)
	}
}

func TestInjectionWrite(t *testing.T) {
	var v SoftVMCS
	v.Set(EntryExceptionErrorCode, 0x55) // left over from an earlier injection
	if err := InjectExternal(0x30).Write(&v); err != nil {
		t.Fatal(err)
	}
	ctl, err := ReadControls(&v)
	if err != nil {
		t.Fatal(err)
	}
	if ctl.Injection() != InjectExternal(0x30) {
		t.Errorf("%+v", ctl.Injection())
	}
}
