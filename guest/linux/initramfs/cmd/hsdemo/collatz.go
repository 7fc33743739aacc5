package main

import "fmt"

// maxLimit bounds -n so that no chain overflows uint64: every start below
// 10^9 stays under 2^58 (the largest excursion below 10^9 is about 2.5e17).
const maxLimit = 1_000_000_000

// Sum is the deterministic outcome of the computation: it depends on every
// chain length and on nothing else (not on how the work was split or in
// which order the goroutines finished).
type Sum struct {
	Checksum     uint64 // wrapping sum of mix(start<<32 | steps) over all starts
	Steps        uint64 // total steps of all chains
	Longest      uint64 // start of the longest chain (the smallest such start)
	LongestSteps uint32
}

// chain returns the number of Collatz steps (n -> n/2 if even, 3n+1 if odd)
// from n down to 1. It is the pure computation: no calls, no memory.
func chain(n uint64) uint32 {
	var steps uint32
	for n != 1 {
		if n&1 == 0 {
			n >>= 1
		} else {
			n = 3*n + 1
		}
		steps++
	}
	return steps
}

// mix is SplitMix64's finalizer: a bijection that makes the checksum change
// whenever any single chain length does.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// add merges the chain of one start into s.
func (s *Sum) add(start uint64, steps uint32) {
	s.Checksum += mix(start<<32 | uint64(steps))
	s.Steps += uint64(steps)
	s.consider(start, steps)
}

// consider makes start the longest chain if it is longer than the one so
// far, or as long and smaller (start 0 means none yet).
func (s *Sum) consider(start uint64, steps uint32) {
	if s.Longest == 0 || steps > s.LongestSteps || (steps == s.LongestSteps && start < s.Longest) {
		s.Longest, s.LongestSteps = start, steps
	}
}

// merge adds another partial sum over disjoint starts into s.
func (s *Sum) merge(o Sum) {
	s.Checksum += o.Checksum
	s.Steps += o.Steps
	if o.Longest != 0 {
		s.consider(o.Longest, o.LongestSteps)
	}
}

// Collatz computes the chains of every start in [1, limit) on the given
// number of goroutines, worker i taking the starts congruent to i+1 modulo
// workers so that long and short chains spread evenly.
func Collatz(limit uint64, workers int) (Sum, error) {
	if limit < 2 || limit > maxLimit {
		return Sum{}, fmt.Errorf("limit %d out of range: want 2 to %d", limit, maxLimit)
	}
	if workers < 1 || uint64(workers) >= limit {
		return Sum{}, fmt.Errorf("%d workers for %d starts: want 1 to %d", workers, limit-1, limit-1)
	}
	parts := make(chan Sum, workers)
	for i := 0; i < workers; i++ {
		go func(first uint64) {
			var s Sum
			for n := first; n < limit; n += uint64(workers) {
				s.add(n, chain(n))
			}
			parts <- s
		}(uint64(i) + 1)
	}
	var total Sum
	for i := 0; i < workers; i++ {
		total.merge(<-parts)
	}
	return total, nil
}
