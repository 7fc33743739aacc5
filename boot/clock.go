package boot

import (
	"math/bits"

	"hindsight/apic"
)

// Time. The TSC is the clock source; its rate and the local APIC timer's
// are measured against PIT channel 2 (whose 1.193182 MHz crystal is the one
// fixed frequency every PC has). Under emulation one calibration can be far
// off (a descheduled host thread), so take the median of several.

const (
	pitHz        = 1193182
	calibrateMs  = 10
	calibrations = 5

	tickHz = 100 // scheduler tick: LAPIC timer, periodic, every CPU
)

var clk struct {
	tscHz     uint64
	tsc0      uint64 // TSC at calibration: monotonic time 0
	nsMult    uint64 // ns per TSC tick, 32.32 fixed point
	lapicHz   uint64 // APIC timer ticks per second (after divide by 16)
	realtime0 int64  // Unix time in ns at tsc0 (from the CMOS RTC)
}

// pitWait busy-waits ms milliseconds on PIT channel 2 in mode 0 and returns
// the TSC and APIC-timer ticks that elapsed.
func pitWait(lapic apic.LAPIC, ms uint64) (tsc, apicTicks uint64) {
	count := pitHz * ms / 1000
	outb(0x61, inb(0x61)&^0x02|0x01) // gate on, speaker off
	outb(0x43, 0xB0)                 // channel 2, lobyte/hibyte, mode 0
	outb(0x42, uint8(count))
	outb(0x42, uint8(count>>8))
	lapic.Write(apic.RegTimerDivide, apic.TimerDivideBy16)
	lapic.Write(apic.RegLVTTimer, apic.LVTMasked)
	lapic.Write(apic.RegTimerInitial, 0xFFFFFFFF)
	t0 := rdtsc()
	for inb(0x61)&0x20 == 0 {
	}
	t1 := rdtsc()
	left := lapic.Read(apic.RegTimerCurrent)
	lapic.Write(apic.RegTimerInitial, 0)
	return t1 - t0, uint64(0xFFFFFFFF - left)
}

func calibrate(lapic apic.LAPIC) {
	var tscs, apics [calibrations]uint64
	for i := range tscs {
		tscs[i], apics[i] = pitWait(lapic, calibrateMs)
	}
	clk.tscHz = median(tscs[:]) * 1000 / calibrateMs
	clk.lapicHz = median(apics[:]) * 1000 / calibrateMs
	clk.nsMult = (uint64(1e9) << 32) / clk.tscHz
	clk.tsc0 = rdtsc()
	clk.realtime0 = readRTC() * 1e9
}

func median(v []uint64) uint64 {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	return v[len(v)/2]
}

// nanotime is monotonic time in ns since calibration.
func nanotime() int64 {
	hi, lo := bits.Mul64(rdtsc()-clk.tsc0, clk.nsMult)
	return int64(hi<<32 | lo>>32)
}

// delay busy-waits d nanoseconds.
func delay(d int64) {
	end := nanotime() + d
	for nanotime() < end {
		pause()
	}
}

// readRTC returns the CMOS clock as Unix seconds (MC146818: BCD unless
// register B bit 2 says binary; 24-hour mode assumed, as every BIOS sets).
func readRTC() int64 {
	cmos := func(reg uint8) int64 {
		outb(0x70, reg)
		return int64(inb(0x71))
	}
	for i := 0; i < 100000 && cmos(0x0A)&0x80 != 0; i++ { // update in progress
	}
	bcd := cmos(0x0B)&0x04 == 0
	v := func(reg uint8) int64 {
		x := cmos(reg)
		if bcd {
			x = x>>4*10 + x&0xF
		}
		return x
	}
	sec, min, hour := v(0x00), v(0x02), v(0x04)
	day, mon, year := v(0x07), v(0x08), v(0x09)+2000
	return unixDays(year, mon, day)*86400 + hour*3600 + min*60 + sec
}

// unixDays counts days from 1970-01-01 to the given civil date.
func unixDays(y, m, d int64) int64 {
	if m <= 2 {
		y--
		m += 12
	}
	era := y / 400
	yoe := y - era*400
	doy := (153*(m-3)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
