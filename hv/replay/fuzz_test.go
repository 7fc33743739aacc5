package replay

import (
	"bytes"
	"errors"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, r := range samples {
		f.Add(encode(r))
	}
	f.Add(make([]byte, RecordSize))
	f.Add([]byte{1, 2, 3})
}

// checkDecode is the property both fuzz targets check: Decode never
// panics, fails with a *DecodeError, and when it succeeds the record is
// valid and encodes back to exactly the input's first RecordSize bytes.
func checkDecode(t *testing.T, b []byte) {
	var r Record
	err := Decode(b, &r)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) || de.Msg == "" {
			t.Fatalf("error %T %v", err, err)
		}
		if (len(b) < RecordSize) != (de.Field == "length") {
			t.Fatalf("len %d: %v", len(b), err)
		}
		_ = err.Error()
		return
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("decoded record fails Validate: %v", err)
	}
	out := make([]byte, RecordSize)
	r.Encode(out)
	if !bytes.Equal(out, b[:RecordSize]) {
		t.Fatalf("Encode(Decode(b)) != b\n  b %x\nout %x", b[:RecordSize], out)
	}
	_ = r.String()
}

// FuzzDecode feeds arbitrary bytes to Decode.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
	})
}

// FuzzDecodeFields repairs the CRC of arbitrary bytes before decoding, so
// that the fuzzer exercises the field checks behind the CRC (which random
// bytes almost never get past).
func FuzzDecodeFields(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < RecordSize {
			checkDecode(t, b)
			return
		}
		b = append([]byte{}, b[:RecordSize]...)
		fixCRC(b)
		checkDecode(t, b)
	})
}

// FuzzReadLog feeds arbitrary files to ReadLog: it never panics, errors
// are *LogError, and a log it accepts is written back identically.
func FuzzReadLog(f *testing.F) {
	f.Add(mustWriteLog(nil))
	f.Add(mustWriteLog(manyRecords(3)))
	f.Add([]byte("HSLOG\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, file []byte) {
		recs, err := ReadLog(bytes.NewReader(file))
		if err != nil {
			var le *LogError
			if !errors.As(err, &le) {
				t.Fatalf("error %T %v", err, err)
			}
			_ = err.Error()
			return
		}
		if out := mustWriteLog(recs); !bytes.Equal(out, file) {
			t.Fatalf("WriteLog(ReadLog(f)) != f")
		}
	})
}

func mustWriteLog(recs []Record) []byte {
	var buf bytes.Buffer
	if err := WriteLog(&buf, recs); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
