package testguest

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestImageUpToDate re-assembles testguest.S and fails if the committed
// testguest.bin differs, so the binary cannot drift from its source.
func TestImageUpToDate(t *testing.T) {
	for _, tool := range []string{"as", "ld", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (install binutils): cannot check testguest.bin against testguest.S", tool)
		}
	}
	out := filepath.Join(t.TempDir(), "testguest.bin")
	if msg, err := exec.Command("sh", "build.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, msg)
	}
	fresh := readFile(t, out)
	if !bytes.Equal(fresh, Image) {
		t.Fatalf("testguest.bin (%d bytes) differs from testguest.S assembled (%d bytes): run `go generate ./guest/testguest` and commit testguest.bin",
			len(Image), len(fresh))
	}
}

// TestImageShape checks the image against the layout the contract states.
func TestImageShape(t *testing.T) {
	if len(Image) <= DataAddr-LoadAddr || len(Image) > DataAddr-LoadAddr+4096 {
		t.Fatalf("image is %d bytes; want code below DataAddr and a data page of at most 4 KiB", len(Image))
	}
	// The IDT is filled at run time: zero in the image.
	idt := Image[IDTAddr-LoadAddr : IDTAddr-LoadAddr+IDTVectors*16]
	if !bytes.Equal(idt, make([]byte, len(idt))) {
		t.Errorf("IDT area at %#x is not zero in the image", IDTAddr)
	}
	if Image[0] != 0xFC { // cld
		t.Errorf("first instruction byte %#x, want 0xfc (cld)", Image[0])
	}
}

// TestChecksum0Golden pins Checksum0 (and so the guest's computation, which
// the QEMU test compares against it).
func TestChecksum0Golden(t *testing.T) {
	for _, c := range []struct{ param, want uint64 }{
		{0, 0x73fa42345158e33c},
		{Mode0DefaultIterations, 0x73fa42345158e33c},
		{1, 0x80f332b59855018f},
	} {
		if got := Checksum0(c.param); got != c.want {
			t.Errorf("Checksum0(%d) = %#016x, want %#016x", c.param, got, c.want)
		}
	}
}

// TestConstantsMatchSource checks the Go constants against the .equ lines of
// testguest.S, so the documented contract cannot drift from the guest.
func TestConstantsMatchSource(t *testing.T) {
	equ := map[string]uint64{}
	re := regexp.MustCompile(`(?m)^\s*\.equ\s+(\w+),\s*(0x[0-9A-Fa-f]+|[0-9]+)\s*(#.*)?$`)
	for _, m := range re.FindAllStringSubmatch(string(readFile(t, "testguest.S")), -1) {
		v, err := strconv.ParseUint(m[2], 0, 64)
		if err != nil {
			t.Fatalf(".equ %s: %v", m[1], err)
		}
		equ[m[1]] = v
	}
	for name, want := range map[string]uint64{
		"LOAD_ADDR":            LoadAddr,
		"DATA_OFFSET":          DataAddr - LoadAddr,
		"IDT_VECTORS":          IDTVectors,
		"COM1":                 COM1Port,
		"PIC1_CMD":             PIC1Port,
		"PIC2_CMD":             PIC2Port,
		"PIT_CH0":              PITPort,
		"PIT_CMD":              uint64(PITInitSequence[0].Port),
		"PIT_MODE2":            uint64(PITInitSequence[0].Value),
		"PIT_DIVISOR":          PITDivisor,
		"IRQ_BASE1":            TimerVector,
		"IRQ_BASE2":            uint64(PICInitSequence[3].Value),
		"PIC1_MASK":            uint64(PICInitSequence[8].Value),
		"PIC2_MASK":            uint64(PICInitSequence[9].Value),
		"MCR_DTR_RTS_OUT2":     uint64(COM1InitSequence[0].Value),
		"IER_ERBFI":            uint64(COM1InitSequence[1].Value),
		"POST_PORT":            PostPort,
		"EXIT_PORT":            ExitPort,
		"EXIT_OK":              ExitOK,
		"EXIT_BAD_MODE":        ExitBadMode,
		"EXIT_RDTSC_BACKWARDS": ExitRDTSCBackwards,
		"EXIT_NO_TRIPLE_FAULT": ExitNoTripleFault,
		"EXIT_EXCEPTION":       ExitException,
		"FNV_OFFSET":           fnvOffset,
		"FNV_PRIME":            fnvPrime,
		"SEED0":                seed0,
		"BUF0":                 Mode0BufAddr,
		"BUF2":                 Mode2BufAddr,
		"MODE0_DEFAULT":        Mode0DefaultIterations,
		"MODE2_DEFAULT":        Mode2DefaultIterations,
		"PRINT_TICKS":          PrintEveryTicks,
		"PIT_INPUT_HZ":         PITInputHz,
		"EXIT_BAD_PARAM":       ExitBadParam,
		"EXIT_SHADOW_BROKEN":   ExitShadowBroken,
		"SOFT_VECTOR":          SoftVector,
		"ASYNC_DEFAULT_ROUNDS": AsyncDefaultRounds,
		"ASYNC_MIN_TICKS":      AsyncMinTicks,
		"ASYNC_SPIN_TICKS":     AsyncSpinTicks,
		"ASYNC_MIN_DIVISOR":    AsyncMinDivisor,
		"ASYNC_BUF":            AsyncBufAddr,
		"ASYNC_LEN":            AsyncBufSize / 2,
	} {
		got, ok := equ[name]
		if !ok {
			t.Errorf("testguest.S has no numeric .equ %s", name)
		} else if got != want {
			t.Errorf(".equ %s = %#x in testguest.S, %#x in testguest.go", name, got, want)
		}
	}
	if TimerVector+4 != SerialVector || PITInitSequence[1].Value != PITDivisor&0xFF || PITInputHz/PITDivisor != TimerHz ||
		SoftVector != IDTVectors-1 {
		t.Errorf("vector or timer constants inconsistent")
	}
	// The phase names, in order, as the descriptors in testguest.S name them.
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^desc_\w+:\n\s*\.quad\s+name_(\w+),`).FindAllStringSubmatch(string(readFile(t, "testguest.S")), -1) {
		names = append(names, m[1])
	}
	if strings.Join(names, " ") != strings.Join(AsyncPhases, " ") {
		t.Errorf("testguest.S phase descriptors name %q, AsyncPhases %q", names, AsyncPhases)
	}
}

// TestAsyncParam pins the param encoding documented for mode 5.
func TestAsyncParam(t *testing.T) {
	for _, c := range []struct {
		rounds  uint32
		divisor uint16
		want    uint64
	}{
		{0, 0, 0},
		{2, 1193, 0x4a9_00000002},
		{0xFFFFFFFF, 0xFFFF, 0xFFFF_FFFFFFFF},
	} {
		if got := AsyncParam(c.rounds, c.divisor); got != c.want {
			t.Errorf("AsyncParam(%d, %d) = %#x, want %#x", c.rounds, c.divisor, got, c.want)
		}
	}
}
