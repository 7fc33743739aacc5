package dev

// Ports of the CMOS RTC (MC146818 compatible).
const (
	PortCMOSIndex = 0x70 // write: bit 7 NMI disable, bits 6:0 register
	PortCMOSData  = 0x71
)

// CMOS registers.
const (
	CMOSSeconds    = 0x00
	CMOSMinutes    = 0x02
	CMOSHours      = 0x04
	CMOSWeekday    = 0x06 // 1 = Sunday
	CMOSDay        = 0x07
	CMOSMonth      = 0x08
	CMOSYear       = 0x09
	CMOSRegA       = 0x0A
	CMOSRegB       = 0x0B
	CMOSRegC       = 0x0C
	CMOSRegD       = 0x0D
	CMOSBaseLo     = 0x15 // base memory in KiB (640)
	CMOSBaseHi     = 0x16
	CMOSExtLo      = 0x17 // memory above 1 MiB in KiB (max 0xFFFF)
	CMOSExtHi      = 0x18
	CMOSChecksumHi = 0x2E // sum of 0x10-0x2D, big-endian
	CMOSChecksumLo = 0x2F
	CMOSExt2Lo     = 0x30 // copy of 0x17/0x18 (as POST reports it)
	CMOSExt2Hi     = 0x31
	CMOSCentury    = 0x32
	CMOSHighLo     = 0x34 // memory above 16 MiB in 64 KiB units (max 0xFFFF)
	CMOSHighHi     = 0x35
)

// Register A, B, D values.
const (
	rtcRegADefault = 0x26 // UIP 0, divider 010 (32.768 kHz), rate 0110 (1024 Hz)
	rtcRegBDefault = 0x02 // 24-hour, BCD, no interrupts
	rtcRegBSET     = 0x80
	rtcRegBDM      = 0x04 // binary data mode
	rtcRegB24h     = 0x02
	rtcRegDVRT     = 0x80 // valid RAM and time
)

// UnixY2K is 2000-01-01 00:00:00 UTC, the RTC's default time.
const UnixY2K = 946684800

// rtcTime is a broken-down time; all fields binary.
type rtcTime struct {
	sec, min, hour, wday, mday, mon uint8
	year                            int64
}

// RTC is the CMOS real-time clock and its RAM (ports 0x70/0x71): 14 clock
// registers and 114 bytes of RAM (0x0E-0x7F), the century at 0x32.
//
// The time is fixed and logical: a base Unix time (SetTime, default
// 2000-01-01 00:00:00 UTC) plus a seconds count the caller advances
// (SetElapsed). The hardware clock of the host is never read; a guest that
// sets the clock (SET bit in register B, writes, SET cleared) moves the base.
// Register A's update-in-progress bit is never set, so a guest never waits.
// No RTC interrupts are generated (IRQ8): register C reads 0, and the
// periodic, alarm and update-ended enables of register B are stored only.
type RTC struct {
	index       uint8 // selected register
	nmiDisabled bool  // bit 7 of the last index write
	base        int64 // Unix time at elapsed 0
	elapsed     uint64
	set         bool    // register B SET: time frozen in held
	held        rtcTime // while SET
	regA, regB  uint8
	ram         [128]uint8 // 0x0E-0x7F; the clock registers are computed
}

// NewRTC returns an RTC in its Reset state.
func NewRTC() *RTC {
	r := new(RTC)
	r.Reset()
	return r
}

// Reset clears the RAM and sets the time to 2000-01-01 00:00:00 UTC, elapsed
// 0, register A 0x26, B 0x02 (24-hour BCD), D 0x80.
func (r *RTC) Reset() {
	*r = RTC{base: UnixY2K, regA: rtcRegADefault, regB: rtcRegBDefault}
}

// SetTime sets the Unix time (UTC) the clock shows at elapsed 0.
func (r *RTC) SetTime(unix int64) { r.base = unix }

// SetElapsed sets the seconds of logical time since SetTime: the clock shows
// base + elapsed.
func (r *RTC) SetElapsed(seconds uint64) { r.elapsed = seconds }

// Time returns the Unix time the clock shows.
func (r *RTC) Time() int64 {
	if r.set {
		return r.held.unix()
	}
	return r.base + int64(r.elapsed)
}

// ClockSelected reports whether the register port 0x71 reads now follows
// the time (the seconds to year and century registers): with a clock that
// runs in real time, such a read depends on the outside world.
func (r *RTC) ClockSelected() bool {
	switch r.index {
	case CMOSSeconds, CMOSMinutes, CMOSHours, CMOSWeekday, CMOSDay, CMOSMonth, CMOSYear, CMOSCentury:
		return true
	}
	return false
}

// NMIDisabled reports bit 7 of the last write to port 0x70.
func (r *RTC) NMIDisabled() bool { return r.nmiDisabled }

// SetRAM writes a CMOS RAM byte (0x0E-0x7F, e.g. memory sizes); others are
// ignored.
func (r *RTC) SetRAM(index, v uint8) {
	if index >= 0x0E && index < 0x80 {
		r.ram[index] = v
	}
}

// RAM reads a CMOS RAM byte as stored (0x0E-0x7F).
func (r *RTC) RAM(index uint8) uint8 { return r.ram[index&0x7F] }

// SetMemorySize fills the memory-size fields for a guest with ramBytes of RAM
// (base 640 KiB at 0x15/0x16; KiB above 1 MiB at 0x17/0x18 and 0x30/0x31,
// capped at 0xFFFF; 64 KiB units above 16 MiB at 0x34/0x35, capped at
// 0xFFFF) and updates the checksum at 0x2E/0x2F.
func (r *RTC) SetMemorySize(ramBytes uint64) {
	put16 := func(lo uint8, v uint64) {
		v = min(v, 0xFFFF)
		r.ram[lo], r.ram[lo+1] = uint8(v), uint8(v>>8)
	}
	put16(CMOSBaseLo, 640)
	var ext, high uint64
	if ramBytes > 1<<20 {
		ext = (ramBytes - 1<<20) >> 10
	}
	if ramBytes > 16<<20 {
		high = (ramBytes - 16<<20) >> 16
	}
	put16(CMOSExtLo, ext)
	put16(CMOSExt2Lo, ext)
	put16(CMOSHighLo, high)
	var sum uint16
	for i := 0x10; i <= 0x2D; i++ {
		sum += uint16(r.ram[i])
	}
	r.ram[CMOSChecksumHi], r.ram[CMOSChecksumLo] = uint8(sum>>8), uint8(sum)
}

// In implements Device for ports 0x70 and 0x71.
func (r *RTC) In(port uint16, size int) uint32 {
	if port != PortCMOSData {
		return 0xFF // the index register is write-only
	}
	return uint32(r.read(r.index))
}

// Out implements Device for ports 0x70 and 0x71.
func (r *RTC) Out(port uint16, size int, v uint32) {
	b := uint8(v)
	if port == PortCMOSIndex {
		r.index = b & 0x7F
		r.nmiDisabled = b&0x80 != 0
		return
	}
	if port == PortCMOSData {
		r.write(r.index, b)
	}
}

func (r *RTC) now() rtcTime {
	if r.set {
		return r.held
	}
	return timeOf(r.base + int64(r.elapsed))
}

func (r *RTC) read(i uint8) uint8 {
	switch i {
	case CMOSSeconds, CMOSMinutes, CMOSHours, CMOSWeekday, CMOSDay, CMOSMonth, CMOSYear, CMOSCentury:
		t := r.now()
		return r.encode(i, t)
	case CMOSRegA:
		return r.regA // UIP (bit 7) never set
	case CMOSRegB:
		return r.regB
	case CMOSRegC:
		return 0 // no interrupt flags: RTC interrupts are not generated
	case CMOSRegD:
		return rtcRegDVRT
	}
	return r.ram[i] // alarms (0x01, 0x03, 0x05) and RAM
}

func (r *RTC) write(i uint8, v uint8) {
	switch i {
	case CMOSSeconds, CMOSMinutes, CMOSHours, CMOSWeekday, CMOSDay, CMOSMonth, CMOSYear, CMOSCentury:
		t := r.now()
		r.decode(i, v, &t)
		if r.set {
			r.held = t
		} else {
			r.base = t.unix() - int64(r.elapsed)
		}
	case CMOSRegA:
		r.regA = v & 0x7F // UIP is read-only
	case CMOSRegB:
		switch {
		case v&rtcRegBSET != 0 && !r.set:
			r.held, r.set = r.now(), true
		case v&rtcRegBSET == 0 && r.set:
			r.set = false
			r.base = r.held.unix() - int64(r.elapsed)
		}
		r.regB = v
	case CMOSRegC, CMOSRegD:
		// read-only
	default:
		r.ram[i] = v
	}
}

func (r *RTC) bcd() bool { return r.regB&rtcRegBDM == 0 }

func (r *RTC) toReg(x uint8) uint8 {
	if r.bcd() {
		return x/10<<4 | x%10
	}
	return x
}

func (r *RTC) fromReg(x uint8) uint8 {
	if r.bcd() {
		return (x>>4)*10 + x&0x0F
	}
	return x
}

func (r *RTC) encode(i uint8, t rtcTime) uint8 {
	switch i {
	case CMOSSeconds:
		return r.toReg(t.sec)
	case CMOSMinutes:
		return r.toReg(t.min)
	case CMOSHours:
		if r.regB&rtcRegB24h != 0 {
			return r.toReg(t.hour)
		}
		h, pm := t.hour%12, t.hour >= 12
		if h == 0 {
			h = 12
		}
		v := r.toReg(h)
		if pm {
			v |= 0x80
		}
		return v
	case CMOSWeekday:
		return r.toReg(t.wday)
	case CMOSDay:
		return r.toReg(t.mday)
	case CMOSMonth:
		return r.toReg(t.mon)
	case CMOSYear:
		return r.toReg(uint8(t.year % 100))
	}
	return r.toReg(uint8(t.year / 100)) // century
}

func (r *RTC) decode(i, v uint8, t *rtcTime) {
	switch i {
	case CMOSSeconds:
		t.sec = r.fromReg(v)
	case CMOSMinutes:
		t.min = r.fromReg(v)
	case CMOSHours:
		if r.regB&rtcRegB24h != 0 {
			t.hour = r.fromReg(v)
			return
		}
		h := r.fromReg(v&0x7F) % 12
		if v&0x80 != 0 {
			h += 12
		}
		t.hour = h
	case CMOSWeekday:
		t.wday = r.fromReg(v)
	case CMOSDay:
		t.mday = r.fromReg(v)
	case CMOSMonth:
		t.mon = r.fromReg(v)
	case CMOSYear:
		t.year = t.year/100*100 + int64(r.fromReg(v))
	case CMOSCentury:
		t.year = int64(r.fromReg(v))*100 + t.year%100
	}
}

// timeOf converts Unix time to UTC civil time (proleptic Gregorian; the
// days-to-civil algorithm of H. Hinnant), without the time package.
func timeOf(unix int64) rtcTime {
	days := unix / 86400
	secs := unix % 86400
	if secs < 0 {
		secs += 86400
		days--
	}
	var t rtcTime
	t.hour, t.min, t.sec = uint8(secs/3600), uint8(secs/60%60), uint8(secs%60)
	t.wday = uint8((days%7+11)%7) + 1 // 1970-01-01 was a Thursday (5)
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	t.mday = uint8(doy - (153*mp+2)/5 + 1)
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	t.mon = uint8(m)
	t.year = y
	return t
}

// unix converts a civil time back (fields out of range carry over, as the
// days-from-civil arithmetic does; the weekday is not used).
func (t rtcTime) unix() int64 {
	y, m := t.year, int64(t.mon)
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + int64(t.mday) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return days*86400 + int64(t.hour)*3600 + int64(t.min)*60 + int64(t.sec)
}
