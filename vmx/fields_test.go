package vmx

import (
	"strings"
	"testing"
)

// Every encoding decodes to the width and type its Appendix B table declares,
// uses the full access type, sets no reserved bit, and is unique; names are
// unique; the table is in Appendix B order (by width, then type, then index).
func TestFieldEncodings(t *testing.T) {
	encs := map[Field]string{}
	names := map[string]Field{}
	prevKey := -1
	for _, fi := range fieldTable {
		f := fi.f
		if f.Width() != fi.width {
			t.Errorf("%s (%#04x): encoding width %s, table says %s", fi.name, uint32(f), f.Width(), fi.width)
		}
		if f.Type() != fi.typ {
			t.Errorf("%s (%#04x): encoding type %s, table says %s", fi.name, uint32(f), f.Type(), fi.typ)
		}
		if f.High() {
			t.Errorf("%s (%#04x): table entry uses the high access type", fi.name, uint32(f))
		}
		if !f.WellFormed() || f&0x1000 != 0 || f>>15 != 0 {
			t.Errorf("%s (%#04x): reserved encoding bits set", fi.name, uint32(f))
		}
		if Field(uint32(f.Width())<<13|uint32(f.Type())<<10|uint32(f.Index())<<1) != f {
			t.Errorf("%s (%#04x): width/type/index do not recompose the encoding", fi.name, uint32(f))
		}
		if n, dup := encs[f]; dup {
			t.Errorf("encoding %#04x used by %q and %q", uint32(f), n, fi.name)
		}
		encs[f] = fi.name
		if g, dup := names[fi.name]; dup {
			t.Errorf("name %q used by %#04x and %#04x", fi.name, uint32(g), uint32(f))
		}
		names[fi.name] = f
		if f.String() != fi.name || f.Name() != fi.name || !f.Known() {
			t.Errorf("%#04x: String %q Name %q Known %v", uint32(f), f.String(), f.Name(), f.Known())
		}
		// Appendix B order: 16-bit, 64-bit, 32-bit, natural; within a width
		// control, read-only data, guest, host; within those by index.
		order := map[FieldWidth]int{Width16: 0, Width64: 1, Width32: 2, WidthNatural: 3}
		key := order[f.Width()]<<16 | int(f.Type())<<12 | int(f.Index())
		if key <= prevKey {
			t.Errorf("%s (%#04x) is out of Appendix B order", fi.name, uint32(f))
		}
		prevKey = key

		// Guest-state fields are named "Guest ...", host-state "Host ...".
		switch fi.typ {
		case TypeGuest:
			if !strings.HasPrefix(fi.name, "Guest ") && fi.name != "VMCS link pointer" &&
				fi.name != "PML index" && fi.name != "VMX-preemption timer value" {
				t.Errorf("guest-state field named %q", fi.name)
			}
		case TypeHost:
			if !strings.HasPrefix(fi.name, "Host ") {
				t.Errorf("host-state field named %q", fi.name)
			}
		case TypeControl:
			if strings.HasPrefix(fi.name, "Guest ") || strings.HasPrefix(fi.name, "Host ") {
				t.Errorf("control field named %q", fi.name)
			}
		}
	}
	if len(Fields()) != len(fieldTable) || Fields()[0] != VirtualProcessorID {
		t.Error("Fields()")
	}
}

// Counts per Appendix B table, so a lost or doubled row shows.
func TestFieldTableSizes(t *testing.T) {
	count := map[[2]uint8]int{}
	for _, fi := range fieldTable {
		count[[2]uint8{uint8(fi.width), uint8(fi.typ)}]++
	}
	want := map[[2]uint8]int{
		{uint8(Width16), uint8(TypeControl)}: 5, {uint8(Width16), uint8(TypeGuest)}: 11, {uint8(Width16), uint8(TypeHost)}: 7,
		{uint8(Width64), uint8(TypeControl)}: 38, {uint8(Width64), uint8(TypeExitInfo)}: 2,
		{uint8(Width64), uint8(TypeGuest)}: 21, {uint8(Width64), uint8(TypeHost)}: 12,
		{uint8(Width32), uint8(TypeControl)}: 19, {uint8(Width32), uint8(TypeExitInfo)}: 8,
		{uint8(Width32), uint8(TypeGuest)}: 23, {uint8(Width32), uint8(TypeHost)}: 1,
		{uint8(WidthNatural), uint8(TypeControl)}: 8, {uint8(WidthNatural), uint8(TypeExitInfo)}: 6,
		{uint8(WidthNatural), uint8(TypeGuest)}: 23, {uint8(WidthNatural), uint8(TypeHost)}: 15,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s %s fields: %d, want %d", FieldWidth(k[0]), FieldType(k[1]), count[k], n)
		}
	}
}

func TestFieldMethods(t *testing.T) {
	if GuestRIP.String() != "Guest RIP" || GuestRIP.Width() != WidthNatural || GuestRIP.Type() != TypeGuest || !GuestRIP.IsNatural() {
		t.Error("GuestRIP")
	}
	efer := GuestIA32EFER
	if !efer.Is64() || efer.Is32() || efer.Bits() != 64 {
		t.Error("Guest IA32_EFER is a 64-bit field")
	}
	hi := efer.HighPart()
	if hi != 0x2807 || !hi.High() || !hi.Is32() || hi.Is64() || hi.Full() != efer || hi.String() != "Guest IA32_EFER (high)" || !hi.Known() {
		t.Errorf("high part %#x %q", uint32(hi), hi.String())
	}
	if (GuestRIP | 1).Known() || (GuestRIP | 1).WellFormed() {
		t.Error("high access of a natural-width field accepted")
	}
	if !GuestCSSelector.Is16() || GuestCSSelector.Mask() != 0xFFFF || !GuestCSLimit.Is32() || GuestCSLimit.Mask() != 0xFFFFFFFF {
		t.Error("widths")
	}
	if !VMExitReason.ReadOnly() || GuestRIP.ReadOnly() || !ExitQualification.ReadOnly() {
		t.Error("ReadOnly")
	}
	if s := Field(0x6830).String(); s != "field 0x6830" {
		t.Errorf("unknown field: %q", s)
	}
	if VirtualProcessorID.String() != "Virtual-processor identifier (VPID)" || EPTPointer.String() != "EPT pointer (EPTP)" {
		t.Error("names")
	}
}
