package ept

// PageAlloc supplies the 4 KiB frames that hold EPT tables.
type PageAlloc interface {
	// AllocPage returns the host-physical address of a zeroed, 4 KiB
	// aligned frame.
	AllocPage() (hpa uint64, err error)
	// FreePage returns a frame obtained from AllocPage. The builder never
	// uses it again.
	FreePage(hpa uint64)
	// Page returns the frame at hpa as 512 entries. The pointer must stay
	// valid while the frame is allocated.
	Page(hpa uint64) *[512]uint64
}

// Levels of the walk: 4 is the PML4, 1 the page table.
const (
	levelPT   = 1
	levelPD   = 2
	levelPDPT = 3
	levelPML4 = 4
)

// maxGPA is the end of the guest-physical space a 4-level walk covers.
const maxGPA uint64 = 1 << 48

func levelShift(level int) uint  { return uint(12 + 9*(level-1)) }
func levelSize(level int) uint64 { return 1 << levelShift(level) }

// nonLeaf are the bits of an entry that references a table: all access
// rights, so that a leaf's rights are the effective rights.
const nonLeaf = Read | Write | Execute | UserExecute

// Tables is one guest's EPT hierarchy. The zero value is not usable: call New
// or Init.
type Tables struct {
	alloc PageAlloc
	caps  Caps
	root  uint64
	pages int // table pages allocated, the root included

	needInv bool
}

// New allocates the PML4 table and returns an empty hierarchy.
func New(alloc PageAlloc, caps Caps) (*Tables, error) {
	t := new(Tables)
	if err := t.Init(alloc, caps); err != nil {
		return nil, err
	}
	return t, nil
}

// Init is New for a Tables the caller placed (it allocates only the PML4
// frame).
func (t *Tables) Init(alloc PageAlloc, caps Caps) error {
	if alloc == nil {
		return ErrNoAlloc
	}
	*t = Tables{alloc: alloc, caps: caps}
	root, err := t.newTable()
	if err != nil {
		return err
	}
	t.root = root
	return nil
}

// Root returns the host-physical address of the PML4 table.
func (t *Tables) Root() uint64 { return t.root }

// Caps returns the capabilities the tables were built for.
func (t *Tables) Caps() Caps { return t.caps }

// TablePages returns the number of table frames in use, the PML4 included.
func (t *Tables) TablePages() int { return t.pages }

// EPTP returns the EPT pointer for these tables: 4-level walk, tables
// accessed as mt (UC or WB), accessed/dirty flags if ad and the CPU has them.
func (t *Tables) EPTP(mt MemType, ad bool) (EPTP, error) {
	if (mt == WB && !t.caps.WB) || (mt == UC && !t.caps.UC) {
		return 0, ErrMemType
	}
	return MakeEPTP(t.root, mt, ad && t.caps.AccessedDirty)
}

// NeedsInvalidation reports whether a change since the last Invalidated may
// have left stale translations in the CPU's caches (SDM §29.4.3): a
// translation was removed, restricted, moved, retyped or split. Adding a
// translation where none was present needs no INVEPT.
func (t *Tables) NeedsInvalidation() bool { return t.needInv }

// Invalidated records that the caller executed INVEPT for these tables.
func (t *Tables) Invalidated() { t.needInv = false }

// Map maps the guest-physical range [gpa, gpa+size) to [hpa, hpa+size) with
// access rights p and memory type mt (WB for RAM, UC for device memory; or
// IPAT in to ignore the guest's PAT). Existing translations in the range are
// replaced. 1 GiB and 2 MiB pages are used where gpa and hpa are both aligned
// to them, the range covers them, and Caps allows them; 4 KiB pages
// otherwise. All three arguments must be 4 KiB aligned. If a table page
// cannot be allocated, Map returns ErrNoMemory with a prefix of the range
// mapped.
func (t *Tables) Map(gpa, hpa, size uint64, p Perm, mt MemType) error {
	if err := t.checkRange(gpa, size); err != nil {
		return err
	}
	if hpa%Size4K != 0 {
		return ErrAlign
	}
	if hpa+size < hpa || hpa+size > t.caps.physLimit() {
		return ErrRange
	}
	if err := t.checkPerm(p); err != nil {
		return err
	}
	if !mt.valid() {
		return ErrMemType
	}
	if size == 0 {
		return nil
	}
	op := rangeOp{kind: opMap, gpa: gpa, hpa: hpa, bits: uint64(p) | uint64(mt)<<MemTypeShift}
	return t.apply(t.root, levelPML4, 0, gpa, gpa+size, &op)
}

// Unmap removes every translation in [gpa, gpa+size), splitting large pages
// that straddle the ends, and frees tables left empty. Unmapped addresses
// cause EPT violations. On ErrNoMemory (a split failed) a prefix of the range
// is unmapped.
func (t *Tables) Unmap(gpa, size uint64) error {
	if err := t.checkRange(gpa, size); err != nil {
		return err
	}
	if size == 0 {
		return nil
	}
	op := rangeOp{kind: opUnmap}
	return t.apply(t.root, levelPML4, 0, gpa, gpa+size, &op)
}

// Protect sets the access rights of every mapped page in [gpa, gpa+size) to p,
// keeping addresses and memory types and splitting large pages that straddle
// the ends. Holes in the range stay holes. To remove access, use Unmap.
func (t *Tables) Protect(gpa, size uint64, p Perm) error {
	if err := t.checkRange(gpa, size); err != nil {
		return err
	}
	if err := t.checkPerm(p); err != nil {
		return err
	}
	if size == 0 {
		return nil
	}
	op := rangeOp{kind: opProtect, bits: uint64(p)}
	return t.apply(t.root, levelPML4, 0, gpa, gpa+size, &op)
}

func (t *Tables) checkRange(gpa, size uint64) error {
	if gpa%Size4K != 0 || size%Size4K != 0 {
		return ErrAlign
	}
	if gpa+size < gpa || gpa+size > maxGPA {
		return ErrRange
	}
	return nil
}

// checkPerm rejects rights that would be an EPT misconfiguration
// (§29.3.3.1): no access at all (use Unmap), write without read, and
// execute-only where the CPU lacks it.
func (t *Tables) checkPerm(p Perm) error {
	if p&^(RWX|UX) != 0 || p&RWX == 0 || p&(R|W) == W {
		return ErrPerm
	}
	if p&(R|W) == 0 && !t.caps.ExecuteOnly {
		return ErrPerm
	}
	return nil
}

type opKind uint8

const (
	opMap opKind = iota
	opUnmap
	opProtect
)

// rangeOp is one Map, Unmap or Protect in progress.
type rangeOp struct {
	kind opKind
	gpa  uint64 // start of the Map (hpa corresponds to it)
	hpa  uint64
	bits uint64 // Map: rights | memory type | IgnorePAT; Protect: rights
}

func present(e uint64) bool { return e&(Read|Write|Execute) != 0 }

// isLeaf reports whether a present entry at level maps a page.
func isLeaf(e uint64, level int) bool {
	return level == levelPT || (level <= levelPDPT && e&PageSize != 0)
}

// leafAllowed reports whether an entry at level may map a page.
func (t *Tables) leafAllowed(level int) bool {
	switch level {
	case levelPT:
		return true
	case levelPD:
		return t.caps.Pages2M
	case levelPDPT:
		return t.caps.Pages1G
	}
	return false
}

func leafEntry(addr, bits uint64, level int) uint64 {
	e := addr | bits
	if level > levelPT {
		e |= PageSize
	}
	return e
}

// apply performs op on [gpa, end) within the table at tableHPA, a table of
// the given level whose first entry translates guest-physical base.
func (t *Tables) apply(tableHPA uint64, level int, base, gpa, end uint64, op *rangeOp) error {
	tbl := t.alloc.Page(tableHPA)
	shift := levelShift(level)
	size := levelSize(level)
	first := (gpa - base) >> shift
	last := (end - 1 - base) >> shift
	for i := first; i <= last; i++ {
		eStart := base + i<<shift
		lo, hi := max(gpa, eStart), min(end, eStart+size)
		full := lo == eStart && hi == eStart+size
		e := tbl[i]
		switch op.kind {
		case opMap:
			hpa := op.hpa + (lo - op.gpa)
			if full && hpa%size == 0 && t.leafAllowed(level) {
				ne := leafEntry(hpa, op.bits, level)
				if present(e) {
					if !isLeaf(e, level) {
						t.freeTree(e&AddrMask, level-1)
					}
					if e != ne {
						t.needInv = true
					}
				}
				tbl[i] = ne
				continue
			}
		case opUnmap:
			if !present(e) {
				continue
			}
			if full {
				if !isLeaf(e, level) {
					t.freeTree(e&AddrMask, level-1)
				}
				tbl[i] = 0
				t.needInv = true
				continue
			}
		case opProtect:
			if !present(e) {
				continue
			}
			if full && isLeaf(e, level) {
				ne := e&^PermMask | op.bits
				if e&PermMask&^ne != 0 {
					t.needInv = true // a right was removed
				}
				tbl[i] = ne
				continue
			}
		}
		child, err := t.descend(tbl, i, level)
		if err != nil {
			return err
		}
		if err := t.apply(child, level-1, eStart, lo, hi, op); err != nil {
			return err
		}
		if op.kind == opUnmap && t.empty(child) {
			t.free(child)
			tbl[i] = 0
		}
	}
	return nil
}

// descend returns the table referenced by tbl[i] (a level entry), creating
// it if the entry is not present and splitting it if it maps a large page.
func (t *Tables) descend(tbl *[512]uint64, i uint64, level int) (uint64, error) {
	e := tbl[i]
	if present(e) && !isLeaf(e, level) {
		return e & AddrMask, nil
	}
	child, err := t.newTable()
	if err != nil {
		return 0, err
	}
	if present(e) {
		// Split a large page into 512 pages of the next size with the
		// same rights, memory type and flags (§29.3.2 formats: bits 11:0
		// and 63:52 carry over; PageSize only where the child may be a
		// large page).
		sub := levelSize(level - 1)
		flags := e &^ AddrMask &^ PageSize
		addr := e & AddrMask
		c := t.alloc.Page(child)
		for j := range c {
			c[j] = leafEntry(addr+uint64(j)*sub, flags, level-1)
		}
		t.needInv = true
	}
	tbl[i] = child | nonLeaf
	return child, nil
}

func (t *Tables) newTable() (uint64, error) {
	hpa, err := t.alloc.AllocPage()
	if err != nil {
		return 0, ErrNoMemory
	}
	t.pages++
	return hpa, nil
}

func (t *Tables) free(hpa uint64) {
	t.alloc.FreePage(hpa)
	t.pages--
}

// freeTree frees the table at hpa (of the given level) and every table below.
func (t *Tables) freeTree(hpa uint64, level int) {
	if level > levelPT {
		for _, e := range t.alloc.Page(hpa) {
			if present(e) && !isLeaf(e, level) {
				t.freeTree(e&AddrMask, level-1)
			}
		}
	}
	t.free(hpa)
}

func (t *Tables) empty(hpa uint64) bool {
	for _, e := range t.alloc.Page(hpa) {
		if present(e) {
			return false
		}
	}
	return true
}

// Range is a guest-physical range [Start, Start+Size).
type Range struct{ Start, Size uint64 }

// Layout describes a guest's RAM: [0, Size) maps to HostBase + x, except for
// Holes, which stay unmapped so that accesses exit as EPT violations.
type Layout struct {
	Size     uint64
	HostBase uint64
	Perm     Perm    // 0 means RWX
	MemType  MemType // 0 means WB (this is RAM); IPAT may be or-ed in
	Holes    []Range // 4 KiB aligned, in any order, may overlap
}

// Build allocates tables and maps l. For the primary use HostBase = A, for
// the backup A + OFFSET.
func Build(alloc PageAlloc, caps Caps, l Layout) (*Tables, error) {
	t, err := New(alloc, caps)
	if err != nil {
		return nil, err
	}
	if err := t.MapLayout(l); err != nil {
		return nil, err
	}
	return t, nil
}

// MapLayout maps l into t. The RAM between holes is mapped piece by piece, so
// large pages are used right up to each hole's aligned edges.
func (t *Tables) MapLayout(l Layout) error {
	p, mt := l.Perm, l.MemType
	if p == 0 {
		p = RWX
	}
	if mt == 0 {
		mt = WB
	}
	for gpa := uint64(0); gpa < l.Size; {
		next, inHole := l.Size, false
		for _, h := range l.Holes {
			switch {
			case h.Size == 0:
			case h.Start <= gpa && gpa < h.Start+h.Size:
				if !inHole || h.Start+h.Size > next {
					next = h.Start + h.Size
				}
				inHole = true
			case !inHole && gpa < h.Start && h.Start < next:
				next = h.Start
			}
		}
		if !inHole {
			if err := t.Map(gpa, l.HostBase+gpa, min(next, l.Size)-gpa, p, mt); err != nil {
				return err
			}
		}
		gpa = next
	}
	return nil
}
