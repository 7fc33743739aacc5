package testguest

// Boot tests on bare QEMU (TCG, no VT-x): harness.S builds the entry
// environment of the contract on an emulated PC and jumps to Image. Skipped
// when qemu-system-x86_64, as or ld is missing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const qemuTimeout = 60 * time.Second

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildHarness assembles harness.S around Image into a multiboot kernel in a
// temporary directory and returns its path.
func buildHarness(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"qemu-system-x86_64", "as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: skipping the QEMU boot test", tool)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "testguest.bin"), Image, 0o644); err != nil {
		t.Fatal(err)
	}
	obj, bin := filepath.Join(dir, "harness.o"), filepath.Join(dir, "harness.bin")
	for _, args := range [][]string{
		{"as", "--64", "-I", dir, "-o", obj, "harness.S"},
		{"ld", "-Ttext=0x800000", "--oformat", "binary", "-e", "_start", "-o", bin, obj},
	} {
		if msg, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, msg)
		}
	}
	return bin
}

type qemuResult struct {
	serial string // COM1 output, "\r" removed
	status int    // QEMU's exit status: 2*guest status+1 after ExitPort
	debug  string // QEMU's -d log
}

// lines returns the serial output's lines that start with LinePrefix.
func (r qemuResult) lines() []string {
	var out []string
	for _, l := range strings.Split(r.serial, "\n") {
		if strings.HasPrefix(l, LinePrefix) {
			out = append(out, l)
		}
	}
	return out
}

func (r qemuResult) has(line string) bool {
	for _, l := range r.lines() {
		if l == line {
			return true
		}
	}
	return false
}

func (r qemuResult) withPrefix(p string) []string {
	var out []string
	for _, l := range r.lines() {
		if strings.HasPrefix(l, p) {
			out = append(out, l)
		}
	}
	return out
}

// runQEMU boots the harness with the command line, feeding input to COM1,
// with a hard timeout. extra are more QEMU arguments.
func runQEMU(t *testing.T, harness, cmdline string, input []byte, extra ...string) qemuResult {
	t.Helper()
	debugLog := filepath.Join(t.TempDir(), "qemu-debug.log")
	args := []string{
		"-nodefaults", "-display", "none", "-no-reboot",
		"-m", "64M", "-smp", "1",
		"-kernel", harness, "-append", cmdline,
		"-serial", "stdio",
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=4", ExitPort),
		"-d", "cpu_reset,guest_errors", "-D", debugLog,
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), qemuTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := qemuResult{serial: strings.ReplaceAll(stdout.String(), "\r", "")}
	if b, e := os.ReadFile(debugLog); e == nil {
		r.debug = string(b)
	}
	if ctx.Err() != nil {
		t.Fatalf("qemu (%s) timed out after %v\nserial:\n%s", cmdline, qemuTimeout, r.serial)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		r.status = 0
	case errors.As(err, &exit):
		r.status = exit.ExitCode()
	default:
		t.Fatalf("qemu: %v\n%s", err, stderr.String())
	}
	t.Logf("qemu %q: status %d in %v\n%s", cmdline, r.status, time.Since(start).Round(time.Millisecond), r.serial)
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("qemu stderr: %s", s)
	}
	return r
}

// exitStatus is QEMU's exit status when the guest writes status to ExitPort.
func exitStatus(status int) int { return status<<1 | 1 }

func checkNoFailureLines(t *testing.T, r qemuResult) {
	t.Helper()
	for _, p := range []string{MarkerException, "testguest: unknown mode", MarkerNoTripleFault,
		"testguest: rdtsc went backwards", "testguest: stray irqs", "testguest: rx dropped"} {
		if l := r.withPrefix(p); len(l) > 0 {
			t.Errorf("failure line: %q", l[0])
		}
	}
}

func TestQEMUMode0(t *testing.T) {
	harness := buildHarness(t)
	for _, param := range []uint64{0, 12345} {
		r := runQEMU(t, harness, fmt.Sprintf("mode=0 param=%d", param), nil)
		checkNoFailureLines(t, r)
		iters := param
		if iters == 0 {
			iters = Mode0DefaultIterations
		}
		for _, want := range []string{
			"testguest: mode 0 start",
			MarkerRDTSCOK,
			fmt.Sprintf("testguest: iterations %d", iters),
			fmt.Sprintf("%s%016x", MarkerChecksum, Checksum0(param)),
			"testguest: hlt",
			MarkerHLTResumed,
			MarkerDone,
		} {
			if !r.has(want) {
				t.Errorf("param %d: no line %q", param, want)
			}
		}
		if v := r.withPrefix(MarkerVendor); len(v) != 1 || len(v[0]) != len(MarkerVendor)+12 {
			t.Errorf("param %d: vendor lines %q, want one with 12 characters", param, v)
		}
		if !regexp.MustCompile(`(?m)^testguest: cpuid 1 eax 0x[0-9a-f]{8} ebx 0x[0-9a-f]{8} ecx 0x[0-9a-f]{8} edx 0x[0-9a-f]{8}$`).MatchString(r.serial) {
			t.Errorf("param %d: no cpuid 1 line", param)
		}
		if r.status != exitStatus(ExitOK) {
			t.Errorf("param %d: qemu status %d, want %d (guest exit 0)", param, r.status, exitStatus(ExitOK))
		}
	}
}

func TestQEMUMode1TripleFault(t *testing.T) {
	r := runQEMU(t, buildHarness(t), "mode=1", nil)
	if !r.has("testguest: mode 1 start") || !r.has(MarkerTripleFault) {
		t.Errorf("missing start or %q line", MarkerTripleFault)
	}
	if r.has(MarkerDone) || r.has(MarkerNoTripleFault) {
		t.Errorf("guest went on after the triple fault")
	}
	if !strings.Contains(r.debug, "Triple fault") {
		t.Errorf("QEMU logged no triple fault; -d log:\n%s", r.debug)
	}
	// -no-reboot turns the shutdown into a normal QEMU exit (status 0),
	// not an ExitPort write (odd status).
	if r.status != 0 {
		t.Errorf("qemu status %d, want 0 (shutdown after triple fault)", r.status)
	}
}

func TestQEMUBadMode(t *testing.T) {
	r := runQEMU(t, buildHarness(t), "mode=7", nil)
	if !r.has("testguest: mode 7 start") || !r.has("testguest: unknown mode") || r.has(MarkerDone) {
		t.Errorf("want start and unknown-mode lines and no done line")
	}
	if r.status != exitStatus(ExitBadMode) {
		t.Errorf("qemu status %d, want %d", r.status, exitStatus(ExitBadMode))
	}
}

var (
	tickRE  = regexp.MustCompile(`^testguest: tick (\d+) checksum 0x[0-9a-f]{16}$`)
	finalRE = regexp.MustCompile(`^testguest: final ticks (\d+) checksum 0x([0-9a-f]{16})$`)
	hltsRE  = regexp.MustCompile(`^testguest: hlts (\d+)$`)
	rtcRE   = regexp.MustCompile(`^testguest: rtc [0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$`)
	irqRE   = regexp.MustCompile(`^testguest: irq hash 0x[0-9a-f]{16}$`)
)

// checkMode2 checks the shape of a mode 2 run with the default param and
// returns the final tick count.
func checkMode2(t *testing.T, r qemuResult, input []byte) uint64 {
	t.Helper()
	checkNoFailureLines(t, r)
	for _, want := range []string{
		"testguest: mode 2 start",
		fmt.Sprintf("testguest: iterations %d", Mode2DefaultIterations),
		"testguest: interrupts on",
		fmt.Sprintf("testguest: rx total %d", len(input)),
		MarkerDone,
	} {
		if !r.has(want) {
			t.Errorf("no line %q", want)
		}
	}
	var rx []string
	for _, b := range input {
		rx = append(rx, fmt.Sprintf("%s%02x", MarkerRx, b))
	}
	if got := r.withPrefix(MarkerRx); strings.Join(got, "|") != strings.Join(rx, "|") {
		t.Errorf("rx lines %q, want %q", got, rx)
	}
	ticks := r.withPrefix(MarkerTick)
	if len(ticks) == 0 {
		t.Errorf("no tick lines")
	}
	prev := uint64(0)
	for k, l := range ticks {
		m := tickRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("bad tick line %q", l)
			continue
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		if n < uint64(k+1)*PrintEveryTicks || n <= prev {
			t.Errorf("tick line %d says %d (previous %d)", k, n, prev)
		}
		prev = n
	}
	final := r.withPrefix(MarkerFinal)
	if len(final) != 1 || finalRE.FindStringSubmatch(final[0]) == nil {
		t.Fatalf("final lines %q, want one matching %v", final, finalRE)
	}
	n, _ := strconv.ParseUint(finalRE.FindStringSubmatch(final[0])[1], 10, 64)
	minTicks := uint64(Mode2DefaultIterations / 2048)
	if n < 100 || n < minTicks || n < prev {
		t.Errorf("final ticks %d, want at least max(100, %d) and at least the last tick line's %d", n, minTicks, prev)
	}
	if h := r.withPrefix("testguest: hlts "); len(h) != 1 || hltsRE.FindStringSubmatch(h[0]) == nil {
		t.Errorf("hlts lines %q", h)
	} else if hl, _ := strconv.ParseUint(hltsRE.FindStringSubmatch(h[0])[1], 10, 64); hl < minTicks || hl > n+uint64(len(input)) {
		// Each HLT ends at a tick or at a COM1 receive interrupt; a wait
		// woken by input halts again until the tick comes.
		t.Errorf("hlts %d, want %d..%d (one wait per 2048 iterations, each ended by one of %d ticks or %d input bytes)",
			hl, minTicks, n+uint64(len(input)), n, len(input))
	}
	if c := r.withPrefix("testguest: rtc "); len(c) != 2 || rtcRE.FindStringSubmatch(c[0]) == nil || rtcRE.FindStringSubmatch(c[1]) == nil {
		t.Errorf("rtc lines %q, want two HH:MM:SS (start and end)", c)
	}
	if h := r.withPrefix(MarkerIRQHash); len(h) != 1 || irqRE.FindStringSubmatch(h[0]) == nil {
		t.Errorf("irq hash lines %q", h)
	}
	if r.status != exitStatus(ExitOK) {
		t.Errorf("qemu status %d, want %d (guest exit 0)", r.status, exitStatus(ExitOK))
	}
	return n
}

// TestQEMUMode2 runs the replay test guest with timer interrupts and serial
// input fed through QEMU's stdio chardev.
func TestQEMUMode2(t *testing.T) {
	input := []byte("hi!\n")
	r := runQEMU(t, buildHarness(t), "mode=2", input)
	checkMode2(t, r, input)
}

// TestQEMUMode2Deterministic runs mode 2 under QEMU's -icount (virtual time
// from the instruction count: the PIT, the TSC and HLT wake-ups become
// deterministic). Two runs must print identical tick and final lines, which
// shows the checksum depends on nothing but the guest's inputs; a run with
// another instruction rate (interrupts land elsewhere, other RDTSC values)
// must print another final checksum, which shows it depends on them.
func TestQEMUMode2Deterministic(t *testing.T) {
	harness := buildHarness(t)
	icount := func(shift int) qemuResult {
		return runQEMU(t, harness, "mode=2", nil,
			"-icount", fmt.Sprintf("shift=%d,sleep=off", shift), "-rtc", "clock=vm")
	}
	a, b, c := icount(3), icount(3), icount(4)
	checkMode2(t, a, nil)
	checkMode2(t, c, nil)
	key := func(r qemuResult) string {
		return strings.Join(append(r.withPrefix(MarkerTick), r.withPrefix(MarkerFinal)...), "\n")
	}
	if key(a) != key(b) {
		t.Errorf("two identical -icount runs differ:\n%s\n---\n%s", key(a), key(b))
	}
	// The first tick line comes at the same loop iteration in both runs;
	// its checksum must already differ.
	for _, p := range []string{MarkerTick, MarkerFinal} {
		if la, lc := r0(a.withPrefix(p)), r0(c.withPrefix(p)); checksumOf(la) == checksumOf(lc) {
			t.Errorf("runs with different instruction timing print the same checksum (%q, %q): it does not see interrupt timing or RDTSC", la, lc)
		}
	}
}

// checksumOf returns the text after "checksum 0x" in line.
func checksumOf(line string) string {
	_, c, _ := strings.Cut(line, "checksum 0x")
	return c
}

func r0(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
