package replay

// haveCRC32Insn: CPUID.1:ECX.SSE4_2[bit 20], which brings the CRC32
// instruction (CRC-32C; SDM Vol. 2A, CRC32).
var haveCRC32Insn = cpuidECX1()&(1<<20) != 0

func cpuidECX1() uint32

// checksum is the CRC-32C of an encoded record less its CRC field: with
// the CRC32 instruction where the CPU has it (checksumInsn), else by
// table (checksumTable). In assembly so that the primary's log path
// makes one call for it.
func checksum(b *[RecordSize]byte) uint32

// checksumInsn is checksum with the CRC32 instruction.
func checksumInsn(b *[RecordSize]byte) uint32
