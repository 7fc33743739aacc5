package capture

import (
	"compress/flate"
	"fmt"
	"io"

	"hindsight/hv/replay"
)

// MaxStateBytes bounds the STATE section a reader accepts (the state of a
// vCPU and its device models is a few KiB).
const MaxStateBytes = 16 << 20

// Capture is a capture as read: everything but the guest's memory, which
// goes page by page to the reader's PageFunc.
type Capture struct {
	Header *Header
	State  []byte
	// Log holds Header.Records encoded records (RecordSize bytes each),
	// every one checked with replay.Check.
	Log   []byte
	Stats Stats
}

// NumRecords returns the number of log records.
func (c *Capture) NumRecords() int { return len(c.Log) / RecordSize }

// Record returns log record i decoded (the reader checked it).
func (c *Capture) Record(i int) replay.Record {
	var r replay.Record
	replay.Check(c.Log[i*RecordSize:(i+1)*RecordSize], &r)
	return r
}

// PageFunc receives the MEMORY section's pages one by one, in ascending
// pfn, each below the guest RAM size: guest-physical address pfn × 4096
// holds *p (which the reader reuses after the call returns). Pages not
// given are zero. An error stops the reading and is returned, wrapped.
type PageFunc func(pfn uint64, p *[PageSize]byte) error

// Read reads one whole capture from r and refuses anything after its end
// (ErrTrailing). pages, if not nil, gets the guest's pages; all of them
// are decompressed and checked either way. The result is only to be
// trusted, and pages already given only to be kept, if the error is nil.
// Every refusal is an [*Error].
func Read(r io.Reader, pages PageFunc) (*Capture, error) {
	d := &reader{r: r}
	c, err := d.capture(pages)
	if err != nil {
		return nil, err
	}
	var b [512]byte
	extra := int64(0)
	for {
		n, err := r.Read(b[:])
		extra += int64(n)
		if err != nil || extra > 1<<20 {
			break
		}
	}
	if extra > 0 {
		more := ""
		if extra > 1<<20 {
			more = "more than "
		}
		return nil, newError(ErrTrailing, "", d.off, "%s%d bytes after the end of the capture", more, extra)
	}
	return c, nil
}

// ReadNext reads one capture from a stream that may go on with something
// else: it reads nothing past the capture's last byte. The stream must
// start with the capture's magic. Otherwise it is Read.
func ReadNext(r io.Reader, pages PageFunc) (*Capture, error) {
	d := &reader{r: r}
	return d.capture(pages)
}

// Verify reads a whole capture, checking everything, and returns it
// without its pages.
func Verify(r io.Reader) (*Capture, error) { return Read(r, nil) }

// ReadHeader reads and checks a capture's header only.
func ReadHeader(r io.Reader) (*Header, error) {
	d := &reader{r: r}
	return d.header()
}

// reader reads a capture, counting its bytes and their CRC.
type reader struct {
	r    io.Reader
	off  int64  // bytes read
	all  uint32 // their CRC-32C
	scrc uint32 // the current section's payload CRC so far
	slen uint64 // its length so far

	chunkBuf []byte // a chunk of MEMORY or LOG (maxChunk bytes)
}

// read fills b, or fails with ErrTruncated naming section and what.
func (d *reader) read(b []byte, section, what string) error {
	start := d.off
	n, err := io.ReadFull(d.r, b)
	d.all = crc(d.all, b[:n])
	d.off += int64(n)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return newError(ErrTruncated, section, start, "%s: expected %d bytes, got %d", what, len(b), n)
	case err != nil:
		return fmt.Errorf("capture: reading the %s at offset %d: %w", section, d.off, err)
	}
	return nil
}

func (d *reader) payload(b []byte, section, what string) error {
	err := d.read(b, section, what)
	d.scrc = crc(d.scrc, b)
	d.slen += uint64(len(b))
	return err
}

func (d *reader) capture(pages PageFunc) (*Capture, error) {
	h, err := d.header()
	if err != nil {
		return nil, err
	}
	c := &Capture{Header: h}
	c.Stats.StateBytes = h.StateBytes
	c.Stats.Records = h.Records

	// STATE
	if h.StateBytes > MaxStateBytes {
		return nil, newError(ErrMalformed, "header", hStateBytes, "STATE length %d bytes exceeds %d", h.StateBytes, MaxStateBytes)
	}
	if err := d.sectionHeader("STATE", tagState, 0, h.StateBytes); err != nil {
		return nil, err
	}
	c.State = make([]byte, h.StateBytes)
	if err := d.payload(c.State, "STATE", "machine state"); err != nil {
		return nil, err
	}
	if err := d.sectionTrailer("STATE", 0); err != nil {
		return nil, err
	}

	// MEMORY
	if err := d.sectionHeader("MEMORY", tagMemory, flagChunked, 0); err != nil {
		return nil, err
	}
	np, err := d.memory(h, pages)
	if err != nil {
		return nil, err
	}
	c.Stats.Pages = np
	c.Stats.MemoryRaw = np * pageEntrySize
	c.Stats.MemoryStored = d.slen
	if err := d.sectionTrailer("MEMORY", uint32(np)); err != nil {
		return nil, err
	}

	// LOG
	if h.Records > (1<<63)/RecordSize {
		return nil, newError(ErrMalformed, "header", hRecords, "%d records is impossible", h.Records)
	}
	if err := d.sectionHeader("LOG", tagLog, flagChunked, 0); err != nil {
		return nil, err
	}
	if c.Log, err = d.log(h.Records); err != nil {
		return nil, err
	}
	c.Stats.LogRaw = uint64(len(c.Log))
	c.Stats.LogStored = d.slen
	if err := d.sectionTrailer("LOG", uint32(h.Records)); err != nil {
		return nil, err
	}

	// END
	endOff, all := d.off, d.all
	if err := d.sectionHeader("END", tagEnd, 0, endPayloadSize); err != nil {
		return nil, err
	}
	var p [endPayloadSize]byte
	if err := d.payload(p[:], "END", "end record"); err != nil {
		return nil, err
	}
	if err := d.sectionTrailer("END", 0); err != nil {
		return nil, err
	}
	if got := le.Uint64(p[0:]); got != uint64(endOff) {
		return nil, newError(ErrMalformed, "END", endOff, "the capture's length before END is %d bytes, END says %d", endOff, got)
	}
	if got := le.Uint32(p[8:]); got != all {
		return nil, newError(ErrCRC, "END", endOff, "CRC mismatch over the %d bytes before END (stored 0x%08x, computed 0x%08x)", endOff, got, all)
	}
	if v := le.Uint32(p[12:]); v != 0 {
		return nil, newError(ErrMalformed, "END", endOff, "reserved word 0x%x, must be 0", v)
	}
	c.Stats.Size = uint64(d.off)
	return c, nil
}

// header reads and checks the header.
func (d *reader) header() (*Header, error) {
	var b [HeaderSize]byte
	start := d.off
	n, err := io.ReadFull(d.r, b[:16])
	d.off += int64(n)
	d.all = crc(d.all, b[:n])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("capture: reading the header: %w", err)
	}
	if n < len(Magic) && string(b[:n]) == Magic[:n] {
		return nil, newError(ErrTruncated, "header", start, "expected %d bytes, got %d", HeaderSize, n)
	}
	if n < len(Magic) || string(b[:len(Magic)]) != Magic {
		return nil, notCapture(b[:min(n, len(Magic))])
	}
	if n < 16 {
		return nil, newError(ErrTruncated, "header", start, "expected %d bytes, got %d", HeaderSize, n)
	}
	version, size := le.Uint16(b[hVersion:]), int(le.Uint16(b[hSize:]))
	if version == Version && size != HeaderSize {
		return nil, newError(ErrMalformed, "header", hSize, "header size %d, a version %d header is %d bytes (corrupt header)", size, Version, HeaderSize)
	}
	if size < 20 {
		return nil, newError(ErrVersion, "header", hVersion, "format version %d (header size %d), this hindsight reads version %d", version, size, Version)
	}
	rest := make([]byte, size-16)
	if err := d.read(rest, "header", "header"); err != nil {
		if e, ok := err.(*Error); ok {
			e.Offset, e.Msg = start, fmt.Sprintf("expected %d bytes, got %d", size, 16+int(d.off-start-16))
		}
		return nil, err
	}
	stored := le.Uint32(rest[len(rest)-4:])
	computed := crc(crc(0, b[:16]), rest[:len(rest)-4])
	if stored != computed {
		return nil, newError(ErrCRC, "header", start, "header CRC mismatch (stored 0x%08x, computed 0x%08x)", stored, computed)
	}
	if version != Version {
		return nil, newError(ErrVersion, "header", hVersion, "format version %d, this hindsight reads version %d", version, Version)
	}
	copy(b[16:], rest)
	return decodeHeader(b[:])
}

func notCapture(got []byte) error {
	hint := ""
	if len(got) >= 4 && string(got[1:4]) == "HSC" {
		hint = " (a capture mangled in transit? bit 7 or line ends changed)"
	}
	return newError(ErrNotCapture, "", 0, "not a hindsight capture: starts with %q, want %q%s", got, Magic, hint)
}

func (d *reader) sectionHeader(name, tag string, flags uint32, length uint64) error {
	start := d.off
	var b [sectionHeaderSize]byte
	if err := d.read(b[:], name, "section header"); err != nil {
		return err
	}
	if string(b[:4]) != tag {
		return newError(ErrMalformed, name, start, "expected the %s section (tag %q), found tag %q", name, tag, b[:4])
	}
	if f := le.Uint32(b[4:]); f != flags {
		return newError(ErrMalformed, name, start+4, "section flags 0x%x, want 0x%x", f, flags)
	}
	if l := le.Uint64(b[8:]); l != length {
		return newError(ErrMalformed, name, start+8, "section length %d, want %d (from the header)", l, length)
	}
	d.scrc, d.slen = 0, 0
	return nil
}

func (d *reader) sectionTrailer(name string, count uint32) error {
	start := d.off
	payloadStart := start - int64(d.slen)
	var b [sectionTrailerSize]byte
	if err := d.read(b[:], name, "section trailer"); err != nil {
		return err
	}
	if l := le.Uint64(b[0:]); l != d.slen {
		return newError(ErrMalformed, name, start, "trailer says %d payload bytes, the payload has %d", l, d.slen)
	}
	if n := le.Uint32(b[8:]); n != count {
		return newError(ErrMalformed, name, start+8, "trailer counts %d items, the payload has %d", n, count)
	}
	if c := le.Uint32(b[12:]); c != d.scrc {
		return newError(ErrCRC, name, payloadStart, "CRC mismatch over the %d payload bytes (stored 0x%08x, computed 0x%08x)", d.slen, c, d.scrc)
	}
	return nil
}

// memory reads the MEMORY payload, giving each page to pages.
func (d *reader) memory(h *Header, pages PageFunc) (uint64, error) {
	cr := d.chunked("MEMORY")
	defer cr.close()
	var entry [pageEntrySize]byte
	page := (*[PageSize]byte)(entry[8:])
	var n, last uint64
	limit := h.GuestRAM / PageSize
	for {
		at := d.off
		if err := cr.item(entry[:], fmt.Sprintf("page %d", n)); err == io.EOF {
			break
		} else if err != nil {
			return n, err
		}
		pfn := le.Uint64(entry[:8])
		if pfn >= limit {
			return n, newError(ErrMalformed, "MEMORY", at, "page %d: frame %#x is outside guest RAM (%d pages)", n, pfn, limit)
		}
		if n > 0 && pfn <= last {
			return n, newError(ErrMalformed, "MEMORY", at, "page %d: frame %#x after %#x (pages must ascend)", n, pfn, last)
		}
		last = pfn
		n++
		if pages != nil {
			if err := pages(pfn, page); err != nil {
				return n, fmt.Errorf("capture: restoring page frame %#x: %w", pfn, err)
			}
		}
	}
	return n, cr.end("pages")
}

// log reads the LOG payload: n records, each checked.
func (d *reader) log(n uint64) ([]byte, error) {
	cr := d.chunked("LOG")
	defer cr.close()
	log := make([]byte, 0, min(n, 1<<16)*RecordSize)
	var rec [RecordSize]byte
	var r replay.Record
	for i := uint64(0); i < n; i++ {
		if err := cr.item(rec[:], fmt.Sprintf("record %d of %d", i, n)); err == io.EOF {
			return nil, newError(ErrMalformed, "LOG", d.off, "the compressed records end after %d of %d", i, n)
		} else if err != nil {
			return nil, err
		}
		if !replay.Check(rec[:], &r) {
			err := replay.Decode(rec[:], &r)
			e := newError(ErrBadRecord, "LOG", cr.at, "record %d (in chunk %d): %v", i, cr.n-1, err)
			e.Index = int(i)
			return nil, e
		}
		log = append(log, rec[:]...)
	}
	if err := cr.item(rec[:1], "data after the records"); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, newError(ErrMalformed, "LOG", d.off, "data after the %d records", n)
	}
	return log, cr.end("records")
}

// chunkReader reads the chunks of a chunked section's payload (MEMORY,
// LOG), checking each chunk's CRC before it gives its bytes, and the
// DEFLATE stream they hold (fr). It is an io.ByteReader, so that flate
// reads no byte past the end of its stream.
type chunkReader struct {
	d    *reader
	name string // the section
	fr   io.ReadCloser
	buf  []byte
	left []byte
	n    int   // chunks read
	at   int64 // offset of the last chunk read
	done bool
	err  error // a capture error (not io.EOF)
}

// chunked starts reading the payload of chunked section name (its header
// read).
func (d *reader) chunked(name string) *chunkReader {
	if d.chunkBuf == nil {
		d.chunkBuf = make([]byte, maxChunk)
	}
	c := &chunkReader{d: d, name: name, buf: d.chunkBuf}
	c.fr = flate.NewReader(c)
	return c
}

func (c *chunkReader) close() { c.fr.Close() }

// item reads the stream's next len(b) bytes, what. At the stream's end
// before the item it returns io.EOF; every other failure is an [*Error]
// of the section.
func (c *chunkReader) item(b []byte, what string) error {
	at := c.d.off
	k, err := io.ReadFull(c.fr, b)
	switch {
	case err == nil:
		return nil
	case c.err != nil:
		return c.err
	case k == 0 && err == io.EOF:
		return io.EOF
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return newError(ErrMalformed, c.name, at, "the compressed data ends inside %s", what)
	}
	return newError(ErrMalformed, c.name, at, "%s: bad compressed data: %v", what, err)
}

// end checks, once the stream has ended, that the chunks end with it.
func (c *chunkReader) end(what string) error {
	if c.err != nil {
		return c.err
	}
	if len(c.left) > 0 {
		return newError(ErrMalformed, c.name, c.d.off, "%d bytes after the end of the compressed %s", len(c.left), what)
	}
	if !c.done {
		if _, err := c.ReadByte(); err != io.EOF {
			if c.err != nil {
				return c.err
			}
			return newError(ErrMalformed, c.name, c.d.off, "data after the end of the compressed %s", what)
		}
	}
	return nil
}

func (c *chunkReader) next() error {
	if c.done {
		return io.EOF
	}
	if c.err != nil {
		return c.err
	}
	start := c.d.off
	var h [8]byte
	if err := c.d.payload(h[:], c.name, fmt.Sprintf("chunk %d header", c.n)); err != nil {
		c.err = err
		return err
	}
	size, sum := le.Uint32(h[0:]), le.Uint32(h[4:])
	if size == 0 {
		if sum != 0 {
			c.err = newError(ErrMalformed, c.name, start, "end chunk with CRC 0x%x, must be 0", sum)
			return c.err
		}
		c.done = true
		return io.EOF
	}
	if size > maxChunk {
		c.err = newError(ErrMalformed, c.name, start, "chunk %d: length %d exceeds %d (corrupt chunk header)", c.n, size, maxChunk)
		return c.err
	}
	b := c.buf[:size]
	if err := c.d.payload(b, c.name, fmt.Sprintf("chunk %d", c.n)); err != nil {
		c.err = err
		return err
	}
	if got := crc(0, b); got != sum {
		c.err = newError(ErrCRC, c.name, start, "chunk %d CRC mismatch (stored 0x%08x, computed 0x%08x)", c.n, sum, got)
		return c.err
	}
	c.n++
	c.at = start
	c.left = b
	return nil
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.left) == 0 {
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.left)
	c.left = c.left[n:]
	return n, nil
}

func (c *chunkReader) ReadByte() (byte, error) {
	for len(c.left) == 0 {
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	b := c.left[0]
	c.left = c.left[1:]
	return b, nil
}
