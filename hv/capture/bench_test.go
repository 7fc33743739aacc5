package capture

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
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

// BenchmarkCompression writes 8 MiB of guest RAM in a realistic page mix
// and reports how well MEMORY compresses and how long the capture takes
// on a 115200-baud line (11,520 bytes/s).
func BenchmarkCompression(b *testing.B) {
	pages := realisticPages(b, 2048)
	var s Stats
	b.SetBytes(int64(len(pages) * PageSize))
	for b.Loop() {
		w := NewWriter(io.Discard, testHeader(uint64(len(pages))*PageSize, 0))
		w.State(make([]byte, 4096))
		w.BeginMemory()
		for i := range pages {
			if err := w.Page(uint64(i), &pages[i]); err != nil {
				b.Fatal(err)
			}
		}
		w.EndMemory()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		s = w.Stats()
	}
	ratio := float64(s.MemoryRaw) / float64(s.MemoryStored)
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(s.MemoryStored)/float64(s.Pages), "stored-bytes/page")
	fmt.Printf("compression: %d pages (%d zero skipped), %d bytes -> %d bytes stored (ratio %.2f, %.0f bytes/page), %.0f s at 115200 baud\n",
		s.Pages, s.ZeroPages, s.MemoryRaw, s.MemoryStored, ratio, float64(s.MemoryStored)/float64(s.Pages), float64(s.Size)/11520)
}
