package replay

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// Log file layout (see the package documentation).
const (
	// LogMagic is the first 8 bytes of a log file; its last byte is the
	// file format version (1).
	LogMagic = "HSLOG\x00\x00\x01"
	// LogHeaderSize is the size of the log file header; records follow it.
	LogHeaderSize = 32

	offLogMagic    = 0
	offLogVersion  = 8
	offLogRecSize  = 12
	offLogCount    = 16
	offLogCRC      = 24
	offLogReserved = 28

	logChunk = 64 // records per read or write call
)

// LogError reports a log file that ReadLog cannot read, or a record that
// WriteLog refuses to write, with the place of the first problem.
type LogError struct {
	// Index is the index of the bad (or missing) record, -1 for the header.
	Index int
	// Offset is the byte offset in the file of that record or of the header.
	Offset int64
	// Err is the cause: a [*DecodeError] for a malformed record or header
	// field (errors.Is(err, ErrMalformed)), io.ErrUnexpectedEOF for a
	// truncated file, or the error of the underlying reader or writer.
	Err error
	// Msg, when not empty, describes the problem in place of Err's text
	// (used for truncation).
	Msg string
}

// Error returns e.g. "replay: log: record 7 (offset 480): bad CRC (...)"
// or "replay: log: header: bad magic ...".
func (e *LogError) Error() string {
	where := "header"
	if e.Index >= 0 {
		where = fmt.Sprintf("record %d (offset %d)", e.Index, e.Offset)
	}
	what := e.Msg
	if what == "" {
		var de *DecodeError
		if errors.As(e.Err, &de) {
			what = de.Msg
		} else if e.Err != nil {
			what = strings.TrimPrefix(e.Err.Error(), "replay: ")
		}
	}
	return "replay: log: " + where + ": " + what
}

// Unwrap returns Err.
func (e *LogError) Unwrap() error { return e.Err }

func recordOffset(i int) int64 { return LogHeaderSize + int64(i)*RecordSize }

// WriteLog writes recs to w as a log file: the 32-byte header, then each
// record encoded. It validates every record first and writes nothing if
// one is invalid (the error is a [*LogError] with its index), so that
// whatever WriteLog writes, ReadLog reads back.
func WriteLog(w io.Writer, recs []Record) error {
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return &LogError{Index: i, Offset: recordOffset(i), Err: err}
		}
	}
	var hdr [LogHeaderSize]byte
	copy(hdr[offLogMagic:], LogMagic)
	le.PutUint32(hdr[offLogVersion:], LayoutVersion)
	le.PutUint32(hdr[offLogRecSize:], RecordSize)
	le.PutUint64(hdr[offLogCount:], uint64(len(recs)))
	le.PutUint32(hdr[offLogCRC:], headerCRC(hdr[:]))
	if _, err := w.Write(hdr[:]); err != nil {
		return &LogError{Index: -1, Err: err}
	}
	buf := make([]byte, logChunk*RecordSize)
	for i := 0; i < len(recs); i += logChunk {
		n := min(logChunk, len(recs)-i)
		for j := 0; j < n; j++ {
			recs[i+j].Encode(buf[j*RecordSize:])
		}
		if _, err := w.Write(buf[:n*RecordSize]); err != nil {
			return &LogError{Index: i, Offset: recordOffset(i), Err: err}
		}
	}
	return nil
}

// headerCRC is the CRC-32C of bytes 0-23 of a log file header.
func headerCRC(hdr []byte) uint32 { return crc32.Checksum(hdr[:offLogCRC], castagnoli) }

// ReadLog reads a whole log file from r (to EOF) and returns its records.
// It validates the header (magic, layout version, record size, header CRC,
// reserved field), every record (as Decode does), and that the file ends
// right after the number of records the header gives. The error is a
// [*LogError] with the index and offset of the first bad or missing record
// (Index -1 for the header); a file cut short is io.ErrUnexpectedEOF.
func ReadLog(r io.Reader) ([]Record, error) {
	var hdr [LogHeaderSize]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, readError(-1, 0, n, 0, err)
	}
	if err := checkHeader(hdr[:]); err != nil {
		return nil, &LogError{Index: -1, Err: err}
	}
	count := le.Uint64(hdr[offLogCount:])
	// Do not trust count for the allocation: a corrupt header must not
	// make ReadLog ask for more memory than the file holds.
	recs := make([]Record, 0, min(count, 1<<16))
	buf := make([]byte, logChunk*RecordSize)
	for i := uint64(0); i < count; {
		n := min(uint64(logChunk), count-i)
		got, err := io.ReadFull(r, buf[:n*RecordSize])
		if err != nil {
			idx := int(i) + got/RecordSize
			return nil, readError(idx, recordOffset(idx), got%RecordSize, count, err)
		}
		for j := 0; j < int(n); j++ {
			var rec Record
			if err := Decode(buf[j*RecordSize:], &rec); err != nil {
				idx := int(i) + j
				return nil, &LogError{Index: idx, Offset: recordOffset(idx), Err: err}
			}
			recs = append(recs, rec)
		}
		i += n
	}
	// The file must end here.
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n != 0 {
		idx := int(count)
		return nil, &LogError{Index: idx, Offset: recordOffset(idx), Err: &DecodeError{
			Field: "count", Got: count, Want: count, header: true,
			Msg: fmt.Sprintf("trailing data after the %d records the header counts", count)}}
	}
	if err != io.EOF {
		idx := int(count)
		return nil, &LogError{Index: idx, Offset: recordOffset(idx), Err: err}
	}
	return recs, nil
}

// readError describes a failed io.ReadFull that read n bytes of the
// header (idx -1) or of record idx of count.
func readError(idx int, off int64, n int, count uint64, err error) error {
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		return &LogError{Index: idx, Offset: off, Err: err}
	}
	var msg string
	switch {
	case idx < 0 && n == 0:
		msg = "empty file"
	case idx < 0:
		msg = fmt.Sprintf("truncated file: %d of %d header bytes", n, LogHeaderSize)
	default:
		msg = fmt.Sprintf("truncated file: %d of %d bytes of the record (the header counts %d records)",
			n, RecordSize, count)
	}
	return &LogError{Index: idx, Offset: off, Err: io.ErrUnexpectedEOF, Msg: msg}
}

func checkHeader(hdr []byte) error {
	bad := func(field string, got, want uint64, format string, args ...any) error {
		e := malformed(field, 0, got, want, format, args...)
		e.header = true
		return e
	}
	if m := string(hdr[offLogMagic : offLogMagic+8]); m != LogMagic {
		return bad("magic", le.Uint64(hdr[offLogMagic:]), le.Uint64([]byte(LogMagic)),
			"bad magic %q, want %q", m, LogMagic)
	}
	if got, want := le.Uint32(hdr[offLogCRC:]), headerCRC(hdr); got != want {
		return bad("header CRC", uint64(got), uint64(want),
			"bad header CRC (stored 0x%08x, computed 0x%08x)", got, want)
	}
	if v := le.Uint32(hdr[offLogVersion:]); v != LayoutVersion {
		return bad("version", uint64(v), LayoutVersion,
			"record layout version %d, this program reads version %d", v, LayoutVersion)
	}
	if rs := le.Uint32(hdr[offLogRecSize:]); rs != RecordSize {
		return bad("record size", uint64(rs), RecordSize,
			"record size %d, want %d", rs, RecordSize)
	}
	if res := le.Uint32(hdr[offLogReserved:]); res != 0 {
		return bad("header reserved", uint64(res), 0,
			"reserved field 0x%x, must be 0", res)
	}
	return nil
}
