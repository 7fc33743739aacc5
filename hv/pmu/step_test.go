package pmu

import "testing"

func TestPlanEntry(t *testing.T) {
	const rip, stopRIP = 0x1000, 0x2000
	near := func(progress, stop uint64) Entry {
		return Entry{Progress: progress, Stop: stop, RIP: rip, StopRIP: stopRIP, HaveRIP: true, Single: SingleMTF, Slot: 3}
	}
	with := func(e Entry, f func(*Entry)) Entry { f(&e); return e }
	for _, c := range []struct {
		name string
		e    Entry
		want Plan
	}{
		{"no stop: count only", Entry{Progress: 5, Stop: NoStop}, Plan{}},
		{"a stop already passed", Entry{Progress: 50, Stop: 40}, Plan{}},
		{"far: overflow a margin short", near(0, 1000), Plan{PMI: 1000 - SkidMargin}},
		{"far, one branch beyond the margin", near(10, 10+SkidMargin+1), Plan{PMI: 1}},
		{"very far: at most 2^31 at a time", near(0, 1<<40), Plan{PMI: MaxPMIDistance}},
		{"near: breakpoint at the stop's RIP, overflow one past the stop", near(10, 10+SkidMargin),
			Plan{PMI: SkidMargin + 1, Breakpoint: true, BreakRIP: stopRIP, Slot: 3}},
		{"at the count, elsewhere in the block", near(7, 7),
			Plan{PMI: 1, Breakpoint: true, BreakRIP: stopRIP, Slot: 3}},
		{"at the RIP, earlier count: step over it with RF", with(near(7, 9), func(e *Entry) { e.RIP = stopRIP }),
			Plan{PMI: 3, Breakpoint: true, BreakRIP: stopRIP, Slot: 3, ResumeFlag: true}},
		{"at the RIP, earlier count, an event injected: no RF (it would be pushed)", with(near(7, 9), func(e *Entry) { e.RIP, e.Inject = stopRIP, true }),
			Plan{PMI: 3, Breakpoint: true, BreakRIP: stopRIP, Slot: 3}},
		{"at count and RIP (REP part way): one MTF step", with(near(9, 9), func(e *Entry) { e.RIP = stopRIP }), Plan{MTF: true}},
		{"at count and RIP without MTF: one TF step", with(near(9, 9), func(e *Entry) { e.RIP, e.Single = stopRIP, SingleTrap }), Plan{TrapFlag: true}},
		{"no free debug register: MTF steps", with(near(3, 9), func(e *Entry) { e.Slot = -1 }), Plan{MTF: true}},
		{"no free debug register: TF steps", with(near(3, 9), func(e *Entry) { e.Slot, e.Single = -1, SingleTrap }), Plan{TrapFlag: true}},
		{"no stop RIP known: steps", with(near(3, 9), func(e *Entry) { e.HaveRIP = false }), Plan{MTF: true}},
		{"TF step impossible (event injected): run, the count shows a departure", with(near(9, 9), func(e *Entry) {
			e.RIP, e.Single, e.Inject = stopRIP, SingleTrap, true
		}), Plan{PMI: 1}},
		{"TF step impossible (the guest single-steps itself)", with(near(9, 9), func(e *Entry) {
			e.RIP, e.Single, e.GuestTF = stopRIP, SingleTrap, true
		}), Plan{PMI: 1}},
		{"MTF steps despite an injection (it exits after the delivery)", with(near(9, 9), func(e *Entry) { e.RIP, e.Inject = stopRIP, true }), Plan{MTF: true}},
	} {
		if got := PlanEntry(c.e); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestNear(t *testing.T) {
	for _, c := range []struct {
		progress, stop uint64
		want           bool
	}{
		{0, NoStop, false}, {0, SkidMargin, true}, {0, SkidMargin + 1, false}, {5, 5, true}, {6, 5, false},
	} {
		if Near(c.progress, c.stop) != c.want {
			t.Errorf("Near(%d, %d) = %v", c.progress, c.stop, !c.want)
		}
	}
}
