package main

import (
	"testing"
	"time"

	"hindsight/hv/replay"
)

func TestParsePairOptions(t *testing.T) {
	p, err := parsePairOptions(map[string]string{"lag": "1000", "verify": "500", "corrupt": "irq:150", "rtc": "real"})
	if err != nil {
		t.Fatal(err)
	}
	if p.lag != 0 || p.lagRecords != 1000 || p.ring != 1<<16 || p.verify != 500 || p.corrupt != 150 || p.corruptOf != replay.KindIRQ || !p.realRTC {
		t.Fatalf("%+v", p)
	}
	if p, err = parsePairOptions(map[string]string{"lag": "2s", "ring": "16", "corrupt": "300"}); err != nil ||
		p.lag != 2*time.Second || p.ring != 16 || p.corrupt != 300 || p.corruptOf != 0 || p.realRTC {
		t.Fatalf("%+v %v", p, err)
	}
	// A record lag sizes the log to twice the lag.
	if p, _ = parsePairOptions(map[string]string{"lag": "100000"}); p.ring != 1<<18 {
		t.Fatalf("ring %d for a 100000-record lag", p.ring)
	}
	for _, c := range []struct{ key, val, msg string }{
		{"lag", "soon", "lag=soon: want a duration (2s, 500ms) or a record count"},
		{"verify", "x", "verify=x: want a number"},
		{"corrupt", "0", "corrupt=0: want [KIND:]N, N >= 1 (corrupt=300, corrupt=irq:150)"},
		{"corrupt", "irq:", "corrupt=irq:: want [KIND:]N, N >= 1 (corrupt=300, corrupt=irq:150)"},
		{"corrupt", "digest:5", `corrupt=digest:5: "digest" is not a kind of input record (rdtsc, portin, irq, serialin)`},
		{"corrupt", "tick:5", `corrupt=tick:5: "tick" is not a kind of input record (rdtsc, portin, irq, serialin)`},
		{"status", "1", "status=1: want a duration"},
		{"rtc", "host", "rtc=host: want rtc=fixed (2000-01-01 00:00:00, the default) or rtc=real"},
	} {
		if _, err := parsePairOptions(map[string]string{c.key: c.val}); err == nil || err.Error() != c.msg {
			t.Errorf("%s=%s: error %v, want %q", c.key, c.val, err, c.msg)
		}
	}
}
