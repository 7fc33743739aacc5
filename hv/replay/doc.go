// Package replay defines the log record that carries the primary's
// non-deterministic inputs to the backup: its layout, encoding, validation
// and printing, the landmark that says when a record applies, and a log
// file format for saving a log for offline replay.
//
// Every non-deterministic input of the primary guest becomes one record,
// time-stamped with a landmark (the count of synchronous VM exits so far,
// the guest RIP there, and the retired-branch count where a PMU exists),
// passed through the shared-memory ring of package hindsight/ringbuf; the
// backup applies each record when its own execution reaches the same
// landmark. Records are fixed-size so that they fit the ring's slots.
//
// # Record layout (layout version 2)
//
// A record is exactly [RecordSize] = 64 bytes, every integer
// little-endian, no pointers:
//
//	offset  size  field
//	0       1     Kind (1..7, see below; 0 is invalid, so a zeroed slot never decodes)
//	1       1     Size: port access size 1, 2 or 4 for KindPortIn, else 0
//	2       2     Port: the port for KindPortIn, else 0
//	4       4     CRC-32C (Castagnoli) of bytes 0-3 followed by bytes 8-63
//	              (the 60 bytes other than this field, in order)
//	8       8     Seq: the landmark, the count of synchronous VM exits (CPUID,
//	              I/O, HLT, RDTSC, MSR, interrupt window, PAUSE, ...) the guest
//	              has made so far, this one included
//	16      8     RIP: the guest RIP at that exit
//	24      8     Branches: the retired-branch count at that point where a PMU
//	              exists, else 0
//	32      8     Value
//	40      8     Value2
//	48      8     Value3
//	56      8     reserved, must be 0
//
// The payload by kind (fields not listed must be 0):
//
//	kind              Size/Port    Value                           Value2               Value3
//	1 KindRDTSC       0/0          TSC value returned to the guest -                    -
//	2 KindPortIn      1,2,4/port   value read (fits Size bytes)    -                    -
//	3 KindIRQ         0/0          PIC line raised, 0-15 (0 timer) interrupt requested  interrupt delivered
//	4 KindSerialIn    0/0          byte received on COM1, 0-255    interrupt requested  interrupt delivered
//	5 KindDigest      0/0          digest of the vCPU registers    of guest RAM         of the serial output so far
//	6 KindProgress    0/0          primary's host time, ns         -                    -
//	7 KindEnd         0/0          the guest's exit status         -                    -
//
// KindPortIn is for port reads that depend on the outside world (a PIT
// counter read, a real RTC). KindIRQ and KindSerialIn are the inputs that
// raise a line on the guest's PIC; the injection that follows is
// deterministic (both sides run the same injection logic after applying a
// landmark's records), so the record carries its outcome only as a check:
// "requested" is the interrupt the PIC asks for once the landmark's inputs
// are applied, "delivered" the one the guest was given at the VM entry
// after it (none while the guest cannot take it: IF=0, blocking by STI or
// MOV SS), each as a code: NoVector (0x100) or VectorCode(v) = 0x200 + v.
// The backup compares both with its own after the landmark's last such
// record, so a wrong input is caught at its own landmark rather than when
// the guest's path departs. Both codes are Unrecorded (0) in a record the
// primary had to write before the injection was decided (a landmark with
// more inputs than it holds back: a halted guest collecting masked ticks);
// the backup checks nothing for it. KindProgress carries no event: it lets the backup
// run up to a landmark when nothing else was logged. Several records may
// share a landmark; they are applied in log order.
//
// [Decode] accepts exactly the records this table describes: it checks the
// length, the CRC, then the fields ([Record.Validate]) and the reserved
// field, and reports the first bad one by name as a [*DecodeError]
// (errors.Is(err, [ErrMalformed])), e.g.
//
//	replay: record: bad CRC (stored 0x2ead1284, computed 0x2ead1283)
//	replay: record: unknown kind 9
//	replay: record: IRQ: line 16, must be <= 15
//	replay: record: IRQ: requested interrupt 0x20, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector
//
// A valid record has exactly one encoding, so Encode(Decode(b)) == b.
//
// Test vector: the record {Kind: KindPortIn, Size: 1, Port: 0x40,
// Seq: 1234, RIP: 0x100034, Value: 0x5c} encodes as
//
//	02 01 40 00 83 12 ad 2e  d2 04 00 00 00 00 00 00
//	34 00 10 00 00 00 00 00  00 00 00 00 00 00 00 00
//	5c 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
//	00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
//
// (CRC-32C 0x2ead1283) and prints as "#1234 rip=0x100034 PORTIN port=0x40
// size=1 value=0x5c".
//
// # Versioning
//
// [LayoutVersion] (2) numbers this record layout; any change to it,
// including a new kind or a meaning for the reserved bytes, bumps it. The
// ring header's own version (ringbuf.Version) covers the ring's layout
// only; the record layout travels in the ring's creation stamp, by this
// convention: stamp = LayoutVersion. The primary creates the ring with
// record size RecordSize and creation stamp [RingStamp] (= LayoutVersion),
// and the backup checks both with [CheckRing] after attaching, so sides
// built with different record layouts refuse to talk. The per-record ring
// stamps are not used by replay (each record carries its landmark) and
// stay free for lag control. A log file carries LayoutVersion in its
// header. Version 2 gave KindIRQ and KindSerialIn their interrupt codes
// (version 1 had Value2 and Value3 zero there).
//
// # Hot paths
//
// [Record.Encode], [Decode] and [Record.Validate] run in VM-exit context:
// they do not allocate (except to build an error), hold no pointers into
// the buffers they are given, and compute the CRC with hash/crc32 over a
// table made at package initialization (SSE4.2 where the CPU has it).
// [Record.String] and the log file functions allocate.
//
// # Log files
//
// [WriteLog] and [ReadLog] save and load a log for offline replay:
//
//	offset  size   field
//	0       8      magic "HSLOG\x00\x00\x01" (the last byte is the file format version)
//	8       4      record layout version (LayoutVersion)
//	12      4      record size (RecordSize)
//	16      8      record count n
//	24      4      CRC-32C of bytes 0-23
//	28      4      reserved, 0
//	32      64*n   the records, in log order, each as above
//
// The file is exactly 32 + 64*n bytes. ReadLog validates the header and
// every record and reports the first problem as a [*LogError] with the
// index and file offset of the bad or missing record (Index -1 for the
// header); a truncated file also matches io.ErrUnexpectedEOF.
package replay
