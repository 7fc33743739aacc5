// Package ringbuf is the shared-memory record channel between the primary
// and the backup: a single-producer/single-consumer ring of fixed-size
// records laid out in a caller-supplied memory region that both cores map.
//
// The primary's core writes event records; the backup's core reads them,
// possibly seconds later. A full ring never overwrites unread records: the
// producer is told (TryWrite and Put return false, WriteBatch returns 0,
// Reserve returns [ErrFull]) and the caller stalls, or waits with
// [Ring.WaitWrite].
//
// # Which call to use
//
//	producer                        consumer                        publishes / releases
//	TryWrite(rec []byte) bool       TryRead(dst []byte) bool        every record (one atomic store each)
//	Put(rec) bool ... Flush()       Get(dst) bool ... Ack()         at Flush / Ack (one store per run)
//	As[T] -> Typed[T].TryWrite/Put  Typed[T].TryRead/Get            as above; inlined, fixed-size copies
//	Typed[T].Claim ... Flush                                        records filled in place; no copy
//	WriteBatch(src []byte) int      ReadBatch(dst []byte) int       once per call; copies up to two spans
//	Reserve(n) ([]byte, error)      Peek(n) ([]byte, error)         at Commit(k) / Release(k); zero-copy,
//	  ... Commit(k)                   ... Release(k)                  clamped to the end of the slots
//
// Publishing a record costs one sync/atomic store, which is an XCHG on
// amd64 (a few ns, and a full barrier): a VM-exit handler that logs several
// records should Put them and Flush once before VM entry, or Reserve and
// Commit them together. The immediate calls (TryWrite, TryRead, WriteBatch,
// ReadBatch, Commit, Release) also publish or release everything the
// deferred ones (Put, Get) did before them. Do not mix Put or TryWrite into
// an open reservation, or Get into an open Peek: Commit and Release count
// from the current index.
//
// # Memory layout (layout version 1)
//
// The region holds no Go pointers, only integers in the machine's native
// byte order, so it can live in physical memory outside the Go heap.
// Offsets are from the start of the region, which must be 8-byte aligned
// (64-byte alignment is recommended; [AlignedRegion] gives one).
//
//	offset                 size    field                                      written by
//	0                      8       magic "HNDSRING" (0x474e495253444e48)      creator
//	8                      4       layout version (1)                         creator
//	12                     4       record size rs in bytes (2^k, 4..256)      creator
//	16                     8       capacity cap in records (2^k, 1..2^32)     creator
//	24                     8       creation stamp (caller's clock)            creator
//	32                     8       region size = Size(rs, cap)                creator
//	40                     24      reserved, zero
//	64                     8       producer index (records ever published)    producer
//	72                     8       producer stalls (writes that found full)   producer
//	80                     48      reserved (rest of the producer's line)
//	128                    8       consumer index (records ever released)     consumer
//	136                    8       consumer empty polls (reads that found     consumer
//	                               the ring empty)
//	144                    48      reserved (rest of the consumer's line)
//	192                    cap*rs  slots: record i is in slot i & (cap-1)     producer
//	192+roundup64(cap*rs)  cap*8   stamps: the uint64 stamp of the record     producer
//	                               in each slot, same index
//
// So Size(rs, cap) = 192 + roundup64(cap*rs) + 8*cap. The producer and
// consumer indices are free-running 64-bit counters (they never wrap in
// practice, so there is no ABA problem); the number of records in flight is
// producer-consumer, always in [0, cap], and the slot of record i is
// i & (cap-1). Each of the three header cache lines (64 bytes) is written by
// one side only, so the sides share a line only when one of them reads the
// other's index, and each side keeps a cached copy of the other's index in
// its own [Ring] handle and re-reads the shared one only when the cached
// value says full (producer) or empty (consumer).
//
// # Stamps and lag
//
// Every record carries a producer-supplied uint64 stamp (a TSC value, a
// guest branch count, time.Now().UnixNano(): the ring does not interpret
// it), kept in the parallel stamps array rather than in the record so the
// record keeps its exact size. Writes stamp their records with the value
// last given to [Ring.SetStamp] (set it once per VM exit); [Ring.CommitStamp]
// and [Ring.TryWriteStamp] take one explicitly. On the consumer side
// [Ring.OldestStamp] and [Ring.Lag] give the stamp and age of the oldest
// unread record, which is what a backup that must stay a fixed interval
// behind the primary needs, and [Ring.InFlight] the number of unread
// records. [Ring.Stats] adds the producer's stalls (write attempts that
// found the ring full) and the consumer's empty polls.
//
// # Versioning
//
// The magic says "this is a hindsight ring"; the version says how it is laid
// out. Any change to the layout, including giving meaning to reserved bytes,
// bumps the version, and [Attach] accepts only the version this package
// writes ([Version]), so a primary and a backup built from different layouts
// refuse to talk rather than misread each other. Attach validates every
// header field and the indices and reports the first bad one by name and
// value, wrapped around an exported error ([ErrMagic], [ErrVersion],
// [ErrRecordSize], [ErrCapacity], [ErrRegion], [ErrIndex]) for errors.Is.
//
// # Memory ordering
//
// The producer fills slots (and stamps) with ordinary stores and then
// publishes them with an atomic store of the producer index; the consumer
// reads the producer index with an atomic load before reading those slots,
// so the slot contents happen before its reads (release/acquire, which
// sync/atomic's sequentially consistent operations provide and which x86's
// TSO gives for the same instructions on a non-Go core). Symmetrically the
// consumer finishes reading slots before its atomic store of the consumer
// index, and the producer loads that index before reusing the slots, so a
// slot is never overwritten while it is being read.
//
// # Concurrency and handles
//
// A [Ring] handle holds the region's addresses and each side's private
// state (its own index and the cached copy of the other's), on separate
// cache lines. At most one goroutine may call producer methods (TryWrite*,
// Put, Flush, WriteBatch, Reserve, Commit*, SetStamp, WaitWrite, Free) and
// at most one (other) goroutine consumer methods (TryRead, Get, Ack,
// ReadBatch, Peek, Release, WaitRead, Available, OldestStamp, Lag);
// InFlight, Stats and the header accessors may be called from anywhere.
// The two sides may share one handle or each [Attach] its own to the same
// region (as two cores of a hypervisor would); a handle caches its side's
// index, so a region must not have two live producer handles (or two
// consumer handles) at once. Attach resumes from the indices in the region,
// so a side that restarts re-attaches and carries on.
//
// # Hot paths
//
// The calls in the table above do not allocate, do not store Go pointers
// (so they run no write barriers) and do not block, so they can run in
// VM-exit context; misuse (a record longer than the record size, a
// destination shorter than it, committing more than was reserved) panics
// with an [*Error]. Single-record paths copy the common sizes (4..64
// bytes) with a few register moves and keep their slow paths (refreshing
// the other side's index, padding, memmove for 128..256 bytes) out of line;
// the Typed paths are small enough to be inlined into the caller's loop.
// Batch operations copy with copy() over at most two contiguous spans.
// Reserve and Peek never cross the end of the slot array: they clamp to the
// contiguous part, and the caller loops (see their docs).
package ringbuf
