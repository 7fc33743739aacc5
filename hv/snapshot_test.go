package hv

import (
	"bytes"
	"math/rand"
	"testing"
)

// snapWorld drives a snapStore's RAM side as a backup would: the guest
// writes pages (marked dirty, as the EPT dirty flags and memDigest do),
// snapshots are taken, and any kept snapshot must restore exactly the
// RAM it was taken of, however the store thinned itself meanwhile.
type snapWorld struct {
	t    *testing.T
	rnd  *rand.Rand
	s    *snapStore
	refs map[uint64][]byte // RAM at each snapshot, by its tsc (here: its number)
	tick uint64
}

func newSnapWorld(t *testing.T, pages, slots int) *snapWorld {
	ram := make([]byte, pages*pageSize)
	s, err := newSnapStore(ram, make([]byte, len(ram)), make([]byte, slots*pageSize), 1)
	if err != nil {
		t.Fatal(err)
	}
	w := &snapWorld{t: t, rnd: rand.New(rand.NewSource(1)), s: s, refs: map[uint64][]byte{}}
	w.rnd.Read(ram)
	return w
}

// write changes n random pages (some rewritten with what they held).
func (w *snapWorld) write(n int) {
	pages := len(w.s.ram) / pageSize
	for i := 0; i < n; i++ {
		pfn := uint32(w.rnd.Intn(pages))
		p := w.s.page(w.s.ram, pfn)
		if w.rnd.Intn(8) != 0 {
			p[w.rnd.Intn(pageSize)] ^= byte(1 + w.rnd.Intn(255))
		}
		w.s.dirty[pfn/64] |= 1 << (pfn % 64)
	}
}

func (w *snapWorld) take() {
	w.tick++
	w.s.takeRAM()
	w.s.list[w.s.n-1].tsc = w.tick
	w.refs[w.tick] = bytes.Clone(w.s.ram)
}

// check restores snapshot j and compares RAM with what it was.
func (w *snapWorld) check(j int) {
	w.t.Helper()
	id := w.s.list[j].tsc
	w.s.restoreRAM(j)
	if !bytes.Equal(w.s.ram, w.refs[id]) {
		w.t.Fatalf("snapshot %d of %d (taken %d): RAM differs after the restore", j, w.s.n, id)
	}
	at := w.s.pagesAt(j)
	for pfn, slot := range at {
		src := w.s.page(w.s.shadow, uint32(pfn))
		if slot >= 0 {
			src = w.s.page(w.s.pool, uint32(slot))
		}
		if !bytes.Equal(src, w.refs[id][pfn*pageSize:(pfn+1)*pageSize]) {
			w.t.Fatalf("snapshot %d: pagesAt gives the wrong page %d", j, pfn)
		}
	}
}

func TestSnapshotsRestoreWhatTheyTook(t *testing.T) {
	w := newSnapWorld(t, 256, 600)
	for round := 0; round < 200; round++ {
		w.write(1 + w.rnd.Intn(40))
		w.take()
		if round%7 == 0 {
			// Back to two kept snapshots and to the newest again, as a
			// reverse step does, then on.
			w.check(w.rnd.Intn(w.s.n))
			w.check(w.rnd.Intn(w.s.n))
			w.check(w.s.n - 1)
			w.write(w.rnd.Intn(10)) // the guest runs on from the newest
		}
	}
	if w.s.stats.Thinned == 0 {
		t.Fatal("the store never thinned: the test did not reach the case it is for")
	}
	for j := 0; j < w.s.n; j++ {
		w.check(j)
	}
	if w.s.nfree+w.s.entLen != len(w.s.free) {
		t.Fatalf("pool slots leaked: %d free + %d in use of %d", w.s.nfree, w.s.entLen, len(w.s.free))
	}
}

// Thinning keeps snapshots denser near the present than far back.
func TestSnapshotsThinOutFurtherBack(t *testing.T) {
	w := newSnapWorld(t, 64, 4096)
	for i := 0; i < 200; i++ {
		w.write(2)
		w.take()
	}
	if w.s.n != maxSnapshots {
		t.Fatalf("%d snapshots kept, want %d", w.s.n, maxSnapshots)
	}
	l := w.s.list[:w.s.n]
	old, recent := l[1].tsc-l[0].tsc, l[w.s.n-1].tsc-l[w.s.n-2].tsc
	if old <= recent {
		t.Fatalf("the oldest snapshots are %d apart, the newest %d: not sparser further back", old, recent)
	}
	t.Logf("kept: oldest gap %d, newest gap %d, span %d of %d", old, recent, l[w.s.n-1].tsc-l[0].tsc, w.tick)
}

// An interval that writes more pages than the pool holds starts over
// from a full copy rather than lose a page.
func TestSnapshotsPoolOverflowStartsOver(t *testing.T) {
	w := newSnapWorld(t, 128, 16)
	w.write(5)
	w.take()
	w.write(5)
	w.take()
	for pfn := uint32(0); pfn < 128; pfn++ { // every page
		w.s.page(w.s.ram, pfn)[0]++
		w.s.dirty[pfn/64] |= 1 << (pfn % 64)
	}
	w.take()
	if w.s.n != 1 || w.s.stats.Full != 2 {
		t.Fatalf("after the overflow: %d snapshots, %d full copies; want 1 and 2", w.s.n, w.s.stats.Full)
	}
	w.write(3)
	w.check(0)
}

// With room for about two intervals' pages the store keeps dropping its
// oldest snapshot, and the rest still restore exactly.
func TestSnapshotsDropTheOldest(t *testing.T) {
	w := newSnapWorld(t, 256, 60)
	for round := 0; round < 60; round++ {
		w.write(25)
		w.take()
		w.check(w.rnd.Intn(w.s.n))
		w.check(w.s.n - 1)
	}
	if w.s.stats.Dropped == 0 {
		t.Fatal("the store never dropped its oldest snapshot: the test did not reach the case it is for")
	}
	for j := 0; j < w.s.n; j++ {
		w.check(j)
	}
}
