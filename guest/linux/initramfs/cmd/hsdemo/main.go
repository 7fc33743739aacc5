// Command hsdemo is the Linux guest's workload: a Go program that exercises
// what a recorded and replayed guest must get right. Its goroutines share a
// CPU-bound loop (Collatz chains: pure computation, no system calls, a few
// hundred milliseconds on one core for -n 1000000) while a ticker counts
// timer ticks; then it times time.Sleep and a time.Ticker against the
// monotonic clock and reads the wall clock.
//
// Every line starts with "hsdemo: ". The "result" line depends only on -n
// (a replay must print the same one); the timing lines depend on the clock.
// A sleep or ticker that ends early, or a clock that runs backwards, is a
// FAIL line and exit status 1.
//
//	hsdemo [-n LIMIT] [-workers N]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// tickPeriod is the period of the ticker that runs beside the computation
// and of the one that is timed afterwards.
const tickPeriod = 10 * time.Millisecond

func main() {
	limit := flag.Uint64("n", 1_000_000, "compute the Collatz chains of every start below `LIMIT`")
	workers := flag.Int("workers", 4, "number of goroutines sharing the computation")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "hsdemo: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, *limit, *workers); err != nil {
		fmt.Printf("hsdemo: FAIL: %v\n", err)
		os.Exit(1)
	}
}

func run(w io.Writer, limit uint64, workers int) error {
	start := time.Now()
	fmt.Fprintf(w, "hsdemo: start at %s, GOMAXPROCS %d\n", start.UTC().Format(time.RFC3339Nano), runtime.GOMAXPROCS(0))

	// Ticks counted while the computation runs: on one CPU they arrive
	// only because the runtime preempts the computing goroutines.
	stop := make(chan struct{})
	ticks := make(chan int)
	go func() {
		t := time.NewTicker(tickPeriod)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-t.C:
				n++
			case <-stop:
				ticks <- n
				return
			}
		}
	}()
	sum, err := Collatz(limit, workers)
	computed := time.Since(start)
	close(stop)
	during := <-ticks
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "hsdemo: result 0x%016x (starts below %d: %d steps, longest chain from %d, %d steps)\n",
		sum.Checksum, limit, sum.Steps, sum.Longest, sum.LongestSteps)
	fmt.Fprintf(w, "hsdemo: compute took %v on %d goroutines, %d ticks of %v meanwhile\n",
		computed.Round(time.Millisecond), workers, during, tickPeriod)

	for _, d := range []time.Duration{time.Millisecond, 50 * time.Millisecond} {
		t0 := time.Now()
		time.Sleep(d)
		took := time.Since(t0)
		if took < d {
			return fmt.Errorf("time.Sleep(%v) returned after %v", d, took)
		}
		fmt.Fprintf(w, "hsdemo: sleep %v took %v\n", d, took.Round(10*time.Microsecond))
	}

	const n = 10
	t0 := time.Now()
	tk := time.NewTicker(tickPeriod)
	for i := 0; i < n; i++ {
		<-tk.C
	}
	tk.Stop()
	took := time.Since(t0)
	if took < n*tickPeriod {
		return fmt.Errorf("%d ticks of %v came in %v", n, tickPeriod, took)
	}
	fmt.Fprintf(w, "hsdemo: %d ticks of %v took %v\n", n, tickPeriod, took.Round(10*time.Microsecond))

	end := time.Now()
	total := end.Sub(start)
	if total < computed {
		return fmt.Errorf("monotonic clock ran backwards: %v in all, but the computation alone took %v", total, computed)
	}
	fmt.Fprintf(w, "hsdemo: wall clock %s, %v since start\n", end.UTC().Format(time.RFC3339Nano), total.Round(time.Millisecond))
	fmt.Fprintln(w, "hsdemo: done")
	return nil
}
