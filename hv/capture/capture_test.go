package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"hindsight/hv/replay"
)

// testHeader is a header with every field set.
func testHeader(ram uint64, records int) *Header {
	return &Header{
		GuestRAM:    ram,
		Records:     uint64(records),
		FirstRecord: 1234,
		Clock:       ClockSlice,
		CPUID: []CPUIDLeaf{
			{Leaf: 0, EAX: 0x1f, EBX: 0x756e6547, ECX: 0x6c65746e, EDX: 0x49656e69},
			{Leaf: 1, EAX: 0x706e5, EBX: 0x800, ECX: 0x80802201, EDX: 0x0f8bfbff},
			{Leaf: 7, Subleaf: 0, EBX: 0x219c07ab},
			{Leaf: 0xd, Subleaf: 0},
			{Leaf: 0x80000000, EAX: 0x80000008},
			{Leaf: 0x80000001, ECX: 0x121, EDX: 0x2c100800},
			{Leaf: 0x80000007},
			{Leaf: 0x80000008, EAX: 0x3027},
		},
		Snap:         replay.Landmark{Seq: 1000, Count: 77, RIP: 0x100034},
		SnapTotal:    987654,
		CR0:          0x80000011,
		CR3:          0x9000,
		CR4:          0x20,
		EFER:         0x500,
		SnapDigests:  Digests{1, 2, 3},
		OutputHash:   0xfeedface,
		OutputBytes:  4242,
		FailCause:    replay.EndTripleFault,
		FailStatus:   0,
		FailAt:       replay.Landmark{Seq: 2000, Count: 5, RIP: 0x100100},
		FailText:     "triple fault at rip 0x100100",
		FinalDigests: Digests{4, 5, 6},
		ImageHash:    0x1122334455667788,
		CmdlineHash:  0x8877665544332211,
		KernelName:   "dbgtest.elf",
		BuildID:      "hindsight-test",
	}
}

// testRecords returns n valid records of every kind.
func testRecords(rng *rand.Rand, n int) []byte {
	b := make([]byte, n*RecordSize)
	seq := uint64(1000)
	for i := range n {
		seq += uint64(rng.IntN(5))
		r := replay.Record{Seq: seq, RIP: 0x100000 + uint64(rng.IntN(0x1000))}
		switch i % 7 {
		case 0:
			r.Kind, r.Value = replay.KindRDTSC, rng.Uint64()
		case 1:
			r.Kind, r.Count, r.Value, r.Value2 = replay.KindPosition, uint64(1+rng.IntN(1000)), rng.Uint64(), rng.Uint64()
		case 2:
			r.Kind, r.Value, r.Value2, r.Value3 = replay.KindClock, uint64(i*100), replay.VectorCode(0x20), replay.VectorCode(0x20)
		case 3:
			r.Kind, r.Value, r.Value2, r.Value3 = replay.KindSerialIn, uint64('a'+i%26), replay.NoVector, replay.NoVector
		case 4:
			r.Kind, r.Value, r.Value2, r.Value3 = replay.KindDigest, rng.Uint64(), rng.Uint64(), rng.Uint64()
		case 5:
			r.Kind, r.Value = replay.KindProgress, uint64(i)*1000
		case 6:
			r.Kind, r.Value, r.Value2 = replay.KindEnd, 3, uint64(replay.EndExitPort)
		}
		r.Encode(b[i*RecordSize:])
	}
	return b
}

type testCapture struct {
	data    []byte
	header  *Header
	state   []byte
	pages   map[uint64][PageSize]byte // the non-zero ones
	log     []byte
	stats   Stats
	regions []region
}

// region is a part of a capture: [start, end) belongs to section name.
type region struct {
	name       string
	start, end int
}

func (c *testCapture) sectionAt(off int) string {
	for _, r := range c.regions {
		if off >= r.start && off < r.end {
			return r.name
		}
	}
	return "?"
}

// makeCapture writes a capture of ram bytes of which every page in pfns
// is given: random, patterned or zero.
func makeCapture(t testing.TB, seed uint64, ram uint64, pfns []uint64, nrec int) *testCapture {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := &testCapture{header: testHeader(ram, nrec), pages: map[uint64][PageSize]byte{}}
	c.state = make([]byte, 200+rng.IntN(500))
	for i := range c.state {
		c.state[i] = byte(rng.Uint32())
	}
	c.log = testRecords(rng, nrec)
	var out bytes.Buffer
	w := NewWriter(&out, c.header)
	must(t, w.State(c.state))
	stateEnd := out.Len()
	must(t, w.BeginMemory())
	for i, pfn := range pfns {
		var p [PageSize]byte
		switch i % 3 {
		case 0: // random bytes
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
		case 1: // a pattern
			for j := range p {
				p[j] = byte(j / 64 * int(pfn))
			}
			p[0] = 1
		case 2: // zero: skipped
		}
		must(t, w.Page(pfn, &p))
		if i%3 != 2 {
			c.pages[pfn] = p
		}
	}
	must(t, w.EndMemory())
	memEnd := out.Len()
	half := nrec / 2 * RecordSize
	must(t, w.Records(c.log[:half]))
	must(t, w.Records(c.log[half:]))
	must(t, w.Close())
	c.data = out.Bytes()
	c.stats = w.Stats()
	end := len(c.data) - 48
	c.regions = []region{{"header", 0, HeaderSize}, {"STATE", HeaderSize, stateEnd}, {"MEMORY", stateEnd, memEnd},
		{"LOG", memEnd, end}, {"END", end, len(c.data)}}
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func smallCapture(t testing.TB) *testCapture {
	return makeCapture(t, 1, 1<<20, []uint64{0, 1, 2, 5, 9, 10, 11, 200, 255}, 40)
}

// readAll reads b with Read, collecting the pages.
func readAll(b []byte) (*Capture, map[uint64][PageSize]byte, error) {
	pages := map[uint64][PageSize]byte{}
	c, err := Read(bytes.NewReader(b), func(pfn uint64, p *[PageSize]byte) error {
		pages[pfn] = *p
		return nil
	})
	return c, pages, err
}

func TestRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 2))
		var pfns []uint64
		for pfn := uint64(0); pfn < 512; pfn++ {
			if rng.IntN(4) == 0 {
				pfns = append(pfns, pfn)
			}
		}
		tc := makeCapture(t, seed, 2<<20, pfns, 1+rng.IntN(300))
		c, pages, err := readAll(tc.data)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		want := *tc.header
		want.Version, want.StateBytes = Version, uint64(len(tc.state))
		if !reflect.DeepEqual(*c.Header, want) {
			t.Errorf("header:\n got %+v\nwant %+v", *c.Header, want)
		}
		if !bytes.Equal(c.State, tc.state) {
			t.Error("state differs")
		}
		if !bytes.Equal(c.Log, tc.log) {
			t.Error("log differs")
		}
		if !reflect.DeepEqual(pages, tc.pages) {
			t.Errorf("pages differ: got %d, want %d", len(pages), len(tc.pages))
		}
		if c.Stats.Pages != uint64(len(tc.pages)) || c.Stats.Size != uint64(len(tc.data)) ||
			c.Stats.MemoryStored != tc.stats.MemoryStored || tc.stats.Size != uint64(len(tc.data)) ||
			c.Stats.LogRaw != uint64(len(tc.log)) || tc.stats.LogRaw != uint64(len(tc.log)) ||
			c.Stats.LogStored != tc.stats.LogStored || c.Stats.MemoryRaw != tc.stats.MemoryRaw ||
			int(tc.stats.LogStored) != tc.regions[3].end-tc.regions[3].start-32 {
			t.Errorf("stats: read %+v, written %+v, %d bytes", c.Stats, tc.stats, len(tc.data))
		}
		for i := range c.NumRecords() {
			var r replay.Record
			must(t, replay.Decode(tc.log[i*RecordSize:], &r))
			if c.Record(i) != r {
				t.Fatalf("record %d: %v, want %v", i, c.Record(i), r)
			}
		}
	}
}

func TestEmptyCapture(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, testHeader(1<<20, 0))
	must(t, w.State(nil))
	must(t, w.BeginMemory())
	must(t, w.EndMemory())
	must(t, w.Close())
	c, err := Verify(bytes.NewReader(out.Bytes()))
	must(t, err)
	if c.Stats.Pages != 0 || c.NumRecords() != 0 || len(c.State) != 0 {
		t.Errorf("got %+v", c.Stats)
	}
}

func TestZeroPagesSkipped(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, testHeader(1<<20, 0))
	must(t, w.State([]byte{1}))
	must(t, w.BeginMemory())
	var zero, one [PageSize]byte
	one[100] = 7
	for pfn := uint64(0); pfn < 256; pfn++ {
		p := &zero
		if pfn == 3 || pfn == 250 {
			p = &one
		}
		must(t, w.Page(pfn, p))
	}
	must(t, w.EndMemory())
	must(t, w.Close())
	if s := w.Stats(); s.Pages != 2 || s.ZeroPages != 254 {
		t.Errorf("stats %+v, want 2 pages and 254 zero pages", s)
	}
	c, pages, err := readAll(out.Bytes())
	must(t, err)
	if len(pages) != 2 || pages[3] != one || pages[250] != one || c.Stats.Pages != 2 {
		t.Errorf("read %d pages: %v", len(pages), c.Stats)
	}
	// 256 pages, 254 of them zero, deflated: far less than a page.
	if out.Len() > 1024+4096 {
		t.Errorf("capture of 2 pages is %d bytes", out.Len())
	}
}

func TestHeaderLayout(t *testing.T) {
	h := testHeader(64<<20, 3)
	h.StateBytes = 99
	var b [HeaderSize]byte
	h.encode(b[:])
	checks := []struct {
		off  int
		size int
		want uint64
	}{
		{8, 2, Version}, {10, 2, HeaderSize}, {16, 8, 64 << 20}, {24, 8, 99}, {32, 8, 3}, {40, 8, 1234},
		{48, 1, ClockSlice}, {49, 1, 8}, {56, 8, 1000}, {64, 8, 77}, {72, 8, 0x100034}, {80, 8, 987654},
		{88, 8, 0x80000011}, {96, 8, 0x9000}, {104, 8, 0x20}, {112, 8, 0x500}, {120, 8, 1}, {136, 8, 3},
		{144, 8, 0xfeedface}, {152, 8, 4242}, {160, 4, uint64(replay.EndTripleFault)}, {168, 8, 2000},
		{176, 8, 5}, {184, 8, 0x100100}, {192, 8, 4}, {208, 8, 6}, {216, 8, 0x1122334455667788},
		{224, 8, 0x8877665544332211}, {456 + 24 + 8, 4, 0x706e5}, {456 + 7*24, 4, 0x80000008},
	}
	for _, c := range checks {
		var got uint64
		for i := c.size - 1; i >= 0; i-- {
			got = got<<8 | uint64(b[c.off+i])
		}
		if got != c.want {
			t.Errorf("offset %d: 0x%x, want 0x%x", c.off, got, c.want)
		}
	}
	if string(b[:8]) != Magic || string(b[232:243]) != "dbgtest.elf" || string(b[296:301]) != "tripl" || string(b[424:433]) != "hindsight" {
		t.Errorf("text fields misplaced")
	}
	if hReserved != 840 || crc(0, b[:1020]) != le.Uint32(b[1020:]) {
		t.Errorf("reserved at %d, CRC 0x%x", hReserved, le.Uint32(b[1020:]))
	}
	// Long text is cut to its field.
	h.FailText = strings.Repeat("x", 300)
	h.encode(b[:])
	d, err := decodeHeader(b[:])
	must(t, err)
	if len(d.FailText) != FailureTextSize {
		t.Errorf("failure text of %d bytes", len(d.FailText))
	}
}

// TestTruncation cuts a capture at every length short of whole: each is
// refused as truncated in the section the cut falls in.
func TestTruncation(t *testing.T) {
	tc := smallCapture(t)
	for _, r := range tc.regions {
		t.Logf("%-6s [%d, %d)", r.name, r.start, r.end)
	}
	for n := 0; n < len(tc.data); n++ {
		_, _, err := readAll(tc.data[:n])
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: %v, want truncated", n, err)
		}
		if want := tc.sectionAt(n); e.Section != want {
			t.Fatalf("cut at %d: %v, want it in the %s", n, err, want)
		}
		if !strings.Contains(err.Error(), "truncated in the") || !strings.Contains(err.Error(), "expected") {
			t.Fatalf("cut at %d: %q", n, err)
		}
	}
	// Named cases, for the messages.
	for _, c := range []struct {
		n    int
		want string
	}{
		{500, "truncated in the header at offset 0: expected 1024 bytes, got 500"},
		{HeaderSize + 20, "truncated in the STATE section at offset 1040: machine state: expected"},
		{tc.regions[2].start + 30, "truncated in the MEMORY section"},
		{tc.regions[3].start + 10, "truncated in the LOG section at offset " + fmt.Sprint(tc.regions[3].start) + ": section header: expected 16 bytes, got 10"},
		{tc.regions[3].start + 16 + 8 + 10, "truncated in the LOG section at offset " + fmt.Sprint(tc.regions[3].start+16+8) + ": chunk 0: expected "},
		{tc.regions[3].start + 16 + 8 + 10, ": expected " + fmt.Sprint(tc.stats.LogStored-16) + " bytes, got 10"},
		{len(tc.data) - 1, "truncated in the END section at offset " + fmt.Sprint(len(tc.data)-16) + ": section trailer: expected 16 bytes, got 15"},
	} {
		_, _, err := readAll(tc.data[:c.n])
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cut at %d: %v, want %q", c.n, err, c.want)
		}
	}
}

// TestFlippedBits flips one bit of every byte of a capture: each is
// refused, in the section of the flipped byte, never with a wrong result.
func TestFlippedBits(t *testing.T) {
	tc := smallCapture(t)
	b := bytes.Clone(tc.data)
	for i := range b {
		bit := byte(1) << (i % 8)
		b[i] ^= bit
		_, _, err := readAll(b)
		b[i] ^= bit
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("bit %d of byte %d: %v, want a refusal", i%8, i, err)
		}
		want := tc.sectionAt(i)
		if i < len(Magic) {
			want = ""
		}
		if e.Section != want {
			t.Fatalf("bit %d of byte %d (%s): refused in section %q: %v", i%8, i, tc.sectionAt(i), e.Section, err)
		}
	}
	flip := func(off int) error {
		b := bytes.Clone(tc.data)
		b[off] ^= 0x10
		_, _, err := readAll(b)
		return err
	}
	mem, logStart := tc.regions[2].start, tc.regions[3].start
	for _, c := range []struct {
		off  int
		kind error
		want string
	}{
		{0, ErrNotCapture, "not a hindsight capture"},
		{8, ErrCRC, "capture: header at offset 0: header CRC mismatch (stored"},
		{10, ErrMalformed, "header size 1040"},
		{500, ErrCRC, "header CRC mismatch"},
		{HeaderSize + 16 + 5, ErrCRC, "capture: STATE section at offset 1040: CRC mismatch over the"},
		{HeaderSize + 1, ErrMalformed, "expected the STATE section"},
		{HeaderSize + 9, ErrMalformed, "STATE section at offset 1032: section length"},
		{mem + 16 + 8 + 100, ErrCRC, fmt.Sprintf("capture: MEMORY section at offset %d: chunk 0 CRC mismatch", mem+16)},
		{logStart + 16 + 8 + 200, ErrCRC, fmt.Sprintf("capture: LOG section at offset %d: chunk 0 CRC mismatch (stored 0x", logStart+16)},
		{logStart + 16 + 5, ErrCRC, fmt.Sprintf("capture: LOG section at offset %d: chunk 0 CRC mismatch", logStart+16)},
		{logStart + 4, ErrMalformed, fmt.Sprintf("capture: LOG section at offset %d: section flags 0x11, want 0x1", logStart+4)},
		{len(tc.data) - 48 + 16 + 2, ErrCRC, "END section"},
	} {
		err := flip(c.off)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("flip at %d: %v, want %v: %q", c.off, err, c.kind, c.want)
		}
	}
}

// TestBadRecord: a malformed record inside intact chunks (a writer that
// did not check) is refused by its index.
func TestBadRecord(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, testHeader(1<<20, 10))
	must(t, w.State(nil))
	must(t, w.BeginMemory())
	must(t, w.EndMemory())
	log := testRecords(rand.New(rand.NewPCG(4, 4)), 10)
	must(t, w.Records(log[:7*RecordSize]))
	log[7*RecordSize+20] ^= 0x10
	must(t, w.deflate(log[7*RecordSize:])) // unchecked
	w.records += 3
	must(t, w.Close())
	_, _, err := readAll(out.Bytes())
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrBadRecord) || e.Index != 7 || e.Section != "LOG" ||
		!strings.Contains(err.Error(), ": record 7 (in chunk 0): replay: record: bad CRC") {
		t.Errorf("%v", err)
	}
}

// TestLogStreamLength: a LOG stream with fewer or more records than the
// header says is refused.
func TestLogStreamLength(t *testing.T) {
	for _, c := range []struct {
		header, written int
		want            string
	}{
		{10, 9, "the compressed records end after 9 of 10"},
		{10, 11, "data after the 10 records"},
	} {
		var out bytes.Buffer
		w := NewWriter(&out, testHeader(1<<20, c.written))
		must(t, w.State(nil))
		must(t, w.BeginMemory())
		must(t, w.EndMemory())
		must(t, w.Records(testRecords(rand.New(rand.NewPCG(5, 5)), c.written)))
		must(t, w.Close())
		b := out.Bytes()
		le.PutUint64(b[hRecords:], uint64(c.header))
		reseal(b)
		_, _, err := readAll(b)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "capture: LOG section at offset") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d records for %d: %v, want %q", c.written, c.header, err, c.want)
		}
	}
}

// reseal recomputes the header CRC and the END record of a capture
// edited on purpose.
func reseal(b []byte) {
	le.PutUint32(b[hCRC:], crc(0, b[:hCRC]))
	end := len(b) - 48
	le.PutUint32(b[end+16+8:], crc(0, b[:end]))
	le.PutUint32(b[end+32+12:], crc(0, b[end+16:end+32]))
}

func TestEndCRC(t *testing.T) {
	tc := smallCapture(t)
	b := bytes.Clone(tc.data)
	end := len(b) - 48
	le.PutUint32(b[end+16+8:], 0x12345678)
	le.PutUint32(b[end+32+12:], crc(0, b[end+16:end+32]))
	_, _, err := readAll(b)
	if !errors.Is(err, ErrCRC) || !strings.Contains(err.Error(), fmt.Sprintf("CRC mismatch over the %d bytes before END (stored 0x12345678", end)) {
		t.Errorf("%v", err)
	}
	reseal(b)
	if _, _, err := readAll(b); err != nil {
		t.Errorf("resealed: %v", err)
	}
}

func TestVersion(t *testing.T) {
	tc := smallCapture(t)
	b := bytes.Clone(tc.data)
	for _, v := range []uint16{1, 3} { // 1: a plain LOG section
		le.PutUint16(b[hVersion:], v)
		reseal(b)
		_, _, err := readAll(b)
		if want := fmt.Sprintf("capture: header at offset 8: format version %d, this hindsight reads version 2", v); !errors.Is(err, ErrVersion) || err.Error() != want {
			t.Errorf("%v, want %q", err, want)
		}
	}
	// A later version with a longer header: still named by its version.
	le.PutUint16(b[hSize:], 2000)
	_, _, err := readAll(b)
	if !errors.Is(err, ErrCRC) && !errors.Is(err, ErrVersion) {
		t.Errorf("%v", err)
	}
}

func TestNotCapture(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"hello world, this is a serial console log\r\n", `not a hindsight capture: starts with "hello wo"`},
		{"\x89HSC\n\x1a\n\x01\x00", "mangled in transit"},
		{"\x09HSC\r\n\x1a\n", "mangled in transit"},
	} {
		_, _, err := readAll([]byte(c.in))
		if !errors.Is(err, ErrNotCapture) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

func TestTrailingAndReadNext(t *testing.T) {
	tc := smallCapture(t)
	b := append(bytes.Clone(tc.data), "more"...)
	_, _, err := readAll(b)
	if !errors.Is(err, ErrTrailing) || !strings.Contains(err.Error(), fmt.Sprintf("at offset %d: 4 bytes after the end", len(tc.data))) {
		t.Errorf("%v", err)
	}
	// ReadNext stops at the end: two captures back to back.
	two := append(bytes.Clone(tc.data), tc.data...)
	r := bytes.NewReader(append(two, "tail"...))
	for i := range 2 {
		if _, err := ReadNext(r, nil); err != nil {
			t.Fatalf("capture %d: %v", i, err)
		}
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "tail" {
		t.Errorf("after two captures: %q", rest)
	}
}

func TestBadPages(t *testing.T) {
	// Written for 2 MiB of RAM, relabelled as 1 MiB: page 300 is outside.
	var out bytes.Buffer
	h := testHeader(2<<20, 0)
	w := NewWriter(&out, h)
	must(t, w.State(nil))
	must(t, w.BeginMemory())
	var p [PageSize]byte
	p[0] = 1
	must(t, w.Page(3, &p))
	must(t, w.Page(300, &p))
	must(t, w.EndMemory())
	must(t, w.Close())
	b := out.Bytes()
	le.PutUint64(b[hRAM:], 1<<20)
	reseal(b)
	_, _, err := readAll(b)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "page 1: frame 0x12c is outside guest RAM (256 pages)") {
		t.Errorf("%v", err)
	}
	// The page function's error stops the reading.
	_, err = Read(bytes.NewReader(smallCapture(t).data), func(pfn uint64, p *[PageSize]byte) error {
		if pfn == 5 {
			return errors.New("no room")
		}
		return nil
	})
	if err == nil || err.Error() != "capture: restoring page frame 0x5: no room" {
		t.Errorf("%v", err)
	}
}

func TestWriterRefuses(t *testing.T) {
	var p [PageSize]byte
	p[1] = 1
	var bad [RecordSize]byte
	bad[0] = 1 // kind RDTSC, bad CRC
	for _, c := range []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"page first", func(w *Writer) error { return w.Page(0, &p) }, "Page outside BeginMemory/EndMemory"},
		{"outside RAM", func(w *Writer) error {
			w.State(nil)
			w.BeginMemory()
			return w.Page(256, &p)
		}, "page frame 0x100 is outside guest RAM (1048576 bytes, 256 pages)"},
		{"descending", func(w *Writer) error {
			w.State(nil)
			w.BeginMemory()
			w.Page(5, &p)
			return w.Page(5, &p)
		}, "page frame 0x5 after 0x5"},
		{"bad record", func(w *Writer) error {
			w.State(nil)
			w.BeginMemory()
			w.EndMemory()
			w.Records(testRecords(rand.New(rand.NewPCG(1, 1)), 2))
			return w.Records(bad[:])
		}, "record 2: replay: record: bad CRC"},
		{"too few records", func(w *Writer) error {
			w.State(nil)
			w.BeginMemory()
			w.EndMemory()
			return w.Close()
		}, "0 records written, the header says 3"},
		{"too many records", func(w *Writer) error {
			w.State(nil)
			w.BeginMemory()
			w.EndMemory()
			return w.Records(testRecords(rand.New(rand.NewPCG(1, 1)), 4))
		}, "4 records, the header says 3"},
	} {
		w := NewWriter(io.Discard, testHeader(1<<20, 3))
		err := c.do(w)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err2 := w.Close(); err2 != err {
			t.Errorf("%s: the error is not sticky: %v", c.name, err2)
		}
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (f *failWriter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("line down")
	}
	f.n -= len(b)
	return len(b), nil
}

func TestWriterOutputError(t *testing.T) {
	w := NewWriter(&failWriter{n: 2000}, testHeader(1<<20, 0))
	must(t, w.State(nil))
	must(t, w.BeginMemory())
	var err error
	for pfn := uint64(0); pfn < 256 && err == nil; pfn++ {
		var p [PageSize]byte
		for i := range p {
			p[i] = byte(i * int(pfn+7) >> 3)
		}
		err = w.Page(pfn, &p)
	}
	if err == nil {
		err = w.EndMemory()
	}
	if err == nil || err.Error() != "line down" || w.Close() != err {
		t.Errorf("%v", err)
	}
}

// TestWriterStreams writes 32 MiB of pages: the writer holds a
// compression window and a chunk, never the capture.
func TestWriterStreams(t *testing.T) {
	const ram = 32 << 20
	w := NewWriter(io.Discard, testHeader(ram, 0))
	must(t, w.State(make([]byte, 100)))
	var p [PageSize]byte
	rng := rand.New(rand.NewPCG(3, 3))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	must(t, w.BeginMemory())
	for pfn := uint64(0); pfn < ram/PageSize; pfn++ {
		for i := 0; i < PageSize; i += 8 {
			le.PutUint64(p[i:], rng.Uint64())
		}
		must(t, w.Page(pfn, &p))
	}
	must(t, w.EndMemory())
	must(t, w.Close())
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("writing %d MiB allocated %d bytes", ram>>20, alloc)
	}
	if s := w.Stats(); s.Pages != ram/PageSize || s.MemoryStored < ram {
		t.Errorf("stats %+v", s)
	}
}

func TestCheckCompat(t *testing.T) {
	h := testHeader(64<<20, 0)
	same := append([]CPUIDLeaf(nil), h.CPUID...)
	same = append(same, CPUIDLeaf{Leaf: 0x40000000, EAX: 1})
	if err := CheckCompat(h, 64<<20, same); err != nil {
		t.Errorf("same machine: %v", err)
	}
	err := CheckCompat(h, 128<<20, same)
	if !errors.Is(err, ErrIncompatible) || err.Error() != "capture: the capture was made for 64 MiB of guest RAM (67108864 bytes), this guest has 128 MiB (134217728 bytes)" {
		t.Errorf("%v", err)
	}
	other := append([]CPUIDLeaf(nil), same...)
	other[1].ECX ^= 1<<5 | 1<<26
	err = CheckCompat(h, 64<<20, other)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(),
		"another CPU feature set: CPUID leaf 0x1 subleaf 0 ECX is 0x80802201 in the capture, 0x84802221 here (bits 0x04000020 differ: bit 5, bit 26)") {
		t.Errorf("%v", err)
	}
	err = CheckCompat(h, 64<<20, same[:3])
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "CPUID leaf 0xd subleaf 0: the capture has it, this machine's table does not") {
		t.Errorf("%v", err)
	}
}

func FuzzRead(f *testing.F) {
	tc := smallCapture(f)
	f.Add(tc.data, false)
	f.Add(tc.data[:2000], true)
	f.Add(tc.data[:HeaderSize+40], true)
	f.Add([]byte(Magic), false)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix && len(b) >= HeaderSize {
			// Past the header CRC, to reach the field checks (on a copy:
			// a fuzz function must not change its input).
			b = bytes.Clone(b)
			le.PutUint32(b[hCRC:], crc(0, b[:hCRC]))
		}
		c, err := Read(bytes.NewReader(b), func(pfn uint64, p *[PageSize]byte) error { return nil })
		if err == nil {
			if c.Stats.Size != uint64(len(b)) || c.NumRecords() != int(c.Header.Records) {
				t.Fatalf("accepted with stats %+v", c.Stats)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("not an *Error: %v", err)
		}
	})
}
