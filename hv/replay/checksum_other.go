//go:build !amd64

package replay

const haveCRC32Insn = false

func checksum(b *[RecordSize]byte) uint32 { return checksumTable(b) }

func checksumInsn(b *[RecordSize]byte) uint32 { return checksumTable(b) }
