package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"hindsight/boot"
	"hindsight/guest/testguest"
	"hindsight/hv"
	"hindsight/hv/replay"
)

// Options of the primary/backup pair (README: "Command-line options").
type pairOptions struct {
	lag        time.Duration // the backup stays this far behind...
	lagRecords uint64        // ...or this many records
	ring       int           // log capacity in records
	verify     uint64        // digest every so many landmarks
	status     time.Duration // status line period
	iterations uint64        // the test guest's work
	corrupt    uint64        // test hook: alter the n-th logged value...
	corruptOf  replay.Kind   // ...of this kind, if set
	realRTC    bool          // the guest's CMOS clock shows the host's time
}

func parsePairOptions(opts map[string]string) (pairOptions, error) {
	p := pairOptions{lag: 200 * time.Millisecond, ring: 1 << 16, verify: 20000, status: time.Second}
	var err error
	if s, ok := opts["lag"]; ok {
		if d, e := time.ParseDuration(s); e == nil {
			p.lag = d
		} else if n, e := strconv.ParseUint(s, 10, 64); e == nil {
			p.lag, p.lagRecords = 0, n
		} else {
			return p, fmt.Errorf("lag=%s: want a duration (2s, 500ms) or a record count", s)
		}
	}
	num := func(key string, dst *uint64) {
		if s, ok := opts[key]; ok && err == nil {
			if *dst, err = strconv.ParseUint(s, 0, 64); err != nil {
				err = fmt.Errorf("%s=%s: want a number", key, s)
			}
		}
	}
	var ring uint64 = uint64(p.ring)
	num("ring", &ring)
	num("verify", &p.verify)
	num("iterations", &p.iterations)
	if s, ok := opts["corrupt"]; ok && err == nil {
		p.corruptOf, p.corrupt, err = parseCorrupt(s)
	}
	p.ring = int(ring)
	if _, set := opts["ring"]; !set {
		// Size the log to hold the lag: twice a record lag, rounded up to a
		// power of two. The default holds a time lag of 2 s at up to 32,768
		// records a second (the test guest logs about 2,000).
		for uint64(p.ring) < 2*p.lagRecords {
			p.ring *= 2
		}
	}
	switch s := opts["rtc"]; s {
	case "", "fixed":
	case "real":
		p.realRTC = true
	default:
		if err == nil {
			err = fmt.Errorf("rtc=%s: want rtc=fixed (2000-01-01 00:00:00, the default) or rtc=real", s)
		}
	}
	if s, ok := opts["status"]; ok && err == nil {
		if p.status, err = time.ParseDuration(s); err != nil {
			err = fmt.Errorf("status=%s: want a duration", s)
		}
	}
	return p, err
}

// parseCorrupt reads the test hook's [KIND:]N.
func parseCorrupt(s string) (replay.Kind, uint64, error) {
	var k replay.Kind
	count := s
	if name, n, ok := strings.Cut(s, ":"); ok {
		var known bool
		if k, known = replay.ParseKind(name); !known || k == replay.KindDigest || k == replay.KindProgress || k == replay.KindEnd {
			return 0, 0, fmt.Errorf("corrupt=%s: %q is not a kind of input record (rdtsc, portin, irq, serialin)", s, name)
		}
		count = n
	}
	n, err := strconv.ParseUint(count, 0, 64)
	if err != nil || n == 0 {
		return 0, 0, fmt.Errorf("corrupt=%s: want [KIND:]N, N >= 1 (corrupt=300, corrupt=irq:150)", s)
	}
	return k, n, nil
}

// runPair runs the test guest as a primary on CPU0 and a lagging backup on
// CPU1 that replays the primary's log.
func runPair(m *hv.Machine, opts map[string]string) int {
	p, err := parsePairOptions(opts)
	if err != nil {
		printErr(err)
		return 1
	}
	log, err := hv.NewLog(p.ring)
	if err != nil {
		printErr(err)
		return 1
	}
	log.LagNs, log.LagRecords = p.lag.Nanoseconds(), p.lagRecords
	ramP, ramB := boot.GuestRAM()
	primary, err := m.NewVM(hv.Config{Name: "primary", CPU: 0, RAM: ramP, Image: testguest.Image,
		RDI: testguest.ModeReplay, RSI: p.iterations, Role: hv.Primary, Log: log, Input: true,
		VerifyEvery: p.verify, CorruptRecord: p.corrupt, CorruptKind: p.corruptOf, RealRTC: p.realRTC})
	if err != nil {
		printErr(err)
		return 1
	}
	backup, err := m.NewVM(hv.Config{Name: "backup", CPU: 1, RAM: ramB, Image: testguest.Image,
		RDI: testguest.ModeReplay, RSI: p.iterations, Role: hv.Backup, Log: log, Peer: primary, Mute: true, RealRTC: p.realRTC})
	if err != nil {
		printErr(err)
		return 1
	}
	lagDesc := p.lag.String()
	if p.lagRecords != 0 {
		lagDesc = fmt.Sprintf("%d records", p.lagRecords)
	}
	rtc := "fixed"
	if p.realRTC {
		rtc = "real"
	}
	fmt.Printf("hv: primary on CPU0 (RAM at %#x), backup on CPU1 (RAM at %#x = A+%#x), lag %s, log of %d records, digests every %d landmarks, RTC %s\n",
		ramP.Base, ramB.Base, ramB.Base-ramP.Base, lagDesc, p.ring, p.verify, rtc)

	done := make(chan struct{})
	maxLag := make(chan time.Duration)
	go monitor(primary, backup, log, p.status, done, maxLag)
	runVMs(primary, backup)
	close(done)
	worst := <-maxLag

	ph, pn := primary.OutputHash()
	bh, bn := backup.OutputHash()
	st := log.Stats()
	fmt.Printf("hv: primary: %d landmarks, %d records logged, %d stalls on a full log, %d timer interrupts, %d serial bytes in, %d interrupts injected, %d digests logged\n",
		primary.Seq(), st.Written, primary.Stalls, primary.IRQs, primary.SerialIn, primary.Injected, primary.Verified)
	fmt.Printf("hv: backup: %d landmarks, %d records replayed, %d digests matched\n", backup.Seq(), backup.Replayed, backup.Verified)
	if ph == bh && pn == bn {
		fmt.Printf("hv: outputs match: %d bytes, hash %#x\n", pn, ph)
	} else {
		fmt.Printf("hv: outputs differ: primary %d bytes hash %#x, backup %d bytes hash %#x\n", pn, ph, bn, bh)
	}
	fmt.Printf("hv: console input interrupts: CPU0 %d, CPU1 %d\n", boot.ConsoleIRQs(0), boot.ConsoleIRQs(1))
	if primary.CorruptedAt != 0 {
		fmt.Printf("hv: test hook: the primary logged a wrong %v value at landmark #%d (record %s); digests every %d landmarks\n",
			primary.CorruptedKind, primary.CorruptedAt, opts["corrupt"], p.verify)
	}
	bound := p.lag + p.lag/2 + 500*time.Millisecond
	verdict := "within bound"
	if p.lagRecords == 0 && worst > bound {
		verdict = "OVER bound"
	}
	fmt.Printf("hv: lag: target %s, largest seen %v (bound %v): %s\n", lagDesc, worst.Round(time.Millisecond), bound, verdict)
	return 0
}

// monitor prints a status line every period: both sides' landmarks, the lag
// in records and time, how full the log is, and the log rate.
func monitor(primary, backup *hv.VM, log *hv.Log, period time.Duration, done <-chan struct{}, maxLag chan<- time.Duration) {
	var worst time.Duration
	var lastWritten uint64
	last := time.Now()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-done:
			maxLag <- worst
			return
		case now := <-tick.C:
			st := log.Stats()
			age := log.Age()
			if age > worst && backup.State() <= hv.Halted {
				worst = age
			}
			rate := float64(st.Written-lastWritten) / now.Sub(last).Seconds()
			lastWritten, last = st.Written, now
			fmt.Printf("hv: status: primary #%d %s, backup #%d %s, lag %d records %v, log %d%% full, %.0f records/s, %d stalls\n",
				primary.Seq(), strings.ToLower(primary.State().String()), backup.Seq(), backup.State(),
				st.InFlight, age.Round(time.Millisecond), st.InFlight*100/st.Capacity, rate, primary.Stalls)
		}
	}
}

// runReplayBench measures the cost of recording and replaying (make
// bench-replay): the replay guest runs alone, then as a primary with its
// backup, doing the same work. Times are TSC ticks; in Bochs one tick is
// one emulated instruction, so the figures are instruction counts and
// repeatable. Waiting (HLT, the lag) is left out of every comparison.
func runReplayBench(m *hv.Machine, opts map[string]string) int {
	p, err := parsePairOptions(opts)
	if err != nil {
		printErr(err)
		return 1
	}
	ramP, ramB := boot.GuestRAM()
	solo, err := m.NewVM(hv.Config{Name: "solo", CPU: 0, RAM: ramP, Image: testguest.Image,
		RDI: testguest.ModeReplay, RSI: p.iterations, Mute: true, Account: true})
	if err != nil {
		printErr(err)
		return 1
	}
	runVMs(solo)
	log, err := hv.NewLog(p.ring)
	if err != nil {
		printErr(err)
		return 1
	}
	primary, err := m.NewVM(hv.Config{Name: "primary", CPU: 0, RAM: ramP, Image: testguest.Image,
		RDI: testguest.ModeReplay, RSI: p.iterations, Role: hv.Primary, Log: log, Mute: true, Account: true})
	if err != nil {
		printErr(err)
		return 1
	}
	backup, err := m.NewVM(hv.Config{Name: "backup", CPU: 1, RAM: ramB, Image: testguest.Image,
		RDI: testguest.ModeReplay, RSI: p.iterations, Role: hv.Backup, Log: log, Peer: primary, Mute: true, Account: true})
	if err != nil {
		printErr(err)
		return 1
	}
	runVMs(primary, backup)

	hz := float64(boot.ReadStats().TSCHz)
	fmt.Printf("bench: replay guest, %d iterations; TSC %s\n", p.iterations, opts["platform"])
	for _, vm := range []*hv.VM{solo, primary, backup} {
		c := vm.Cost
		guest := c.Total - c.Hypervisor
		fmt.Printf("bench: %-7s active %11d (guest %11d, hypervisor %9d), waiting %11d; %6d exits, %5.0f exits per million guest instructions\n",
			vm.Name(), c.Active(), guest, c.Hypervisor-c.Waiting, c.Waiting, vm.Exits, float64(vm.Exits)*1e6/float64(guest))
	}
	pct := func(a, b uint64) float64 { return (float64(a) - float64(b)) * 100 / float64(b) }
	fmt.Printf("bench: recording overhead: %+.2f%% (primary vs solo, active; goal <= 2%%, seed 002: \"only fractional\")\n",
		pct(primary.Cost.Active(), solo.Cost.Active()))
	fmt.Printf("bench: replay overhead: %+.2f%% (backup vs primary, active; goal <= 2%%, seed 002: under 2%%)\n",
		pct(backup.Cost.Active(), primary.Cost.Active()))
	st := log.Stats()
	secs := float64(primary.Cost.Total) / hz
	fmt.Printf("bench: log: %d records (%d bytes) in %.3f s of primary time: %.0f records/s, %.0f bytes/s\n",
		st.Written, st.Written*replay.RecordSize, secs, float64(st.Written)/secs, float64(st.Written*replay.RecordSize)/secs)
	same := "identical"
	ph, _ := primary.OutputHash()
	bh, _ := backup.OutputHash()
	if ph != bh {
		same = "DIFFERENT"
	}
	fmt.Printf("bench: done (outputs %s)\n", same)
	return 0
}
