// Package image loads a guest kernel into guest RAM and says how to enter
// it, for the formats hindsight runs:
//
//   - multiboot v1 kernels (Multiboot Specification 0.6.96): ELF32, ELF64
//     with a 32-bit entry, and the a.out kludge (header flags bit 16); entered
//     in 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX = a
//     multiboot information structure built in guest RAM;
//   - Linux (Documentation/arch/x86/boot.rst): a bzImage of boot protocol
//     2.10 or later, entered at its 64-bit entry when it has one (xloadflags
//     XLF_KERNEL_64), else at its 32-bit entry; and an uncompressed vmlinux
//     (ELF64), entered at e_entry in 64-bit mode; both with a zero page
//     (struct boot_params) built in guest RAM;
//   - the flat 64-bit format of hindsight's test guest (guest/testguest
//     documents the contract), which no header identifies: name it in
//     Spec.Format.
//
// Guest RAM is a []byte holding guest-physical [0, len). Load clears it
// first, so two replicas loaded from the same Spec start bit-identical. The
// package knows nothing of VT-x: Entry is architectural state, and the
// hypervisor turns it into VMCS guest state.
//
// # Guest-physical layout
//
// Below 1 MiB (the e820 map and the multiboot memory map call [0, 0x9FC00)
// RAM and [0x9FC00, 0x100000) reserved):
//
//	0x00500  GDT (3 or 4 descriptors)
//	0x01000  flat64 and Linux 64-bit: PML4; PDPT at 0x2000; page directories
//	         from 0x3000 (flat64: one, 1 GiB; Linux: four, 4 GiB), 2 MiB pages
//	0x01000  multiboot: the information structure, its memory map, strings
//	         and module list, up to 0x70000
//	0x07000  Linux: the zero page (boot_params)
//	0x20000  Linux: the command line (up to the kernel's cmdline_size)
//	0x70000  [0x70000, 0x80000) is left free: RSP = 0x80000 at entry in every
//	         format (the multiboot and Linux protocols leave the stack to the
//	         kernel; a fixed value keeps replicas identical)
//
// Kernels load at 1 MiB or above: multiboot and vmlinux segments at their
// physical addresses, a bzImage's protected-mode code at 0x100000, the flat
// image at 0x100000. A multiboot kernel's modules follow its highest
// address, page-aligned; a Linux initrd goes to the top of RAM (below the
// kernel's initrd_addr_max), clear of the kernel's init_size.
package image

import (
	"errors"
	"fmt"
	"strings"
)

// Format is a kernel file format.
type Format uint8

const (
	Unknown        Format = iota
	Flat64                // hindsight's flat 64-bit test-guest format (named, never detected)
	MultibootELF32        // multiboot v1, ELF32
	MultibootELF64        // multiboot v1, ELF64 with a 32-bit entry
	MultibootAOut         // multiboot v1, a.out kludge (header flags bit 16)
	LinuxBzImage          // Linux bzImage, boot protocol 2.10 or later
	LinuxVmlinux          // Linux vmlinux: ELF64, 64-bit entry
)

var formatNames = [...]string{
	Unknown:        "unknown",
	Flat64:         "flat 64-bit image",
	MultibootELF32: "multiboot ELF32",
	MultibootELF64: "multiboot ELF64",
	MultibootAOut:  "multiboot a.out kludge",
	LinuxBzImage:   "Linux bzImage",
	LinuxVmlinux:   "Linux vmlinux (ELF64)",
}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Multiboot reports whether f is a multiboot kernel (it takes modules).
func (f Format) Multiboot() bool {
	return f == MultibootELF32 || f == MultibootELF64 || f == MultibootAOut
}

// Linux reports whether f is a Linux kernel (it takes an initrd).
func (f Format) Linux() bool { return f == LinuxBzImage || f == LinuxVmlinux }

// Mode is the processor mode at entry.
type Mode uint8

const (
	// Protected32: 32-bit protected mode, paging off (CR0.PE=1, CR0.PG=0,
	// EFER=0). Under VT-x this needs "unrestricted guest".
	Protected32 Mode = iota + 1
	// Long64: 64-bit mode, paging on with identity-mapped tables at CR3
	// (CR0.PE|PG, CR4.PAE, EFER.LME|LMA: the VM-entry control "IA-32e mode
	// guest").
	Long64
)

func (m Mode) String() string {
	switch m {
	case Protected32:
		return "32-bit protected mode, paging off"
	case Long64:
		return "64-bit mode, paging on"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Segment is a segment register's hidden state at entry: flat (base 0,
// limit 4 GiB - 1), described by a GDT entry Load wrote.
type Segment struct {
	Selector uint16
	Base     uint64
	Limit    uint32 // byte granular: 0xFFFFFFFF
	// AR is the access rights in the layout of the VMCS guest segment
	// access-rights fields (SDM Vol. 3C §25.4.1, Table 25-2): descriptor
	// bits 47:40 (type, S, DPL, P) in bits 7:0 and 55:52 (AVL, L, D/B, G)
	// in bits 15:12, with the accessed bit set (VM entry requires it for
	// CS and for usable data segments, §27.3.1.2).
	AR uint32
}

// Entry is the processor state a guest starts in. Registers not named here
// are zero; RFLAGS is 0x2 (interrupts off); IDTR is undefined for every
// format (base 0, limit 0 will do). The control registers hold the bits the
// protocol asks for; the hypervisor adds the bits VMX operation fixes
// (IA32_VMX_CR0_FIXED0/CR4_FIXED0), except CR0.PE and CR0.PG in
// Protected32, which "unrestricted guest" lets stay as given.
type Entry struct {
	Mode                Mode
	RIP, RSP, RFLAGS    uint64
	RAX, RBX, RSI, RDI  uint64
	CR0, CR3, CR4, EFER uint64
	GDTBase             uint64
	GDTLimit            uint16
	CS                  Segment
	DS                  Segment // also SS, ES, FS, GS
}

// Module is a file handed to the guest: a multiboot module, with its
// string (by convention the file name, then arguments).
type Module struct {
	Cmdline string
	Data    []byte
}

// Spec says what to load.
type Spec struct {
	Name    string // the kernel's name, for messages
	Format  Format // Unknown: detect from Kernel's headers; Flat64 must be named
	Kernel  []byte
	Cmdline string    // the kernel's command line (multiboot: the whole string, file name first by convention)
	Modules []Module  // multiboot kernels only
	Initrd  []byte    // Linux only
	Args    [2]uint64 // Flat64 only: RDI, RSI at entry
}

// Identity hashes what makes the guest what it is: the kernel, its
// command line, its modules and initrd (FNV-1a, 64 bits). A capture
// file records it, so that a replay can say for which guest it was made.
func (s *Spec) Identity() uint64 {
	h := uint64(0xcbf29ce484222325)
	add := func(b []byte) {
		for _, x := range b {
			h = (h ^ uint64(x)) * 0x100000001b3
		}
		h = (h ^ uint64(len(b))) * 0x100000001b3
	}
	add(s.Kernel)
	add([]byte(s.Cmdline))
	for _, m := range s.Modules {
		add(m.Data)
		add([]byte(m.Cmdline))
	}
	add(s.Initrd)
	return h
}

// Region is a range of guest-physical memory Load filled or set aside.
type Region struct {
	What       string
	Start, End uint64 // [Start, End)
}

func (r Region) String() string {
	return fmt.Sprintf("[%#x, %#x) %s (%s)", r.Start, r.End, r.What, size(r.End-r.Start))
}

// Report says what Load did: one Region per thing placed, in address
// order, and notes on requests it could not honour in full.
type Report struct {
	Format  Format
	Entry   string // how the kernel is entered, for one console line
	Regions []Region
	Notes   []string
}

// Error is a kernel that cannot be loaded: Name is the kernel's name, Msg
// says what is wrong and, where it helps, what to do.
type Error struct {
	Name string
	Msg  string
}

func (e *Error) Error() string {
	if e.Name == "" {
		return "image: " + e.Msg
	}
	return "image: " + e.Name + ": " + e.Msg
}

func errorf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// named sets the kernel's name on an *Error.
func named(err error, name string) error {
	var e *Error
	if errors.As(err, &e) && e.Name == "" {
		e.Name = name
	}
	return err
}

// Detect returns the format of a kernel file from its headers, with an
// error saying what is wrong for a file in no format Load accepts
// (including a known format with bad headers). It never returns Flat64.
func Detect(kernel []byte) (Format, error) {
	k, err := parse(kernel)
	if err != nil {
		return Unknown, err
	}
	return k.format(), nil
}

// kernel is a parsed kernel file, ready to load.
type kernel interface {
	format() Format
	load(m *mem, s *Spec) (Entry, error)
}

func parse(b []byte) (kernel, error) {
	if len(b) == 0 {
		return nil, errorf("the file is empty")
	}
	if isBzImage(b) {
		return parseBzImage(b)
	}
	mb, err := findMultiboot(b)
	if err != nil {
		return nil, err
	}
	if mb != nil {
		return parseMultiboot(b, mb)
	}
	if isELF(b) {
		e, err := parseELF(b)
		if err != nil {
			return nil, err
		}
		if e.class64 {
			return parseVmlinux(b, e)
		}
		return nil, errorf("an ELF32 file without a multiboot header in its first %d bytes: hindsight cannot tell how to enter it (a multiboot kernel needs the header; see the Multiboot Specification §3.1)", mbSearchLen)
	}
	return nil, unknownFormat(b)
}

// unknownFormat names what the file looks like, when that helps.
func unknownFormat(b []byte) error {
	var what string
	switch {
	case hasPrefix(b, "\x1f\x8b"):
		what = "a gzip file (a compressed initramfs? give it with initrd=)"
	case hasPrefix(b, "070701"), hasPrefix(b, "070702"):
		what = "a cpio archive (an initramfs? give it with initrd=)"
	case hasPrefix(b, "\xfd7zXZ\x00"):
		what = "an XZ file (a compressed kernel must be a bzImage)"
	case hasPrefix(b, "\x28\xb5\x2f\xfd"):
		what = "a zstd file (a compressed kernel must be a bzImage)"
	case hasPrefix(b, "MZ"):
		what = "a PE/EFI file without a Linux setup header"
	default:
		n := min(len(b), 8)
		what = fmt.Sprintf("first bytes % x", b[:n])
	}
	return errorf("unknown kernel format: %s; hindsight loads a bzImage (\"HdrS\" at 0x202), a multiboot v1 kernel (header in the first %d bytes) or an ELF64 vmlinux", what, mbSearchLen)
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// Load clears ram (guest-physical [0, len(ram))), loads the kernel s
// describes and what goes with it, and returns the entry state and a report
// of what went where.
func Load(ram []byte, s Spec) (Entry, Report, error) {
	var k kernel
	switch s.Format {
	case Unknown:
		var err error
		if k, err = parse(s.Kernel); err != nil {
			return Entry{}, Report{}, named(err, s.Name)
		}
	case Flat64:
		k = flat64{s.Kernel}
	default:
		// A named format must still match the headers.
		var err error
		if k, err = parse(s.Kernel); err != nil {
			return Entry{}, Report{}, named(err, s.Name)
		}
		if k.format() != s.Format {
			return Entry{}, Report{}, &Error{s.Name, fmt.Sprintf("named as a %s, but its headers say %s", s.Format, k.format())}
		}
	}
	f := k.format()
	if err := checkSpec(f, &s); err != nil {
		return Entry{}, Report{}, named(err, s.Name)
	}
	if len(ram) < minRAM {
		return Entry{}, Report{}, &Error{s.Name, fmt.Sprintf("guest RAM is %s; hindsight needs at least %s to load a kernel at 1 MiB", size(uint64(len(ram))), size(minRAM))}
	}
	clear(ram)
	m := &mem{ram: ram}
	e, err := k.load(m, &s)
	if err != nil {
		return Entry{}, Report{}, named(err, s.Name)
	}
	e.RFLAGS, e.RSP = rflagsReserved, stackTop
	r := Report{Format: f, Regions: m.sortedRegions(), Notes: m.notes}
	r.Entry = fmt.Sprintf("%s at %#x", e.Mode, e.RIP)
	return e, r, nil
}

// checkSpec refuses inputs the format has no place for.
func checkSpec(f Format, s *Spec) error {
	var bad []string
	if !f.Multiboot() && len(s.Modules) > 0 {
		bad = append(bad, "modules (only a multiboot kernel takes them)")
	}
	if !f.Linux() && s.Initrd != nil {
		bad = append(bad, "an initrd (only Linux takes one)")
	}
	if f == Flat64 && s.Cmdline != "" {
		bad = append(bad, "a command line (the flat format has none: its arguments are RDI and RSI)")
	}
	if f != Flat64 && s.Args != [2]uint64{} {
		bad = append(bad, "RDI/RSI arguments (only the flat format takes them)")
	}
	if len(bad) > 0 {
		return errorf("a %s cannot take %s", f, strings.Join(bad, ", nor "))
	}
	return nil
}

// size prints a byte count for people.
func size(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
