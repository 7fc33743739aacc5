package main

// rdtsc reads the time-stamp counter (not serializing; used only around
// runs of 1000 operations, where a few cycles of skew do not matter).
func rdtsc() uint64

const haveTSC = true
