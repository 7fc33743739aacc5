package replay

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// refCRC32C is a bitwise CRC-32C (reflected polynomial 0x82F63B78),
// independent of hash/crc32, to check the codec against.
func refCRC32C(parts ...[]byte) uint32 {
	crc := ^uint32(0)
	for _, p := range parts {
		for _, x := range p {
			crc ^= uint32(x)
			for range 8 {
				if crc&1 != 0 {
					crc = crc>>1 ^ 0x82F63B78
				} else {
					crc >>= 1
				}
			}
		}
	}
	return ^crc
}

// fixCRC stores the reference CRC of b[:64] in b[4:8].
func fixCRC(b []byte) {
	binary.LittleEndian.PutUint32(b[4:], refCRC32C(b[0:4], b[8:64]))
}

// samples has records of every kind, with edge values.
var samples = []Record{
	{Kind: KindRDTSC, Seq: 1, RIP: 0xfff0, Value: 0x123456789},
	{Kind: KindRDTSC, Seq: ^uint64(0), RIP: ^uint64(0), Branches: ^uint64(0), Value: ^uint64(0)},
	{Kind: KindPortIn, Size: 1, Port: 0x40, Seq: 1234, RIP: 0x100034, Value: 0x5c},
	{Kind: KindPortIn, Size: 1, Port: 0xffff, Seq: 2, RIP: 3, Value: 0xff},
	{Kind: KindPortIn, Size: 2, Port: 0x71, Seq: 5, RIP: 6, Branches: 7, Value: 0xffff},
	{Kind: KindPortIn, Size: 4, Port: 0xcfc, Seq: 8, RIP: 9, Value: 0xffffffff},
	{Kind: KindIRQ, Seq: 10, RIP: 0x7c00, Value: 0},
	{Kind: KindIRQ, Seq: 11, RIP: 0x7c01, Branches: 99, Value: 15, Value2: 0x220, Value3: 0x220},
	{Kind: KindIRQ, Seq: 11, RIP: 0x7c01, Value: 0, Value2: 0x200, Value3: NoVector},
	{Kind: KindSerialIn, Seq: 12, RIP: 0x1000, Value: 'A', Value2: 0x2ff, Value3: 0x2ff},
	{Kind: KindSerialIn, Seq: 12, RIP: 0x1000, Value: 'A', Value2: NoVector, Value3: NoVector},
	{Kind: KindSerialIn, Seq: 13, RIP: 0x1000, Value: 0xff},
	{Kind: KindDigest, Seq: 14, RIP: 0x2000, Value: 0x1111111111111111, Value2: 0x2222222222222222, Value3: ^uint64(0)},
	{Kind: KindDigest}, // an initial digest before any exit
	{Kind: KindProgress, Seq: 15, RIP: 0x3000, Value: 1_700_000_000_000_000_000},
	{Kind: KindEnd, Seq: 16, RIP: 0x4000, Value: 0},
	{Kind: KindEnd, Seq: 17, RIP: 0x4000, Value: ^uint64(0)},
}

func encode(r Record) []byte {
	b := make([]byte, RecordSize)
	r.Encode(b)
	return b
}

func TestRoundTripEveryKind(t *testing.T) {
	seen := map[Kind]bool{}
	for _, r := range samples {
		seen[r.Kind] = true
		if err := r.Validate(); err != nil {
			t.Fatalf("%v: Validate: %v", r, err)
		}
		b := encode(r)
		var got Record
		if err := Decode(b, &got); err != nil {
			t.Fatalf("%v: Decode: %v", r, err)
		}
		if got != r {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
		// Decode ignores bytes past RecordSize.
		long := append(append([]byte{}, b...), 0xde, 0xad)
		got = Record{}
		if err := Decode(long, &got); err != nil || got != r {
			t.Fatalf("%v: Decode of a longer buffer: %+v, %v", r, got, err)
		}
	}
	for k := Kind(1); k <= maxKind; k++ {
		if !seen[k] {
			t.Errorf("no sample of kind %v", k)
		}
	}
}

// TestLayout checks every field's offset and byte order against the
// documented table, building the bytes by hand.
func TestLayout(t *testing.T) {
	r := Record{Kind: KindDigest, Seq: 0x0807060504030201, RIP: 0x1817161514131211,
		Branches: 0x2827262524232221, Value: 0x3837363534333231,
		Value2: 0x4847464544434241, Value3: 0x5857565554535251}
	want := make([]byte, 64)
	want[0] = 5
	for i := 8; i < 56; i++ {
		want[i] = byte((i/8-1)<<4 | (i%8 + 1))
	}
	fixCRC(want)
	if got := encode(r); !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %x\nwant %x", got, want)
	}

	p := Record{Kind: KindPortIn, Size: 4, Port: 0xbeef, Value: 0xcafef00d}
	want = make([]byte, 64)
	copy(want, []byte{2, 4, 0xef, 0xbe})
	copy(want[32:], []byte{0x0d, 0xf0, 0xfe, 0xca})
	fixCRC(want)
	if got := encode(p); !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %x\nwant %x", got, want)
	}
}

// TestTestVector checks the vector printed in the package documentation.
func TestTestVector(t *testing.T) {
	r := Record{Kind: KindPortIn, Size: 1, Port: 0x40, Seq: 1234, RIP: 0x100034, Value: 0x5c}
	want, _ := hex.DecodeString("020140008312ad2ed204000000000000" +
		"34001000000000000000000000000000" +
		"5c000000000000000000000000000000" +
		"00000000000000000000000000000000")
	if got := encode(r); !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %x\nwant %x", got, want)
	}
	if c := refCRC32C(want[:4], want[8:]); c != 0x2ead1283 {
		t.Fatalf("reference CRC %#x", c)
	}
	if s := r.String(); s != "#1234 rip=0x100034 PORTIN port=0x40 size=1 value=0x5c" {
		t.Fatalf("String: %q", s)
	}
}

func TestCRCMatchesReference(t *testing.T) {
	if c := refCRC32C([]byte("123456789")); c != 0xe3069283 {
		t.Fatalf("reference CRC-32C check value %#x, want 0xe3069283", c)
	}
	for _, r := range samples {
		b := encode(r)
		if got, want := binary.LittleEndian.Uint32(b[4:]), refCRC32C(b[0:4], b[8:64]); got != want {
			t.Fatalf("%v: stored CRC %#x, reference %#x", r, got, want)
		}
	}
}

// TestEveryBitFlipRejected flips each of the 512 bits of each sample.
func TestEveryBitFlipRejected(t *testing.T) {
	for _, r := range samples {
		b := encode(r)
		for bit := 0; bit < RecordSize*8; bit++ {
			c := append([]byte{}, b...)
			c[bit/8] ^= 1 << (bit % 8)
			out := Record{Seq: 42}
			err := Decode(c, &out)
			if err == nil {
				t.Fatalf("%v: flip of bit %d accepted as %v", r, bit, out)
			}
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("flip of bit %d: error %T %v", bit, err, err)
			}
			if de.Field != "CRC" {
				t.Fatalf("flip of bit %d: field %q, want CRC (%v)", bit, de.Field, err)
			}
			if out != (Record{Seq: 42}) {
				t.Fatalf("flip of bit %d: Decode changed the record on error", bit)
			}
		}
	}
}

// TestBitFlipsWithFixedCRC flips each bit and then repairs the CRC, as a
// writer with a bug would: the field checks must still catch every flip
// that breaks a field rule, and any flip they accept must decode to a
// different, valid record that encodes back to the same bytes.
func TestBitFlipsWithFixedCRC(t *testing.T) {
	for _, r := range samples {
		b := encode(r)
		for bit := 0; bit < RecordSize*8; bit++ {
			if bit/8 >= 4 && bit/8 < 8 {
				continue // the CRC field itself
			}
			c := append([]byte{}, b...)
			c[bit/8] ^= 1 << (bit % 8)
			fixCRC(c)
			var out Record
			err := Decode(c, &out)
			// A kind flip may land on another valid kind whose rules the
			// payload happens to meet; the other fields below have rules
			// that a single flip always breaks, but for an interrupt code
			// flipped into another valid code.
			mustFail := bit/8 >= 56 || // reserved
				(r.Kind != KindPortIn && bit/8 >= 1 && bit/8 < 4) || // Size, Port
				(r.Kind != KindDigest && bit/8 >= 40 && bit/8 < 56) // Value2, Value3
			if r.Kind.CarriesInterrupts() && bit/8 >= 40 && bit/8 < 56 {
				req, del := r.Value2, r.Value3
				if bit/8 >= 48 {
					del ^= 1 << (bit % 64)
				} else {
					req ^= 1 << (bit % 64)
				}
				code := func(c uint64) bool { return c == 0 || c == 0x100 || c >= 0x200 && c <= 0x2ff }
				mustFail = !code(req) || !code(del) || (req == 0) != (del == 0)
			}
			if mustFail && err == nil {
				t.Fatalf("%v: flip of bit %d (CRC fixed) accepted as %v", r, bit, out)
			}
			if err == nil {
				if out == r {
					t.Fatalf("%v: flip of bit %d decoded to the same record", r, bit)
				}
				if !bytes.Equal(encode(out), c) {
					t.Fatalf("%v: flip of bit %d: re-encoding differs", r, bit)
				}
			}
		}
	}
}

func TestShortInput(t *testing.T) {
	b := encode(samples[0])
	for n := 0; n < RecordSize; n++ {
		var r Record
		err := Decode(b[:n], &r)
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != "length" || de.Got != uint64(n) || de.Want != RecordSize {
			t.Fatalf("len %d: %#v", n, err)
		}
		if want := "short record"; !strings.Contains(err.Error(), want) {
			t.Fatalf("len %d: %q", n, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Encode into a short buffer did not panic")
		}
	}()
	samples[0].Encode(make([]byte, RecordSize-1))
}

func TestZeroedSlot(t *testing.T) {
	var r Record
	err := Decode(make([]byte, RecordSize), &r)
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "Kind" || !errors.Is(err, ErrMalformed) {
		t.Fatalf("zeroed record: %v", err)
	}
	if want := "replay: record: zeroed record (kind 0): an unwritten slot"; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}

func TestReservedBits(t *testing.T) {
	for _, r := range samples {
		for bit := 0; bit < 64; bit++ {
			b := encode(r)
			binary.LittleEndian.PutUint64(b[56:], 1<<bit)
			fixCRC(b)
			var out Record
			err := Decode(b, &out)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != "Reserved" || de.Got != 1<<bit || de.Kind != r.Kind {
				t.Fatalf("%v: reserved bit %d: %v", r, bit, err)
			}
		}
	}
}

func TestValidation(t *testing.T) {
	base := Record{Seq: 9, RIP: 0x1000}
	with := func(f func(*Record)) Record { r := base; f(&r); return r }
	cases := []struct {
		r     Record
		field string
		got   uint64
		msg   string
	}{
		{with(func(r *Record) {}), "Kind", 0, "replay: record: kind 0 (invalid: a zeroed record)"},
		{with(func(r *Record) { r.Kind = 8 }), "Kind", 8, "replay: record: unknown kind 8"},
		{with(func(r *Record) { r.Kind = 9 }), "Kind", 9, "replay: record: unknown kind 9"},
		{with(func(r *Record) { r.Kind = 255 }), "Kind", 255, "replay: record: unknown kind 255"},
		{with(func(r *Record) { r.Kind = KindPortIn; r.Port = 0x40 }), "Size", 0, "replay: record: PORTIN: access size 0, must be 1, 2 or 4"},
		{with(func(r *Record) { r.Kind = KindPortIn; r.Size = 3 }), "Size", 3, "replay: record: PORTIN: access size 3, must be 1, 2 or 4"},
		{with(func(r *Record) { r.Kind = KindPortIn; r.Size = 8 }), "Size", 8, "access size 8"},
		{with(func(r *Record) { r.Kind = KindRDTSC; r.Size = 1 }), "Size", 1, "replay: record: RDTSC: Size 1, must be 0 unless PORTIN"},
		{with(func(r *Record) { r.Kind = KindIRQ; r.Port = 0x20 }), "Port", 0x20, "replay: record: IRQ: Port 0x20, must be 0 unless PORTIN"},
		{with(func(r *Record) { r.Kind = KindPortIn; r.Size = 1; r.Value = 0x100 }), "Value", 0x100, "replay: record: PORTIN: value 0x100 does not fit a 1-byte access (max 0xff)"},
		{with(func(r *Record) { r.Kind = KindPortIn; r.Size = 2; r.Value = 0x10000 }), "Value", 0x10000, "2-byte access"},
		{with(func(r *Record) { r.Kind = KindPortIn; r.Size = 4; r.Value = 1 << 32 }), "Value", 1 << 32, "4-byte access"},
		{with(func(r *Record) { r.Kind = KindIRQ; r.Value = 16 }), "Value", 16, "replay: record: IRQ: line 16, must be <= 15"},
		{with(func(r *Record) { r.Kind = KindSerialIn; r.Value = 256 }), "Value", 256, "replay: record: SERIALIN: byte 0x100, must be <= 0xff"},
		{with(func(r *Record) { r.Kind = KindRDTSC; r.Value2 = 1 }), "Value2", 1, "replay: record: RDTSC: Value2 0x1, must be 0 unless DIGEST, IRQ or SERIALIN"},
		{with(func(r *Record) { r.Kind = KindEnd; r.Value3 = 7 }), "Value3", 7, "replay: record: END: Value3 0x7, must be 0 unless DIGEST, IRQ or SERIALIN"},
		{with(func(r *Record) { r.Kind = KindIRQ; r.Value2 = 0x20 }), "Value2", 0x20, "replay: record: IRQ: requested interrupt 0x20, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector"},
		{with(func(r *Record) { r.Kind = KindIRQ; r.Value2 = 0x220; r.Value3 = 0x320 }), "Value3", 0x320, "replay: record: IRQ: delivered interrupt 0x320, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector"},
		{with(func(r *Record) { r.Kind = KindSerialIn; r.Value2 = 0x100; r.Value3 = 1 << 63 }), "Value3", 1 << 63, "SERIALIN: delivered interrupt 0x8000000000000000"},
		{with(func(r *Record) { r.Kind = KindIRQ; r.Value2 = 0x220 }), "Value3", 0, "replay: record: IRQ: delivered interrupt 0x0 with requested 0x220: both or neither must be 0 (unrecorded)"},
		{with(func(r *Record) { r.Kind = KindIRQ; r.Value3 = 0x100 }), "Value3", 0x100, "IRQ: delivered interrupt 0x100 with requested 0x0"},
		{with(func(r *Record) { r.Kind = KindDigest; r.Size = 2 }), "Size", 2, "DIGEST: Size 2"},
	}
	for _, c := range cases {
		for _, viaDecode := range []bool{false, true} {
			var err error
			if viaDecode {
				var out Record
				err = Decode(encode(c.r), &out)
			} else {
				err = c.r.Validate()
			}
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("%+v: error %v", c.r, err)
			}
			if de.Field != c.field || de.Got != c.got || de.Kind != c.r.Kind {
				t.Errorf("%+v: field %q got %#x kind %v, want %q %#x %v", c.r, de.Field, de.Got, de.Kind, c.field, c.got, c.r.Kind)
			}
			if strings.HasPrefix(c.msg, "replay:") && err.Error() != c.msg ||
				!strings.Contains(err.Error(), c.msg) {
				t.Errorf("%+v: message %q, want %q", c.r, err, c.msg)
			}
		}
	}
}

func TestCRCErrorMessage(t *testing.T) {
	b := encode(samples[2])
	b[4] ^= 1
	var r Record
	err := Decode(b, &r)
	if want := "replay: record: bad CRC (stored 0x2ead1282, computed 0x2ead1283)"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Got != 0x2ead1282 || de.Want != 0x2ead1283 || de.Kind != KindPortIn {
		t.Fatalf("%#v", de)
	}
}

func TestKindString(t *testing.T) {
	want := []string{"Kind(0)", "RDTSC", "PORTIN", "IRQ", "SERIALIN", "DIGEST", "PROGRESS", "END", "Kind(8)"}
	for k, w := range want {
		if got := Kind(k).String(); got != w {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, w)
		}
		if Kind(k).Valid() != (k >= 1 && k <= 7) {
			t.Errorf("Kind(%d).Valid() wrong", k)
		}
	}
	if got := Kind(255).String(); got != "Kind(255)" {
		t.Errorf("got %q", got)
	}
}

func TestParseKind(t *testing.T) {
	for k := Kind(1); k <= maxKind; k++ {
		for _, s := range []string{k.String(), strings.ToLower(k.String())} {
			if got, ok := ParseKind(s); !ok || got != k {
				t.Errorf("ParseKind(%q) = %v, %v", s, got, ok)
			}
		}
	}
	for _, s := range []string{"", "Kind(1)", "irqs", "1"} {
		if k, ok := ParseKind(s); ok {
			t.Errorf("ParseKind(%q) = %v, want no kind", s, k)
		}
	}
}

func TestRecordString(t *testing.T) {
	cases := []struct {
		r    Record
		want string
	}{
		{Record{Kind: KindRDTSC, Seq: 1234, RIP: 0x100034, Value: 0x2f1a00c4}, "#1234 rip=0x100034 RDTSC value=0x2f1a00c4"},
		{Record{Kind: KindPortIn, Seq: 77, RIP: 0xfff0, Branches: 90210, Port: 0x40, Size: 1, Value: 0x5c}, "#77 rip=0xfff0 br=90210 PORTIN port=0x40 size=1 value=0x5c"},
		{Record{Kind: KindIRQ, Seq: 5, RIP: 0x10, Value: 0, Value2: VectorCode(0x20), Value3: VectorCode(0x20)}, "#5 rip=0x10 IRQ line=0 requested=vector 0x20 delivered=vector 0x20"},
		{Record{Kind: KindIRQ, Seq: 5, RIP: 0x10, Value: 0, Value2: VectorCode(0), Value3: NoVector}, "#5 rip=0x10 IRQ line=0 requested=vector 0x0 delivered=none"},
		{Record{Kind: KindSerialIn, Seq: 6, RIP: 0x10, Value: 'A', Value2: VectorCode(0x24), Value3: NoVector}, "#6 rip=0x10 SERIALIN byte=0x41 'A' requested=vector 0x24 delivered=none"},
		{Record{Kind: KindSerialIn, Seq: 6, RIP: 0x10, Value: '\n', Value2: NoVector, Value3: NoVector}, `#6 rip=0x10 SERIALIN byte=0xa '\n' requested=none delivered=none`},
		{Record{Kind: KindSerialIn, Seq: 6, RIP: 0x10, Value: 'A'}, "#6 rip=0x10 SERIALIN byte=0x41 'A'"},
		{Record{Kind: KindIRQ, Seq: 5, RIP: 0x10, Value: 1, Value2: 0x20, Port: 2}, "#5 rip=0x10 IRQ line=1 port=0x2 requested=code 0x20 delivered=unrecorded"},
		{Record{Kind: KindDigest, Seq: 7, RIP: 0x10, Value: 1, Value2: 0xab, Value3: 0xcd}, "#7 rip=0x10 DIGEST regs=0x1 ram=0xab serial=0xcd"},
		{Record{Kind: KindProgress, Seq: 8, RIP: 0x10, Value: 1500}, "#8 rip=0x10 PROGRESS host=1500ns"},
		{Record{Kind: KindEnd, Seq: 9, RIP: 0x10, Value: 3}, "#9 rip=0x10 END status=3"},
		// Invalid records show what does not belong.
		{Record{Kind: 9, Seq: 1, Value: 2, Port: 3, Size: 4, Value3: 5}, "#1 rip=0x0 Kind(9) value=0x2 port=0x3 size=4 value3=0x5"},
		{Record{Kind: KindRDTSC, Seq: 1, Value: 2, Value2: 6}, "#1 rip=0x0 RDTSC value=0x2 value2=0x6"},
		{Record{Kind: KindDigest, Seq: 1, Port: 0x60}, "#1 rip=0x0 DIGEST regs=0x0 ram=0x0 serial=0x0 port=0x60"},
	}
	for _, c := range cases {
		if got := c.r.String(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

func TestLandmark(t *testing.T) {
	r := Record{Kind: KindIRQ, Seq: 10, RIP: 0x20, Branches: 30}
	l := r.Landmark()
	if l != (Landmark{Seq: 10, RIP: 0x20, Branches: 30}) {
		t.Fatalf("Landmark() = %+v", l)
	}
	if got := l.String(); got != "#10 rip=0x20 br=30" {
		t.Fatalf("String() = %q", got)
	}
	if got := (Landmark{Seq: 3, RIP: 0xfff0}).String(); got != "#3 rip=0xfff0" {
		t.Fatalf("String() = %q", got)
	}
	a, b := Landmark{Seq: 1, RIP: 99, Branches: 99}, Landmark{Seq: 2}
	if !a.Before(b) || b.Before(a) || a.Before(a) {
		t.Fatal("Before by Seq")
	}
	// Same Seq: the same exit, neither before the other, whatever RIP says.
	c := Landmark{Seq: 1, RIP: 5}
	if a.Before(c) || c.Before(a) {
		t.Fatal("Before must use Seq only")
	}
}

func TestNoAllocs(t *testing.T) {
	buf := make([]byte, RecordSize)
	var out Record
	for _, r := range samples {
		r := r
		if n := testing.AllocsPerRun(100, func() { r.Encode(buf) }); n != 0 {
			t.Fatalf("Encode: %v allocs", n)
		}
		if n := testing.AllocsPerRun(100, func() {
			if Decode(buf, &out) != nil {
				panic("decode")
			}
		}); n != 0 {
			t.Fatalf("Decode: %v allocs", n)
		}
		if n := testing.AllocsPerRun(100, func() {
			if r.Validate() != nil {
				panic("validate")
			}
			_ = r.Landmark().Before(out.Landmark())
		}); n != 0 {
			t.Fatalf("Validate/Landmark: %v allocs", n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = checksum(buf) }); n != 0 {
		t.Fatalf("checksum: %v allocs", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	buf := make([]byte, RecordSize)
	r := samples[2]
	b.SetBytes(RecordSize)
	for b.Loop() {
		r.Encode(buf)
	}
}

func BenchmarkDecode(b *testing.B) {
	buf := encode(samples[2])
	var r Record
	b.SetBytes(RecordSize)
	for b.Loop() {
		if err := Decode(buf, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// The CRC32-instruction checksum equals hash/crc32's on every kind of
// record and on random bytes.
func TestChecksumInsnMatchesTable(t *testing.T) {
	if !haveCRC32Insn {
		t.Skip("no SSE4.2 on this CPU")
	}
	var b [RecordSize]byte
	seed := uint64(0x9E3779B97F4A7C15)
	for i := 0; i < 10000; i++ {
		for j := range b {
			seed ^= seed << 13
			seed ^= seed >> 7
			seed ^= seed << 17
			b[j] = byte(seed)
		}
		if got, want := checksumInsn(&b), checksumTable(b[:]); got != want {
			t.Fatalf("record %x: CRC32 instruction %#x, hash/crc32 %#x", b, got, want)
		}
	}
}
