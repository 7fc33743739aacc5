package hv

import (
	"fmt"
	"math/bits"
	"unsafe"

	"hindsight/boot"
	"hindsight/hv/dev"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// Snapshots of the backup: what makes its one forward pass through a
// failure repeatable. Every so often, at a boundary of its vCPU loop (an
// exit handled, nothing armed), the backup saves its whole state: the
// vCPU (registers, FPU/SSE, the VMCS guest state, the swapped MSRs), the
// devices, its output so far, its place in the log; and guest RAM, by
// what changed since the last snapshot.
//
// # Guest RAM: a shadow and undo pages
//
// The store keeps a shadow copy of RAM as it was at the newest snapshot,
// and for each snapshot k > 0 the undo pages that take RAM from snapshot
// k back to snapshot k-1: the shadow's old content of every page the
// guest wrote between the two. EPT dirty flags (memDigest) say which
// pages those are, so a snapshot costs two page copies per page written
// since the last one, not a copy of RAM. Restoring snapshot j puts the
// shadow back over the pages written since the newest snapshot, then
// applies the undo pages of snapshots newest..j+1: it costs the pages
// written since j. The invariant: RAM differs from the shadow only on
// pages marked in dirty (or whose EPT dirty flag is set).
//
// Snapshots after a restored one stay valid: replay is deterministic, so
// the backup passes them again in the same state. New ones are taken
// only beyond the newest. When the undo pool or the list is full, the
// store thins out: it merges a snapshot into its successor where they
// stand closest together in the older half, so that they lie more
// sparsely further back, as rr spaces its checkpoints.

// snapExtra is the VMCS state a snapshot saves beyond the architectural
// guest state the digest covers (digestFields): what the next entry will
// do with it (an event to inject, PAE's PDPTEs). Not the pending debug
// exceptions: Bochs 2.7 leaves stale ones after exits (see digestFields),
// and one restored would raise a #DB the replay never had; a restore
// clears them.
var snapExtra = [...]vmx.Field{
	vmx.GuestPDPTE0, vmx.GuestPDPTE1, vmx.GuestPDPTE2, vmx.GuestPDPTE3,
	vmx.EntryInterruptionInfo, vmx.EntryExceptionErrorCode, vmx.EntryInstructionLength,
}

// snapFieldCount is how many VMCS fields a snapshot holds: digestFields,
// then snapExtra.
const snapFieldCount = len(digestFields) + len(snapExtra)

// snapField returns the i-th of them.
func snapField(i int) vmx.Field {
	if i < len(digestFields) {
		return digestFields[i]
	}
	return snapExtra[i-len(digestFields)]
}

// vcpuState is everything of a replica but RAM that a snapshot restores.
// Plain values only: it is copied in the vCPU loop, where no write
// barrier may run, and its bytes go into capture files.
type vcpuState struct {
	gprs [16]uint64 // RAX..R15 as vmx.GuestRegs lays them out, and CR2
	fx   [512]byte
	vmcs [snapFieldCount]uint64
	msrs [len(swapped)]uint64
	devs dev.State

	// The VM's own.
	seq, count, total, before     uint64
	exitRIP, exitLen              uint64 // the last exit's RIP and instruction length: the landmark's RIP
	pollSeq, devicesChanged       uint64
	outBytes, outHash             uint64
	lastSync, irqWindow, injected bool
	inputsQuiet                   bool
	outN                          uint16
	outBuf                        [256]byte

	// The counters of the path replayed, so that a stretch replayed again
	// counts once (the verdict compares digests matched with logged).
	records, digests, stops uint64

	// The replayer's: the log position of the next record, and what it
	// knows of the primary's end.
	logPos uint64
	primed bool
	nfinal uint32
	final  replay.FinalState
}

// save fills s from the VM (vCPU thread, VMCS current).
func (s *vcpuState) save(v *VM) {
	s.gprs = *(*[16]uint64)(unsafe.Pointer(&v.regs.RAX))
	s.fx = *(*[512]byte)(unsafe.Pointer(v.regs.GuestFX))
	for i := range s.vmcs {
		s.vmcs[i], _ = vmx.VMREAD(snapField(i))
	}
	for i := range s.msrs {
		s.msrs[i] = v.msrs.guest[i].Data
	}
	v.pc.Save(&s.devs)
	s.seq, s.count, s.total, s.before = v.seq, v.count, v.total, v.before
	s.exitRIP, s.exitLen = v.regs.ExitRIP, v.regs.ExitInstrLen
	s.pollSeq, s.devicesChanged = v.pollSeq, v.devicesChanged
	s.lastSync, s.irqWindow, s.injected, s.inputsQuiet = v.lastSync, v.irqWindow, v.injected, v.inputsQuiet
	// The line being written, without the VM's tag: a replay restores it
	// under its own.
	s.outBytes, s.outHash, s.outN = v.out.bytes, v.out.hash, uint16(copy(s.outBuf[:], v.out.buf[v.out.start:v.out.n]))
	s.records, s.digests, s.stops = v.stats.Records, v.stats.Digests, v.stats.Stops
	if p, ok := v.in.(*replayer); ok {
		s.logPos, s.primed, s.nfinal, s.final = p.rd.Pos(), p.primed, uint32(p.nfinal), p.final
	}
}

// load puts s back into the VM (vCPU thread, VMCS current, at a loop
// boundary: nothing armed).
func (s *vcpuState) load(v *VM) error {
	*(*[16]uint64)(unsafe.Pointer(&v.regs.RAX)) = s.gprs
	*(*[512]byte)(unsafe.Pointer(v.regs.GuestFX)) = s.fx
	for i, x := range s.vmcs {
		vmx.VMWRITE(snapField(i), x)
	}
	vmx.VMWRITE(vmx.GuestPendingDebug, 0)
	// The guest may have changed modes since (Linux leaves protected mode
	// for long mode): "IA-32e mode guest" must match EFER.LMA at entry
	// (SDM Vol. 3C §27.3.1.1).
	entry, _ := vmx.VMREAD(vmx.EntryControls)
	entry &^= uint64(vmx.EntryIA32eModeGuest)
	if s.vmcs[snapEFER]&vmx.EFERLMA != 0 {
		entry |= uint64(vmx.EntryIA32eModeGuest)
	}
	vmx.VMWRITE(vmx.EntryControls, entry)
	for i := range s.msrs {
		v.msrs.guest[i].Data = s.msrs[i]
	}
	v.pc.Load(&s.devs)
	v.seq, v.count, v.total, v.before = s.seq, s.count, s.total, s.before
	v.pollSeq, v.devicesChanged = s.pollSeq, s.devicesChanged
	v.lastSync, v.injected, v.inputsQuiet = s.lastSync, s.injected, s.inputsQuiet
	v.irqWindow = !s.irqWindow
	v.setIRQWindow(s.irqWindow) // writes the control
	v.out.bytes, v.out.hash = s.outBytes, s.outHash
	v.out.n = v.out.start + copy(v.out.buf[v.out.start:], s.outBuf[:s.outN])
	v.stats.Records, v.stats.Digests, v.stats.Stops = s.records, s.digests, s.stops
	v.rearm = true
	// The landmark's RIP (rip, fingerprint) is its exit's.
	v.regs.ExitRIP, v.regs.ExitInstrLen = s.exitRIP, s.exitLen
	v.published.seq.Store(v.seq)
	if p, ok := v.in.(*replayer); ok {
		if s.logPos != p.rd.Pos() {
			if err := p.rd.Rewind(s.logPos); err != nil {
				return err
			}
		}
		p.primed, p.nfinal, p.final, p.check = s.primed, int(s.nfinal), s.final, false
	}
	return nil
}

// enableSnapshots gives a backup its snapshot store and log history, and
// says what it has for the console. A backup without them replays as
// before: snapshots are a debugging aid, not a condition of replay.
func (v *VM) enableSnapshots(c SnapConfig) string {
	p, ok := v.in.(*replayer)
	switch {
	case c.Off:
		return "off (snapshots=off)"
	case !ok:
		return "off (only a backup takes them)"
	case v.mem.leaves == nil:
		return "off (EPT has no dirty flags here: a snapshot would copy all of RAM)"
	}
	every, pool, hist := c.Every, c.Pool, c.History
	if every == 0 {
		every = DefaultSnapEvery
	}
	if pool == 0 {
		pool = uint64(len(v.ram)) / 2
	}
	if hist == 0 {
		hist = DefaultHistory
	}
	// The snapshots take what the host can spare, leaving room for the
	// Go heap: the undo pool shrinks to fit, down to a sixteenth of RAM.
	need := uint64(len(v.ram)) + uint64(hist*replay.RecordSize)
	if free := boot.FreeMemory(); free < need+hostReserve+uint64(len(v.ram))/16 {
		return fmt.Sprintf("off (they need %d MiB for a shadow of guest RAM and the log history, and more for undo pages; %d MiB are free, of which %d stay with the host: give the machine more memory)",
			need>>20, free>>20, hostReserve>>20)
	} else if free-need-hostReserve < pool {
		pool = (free - need - hostReserve) &^ (pageSize - 1)
	}
	shadow, err := physRegion(len(v.ram))
	if err != nil {
		return fmt.Sprintf("off (no memory for a %d MiB shadow of guest RAM: %v)", len(v.ram)>>20, err)
	}
	undo, err := physRegion(int(pool))
	if err != nil {
		return fmt.Sprintf("off (no memory for %d MiB of undo pages: %v)", pool>>20, err)
	}
	hmem, err := physRegion(hist * replay.RecordSize)
	if err != nil {
		return fmt.Sprintf("off (no memory for a history of %d records: %v)", hist, err)
	}
	h, err := replay.NewHistory(hmem)
	if err != nil {
		return "off (" + err.Error() + ")"
	}
	ticks := uint64(every.Nanoseconds()) * (boot.ReadStats().TSCHz / 1e6) / 1000
	s, err := newSnapStore(v.ram, shadow, undo, ticks)
	if err != nil {
		return "off (" + err.Error() + ")"
	}
	t := boot.ThreadTSC()
	s.full() // before the guest runs: the first snapshot, at its first instruction, finds RAM so
	s.primed = true
	s.stats.FullTicks += boot.ThreadTSC() - t
	p.rd.KeepHistory(h)
	s.hist = h
	v.snaps, v.mem.track = s, s.dirty
	return fmt.Sprintf("every %v, %d MiB shadow + %d MiB undo pages, %d records of log history", every, len(v.ram)>>20, pool>>20, hist)
}

// hostReserve is the physical memory snapshots leave to the host.
const hostReserve = 64 << 20

// snapEFER is the index of GuestIA32EFER among the snapshot's fields.
const snapEFER = 9

// position returns where the state stands.
func (s *vcpuState) position() replay.Landmark {
	return replay.Landmark{Seq: s.seq, Count: s.count, RIP: s.vmcs[0]}
}

// maxSnapshots bounds the list; thinning keeps it under.
const maxSnapshots = 32

// snapshot is one entry of the store.
type snapshot struct {
	st   vcpuState
	pt   point  // where it stands, as a debugger sees it
	tsc  uint64 // when it was taken (boot.TSC)
	undo span   // the undo pages from this snapshot back to the one before it
}

// span is a run of undo entries in the store's ring of them.
type span struct{ first, n int }

// undoEntry says that pool slot slot holds page pfn as it was at the
// snapshot before the one that owns the entry.
type undoEntry struct{ pfn, slot uint32 }

// snapStore is a backup's snapshots (see the top of this file). Its
// metadata is allocated once; RAM, shadow and pool are physical memory
// outside the Go heap.
type snapStore struct {
	ram, shadow, pool []byte
	free              []uint32 // free pool slots: a stack of nfree
	nfree             int
	ents              []undoEntry
	entHead, entLen   int // the ring of undo entries, in snapshot order
	list              [maxSnapshots]snapshot
	n                 int
	dirty             []uint64        // pages that may differ from the shadow
	merge             []uint64        // scratch bitmap for thinning
	hist              *replay.History // the log records the snapshots need, from the oldest's on
	every, next       uint64          // TSC ticks between snapshots, and when the next is due
	// primed: the shadow already holds RAM as the first snapshot will
	// find it (copied when the store was made, before the guest ran), so
	// that the vCPU loop never copies all of RAM but after an overflow.
	primed bool

	stats SnapStats
}

// SnapStats is what the snapshots cost and did.
type SnapStats struct {
	Taken, Thinned, Dropped, Restores uint64
	PagesCopied                       uint64 // pages copied into the shadow and pool by snapshots (two copies each but the first's)
	PagesRestored                     uint64
	Ticks, RestoreTicks               uint64 // TSC ticks of the vCPU thread spent taking (but full copies) and restoring
	FullTicks                         uint64 // TSC ticks the full copies took
	MaxPages                          uint64 // most pages one snapshot copied
	Full                              uint64 // snapshots that copied all of RAM (the first, and after a reset)
}

// newSnapStore lays the store over ram (the VM's), a shadow of the same
// size and a pool of undo pages, taking a snapshot every ticks TSC ticks.
func newSnapStore(ram, shadow, pool []byte, ticks uint64) (*snapStore, error) {
	pages := len(ram) / pageSize
	if len(shadow) != len(ram) || len(pool) < pageSize {
		return nil, fmt.Errorf("hv: snapshots need a shadow as large as guest RAM (%d MiB) and an undo pool", len(ram)>>20)
	}
	slots := len(pool) / pageSize
	s := &snapStore{ram: ram, shadow: shadow, pool: pool, every: ticks,
		free:  make([]uint32, slots),
		ents:  make([]undoEntry, slots),
		dirty: make([]uint64, (pages+63)/64),
		merge: make([]uint64, (pages+63)/64),
	}
	s.resetPool()
	return s, nil
}

func (s *snapStore) resetPool() {
	for i := range s.free {
		s.free[i] = uint32(len(s.free) - 1 - i)
	}
	s.nfree = len(s.free)
	s.entHead, s.entLen = 0, 0
}

func (s *snapStore) pushFree(slot uint32) {
	s.free[s.nfree] = slot
	s.nfree++
}

func (s *snapStore) popFree() uint32 {
	s.nfree--
	return s.free[s.nfree]
}

// ent returns the undo entry i places after the ring position first.
func (s *snapStore) ent(first, i int) *undoEntry { return &s.ents[(first+i)%len(s.ents)] }

func (s *snapStore) page(b []byte, pfn uint32) []byte {
	return b[int(pfn)*pageSize : int(pfn+1)*pageSize]
}

// due reports whether a snapshot is due at this boundary: the time has
// come and the backup stands beyond the newest snapshot.
func (s *snapStore) due(v *VM) bool {
	if boot.TSC() < s.next {
		return false
	}
	if s.n == 0 {
		return true
	}
	at := s.list[s.n-1].st.position()
	return at.Seq < v.seq || at.Seq == v.seq && at.Count < v.count
}

// take saves a snapshot of v here (vCPU thread, loop boundary). No
// allocation: the loop's rule.
func (s *snapStore) take(v *VM) {
	t0 := boot.ThreadTSC()
	v.mem.digest(v.eptp) // the pages written since the last look, into dirty
	s.keepLog()
	full := s.stats.Full
	s.takeRAM()
	s.list[s.n-1].st.save(v)
	s.list[s.n-1].pt = v.point()
	s.list[s.n-1].tsc = boot.TSC()
	s.next = s.list[s.n-1].tsc + s.every
	s.stats.Taken++
	t := boot.ThreadTSC() - t0
	if s.stats.Full != full {
		s.stats.FullTicks += t
	} else {
		s.stats.Ticks += t
	}
	if v.cfg.Account {
		v.stats.Cost.Hypervisor += t // the hypervisor's work, if outside an exit's handling
	}
	s.hist.Pin(s.list[0].st.logPos)
	s.hist.Trim(s.list[0].st.logPos)
}

// keepLog drops the oldest snapshots whose log records the history could
// not keep (it overwrites them rather than stall the primary: see
// replay.History).
func (s *snapStore) keepLog() {
	for s.n > 1 && s.list[0].st.logPos < s.hist.Oldest() {
		s.dropOldest()
	}
	if s.n == 1 && s.list[0].st.logPos < s.hist.Oldest() {
		s.n = 0 // the next snapshot starts over from a full copy
		s.resetPool()
		s.stats.Dropped++
	}
	if s.n > 0 {
		s.hist.Pin(s.list[0].st.logPos)
	}
}

// takeRAM appends a snapshot of RAM: undo pages for what dirty marks, or
// the first, full one.
func (s *snapStore) takeRAM() {
	if s.n == 0 {
		if !s.primed {
			s.full()
		}
		s.primed = false
		clear(s.dirty)
		s.list[0] = snapshot{}
		s.n = 1
	} else if !s.addUndo() {
		// One interval wrote more pages than the pool holds: start over
		// from a full copy.
		s.stats.Dropped += uint64(s.n)
		s.resetPool()
		s.full()
		clear(s.dirty)
		s.list[0] = snapshot{}
		s.n = 1
	}
}

// restore puts the backup back to snapshot j (vCPU thread, loop
// boundary).
func (s *snapStore) restore(v *VM, j int) error {
	t0 := boot.ThreadTSC()
	if s.list[j].st.logPos < s.hist.Oldest() {
		return fmt.Errorf("snapshot at %v needs log record %d, and the history keeps records from %d on", s.list[j].pt, s.list[j].st.logPos, s.hist.Oldest())
	}
	v.mem.digest(v.eptp) // the guest's latest writes, into dirty
	pages := s.restoreRAM(j)
	for wi, w := range s.merge { // the pages restoreRAM wrote
		for ; w != 0; w &= w - 1 {
			v.mem.rehash(wi*64 + bits.TrailingZeros64(w))
		}
	}
	err := s.list[j].st.load(v)
	s.stats.Restores++
	s.stats.PagesRestored += pages
	s.stats.RestoreTicks += boot.ThreadTSC() - t0
	return err
}

// full copies RAM into the shadow: the first snapshot's RAM.
func (s *snapStore) full() {
	copy(s.shadow, s.ram)
	s.stats.Full++
	s.stats.PagesCopied += uint64(len(s.ram) / pageSize)
}

// addUndo appends a snapshot whose undo pages hold the shadow's content
// of every page written since the newest, and moves those pages into the
// shadow. It returns false if the pool cannot hold them even after
// thinning.
func (s *snapStore) addUndo() bool {
	need := 0
	for _, w := range s.dirty {
		need += bits.OnesCount64(w)
	}
	for s.n == maxSnapshots || s.nfree < need {
		if s.n <= 1 {
			return false
		}
		s.thin()
	}
	first := (s.entHead + s.entLen) % len(s.ents)
	for wi, w := range s.dirty {
		for ; w != 0; w &= w - 1 {
			pfn := uint32(wi*64 + bits.TrailingZeros64(w))
			slot := s.popFree()
			copy(s.page(s.pool, slot), s.page(s.shadow, pfn))
			copy(s.page(s.shadow, pfn), s.page(s.ram, pfn))
			*s.ent(s.entHead, s.entLen) = undoEntry{pfn: pfn, slot: slot}
			s.entLen++
		}
	}
	clear(s.dirty)
	s.stats.PagesCopied += uint64(need)
	s.stats.MaxPages = max(s.stats.MaxPages, uint64(need))
	s.list[s.n] = snapshot{undo: span{first: first, n: need}}
	s.n++
	return true
}

// thin drops one snapshot: the oldest if only two are left, else the one
// in the older half that stands closest to its successor, merged into it.
func (s *snapStore) thin() {
	if s.n <= 2 {
		s.dropOldest()
		return
	}
	best, gap := 1, ^uint64(0)
	for k := 1; k < max(s.n/2, 2) && k+1 < s.n; k++ {
		if g := s.list[k+1].tsc - s.list[k-1].tsc; g < gap {
			best, gap = k, g
		}
	}
	s.mergeInto(best)
	s.stats.Thinned++
}

// dropOldest forgets snapshot 0; snapshot 1 becomes the oldest and needs
// its undo pages no more.
func (s *snapStore) dropOldest() {
	u := s.list[1].undo
	s.freeSpan(u)
	s.entHead = (s.entHead + u.n) % len(s.ents)
	s.entLen -= u.n
	copy(s.list[:s.n-1], s.list[1:s.n])
	s.list[0].undo = span{first: s.entHead}
	s.n--
	s.stats.Dropped++
}

func (s *snapStore) freeSpan(u span) {
	for i := 0; i < u.n; i++ {
		s.pushFree(s.ent(u.first, i).slot)
	}
}

// mergeInto removes snapshot k (0 < k < n-1): its successor's undo pages
// must now lead back to snapshot k-1, so they become k's pages (content
// at k-1) plus those of the successor's that k's do not have. Both spans
// are adjacent in the ring; the merged one is compacted in place and the
// entries after it move up to close the gap.
func (s *snapStore) mergeInto(k int) {
	a, b := s.list[k].undo, s.list[k+1].undo
	clear(s.merge)
	for i := 0; i < a.n; i++ {
		e := s.ent(a.first, i)
		s.merge[e.pfn/64] |= 1 << (e.pfn % 64)
	}
	n := a.n
	for i := 0; i < b.n; i++ {
		e := *s.ent(b.first, i)
		if s.merge[e.pfn/64]&(1<<(e.pfn%64)) != 0 {
			s.pushFree(e.slot) // k's older content wins
			continue
		}
		*s.ent(a.first, n) = e
		n++
	}
	gap := a.n + b.n - n
	if gap > 0 {
		from := a.first + a.n + b.n // ring positions, unreduced
		end := s.entHead + s.entLen
		if from < s.entHead {
			from += len(s.ents)
		}
		if end < from {
			end += len(s.ents)
		}
		for i := from; i < end; i++ {
			*s.ent(i-gap, 0) = *s.ent(i, 0)
		}
		for j := k + 2; j < s.n; j++ {
			s.list[j].undo.first = (s.list[j].undo.first - gap + len(s.ents)) % len(s.ents)
		}
		s.entLen -= gap
	}
	s.list[k+1].undo = span{first: a.first, n: n}
	copy(s.list[k:s.n-1], s.list[k+1:s.n])
	s.n--
}

// restoreRAM puts snapshot j's RAM back and returns how many pages it
// wrote, marked in s.merge.
func (s *snapStore) restoreRAM(j int) uint64 {
	var pages uint64
	clear(s.merge)
	for wi, w := range s.dirty {
		s.merge[wi] = w
		for ; w != 0; w &= w - 1 {
			pfn := uint32(wi*64 + bits.TrailingZeros64(w))
			copy(s.page(s.ram, pfn), s.page(s.shadow, pfn))
			pages++
		}
	}
	clear(s.dirty)
	for k := s.n - 1; k > j; k-- {
		u := s.list[k].undo
		for i := 0; i < u.n; i++ {
			e := s.ent(u.first, i)
			copy(s.page(s.ram, e.pfn), s.page(s.pool, e.slot))
			s.dirty[e.pfn/64] |= 1 << (e.pfn % 64)
			s.merge[e.pfn/64] |= 1 << (e.pfn % 64)
			pages++
		}
	}
	return pages
}

// pagesAt says where each page of RAM as it was at snapshot j is kept,
// for a capture file: a pool slot (the oldest undo copy after j), or -1
// for the shadow. Not in the vCPU loop: it allocates.
func (s *snapStore) pagesAt(j int) []int32 {
	at := make([]int32, len(s.ram)/pageSize)
	for i := range at {
		at[i] = -1
	}
	for k := s.n - 1; k > j; k-- {
		u := s.list[k].undo
		for i := 0; i < u.n; i++ {
			e := s.ent(u.first, i)
			at[e.pfn] = int32(e.slot)
		}
	}
	return at
}

// SnapReport says what the VM's snapshots cost, or "" if it takes none.
// Call it once Run has returned, or on the parked vCPU thread.
func (v *VM) SnapReport() string {
	s := v.snaps
	if s == nil {
		return ""
	}
	st := &s.stats
	pages := uint64(len(s.ram) / pageSize)
	incr := st.Taken - min(st.Taken, st.Full)
	per := func(a, n uint64) uint64 {
		if n == 0 {
			return 0
		}
		return a / n
	}
	return fmt.Sprintf("%d taken, %d kept (%d thinned, %d dropped); %d full copies of %d pages, %d vCPU ticks each (the first before the guest ran); "+
		"%d incremental, %d pages copied in all (most at once %d), %d vCPU ticks each; %d restores, %d pages written, %d vCPU ticks each",
		st.Taken, s.n, st.Thinned, st.Dropped, st.Full, pages, per(st.FullTicks, st.Full), incr, st.PagesCopied-st.Full*pages,
		st.MaxPages, per(st.Ticks, incr), st.Restores, st.PagesRestored, per(st.RestoreTicks, st.Restores))
}
