package capture

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"hindsight/hv/replay"
)

// realisticPages returns n guest pages in the mix of a booted kernel's
// RAM: x86-64 code (this test binary's own bytes), kernel data structures
// (small integers and kernel pointers), page tables, console text,
// stacks (a used top, the rest zero), already compressed data (an
// initramfs) and zero pages.
func realisticPages(tb testing.TB, n int) [][PageSize]byte {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	code, err := os.ReadFile(exe)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	text := []byte("[    0.123456] pci 0000:00:1f.2: reg 0x24: [mem 0xfebf1000-0xfebf1fff]\nhv: primary| Kernel panic - not syncing: VFS: Unable to mount root fs\n")
	pages := make([][PageSize]byte, n)
	for i := range pages {
		p := &pages[i]
		switch k := i % 20; {
		case k < 6: // code
			off := (rng.IntN(len(code)-PageSize) + 0x1000) &^ 0xfff % (len(code) - PageSize)
			copy(p[:], code[off:])
		case k < 11: // kernel data
			for j := 0; j < PageSize; j += 8 {
				var v uint64
				switch rng.IntN(4) {
				case 0:
					v = 0xffff888000000000 | uint64(rng.IntN(1<<26))&^7
				case 1:
					v = uint64(rng.IntN(256))
				case 2:
					v = 0
				case 3:
					v = 0xffffffff81000000 | uint64(rng.IntN(1<<22))
				}
				le.PutUint64(p[j:], v)
			}
		case k == 11: // a page table
			base := uint64(rng.IntN(1<<16)) << 12
			for j := 0; j < 512; j++ {
				if rng.IntN(3) > 0 {
					le.PutUint64(p[j*8:], base+uint64(j)<<12|0x63)
				}
			}
		case k < 14: // console and file text
			for j := 0; j < PageSize; j += len(text) {
				copy(p[j:], text)
				p[j+4] = byte('0' + j%10)
			}
		case k < 17: // a stack: the top 600 bytes used
			for j := PageSize - 600; j < PageSize; j += 8 {
				le.PutUint64(p[j:], 0xffffc90000000000|uint64(rng.IntN(1<<20)))
			}
		case k < 19: // compressed data
			for j := 0; j < PageSize; j += 8 {
				le.PutUint64(p[j:], rng.Uint64())
			}
		default: // zero
		}
	}
	return pages
}

// realisticLog returns n encoded records as a timer-driven guest's log
// has them (a Linux kernel idling and panicking): every timer interrupt
// is an asynchronous stop, POSITION (the landmark: exits ascending by a
// few hundred, a branch count, a RIP from the handful an idle kernel
// sits at, its RCX and a register fingerprint that repeats when the
// registers do) then CLOCK at the same landmark (device time ascending,
// vector 0x20 requested and delivered); RDTSC exits between them (the
// TSC ascending); a DIGEST (three 64-bit hashes: incompressible) every
// 16 ticks, and a PROGRESS now and then.
func realisticLog(n int) []byte {
	rng := rand.New(rand.NewPCG(11, 11))
	rips := []uint64{0xffffffff81e3b5af, 0xffffffff81e3b5b0, 0xffffffff81079a12, 0xffffffff810f0c3e,
		0xffffffff81e3c9d4, 0xffffffff8104a2e0, 0xffffffff81e3b8f1, 0xffffffff81c02b40}
	fingerprints := make([]uint64, 24)
	for i := range fingerprints {
		fingerprints[i] = rng.Uint64()
	}
	b := make([]byte, 0, n*RecordSize)
	add := func(r replay.Record) {
		var e [RecordSize]byte
		r.Encode(e[:])
		b = append(b, e[:]...)
	}
	seq, tsc, ticks, ns := uint64(120000), uint64(0x2a5e_0000_0000), uint64(0), uint64(3_000_000_000)
	for tick := 0; len(b) < n*RecordSize; tick++ {
		for range rng.IntN(3) {
			seq += uint64(1 + rng.IntN(40))
			tsc += uint64(20000 + rng.IntN(50000))
			add(replay.Record{Kind: replay.KindRDTSC, Seq: seq, RIP: 0xffffffff8103c2a6, Value: tsc})
		}
		seq += uint64(50 + rng.IntN(400))
		ticks += 1193 // 1 kHz of PIT ticks
		k := rng.IntN(len(rips))
		lm := replay.Landmark{Seq: seq, Count: uint64(1 + rng.IntN(200000)), RIP: rips[k]}
		fp := fingerprints[k*3+rng.IntN(3)]
		if rng.IntN(4) == 0 {
			fp = rng.Uint64() // registers not seen before
		}
		add(replay.Record{Kind: replay.KindPosition, Seq: lm.Seq, Count: lm.Count, RIP: lm.RIP, Value: uint64(rng.IntN(64)), Value2: fp})
		add(replay.Record{Kind: replay.KindClock, Seq: lm.Seq, Count: lm.Count, RIP: lm.RIP, Value: ticks,
			Value2: replay.VectorCode(0x20), Value3: replay.VectorCode(0x20)})
		if tick%16 == 15 {
			add(replay.Record{Kind: replay.KindDigest, Seq: lm.Seq, Count: lm.Count, RIP: lm.RIP, Value: rng.Uint64(), Value2: rng.Uint64(), Value3: rng.Uint64()})
		}
		if tick%100 == 99 {
			ns += uint64(100_000_000 + rng.IntN(1_000_000))
			add(replay.Record{Kind: replay.KindProgress, Seq: lm.Seq, Count: lm.Count, RIP: lm.RIP, Value: ns})
		}
	}
	return b[:n*RecordSize]
}

// logCapture writes a capture of no memory and log, returning its stats.
func logCapture(tb testing.TB, log []byte) Stats {
	w := NewWriter(io.Discard, testHeader(1<<20, len(log)/RecordSize))
	must(tb, w.State(nil))
	must(tb, w.BeginMemory())
	must(tb, w.EndMemory())
	must(tb, w.Records(log))
	must(tb, w.Close())
	return w.Stats()
}

// TestLogCompression measures LOG compression on a realistic log the
// size of a Linux panic's (132,474 records, 8.48 MB raw).
func TestLogCompression(t *testing.T) {
	const n = 132474
	log := realisticLog(n)
	var r replay.Record
	kinds := map[replay.Kind]int{}
	for i := 0; i < len(log); i += RecordSize {
		if !replay.Check(log[i:i+RecordSize], &r) {
			t.Fatalf("record %d: %v", i/RecordSize, replay.Decode(log[i:i+RecordSize], &r))
		}
		kinds[r.Kind]++
	}
	s := logCapture(t, log)
	ratio := float64(s.LogRaw) / float64(s.LogStored)
	t.Logf("LOG compression: %d records (%d POSITION, %d CLOCK, %d RDTSC, %d DIGEST, %d PROGRESS), %d bytes -> %d bytes stored (ratio %.2f, %.1f bytes/record), %.0f s at 115200 baud (raw: %.0f s)",
		n, kinds[replay.KindPosition], kinds[replay.KindClock], kinds[replay.KindRDTSC], kinds[replay.KindDigest], kinds[replay.KindProgress],
		s.LogRaw, s.LogStored, ratio, float64(s.LogStored)/n, float64(s.LogStored)/11520, float64(s.LogRaw)/11520)
	if s.LogRaw != n*RecordSize || ratio < 3 {
		t.Errorf("LOG of %d bytes stored in %d (ratio %.2f), want a ratio of 3 or more", s.LogRaw, s.LogStored, ratio)
	}
	if s.Size >= s.LogRaw/3 {
		t.Errorf("capture of %d bytes for a %d-byte log", s.Size, s.LogRaw)
	}
	// A LOG of many chunks, read from a stream that goes on: ReadNext
	// stops at the capture's last byte and gives back every record.
	var out bytes.Buffer
	w := NewWriter(&out, testHeader(1<<20, n))
	must(t, w.State(nil))
	must(t, w.BeginMemory())
	must(t, w.EndMemory())
	must(t, w.Records(log))
	must(t, w.Close())
	out.WriteString("next")
	c, err := ReadNext(&out, nil)
	must(t, err)
	if !bytes.Equal(c.Log, log) || out.String() != "next" || c.Stats.LogStored != s.LogStored {
		t.Errorf("read back: %d records, %q left, stats %+v", c.NumRecords(), out.String(), c.Stats)
	}
}

// BenchmarkCompression writes 8 MiB of guest RAM in a realistic page mix
// and 20,000 realistic log records, and reports how well MEMORY and LOG
// compress and how long the capture takes on a 115200-baud line (11,520
// bytes/s).
func BenchmarkCompression(b *testing.B) {
	pages := realisticPages(b, 2048)
	log := realisticLog(20000)
	var s Stats
	b.SetBytes(int64(len(pages)*PageSize + len(log)))
	for b.Loop() {
		w := NewWriter(io.Discard, testHeader(uint64(len(pages))*PageSize, len(log)/RecordSize))
		w.State(make([]byte, 4096))
		w.BeginMemory()
		for i := range pages {
			if err := w.Page(uint64(i), &pages[i]); err != nil {
				b.Fatal(err)
			}
		}
		w.EndMemory()
		if err := w.Records(log); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		s = w.Stats()
	}
	ratio := float64(s.MemoryRaw) / float64(s.MemoryStored)
	logRatio := float64(s.LogRaw) / float64(s.LogStored)
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(logRatio, "log-ratio")
	b.ReportMetric(float64(s.MemoryStored)/float64(s.Pages), "stored-bytes/page")
	b.ReportMetric(float64(s.LogStored)/float64(s.Records), "stored-bytes/record")
	fmt.Printf("compression: %d pages (%d zero skipped), %d bytes -> %d bytes stored (ratio %.2f, %.0f bytes/page); "+
		"%d records, %d bytes -> %d bytes stored (ratio %.2f, %.1f bytes/record); %d bytes, %.0f s at 115200 baud\n",
		s.Pages, s.ZeroPages, s.MemoryRaw, s.MemoryStored, ratio, float64(s.MemoryStored)/float64(s.Pages),
		s.Records, s.LogRaw, s.LogStored, logRatio, float64(s.LogStored)/float64(s.Records), s.Size, float64(s.Size)/11520)
}
