package main

import (
	"testing"
	"time"

	"hindsight/guest/testguest"
	"hindsight/hv"
	"hindsight/hv/replay"
)

func TestParsePairOptions(t *testing.T) {
	p, err := parsePairOptions(map[string]string{"lag": "1000", "verify": "500", "corrupt": "clock:150", "rtc": "real", "cpus": "1,0", "clock": "exit"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.cfg
	if c.Lag != 0 || c.LagRecords != 1000 || c.Ring != 0 || c.Verify != 500 || !p.realRTC || c.RTCBase == fixedRTC ||
		c.Corrupt != (hv.Corruption{N: 150, Kind: replay.KindClock}) || c.PrimaryCPU != 1 || c.BackupCPU != 0 ||
		c.AutoClock || c.Clock != hv.ClockExit {
		t.Fatalf("%+v", p)
	}
	if p, err = parsePairOptions(map[string]string{"lag": "2s", "ring": "16", "corrupt": "300"}); err != nil ||
		p.cfg.Lag != 2*time.Second || p.cfg.Ring != 16 || p.cfg.Corrupt != (hv.Corruption{N: 300}) || p.realRTC ||
		!p.cfg.AutoClock || p.cfg.RTCBase != fixedRTC || p.mode != testguest.ModeReplay {
		t.Fatalf("%+v %v", p, err)
	}
	if p, err = parsePairOptions(map[string]string{"gdb": "com2", "debug": "start", "onfail": "replay"}); err != nil ||
		p.gdbLine != "com2" || !p.cfg.Debug.Start || p.cfg.Debug.OnFail != hv.OnFailReplay {
		t.Fatalf("debugging: %+v %v", p, err)
	}
	if p, _ = parsePairOptions(map[string]string{"mode": "async", "rounds": "3", "divisor": "1190"}); p.mode != testguest.ModeAsync ||
		p.arg != testguest.AsyncParam(3, 1190) {
		t.Fatalf("async: %+v", p)
	}
	for _, h := range []struct {
		s    string
		want hv.Corruption
	}{
		{"crc:5", hv.Corruption{N: 5, Fault: hv.FaultCRC}},
		{"kind:6", hv.Corruption{N: 6, Fault: hv.FaultKind}},
		{"truncate:7", hv.Corruption{N: 7, Fault: hv.FaultTruncate}},
		{"SERIALIN:2", hv.Corruption{N: 2, Kind: replay.KindSerialIn}},
	} {
		if got, err := parseCorrupt(h.s); err != nil || got != h.want {
			t.Errorf("corrupt=%s: %+v %v", h.s, got, err)
		}
	}
	for _, c := range []struct{ key, val, msg string }{
		{"lag", "soon", "lag=soon: want a duration (2s, 500ms) or a record count"},
		{"verify", "x", "verify=x: want a number"},
		{"corrupt", "0", "corrupt=0: want [KIND:]N with N >= 1 and KIND one of rdtsc, clock, serialin, crc, kind, truncate"},
		{"corrupt", "clock:", "corrupt=clock:: want [KIND:]N with N >= 1 and KIND one of rdtsc, clock, serialin, crc, kind, truncate"},
		{"corrupt", "digest:5", `corrupt=digest:5: "digest" is not a kind of input record (rdtsc, clock, serialin) nor a fault (crc, kind, truncate)`},
		{"corrupt", "irq:5", `corrupt=irq:5: "irq" is not a kind of input record (rdtsc, clock, serialin) nor a fault (crc, kind, truncate)`},
		{"status", "1", "status=1: want a duration"},
		{"stopafter", "-3s", "stopafter=-3s: want a duration (stopafter=60s)"},
		{"rtc", "host", "rtc=host: want rtc=fixed (2000-01-01 00:00:00, the default) or rtc=real"},
		{"clock", "tsc", "clock=tsc: want clock=auto (the default), exit, slice or branch"},
		{"cpus", "0", "cpus=0: want PRIMARY,BACKUP CPU numbers (cpus=0,1)"},
		{"mode", "fast", "mode=fast: want replay (the default), async or halt (the test guest's mode)"},
		{"onfail", "stop", "onfail=stop: want onfail=debug (the default: the backup stops where it stands), replay (it replays to just before the failure) or follow"},
		{"gdb", "com1", "gdb=com1: want gdb=com2 (the backup's gdb stub on the second serial port; COM1 is the console)"},
		{"debug", "start", "debug=start waits for a debugger: add gdb=com2"},
		{"debug", "now", "debug=now: want debug=start (stop the backup before its first instruction)"},
	} {
		if _, err := parsePairOptions(map[string]string{c.key: c.val}); err == nil || err.Error() != c.msg {
			t.Errorf("%s=%s: error %v, want %q", c.key, c.val, err, c.msg)
		}
	}
}
