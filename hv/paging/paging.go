package paging

import (
	"fmt"
	"strings"
)

// Control-register and MSR bits that select the paging mode (SDM Vol. 3A
// §4.1.1, Table 4-1; §2.5 for CR0 and CR4; §2.2.1 for IA32_EFER).
const (
	CR0PG   = 1 << 31 // CR0.PG: paging enabled
	CR4PSE  = 1 << 4  // CR4.PSE: 4-MByte pages in 32-bit paging
	CR4PAE  = 1 << 5  // CR4.PAE: 64-bit entries (PAE, 4-level, 5-level)
	CR4LA57 = 1 << 12 // CR4.LA57: 5-level paging in IA-32e mode
	EFERLME = 1 << 8  // IA32_EFER.LME: IA-32e mode once CR0.PG is set
	EFERNXE = 1 << 11 // IA32_EFER.NXE: the XD bit (63) of entries is valid
)

// Paging-structure entry bits (SDM Vol. 3A Tables 4-4 to 4-20).
const (
	EntryP  = 1 << 0  // present
	EntryRW = 1 << 1  // R/W: writes allowed
	EntryUS = 1 << 2  // U/S: user-mode accesses allowed
	EntryPS = 1 << 7  // PS: the entry maps a page (PDE, and PDPTE in IA-32e)
	EntryXD = 1 << 63 // XD: instruction fetches not allowed (if EFER.NXE)
)

// Page sizes.
const (
	Size4K = 1 << 12
	Size2M = 1 << 21
	Size4M = 1 << 22
	Size1G = 1 << 30
)

// MaxPhysAddrBits is the architectural maximum MAXPHYADDR (SDM Vol. 3A
// §4.1.4): the physical-address width assumed when Regs leaves it zero.
const MaxPhysAddrBits = 52

// Mode is a paging mode (SDM Vol. 3A §4.1.1).
type Mode uint8

const (
	ModeOff    Mode = iota // CR0.PG = 0: linear addresses are physical
	Mode32                 // 32-bit paging: CR0.PG = 1, CR4.PAE = 0
	ModePAE                // PAE paging: CR4.PAE = 1, IA32_EFER.LME = 0
	Mode4Level             // 4-level paging: IA32_EFER.LME = 1, CR4.LA57 = 0
	Mode5Level             // 5-level paging: IA32_EFER.LME = 1, CR4.LA57 = 1
)

var modeNames = [...]string{"paging off", "32-bit paging", "PAE paging", "4-level paging", "5-level paging"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// Regs is the processor state a walk depends on. The hypervisor takes it
// from the VMCS guest-state area (CR0, CR3, CR4, IA32_EFER and, for a PAE
// guest under EPT, the guest PDPTEs).
type Regs struct {
	CR0, CR3, CR4, EFER uint64

	// MaxPhysAddr is the guest's MAXPHYADDR (CPUID.80000008H:EAX[7:0]);
	// zero means MaxPhysAddrBits. Entry bits at and above it are reserved.
	// Values outside 32..52, which no processor reports, are clamped.
	MaxPhysAddr uint8

	// PDPTE, if PDPTELoaded, holds PAE paging's four PDPTE registers. The
	// processor loads them from memory when CR3 is written and does not
	// re-read the table on a walk (SDM Vol. 3A §4.4.1), so the registers,
	// not memory, are the truth; without them a PAE walk reads the table.
	PDPTE       [4]uint64
	PDPTELoaded bool
}

// Mode returns the paging mode the registers select (SDM Vol. 3A Table 4-1).
func (r *Regs) Mode() Mode {
	switch {
	case r.CR0&CR0PG == 0:
		return ModeOff
	case r.CR4&CR4PAE == 0:
		return Mode32
	case r.EFER&EFERLME == 0:
		return ModePAE
	case r.CR4&CR4LA57 == 0:
		return Mode4Level
	}
	return Mode5Level
}

func (r *Regs) maxPhys() uint {
	switch {
	case r.MaxPhysAddr == 0 || r.MaxPhysAddr > MaxPhysAddrBits:
		return MaxPhysAddrBits
	case r.MaxPhysAddr < 32:
		return 32
	}
	return uint(r.MaxPhysAddr)
}

// Perm is the access rights of a translation, combined over every level
// of the walk (SDM Vol. 3A §4.6): writable and user only if every entry
// allows it, no-execute if any entry forbids it.
type Perm uint8

const (
	PermWrite  Perm = 1 << iota // every level has R/W = 1
	PermUser                    // every level has U/S = 1
	PermNoExec                  // some level has XD = 1 (IA32_EFER.NXE = 1)
)

// String formats the rights as "rwx" with "u" or "s" for user or
// supervisor, e.g. "rw-s" or "r-xu".
func (p Perm) String() string {
	b := []byte("r--s")
	if p&PermWrite != 0 {
		b[1] = 'w'
	}
	if p&PermNoExec == 0 {
		b[2] = 'x'
	}
	if p&PermUser != 0 {
		b[3] = 'u'
	}
	return string(b)
}

// Translation is the result of a successful walk.
type Translation struct {
	PA       uint64 // guest-physical address of the byte at the virtual address
	PageSize uint64 // size of the page that maps it (Size4K ... Size1G)
	Perm     Perm
}

// Level names the paging-structure entry a walk was reading.
type Level uint8

const (
	LevelNone  Level = iota // no entry: the address itself or the mode
	LevelPTE                // page-table entry
	LevelPDE                // page-directory entry
	LevelPDPTE              // page-directory-pointer-table entry
	LevelPML4E              // PML4 entry
	LevelPML5E              // PML5 entry
)

var levelNames = [...]string{"address", "PTE", "PDE", "PDPTE", "PML4E", "PML5E"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", l)
}

// Reason says why a walk failed.
type Reason uint8

const (
	NotPresent   Reason = iota + 1 // an entry has P = 0
	ReservedBits                   // an entry sets bits reserved in this mode (§4.7: PFEC.RSVD)
	NonCanonical                   // a 4-level or 5-level address that is not canonical
	Beyond32Bits                   // an address above 4 GiB while paging is off, 32-bit or PAE
	Unreadable                     // the entry's guest-physical address is not guest memory
)

// Fault describes a failed translation: which entry stopped the walk,
// where it sits in guest-physical memory, and why. It holds no pointers,
// so Walk fills one without write barriers (VM-exit context).
type Fault struct {
	VA        uint64
	Mode      Mode
	Reason    Reason
	Level     Level  // LevelNone for NonCanonical and Beyond32Bits
	Entry     uint64 // the entry's value (NotPresent, ReservedBits)
	EntryAddr uint64 // its guest-physical address, or its index if InRegister
	// InRegister says the entry is one of PAE paging's PDPTE registers
	// (Regs.PDPTELoaded), not memory.
	InRegister bool
	Reserved   uint64 // the reserved bits that are set (ReservedBits)
}

func (f *Fault) Error() string {
	var b strings.Builder
	switch f.Reason {
	case NotPresent:
		fmt.Fprintf(&b, "%v %#x %s not present", f.Level, f.Entry, f.where())
	case ReservedBits:
		fmt.Fprintf(&b, "%v %#x %s sets reserved bits %#x", f.Level, f.Entry, f.where(), f.Reserved)
	case Unreadable:
		fmt.Fprintf(&b, "%v %s is not in guest memory", f.Level, f.where())
	case NonCanonical:
		bits := 47
		if f.Mode == Mode5Level {
			bits = 56
		}
		fmt.Fprintf(&b, "address %#x is not canonical (bits 63:%d must all equal bit %d)", f.VA, bits, bits)
	case Beyond32Bits:
		fmt.Fprintf(&b, "address %#x is beyond the 32-bit linear address space", f.VA)
	default:
		fmt.Fprintf(&b, "walk failed (reason %d)", f.Reason)
	}
	fmt.Fprintf(&b, " (translating %#x, %v)", f.VA, f.Mode)
	return b.String()
}

func (f *Fault) where() string {
	if f.InRegister {
		return fmt.Sprintf("in PDPTE register %d", f.EntryAddr)
	}
	return fmt.Sprintf("at %#x", f.EntryAddr)
}

// Memory is guest-physical memory as a walk reads it. Implementations
// must not allocate on success: a translation reads up to five entries.
type Memory interface {
	// Uint64 returns the little-endian quadword at gpa, which is 8-byte
	// aligned, or false if it is not guest memory. It must not allocate
	// (Walk runs in VM-exit context).
	Uint64(gpa uint64) (uint64, bool)
	// Read copies guest-physical memory at gpa into dst. It returns how
	// many bytes it copied and, if fewer than len(dst), why it stopped.
	Read(gpa uint64, dst []byte) (int, error)
}
