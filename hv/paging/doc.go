// Package paging translates a guest's virtual (linear) addresses to
// guest-physical addresses by walking the guest's own page tables in guest
// memory, as the processor does, in every x86 paging mode: paging off,
// 32-bit paging (with 4-MByte pages under CR4.PSE), PAE paging, and 4-level
// and 5-level paging (with 2-MByte and 1-GByte pages).
//
// The debugger uses it to read a replica's memory by the addresses gdb
// speaks. A walk only reads: it never sets accessed or dirty flags, so
// looking at a replaying guest cannot change it. A successful translation
// allocates nothing.
//
// Segmentation is not applied: addresses are linear addresses (in 64-bit
// mode the two are the same except for FS and GS, whose bases gdb adds
// itself).
//
// References are to the Intel SDM, Vol. 3A, Chapter 4 "Paging" (2023 and
// later editions): §4.1.1 selects the mode, §4.3 is 32-bit paging, §4.4 PAE
// paging, §4.5 4-level and 5-level paging, §4.6 access rights, and §4.7 the
// page-fault error code that names reserved-bit violations.
package paging
