package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// manyRecords returns n valid records cycling through the samples with
// increasing Seq.
func manyRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = samples[i%len(samples)]
		recs[i].Seq = uint64(i + 1)
	}
	return recs
}

func writeLog(t *testing.T, recs []Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteLog(&buf, recs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLogRoundTrip(t *testing.T) {
	// Sizes around the write/read chunk (64 records).
	for _, n := range []int{0, 1, 2, 15, 63, 64, 65, 128, 200} {
		recs := manyRecords(n)
		file := writeLog(t, recs)
		if len(file) != LogHeaderSize+n*RecordSize {
			t.Fatalf("n=%d: file of %d bytes", n, len(file))
		}
		// The header as documented.
		if string(file[:8]) != "HSLOG\x00\x00\x01" ||
			binary.LittleEndian.Uint32(file[8:]) != 2 ||
			binary.LittleEndian.Uint32(file[12:]) != 64 ||
			binary.LittleEndian.Uint64(file[16:]) != uint64(n) ||
			binary.LittleEndian.Uint32(file[24:]) != refCRC32C(file[:24]) ||
			binary.LittleEndian.Uint32(file[28:]) != 0 {
			t.Fatalf("n=%d: header %x", n, file[:32])
		}
		for i, r := range recs {
			if !bytes.Equal(file[32+64*i:][:64], encode(r)) {
				t.Fatalf("n=%d: record %d not at its offset", n, i)
			}
		}
		// A reader that returns one byte at a time.
		got, err := ReadLog(&oneByteReader{file})
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(got) != n {
			t.Fatalf("n=%d: read %d records", n, len(got))
		}
		for i := range recs {
			if got[i] != recs[i] {
				t.Fatalf("n=%d: record %d: got %v, want %v", n, i, got[i], recs[i])
			}
		}
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func logError(t *testing.T, err error) *LogError {
	t.Helper()
	var le *LogError
	if !errors.As(err, &le) {
		t.Fatalf("error %T %v, want *LogError", err, err)
	}
	return le
}

func TestLogTruncated(t *testing.T) {
	const n = 70
	file := writeLog(t, manyRecords(n))
	for cut := 0; cut < len(file); cut++ {
		_, err := ReadLog(bytes.NewReader(file[:cut]))
		le := logError(t, err)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut %d: %v, want io.ErrUnexpectedEOF", cut, err)
		}
		wantIdx, wantOff := -1, int64(0)
		if cut >= LogHeaderSize {
			wantIdx = (cut - LogHeaderSize) / RecordSize
			wantOff = int64(LogHeaderSize + wantIdx*RecordSize)
		}
		if le.Index != wantIdx || le.Offset != wantOff {
			t.Fatalf("cut %d: index %d offset %d, want %d %d (%v)", cut, le.Index, le.Offset, wantIdx, wantOff, err)
		}
		if !strings.HasPrefix(err.Error(), "replay: log: ") || !strings.Contains(err.Error(), "truncated file") && cut != 0 {
			t.Fatalf("cut %d: message %q", cut, err)
		}
	}
	_, err := ReadLog(bytes.NewReader(nil))
	if err == nil || err.Error() != "replay: log: header: empty file" {
		t.Fatalf("empty: %v", err)
	}
	_, err = ReadLog(bytes.NewReader(file[:LogHeaderSize+5*RecordSize+10]))
	if want := "replay: log: record 5 (offset 352): truncated file: 10 of 64 bytes of the record (the header counts 70 records)"; err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestLogTrailingData(t *testing.T) {
	file := append(writeLog(t, manyRecords(3)), 0)
	_, err := ReadLog(bytes.NewReader(file))
	le := logError(t, err)
	if le.Index != 3 || le.Offset != 32+3*64 || !errors.Is(err, ErrMalformed) {
		t.Fatalf("%+v", le)
	}
	if want := "replay: log: record 3 (offset 224): trailing data after the 3 records the header counts"; err.Error() != want {
		t.Fatalf("got %q", err)
	}
}

func TestLogBadHeader(t *testing.T) {
	good := writeLog(t, manyRecords(2))
	cases := []struct {
		name  string
		edit  func(h []byte)
		field string
		msg   string
	}{
		{"magic", func(h []byte) { h[0] = 'X' }, "magic", `replay: log: header: bad magic "XSLOG\x00\x00\x01", want "HSLOG\x00\x00\x01"`},
		{"magic version", func(h []byte) { h[7] = 2 }, "magic", `bad magic "HSLOG\x00\x00\x02"`},
		{"a ring, not a log", func(h []byte) { copy(h, "HNDSRING") }, "magic", `bad magic "HNDSRING"`},
		{"header CRC", func(h []byte) { h[16] ^= 1 }, "header CRC", "replay: log: header: bad header CRC (stored 0x"},
		{"version", func(h []byte) { h[8] = 1 }, "version", "replay: log: header: record layout version 1, this program reads version 2"},
		{"record size", func(h []byte) { h[12] = 128 }, "record size", "replay: log: header: record size 128, want 64"},
		{"reserved", func(h []byte) { h[31] = 1 }, "header reserved", "replay: log: header: reserved field 0x1000000, must be 0"},
	}
	for _, c := range cases {
		file := append([]byte{}, good...)
		c.edit(file)
		if c.field != "magic" && c.field != "header CRC" {
			binary.LittleEndian.PutUint32(file[24:], refCRC32C(file[:24]))
		}
		_, err := ReadLog(bytes.NewReader(file))
		le := logError(t, err)
		var de *DecodeError
		if le.Index != -1 || le.Offset != 0 || !errors.As(err, &de) || de.Field != c.field || !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %+v %v", c.name, le, err)
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Fatalf("%s: message %q, want %q", c.name, err, c.msg)
		}
		if !strings.HasPrefix(de.Error(), "replay: log header: ") {
			t.Fatalf("%s: DecodeError alone: %q", c.name, de)
		}
	}
}

func TestLogBadRecordAtK(t *testing.T) {
	const n = 150
	good := writeLog(t, manyRecords(n))
	for _, k := range []int{0, 1, 63, 64, 65, 100, n - 1} {
		off := LogHeaderSize + k*RecordSize
		// A bit flip (bad CRC) at record k, and a second one later that
		// must not be the one reported.
		file := append([]byte{}, good...)
		file[off+20] ^= 0x10
		file[len(file)-1] ^= 1
		if k == n-1 {
			file[len(file)-1] ^= 1
		}
		_, err := ReadLog(bytes.NewReader(file))
		le := logError(t, err)
		var de *DecodeError
		if le.Index != k || le.Offset != int64(off) || !errors.As(err, &de) || de.Field != "CRC" {
			t.Fatalf("k=%d: %+v: %v", k, le, err)
		}
		if want := "replay: log: record " + itoa(k) + " (offset " + itoa(off) + "): bad CRC (stored 0x"; !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("k=%d: %q", k, err)
		}

		// A record with a good CRC but a bad field (IRQ line 16).
		file = append([]byte{}, good...)
		bad := Record{Kind: KindIRQ, Seq: 5, Value: 16}
		bad.Encode(file[off:])
		_, err = ReadLog(bytes.NewReader(file))
		le = logError(t, err)
		if le.Index != k || !errors.As(err, &de) || de.Field != "Value" {
			t.Fatalf("k=%d: %v", k, err)
		}
		if want := "replay: log: record " + itoa(k) + " (offset " + itoa(off) + "): IRQ: line 16, must be <= 15"; err.Error() != want {
			t.Fatalf("k=%d: %q, want %q", k, err, want)
		}

		// A zeroed record.
		file = append([]byte{}, good...)
		clear(file[off : off+RecordSize])
		_, err = ReadLog(bytes.NewReader(file))
		if le = logError(t, err); le.Index != k || !strings.Contains(err.Error(), "zeroed record") {
			t.Fatalf("k=%d: %v", k, err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestWriteLogRejectsInvalid(t *testing.T) {
	recs := manyRecords(10)
	recs[7].Size = 3
	var buf bytes.Buffer
	err := WriteLog(&buf, recs)
	le := logError(t, err)
	if le.Index != 7 || le.Offset != 32+7*64 || !errors.Is(err, ErrMalformed) || buf.Len() != 0 {
		t.Fatalf("%v (wrote %d bytes)", err, buf.Len())
	}
}

type failWriter struct{ after int }

var errDisk = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errDisk
	}
	w.after--
	return len(p), nil
}

type failReader struct {
	r     io.Reader
	limit int
}

func (f *failReader) Read(p []byte) (int, error) {
	if f.limit <= 0 {
		return 0, errDisk
	}
	if len(p) > f.limit {
		p = p[:f.limit]
	}
	n, err := f.r.Read(p)
	f.limit -= n
	return n, err
}

func TestLogIOErrors(t *testing.T) {
	recs := manyRecords(100)
	for after, wantIdx := range []int{-1, 0, 64} {
		err := WriteLog(&failWriter{after: after}, recs)
		le := logError(t, err)
		if le.Index != wantIdx || !errors.Is(err, errDisk) || errors.Is(err, ErrMalformed) {
			t.Fatalf("write failing after %d calls: %+v %v", after, le, err)
		}
	}
	file := writeLog(t, recs)
	_, err := ReadLog(&failReader{r: bytes.NewReader(file), limit: 32 + 64*3 + 1})
	le := logError(t, err)
	if le.Index != 3 || !errors.Is(err, errDisk) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%+v %v", le, err)
	}
	if want := "replay: log: record 3 (offset 224): disk full"; err.Error() != want {
		t.Fatalf("got %q", err)
	}
}
