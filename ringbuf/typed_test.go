package ringbuf

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
)

type event struct {
	Kind     uint32
	CPU      uint32
	Branches uint64
	RIP      uint64
	Value    uint64
}

func TestTyped(t *testing.T) {
	r, mem := mkRing(t, 32, 8)
	w, err := As[event](r)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Attach(mem)
	rd, err := As[event](c)
	if err != nil {
		t.Fatal(err)
	}
	if w.Ring() != r {
		t.Fatal("Ring()")
	}
	var got event
	if rd.TryRead(&got) || rd.Get(&got) {
		t.Fatal("read from empty ring")
	}
	for i := 0; i < 100; i++ {
		e := event{Kind: uint32(i), CPU: 1, Branches: uint64(i) * 1000, RIP: 0xffff800000000000 + uint64(i), Value: ^uint64(i)}
		r.SetStamp(uint64(i))
		switch i % 4 {
		case 3:
			s, h := w.Claim(uint64(i))
			if s == nil {
				t.Fatal("Claim")
			}
			s.Value = 0 // changed below through Claimed, before the flush
			if c.Available() != 0 {
				t.Fatal("record claimed visible before Flush")
			}
			*w.Claimed(h) = e
			w.Flush()
		case 0:
			if !w.TryWrite(&e) {
				t.Fatal("TryWrite")
			}
		case 1:
			if !w.Put(&e) {
				t.Fatal("Put")
			}
			r.Flush()
		case 2:
			if !w.Put(&e) {
				t.Fatal("Put")
			}
			if c.Available() != 0 {
				t.Fatal("Put visible before Flush")
			}
			r.Flush()
		}
		if s, ok := c.OldestStamp(); !ok || s != uint64(i) {
			t.Fatalf("stamp %d %v", s, ok)
		}
		var ok bool
		if i%2 == 0 {
			ok = rd.TryRead(&got)
		} else {
			ok = rd.Get(&got)
			c.Ack()
		}
		if !ok || got != e {
			t.Fatalf("record %d: got %+v want %+v", i, got, e)
		}
	}
	// Full: typed writes fail and count stalls.
	var e event
	n := 0
	for w.Put(&e) {
		n++
	}
	if s, _ := w.Claim(0); n != 8 || w.TryWrite(&e) || s != nil || r.Stats().Stalls != 3 {
		t.Fatalf("filled %d, stalls %d", n, r.Stats().Stalls)
	}
	r.Flush()
	if c.InFlight() != 8 {
		t.Fatal("in flight")
	}
}

func TestAsErrors(t *testing.T) {
	r, _ := mkRing(t, 16, 8)
	if _, err := As[[8]byte](r); !errors.Is(err, ErrRecordSize) || !strings.Contains(err.Error(), "type [8]uint8 is 8 bytes, record size is 16") {
		t.Fatalf("size: %v", err)
	}
	type withPtr struct {
		P *int
		X uint64
	}
	if _, err := As[withPtr](r); !errors.Is(err, ErrRecordSize) || !strings.Contains(err.Error(), "contains pointers") {
		t.Fatalf("pointers: %v", err)
	}
	if _, err := As[string](r); err == nil {
		t.Fatal("string accepted")
	}
	if _, err := As[[2]uint64](r); err != nil {
		t.Fatal(err)
	}
	if _, err := As[struct {
		A [2]float32
		B complex64
	}](r); err != nil {
		t.Fatal(err)
	}
}

// TestTypedTransfer: the typed fast paths between two goroutines (under
// -race, the data-race check of the inlined paths).
func TestTypedTransfer(t *testing.T) {
	n := uint64(2_000_000)
	if raceEnabled {
		n = 200_000
	}
	r, mem := mkRing(t, 32, 64)
	c, _ := Attach(mem)
	w, _ := As[event](r)
	rd, _ := As[event](c)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(0); i < n; {
			e := event{Kind: uint32(i), Branches: i, RIP: ^i, Value: i * 7}
			var ok bool
			if i%4 == 0 {
				ok = w.TryWrite(&e)
			} else if i%8 == 5 {
				if s, h := w.Claim(i); s != nil {
					*w.Claimed(h) = e
					ok = true
				}
				w.Flush()
			} else if ok = w.Put(&e); i%4 == 3 || !ok {
				r.Flush()
			}
			if ok {
				i++
			} else {
				runtime.Gosched()
			}
		}
		r.Flush()
	}()
	var e event
	for i := uint64(0); i < n; {
		var ok bool
		if i%3 == 0 {
			ok = rd.TryRead(&e)
		} else if i%5 == 1 { // Pop also hands back what Get took before
			if s, _, _ := rd.Front(); s != nil {
				e, ok = *s, true
				rd.Pop()
			}
		} else if ok = rd.Get(&e); i%3 == 2 || !ok {
			c.Ack()
		}
		if !ok {
			runtime.Gosched()
			continue
		}
		if e.Branches != i || e.Kind != uint32(i) || e.RIP != ^i || e.Value != i*7 {
			t.Fatalf("record %d: %+v", i, e)
		}
		i++
	}
	wg.Wait()
}

// TestTypedFront: the consumer reads records in place, oldest first, with
// their stamps and the count still unread; Pop hands each back.
func TestTypedFront(t *testing.T) {
	r, mem := mkRing(t, 32, 4)
	c, _ := Attach(mem)
	w, _ := As[event](r)
	rd, _ := As[event](c)
	if s, _, n := rd.Front(); s != nil || n != 0 {
		t.Fatal("Front on an empty ring")
	}
	for i := uint64(0); i < 3; i++ {
		r.SetStamp(100 + i)
		w.TryWrite(&event{Branches: i})
	}
	for i := uint64(0); i < 3; i++ {
		s, stamp, n := rd.Front()
		if s == nil || s.Branches != i || stamp != 100+i || n != 3-i {
			t.Fatalf("record %d: %+v stamp %d, %d unread", i, s, stamp, n)
		}
		rd.Pop()
	}
	if s, _, _ := rd.Front(); s != nil || r.Free() != 4 {
		t.Fatal("records left after Pop")
	}
}
