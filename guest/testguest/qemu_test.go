package testguest

// Boot tests on bare QEMU (TCG, no VT-x): harness.S builds the entry
// environment of the contract on an emulated PC and jumps to Image. Skipped
// when qemu-system-x86_64, as or ld is missing.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
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

// qemuArgs are the arguments that boot the harness with the command line,
// COM1 on stdio, the ExitPort device and a -d log; extra are appended.
func qemuArgs(harness, cmdline, debugLog string, extra ...string) []string {
	args := []string{
		"-nodefaults", "-display", "none", "-no-reboot",
		"-m", "64M", "-smp", "1",
		"-kernel", harness, "-append", cmdline,
		"-serial", "stdio",
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=4", ExitPort),
		"-d", "cpu_reset,guest_errors", "-D", debugLog,
	}
	return append(args, extra...)
}

// runQEMU boots the harness with the command line, feeding input to COM1,
// with a hard timeout. extra are more QEMU arguments.
func runQEMU(t *testing.T, harness, cmdline string, input []byte, extra ...string) qemuResult {
	t.Helper()
	debugLog := filepath.Join(t.TempDir(), "qemu-debug.log")
	args := qemuArgs(harness, cmdline, debugLog, extra...)
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
		"testguest: rdtsc went backwards", "testguest: stray irqs", "testguest: rx dropped",
		MarkerAsyncBadParam, MarkerShadowBroken} {
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
			MarkerDone,
		} {
			if !r.has(want) {
				t.Errorf("param %d: no line %q", param, want)
			}
		}
		// cli; hlt would end a VM: mode 0 must not halt.
		if l := r.withPrefix("testguest: hlt"); len(l) > 0 {
			t.Errorf("param %d: mode 0 printed %q: it must not halt", param, l)
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

// syncBuffer is a bytes.Buffer that QEMU's output goroutine writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(s.b.String(), "\r", "")
}

// qemuMonitor is a connection to QEMU's human monitor on a Unix socket.
type qemuMonitor struct {
	conn net.Conn
	r    *bufio.Reader
}

const monitorPrompt = "(qemu) "

func dialMonitor(t *testing.T, sock string) *qemuMonitor {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("QEMU monitor: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	m := &qemuMonitor{conn: conn, r: bufio.NewReader(conn)}
	if _, err := m.untilPrompt(); err != nil {
		t.Fatalf("QEMU monitor: no prompt: %v", err)
	}
	return m
}

// untilPrompt returns what the monitor writes before its next prompt.
func (m *qemuMonitor) untilPrompt() (string, error) {
	if err := m.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return "", err
	}
	var out []byte
	for !bytes.HasSuffix(out, []byte(monitorPrompt)) {
		b, err := m.r.ReadByte()
		if err != nil {
			return string(out), err
		}
		out = append(out, b)
	}
	return string(out[:len(out)-len(monitorPrompt)]), nil
}

func (m *qemuMonitor) command(t *testing.T, cmd string) string {
	t.Helper()
	if _, err := io.WriteString(m.conn, cmd+"\n"); err != nil {
		t.Fatalf("QEMU monitor %q: %v", cmd, err)
	}
	out, err := m.untilPrompt()
	if err != nil {
		t.Fatalf("QEMU monitor %q: %v\n%s", cmd, err, out)
	}
	return out
}

var (
	monRIPRE = regexp.MustCompile(`RIP=([0-9a-f]{16})`)
	monRFLRE = regexp.MustCompile(`RFL=([0-9a-f]{8})`)
	monHLTRE = regexp.MustCompile(`HLT=([01])`)
)

// haltedAt reads the CPU state through the monitor and returns RIP, failing
// unless the CPU is halted with IF = 0 just past a HLT instruction of Image.
func haltedAt(t *testing.T, m *qemuMonitor) uint64 {
	t.Helper()
	regs := m.command(t, "info registers")
	rip, rfl, hlt := monRIPRE.FindStringSubmatch(regs), monRFLRE.FindStringSubmatch(regs), monHLTRE.FindStringSubmatch(regs)
	if rip == nil || rfl == nil || hlt == nil {
		t.Fatalf("info registers: no RIP, RFL or HLT field:\n%s", regs)
	}
	pc, _ := strconv.ParseUint(rip[1], 16, 64)
	flags, _ := strconv.ParseUint(rfl[1], 16, 64)
	if hlt[1] != "1" {
		t.Errorf("CPU not halted (HLT=%s) at RIP %#x", hlt[1], pc)
	}
	if flags&0x200 != 0 {
		t.Errorf("halted with IF = 1 (RFLAGS %#x): an interrupt could wake it", flags)
	}
	if pc <= LoadAddr || pc > LoadAddr+uint64(len(Image)) || Image[pc-1-LoadAddr] != 0xF4 {
		t.Errorf("RIP %#x does not follow a HLT (0xf4) of the image", pc)
	}
	return pc
}

// TestQEMUMode6Halt boots mode 6 and checks through the QEMU monitor that the
// guest stops for good after "testguest: halting": the CPU halted with IF = 0
// just past a HLT, at the same RIP 300 ms later, no further output, no exit.
func TestQEMUMode6Halt(t *testing.T) {
	harness := buildHarness(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "monitor.sock")
	args := qemuArgs(harness, fmt.Sprintf("mode=%d", ModeHalt), filepath.Join(dir, "qemu-debug.log"),
		"-monitor", "unix:"+sock+",server=on,wait=off")
	ctx, cancel := context.WithTimeout(context.Background(), qemuTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var serial syncBuffer
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &serial, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
	}()

	for !strings.Contains(serial.String(), MarkerHalting+"\n") {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("qemu ended (%v) before %q; serial:\n%s\nstderr:\n%s", err, MarkerHalting, serial.String(), stderr.String())
		case <-ctx.Done():
			t.Fatalf("no %q within %v; serial:\n%s", MarkerHalting, qemuTimeout, serial.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	mon := dialMonitor(t, sock)
	first := haltedAt(t, mon)
	time.Sleep(300 * time.Millisecond)
	if again := haltedAt(t, mon); again != first {
		t.Errorf("halted at RIP %#x, then at %#x: the guest ran on", first, again)
	}
	out := serial.String()
	if want := "testguest: mode 6 start\n" + MarkerHalting + "\n"; !strings.HasSuffix(out, want) {
		t.Errorf("serial output %q, want it to end with %q", out, want)
	}
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("qemu ended by itself (%v): a halted guest must not exit", err)
	default:
	}
	t.Logf("halted at RIP %#x; serial:\n%s", first, out)

	if _, err := io.WriteString(mon.conn, "quit\n"); err != nil {
		t.Fatalf("QEMU monitor quit: %v", err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("qemu after quit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("qemu did not quit")
	}
}

var (
	asyncHeadRE   = regexp.MustCompile(`^testguest: async rounds (\d+) divisor (\d+) hz (\d+)$`)
	asyncRoundsRE = regexp.MustCompile(`^testguest: async (\w+) rounds (\d+) target (\d+)$`)
	asyncTicksRE  = regexp.MustCompile(`^testguest: async (\w+) ticks (\d+) hash 0x([0-9a-f]{16})$`)
	asyncTotalRE  = regexp.MustCompile(`^testguest: async total ticks (\d+) rx (\d+)$`)
	asyncDigestRE = regexp.MustCompile(`^testguest: async digest 0x([0-9a-f]{16})$`)
)

type asyncPhase struct {
	name                  string
	rounds, target, ticks uint64
	hash                  uint64
}

type asyncRun struct {
	phases    []asyncPhase
	total, rx uint64
	digest    uint64
}

func atou(s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(err) // the regexps admit only digits
	}
	return v
}

func hextou(s string) uint64 {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		panic(err)
	}
	return v
}

// checkAsync checks the output of a mode 5 run with the given rounds and PIT
// divisor and returns its numbers: every phase in order with both its lines,
// each with at least AsyncMinTicks ticks and its rounds, the spin phase's
// wait all in its loop, ticks at the target of the
// phases where nearly all time is spent there, the totals, and a digest
// that the phase lines recompute.
func checkAsync(t *testing.T, r qemuResult, rounds uint32, divisor uint16, rx int) asyncRun {
	t.Helper()
	checkNoFailureLines(t, r)
	if r.status != exitStatus(ExitOK) {
		t.Errorf("qemu status %d, want %d (guest exit 0)", r.status, exitStatus(ExitOK))
	}
	lines := r.withPrefix("testguest: async ")
	want := 1 + 2*len(AsyncPhases) + 2
	if len(lines) != want {
		t.Fatalf("%d async lines, want %d:\n%s", len(lines), want, strings.Join(lines, "\n"))
	}
	if m := asyncHeadRE.FindStringSubmatch(lines[0]); m == nil ||
		atou(m[1]) != uint64(rounds) || atou(m[2]) != uint64(divisor) || atou(m[3]) != PITInputHz/uint64(divisor) {
		t.Errorf("first line %q, want rounds %d divisor %d hz %d", lines[0], rounds, divisor, PITInputHz/uint64(divisor))
	}
	var run asyncRun
	digest := uint64(fnvOffset)
	sum := uint64(0)
	for k, name := range AsyncPhases {
		a, b := asyncRoundsRE.FindStringSubmatch(lines[1+2*k]), asyncTicksRE.FindStringSubmatch(lines[2+2*k])
		if a == nil || b == nil || a[1] != name || b[1] != name {
			t.Fatalf("phase %s: lines %q, %q", name, lines[1+2*k], lines[2+2*k])
		}
		p := asyncPhase{name: name, rounds: atou(a[2]), target: atou(a[3]), ticks: atou(b[2]), hash: hextou(b[3])}
		run.phases = append(run.phases, p)
		if p.ticks < AsyncMinTicks || p.rounds < uint64(rounds) || p.target > p.ticks {
			t.Errorf("phase %s: %d rounds, %d ticks, %d at target; want at least %d rounds and %d ticks",
				name, p.rounds, p.ticks, p.target, rounds, AsyncMinTicks)
		}
		switch name {
		case "spin":
			// The loop ends at its last tick. More may land before it
			// sees the count and before the CLI after it: QEMU's PIT
			// catches up on ticks a loaded host missed by delivering
			// them back to back.
			if w := uint64(rounds) * AsyncSpinTicks; p.target < w || p.ticks < p.target {
				t.Errorf("spin phase: %d ticks, %d in its loop; want at least %d in the loop", p.ticks, p.target, w)
			}
		case "rep", "shadow", "nested":
			if p.target == 0 {
				t.Errorf("phase %s: none of %d ticks at its target", name, p.ticks)
			}
		}
		sum += p.ticks
		digest = (digest ^ p.hash) * fnvPrime
		digest = (digest ^ p.ticks) * fnvPrime
	}
	n := len(lines)
	if m := asyncTotalRE.FindStringSubmatch(lines[n-2]); m == nil || atou(m[1]) != sum || atou(m[2]) != uint64(rx) {
		t.Errorf("line %q, want total ticks %d (the phases' sum) rx %d", lines[n-2], sum, rx)
	} else {
		run.total, run.rx = atou(m[1]), atou(m[2])
	}
	if m := asyncDigestRE.FindStringSubmatch(lines[n-1]); m == nil || hextou(m[1]) != digest {
		t.Errorf("line %q, want digest %#016x (of the phase lines)", lines[n-1], digest)
	} else {
		run.digest = hextou(m[1])
	}
	if !r.has(MarkerDone) {
		t.Errorf("no line %q", MarkerDone)
	}
	return run
}

// TestQEMUModeAsync runs mode 5 on QEMU TCG, whose PIT runs in real time:
// twice alike and once at another timer rate, and once with serial input.
// Every phase completes with ticks inside it, and the digests all differ: they
// see where the interrupts landed.
func TestQEMUModeAsync(t *testing.T) {
	harness := buildHarness(t)
	run := func(rounds uint32, divisor uint16, input []byte) asyncRun {
		r := runQEMU(t, harness, fmt.Sprintf("mode=%d param=%d", ModeAsync, AsyncParam(rounds, divisor)), input)
		return checkAsync(t, r, rounds, divisor, len(input))
	}
	runs := []asyncRun{
		run(1, PITDivisor, nil),
		run(1, PITDivisor, nil),
		run(1, 2*PITDivisor, nil),
		run(AsyncDefaultRounds, PITDivisor, []byte("hi!\n")),
	}
	for i := range runs {
		for j := i + 1; j < len(runs); j++ {
			if runs[i].digest == runs[j].digest {
				t.Errorf("runs %d and %d print the same digest %#016x: it does not see where interrupts land", i, j, runs[i].digest)
			}
		}
	}
}

// TestQEMUModeAsyncDefault runs mode 5 with param 0: the default rounds and
// timer rate.
func TestQEMUModeAsyncDefault(t *testing.T) {
	r := runQEMU(t, buildHarness(t), fmt.Sprintf("mode=%d", ModeAsync), nil)
	checkAsync(t, r, AsyncDefaultRounds, PITDivisor, 0)
}

// TestQEMUModeAsyncDeterministic runs mode 5 under -icount (virtual time from
// the instruction count: the PIT, the TSC and the PIT counter reads become
// deterministic). Two runs alike print identical async lines; a run whose
// timer is 1/119 slower moves every tick to another instruction, so every
// phase prints another hash.
func TestQEMUModeAsyncDeterministic(t *testing.T) {
	harness := buildHarness(t)
	icount := func(divisor uint16) (qemuResult, asyncRun) {
		r := runQEMU(t, harness, fmt.Sprintf("mode=%d param=%d", ModeAsync, AsyncParam(1, divisor)), nil,
			"-icount", "shift=0,sleep=off", "-rtc", "clock=vm")
		return r, checkAsync(t, r, 1, divisor, 0)
	}
	ra, a := icount(119)
	rb, _ := icount(119)
	_, c := icount(120)
	if la, lb := strings.Join(ra.withPrefix("testguest: async "), "\n"), strings.Join(rb.withPrefix("testguest: async "), "\n"); la != lb {
		t.Errorf("two identical -icount runs differ:\n%s\n---\n%s", la, lb)
	}
	if len(a.phases) != len(AsyncPhases) || len(c.phases) != len(AsyncPhases) {
		t.Fatalf("phases missing")
	}
	for k := range a.phases {
		if a.phases[k].hash == c.phases[k].hash {
			t.Errorf("phase %s: hash %#016x at divisors 119 and 120: it does not see where ticks land", a.phases[k].name, a.phases[k].hash)
		}
	}
}

// TestQEMUModeAsyncBadParam: a divisor the PIT cannot count, or bits above
// the divisor, end mode 5 before it starts, with a line that says why.
func TestQEMUModeAsyncBadParam(t *testing.T) {
	harness := buildHarness(t)
	for _, param := range []uint64{AsyncParam(1, 1), 1 << 48} {
		r := runQEMU(t, harness, fmt.Sprintf("mode=%d param=%d", ModeAsync, param), nil)
		if l := r.withPrefix(MarkerAsyncBadParam); len(l) != 1 || !strings.HasPrefix(l[0], fmt.Sprintf("%s%016x: ", MarkerAsyncBadParam, param)) {
			t.Errorf("param %#x: lines %q, want one %q with the param", param, l, MarkerAsyncBadParam)
		}
		if r.status != exitStatus(ExitBadParam) || r.has(MarkerDone) {
			t.Errorf("param %#x: qemu status %d, want %d (ExitBadParam) and no done line", param, r.status, exitStatus(ExitBadParam))
		}
	}
}
