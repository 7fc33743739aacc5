package dev

import "math/bits"

// Ports of the CMOS RTC (MC146818 compatible).
const (
	PortCMOSIndex = 0x70 // write: bit 7 NMI disable, bits 6:0 register
	PortCMOSData  = 0x71
)

// IRQRTC is the RTC's interrupt line (slave PIC IR0).
const IRQRTC = 8

// MC146818 registers.
const (
	CMOSSeconds      = 0x00
	CMOSAlarmSeconds = 0x01
	CMOSMinutes      = 0x02
	CMOSAlarmMinutes = 0x03
	CMOSHours        = 0x04
	CMOSAlarmHours   = 0x05
	CMOSWeekday      = 0x06 // 1 = Sunday
	CMOSDay          = 0x07
	CMOSMonth        = 0x08
	CMOSYear         = 0x09
	CMOSRegA         = 0x0A
	CMOSRegB         = 0x0B
	CMOSRegC         = 0x0C
	CMOSRegD         = 0x0D
	CMOSCentury      = 0x32 // PC convention (RAM byte), kept in step with the clock here
)

// Register bits (Motorola MC146818A datasheet, "Registers").
const (
	rtcUIP     = 0x80 // A: update in progress
	rtcDV      = 0x70 // A: divider select DV2:DV0
	rtcDV32K   = 0x20 // A: DV = 010, 32.768 kHz time base: the clock runs
	rtcDVReset = 0x60 // A: DV = 11x holds the divider chain in reset
	rtcRS      = 0x0F // A: periodic rate select

	rtcSET  = 0x80 // B: updates inhibited while the guest sets the clock
	rtcPIE  = 0x40 // B: periodic interrupt enable
	rtcAIE  = 0x20 // B: alarm interrupt enable
	rtcUIE  = 0x10 // B: update-ended interrupt enable
	rtcSQWE = 0x08 // B: square-wave output (no pin on a PC: kept)
	rtcDM   = 0x04 // B: binary (1) or BCD (0) data mode
	rtc24h  = 0x02 // B: 24-hour (1) or 12-hour (0) mode
	rtcDSE  = 0x01 // B: daylight saving enable (kept, not applied)

	rtcIRQF  = 0x80 // C: an enabled flag is set: IRQ8 asserted
	rtcPF    = 0x40 // C: periodic
	rtcAF    = 0x20 // C: alarm
	rtcUF    = 0x10 // C: update ended
	rtcFlags = rtcPF | rtcAF | rtcUF

	rtcVRT = 0x80 // D: valid RAM and time

	rtcPM       = 0x80 // hours register, 12-hour mode
	rtcDontCare = 0xC0 // alarm register bits 7:6 = 11 match any value
)

// Power-on register values: 32.768 kHz, 1024 Hz periodic rate, 24-hour BCD.
const (
	rtcRegADefault = rtcDV32K | 0x06
	rtcRegBDefault = rtc24h
)

// The divider chain counts cycles of the 32.768 kHz time base.
const (
	rtcHz        = 32768
	rtcUIPCycles = 8 // UIP rises 244 us (8 cycles, tBUC) before each update
)

// rtcTime is a broken-down time; all fields binary.
type rtcTime struct {
	sec, min, hour, wday, mday, mon uint8
	year                            int64
}

// RTC is the MC146818 real-time clock and CMOS RAM (ports 0x70/0x71).
//
// Time is device time (PIT ticks). The 32.768 kHz time base is tied to it:
// its cycle count at device time t is t*32768/PITHz rounded down, so one
// second is exactly PITHz ticks. The divider chain counts those cycles; an
// update happens every 32768 of them (the time advances one second, UF is
// set, the alarm compared), a periodic flag every 2^(RS-1) (RS 1 and 2 are
// 256 and 128 Hz). After Init the chain is at 0 at device time 0, so the
// clock shows the base time plus whole seconds of device time. Leaving
// divider reset (DV 11x to 010) starts the chain half a second before its
// first update, as the datasheet says.
//
// Register A's UIP is set during the 8 cycles (244 us) before each update
// while updates run; the update cycle itself takes no time. Register C's
// flags are set whatever the enables; IRQF and the IRQ8 line follow
// (PF and PIE) or (AF and AIE) or (UF and UIE); reading C clears them all.
// Register B's SET stops updates (and clears UIE when it rises); time
// registers may be written at any time and read back as written. An update
// adds a second through the proleptic Gregorian calendar (UTC); the weekday
// register counts on by itself at each midnight. Hours follow the 12/24-hour
// bit, all clock bytes the BCD/binary bit (the clock is kept as values, so
// switching modes changes how it reads); an alarm byte of 0xC0-0xFF matches
// any value. The century (0x32, a RAM byte on a PC) counts with the year.
//
// Not emulated: the 4.194304 and 1.048576 MHz time bases (with DV other
// than 010 or 11x the oscillator is taken as stopped: no updates, no
// periodic flags), daylight saving (DSE is kept only), the square-wave pin,
// the chip's counting from out-of-range clock values (an update normalizes
// them through the calendar first, e.g. 30 February becomes 1 or 2 March).
//
// Fields are ordered so that the struct has no padding (see PC.Digest).
type RTC struct {
	now   uint64 // device time of the state
	chain uint64 // divider chain, in 32.768 kHz cycles
	// ram holds the CMOS bytes by index: the alarms (0x01, 0x03, 0x05)
	// and the RAM (0x0E-0x7F); the clock registers are the fields below.
	ram  [128]uint8
	year uint16 // century*100 + year
	// The clock registers' values (binary, 24-hour), as written or
	// counted.
	sec, min, hour, wday, mday, mon uint8
	regA                            uint8 // bits 6:0 (UIP is computed)
	regB                            uint8
	regC                            uint8
	index                           uint8 // selected register
	nmiMask                         bool  // bit 7 of the last index write (NMI is not emulated)
	_                               [3]byte
}

// reset sets the power-on state with the clock at base (Unix seconds).
func (r *RTC) reset(base int64) {
	*r = RTC{regA: rtcRegADefault, regB: rtcRegBDefault}
	r.setTime(timeOf(base))
	r.wday = timeOf(base).wday
}

// setTime sets the clock registers but the weekday.
func (r *RTC) setTime(t rtcTime) {
	r.sec, r.min, r.hour, r.mday, r.mon = t.sec, t.min, t.hour, t.mday, t.mon
	r.year = uint16(t.year)
}

func (r *RTC) time() rtcTime {
	return rtcTime{sec: r.sec, min: r.min, hour: r.hour, wday: r.wday, mday: r.mday, mon: r.mon, year: int64(r.year)}
}

// addSeconds performs n updates.
func (r *RTC) addSeconds(n uint64) {
	u := r.time().unix()
	d0 := floorDiv(u, 86400)
	u += int64(n)
	t := timeOf(u)
	r.setTime(t)
	days := (floorDiv(u, 86400) - d0) % 7
	r.wday = uint8((int64(r.wday)+6)%7+days)%7 + 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// cycles returns the time base's cycle count at device time t.
func cycles(t uint64) uint64 {
	hi, lo := bits.Mul64(t, rtcHz)
	q, _ := bits.Div64(hi, lo, PITHz) // hi < rtcHz < PITHz: no overflow
	return q
}

// cycleTime returns the first device time at which the cycle count is at
// least c, or NoEvent beyond the range of device time.
func cycleTime(c uint64) uint64 {
	hi, lo := bits.Mul64(c, PITHz)
	lo, carry := bits.Add64(lo, rtcHz-1, 0)
	hi += carry
	if hi >= rtcHz {
		return NoEvent
	}
	return hi<<(64-15) | lo>>15 // / 2^15 (rtcHz)
}

func (r *RTC) running() bool { return r.regA&rtcDV == rtcDV32K }

func (r *RTC) updating() bool { return r.running() && r.regB&rtcSET == 0 }

// periodCycles is the periodic interrupt period for the rate in register
// A, or 0 if none (MC146818A table "Periodic Interrupt Rate").
func (r *RTC) periodCycles() uint64 {
	rs := r.regA & rtcRS
	switch {
	case rs == 0:
		return 0
	case rs <= 2:
		return 1 << (rs + 6)
	}
	return 1 << (rs - 1)
}

func (r *RTC) setIRQF() {
	r.regC &^= rtcIRQF
	if r.regC&r.regB&rtcFlags != 0 { // PF/PIE, AF/AIE, UF/UIE share bit positions
		r.regC |= rtcIRQF
	}
}

func (r *RTC) irq() bool { return r.regC&rtcIRQF != 0 }

// advance moves the clock to device time now; earlier times are ignored.
func (r *RTC) advance(now uint64) {
	if now <= r.now {
		return
	}
	c0, c1 := cycles(r.now), cycles(now)
	r.now = now
	if !r.running() || c1 == c0 {
		return
	}
	d0 := r.chain
	d1 := d0 + (c1 - c0)
	r.chain = d1
	if p := r.periodCycles(); p != 0 && d1/p != d0/p {
		r.regC |= rtcPF
	}
	if r.regB&rtcSET == 0 {
		if n := d1/rtcHz - d0/rtcHz; n != 0 {
			if d, ok := r.alarmIn(); ok && d <= n {
				r.regC |= rtcAF
			}
			r.addSeconds(n)
			r.regC |= rtcUF
		}
	}
	r.setIRQF()
}

// nextEvent returns the device time at which IRQ8 will next rise by itself,
// or NoEvent: never while it is high (the flags must be read first).
func (r *RTC) nextEvent() uint64 {
	if r.irq() || !r.running() {
		return NoEvent
	}
	k := NoEvent // cycles from now
	if p := r.periodCycles(); p != 0 && r.regB&rtcPIE != 0 {
		k = p - r.chain%p
	}
	if r.regB&rtcSET == 0 {
		toUpdate := rtcHz - r.chain%rtcHz
		if r.regB&rtcUIE != 0 {
			k = min(k, toUpdate)
		}
		if r.regB&rtcAIE != 0 {
			if d, ok := r.alarmIn(); ok {
				k = min(k, toUpdate+(d-1)*rtcHz)
			}
		}
	}
	if k == NoEvent {
		return NoEvent
	}
	return cycleTime(cycles(r.now) + k)
}

// alarmField returns the value an alarm byte matches (binary), -1 for any
// value, or -2 if it can match nothing in the current data mode.
func (r *RTC) alarmField(b, limit uint8) int {
	if b&rtcDontCare == rtcDontCare {
		return -1
	}
	if v := r.fromReg(b); v < limit && r.toReg(v) == b {
		return int(v)
	}
	return -2
}

func (r *RTC) alarmHour(b uint8) int {
	if b&rtcDontCare == rtcDontCare || r.regB&rtc24h != 0 {
		return r.alarmField(b, 24)
	}
	h := r.fromReg(b &^ rtcPM)
	if h < 1 || h > 12 || r.toReg(h) != b&^rtcPM {
		return -2
	}
	h %= 12
	if b&rtcPM != 0 {
		h += 12
	}
	return int(h)
}

// alarmIn returns after how many updates (1-86400) the clock next shows a
// time that matches the alarm registers, or ok false if it never will.
func (r *RTC) alarmIn() (updates uint64, ok bool) {
	h, m, s := r.alarmHour(r.ram[CMOSAlarmHours]), r.alarmField(r.ram[CMOSAlarmMinutes], 60), r.alarmField(r.ram[CMOSAlarmSeconds], 60)
	if h == -2 || m == -2 || s == -2 {
		return 0, false
	}
	hh, mm, ss := r.hour, r.min, r.sec
	if hh >= 24 || mm >= 60 || ss >= 60 { // as the next update will normalize them
		t := timeOf(r.time().unix())
		hh, mm, ss = t.hour, t.min, t.sec
	}
	tod := int(hh)*3600 + int(mm)*60 + int(ss)
	if x, ok := firstMatch(tod+1, 86400, h, m, s); ok {
		return uint64(x - tod), true
	}
	if x, ok := firstMatch(0, tod+1, h, m, s); ok {
		return uint64(x + 86400 - tod), true
	}
	return 0, false
}

// firstMatch returns the first second of the day in [from, to) whose hour,
// minute and second match h, m and s (-1: any).
func firstMatch(from, to, h, m, s int) (int, bool) {
	for x := from; x < to; {
		hh, mm, ss := x/3600, x/60%60, x%60
		switch {
		case h >= 0 && h != hh:
			if h > hh {
				x = h * 3600
			} else {
				x = 86400
			}
		case m >= 0 && m != mm:
			if m > mm {
				x = hh*3600 + m*60
			} else {
				x = (hh + 1) * 3600
			}
		case s >= 0 && s != ss:
			if s > ss {
				x = hh*3600 + mm*60 + s
			} else {
				x = hh*3600 + (mm+1)*60
			}
		default:
			return x, true
		}
	}
	return 0, false
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
	switch port {
	case PortCMOSIndex:
		r.index = b & 0x7F
		r.nmiMask = b&0x80 != 0
	case PortCMOSData:
		r.write(r.index, b)
	}
}

func isClock(i uint8) bool {
	switch i {
	case CMOSSeconds, CMOSMinutes, CMOSHours, CMOSWeekday, CMOSDay, CMOSMonth, CMOSYear, CMOSCentury:
		return true
	}
	return false
}

func (r *RTC) read(i uint8) uint8 {
	switch {
	case isClock(i):
		return r.encode(i)
	case i == CMOSRegA:
		v := r.regA
		if r.updating() && r.chain%rtcHz >= rtcHz-rtcUIPCycles {
			v |= rtcUIP
		}
		return v
	case i == CMOSRegB:
		return r.regB
	case i == CMOSRegC:
		v := r.regC
		r.regC = 0 // reading C clears the flags and IRQF (IRQ8 goes low)
		return v
	case i == CMOSRegD:
		return rtcVRT
	}
	return r.ram[i&0x7F] // alarms and RAM (the index has 7 bits)
}

func (r *RTC) write(i uint8, v uint8) {
	switch {
	case isClock(i):
		r.decode(i, v)
	case i == CMOSRegA:
		old := r.regA
		r.regA = v &^ rtcUIP // UIP is read-only
		switch {
		case v&rtcDVReset == rtcDVReset:
			r.chain = 0
		case old&rtcDVReset == rtcDVReset && v&rtcDV == rtcDV32K:
			r.chain = rtcHz / 2 // the first update comes half a second later
		}
	case i == CMOSRegB:
		if v&rtcSET != 0 && r.regB&rtcSET == 0 {
			v &^= rtcUIE // SET rising clears UIE
		}
		r.regB = v
		r.setIRQF()
	case i == CMOSRegC, i == CMOSRegD:
		// read-only
	default:
		r.ram[i&0x7F] = v
	}
}

func (r *RTC) bcd() bool { return r.regB&rtcDM == 0 }

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

func (r *RTC) encode(i uint8) uint8 {
	switch i {
	case CMOSSeconds:
		return r.toReg(r.sec)
	case CMOSMinutes:
		return r.toReg(r.min)
	case CMOSHours:
		if r.regB&rtc24h != 0 {
			return r.toReg(r.hour)
		}
		h, pm := r.hour%12, r.hour >= 12
		if h == 0 {
			h = 12
		}
		v := r.toReg(h)
		if pm {
			v |= rtcPM
		}
		return v
	case CMOSWeekday:
		return r.toReg(r.wday)
	case CMOSDay:
		return r.toReg(r.mday)
	case CMOSMonth:
		return r.toReg(r.mon)
	case CMOSYear:
		return r.toReg(uint8(r.year % 100))
	}
	return r.toReg(uint8(r.year / 100)) // century
}

func (r *RTC) decode(i, v uint8) {
	switch i {
	case CMOSSeconds:
		r.sec = r.fromReg(v)
	case CMOSMinutes:
		r.min = r.fromReg(v)
	case CMOSHours:
		if r.regB&rtc24h != 0 {
			r.hour = r.fromReg(v)
			return
		}
		h := r.fromReg(v&^rtcPM) % 12
		if v&rtcPM != 0 {
			h += 12
		}
		r.hour = h
	case CMOSWeekday:
		r.wday = r.fromReg(v)
	case CMOSDay:
		r.mday = r.fromReg(v)
	case CMOSMonth:
		r.mon = r.fromReg(v)
	case CMOSYear:
		r.year = r.year/100*100 + uint16(r.fromReg(v))
	case CMOSCentury:
		r.year = uint16(r.fromReg(v))*100 + r.year%100
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
	y, m := t.year, int64(t.mon)-1
	y += floorDiv(m, 12) // months out of 1-12 carry into the year
	m = m - floorDiv(m, 12)*12 + 1
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
