package hv

import (
	"strings"
	"testing"
	"unsafe"

	"hindsight/vmx"
)

// The indices capturefile.go and snapshot.go use name the fields they say.
func TestSnapFieldIndices(t *testing.T) {
	for i, want := range map[int]vmx.Field{0: vmx.GuestRIP, snapCR0: vmx.GuestCR0, snapCR3: vmx.GuestCR3,
		snapCR4: vmx.GuestCR4, snapEFER: vmx.GuestIA32EFER} {
		if snapField(i) != want {
			t.Errorf("snapField(%d) = %#x, want %#x", i, snapField(i), want)
		}
	}
}

func TestStateBlobRoundTrip(t *testing.T) {
	var s vcpuState
	s.gprs[3], s.vmcs[0], s.seq, s.count, s.logPos = 0x1234, 0x101623, 560, 12, 42
	s.outN = uint16(copy(s.outBuf[:], "dbgtest: round"))
	b := encodeState(&s, 8192)
	var got vcpuState
	if err := decodeState(b, &got); err != nil {
		t.Fatal(err)
	}
	if got != s {
		t.Fatal("the decoded state differs from the encoded one")
	}
}

func TestStateBlobRefusesAnotherLayout(t *testing.T) {
	var s vcpuState
	b := encodeState(&s, 1)
	for _, c := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, "want"},
		{"short", func(b []byte) []byte { return b[:10] }, "too short"},
		{"another version", func(b []byte) []byte { b[8]++; return b }, "another build"},
		{"another size", func(b []byte) []byte { b[16]++; return b }, "another build"},
		{"not a state", func(b []byte) []byte { b[0] = 'X'; return b }, "another build"},
	} {
		bad := c.edit(append([]byte(nil), b...))
		var got vcpuState
		err := decodeState(bad, &got)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if unsafe.Sizeof(stateHeader{}) != 48 {
		t.Errorf("stateHeader is %d bytes: its layout is part of the capture format (48)", unsafe.Sizeof(stateHeader{}))
	}
}
