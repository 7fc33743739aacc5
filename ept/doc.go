// Package ept builds and walks the extended page tables (EPT) that translate
// a guest's physical addresses to host-physical addresses.
//
// References are to the Intel SDM, Vol. 3C, in the numbering of the 2023 and
// later editions (older editions: EPT is §28.2, the EPTP §24.6.11, the
// EPT-violation exit qualification Table 27-7):
//
//   - §29.3.2 "EPT Translation Mechanism": a 4-level walk (PML4 → PDPT → PD →
//     PT), each table one 4 KiB page of 512 8-byte entries, indexed by GPA
//     bits 47:39, 38:30, 29:21, 20:12.
//   - §29.3.2 Tables 29-1 to 29-6: entry formats (bit constants in entry.go).
//   - §29.3.3 "EPT-Induced VM Exits": misconfigurations (W without R,
//     execute-only without the capability, reserved memory types 2, 3, 7,
//     reserved bits, bits above the physical-address width) and violations.
//     The builder never writes a misconfigured entry.
//   - §29.3.7 "EPT and Memory Typing": the memory type of a guest access is
//     the EPT memory type of the leaf entry (bits 5:3), combined with the
//     guest's PAT type unless "ignore PAT" (bit 6) is set; accesses to the EPT
//     tables themselves use the EPTP memory type.
//   - §25.6.11 "Extended-Page-Table Pointer (EPTP)": see MakeEPTP.
//   - §28.2.1 Table 28-7 "Exit Qualification for EPT Violations": see Violation.
//   - §29.4.3 and the INVEPT reference (Vol. 3C ch. 31): see InvEPTDescriptor.
//
// # Memory layout
//
// The primary guest's RAM lives at host-physical A, the backup's at
// A + OFFSET (the offset scheme of the Sesta paper, seed 003). Each guest has
// its own Tables: the primary maps GPA x to A + x, the backup GPA x to
// A + OFFSET + x, so the backup cannot tell it runs elsewhere. Build does
// this for a RAM size with holes (e.g. an MMIO window left unmapped so every
// access exits with an EPT violation).
//
// # Allocation
//
// Table pages come from an injected PageAlloc, so the same code runs over
// fake physical memory (Arena) in host tests and over real frames in the
// hypervisor. Map, Unmap, Protect and Translate allocate nothing from the Go
// heap; the only memory they take is table pages from the PageAlloc. Large
// pages (1 GiB, 2 MiB) are used wherever GPA and HPA are both aligned and the
// CPU supports them (Caps); a large page is split into a table of smaller
// pages when a change touches only part of it, and a table whose entries all
// become not present is freed.
//
// Tables is not safe for concurrent use. After any change that removes or
// restricts a translation (Unmap, Protect, remapping, splitting), the caller
// must execute INVEPT before resuming a guest that may use the old
// translation; NeedsInvalidation reports whether that is owed.
package ept
