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
	{Kind: KindRDTSC, Seq: ^uint64(0), RIP: ^uint64(0), Value: ^uint64(0)},
	{Kind: KindClock, Seq: 1234, RIP: 0x100034, Value: 0x5c, Value2: NoVector, Value3: NoVector},
	{Kind: KindClock, Seq: 2, RIP: 3, Count: 5, Value: ^uint64(0), Value2: VectorCode(0x20), Value3: VectorCode(0x20)},
	{Kind: KindClock, Seq: 2, RIP: 3, Value: 7},
	{Kind: KindSerialIn, Seq: 12, RIP: 0x1000, Value: 'A', Value2: 0x2ff, Value3: 0x2ff},
	{Kind: KindSerialIn, Seq: 12, RIP: 0x1000, Count: ^uint64(0), Value: 'A', Value2: VectorCode(0x24), Value3: NoVector},
	{Kind: KindSerialIn, Seq: 13, RIP: 0x1000, Value: 0xff},
	{Kind: KindDigest, Seq: 14, RIP: 0x2000, Value: 0x1111111111111111, Value2: 0x2222222222222222, Value3: ^uint64(0)},
	{Kind: KindDigest}, // an initial digest before any exit
	{Kind: KindProgress, Seq: 15, RIP: 0x3000, Count: 10, Value: 1_700_000_000_000_000_000},
	{Kind: KindEnd, Seq: 16, RIP: 0x4000, Value: 0, Value2: uint64(EndExitPort)},
	{Kind: KindEnd, Seq: 17, RIP: 0x4000, Count: 3, Value: ^uint64(0), Value2: uint64(EndStopped)},
	{Kind: KindPosition, Seq: 18, RIP: 0x5000, Count: 1, Value: 0x10, Value2: ^uint64(0)},
	{Kind: KindPosition, Seq: 0, RIP: 0, Count: ^uint64(0)},
	{Kind: KindEnd, Seq: 19, RIP: 0x6000, Value: 0, Value2: uint64(EndPanic)},
	{Kind: KindFinal, Seq: 19, RIP: 0x6000, Value: 0, Value2: 1, Value3: ^uint64(0)},
	{Kind: KindFinal, Seq: 19, RIP: 0x6000, Count: 7, Value: FinalRecords - 1},
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
		Count: 0x2827262524232221, Value: 0x3837363534333231,
		Value2: 0x4847464544434241, Value3: 0x5857565554535251}
	want := make([]byte, 64)
	want[0] = byte(KindDigest)
	for i := 8; i < 56; i++ {
		want[i] = byte((i/8-1)<<4 | (i%8 + 1))
	}
	fixCRC(want)
	if got := encode(r); !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %x\nwant %x", got, want)
	}
}

// TestTestVector checks the vector of the package documentation's
// convention: a CLOCK record at a synchronous exit.
func TestTestVector(t *testing.T) {
	r := samples[2]
	want, _ := hex.DecodeString("0200000093eb76d5d204000000000000" +
		"34001000000000000000000000000000" +
		"5c000000000000000001000000000000" +
		"00010000000000000000000000000000")
	if got := encode(r); !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %x\nwant %x", got, want)
	}
	if c := refCRC32C(want[:4], want[8:]); c != 0xd576eb93 {
		t.Fatalf("reference CRC %#x", c)
	}
	if s := r.String(); s != "#1234 rip=0x100034 CLOCK time=92 requested=none delivered=none" {
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
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) || de.Field != "CRC" {
				t.Fatalf("%v: flip of bit %d: %v", r, bit, err)
			}
			if out != (Record{Seq: 42}) {
				t.Fatalf("flip of bit %d: Decode changed the record on error", bit)
			}
		}
	}
}

// TestBitFlipsWithFixedCRC flips each bit and then repairs the CRC, as a
// writer with a bug would: the field checks must catch every flip that
// breaks a field rule, and any flip they accept must decode to a
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
			reserved := bit/8 >= 56 || bit/8 >= 1 && bit/8 < 4
			if reserved && err == nil {
				t.Fatalf("%v: flip of reserved bit %d (CRC fixed) accepted as %v", r, bit, out)
			}
			if err == nil {
				if out == r {
					t.Fatalf("%v: flip of bit %d decoded to the same record", r, bit)
				}
				if !bytes.Equal(encode(out), c) {
					t.Fatalf("%v: flip of bit %d: re-encoding differs", r, bit)
				}
				if out.Validate() != nil {
					t.Fatalf("%v: flip of bit %d accepted an invalid record", r, bit)
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
		if !strings.Contains(err.Error(), "short record") {
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
		for bit := 0; bit < 64+24; bit++ {
			b := encode(r)
			if bit < 64 {
				binary.LittleEndian.PutUint64(b[56:], 1<<bit)
			} else {
				b[1+(bit-64)/8] = 1 << (bit % 8)
			}
			fixCRC(b)
			var out Record
			err := Decode(b, &out)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != "Reserved" || de.Kind != r.Kind {
				t.Fatalf("%v: reserved bit %d: %v", r, bit, err)
			}
			if bit < 64 && de.Got != 1<<bit {
				t.Fatalf("%v: reserved bit %d: got %#x", r, bit, de.Got)
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
		{with(func(r *Record) { r.Kind = 9 }), "Kind", 9, "replay: record: unknown kind 9"},
		{with(func(r *Record) { r.Kind = 255 }), "Kind", 255, "replay: record: unknown kind 255"},
		{with(func(r *Record) { r.Kind = KindRDTSC; r.Count = 5 }), "Count", 5, "replay: record: RDTSC: count 5, must be 0 (only at a synchronous exit)"},
		{with(func(r *Record) { r.Kind = KindPosition }), "Count", 0, "replay: record: POSITION: count 0, an asynchronous stop lies after the exit (count >= 1)"},
		{with(func(r *Record) { r.Kind = KindSerialIn; r.Value = 256 }), "Value", 256, "replay: record: SERIALIN: byte 0x100, must be <= 0xff"},
		{with(func(r *Record) { r.Kind = KindRDTSC; r.Value2 = 1 }), "Value2", 1, "replay: record: RDTSC: Value2 0x1, must be 0 unless CLOCK, SERIALIN, DIGEST, END, POSITION or FINAL"},
		{with(func(r *Record) { r.Kind = KindProgress; r.Value2 = 1 }), "Value2", 1, "PROGRESS: Value2 0x1"},
		{with(func(r *Record) { r.Kind = KindEnd }), "Value2", 0, "replay: record: END: end cause 0, must be 1-7"},
		{with(func(r *Record) { r.Kind = KindEnd; r.Value2 = 0x101 }), "Value2", 0x101, "END: end cause 257, must be 1-7"},
		{with(func(r *Record) { r.Kind = KindEnd; r.Value2 = 1; r.Value3 = 7 }), "Value3", 7, "replay: record: END: Value3 0x7, must be 0 unless CLOCK, SERIALIN, DIGEST or FINAL"},
		{with(func(r *Record) { r.Kind = KindFinal; r.Value = FinalRecords }), "Value", FinalRecords, "replay: record: FINAL: index 14, must be < 14"},
		{with(func(r *Record) { r.Kind = KindPosition; r.Count = 1; r.Value3 = 1 }), "Value3", 1, "POSITION: Value3 0x1"},
		{with(func(r *Record) { r.Kind = KindClock; r.Value2 = 0x20 }), "Value2", 0x20, "replay: record: CLOCK: requested interrupt 0x20, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector"},
		{with(func(r *Record) { r.Kind = KindClock; r.Value2 = 0x220; r.Value3 = 0x320 }), "Value3", 0x320, "replay: record: CLOCK: delivered interrupt 0x320, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector"},
		{with(func(r *Record) { r.Kind = KindSerialIn; r.Value2 = 0x100; r.Value3 = 1 << 63 }), "Value3", 1 << 63, "SERIALIN: delivered interrupt 0x8000000000000000"},
		{with(func(r *Record) { r.Kind = KindClock; r.Value2 = 0x220 }), "Value3", 0, "replay: record: CLOCK: delivered interrupt 0x0 with requested 0x220: both or neither must be 0 (unrecorded)"},
		{with(func(r *Record) { r.Kind = KindSerialIn; r.Value3 = 0x100 }), "Value3", 0x100, "SERIALIN: delivered interrupt 0x100 with requested 0x0"},
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
	if want := "replay: record: bad CRC (stored 0xd576eb92, computed 0xd576eb93)"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Got != 0xd576eb92 || de.Want != 0xd576eb93 || de.Kind != KindClock {
		t.Fatalf("%#v", de)
	}
}

func TestKindString(t *testing.T) {
	want := []string{"Kind(0)", "RDTSC", "CLOCK", "SERIALIN", "DIGEST", "PROGRESS", "END", "POSITION", "FINAL", "Kind(9)"}
	for k, w := range want {
		if got := Kind(k).String(); got != w {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, w)
		}
		if Kind(k).Valid() != (k >= 1 && k <= 8) {
			t.Errorf("Kind(%d).Valid() wrong", k)
		}
	}
	if got := EndCause(9).String(); got != "EndCause(9)" {
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
	for _, s := range []string{"", "Kind(1)", "irq", "1"} {
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
		{Record{Kind: KindClock, Seq: 5, Count: 35, RIP: 0x10, Value: 1193, Value2: VectorCode(0x20), Value3: VectorCode(0x20)}, "#5+35 rip=0x10 CLOCK time=1193 requested=vector 0x20 delivered=vector 0x20"},
		{Record{Kind: KindSerialIn, Seq: 6, RIP: 0x10, Value: 'A', Value2: VectorCode(0x24), Value3: NoVector}, "#6 rip=0x10 SERIALIN byte=0x41 'A' requested=vector 0x24 delivered=none"},
		{Record{Kind: KindSerialIn, Seq: 6, RIP: 0x10, Value: '\n'}, `#6 rip=0x10 SERIALIN byte=0xa '\n'`},
		{Record{Kind: KindClock, Seq: 5, RIP: 0x10, Value: 1, Value2: 0x20}, "#5 rip=0x10 CLOCK time=1 requested=code 0x20 delivered=unrecorded"},
		{Record{Kind: KindDigest, Seq: 7, RIP: 0x10, Value: 1, Value2: 0xab, Value3: 0xcd}, "#7 rip=0x10 DIGEST cpu=0x1 ram=0xab devices=0xcd"},
		{Record{Kind: KindProgress, Seq: 8, RIP: 0x10, Value: 1500}, "#8 rip=0x10 PROGRESS host=1500ns"},
		{Record{Kind: KindEnd, Seq: 9, RIP: 0x10, Value: 3, Value2: uint64(EndExitPort)}, "#9 rip=0x10 END cause=exit port status=3"},
		{Record{Kind: KindPosition, Seq: 9, Count: 100, RIP: 0x10, Value: 3, Value2: 0xfe}, "#9+100 rip=0x10 POSITION rcx=0x3 regs=0xfe"},
		{Record{Kind: KindEnd, Seq: 9, RIP: 0x10, Value2: uint64(EndPanic)}, "#9 rip=0x10 END cause=kernel panic status=0"},
		{Record{Kind: KindFinal, Seq: 9, RIP: 0x10, Value: 8, Value2: 0x1000, Value3: 0x202}, "#9 rip=0x10 FINAL rip=0x1000 rflags=0x202"},
		{Record{Kind: 9, Seq: 1, Value: 2, Value3: 5}, "#1 rip=0x0 Kind(9) value=0x2 value2=0x0 value3=0x5"},
	}
	for _, c := range cases {
		if got := c.r.String(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

func TestLandmark(t *testing.T) {
	r := Record{Kind: KindClock, Seq: 10, RIP: 0x20, Count: 30}
	l := r.Landmark()
	if l != (Landmark{Seq: 10, RIP: 0x20, Count: 30}) {
		t.Fatalf("Landmark() = %+v", l)
	}
	if got := l.String(); got != "#10+30 rip=0x20" {
		t.Fatalf("String() = %q", got)
	}
	if got := (Landmark{Seq: 3, RIP: 0xfff0}).String(); got != "#3 rip=0xfff0" {
		t.Fatalf("String() = %q", got)
	}
	order := []Landmark{{Seq: 1, RIP: 99}, {Seq: 1, Count: 5}, {Seq: 1, Count: 10}, {Seq: 2}}
	for i := range order {
		for j := range order {
			if order[i].Before(order[j]) != (i < j) {
				t.Errorf("%v before %v: %v", order[i], order[j], order[i].Before(order[j]))
			}
		}
	}
	// Same Seq and Count: the same point, whatever RIP says.
	if (Landmark{Seq: 1, RIP: 5}).Before(Landmark{Seq: 1, RIP: 6}) {
		t.Fatal("Before must not order by RIP")
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
			if Decode(buf, &out) != nil || !Check(buf, &out) {
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
		if got, want := checksumInsn(&b), checksumTable(&b); got != want {
			t.Fatalf("record %x: CRC32 instruction %#x, hash/crc32 %#x", b, got, want)
		}
	}
}

// Which ends are failures: the ones a debugger wants to walk into.
func TestEndCauseFailure(t *testing.T) {
	for _, c := range []struct {
		cause  EndCause
		status uint64
		want   bool
	}{
		{EndExitPort, 0, false}, {EndExitPort, 1, true}, {EndExitPort, 1 << 32, true},
		{EndTripleFault, 0, true}, {EndHalted, 0, false}, {EndUnhandled, 0, true},
		{EndEntryFailed, 0, true}, {EndStopped, 0, false}, {EndPanic, 0, true}, {0, 0, false},
	} {
		if got := c.cause.Failure(c.status); got != c.want {
			t.Errorf("%v status %d: Failure %v, want %v", c.cause, c.status, got, c.want)
		}
	}
}

// A FinalState survives its records, in any order, and names its words.
func TestFinalState(t *testing.T) {
	var s FinalState
	for i := range s {
		s[i] = uint64(i)*0x1111 + 1
	}
	at := Landmark{Seq: 40, Count: 0, RIP: s[FinalRIP]}
	var got FinalState
	for i := FinalRecords - 1; i >= 0; i-- {
		r := s.Record(i, at)
		if err := r.Validate(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		var back Record
		if err := Decode(encode(r), &back); err != nil || back != r {
			t.Fatalf("record %d: round trip %+v %v", i, back, err)
		}
		if !got.Apply(&back) {
			t.Fatalf("record %d not applied", i)
		}
	}
	if got != s {
		t.Fatalf("got %v, want %v", got, s)
	}
	if b := got.Before(); b != (Landmark{Seq: s[FinalBeforeSeq], Count: s[FinalBeforeCount], RIP: s[FinalRIP]}) {
		t.Errorf("Before %v", b)
	}
	if got.Apply(&Record{Kind: KindEnd}) {
		t.Error("an END record applied as FINAL")
	}
	if FinalName(FinalRFLAGS) != "rflags" || FinalName(FinalTotal) != "total" || FinalName(99) != "word(99)" {
		t.Error("FinalName")
	}
}
