package dev

import (
	"fmt"
	"testing"
)

// recorder is a device that records accesses.
type recorder struct{ ins, outs []string }

func (r *recorder) In(port uint16, size int) uint32 {
	r.ins = append(r.ins, fmt.Sprintf("%#x/%d", port, size))
	return uint32(port&0xFF) | 0xAB00
}

func (r *recorder) Out(port uint16, size int, v uint32) {
	r.outs = append(r.outs, fmt.Sprintf("%#x/%d=%#x", port, size, v))
}

func takeAll(b *Bus) []UnclaimedAccess {
	var all []UnclaimedAccess
	for {
		a, ok := b.TakeUnclaimed()
		if !ok {
			return all
		}
		all = append(all, a)
	}
}

func TestBusIgnoreReportsFirstAccessOnce(t *testing.T) {
	var b Bus
	for i := 0; i < 3; i++ {
		if v, fault := b.In(0x2F8, 1); v != 0xFF || fault {
			t.Fatalf("In = %#x %v", v, fault)
		}
	}
	if b.Out(0x2F8, 1, 0x41) || b.Out(0x3E9, 1, 0x42) {
		t.Fatal("Out faulted")
	}
	// Wide reads of unclaimed ports: all ones, each port reported once.
	if v, _ := b.In(0x300, 2); v != 0xFFFF {
		t.Fatalf("inw = %#x", v)
	}
	if v, _ := b.In(0x300, 4); v != 0xFFFFFFFF {
		t.Fatalf("inl = %#x", v)
	}
	want := []UnclaimedAccess{{0x2F8, false, 1, 0}, {0x3E9, true, 1, 0x42}, {0x300, false, 2, 0}, {0x301, false, 2, 0},
		{0x302, false, 4, 0}, {0x303, false, 4, 0}}
	if got := takeAll(&b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
	// A full queue counts what it drops; the queue stays in order.
	for p := uint16(0x1000); p < 0x1000+UnclaimedQueueSize+3; p++ {
		b.Out(p, 1, uint32(p))
	}
	got := takeAll(&b)
	if len(got) != UnclaimedQueueSize || got[0].Port != 0x1000 || got[UnclaimedQueueSize-1].Port != 0x1000+UnclaimedQueueSize-1 {
		t.Fatalf("queue %v", got)
	}
	if b.UnclaimedDropped() != 3 {
		t.Fatalf("dropped %d, want 3", b.UnclaimedDropped())
	}
	b.In(0x1100, 1) // room again after taking
	if got := takeAll(&b); len(got) != 1 || got[0].Port != 0x1100 {
		t.Fatalf("after draining: %v", got)
	}
}

func TestBusFaultAndSilentPolicies(t *testing.T) {
	var b Bus
	r := &recorder{}
	b.Register(0x400, 0x401, r)
	b.SetPolicy(0x400, 0x4FF, Fault)
	b.SetPolicy(0x480, 0x48F, Silent) // later range wins where they overlap
	if _, fault := b.In(0x410, 1); !fault {
		t.Fatal("no fault for an unclaimed port under Fault")
	}
	if !b.Out(0x410, 1, 0) {
		t.Fatal("no fault on Out")
	}
	// Claimed ports are not subject to the policy.
	if v, fault := b.In(0x400, 1); fault || v != 0x00 {
		t.Fatalf("claimed port: %#x %v", v, fault)
	}
	// An access that reaches a faulting port is refused as a whole.
	if !b.Out(0x401, 2, 0x1234) || len(r.outs) != 0 {
		t.Fatalf("straddling access not refused: %v", r.outs)
	}
	if v, fault := b.In(0x485, 1); fault || v != 0xFF {
		t.Fatalf("Silent port: %#x %v", v, fault)
	}
	if b.PolicyFor(0x485) != Silent || b.PolicyFor(0x4FF) != Fault || b.PolicyFor(0x500) != Ignore {
		t.Fatal("PolicyFor")
	}
	b.SetDefault(Fault)
	if _, fault := b.In(0x9000, 1); !fault {
		t.Fatal("default Fault not applied")
	}
	if got := takeAll(&b); len(got) != 0 {
		t.Fatalf("Fault/Silent reported: %v", got)
	}
	if _, fault := b.In(0x400, 3); !fault {
		t.Fatal("3-byte access accepted")
	}
}

func TestBusSplitsWideAccesses(t *testing.T) {
	var b Bus
	r := &recorder{}
	b.Register(0x70, 0x71, r)
	// outw 0x70, 0x5A40: 0x40 to 0x70, then 0x5A to 0x71; inw reassembles.
	b.Out(0x70, 2, 0x5A40)
	if v, _ := b.In(0x70, 2); v != 0x7170 {
		t.Fatalf("inw = %#x", v)
	}
	if fmt.Sprint(r.outs, r.ins) != "[0x70/1=0x40 0x71/1=0x5a] [0x70/1 0x71/1]" {
		t.Fatalf("accesses %v %v", r.outs, r.ins)
	}
	// A wide device gets the whole access.
	w := &recorder{}
	b.RegisterWide(0xCF8, 0xCFF, w)
	if v, _ := b.In(0xCF8, 4); v != 0xABF8 {
		t.Fatalf("wide In = %#x", v)
	}
	b.Out(0xCFC, 4, 0x80000000)
	if fmt.Sprint(w.ins, w.outs) != "[0xcf8/4] [0xcfc/4=0x80000000]" {
		t.Fatalf("wide accesses: %v %v", w.ins, w.outs)
	}
	if b.Device(0xCFA) != w || b.Device(0x72) != nil {
		t.Fatal("Device lookup")
	}
}

func TestBusRegisterOverlapPanics(t *testing.T) {
	var b Bus
	b.Register(0x20, 0x21, &recorder{})
	defer func() {
		if recover() == nil {
			t.Fatal("overlapping Register did not panic")
		}
	}()
	b.Register(0x21, 0x22, Absent{})
}

// TestBusRouteMatchesClaims checks the port table against the claimed ranges
// for every port, and that the fast path (byte accesses) gives what the
// devices give: an 8-bit device sees the low byte, a wide one the whole
// value, Absent reads all ones.
func TestBusRouteMatchesClaims(t *testing.T) {
	var b Bus
	narrow, wide := &recorder{}, &recorder{}
	b.Register(0x20, 0x21, narrow)
	b.Register(0x80, 0x80, Absent{})
	b.Register(0x87, 0x87, &Absent{})
	b.RegisterWide(0xCF8, 0xCFF, wide)
	b.RegisterWide(0xFFFE, 0xFFFF, Absent{})
	for p := 0; p < 65536; p++ {
		var want Device
		switch {
		case p == 0x20 || p == 0x21:
			want = narrow
		case p == 0x80:
			want = Absent{}
		case p == 0x87:
			want = b.devs[2].dev
		case p >= 0xCF8 && p <= 0xCFF:
			want = wide
		case p >= 0xFFFE:
			want = Absent{}
		}
		if got := b.Device(uint16(p)); got != want {
			t.Fatalf("Device(%#x) = %v, want %v", p, got, want)
		}
	}
	if v, f := b.In(0x21, 1); v != 0x21 || f {
		t.Fatalf("narrow In = %#x %v", v, f)
	}
	if v, f := b.In(0xCF9, 1); v != 0xABF9 || f {
		t.Fatalf("wide In = %#x %v", v, f)
	}
	b.Out(0x20, 1, 0x1234)
	b.Out(0xCFC, 1, 0x1234)
	if fmt.Sprint(narrow.outs, wide.outs) != "[0x20/1=0x34] [0xcfc/1=0x1234]" {
		t.Fatalf("byte writes: %v %v", narrow.outs, wide.outs)
	}
	for _, p := range []uint16{0x80, 0x87, 0xFFFE} {
		if v, f := b.In(p, 1); v != 0xFF || f || b.Out(p, 1, 0) {
			t.Fatalf("Absent %#x: In = %#x %v", p, v, f)
		}
	}
	if v, _ := b.In(0xFFFE, 2); v != 0xFFFF {
		t.Fatalf("wide Absent inw = %#x", v)
	}
}
