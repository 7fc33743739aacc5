package dev

import (
	"testing"
	"time"
)

func cmos(r *RTC, index uint8) uint8 {
	r.Out(PortCMOSIndex, 1, uint32(index))
	return in8(r, PortCMOSData)
}

func setCMOS(r *RTC, index, v uint8) {
	outs(r, ioStep{PortCMOSIndex, index}, ioStep{PortCMOSData, v})
}

func wantClock(t *testing.T, r *RTC, want [8]uint8) {
	t.Helper()
	regs := [8]uint8{CMOSSeconds, CMOSMinutes, CMOSHours, CMOSWeekday, CMOSDay, CMOSMonth, CMOSYear, CMOSCentury}
	var got [8]uint8
	for i, reg := range regs {
		got[i] = cmos(r, reg)
	}
	if got != want {
		t.Fatalf("sec min hour wday day mon year century = % x, want % x", got, want)
	}
}

func TestRTCDefaultsY2K(t *testing.T) {
	r := NewRTC()
	// 2000-01-01 00:00:00, a Saturday (7), BCD.
	wantClock(t, r, [8]uint8{0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20})
	for reg, want := range map[uint8]uint8{CMOSRegA: 0x26, CMOSRegB: 0x02, CMOSRegC: 0x00, CMOSRegD: 0x80} {
		if v := cmos(r, reg); v != want {
			t.Errorf("register %#x = %#x, want %#x", reg, v, want)
		}
	}
	if in8(r, PortCMOSIndex) != 0xFF {
		t.Error("index register readable")
	}
}

func TestRTCKnownUnixTime(t *testing.T) {
	r := NewRTC()
	r.SetTime(1700000000) // 2023-11-14 22:13:20 UTC, a Tuesday
	wantClock(t, r, [8]uint8{0x20, 0x13, 0x22, 0x03, 0x14, 0x11, 0x23, 0x20})
	// Binary mode (register B DM).
	setCMOS(r, CMOSRegB, 0x06)
	wantClock(t, r, [8]uint8{20, 13, 22, 3, 14, 11, 23, 20})
	// 12-hour BCD: 10 PM.
	setCMOS(r, CMOSRegB, 0x00)
	if h := cmos(r, CMOSHours); h != 0x90 {
		t.Fatalf("12h hours = %#x, want 0x90", h)
	}
	setCMOS(r, CMOSRegB, 0x02)
	// Logical seconds advance the clock: +1 h 47 min 45 s crosses midnight.
	r.SetElapsed(3600 + 47*60 + 45)
	wantClock(t, r, [8]uint8{0x05, 0x01, 0x00, 0x04, 0x15, 0x11, 0x23, 0x20})
	// UIP is never set, however often it is polled.
	for i := 0; i < 1000; i++ {
		if cmos(r, CMOSRegA)&0x80 != 0 {
			t.Fatal("UIP set")
		}
	}
}

func TestRTCGuestSetsClock(t *testing.T) {
	r := NewRTC()
	r.SetElapsed(100)
	setCMOS(r, CMOSRegB, 0x82) // SET: clock held
	for _, w := range [][2]uint8{{CMOSSeconds, 0x00}, {CMOSMinutes, 0x00}, {CMOSHours, 0x12},
		{CMOSDay, 0x29}, {CMOSMonth, 0x02}, {CMOSYear, 0x24}, {CMOSCentury, 0x20}} {
		setCMOS(r, w[0], w[1])
	}
	r.SetElapsed(200) // held while SET
	if got := cmos(r, CMOSDay); got != 0x29 {
		t.Fatalf("held day = %#x", got)
	}
	setCMOS(r, CMOSRegB, 0x02) // release
	if got, want := r.Time(), int64(1709208000); got != want {
		t.Fatalf("Time = %d, want %d (2024-02-29 12:00:00)", got, want)
	}
	r.SetElapsed(230)
	wantClock(t, r, [8]uint8{0x30, 0x00, 0x12, 0x05, 0x29, 0x02, 0x24, 0x20})
	// A single register write outside SET moves the clock too.
	setCMOS(r, CMOSMinutes, 0x59)
	if got, want := r.Time(), int64(1709208000+59*60+30); got != want {
		t.Fatalf("Time after minute write = %d, want %d", got, want)
	}
}

func TestRTCIndexNMIAndRAM(t *testing.T) {
	r := NewRTC()
	outs(r, ioStep{PortCMOSIndex, 0x80 | 0x40}, ioStep{PortCMOSData, 0xA5})
	if !r.NMIDisabled() || r.RAM(0x40) != 0xA5 {
		t.Fatalf("NMI %v RAM %#x", r.NMIDisabled(), r.RAM(0x40))
	}
	outs(r, ioStep{PortCMOSIndex, 0x40})
	if r.NMIDisabled() || in8(r, PortCMOSData) != 0xA5 {
		t.Fatal("index without bit 7")
	}
	setCMOS(r, CMOSRegC, 0xF0)
	setCMOS(r, CMOSRegD, 0x00)
	if cmos(r, CMOSRegC) != 0 || cmos(r, CMOSRegD) != 0x80 {
		t.Fatal("registers C/D writable")
	}
	r.SetMemorySize(64 << 20)
	for _, c := range [][2]uint8{
		{CMOSBaseLo, 0x80}, {CMOSBaseHi, 0x02}, // 640 KiB
		{CMOSExtLo, 0x00}, {CMOSExtHi, 0xFC}, // 63 MiB in KiB
		{CMOSExt2Lo, 0x00}, {CMOSExt2Hi, 0xFC},
		{CMOSHighLo, 0x00}, {CMOSHighHi, 0x03}, // 48 MiB in 64 KiB units
		{CMOSChecksumHi, 0x01}, {CMOSChecksumLo, 0x7E}, // 0x80+0x02+0x00+0xFC
	} {
		if v := cmos(r, c[0]); v != c[1] {
			t.Errorf("CMOS %#x = %#x, want %#x", c[0], v, c[1])
		}
	}
	r.SetMemorySize(8 << 30)
	if cmos(r, CMOSExtLo) != 0xFF || cmos(r, CMOSExtHi) != 0xFF || cmos(r, CMOSHighHi) != 0xFF {
		t.Error("sizes not capped at 0xFFFF")
	}
}

func TestRTCCalendarMatchesTimePackage(t *testing.T) {
	for x := int64(-5e9); x < 5e9; x += 86400*37 + 3607 {
		want := time.Unix(x, 0).UTC()
		got := timeOf(x)
		if int(got.year) != want.Year() || int(got.mon) != int(want.Month()) || int(got.mday) != want.Day() ||
			int(got.hour) != want.Hour() || int(got.min) != want.Minute() || int(got.sec) != want.Second() ||
			int(got.wday) != int(want.Weekday())+1 {
			t.Fatalf("timeOf(%d) = %+v, want %v", x, got, want)
		}
		if got.unix() != x {
			t.Fatalf("unix(timeOf(%d)) = %d", x, got.unix())
		}
	}
}

// Only the clock registers follow the time; a real-time clock's reads of
// them are logged for replay, the rest (status, RAM) are deterministic.
func TestRTCClockSelected(t *testing.T) {
	r := NewRTC()
	for i := 0; i < 0x80; i++ {
		r.Out(PortCMOSIndex, 1, uint32(i)|0x80) // NMI-disable bit set: same register
		want := i <= CMOSYear && i != 0x01 && i != 0x03 && i != 0x05 || i == CMOSCentury
		if got := r.ClockSelected(); got != want {
			t.Errorf("register %#x: ClockSelected %v, want %v", i, got, want)
		}
	}
}
