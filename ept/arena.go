package ept

// Arena is fake physical memory for host tests and tools: up to a fixed
// number of 4 KiB frames starting at a host-physical base, held in the Go
// heap (each frame allocated on first use). It implements PageAlloc. Freed
// frames are reused last-freed first.
type Arena struct {
	base   uint64
	max    int
	frames []*[512]uint64
	used   []bool
	free   []uint32
	inUse  int
}

// NewArena returns an arena of at most n frames at host-physical base
// (4 KiB aligned).
func NewArena(base uint64, n int) *Arena {
	return &Arena{base: base &^ (Size4K - 1), max: n}
}

// AllocPage implements PageAlloc.
func (a *Arena) AllocPage() (uint64, error) {
	var i int
	switch {
	case len(a.free) > 0:
		i = int(a.free[len(a.free)-1])
		a.free = a.free[:len(a.free)-1]
		*a.frames[i] = [512]uint64{}
	case len(a.frames) < a.max:
		i = len(a.frames)
		a.frames = append(a.frames, new([512]uint64))
		a.used = append(a.used, false)
	default:
		return 0, ErrNoMemory
	}
	a.used[i] = true
	a.inUse++
	return a.base + uint64(i)*Size4K, nil
}

// FreePage implements PageAlloc. Freeing a frame twice panics.
func (a *Arena) FreePage(hpa uint64) {
	i := a.index(hpa)
	if !a.used[i] {
		panic("ept: arena frame freed twice")
	}
	a.used[i] = false
	a.inUse--
	// Poison the frame so a use after free shows up as garbage entries.
	for j := range a.frames[i] {
		a.frames[i][j] = 0xDEAD_0000_0000_0007
	}
	a.free = append(a.free, uint32(i))
}

// Page implements PageAlloc. It panics for an address outside the arena or
// a frame not allocated.
func (a *Arena) Page(hpa uint64) *[512]uint64 {
	i := a.index(hpa)
	if !a.used[i] {
		panic("ept: arena frame used while free")
	}
	return a.frames[i]
}

// InUse returns the number of frames allocated and not freed.
func (a *Arena) InUse() int { return a.inUse }

func (a *Arena) index(hpa uint64) int {
	if hpa < a.base || hpa%Size4K != 0 || (hpa-a.base)/Size4K >= uint64(len(a.used)) {
		panic("ept: address outside the arena")
	}
	return int((hpa - a.base) / Size4K)
}
