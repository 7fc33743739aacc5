package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestChainKnownLengths(t *testing.T) {
	// Lengths from the literature: 27 takes 111 steps, 97 takes 118.
	for _, c := range []struct {
		start uint64
		steps uint32
	}{{1, 0}, {2, 1}, {3, 7}, {6, 8}, {27, 111}, {97, 118}, {871, 178}} {
		if got := chain(c.start); got != c.steps {
			t.Errorf("chain(%d) = %d, want %d", c.start, got, c.steps)
		}
	}
}

// serial is the plain one-loop computation the goroutine split must match.
func serial(limit uint64) Sum {
	var s Sum
	for n := uint64(1); n < limit; n++ {
		s.add(n, chain(n))
	}
	return s
}

func TestCollatzSplitMatchesSerial(t *testing.T) {
	for _, limit := range []uint64{2, 3, 10, 1000, 30_001} {
		want := serial(limit)
		for _, workers := range []int{1, 2, 3, 4, 7} {
			if uint64(workers) >= limit {
				continue
			}
			got, err := Collatz(limit, workers)
			if err != nil {
				t.Fatalf("Collatz(%d, %d): %v", limit, workers, err)
			}
			if got != want {
				t.Errorf("Collatz(%d, %d) = %+v, serial loop gives %+v", limit, workers, got, want)
			}
		}
	}
}

func TestCollatzLongestBelowMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("a million chains")
	}
	// Below one million the longest chain starts at 837799 (525 terms,
	// so 524 steps).
	s, err := Collatz(1_000_000, 4)
	if err != nil {
		t.Fatal(err)
	}
	if s.Longest != 837799 || s.LongestSteps != 524 {
		t.Errorf("longest chain below 10^6 from %d with %d steps, want 837799 with 524", s.Longest, s.LongestSteps)
	}
}

func TestChecksumSeesEveryChain(t *testing.T) {
	a := serial(1000)
	b := a
	// The same total steps, moved from one start to another.
	b.Checksum -= mix(10<<32|uint64(chain(10))) + mix(11<<32|uint64(chain(11)))
	b.Checksum += mix(10<<32|uint64(chain(10)+1)) + mix(11<<32|uint64(chain(11)-1))
	if a.Checksum == b.Checksum {
		t.Error("checksum unchanged when one step moves from the chain of 11 to that of 10")
	}
}

func TestCollatzRejectsBadArguments(t *testing.T) {
	for _, c := range []struct {
		limit   uint64
		workers int
		want    string
	}{
		{0, 1, "limit 0 out of range"},
		{1, 1, "limit 1 out of range"},
		{maxLimit + 1, 1, "out of range"},
		{100, 0, "0 workers for 99 starts"},
		{100, 100, "100 workers for 99 starts"},
	} {
		_, err := Collatz(c.limit, c.workers)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Collatz(%d, %d) error %v, want one containing %q", c.limit, c.workers, err, c.want)
		}
	}
}

func TestRunOutput(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 10_000, 3); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := serial(10_000)
	for _, re := range []string{
		`(?m)^hsdemo: start at \S+, GOMAXPROCS \d+$`,
		fmt.Sprintf(`(?m)^hsdemo: result 0x%016x \(`, want.Checksum) + `starts below 10000: \d+ steps, longest chain from 6171, 261 steps\)$`,
		`(?m)^hsdemo: compute took \S+ on 3 goroutines, \d+ ticks of 10ms meanwhile$`,
		`(?m)^hsdemo: sleep 1ms took \S+$`,
		`(?m)^hsdemo: sleep 50ms took \S+$`,
		`(?m)^hsdemo: 10 ticks of 10ms took \S+$`,
		`(?m)^hsdemo: wall clock \S+, \S+ since start$`,
		`hsdemo: done\n$`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output does not match %s:\n%s", re, out.String())
		}
	}
}

func TestRunReportsBadArguments(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 1, 1); err == nil {
		t.Fatalf("run with limit 1 succeeded:\n%s", out.String())
	}
	if strings.Contains(out.String(), "hsdemo: done") {
		t.Errorf("run with limit 1 printed the done marker:\n%s", out.String())
	}
}
