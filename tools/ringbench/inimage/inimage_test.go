package inimage

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"hindsight/boot"
	"hindsight/ringbuf"
)

// TestRunOnHost runs the whole measurement on the host with heap regions
// and threads locked but not pinned, with a tiny plan: the report must be
// complete and the per-record transfer must see every record in order.
func TestRunOnHost(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("boot.TSC is RDTSC")
	}
	var keep [][]byte
	e := env{
		pin:   func(int) error { runtime.LockOSThread(); return nil },
		unpin: runtime.UnlockOSThread,
		alloc: func(n int) (unsafe.Pointer, uint64, error) {
			b := ringbuf.AlignedRegion(n)
			keep = append(keep, b)
			return unsafe.Pointer(&b[0]), uint64(uintptr(unsafe.Pointer(&b[0]))), nil
		},
		tsc: boot.TSC, // RDTSC, allowed at CPL3 too
	}
	pl := plan{label: "host test", trials: 1, perRecord: 5000, batched: 20000, tries: 1, latBlocks: 3, latPer: 50,
		memLarge: 1 << 20, memReps: 1, memSmall: 64 << 10, memSReps: 2, memTries: 1}
	var out strings.Builder
	if err := run(&out, "host", pl, e); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	t.Log("\n" + s)
	for _, want := range []string{"write  paper", "406", "1217", "read   ReadBatch", "memcpy on CPU0", "per record: TryWrite", "batched: WriteBatch", "one-way latency", Done} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	runtime.KeepAlive(keep)
}

func TestPlans(t *testing.T) {
	for _, p := range []string{"bochs", "qemu-tcg", ""} {
		pl := planFor(p)
		if pl.trials < 1 || pl.tries < 1 || pl.latBlocks < 1 || pl.perRecord < 1 || pl.batched < 1 {
			t.Errorf("%q: empty plan %+v", p, pl)
		}
		if (p != "") != pl.emulated || (p == "bochs") != strings.Contains(pl.label, "cycles are instructions") {
			t.Errorf("%q: label %q emulated %v", p, pl.label, pl.emulated)
		}
	}
}
