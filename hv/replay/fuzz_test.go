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
// panics, fails with a *DecodeError, agrees with Check, and when it
// succeeds the record is valid and encodes back to exactly the input's
// first RecordSize bytes.
func checkDecode(t *testing.T, b []byte) {
	var r, c Record
	err := Decode(b, &r)
	if Check(b, &c) != (err == nil) {
		t.Fatalf("Check and Decode disagree: %v", err)
	}
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) || de.Msg == "" {
			t.Fatalf("error %T %v", err, err)
		}
		if (len(b) < RecordSize) != (de.Field == "length") {
			t.Fatalf("len %d: %v", len(b), err)
		}
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
