package vmx

import (
	"errors"
	"strings"
	"testing"
)

func TestSoftVMCS(t *testing.T) {
	var v SoftVMCS
	if err := v.Write(GuestCSSelector, 0x12345); err != nil {
		t.Fatal(err)
	}
	if x, _ := v.Read(GuestCSSelector); x != 0x2345 {
		t.Errorf("16-bit field kept %#x", x)
	}
	v.Write(GuestCSLimit, 0x1_ffff_ffff)
	if x, _ := v.Read(GuestCSLimit); x != 0xffffffff {
		t.Errorf("32-bit field kept %#x", x)
	}
	v.Write(GuestIA32EFER, 0x1122334455667788)
	if x, _ := v.Read(GuestIA32EFER.HighPart()); x != 0x11223344 {
		t.Errorf("high read %#x", x)
	}
	v.Write(GuestIA32EFER.HighPart(), 0xaabbccdd)
	if x, _ := v.Read(GuestIA32EFER); x != 0xaabbccdd55667788 {
		t.Errorf("after high write %#x", x)
	}
	var ie InstructionError
	if err := v.Write(VMExitReason, 1); !errors.As(err, &ie) || ie != VMErrVMWRITEReadOnly {
		t.Errorf("write to read-only: %v", err)
	}
	if _, err := v.Read(Field(0x6830)); !errors.As(err, &ie) || ie != VMErrUnsupportedComponent {
		t.Errorf("unknown field: %v", err)
	}
	v.VMWriteAnyField = true
	if err := v.Write(VMExitReason, 12); err != nil {
		t.Error(err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	g := longModeGuest()
	h := testHost()
	c := testControls(t, bochsCaps(t), true)
	var v SoftVMCS
	for _, err := range []error{g.Write(&v), h.Write(&v), c.Write(&v)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	g2, err := ReadGuestState(&v)
	if err != nil || g2 != g {
		t.Errorf("guest state round trip: %v\n%s\n%s", err, g.Dump(), g2.Dump())
	}
	h2, err := ReadHostState(&v)
	if err != nil || h2 != h {
		t.Errorf("host state round trip: %v", err)
	}
	c2, err := ReadControls(&v)
	if err != nil || c2 != *c {
		t.Errorf("controls round trip: %v", err)
	}
	if x, _ := v.Read(GuestCSAccessRights); x != 0xa09b {
		t.Errorf("CS AR in VMCS %#x", x)
	}
}

// unsupported is a VMCS without the FRED and PKRS fields.
type unsupported struct{ SoftVMCS }

func (u *unsupported) Read(f Field) (uint64, error) {
	if f >= GuestIA32PKRS && f <= GuestIA32FREDSSP3 {
		return 0, VMErrUnsupportedComponent
	}
	return u.SoftVMCS.Read(f)
}

func (u *unsupported) Write(f Field, x uint64) error {
	if f >= GuestIA32PKRS && f <= GuestIA32FREDSSP3 {
		return VMErrUnsupportedComponent
	}
	return u.SoftVMCS.Write(f, x)
}

func TestStateUnsupportedFields(t *testing.T) {
	g := longModeGuest()
	u := &unsupported{}
	if err := g.Write(u); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadGuestState(u); err != nil {
		t.Fatal(err)
	}
	g.IA32PKRS = 1
	err := g.Write(u)
	var ie InstructionError
	if err == nil {
		t.Error("a nonzero value for an unsupported field was dropped silently")
	} else if !errors.As(err, &ie) || ie != VMErrUnsupportedComponent || !strings.Contains(err.Error(), "VMWRITE") {
		t.Errorf("error %q does not name the VMWRITE and its VM-instruction error", err)
	}
}
