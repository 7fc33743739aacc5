package replay

import (
	"errors"
	"strings"
	"testing"

	"hindsight/ringbuf"
)

// TestThroughRing sends every sample through a ring created by the
// documented convention, attached by a second handle as the backup would.
func TestThroughRing(t *testing.T) {
	if RingStamp != 2 {
		t.Fatalf("RingStamp %#x", RingStamp)
	}
	mem := ringbuf.AlignedRegion(ringbuf.Size(RecordSize, 16))
	prod, err := ringbuf.Create(mem, RecordSize, 16, RingStamp)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := ringbuf.Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRing(cons); err != nil {
		t.Fatal(err)
	}
	var slot [RecordSize]byte
	for _, r := range samples {
		r.Encode(slot[:])
		if !prod.TryWrite(slot[:]) {
			t.Fatal("ring full")
		}
		clear(slot[:])
		if !cons.TryRead(slot[:]) {
			t.Fatal("ring empty")
		}
		var got Record
		if err := Decode(slot[:], &got); err != nil || got != r {
			t.Fatalf("got %v, %v; want %v", got, err, r)
		}
	}
}

func TestCheckRingMismatch(t *testing.T) {
	mem := ringbuf.AlignedRegion(ringbuf.Size(128, 4))
	r, err := ringbuf.Create(mem, 128, 4, RingStamp)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRing(r); !errors.Is(err, ErrRingLayout) || err.Error() != "replay: ring: record size 128, want 64: replay: ring does not carry records of this layout" {
		t.Fatalf("%v", err)
	}
	mem = ringbuf.AlignedRegion(ringbuf.Size(RecordSize, 4))
	r, err = ringbuf.Create(mem, RecordSize, 4, RingStamp+1) // layout version 3
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRing(r); !errors.Is(err, ErrRingLayout) || err.Error() != "replay: ring: creation stamp 3 (the record layout version), this program uses version 2: replay: ring does not carry records of this layout" {
		t.Fatalf("%v", err)
	}
	mem = ringbuf.AlignedRegion(ringbuf.Size(RecordSize, 4))
	r, err = ringbuf.Create(mem, RecordSize, 4, 12345) // someone's clock
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRing(r); !errors.Is(err, ErrRingLayout) || !strings.Contains(err.Error(), "creation stamp 12345 (the record layout version)") {
		t.Fatalf("%v", err)
	}
}
