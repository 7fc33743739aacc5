package boot

import "unsafe"

// Page-table entry bits (SDM Vol. 3A §4.5, Table 4-19).
const (
	pteP   = 1 << 0
	pteW   = 1 << 1
	ptePWT = 1 << 3
	ptePCD = 1 << 4
	ptePS  = 1 << 7
	pteNX  = 1 << 63

	pteAddr = 0x000FFFFFFFFFF000
)

// Page-fault error code bits (SDM Vol. 3A §6.15, #PF).
const (
	pfPresent = 1 << 0
	pfWrite   = 1 << 1
	pfFetch   = 1 << 4
)

var (
	kernelPML4 uint64 // physical = virtual address of the kernel's PML4
	identTop   uint64 // [0, identTop) is identity-mapped
	nxEnabled  bool
)

func table(pa uint64) *[512]uint64 { return (*[512]uint64)(unsafe.Pointer(uintptr(pa))) }

// buildKernelTables identity-maps [0, top) with 2 MiB pages, except the
// first 2 MiB, mapped with 4 KiB pages and page 0 left out so that nil
// dereferences fault. The local APIC and IOAPIC range is mapped uncached.
func buildKernelTables(top uint64) bool {
	top = (top + 1<<30 - 1) &^ (1<<30 - 1)
	if top < 4<<30 {
		top = 4 << 30 // MMIO up to 4 GiB (APIC, IOAPIC)
	}
	identTop = top
	pml4, ok := allocFrame()
	if !ok {
		return false
	}
	kernelPML4 = pml4
	for pa := uint64(hugeSize); pa < top; pa += hugeSize {
		pde := walk(pa, 2, true)
		if pde == nil {
			return false
		}
		flags := uint64(pteP | pteW | ptePS)
		if pa >= 0xFEC00000 && pa < 4<<30 {
			flags |= ptePCD | ptePWT
		}
		*pde = pa | flags
	}
	for pa := uint64(pageSize); pa < hugeSize; pa += pageSize {
		pte := walk(pa, 1, true)
		if pte == nil {
			return false
		}
		*pte = pa | pteP | pteW
	}
	return true
}

// walk returns the entry mapping va at the given level (1: PTE, 2: PDE, 3:
// PDPTE), creating intermediate tables when create is set; nil if a table is
// missing (or cannot be allocated) or a large page is in the way.
func walk(va uint64, level int, create bool) *uint64 {
	t := table(kernelPML4)
	for l := 4; l > level; l-- {
		e := &t[va>>(12+9*uint(l-1))&511]
		if *e&pteP == 0 {
			if !create {
				return nil
			}
			pa, ok := allocFrame()
			if !ok {
				return nil
			}
			*e = pa | pteP | pteW
		} else if *e&ptePS != 0 {
			return nil
		}
		t = table(*e & pteAddr)
	}
	return &t[va>>(12+9*uint(level-1))&511]
}

// The address space of the Go runtime's mmaps: a sorted list of disjoint
// regions with their protection. Pages inside a region are backed on first
// touch by a zeroed frame (the runtime reserves far more than it uses).
const (
	protRead  = 0x1
	protWrite = 0x2
	protExec  = 0x4

	maxVMAs  = 512
	userTop  = 1 << 47 // end of the canonical lower half
	mmapBase = 0x200000000000
)

type vma struct {
	start, end uint64
	prot       uint32
}

var vm struct {
	areas [maxVMAs]vma
	n     int
	next  uint64 // where the next mmap without a usable hint goes
}

// vmaFind returns the index of the region containing addr, or -1.
func vmaFind(addr uint64) int {
	lo, hi := 0, vm.n
	for lo < hi {
		m := (lo + hi) / 2
		switch a := &vm.areas[m]; {
		case addr < a.start:
			hi = m
		case addr >= a.end:
			lo = m + 1
		default:
			return m
		}
	}
	return -1
}

// vmaOverlaps reports whether any region intersects [start, end).
func vmaOverlaps(start, end uint64) bool {
	for i := 0; i < vm.n; i++ {
		if a := &vm.areas[i]; a.start < end && start < a.end {
			return true
		}
	}
	return false
}

// vmaRemove cuts [start, end) out of the list, splitting regions it is
// inside of. It fails only when a split needs a slot and none is left.
func vmaRemove(start, end uint64) bool {
	for i := 0; i < vm.n; i++ {
		a := vm.areas[i]
		if a.end <= start || a.start >= end {
			continue
		}
		switch {
		case a.start < start && a.end > end: // split in two
			if vm.n == maxVMAs {
				return false
			}
			copy(vm.areas[i+2:vm.n+1], vm.areas[i+1:vm.n])
			vm.n++
			vm.areas[i].end = start
			vm.areas[i+1] = vma{end, a.end, a.prot}
			return true
		case a.start < start:
			vm.areas[i].end = start
		case a.end > end:
			vm.areas[i].start = end
		default: // entirely inside: delete
			copy(vm.areas[i:vm.n-1], vm.areas[i+1:vm.n])
			vm.n--
			i--
		}
	}
	return true
}

// vmaInsert adds [start, end) with prot. Precondition: no overlap.
func vmaInsert(start, end uint64, prot uint32) bool {
	i := 0
	for i < vm.n && vm.areas[i].start < start {
		i++
	}
	if i > 0 && vm.areas[i-1].end == start && vm.areas[i-1].prot == prot {
		vm.areas[i-1].end = end
		if i < vm.n && vm.areas[i].start == end && vm.areas[i].prot == prot {
			vm.areas[i-1].end = vm.areas[i].end
			copy(vm.areas[i:vm.n-1], vm.areas[i+1:vm.n])
			vm.n--
		}
		return true
	}
	if i < vm.n && vm.areas[i].start == end && vm.areas[i].prot == prot {
		vm.areas[i].start = start
		return true
	}
	if vm.n == maxVMAs {
		return false
	}
	copy(vm.areas[i+1:vm.n+1], vm.areas[i:vm.n])
	vm.areas[i] = vma{start, end, prot}
	vm.n++
	return true
}

// userRangeOK reports whether [start, end) may hold runtime mappings.
func userRangeOK(start, end uint64) bool {
	return start >= identTop && end <= userTop && start < end
}

func pteFlags(prot uint32) uint64 {
	f := uint64(pteP)
	if prot&protWrite != 0 {
		f |= pteW
	}
	if prot&protExec == 0 && nxEnabled {
		f |= pteNX
	}
	return f
}

// demandPage backs the page holding va with a zeroed frame if va lies in a
// region allowing the access. It reports false for a real fault.
func demandPage(va uint64, write bool) bool {
	i := vmaFind(va)
	if i < 0 {
		return false
	}
	prot := vm.areas[i].prot
	if prot&(protRead|protWrite|protExec) == 0 || write && prot&protWrite == 0 {
		return false
	}
	pte := walk(va, 1, true)
	if pte == nil {
		return false
	}
	if *pte&pteP != 0 {
		return !write || *pte&pteW != 0
	}
	pa, ok := allocFrame()
	if !ok {
		return false
	}
	*pte = pa | pteFlags(prot)
	return true
}

// zeroPages clears every present page of [start, end); with unmap it also
// removes them from the page tables (their frames are not reused: another
// CPU may still cache the translation).
func zeroPages(start, end uint64, unmap bool) {
	for va := start; va < end; {
		pde := walk(va, 2, false)
		if pde == nil || *pde&pteP == 0 {
			va = (va + hugeSize) &^ (hugeSize - 1)
			continue
		}
		pte := walk(va, 1, false)
		if pte != nil && *pte&pteP != 0 {
			*(*[pageSize]byte)(unsafe.Pointer(uintptr(*pte & pteAddr))) = [pageSize]byte{}
			if unmap {
				*pte = 0
				invlpg(uintptr(va))
				phys.leaked += pageSize
			}
		}
		va += pageSize
	}
}

// setProt rewrites the protection of present pages of [start, end).
func setProt(start, end uint64, prot uint32) {
	for va := start; va < end; va += pageSize {
		pte := walk(va, 1, false)
		if pte != nil && *pte&pteP != 0 {
			*pte = *pte&pteAddr | pteFlags(prot)
			invlpg(uintptr(va))
		}
	}
}

// userAccess makes [addr, addr+n) present for a kernel access on behalf of
// the running thread, as the thread itself could have. The kernel touches
// user memory only after this check, so it never faults.
func userAccess(addr, n uint64, write bool) bool {
	if n == 0 {
		return true
	}
	end := addr + n
	if end < addr {
		return false
	}
	if addr < identTop {
		// The kernel's own data (the runtime's BSS lies in the image).
		return end <= identTop && addr >= pageSize
	}
	for va := addr &^ (pageSize - 1); va < end; va += pageSize {
		if !demandPage(va, write) {
			return false
		}
	}
	return true
}
