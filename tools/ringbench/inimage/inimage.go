// Package inimage is tools/ringbench run inside the hypervisor image (the
// "bench=ring" boot option): the ring lives in physical memory from
// boot.AllocPhys, which both cores map, as in the real deployment, and the
// concurrent figures move records from CPU0 to CPU1 with each side pinned
// by boot.Pin.
//
// It measures, as tools/ringbench does on the host and the seed paper's
// Table 2 did: (a) single-core throughput of 1000 writes into a non-full
// 4096-entry ring and 1000 reads from a full one, mean of 10 runs, for 4..64
// byte entries (median of several such means); (b) a concurrent transfer of
// 64-byte records, producer pinned to CPU0 and consumer to CPU1, per record
// and batched; (c) the one-way latency CPU0 -> CPU1, a ping-pong over two
// rings, round trip / 2; and memcpy bandwidth in the same run. Times are
// TSC cycles (boot.TSC) and ns from the TSC rate the boot layer calibrated.
// In Bochs one TSC tick is one emulated instruction, so there the cycle
// figures are instruction counts; under QEMU TCG they are the host's clock.
// Neither is a hardware figure, and the output says which it is.
//
// The code is a compact reimplementation of tools/ringbench's method, not
// a shared copy: ringbench's measurement functions are tied to its flags,
// its JSON report and time.Now, and moving them here would rewrite most of
// that command.
package inimage

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"hindsight/boot"
	"hindsight/ringbuf"
	"hindsight/tools/ringbench/loops"
)

const (
	entries = 4096 // ring size in the paper
	ops     = 1000 // operations timed per run in the paper
	runs    = 10   // runs averaged in the paper
	xsize   = 64   // record size of the concurrent transfer
	chunk   = 256  // records per WriteBatch/ReadBatch call in the transfer
)

// Done is the last line Run prints when every measurement completed.
const Done = "ringbench-image: done"

// The paper's Table 2 (MB/s), Xeon 5130 2 GHz, 4096 entries; no 64-byte column.
var (
	paperWrite = map[int]float64{4: 406.30, 8: 646.97, 16: 812.23, 32: 1202.38}
	paperRead  = map[int]float64{4: 439.57, 8: 688.81, 16: 913.37, 32: 1216.66}
)

// plan is how much work a platform gets. Bochs executes some 30-50 million
// instructions per second for both CPUs together, so its plan keeps the
// whole run to a few hundred million emulated instructions.
type plan struct {
	label              string
	emulated           bool
	trials             int // single core: median of this many 10-run means
	perRecord, batched int // records moved by each transfer
	tries              int // transfers: best of this many
	latBlocks, latPer  int // latency: blocks of latPer round trips
	memLarge, memReps  int // memcpy: large buffer, copies per sample
	memSmall, memSReps int // memcpy: small (cache-resident) buffer
	memTries           int
}

func planFor(platform string) plan {
	switch {
	case platform == "bochs":
		return plan{emulated: true, label: "emulated (bochs): cycles are instructions (one TSC tick per emulated instruction); ns and MB/s are emulated time",
			trials: 3, perRecord: 50_000, batched: 400_000, tries: 1, latBlocks: 50, latPer: 100,
			memLarge: 4 << 20, memReps: 1, memSmall: 256 << 10, memSReps: 4, memTries: 2}
	case strings.HasPrefix(platform, "qemu"):
		return plan{emulated: true, label: "emulated (" + platform + "): TCG-translated code, TSC from the host's clock; not hardware figures",
			trials: 5, perRecord: 100_000, batched: 500_000, tries: 3, latBlocks: 50, latPer: 100,
			memLarge: 16 << 20, memReps: 1, memSmall: 256 << 10, memSReps: 20, memTries: 5}
	default:
		if platform == "" {
			platform = "bare metal"
		}
		return plan{label: platform,
			trials: 31, perRecord: 1_000_000, batched: 2_000_000, tries: 5, latBlocks: 200, latPer: 1000,
			memLarge: 64 << 20, memReps: 1, memSmall: 256 << 10, memSReps: 200, memTries: 5}
	}
}

// env is what the measurements need from the machine; Run fills it from
// package boot, tests from the host.
type env struct {
	pin   func(cpu int) error
	unpin func()
	alloc func(bytes int) (unsafe.Pointer, uint64, error) // pointer, physical address
	tsc   func() uint64
	hz    float64 // TSC ticks per second
}

// Run measures the ring inside the image and prints the report to w,
// ending with Done. platform names the machine ("bochs", "qemu-tcg", or
// empty for bare metal); it picks the labels and the iteration counts.
func Run(w io.Writer, platform string) error {
	if boot.NumCPU() < 2 {
		return fmt.Errorf("ringbench-image: %d CPU: the CPU0 -> CPU1 measurements need two", boot.NumCPU())
	}
	e := env{
		pin:   pinBoot,
		unpin: unpinBoot,
		alloc: func(bytes int) (unsafe.Pointer, uint64, error) {
			pa, err := boot.AllocPhys((bytes+4095)/4096, 4096)
			if err != nil {
				return nil, 0, err
			}
			// pa is identity-mapped RAM outside the Go heap, so the address is
			// also a pointer (read through &a so that vet sees no uintptr
			// conversion); the ring holds no Go pointers.
			a := uintptr(pa)
			return *(*unsafe.Pointer)(unsafe.Pointer(&a)), pa, nil
		},
		tsc: boot.TSC,
		hz:  float64(boot.ReadStats().TSCHz),
	}
	return run(w, platform, planFor(platform), e)
}

// pinBoot pins the caller to cpu and waits until it is running there.
func pinBoot(cpu int) error {
	if err := boot.Pin(cpu); err != nil {
		return err
	}
	for i := 0; boot.CurrentCPU() != cpu; i++ {
		if i == 1000 {
			return fmt.Errorf("pinned to CPU%d but still on CPU%d", cpu, boot.CurrentCPU())
		}
		runtime.Gosched()
	}
	return nil
}

// unpinBoot gives the thread back to every CPU and to the Go scheduler.
func unpinBoot() {
	mask := uint64(1)<<uint(boot.NumCPU()) - 1
	syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, 8, uintptr(unsafe.Pointer(&mask)))
	runtime.UnlockOSThread()
}

// worker is a goroutine pinned to one CPU that runs the jobs given to it.
type worker struct {
	jobs chan func()
	done chan struct{}
}

func newWorker(e *env, cpu int) (*worker, error) {
	w := &worker{jobs: make(chan func()), done: make(chan struct{})}
	errc := make(chan error)
	go func() {
		defer e.unpin()
		if err := e.pin(cpu); err != nil {
			errc <- fmt.Errorf("pinning a goroutine to CPU%d: %w", cpu, err)
			return
		}
		errc <- nil
		for f := range w.jobs {
			f()
			w.done <- struct{}{}
		}
	}()
	return w, <-errc
}

func (w *worker) start(f func()) { w.jobs <- f }
func (w *worker) wait()          { <-w.done }
func (w *worker) do(f func())    { w.start(f); w.wait() }
func (w *worker) stop()          { close(w.jobs) }

// region is ring memory outside the Go heap.
type region struct {
	p   unsafe.Pointer
	pa  uint64
	len int
}

type bench struct {
	e          env
	pl         plan
	cpu0, cpu1 *worker
	ring       region // single core and transfer, sized for 64-byte records
	ping, pong region // latency
	sink       uint64 // keeps results observable
	failed     atomic.Uint64
}

func (b *bench) ns(cyc float64) float64 { return cyc / b.e.hz * 1e9 }

// Measure is one timed figure, per record.
type measure struct{ cyc, ns, mbps float64 }

func (b *bench) measure(size int, cyc float64) measure {
	ns := b.ns(cyc)
	return measure{cyc, ns, float64(size) / ns * 1e3}
}

// timer is tools/ringbench's method: prep (untimed) and op (timed) once
// to warm up, then runs times, mean cycles per operation; repeated trials
// times, the median of the means. It runs on the caller's CPU.
func (b *bench) timer(prep, op func()) float64 {
	var means []float64
	for range b.pl.trials {
		prep()
		op()
		var cyc uint64
		for range runs {
			prep()
			c0 := b.e.tsc()
			op()
			cyc += b.e.tsc() - c0
		}
		means = append(means, float64(cyc)/runs/ops)
	}
	slices.Sort(means)
	return means[len(means)/2]
}

type sizeResult struct {
	size                      int
	tryWrite, put, writeBatch measure
	tryRead, get, readBatch   measure
}

func (b *bench) must(ok bool, what string) {
	if !ok {
		panic("ringbench-image: " + what)
	}
}

// single measures one entry size on CPU0 (the caller is the CPU0 worker).
func single[T any](b *bench) sizeResult {
	var v, got T
	size := int(unsafe.Sizeof(v))
	r, err := ringbuf.CreateAt(b.ring.p, b.ring.len, size, entries, b.e.tsc())
	b.must(err == nil, fmt.Sprint(err))
	tr, err := ringbuf.As[T](r)
	b.must(err == nil, fmt.Sprint(err))
	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte(i)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), size), rec)
	batch := make([]byte, ops*size)
	whole := make([]byte, entries*size)
	drain := func() {
		for r.ReadBatch(whole) > 0 {
		}
	}
	fill := func() {
		for r.WriteBatch(whole) > 0 {
		}
	}
	m := func(cyc float64) measure { return b.measure(size, cyc) }
	res := sizeResult{size: size}
	res.tryWrite = m(b.timer(drain, func() { b.must(loops.TryWriteN(r, rec, ops), "TryWrite into a non-full ring failed") }))
	res.put = m(b.timer(drain, func() {
		b.must(loops.PutN(tr, &v, ops), "Put into a non-full ring failed")
		r.Flush()
	}))
	res.writeBatch = m(b.timer(drain, func() { b.must(r.WriteBatch(batch) == ops, "WriteBatch short") }))
	res.tryRead = m(b.timer(fill, func() { b.must(loops.TryReadN(r, rec, ops), "TryRead from a full ring failed") }))
	res.get = m(b.timer(fill, func() {
		b.must(loops.GetN(tr, &got, ops), "Get from a full ring failed")
		r.Ack()
	}))
	res.readBatch = m(b.timer(fill, func() { b.must(r.ReadBatch(batch) == ops, "ReadBatch short") }))
	b.sink += uint64(rec[0]) + uint64(batch[0]) + uint64(*(*byte)(unsafe.Pointer(&got)))
	return res
}

// The timed loops are in tools/ringbench/loops, shared with the host tool.

// spin is a busy-wait step: every 1024 failed polls it lets the Go
// scheduler run something else on this CPU (as tools/ringbench does).
func spin(n *int) {
	if *n++; *n&1023 == 0 {
		runtime.Gosched()
	}
}

// memcpy is copy() bandwidth (bytes per cycle) over n-byte buffers, best
// of tries samples of reps copies, on the caller's CPU. Source and
// destination are cut from one allocation 37 pages + 64 bytes apart, not
// a power of two: under QEMU TCG two separate allocations of 256 KiB or
// more sit a power of two apart, collide in its direct-mapped software TLB
// on every 8-byte REP MOVSQ step and copy 10x slower (the same skew avoids
// 4 KiB aliasing on hardware).
func (b *bench) memcpy(n, reps, tries int) float64 {
	const skew = 37*4096 + 64
	buf := make([]byte, 2*n+skew)
	src, dst := buf[:n:n], buf[n+skew:][:n:n]
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src)
	best := 0.0
	for range tries {
		c0 := b.e.tsc()
		for range reps {
			copy(dst, src)
		}
		best = max(best, float64(n)*float64(reps)/float64(b.e.tsc()-c0))
	}
	b.sink += uint64(dst[n-1])
	return best
}

type transferResult struct {
	mode    string
	records int
	cyc     uint64 // whole transfer, on CPU0's TSC
	stalls  uint64 // producer writes that found the ring full
	empties uint64 // consumer reads that found it empty
}

// transfer moves records of 64 bytes from the CPU0 worker to the CPU1
// worker through a 4096-entry ring in physical memory: the producer
// creates it, the consumer attaches its own handle (as the backup's core
// would). Both timestamps are taken on CPU0 (start, and the consumer's
// finish flag seen), so the two CPUs' TSCs need not agree. Per-record mode
// carries a sequence number in each record and the consumer checks it.
func (b *bench) transfer(batched bool) (transferResult, error) {
	count := b.pl.perRecord
	res := transferResult{mode: "per record: TryWrite / TryRead"}
	if batched {
		count = b.pl.batched
		res.mode = fmt.Sprintf("batched: WriteBatch / ReadBatch, %d per call", chunk)
	}
	res.records = count
	prod, err := ringbuf.CreateAt(b.ring.p, b.ring.len, xsize, entries, b.e.tsc())
	if err != nil {
		return res, err
	}
	src, dst := make([]byte, chunk*xsize), make([]byte, chunk*xsize)
	var ready, start, finished atomic.Bool
	var bad atomic.Int64
	var cons *ringbuf.Ring
	var attachErr error
	b.cpu1.start(func() {
		cons, attachErr = ringbuf.AttachAt(b.ring.p, b.ring.len)
		ready.Store(true)
		if attachErr != nil {
			return
		}
		n := 0
		for !start.Load() {
			spin(&n)
		}
		bads := int64(0)
		for got := 0; got < count; {
			if batched {
				if k := cons.ReadBatch(dst); k > 0 {
					got += k
					continue
				}
			} else if cons.TryRead(dst[:xsize]) {
				if *(*uint64)(unsafe.Pointer(&dst[0])) != uint64(got) {
					bads++
				}
				got++
				continue
			}
			spin(&n)
		}
		bad.Store(bads)
		finished.Store(true)
	})
	b.cpu0.do(func() {
		n := 0
		for !ready.Load() {
			spin(&n)
		}
		if attachErr != nil {
			return
		}
		c0 := b.e.tsc()
		start.Store(true)
		for sent := 0; sent < count; {
			if batched {
				if k := prod.WriteBatch(src[:min(chunk, count-sent)*xsize]); k > 0 {
					sent += k
					continue
				}
			} else {
				*(*uint64)(unsafe.Pointer(&src[0])) = uint64(sent)
				if prod.TryWrite(src[:xsize]) {
					sent++
					continue
				}
			}
			spin(&n)
		}
		for !finished.Load() {
			spin(&n)
		}
		res.cyc = b.e.tsc() - c0
	})
	b.cpu1.wait()
	if attachErr != nil {
		return res, fmt.Errorf("CPU1 attaching the ring: %w", attachErr)
	}
	if k := bad.Load(); k != 0 {
		return res, fmt.Errorf("%s: CPU1 read %d records out of sequence", res.mode, k)
	}
	st := prod.Stats()
	res.stalls, res.empties = st.Stalls, st.EmptyPolls
	return res, nil
}

// latency is the one-way latency CPU0 -> CPU1 of an 8-byte record: CPU0
// writes to ping, CPU1 echoes it to pong, CPU0 reads it; round trip / 2,
// median over blocks and overall mean, in cycles of CPU0's TSC.
func (b *bench) latency() (median, mean float64, err error) {
	ping, err := ringbuf.CreateAt(b.ping.p, b.ping.len, 8, entries, b.e.tsc())
	if err != nil {
		return 0, 0, err
	}
	pong, err := ringbuf.CreateAt(b.pong.p, b.pong.len, 8, entries, b.e.tsc())
	if err != nil {
		return 0, 0, err
	}
	blocks, per := b.pl.latBlocks, b.pl.latPer
	total := (blocks + 1) * per
	b.cpu1.start(func() {
		in, _ := ringbuf.AttachAt(b.ping.p, b.ping.len)
		out, _ := ringbuf.AttachAt(b.pong.p, b.pong.len)
		var rec [8]byte
		n := 0
		for range total {
			for !in.TryRead(rec[:]) {
				spin(&n)
			}
			for !out.TryWrite(rec[:]) {
				spin(&n)
			}
		}
	})
	var per2 []float64
	var sum uint64
	b.cpu0.do(func() {
		var rec [8]byte
		n := 0
		rt := func() {
			for !ping.TryWrite(rec[:]) {
				spin(&n)
			}
			for !pong.TryRead(rec[:]) {
				spin(&n)
			}
		}
		for range per { // warm-up
			rt()
		}
		for range blocks {
			c0 := b.e.tsc()
			for range per {
				rt()
			}
			d := b.e.tsc() - c0
			sum += d
			per2 = append(per2, float64(d)/float64(per)/2)
		}
	})
	b.cpu1.wait()
	slices.Sort(per2)
	return per2[len(per2)/2], float64(sum) / float64(blocks*per) / 2, nil
}

func run(w io.Writer, platform string, pl plan, e env) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	if e.hz <= 0 { // the boot layer always knows it; a host test may not
		t0, c0 := time.Now(), e.tsc()
		time.Sleep(20 * time.Millisecond)
		e.hz = float64(e.tsc()-c0) / time.Since(t0).Seconds()
	}
	b := &bench{e: e, pl: pl}
	var err error
	for _, r := range []struct {
		dst  *region
		size int
	}{{&b.ring, ringbuf.Size(xsize, entries)}, {&b.ping, ringbuf.Size(8, entries)}, {&b.pong, ringbuf.Size(8, entries)}} {
		r.dst.len = r.size
		if r.dst.p, r.dst.pa, err = e.alloc(r.size); err != nil {
			return fmt.Errorf("ringbench-image: ring memory: %w", err)
		}
	}
	if b.cpu0, err = newWorker(&e, 0); err != nil {
		return fmt.Errorf("ringbench-image: %w", err)
	}
	defer b.cpu0.stop()
	if b.cpu1, err = newWorker(&e, 1); err != nil {
		return fmt.Errorf("ringbench-image: %w", err)
	}
	defer b.cpu1.stop()

	begin := e.tsc()
	p("ringbench-image: hindsight ringbuf inside the image, CPU0 -> CPU1, vs. Kawasaki & Oikawa Table 2\n")
	p("ringbench-image: platform: %s\n", pl.label)
	p("ringbench-image: TSC %.0f kHz; %s; rings in physical memory from boot.AllocPhys at %#x (%d B), %#x and %#x (ping-pong)\n",
		e.hz/1e3, runtime.Version(), b.ring.pa, b.ring.len, b.ping.pa, b.pong.pa)
	p("ringbench-image: single core (CPU0): time for %d operations (write into a non-full %d-entry ring, read from a full one), mean of %d runs; median of %d such means\n\n",
		ops, entries, runs, pl.trials)

	// Each phase starts from a collected heap, so that the GC does not run
	// inside the timed sections (which do not allocate).
	var sizes []sizeResult
	runtime.GC()
	b.cpu0.do(func() {
		sizes = []sizeResult{single[[4]byte](b), single[[8]byte](b), single[[16]byte](b), single[[32]byte](b), single[[64]byte](b)}
	})
	printSingle(p, sizes)

	var large, small float64
	runtime.GC()
	b.cpu0.do(func() {
		large = b.memcpy(pl.memLarge, pl.memReps, pl.memTries)
		small = b.memcpy(pl.memSmall, pl.memSReps, pl.memTries)
	})
	gbps := func(bpc float64) float64 { return bpc * e.hz / 1e9 }
	p("\nmemcpy on CPU0 (copy(), best of %d): %d MiB %.2f GB/s (%.2f B/cycle); %d KiB %.2f GB/s (%.2f B/cycle)\n",
		pl.memTries, pl.memLarge>>20, gbps(large), large, pl.memSmall>>10, gbps(small), small)

	p("\nconcurrent transfer, %d-byte records, producer pinned to CPU0, consumer pinned to CPU1, %d-entry ring, best of %d:\n",
		xsize, entries, pl.tries)
	p("  %-44s %9s %12s %9s %12s %10s %10s\n", "mode", "records", "records/s", "MB/s", "cycles/rec", "stalls", "empty")
	for _, batched := range []bool{false, true} {
		var best transferResult
		for i := range pl.tries {
			runtime.GC()
			t, err := b.transfer(batched)
			if err != nil {
				return fmt.Errorf("ringbench-image: transfer: %w", err)
			}
			if i == 0 || t.cyc < best.cyc {
				best = t
			}
		}
		sec := float64(best.cyc) / e.hz
		p("  %-44s %9d %10.2f M %9.1f %12.1f %10d %10d\n", best.mode, best.records,
			float64(best.records)/sec/1e6, float64(best.records)*xsize/sec/1e6,
			float64(best.cyc)/float64(best.records), best.stalls, best.empties)
	}

	runtime.GC()
	med, mean, err := b.latency()
	if err != nil {
		return fmt.Errorf("ringbench-image: latency: %w", err)
	}
	p("\none-way latency CPU0 -> CPU1 (8-byte record, ping-pong over two rings / 2, %d blocks of %d round trips):\n", pl.latBlocks, pl.latPer)
	p("  median %.0f cycles (%.0f ns), mean %.0f cycles (%.0f ns)\n", med, b.ns(med), mean, b.ns(mean))

	cyc := e.tsc() - begin
	p("\n%s: %d cycles in all (%.2f s of %s time)\n", Done, cyc, float64(cyc)/e.hz, map[bool]string{true: "emulated", false: "machine"}[pl.emulated])
	if b.sink == 1<<63 { // never; keeps the copies from being optimised away
		p("%d\n", b.sink)
	}
	return nil
}

func printSingle(p func(string, ...any), sizes []sizeResult) {
	head := func(label string) {
		p("  %-44s", label)
		for _, s := range sizes {
			p(" %7d B", s.size)
		}
		p("\n")
	}
	row := func(label string, f func(sizeResult) float64, format string) {
		p("  %-44s", label)
		for _, s := range sizes {
			if v := f(s); v > 0 {
				p(" "+format, v)
			} else {
				p(" %9s", "-")
			}
		}
		p("\n")
	}
	type path struct {
		name, what string
		get        func(sizeResult) measure
	}
	paths := []path{
		{"write  TryWrite", "(1 record + publish per op)", func(s sizeResult) measure { return s.tryWrite }},
		{"write  typed Put", "(1 record per op; 1 Flush)", func(s sizeResult) measure { return s.put }},
		{"write  WriteBatch", "(1000 records in 1 call)", func(s sizeResult) measure { return s.writeBatch }},
		{"read   TryRead", "(1 record + release per op)", func(s sizeResult) measure { return s.tryRead }},
		{"read   typed Get", "(1 record per op; 1 Ack)", func(s sizeResult) measure { return s.get }},
		{"read   ReadBatch", "(1000 records in 1 call)", func(s sizeResult) measure { return s.readBatch }},
	}
	paper := func(i int, s sizeResult) float64 {
		if i < 3 {
			return paperWrite[s.size]
		}
		return paperRead[s.size]
	}
	head("MB/s                              entry size")
	for i, x := range paths {
		if i%3 == 0 {
			row(x.name[:7]+"paper (Xeon 5130, 2 GHz)", func(s sizeResult) float64 { return paper(i, s) }, "%9.0f")
		}
		row(x.name+" "+x.what, func(s sizeResult) float64 { return x.get(s).mbps }, "%9.0f")
	}
	p("\n")
	head("TSC cycles per record")
	for _, x := range paths {
		row(x.name, func(s sizeResult) float64 { return x.get(s).cyc }, "%9.1f")
	}
	p("\n")
	head("ns per record")
	for i, x := range paths {
		if i%3 == 0 {
			row(x.name[:7]+"paper", func(s sizeResult) float64 {
				if mb := paper(i, s); mb > 0 {
					return float64(s.size) / mb * 1e3
				}
				return 0
			}, "%9.2f")
		}
		row(x.name, func(s sizeResult) float64 { return x.get(s).ns }, "%9.2f")
	}
}
