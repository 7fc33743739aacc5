package ept

import "errors"

// Bits of EPT paging-structure entries (SDM Vol. 3C §29.3.2, Tables 29-1 to
// 29-6). The same positions are used in PML4Es, PDPTEs, PDEs and PTEs; where a
// bit means something only in some of them, the comment says which.
const (
	// Read access: reads are allowed from the region the entry controls.
	Read uint64 = 1 << 0
	// Write access. Write without Read is an EPT misconfiguration.
	Write uint64 = 1 << 1
	// Execute access. With the "mode-based execute control for EPT"
	// VM-execution control set, this is execute access for supervisor-mode
	// linear addresses only.
	Execute uint64 = 1 << 2
	// MemTypeShift and MemTypeMask locate the EPT memory type, bits 5:3,
	// meaningful in leaf entries (PDPTE or PDE with PageSize, and PTEs).
	MemTypeShift        = 3
	MemTypeMask  uint64 = 7 << MemTypeShift
	// IgnorePAT, bit 6 of a leaf entry: use the EPT memory type alone, not
	// combined with the guest's PAT type (§29.3.7).
	IgnorePAT uint64 = 1 << 6
	// PageSize, bit 7: in a PDPTE it maps a 1-GByte page, in a PDE a
	// 2-MByte page; 0 means the entry references the next table. Ignored in
	// a PTE; reserved in a PML4E.
	PageSize uint64 = 1 << 7
	// Accessed, bit 8: set by the processor when the entry is used, if the
	// EPTP enables accessed and dirty flags.
	Accessed uint64 = 1 << 8
	// Dirty, bit 9 of a leaf entry: set by the processor on a write to the
	// page, if the EPTP enables accessed and dirty flags.
	Dirty uint64 = 1 << 9
	// UserExecute, bit 10: execute access for user-mode linear addresses,
	// used only when "mode-based execute control for EPT" is 1 (ignored
	// otherwise).
	UserExecute uint64 = 1 << 10
	// SuppressVE, bit 63 of a leaf entry: an EPT violation through this
	// entry is not converted into a virtualization exception (#VE).
	SuppressVE uint64 = 1 << 63

	// AddrMask selects bits 51:12, the physical address of the next table
	// or of the page (for 2-MByte and 1-GByte pages the low bits of this
	// range are reserved and must be 0).
	AddrMask uint64 = 0x000F_FFFF_FFFF_F000

	// PermMask selects the access-right bits of an entry.
	PermMask = Read | Write | Execute | UserExecute
)

// Page sizes an entry can map.
const (
	Size4K uint64 = 1 << 12
	Size2M uint64 = 1 << 21
	Size1G uint64 = 1 << 30
)

// Perm is a set of EPT access rights, using the entry bit positions
// (Read, Write, Execute, UserExecute).
type Perm uint16

// Access rights.
const (
	R   = Perm(Read)
	W   = Perm(Write)
	X   = Perm(Execute)
	UX  = Perm(UserExecute)
	RW  = R | W
	RX  = R | X
	RWX = R | W | X
)

// String returns a compact form such as "rwx", "r--" or "rwxu".
func (p Perm) String() string {
	b := [4]byte{'-', '-', '-', 'u'}
	if p&R != 0 {
		b[0] = 'r'
	}
	if p&W != 0 {
		b[1] = 'w'
	}
	if p&X != 0 {
		b[2] = 'x'
	}
	if p&UX == 0 {
		return string(b[:3])
	}
	return string(b[:])
}

// MemType is an EPT memory type (§29.3.7; encodings as for the PAT and MTRRs),
// optionally with IPAT (the entry's "ignore PAT" bit) or-ed in.
type MemType uint8

// Memory types. 2, 3 and 7 are reserved: a leaf entry with them is an EPT
// misconfiguration. The EPTP allows only UC and WB (and only those the CPU
// reports in IA32_VMX_EPT_VPID_CAP).
const (
	UC MemType = 0 // uncacheable
	WC MemType = 1 // write combining
	WT MemType = 4 // write through
	WP MemType = 5 // write protected
	WB MemType = 6 // write back

	// IPAT, or-ed into a MemType given to Map, sets the leaf's IgnorePAT
	// bit (it sits one bit above the type so that MemType<<3 is the entry's
	// bits 6:3).
	IPAT MemType = 8
)

// Type returns the memory type without the IPAT flag.
func (m MemType) Type() MemType { return m & 7 }

func (m MemType) valid() bool {
	switch m.Type() {
	case UC, WC, WT, WP, WB:
		return m&^(IPAT|7) == 0
	}
	return false
}

// String returns the usual abbreviation ("WB", "UC", ...), with "+IPAT" when
// the flag is set.
func (m MemType) String() string {
	var s string
	switch m.Type() {
	case UC:
		s = "UC"
	case WC:
		s = "WC"
	case WT:
		s = "WT"
	case WP:
		s = "WP"
	case WB:
		s = "WB"
	default:
		s = "MT?"
	}
	if m&IPAT != 0 {
		s += "+IPAT"
	}
	return s
}

// EPTP is the extended-page-table pointer, the 64-bit VMCS field that names
// the PML4 table (SDM Vol. 3C §25.6.11):
//
//	2:0   EPT paging-structure memory type (0 = UC, 6 = WB)
//	5:3   EPT page-walk length minus 1 (3 = 4-level)
//	6     enable accessed and dirty flags for EPT
//	7     enable enforcement of access rights for supervisor shadow-stack pages
//	11:8  reserved (0)
//	51:12 physical address of the 4-KByte aligned EPT PML4 table
//	63:52 reserved (0)
type EPTP uint64

// EPTP fields.
const (
	EPTPMemTypeMask      uint64 = 7
	EPTPWalkLengthShift         = 3
	EPTPWalkLengthMask   uint64 = 7 << EPTPWalkLengthShift
	EPTPAccessedDirty    uint64 = 1 << 6
	EPTPSupervisorSSS    uint64 = 1 << 7
	WalkLength4                 = 4
	eptpWalkLength4Field        = (WalkLength4 - 1) << EPTPWalkLengthShift
)

// Errors returned by this package.
var (
	ErrAlign     = errors.New("ept: address or size not 4 KiB aligned")
	ErrRange     = errors.New("ept: address beyond the 48-bit guest-physical space or the host's physical-address width")
	ErrPerm      = errors.New("ept: access rights would be an EPT misconfiguration (none, write without read, or execute-only without the capability)")
	ErrMemType   = errors.New("ept: memory type reserved or not supported")
	ErrNoMemory  = errors.New("ept: out of table pages")
	ErrNoAlloc   = errors.New("ept: no page allocator")
	ErrNotMapped = errors.New("ept: guest-physical address not mapped")
)

// MakeEPTP returns the EPTP for a 4-level walk of the tables rooted at pml4
// with paging-structure memory type mt (UC or WB) and, if ad is set, accessed
// and dirty flags enabled (only where Caps.AccessedDirty).
func MakeEPTP(pml4 uint64, mt MemType, ad bool) (EPTP, error) {
	if pml4&^AddrMask != 0 {
		return 0, ErrAlign
	}
	if mt != UC && mt != WB {
		return 0, ErrMemType
	}
	v := pml4 | uint64(mt) | eptpWalkLength4Field
	if ad {
		v |= EPTPAccessedDirty
	}
	return EPTP(v), nil
}

// PML4 returns the physical address of the PML4 table.
func (e EPTP) PML4() uint64 { return uint64(e) & AddrMask }

// MemType returns the paging-structure memory type (bits 2:0).
func (e EPTP) MemType() MemType { return MemType(uint64(e) & EPTPMemTypeMask) }

// WalkLength returns the page-walk length (bits 5:3 plus 1).
func (e EPTP) WalkLength() int {
	return int((uint64(e)&EPTPWalkLengthMask)>>EPTPWalkLengthShift) + 1
}

// AccessedDirty reports bit 6, accessed and dirty flags enabled.
func (e EPTP) AccessedDirty() bool { return uint64(e)&EPTPAccessedDirty != 0 }

// MSRVMXEPTVPIDCap is IA32_VMX_EPT_VPID_CAP (SDM Vol. 3D Appendix A.10).
const MSRVMXEPTVPIDCap = 0x48C

// Caps are the EPT features of the CPU that the builder and EPTP depend on.
type Caps struct {
	ExecuteOnly   bool // bit 0: execute-only translations (bits 2:0 = 100b) allowed
	WalkLength4   bool // bit 6: page-walk length 4
	UC            bool // bit 8: EPTP memory type UC allowed
	WB            bool // bit 14: EPTP memory type WB allowed
	Pages2M       bool // bit 16: PDE may map a 2-MByte page
	Pages1G       bool // bit 17: PDPTE may map a 1-GByte page
	InvEPT        bool // bit 20: INVEPT supported
	AccessedDirty bool // bit 21: accessed and dirty flags for EPT
	InvEPTSingle  bool // bit 25: single-context INVEPT
	InvEPTAll     bool // bit 26: all-context INVEPT

	// PhysAddrBits is the host's physical-address width (CPUID
	// 80000008H:EAX[7:0]); 0 means 52. Addresses at or beyond it are
	// reserved bits in an entry.
	PhysAddrBits uint8
}

// CapsFromMSR decodes IA32_VMX_EPT_VPID_CAP. PhysAddrBits is left 0.
func CapsFromMSR(v uint64) Caps {
	bit := func(n uint) bool { return v&(1<<n) != 0 }
	return Caps{
		ExecuteOnly:   bit(0),
		WalkLength4:   bit(6),
		UC:            bit(8),
		WB:            bit(14),
		Pages2M:       bit(16),
		Pages1G:       bit(17),
		InvEPT:        bit(20),
		AccessedDirty: bit(21),
		InvEPTSingle:  bit(25),
		InvEPTAll:     bit(26),
	}
}

func (c Caps) physLimit() uint64 {
	n := c.PhysAddrBits
	if n == 0 || n > 52 {
		n = 52
	}
	return 1 << n
}

// InvEPTType is the INVEPT type operand (register operand of INVEPT).
type InvEPTType uint64

// INVEPT types (SDM Vol. 3C, INVEPT in the VMX instruction reference).
const (
	// InvEPTSingleContext invalidates the guest-physical and combined
	// mappings derived from the EPTP in the descriptor.
	InvEPTSingleContext InvEPTType = 1
	// InvEPTAllContext invalidates mappings derived from every EPTP.
	InvEPTAllContext InvEPTType = 2
)

// InvEPTDescriptor is the 128-bit INVEPT descriptor in memory: bits 63:0 the
// EPTP (used by the single-context type), bits 127:64 reserved, must be 0.
//
// INVEPT itself is an instruction the vmx package wraps in assembly. The
// hypervisor executes it, on the CPU that runs the guest, after a change for
// which Tables.NeedsInvalidation reports true and before the next VM entry:
//
//	d := ept.InvEPTDescriptor{EPTP: uint64(eptp)}
//	// vmx.InvEPT(ept.InvEPTSingleContext, &d)   (assembly, written later)
//	t.Invalidated()
type InvEPTDescriptor struct {
	EPTP     uint64
	Reserved uint64
}
