package ept

import (
	"fmt"
	"io"
)

// Translate walks the tables in software, as the processor does (§29.3.2),
// and returns the host-physical address for gpa, the effective access rights
// (the AND of the rights at every level), and the size of the page that maps
// it. ok is false if the walk meets a not-present entry. It allocates
// nothing; the debugger uses it to read guest memory.
func (t *Tables) Translate(gpa uint64) (hpa uint64, p Perm, pageSize uint64, ok bool) {
	e, level, rights, ok := t.lookup(gpa)
	if !ok {
		return 0, 0, 0, false
	}
	size := levelSize(level)
	return e&AddrMask&^(size-1) | gpa&(size-1), Perm(rights), size, true
}

// Leaf returns the leaf entry that maps gpa and its page size, so callers
// can inspect memory type, IgnorePAT, accessed and dirty flags.
func (t *Tables) Leaf(gpa uint64) (entry, pageSize uint64, ok bool) {
	e, level, _, ok := t.lookup(gpa)
	if !ok {
		return 0, 0, false
	}
	return e, levelSize(level), true
}

// LeafEntries returns the leaf entries that map the 4 KiB pages of
// [0, size), in order, as pointers into the tables, for tracking dirty
// pages (hv's memory digest): the processor sets Dirty in them when the
// guest writes (with accessed and dirty flags on in the EPTP, §29.3.5).
// Every page must be mapped by a 4 KiB leaf (tables built with Pages2M and
// Pages1G off in their Caps); the error names the first that is not.
func (t *Tables) LeafEntries(size uint64) ([]*uint64, error) {
	es := make([]*uint64, 0, size/Size4K)
	for gpa := uint64(0); gpa < size; gpa += Size4K {
		table := t.root
		for level := levelPML4; ; level-- {
			i := (gpa >> levelShift(level)) & 511
			e := t.alloc.Page(table)[i]
			if !present(e) {
				return nil, fmt.Errorf("ept: guest-physical %#x is not mapped", gpa)
			}
			if isLeaf(e, level) {
				if level != levelPT {
					return nil, fmt.Errorf("ept: guest-physical %#x is in a %s page, not a 4 KiB one", gpa, sizeName(levelSize(level)))
				}
				es = append(es, &t.alloc.Page(table)[i])
				break
			}
			table = e & AddrMask
		}
	}
	return es, nil
}

func (t *Tables) lookup(gpa uint64) (e uint64, level int, rights uint64, ok bool) {
	if gpa >= maxGPA {
		return 0, 0, 0, false
	}
	table := t.root
	rights = PermMask
	for level = levelPML4; level >= levelPT; level-- {
		e = t.alloc.Page(table)[(gpa>>levelShift(level))&511]
		if !present(e) {
			return 0, 0, 0, false
		}
		rights &= e
		if isLeaf(e, level) {
			return e, level, rights, true
		}
		table = e & AddrMask
	}
	return 0, 0, 0, false // not reached: level 1 entries are leaves
}

// Run is a maximal stretch of guest-physical space mapped by consecutive
// leaves of one page size with contiguous host addresses and equal flags.
type Run struct {
	GPA, HPA, Size uint64
	PageSize       uint64
	Perm           Perm
	MemType        MemType // IPAT or-ed in when the leaves ignore PAT
}

// End returns GPA + Size.
func (r Run) End() uint64 { return r.GPA + r.Size }

// String formats the run on one line.
func (r Run) String() string {
	n := r.Size / r.PageSize
	return fmt.Sprintf("gpa [%#x-%#x) -> hpa %#x %s %s %s x%d",
		r.GPA, r.End(), r.HPA, r.Perm, r.MemType, sizeName(r.PageSize), n)
}

func sizeName(s uint64) string {
	switch s {
	case Size1G:
		return "1G"
	case Size2M:
		return "2M"
	}
	return "4K"
}

// Walk calls fn for every run of leaves in ascending GPA order, and stops
// early if fn returns false.
func (t *Tables) Walk(fn func(Run) bool) {
	var cur Run
	stopped := false
	var visit func(table uint64, level int, base uint64)
	visit = func(table uint64, level int, base uint64) {
		for i, e := range t.alloc.Page(table) {
			if stopped {
				return
			}
			if !present(e) {
				continue
			}
			gpa := base + uint64(i)<<levelShift(level)
			if !isLeaf(e, level) {
				visit(e&AddrMask, level-1, gpa)
				continue
			}
			r := Run{GPA: gpa, HPA: e & AddrMask, Size: levelSize(level), PageSize: levelSize(level),
				Perm: Perm(e & PermMask), MemType: MemType((e >> MemTypeShift) & 0xF)}
			if cur.Size != 0 && cur.End() == r.GPA && cur.HPA+cur.Size == r.HPA &&
				cur.PageSize == r.PageSize && cur.Perm == r.Perm && cur.MemType == r.MemType {
				cur.Size += r.Size
				continue
			}
			if cur.Size != 0 && !fn(cur) {
				stopped = true
				return
			}
			cur = r
		}
	}
	visit(t.root, levelPML4, 0)
	if !stopped && cur.Size != 0 {
		fn(cur)
	}
}

// Stats counts table pages per level (index 1 = page tables ... 4 = PML4)
// and mapped bytes, by walking the hierarchy.
type Stats struct {
	Tables [5]int
	Mapped uint64
	Leaves [5]int // leaf entries per level (1 = 4K, 2 = 2M, 3 = 1G)
}

// Stats walks the tables and counts them.
func (t *Tables) Stats() Stats {
	var s Stats
	var visit func(table uint64, level int)
	visit = func(table uint64, level int) {
		s.Tables[level]++
		for _, e := range t.alloc.Page(table) {
			switch {
			case !present(e):
			case isLeaf(e, level):
				s.Leaves[level]++
				s.Mapped += levelSize(level)
			default:
				visit(e&AddrMask, level-1)
			}
		}
	}
	visit(t.root, levelPML4)
	return s
}

// Dump writes a compact description: one header line with the table counts,
// then one line per run.
//
//	EPT pml4 0x1000: 3 table pages (PML4 1, PDPT 1, PD 1, PT 0), 64 MiB mapped
//	gpa [0x0-0x4000000) -> hpa 0x10000000 rwx WB 2M x32
func (t *Tables) Dump(w io.Writer) error {
	s := t.Stats()
	_, err := fmt.Fprintf(w, "EPT pml4 %#x: %d table pages (PML4 %d, PDPT %d, PD %d, PT %d), %s mapped\n",
		t.root, t.pages, s.Tables[4], s.Tables[3], s.Tables[2], s.Tables[1], byteSize(s.Mapped))
	t.Walk(func(r Run) bool {
		if err == nil {
			_, err = fmt.Fprintln(w, r)
		}
		return err == nil
	})
	return err
}

func byteSize(n uint64) string {
	switch {
	case n >= Size1G && n%Size1G == 0:
		return fmt.Sprintf("%d GiB", n/Size1G)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
