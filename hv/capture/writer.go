package capture

import (
	"compress/flate"
	"io"

	"hindsight/hv/replay"
)

// Section tags, as stored (4 ASCII bytes).
const (
	tagState  = "STAT"
	tagMemory = "MEM "
	tagLog    = "LOG "
	tagEnd    = "END "

	sectionHeaderSize  = 16
	sectionTrailerSize = 16
	endPayloadSize     = 16
	flagChunked        = 1
	pageEntrySize      = 8 + PageSize
)

// Writer writes one capture to an io.Writer, front to back, holding no
// more than a compression window and one chunk of it. The calls come in
// the order of the format:
//
//	w := capture.NewWriter(out, &h)   // h.Records set; nothing written yet
//	w.State(blob)                     // the header, then STATE
//	w.BeginMemory()
//	w.Page(pfn, &page) ...            // ascending pfn; zero pages skipped
//	w.EndMemory()
//	w.Records(enc) ...                // or w.Record(&r); h.Records in all
//	w.Close()                         // END
//
// A call out of order, a page out of order or outside guest RAM, a
// malformed record or a wrong record count is an [*Error] with Kind
// ErrUsage or ErrBadRecord, and nothing is written for it; an error of the
// underlying writer is returned as is. After any error every later call
// returns the first one. Writer does not close the io.Writer.
type Writer struct {
	out   io.Writer
	h     Header
	err   error
	stage stage

	off  int64  // bytes written so far
	all  uint32 // CRC-32C of everything written so far
	scrc uint32 // CRC-32C of the current section's payload so far
	slen uint64 // its length so far

	// MEMORY and LOG: a chunked DEFLATE stream
	fw      *flate.Writer
	chunk   []byte // pending compressed bytes, up to maxChunk
	raw     uint64 // bytes given to fw in the current section
	lastPFN uint64
	pages   uint64
	stats   Stats

	records uint64
	buf     [sectionHeaderSize + HeaderSize]byte
}

type stage uint8

const (
	stageNew stage = iota
	stageState
	stageMemory
	stageMemoryDone
	stageLog
	stageClosed
)

// NewWriter returns a Writer of a capture with header h (copied; its
// StateBytes is set by State). It writes nothing yet.
func NewWriter(out io.Writer, h *Header) *Writer {
	w := &Writer{out: out, h: *h}
	w.h.CPUID = append([]CPUIDLeaf(nil), h.CPUID...)
	return w
}

// Stats is what a capture holds, in numbers.
type Stats struct {
	Pages        uint64 // non-zero pages in MEMORY
	ZeroPages    uint64 // pages the writer skipped because they were all zero
	MemoryRaw    uint64 // MEMORY uncompressed: pages × (8 + 4096) bytes
	MemoryStored uint64 // MEMORY payload as stored: compressed, with chunk framing
	StateBytes   uint64
	Records      uint64
	LogRaw       uint64 // LOG uncompressed: records × 64 bytes
	LogStored    uint64 // LOG payload as stored: compressed, with chunk framing
	Size         uint64 // the whole capture in bytes
}

// Stats returns the numbers of what was written so far (Size is final
// after Close).
func (w *Writer) Stats() Stats { return w.stats }

func (w *Writer) usage(format string, args ...any) error {
	if w.err == nil {
		w.err = newError(ErrUsage, "", -1, format, args...)
	}
	return w.err
}

func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.out.Write(b)
	w.all = crc(w.all, b[:n])
	w.off += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}

// payload writes section payload bytes.
func (w *Writer) payload(b []byte) error {
	w.scrc = crc(w.scrc, b)
	w.slen += uint64(len(b))
	return w.write(b)
}

func (w *Writer) beginSection(tag string, flags uint32, length uint64) error {
	var b [sectionHeaderSize]byte
	copy(b[:4], tag)
	le.PutUint32(b[4:], flags)
	le.PutUint64(b[8:], length)
	w.scrc, w.slen = 0, 0
	return w.write(b[:])
}

func (w *Writer) endSection(count uint32) error {
	var b [sectionTrailerSize]byte
	le.PutUint64(b[0:], w.slen)
	le.PutUint32(b[8:], count)
	le.PutUint32(b[12:], w.scrc)
	return w.write(b[:])
}

// State writes the header (its StateBytes is len(state)) and the STATE
// section. It must be the first call.
func (w *Writer) State(state []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.stage != stageNew {
		return w.usage("State called twice, or after the memory")
	}
	if len(state) > MaxStateBytes {
		return w.usage("%d bytes of machine state, at most %d", len(state), MaxStateBytes)
	}
	w.h.StateBytes = uint64(len(state))
	w.h.encode(w.buf[:HeaderSize])
	if err := w.write(w.buf[:HeaderSize]); err != nil {
		return err
	}
	if err := w.beginSection(tagState, 0, uint64(len(state))); err != nil {
		return err
	}
	if err := w.payload(state); err != nil {
		return err
	}
	w.stats.StateBytes = uint64(len(state))
	w.stage = stageState
	return w.endSection(0)
}

// BeginMemory starts the MEMORY section (after State).
func (w *Writer) BeginMemory() error {
	if w.err != nil {
		return w.err
	}
	if w.stage != stageState {
		return w.usage("BeginMemory must follow State")
	}
	if err := w.beginChunked(tagMemory); err != nil {
		return err
	}
	w.stage = stageMemory
	return nil
}

// beginChunked starts a chunked section (MEMORY, LOG): its header, and a
// fresh DEFLATE stream into chunks (one compressor serves both).
func (w *Writer) beginChunked(tag string) error {
	if err := w.beginSection(tag, flagChunked, 0); err != nil {
		return err
	}
	if w.fw == nil {
		fw, err := flate.NewWriter((*chunker)(w), flate.BestSpeed)
		if err != nil {
			return w.usage("%v", err)
		}
		w.fw = fw
		w.chunk = make([]byte, 0, maxChunk)
	} else {
		w.fw.Reset((*chunker)(w))
	}
	w.raw = 0
	return nil
}

// deflate adds b to the current chunked section's stream.
func (w *Writer) deflate(b []byte) error {
	if _, err := w.fw.Write(b); err != nil {
		return w.fail(err)
	}
	w.raw += uint64(len(b))
	return w.err
}

// endChunked ends the DEFLATE stream of a chunked section, writes its
// last chunk, the end chunk and the trailer counting count items.
func (w *Writer) endChunked(count uint32) error {
	if err := w.fw.Close(); err != nil {
		return w.fail(err)
	}
	if err := w.flushChunk(); err != nil {
		return err
	}
	var end [8]byte
	if err := w.payload(end[:]); err != nil {
		return err
	}
	return w.endSection(count)
}

// Page adds guest page pfn (guest-physical address pfn × 4096) with
// contents p, or skips it if it is all zero. Pages come in strictly
// ascending pfn, each below GuestRAM / 4096.
func (w *Writer) Page(pfn uint64, p *[PageSize]byte) error {
	if w.err != nil {
		return w.err
	}
	if w.stage != stageMemory {
		return w.usage("Page outside BeginMemory/EndMemory")
	}
	if pfn >= w.h.GuestRAM/PageSize {
		return w.usage("page frame %#x is outside guest RAM (%d bytes, %d pages)", pfn, w.h.GuestRAM, w.h.GuestRAM/PageSize)
	}
	if w.pages+w.stats.ZeroPages > 0 && pfn <= w.lastPFN {
		return w.usage("page frame %#x after %#x: pages must come in ascending order, each once", pfn, w.lastPFN)
	}
	w.lastPFN = pfn
	if allZero(p[:]) {
		w.stats.ZeroPages++
		return nil
	}
	var n [8]byte
	le.PutUint64(n[:], pfn)
	if err := w.deflate(n[:]); err != nil {
		return err
	}
	if err := w.deflate(p[:]); err != nil {
		return err
	}
	w.pages++
	w.stats.Pages = w.pages
	w.stats.MemoryRaw = w.raw
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// chunker is the Writer as the flate compressor's output: it gathers
// compressed bytes into chunks of maxChunk, in the current chunked
// section.
type chunker Writer

func (c *chunker) Write(b []byte) (int, error) {
	w := (*Writer)(c)
	n := 0
	for len(b) > 0 {
		k := min(len(b), maxChunk-len(w.chunk))
		w.chunk = append(w.chunk, b[:k]...)
		b, n = b[k:], n+k
		if len(w.chunk) == maxChunk {
			if err := w.flushChunk(); err != nil {
				return n, err
			}
		}
	}
	return n, w.err
}

// flushChunk writes the pending chunk, if any.
func (w *Writer) flushChunk() error {
	if len(w.chunk) == 0 {
		return w.err
	}
	var h [8]byte
	le.PutUint32(h[0:], uint32(len(w.chunk)))
	le.PutUint32(h[4:], crc(0, w.chunk))
	w.payload(h[:])
	w.payload(w.chunk)
	w.chunk = w.chunk[:0]
	return w.err
}

// EndMemory ends the MEMORY section.
func (w *Writer) EndMemory() error {
	if w.err != nil {
		return w.err
	}
	if w.stage != stageMemory {
		return w.usage("EndMemory without BeginMemory")
	}
	if err := w.endChunked(uint32(w.pages)); err != nil {
		return err
	}
	w.stats.MemoryStored = w.slen
	w.stage = stageMemoryDone
	return nil
}

// Records adds encoded log records (a multiple of RecordSize bytes, as
// hv/replay encodes them; each is checked) to the LOG section's
// compressed stream. The first call starts the LOG section; in all, the
// header's Records of them.
func (w *Writer) Records(enc []byte) error {
	if w.err != nil {
		return w.err
	}
	switch w.stage {
	case stageMemoryDone:
		if err := w.beginChunked(tagLog); err != nil {
			return err
		}
		w.stage = stageLog
	case stageLog:
	default:
		return w.usage("Records must follow EndMemory")
	}
	if len(enc)%RecordSize != 0 {
		return w.usage("%d bytes of records, not a multiple of %d", len(enc), RecordSize)
	}
	n := uint64(len(enc) / RecordSize)
	if w.records+n > w.h.Records {
		return w.usage("%d records, the header says %d", w.records+n, w.h.Records)
	}
	var r replay.Record
	for i := 0; i < len(enc); i += RecordSize {
		if !replay.Check(enc[i:i+RecordSize], &r) {
			idx := w.records + uint64(i/RecordSize)
			err := replay.Decode(enc[i:i+RecordSize], &r)
			e := newError(ErrBadRecord, "LOG", -1, "record %d: %v", idx, err)
			e.Index = int(idx)
			w.err = e
			return e
		}
	}
	if err := w.deflate(enc); err != nil {
		return err
	}
	w.records += n
	w.stats.Records = w.records
	w.stats.LogRaw = w.raw
	return nil
}

// Record adds one record (see Records).
func (w *Writer) Record(r *replay.Record) error {
	var b [RecordSize]byte
	r.Encode(b[:])
	return w.Records(b[:])
}

// Close ends the LOG section (starting an empty one if no record came)
// and writes END. The capture is complete when it returns nil.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.stage == stageMemoryDone {
		if err := w.Records(nil); err != nil {
			return err
		}
	}
	if w.stage != stageLog {
		return w.usage("Close before the memory was written")
	}
	if w.records != w.h.Records {
		return w.usage("%d records written, the header says %d", w.records, w.h.Records)
	}
	if err := w.endChunked(uint32(w.records)); err != nil {
		return err
	}
	w.stats.LogStored = w.slen
	w.fw, w.chunk = nil, nil // their memory can go
	var p [endPayloadSize]byte
	le.PutUint64(p[0:], uint64(w.off))
	le.PutUint32(p[8:], w.all)
	if err := w.beginSection(tagEnd, 0, endPayloadSize); err != nil {
		return err
	}
	if err := w.payload(p[:]); err != nil {
		return err
	}
	if err := w.endSection(0); err != nil {
		return err
	}
	w.stats.Size = uint64(w.off)
	w.stage = stageClosed
	w.err = newError(ErrUsage, "", -1, "the capture is closed")
	return nil
}
