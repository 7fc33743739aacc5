package gdb

import (
	"bytes"
	"testing"
)

// Every register decodes from and encodes to its g-packet bytes, into its
// own field and no other.
func TestEveryRegisterRoundTrips(t *testing.T) {
	for i := range registerTable {
		d := &registerTable[i]
		size := d.bits / 8
		want := make([]byte, size)
		for j := range want {
			want[j] = byte(0x11 * (j + 1))
		}
		if d.name == "cs" || d.name == "ss" || d.name == "ds" || d.name == "es" || d.name == "fs" || d.name == "gs" {
			want[2], want[3] = 0, 0 // selectors are 16 bits
		}
		var r Registers
		if err := decodeRegister(want, &r, d); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if got := encodeRegister(nil, &r, d); !bytes.Equal(got, want) {
			t.Errorf("%s: encodes % x, want % x", d.name, got, want)
		}
		// Only this register changed: every other one still encodes as zero.
		for k := range registerTable {
			if k == i {
				continue
			}
			if got := encodeRegister(nil, &r, &registerTable[k]); !bytes.Equal(got, make([]byte, len(got))) {
				t.Errorf("writing %s changed %s to % x", d.name, registerTable[k].name, got)
			}
		}
	}
}

func TestSelectorMustFit(t *testing.T) {
	var r Registers
	if err := decodeRegister([]byte{0, 0, 1, 0}, &r, &registerTable[registerByName("ss")]); err == nil {
		t.Error("a selector of 0x10000 was accepted")
	}
}
