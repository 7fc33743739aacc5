package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"hindsight/boot"
	"hindsight/guest/image"
	"hindsight/guest/testguest"
	"hindsight/hv"
	"hindsight/hv/dev"
	"hindsight/hv/replay"
	"hindsight/vmx"
)

// fixedRTC is the CMOS clock's time by default: 2000-01-01 00:00:00 UTC.
const fixedRTC = 946684800

// pairOptions are the command-line options of a primary/backup pair
// (README: "Command-line options"), parsed into what hv.PairConfig needs
// plus what main prints.
type pairOptions struct {
	cfg       hv.PairConfig
	status    time.Duration // status line period
	stopAfter time.Duration // stopafter=: end the recording after this long (0: run to the guest's end)
	mode, arg uint64        // the test guest's mode and parameter
	testOpts  []string      // the test guest's options given (they conflict with guest=)
	realRTC   bool
	corrupt   string // the corrupt= option as given, for the summary
	gdbLine   string // gdb=: the serial line the backup's gdb stub serves ("com2"), or ""
	capLine   string // capture=: the serial line capture files go out on ("com3"), or ""
	gdbTrace  bool   // gdbtrace: the stub's packets on the console
}

func parsePairOptions(opts map[string]string) (pairOptions, error) {
	p := pairOptions{status: time.Second}
	c := &p.cfg
	c.Lag, c.Verify, c.PrimaryCPU, c.BackupCPU, c.RTCBase, c.AutoClock = 200*time.Millisecond, 20000, 0, 1, fixedRTC, true
	var err error
	fail := func(format string, args ...any) {
		if err == nil {
			err = fmt.Errorf(format, args...)
		}
	}
	if s, ok := opts["lag"]; ok {
		if d, e := time.ParseDuration(s); e == nil {
			c.Lag = d
		} else if n, e := strconv.ParseUint(s, 10, 64); e == nil {
			c.Lag, c.LagRecords = 0, n
		} else {
			fail("lag=%s: want a duration (2s, 500ms) or a record count", s)
		}
	}
	num := func(key string, dst *uint64) {
		if s, ok := opts[key]; ok {
			if key == "iterations" || key == "rounds" || key == "divisor" {
				p.testOpts = append(p.testOpts, key+"=")
			}
			n, e := strconv.ParseUint(s, 0, 64)
			if e != nil {
				fail("%s=%s: want a number", key, s)
			}
			*dst = n
		}
	}
	var ring, rounds, divisor uint64
	num("ring", &ring)
	c.Ring = int(ring)
	num("verify", &c.Verify)
	num("iterations", &p.arg)
	num("rounds", &rounds)
	num("divisor", &divisor)
	if _, ok := opts["mode"]; ok {
		p.testOpts = append(p.testOpts, "mode=")
	}
	switch s := opts["mode"]; s {
	case "", "replay":
		p.mode = testguest.ModeReplay
	case "async":
		p.mode = testguest.ModeAsync
		if rounds > 0xFFFFFFFF || divisor > 0xFFFF {
			fail("rounds=%d divisor=%d: want rounds < 2^32, divisor < 2^16", rounds, divisor)
		}
		p.arg = testguest.AsyncParam(uint32(rounds), uint16(divisor))
	case "halt":
		p.mode = testguest.ModeHalt
	default:
		fail("mode=%s: want replay (the default), async or halt (the test guest's mode)", s)
	}
	if s, ok := opts["corrupt"]; ok {
		p.corrupt = s
		if c.Corrupt, err = parseCorrupt(s); err != nil {
			return p, err
		}
	}
	switch s := opts["rtc"]; s {
	case "", "fixed":
	case "real":
		p.realRTC = true
		c.RTCBase = time.Now().Unix()
	default:
		fail("rtc=%s: want rtc=fixed (2000-01-01 00:00:00, the default) or rtc=real", s)
	}
	if s, ok := opts["clock"]; ok {
		var ok2 bool
		if c.Clock, c.AutoClock, ok2 = hv.ParseClock(s); !ok2 {
			fail("clock=%s: want clock=auto (the default), exit, slice or branch", s)
		}
	}
	if s, ok := opts["cpus"]; ok {
		a, b, ok2 := strings.Cut(s, ",")
		x, e1 := strconv.Atoi(a)
		y, e2 := strconv.Atoi(b)
		if !ok2 || e1 != nil || e2 != nil {
			fail("cpus=%s: want PRIMARY,BACKUP CPU numbers (cpus=0,1)", s)
		}
		c.PrimaryCPU, c.BackupCPU = x, y
	}
	if s, ok := opts["trace"]; ok {
		if s == "exits" {
			c.Trace = [2]uint64{0, ^uint64(0)}
		} else if r, ok2 := strings.CutPrefix(s, "exits:"); ok2 {
			a, b, _ := strings.Cut(r, "-")
			x, e1 := strconv.ParseUint(a, 10, 64)
			y, e2 := strconv.ParseUint(b, 10, 64)
			if e1 != nil || e2 != nil || y <= x {
				fail("trace=%s: want trace=exits or trace=exits:FROM-TO (landmarks, FROM < TO)", s)
			}
			c.Trace = [2]uint64{x, y}
		} else if s != "syscalls" {
			fail("trace=%s: want trace=exits, trace=exits:FROM-TO or trace=syscalls", s)
		}
	}
	c.Account = hasOpt(opts, "account")
	c.Mark = strings.ReplaceAll(opts["mark"], "+", " ")
	if s, ok := opts["status"]; ok {
		d, e := time.ParseDuration(s)
		if e != nil {
			fail("status=%s: want a duration", s)
		}
		p.status = d
	}
	if s, ok := opts["onfail"]; ok {
		var ok2 bool
		if c.Debug.OnFail, ok2 = hv.ParseOnFail(s); !ok2 {
			fail("onfail=%s: want onfail=debug (the default: the backup stops where it stands), replay (it replays to just before the failure) or follow", s)
		}
	}
	if s, ok := opts["gdb"]; ok {
		if s != "com2" {
			fail("gdb=%s: want gdb=com2 (the backup's gdb stub on the second serial port; COM1 is the console)", s)
		}
		p.gdbLine = s
	}
	if s, ok := opts["debug"]; ok {
		if s != "start" {
			fail("debug=%s: want debug=start (stop the backup before its first instruction)", s)
		}
		if p.gdbLine == "" {
			fail("debug=start waits for a debugger: add gdb=com2")
		}
		c.Debug.Start = true
	}
	_, p.gdbTrace = opts["gdbtrace"]
	if s, ok := opts["snapshots"]; ok {
		if s == "off" {
			c.Snapshots.Off = true
		} else if d, e := time.ParseDuration(s); e == nil && d > 0 {
			c.Snapshots.Every = d
		} else {
			fail("snapshots=%s: want snapshots=off or the time between the backup's snapshots (snapshots=500ms)", s)
		}
	}
	if s, ok := opts["capture"]; ok {
		if s != "com3" && s != "count" {
			fail("capture=%s: want capture=com3 (capture files go out on the third serial port) or capture=count (made and measured, sent nowhere)", s)
		}
		p.capLine = s
	}
	if s, ok := opts["snapmem"]; ok {
		n, ok2 := boot.ParseSize(s)
		if !ok2 || n == 0 {
			fail("snapmem=%s: want a size for the snapshots' undo pages (snapmem=32M)", s)
		}
		c.Snapshots.Pool = n
	}
	if s, ok := opts["stopafter"]; ok {
		d, e := time.ParseDuration(s)
		if e != nil || d <= 0 {
			fail("stopafter=%s: want a duration (stopafter=60s)", s)
		}
		p.stopAfter = d
	}
	return p, err
}

// parseCorrupt reads the test hook: KIND:N (a wrong value in the N-th
// record of KIND: rdtsc, clock, serialin), N (the N-th record of any
// kind), crc:N and kind:N (the N-th record malformed: a bad CRC, an
// unknown kind), truncate:N (the log ends after N-1 records, without the
// primary's end).
func parseCorrupt(s string) (hv.Corruption, error) {
	bad := fmt.Errorf("corrupt=%s: want [KIND:]N with N >= 1 and KIND one of rdtsc, clock, serialin, crc, kind, truncate", s)
	var h hv.Corruption
	count := s
	if name, n, ok := strings.Cut(s, ":"); ok {
		count = n
		switch name {
		case "crc":
			h.Fault = hv.FaultCRC
		case "kind":
			h.Fault = hv.FaultKind
		case "truncate":
			h.Fault = hv.FaultTruncate
		default:
			k, known := replay.ParseKind(name)
			if !known || (k != replay.KindRDTSC && k != replay.KindClock && k != replay.KindSerialIn) {
				return h, fmt.Errorf("corrupt=%s: %q is not a kind of input record (rdtsc, clock, serialin) nor a fault (crc, kind, truncate)", s, name)
			}
			h.Kind = k
		}
	}
	n, err := strconv.ParseUint(count, 0, 64)
	if err != nil || n == 0 {
		return h, bad
	}
	h.N = n
	return h, nil
}

// pairSetup reads a pair's options and finds its memory and guest.
func pairSetup(opts map[string]string) (pairOptions, error) {
	p, err := parsePairOptions(opts)
	if err != nil {
		return p, err
	}
	p.cfg.Memory = boot.GuestMemory()
	p.cfg.Guest, err = guestSpec(p)
	return p, err
}

// runPair runs the test guest as a primary and a lagging backup that
// replays the primary's log, prints the summary and returns the verdict as
// the image's exit status.
func runPair(m *hv.Machine, opts map[string]string) int {
	p, err := pairSetup(opts)
	if err != nil {
		printErr(err)
		return 1
	}
	c := &p.cfg
	c.Console = true
	if p.gdbLine != "" {
		line, err := boot.OpenSerial(boot.COM2)
		if err != nil {
			printErr(fmt.Errorf("gdb=%s: %w", p.gdbLine, err))
			return 1
		}
		c.GDB = line
		c.Debug.Attach = "gdb: target remote localhost:PORT (Bochs: make run GDBPORT=PORT) or target remote /dev/ttyS1 (hardware: the host's line to COM2)"
		if p.gdbTrace {
			c.GDBTrace = os.Stdout
		}
	}
	if p.capLine == "count" {
		c.Capture = io.Discard
	} else if p.capLine != "" {
		line, err := boot.OpenSerial(boot.COM3)
		if err != nil {
			printErr(fmt.Errorf("capture=%s: %w", p.capLine, err))
			return 1
		}
		c.Capture = line
	}
	pair, err := m.NewPair(*c)
	if err != nil {
		printErr(err)
		return 1
	}
	lagDesc := c.Lag.String()
	if c.LagRecords != 0 {
		lagDesc = fmt.Sprintf("%d records", c.LagRecords)
	}
	rtc := "fixed"
	if p.realRTC {
		rtc = "real"
	}
	printLoaded(pair.Primary.Loaded)
	fmt.Printf("hv: clock: %v (%s)\n", pair.Clock, pair.ClockWhy)
	if pr := pair.Probes; pr[0].MTF || pr[1].MTF {
		fmt.Println("hv: monitor trap flag: probed, exits after one instruction")
	} else {
		fmt.Println("hv: monitor trap flag: not usable (probed: no exit after one instruction)")
	}
	fmt.Printf("hv: primary on CPU%d (RAM at %#x), backup on CPU%d (RAM at %#x), lag %s, log of %d records, digests every %d landmarks, RTC %s\n",
		c.PrimaryCPU, c.Memory.Base, c.BackupCPU, c.Memory.Base+c.Memory.Size/2, lagDesc, pair.Log.Capacity(), c.Verify, rtc)
	fmt.Printf("hv: snapshots of the backup: %s\n", pair.SnapWhy)
	if p.capLine != "" {
		fmt.Printf("hv: capture: the backup writes a capture file to %s when the primary fails (and on \"monitor capture\")\n",
			map[string]string{"com3": "COM3", "count": "nowhere (capture=count: its size is measured)"}[p.capLine])
	}
	if p.gdbLine != "" {
		fmt.Printf("hv: debugger: the backup's gdb stub serves COM2; on a primary failure the backup does %v; console monitor: Ctrl-A h\n", c.Debug.OnFail)
	} else {
		fmt.Printf("hv: debugger: none (gdb=com2 serves one on COM2); on a primary failure the backup does %v without waiting; console monitor: Ctrl-A h\n", c.Debug.OnFail)
	}

	done := make(chan struct{})
	worstLag := make(chan time.Duration)
	go monitor(pair, p.status, done, worstLag)
	if p.stopAfter != 0 {
		stop := time.AfterFunc(p.stopAfter, func() {
			fmt.Printf("hv: stopafter=%v: stopping the primary; the backup replays up to where it stops\n", p.stopAfter)
			pair.Stop()
		})
		defer stop.Stop()
	}
	verdict := pair.Run()
	close(done)
	worst := <-worstLag

	ps, bs := pair.Primary.Stats(), pair.Backup.Stats()
	st := pair.Log.Status(0)
	fmt.Printf("hv: primary: %d landmarks, %d records logged, %d stalls on a full log, %d clock inputs, %d serial bytes in, %d interrupts injected, %d digests logged, %d exits\n",
		ps.Landmarks, st.Written, st.Stalls, ps.Clock, ps.SerialIn, ps.IRQs, ps.Digests, ps.Exits)
	fmt.Printf("hv: backup: %d landmarks, %d records replayed, %d asynchronous stops, %d digests matched, %d exits\n",
		bs.Landmarks, bs.Records, bs.Stops, bs.Digests, bs.Exits)
	if r := pair.Backup.SnapReport(); r != "" {
		fmt.Printf("hv: backup snapshots: %s\n", r)
	}
	ph, pn := pair.Primary.OutputHash()
	bh, bn := pair.Backup.OutputHash()
	if ph == bh && pn == bn {
		fmt.Printf("hv: outputs match: %d bytes, hash %#x\n", pn, ph)
	} else {
		fmt.Printf("hv: outputs differ: primary %d bytes hash %#x, backup %d bytes hash %#x\n", pn, ph, bn, bh)
	}
	fmt.Printf("hv: console input interrupts: CPU%d %d, CPU%d %d\n",
		c.PrimaryCPU, boot.ConsoleIRQs(c.PrimaryCPU), c.BackupCPU, boot.ConsoleIRQs(c.BackupCPU))
	if at, kind, ok := pair.Corrupted(); ok {
		fmt.Printf("hv: test hook: the primary logged a wrong %v record at landmark %v (corrupt=%s); digests every %d landmarks\n",
			kind, at, p.corrupt, c.Verify)
	}
	bound := c.Lag + c.Lag/2 + 500*time.Millisecond
	within := "within bound"
	if c.LagRecords == 0 && worst > bound {
		within = "OVER bound"
	}
	fmt.Printf("hv: lag: target %s, largest seen %v (bound %v): %s\n", lagDesc, worst.Round(time.Millisecond), bound, within)
	if c.Account {
		printCosts(pair)
	}
	fmt.Printf("hv: verdict: %v: %s\n", verdict.Kind, verdict.Reason)
	return int(verdict.Kind)
}

// printCosts says where each replica's time went (account): TSC ticks of
// the vCPU thread's own time (in Bochs, instructions), exits per million
// guest instructions by reason, the log's rate in guest time, and where
// the output first showed mark=.
func printCosts(pair *hv.Pair) {
	hz := float64(boot.ReadStats().TSCHz)
	for _, vm := range []*hv.VM{pair.Primary, pair.Backup} {
		s := vm.Stats()
		c := s.Cost
		guest := c.Total - c.Hypervisor
		fmt.Printf("bench: %-7s active %d (guest %d, hypervisor %d), waiting %d; %d exits, %.0f per million guest instructions\n",
			vm.Name(), c.Active(), guest, c.Hypervisor-c.Waiting, c.Waiting, s.Exits, float64(s.Exits)*1e6/float64(guest))
		var by []string
		for r, n := range s.ExitsBy {
			if n != 0 {
				by = append(by, fmt.Sprintf("%v %.0f", vmx.BasicExitReason(r), float64(n)*1e6/float64(guest)))
			}
		}
		fmt.Printf("bench: %-7s exits per million guest instructions by reason: %s\n", vm.Name(), strings.Join(by, ", "))
		if s.MarkedAt != 0 {
			fmt.Printf("bench: %-7s the output showed the mark at landmark #%d, after %d guest instructions\n", vm.Name(), s.MarkedAt, s.MarkedGuest)
		}
	}
	ps, bs := pair.Primary.Stats(), pair.Backup.Stats()
	if ps.Due != 0 {
		fmt.Printf("bench: primary: %d device interrupts fell due, noticed %.1f us late on average, %.1f us at most (clock %v)\n",
			ps.Due, float64(ps.Late)/float64(ps.Due)*1e6/dev.PITHz, float64(ps.LateMax)*1e6/dev.PITHz, pair.Clock)
	}
	if bs.Stops != 0 {
		fmt.Printf("bench: backup: %d asynchronous stops reached with %d exits more than the primary made, %d of them breakpoints or single steps; %d hypervisor instructions per exit\n",
			bs.Stops, int64(bs.Exits)-int64(ps.Exits), bs.Steps, (bs.Cost.Hypervisor-bs.Cost.Waiting)/max(bs.Exits, 1))
	}
	st := pair.Log.Status(0)
	secs := float64(ps.Cost.Total-ps.Cost.Hypervisor) / hz
	fmt.Printf("bench: log: %d records (%d bytes) in %.3f s of guest time: %.0f records/s, %.0f bytes/s\n",
		st.Written, st.Written*replay.RecordSize, secs, float64(st.Written)/secs, float64(st.Written*replay.RecordSize)/secs)
}

// monitor prints a status line every period: both sides' landmarks, the
// lag in records and time, how full the log is, and the log rate. It
// reads only the pair's published snapshot.
func monitor(pair *hv.Pair, period time.Duration, done <-chan struct{}, worstLag chan<- time.Duration) {
	var worst time.Duration
	var lastWritten uint64
	last := time.Now()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-done:
			worstLag <- worst
			return
		case now := <-tick.C:
			s := pair.Status()
			age := time.Duration(s.Log.AgeNs)
			if age > worst && s.Backup.State == hv.Running {
				worst = age
			}
			rate := float64(s.Log.Written-lastWritten) / now.Sub(last).Seconds()
			lastWritten, last = s.Log.Written, now
			fmt.Printf("hv: status: primary #%d %v, backup #%d %v, lag %d records %v, log %d%% full, %.0f records/s, %d stalls\n",
				s.Primary.Seq, s.Primary.State, s.Backup.Seq, s.Backup.State,
				s.Log.InFlight, age.Round(time.Millisecond), s.Log.InFlight*100/s.Log.Capacity, rate, s.Log.Stalls)
		}
	}
}

// runReplayBench measures the cost of recording and replaying (make
// bench-replay): the replay guest runs alone, then as a primary with its
// backup, doing the same work. Times are TSC ticks; in Bochs one tick is
// one emulated instruction, so the figures are instruction counts and
// repeatable. Waiting (HLT, the lag) is left out of every comparison.
func runReplayBench(m *hv.Machine, opts map[string]string) int {
	p, err := pairSetup(opts)
	if err != nil {
		printErr(err)
		return 1
	}
	c := &p.cfg
	c.Account, c.MutePrimary = true, true
	pair, err := m.NewPair(*c)
	if err != nil {
		printErr(err)
		return 1
	}
	soloRAM := boot.GuestRegion{Base: c.Memory.Base, Size: c.Memory.Size / 2 &^ (2<<20 - 1)}
	solo, err := m.NewVM(hv.Config{Name: "solo", CPU: c.PrimaryCPU, RAM: soloRAM, Guest: c.Guest,
		RTCBase: c.RTCBase, Mute: true, Account: true, Clock: pair.Clock})
	if err != nil {
		printErr(err)
		return 1
	}
	solo.Run()
	// The solo run used the primary's RAM: the pair's guests start again
	// from a freshly loaded image.
	if pair, err = m.NewPair(*c); err != nil {
		printErr(err)
		return 1
	}
	verdict := pair.Run()

	hz := float64(boot.ReadStats().TSCHz)
	fmt.Printf("bench: test guest mode %d, parameter %#x, clock %v; TSC %s\n", p.mode, p.arg, pair.Clock, opts["platform"])
	for _, vm := range []*hv.VM{solo, pair.Primary, pair.Backup} {
		s := vm.Stats()
		c := s.Cost
		guest := c.Total - c.Hypervisor
		fmt.Printf("bench: %-7s active %11d (guest %11d, hypervisor %9d), waiting %11d; %6d exits, %5.0f exits per million guest instructions\n",
			vm.Name(), c.Active(), guest, c.Hypervisor-c.Waiting, c.Waiting, s.Exits, float64(s.Exits)*1e6/float64(guest))
	}
	pct := func(a, b uint64) float64 { return (float64(a) - float64(b)) * 100 / float64(b) }
	ps, bs := pair.Primary.Stats(), pair.Backup.Stats()
	fmt.Printf("bench: recording overhead: %+.2f%% (primary vs solo, active; goal <= 2%%, seed 002: \"only fractional\")\n",
		pct(ps.Cost.Active(), solo.Stats().Cost.Active()))
	fmt.Printf("bench: replay overhead: %+.2f%% (backup vs primary, active; goal <= 2%%, seed 002: under 2%%)\n",
		pct(bs.Cost.Active(), ps.Cost.Active()))
	// The hypervisor's share alone: the guest's own count moves with where
	// the ticks land (by up to 0.5% of active between runs).
	perExit := func(vm *hv.VM) float64 {
		s := vm.Stats()
		return float64(s.Cost.Hypervisor-s.Cost.Waiting) / float64(s.Exits)
	}
	so, pr, bk := perExit(solo), perExit(pair.Primary), perExit(pair.Backup)
	fmt.Printf("bench: hypervisor instructions per exit: solo %.1f, primary %.1f (recording %+.1f), backup %.1f (replaying %+.1f)\n",
		so, pr, pr-so, bk, bk-pr)
	for _, vm := range []*hv.VM{pair.Primary, pair.Backup} {
		s := vm.Stats()
		if s.Digests == 0 {
			continue
		}
		fmt.Printf("bench: %-7s RAM digests: %d, %.0f of %d pages rehashed each (dirty-page tracking), %d TSC ticks each; a full rehash: %d ticks\n",
			vm.Name(), s.Digests, float64(s.PagesHashed)/float64(s.Digests), vm.Pages(), s.DigestTicks/s.Digests, vm.FullDigestTicks())
	}
	st := pair.Log.Status(0)
	secs := float64(ps.Cost.Total) / hz
	fmt.Printf("bench: log: %d records (%d bytes) in %.3f s of primary time: %.0f records/s, %.0f bytes/s\n",
		st.Written, st.Written*replay.RecordSize, secs, float64(st.Written)/secs, float64(st.Written*replay.RecordSize)/secs)
	printCosts(pair)
	fmt.Printf("bench: done (verdict %v)\n", verdict.Kind)
	return 0
}

// guestSpec is the guest the command line names (guest=, initrd=,
// guestmods=: package guest/image), loaded from the multiboot modules, or
// the built-in test guest in the mode the pair options chose.
func guestSpec(p pairOptions) (image.Spec, error) {
	choice, err := image.ParseChoice(boot.CmdLine())
	if err != nil {
		return image.Spec{}, err
	}
	if choice.Embedded() {
		if mem := boot.GuestMemory(); mem.Size/2 < testguest.MinRAM {
			return image.Spec{}, fmt.Errorf("guest memory is %d MiB; the test guest as primary and backup needs %d MiB: boot with guestmem=%dM",
				mem.Size>>20, 2*testguest.MinRAM>>20, 2*testguest.MinRAM>>20)
		}
		return image.Spec{Name: "test guest", Format: image.Flat64, Kernel: testguest.Image, Args: [2]uint64{p.mode, p.arg}}, nil
	}
	if len(p.testOpts) > 0 {
		return image.Spec{}, fmt.Errorf("%s are options of the built-in test guest; guest=%s runs that module instead",
			strings.Join(p.testOpts, ", "), choice.Guest)
	}
	var mods []image.Module
	for _, m := range boot.Modules() {
		mods = append(mods, image.Module{Cmdline: m.Cmdline, Data: m.Bytes()})
	}
	return choice.Spec(mods)
}

// printLoaded says what the loader put where.
func printLoaded(r image.Report) {
	fmt.Printf("hv: guest: %v, entry %s\n", r.Format, r.Entry)
	for _, reg := range r.Regions {
		fmt.Printf("hv: guest: %v\n", reg)
	}
	for _, n := range r.Notes {
		fmt.Printf("hv: guest: note: %s\n", n)
	}
}
