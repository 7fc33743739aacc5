// Package replay defines the log between a primary and its backup: the
// record that carries each non-deterministic input of the primary (its
// layout, encoding, validation and printing), the landmark that says when
// a record applies, and the [Log], the shared-memory ring of records with
// the primary's [Writer] end, the backup's [Reader] end and the lag, and
// the backup's [History] of the records it consumed, from which the
// Reader replays them again after [Reader.Rewind] (to a snapshot's
// position).
//
// Every non-deterministic input of the primary guest becomes one record,
// time-stamped with a landmark, passed through the ring of package
// hindsight/ringbuf; the backup applies each record when its own execution
// reaches the same landmark. Records are fixed-size so that they fit the
// ring's slots.
//
// # Landmarks
//
// A landmark is (Seq, Count, RIP): Seq counts the guest's synchronous VM
// exits (CPUID, I/O, HLT, RDTSC, MSR access, interrupt window, PAUSE, ...),
// Count is the guest's progress since exit Seq on the platform's counter,
// RIP the guest RIP there. Count is 0 at the synchronous exit itself; a
// landmark with Count > 0 is an asynchronous stop, where the primary took
// an input between two synchronous exits. What Count counts depends on the
// clock the hypervisor runs (hv's clock.go):
//
//	clock   Count is                                          where
//	exit    always 0: inputs reach the guest only at           anywhere
//	        synchronous exits
//	slice   guest instructions since the exit, in multiples    Bochs 2.7 with two CPUs
//	        of 5 (VM entries aligned to Bochs' 5-instruction    (self-tested at boot)
//	        CPU slices; a REP iteration counts one)
//	branch  retired branches in guest mode since the exit       CPUs with a PMU
//	        (IA32_PERFEVTSELx, BR_INST_RETIRED)
//
// # Record layout (layout version 4)
//
// A record is exactly [RecordSize] = 64 bytes, every integer
// little-endian, no pointers:
//
//	offset  size  field
//	0       1     Kind (1..8, see below; 0 is invalid, so a zeroed slot never decodes)
//	1       3     reserved, must be 0
//	4       4     CRC-32C (Castagnoli) of bytes 0-3 followed by bytes 8-63
//	8       8     Seq   } the landmark
//	16      8     RIP   }
//	24      8     Count }
//	32      8     Value
//	40      8     Value2
//	48      8     Value3
//	56      8     reserved, must be 0
//
// The payload by kind (fields not listed must be 0):
//
//	kind            Count   Value                         Value2               Value3
//	1 KindRDTSC     0       TSC value returned            -                    -
//	2 KindClock     any     device time (PIT ticks)       interrupt requested  interrupt delivered
//	3 KindSerialIn  any     byte received on COM1         interrupt requested  interrupt delivered
//	4 KindDigest    any     digest of the vCPU state      of guest RAM         of devices and output
//	5 KindProgress  any     primary's host time, ns       -                    -
//	6 KindEnd       any     the guest's exit status       EndCause (1-7)       -
//	7 KindPosition  >= 1    the guest's RCX               register fingerprint -
//	8 KindFinal     any     index i (0-13)                final state word 2i  word 2i+1
//
// The inputs (KindClock, KindSerialIn) change the guest's devices: device
// time (the devices are pure functions of their state, the guest's
// accesses, the time and the bytes received) and received bytes. What
// follows from them is deterministic, since both sides run the same
// device models and the same injection logic; the records carry the
// outcome only as a check: "requested" is the interrupt the PIC asks for
// once the landmark's inputs are applied, "delivered" the one the guest
// was given at the VM entry after it (none while the guest cannot take
// it), each as a code: NoVector (0x100) or VectorCode(v) = 0x200 + v. The
// backup compares both with its own, so a wrong input is caught at its own
// landmark. Both codes are Unrecorded (0) in a record the primary had to
// write before its injection was decided; the backup checks nothing then.
// The primary encodes an input record straight into its ring slot and
// leaves it unpublished ([Writer.Stage]) until the outcome is known
// ([Writer.SetOutcome]); [Writer.Publish] computes the CRCs and hands the
// records over with one store. It publishes them Unrecorded rather than
// wait on itself when the log fills meanwhile.
//
// The primary ends its log with its final digest (where the guest state
// can be read), the FinalRecords KindFinal records of its [FinalState]
// (registers, control registers, and the position just before the end on
// the clock), and the END record, all at the landmark where it ended. An
// END's cause, with its status, says whether the end was a failure
// ([EndCause.Failure]): a triple fault, a non-zero exit status, a kernel
// panic seen on the console (EndPanic, at the OUT that completed the
// line "Kernel panic - not syncing"), an unhandled exit, a failed VM
// entry.
//
// A KindPosition record opens every asynchronous stop: the backup stops
// its guest at (Seq, Count), checks RIP, RCX and the register fingerprint,
// then applies the records that follow at the same landmark. Several
// records may share a landmark; they apply in log order.
//
// [Decode] accepts exactly the records this table describes and reports
// the first bad field by name as a [*DecodeError] (errors.Is(err,
// [ErrMalformed])), e.g.
//
//	replay: record: bad CRC (stored 0x2ead1284, computed 0x2ead1283)
//	replay: record: unknown kind 9
//	replay: record: RDTSC: count 5, must be 0 (only at a synchronous exit)
//
// A valid record has exactly one encoding, so Encode(Decode(b)) == b.
//
// # Versioning
//
// [LayoutVersion] (4) numbers this record layout; any change to it bumps
// it. The ring's creation stamp is [RingStamp] (= LayoutVersion), which
// [CheckRing] checks. Version 4 added KindFinal and EndPanic. Version 3 replaced the port-read records with device
// time (KindClock), added the counter (Count, formerly a branch count that
// was always 0), KindPosition and the end cause, and dropped the timer's
// own IRQ record (the PIT model raises it from the device time).
//
// # Hot paths
//
// [Record.Encode], [Decode], [Check], [Record.Validate], [Writer.Write],
// [Reader.Head] and [Reader.Consume] (live or rewound) run in VM-exit
// context: they do not allocate (except Decode to build an error) and
// compute the CRC with the CRC32 instruction where the CPU has SSE4.2.
// [Record.String] allocates.
package replay
