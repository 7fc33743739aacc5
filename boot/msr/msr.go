// Package msr reads and writes model-specific registers (RDMSR, WRMSR; SDM
// Vol. 2B). Everything in hindsight runs at CPL0, so any package may call
// them; an MSR the CPU lacks raises #GP (reported as SIGSEGV). Both are
// leaf assembly routines: safe in trap, syscall and VM-exit context.
package msr

// Read executes RDMSR.
func Read(msr uint32) uint64

// Write executes WRMSR.
func Write(msr uint32, v uint64)

// IA32_PAT is the page attribute table (SDM Vol. 3A §12.12.2); the VMCS
// host-state area takes the host's.
const IA32_PAT = 0x277
