// Package capture is the capture file format: what hindsight writes when
// a primary fails (the backup's oldest snapshot, the log from there to the
// failure, the failure), and what an offline replay boots from.
//
// The format is written once, front to back, with no seeking (it goes out
// over a serial line), and read either from a stream (tools/capsave, which
// finds where one capture ends and the next begins) or from memory (a
// multiboot module in ring 0). Every integer is little-endian. It uses the
// standard library and hv/replay only, so the hypervisor can use it in
// ring 0 under the stock Go runtime.
//
// # Layout (format version 2)
//
// A capture is a header, then four sections in this order: STATE, MEMORY,
// LOG, END.
//
//	header      1024 bytes (HeaderSize), ends with its own CRC-32C
//	STATE       the machine state blob, opaque here (hv encodes it)
//	MEMORY      guest RAM at the snapshot: the non-zero pages, deflated
//	LOG         the log records from the snapshot to the failure, deflated
//	END         the total length and a CRC-32C of everything before END
//
// The header (offsets in bytes; text fields are NUL-padded, strings
// longer than the field are cut):
//
//	off  size  field
//	0    8     magic "\x89HSC\r\n\x1a\n": the high bit, CR LF, ^Z and LF
//	           show a line that strips bit 7 or translates line ends
//	8    2     format version (2; version 1 stored LOG plain, and is
//	           refused)
//	10   2     header size (1024); stays at this offset in every version
//	12   4     flags (0)
//	16   8     guest RAM size in bytes
//	24   8     STATE payload length in bytes
//	32   8     number of LOG records
//	40   8     log ordinal of the first LOG record
//	48   1     clock (0 exit, 1 slice, 2 branch: hv.ClockKind)
//	49   1     number of CPUID entries used (0-16)
//	50   6     reserved (0)
//	56   8     snapshot landmark Seq
//	64   8     snapshot landmark Count
//	72   8     snapshot landmark RIP
//	80   8     snapshot total progress (the clock's counter since start)
//	88   32    CR0, CR3, CR4, IA32_EFER at the snapshot (8 bytes each)
//	120  24    digests at the snapshot: cpu, ram, devices (8 bytes each)
//	144  8     hash of the guest's output up to the snapshot
//	152  8     bytes of guest output up to the snapshot
//	160  4     failure cause (replay.EndCause)
//	164  4     failure exit status
//	168  24    failure landmark Seq, Count, RIP (8 bytes each)
//	192  24    the primary's final digests: cpu, ram, devices
//	216  8     guest image hash (kernel + initrd + command line)
//	224  8     guest command line hash
//	232  64    kernel name
//	296  128   failure text
//	424  32    hindsight build id
//	456  384   CPUID table: 16 entries of 24 bytes: leaf, subleaf, EAX,
//	           EBX, ECX, EDX (4 bytes each); unused entries are 0
//	840  180   reserved (0)
//	1020 4     CRC-32C (Castagnoli) of bytes 0-1019
//
// Each section is a 16-byte section header, the payload, and a 16-byte
// section trailer:
//
//	section header:  0 tag (4 ASCII bytes: "STAT", "MEM ", "LOG ", "END ")
//	                 4 flags (uint32; bit 0: the payload is chunked)
//	                 8 payload length (uint64; 0 if chunked: not known
//	                   when the section starts)
//	payload
//	section trailer: 0 payload length in bytes as stored (uint64)
//	                 8 item count (uint32: pages for MEMORY, records for
//	                   LOG, 0 for STATE and END)
//	                 12 CRC-32C of the payload as stored (uint32)
//
// STATE: the header's STATE length of bytes, plain.
//
// MEMORY and LOG are chunked (flag bit 0 set, header length 0): each
// chunk is its length n (uint32, 1 to 65536), the CRC-32C of its data
// (uint32) and n bytes of data; a chunk of length 0 (and CRC 0) ends the
// payload. The chunks' data, concatenated, is one DEFLATE stream (RFC
// 1951, compress/flate at BestSpeed) per section, ending with the
// section's last chunk. A reader checks each chunk's CRC before it
// inflates the chunk's data, so a flipped bit in a chunk is a chunk CRC
// mismatch (the section, the chunk's offset and its index).
//
// MEMORY: the stream is the pages: each page is its page frame number
// (uint64, guest-physical address / 4096, below guest RAM size / 4096,
// strictly ascending) and its 4096 bytes. Pages that are all zero are left
// out: a restore starts from zeroed RAM. The trailer counts the pages.
//
// LOG: the stream is the header's record count of log records, 64 bytes
// each as hv/replay encodes them (each with its own CRC, checked on
// reading), and nothing after them. The trailer counts the records. The
// records deflate well: a timer-driven guest's log of POSITION, CLOCK,
// RDTSC and DIGEST records to about a quarter (TestLogCompression).
//
// END: a 16-byte payload: the offset of the END section header from the
// start of the capture (uint64: the length of everything before END),
// the CRC-32C of those bytes (uint32) and 0 (uint32). The capture ends
// with END's trailer: a capture is that offset + 48 bytes long.
//
// A reader refuses, with an [*Error] that names the problem: a stream
// that does not start with the magic, another format version, a header
// CRC mismatch, a section out of order, a section or chunk CRC mismatch
// (the section, the offset), a truncated capture (the section, the bytes
// expected and got), a malformed log record (its index, and the offset of
// the chunk it ends in), a compressed stream that is corrupt or holds
// fewer or more than its items, a page outside guest RAM or out of order,
// and bytes after the end ([Read] only).
package capture
