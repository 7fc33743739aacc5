package image

// The flat 64-bit format of hindsight's test guest (guest/testguest's
// contract): the image is copied to FlatLoadAddr and entered at its first
// byte in 64-bit mode, on identity-mapped page tables for the first GiB
// (2 MiB pages) with a GDT holding FlatSelCode (64-bit code) and
// FlatSelData, RSP = 0x80000, RDI and RSI from Spec.Args. The tables and
// the GDT lie below 0x4000, clear of the guest's stack [0x70000, 0x80000).

const (
	FlatLoadAddr = 0x100000
	FlatSelCode  = 0x08
	FlatSelData  = 0x10
	flatMapped   = 1 << 30 // identity-mapped bytes
)

type flat64 struct{ image []byte }

func (flat64) format() Format { return Flat64 }

func (k flat64) load(m *mem, s *Spec) (Entry, error) {
	if len(k.image) == 0 {
		return Entry{}, errorf("the flat image is empty")
	}
	if end := FlatLoadAddr + uint64(len(k.image)); end > flatMapped {
		return Entry{}, errorf("the flat image ends at %#x, past the identity-mapped first GiB", end)
	}
	if err := m.putIdentityMap(1); err != nil {
		return Entry{}, err
	}
	gdt, limit, err := m.putGDT(descCode64, descData)
	if err != nil {
		return Entry{}, err
	}
	if err := m.put("image", FlatLoadAddr, k.image, uint64(len(k.image))); err != nil {
		return Entry{}, err
	}
	e := long64Entry(FlatLoadAddr, gdt, limit, FlatSelCode, FlatSelData)
	e.RDI, e.RSI = s.Args[0], s.Args[1]
	return e, nil
}
