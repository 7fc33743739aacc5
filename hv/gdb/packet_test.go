package gdb

import (
	"bytes"
	"fmt"
	"testing"
)

// feedAll runs the framer over in and returns what it recognised, one
// string per frame: the packet data, or a name for the others.
func feedAll(f *framer, in string) []string {
	var got []string
	f.feed([]byte(in), func(fr frame) {
		switch fr.kind {
		case framePacket:
			got = append(got, "$"+string(fr.data))
		case frameBadChecksum:
			got = append(got, "badsum")
		case frameOversize:
			got = append(got, fmt.Sprintf("oversize %d", fr.size))
		case frameMalformed:
			got = append(got, "malformed")
		case frameAck:
			got = append(got, "+")
		case frameNack:
			got = append(got, "-")
		case frameInterrupt:
			got = append(got, "^C")
		}
	})
	return got
}

func frameOf(data string) string { return string(appendPacket(nil, []byte(data))) }

func TestFramer(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
	}{
		{"packet", frameOf("qSupported"), []string{"$qSupported"}},
		{"empty packet", "$#00", []string{"$"}},
		{"acks and interrupt", "+-\x03", []string{"+", "-", "^C"}},
		{"bad checksum", "$g#68", []string{"badsum"}},
		{"checksum digits in upper case", "$qC#B4", []string{"$qC"}},
		{"non-hex checksum", "$g#zz" + frameOf("g"), []string{"badsum", "$g"}},
		{"garbage between packets", "hello\r\n" + frameOf("g") + "xx#00" + frameOf("?"), []string{"$g", "$?"}},
		{"cut-off packet then a new one", "$m1234,4" + frameOf("qC"), []string{"$qC"}},
		{"checksum cut off by a new packet", "$g#6" + frameOf("?"), []string{"badsum", "$?"}},
		{"0x03 inside a packet is data", frameOf("X0,1:\x03"), []string{"$X0,1:\x03"}},
		{"escapes", "$X0,3:}\x03}\x04}]#" + sum("X0,3:}\x03}\x04}]"), []string{"$X0,3:#$}"}},
		{"escaped '#' does not end the packet", "$a}\x03b#" + sum("a}\x03b"), []string{"$a#b"}},
		{"run length", "$0* #" + sum("0* "), []string{"$0000"}},
		{"run length of 14", "$x*+#" + sum("x*+"), []string{"$" + string(bytes.Repeat([]byte{'x'}, 15))}},
		{"escape left open", "$a}#" + sum("a}"), []string{"malformed"}},
		{"run length count too small", "$0*\x1f#" + sum("0*\x1f"), []string{"malformed"}},
		{"run length with nothing to repeat", "$* #" + sum("* "), []string{"malformed"}},
		{"oversize", frameOf("m0123456789abcdef"), []string{"oversize 17"}},
		{"oversize by run length", "$0*~#" + sum("0*~"), []string{"oversize 98"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := feedAll(newFramer(16), c.in)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("frames %q, want %q", got, c.want)
			}
		})
	}
}

func sum(data string) string {
	var s byte
	for i := range len(data) {
		s += data[i]
	}
	return fmt.Sprintf("%02x", s)
}

func TestFramerByteAtATime(t *testing.T) {
	in := "+" + frameOf("vCont;c") + "\x03-" + frameOf("qC")
	f := newFramer(64)
	var got []string
	for i := range len(in) {
		got = append(got, feedAll(f, in[i:i+1])...)
	}
	want := []string{"+", "$vCont;c", "^C", "-", "$qC"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("frames %q, want %q", got, want)
	}
}

func TestEscapedRoundTrip(t *testing.T) {
	data := make([]byte, 256)
	for i := range data {
		data[i] = byte(i)
	}
	wire := appendPacket(nil, appendEscaped(nil, data))
	got := feedAll(newFramer(512), string(wire))
	if len(got) != 1 || got[0] != "$"+string(data) {
		t.Fatalf("round trip of all byte values: %q", got)
	}
}

func TestHexHelpers(t *testing.T) {
	if v, ok := parseHex([]byte("ffffffff80000000")); !ok || v != 0xffffffff80000000 {
		t.Errorf("parseHex: %#x %v", v, ok)
	}
	for _, bad := range []string{"", "12345678901234567", "12g"} {
		if _, ok := parseHex([]byte(bad)); ok {
			t.Errorf("parseHex(%q) succeeded", bad)
		}
	}
	if b, ok := decodeHex(nil, []byte("00ff7A")); !ok || !bytes.Equal(b, []byte{0, 0xff, 0x7a}) {
		t.Errorf("decodeHex: %x %v", b, ok)
	}
	for _, bad := range []string{"0", "0g"} {
		if _, ok := decodeHex(nil, []byte(bad)); ok {
			t.Errorf("decodeHex(%q) succeeded", bad)
		}
	}
	if got := string(textSafe("a*b#c$d}e\nf")); got != "a.b.c.d.e.f" {
		t.Errorf("textSafe: %q", got)
	}
}

// FuzzFramer feeds arbitrary bytes: the framer must not panic, must keep
// no more than its limit, and a well-formed packet that follows any input
// must come through intact.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("$qSupported#37"), []byte("g"))
	f.Add([]byte("$X0,2:}]}\x03#00"), []byte("X0,1:*"))
	f.Add([]byte("$0*"), []byte("m0,1"))
	f.Fuzz(func(t *testing.T, junk, data []byte) {
		const max = 64
		if len(data) > max {
			data = data[:max]
		}
		fr := newFramer(max)
		fr.feed(junk, func(x frame) {
			if len(x.data) > max || cap(fr.buf) > max {
				t.Fatalf("framer kept %d bytes, limit %d", len(x.data), max)
			}
		})
		// Whatever state the junk left, a '#' and two digits end any packet
		// in progress; then the packet must be recognised.
		var got [][]byte
		fr.feed([]byte("#00"), func(frame) {})
		fr.feed(appendPacket(nil, appendEscaped(nil, data)), func(x frame) {
			if x.kind == framePacket {
				got = append(got, bytes.Clone(x.data))
			}
		})
		if len(got) != 1 || !bytes.Equal(got[0], data) {
			t.Fatalf("after junk %q, packet %q came through as %q", junk, data, got)
		}
	})
}
