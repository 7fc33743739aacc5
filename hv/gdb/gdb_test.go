package gdb

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gdbRun is one gdb session against a fake machine.
type gdbRun struct {
	out      string        // gdb's output (stdout and stderr)
	serveErr error         // what Serve returned
	elapsed  time.Duration // gdb's run time
	trace    string        // the stub's packet trace
	bytesIn  int64         // bytes gdb sent
	bytesOut int64         // bytes the stub sent
}

// runGDB starts the stub on a TCP port of 127.0.0.1, runs gdb -batch with
// the commands after "target remote", and waits for both to finish.
func runGDB(t *testing.T, m *fakeMachine, commands ...string) gdbRun {
	t.Helper()
	return runGDBWith(t, m, gdbOptions{}, commands...)
}

type gdbOptions struct {
	before  []string          // commands before "target remote"
	started func(*os.Process) // called once gdb has started
}

// runGDBWith is runGDB with options.
func runGDBWith(t *testing.T, m *fakeMachine, opt gdbOptions, commands ...string) gdbRun {
	t.Helper()
	gdbPath, err := exec.LookPath("gdb")
	if err != nil {
		t.Skip("gdb is not installed (Debian: apt-get install gdb)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var trace bytes.Buffer // written by Serve's goroutine, read after it returned
	var in, out atomic.Int64
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		served <- Serve(&countingConn{Conn: conn, in: &in, out: &out}, m, Config{Trace: &trace})
	}()
	args := []string{"-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off"}
	for _, c := range opt.before {
		args = append(args, "-ex", c)
	}
	args = append(args, "-ex", "target remote "+ln.Addr().String())
	for _, c := range commands {
		args = append(args, "-ex", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gdbPath, args...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if opt.started != nil {
		opt.started(cmd.Process)
	}
	err = cmd.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("gdb timed out after %v; output:\n%s", elapsed, output.String())
	}
	if err != nil {
		t.Logf("gdb exited with %v", err)
	}
	var serveErr error
	select {
	case serveErr = <-served:
	case <-time.After(5 * time.Second):
		t.Fatalf("Serve did not return after gdb exited; output:\n%s", output.String())
	}
	t.Logf("gdb ran %v", elapsed)
	return gdbRun{out: output.String(), serveErr: serveErr, elapsed: elapsed, trace: trace.String(),
		bytesIn: in.Load(), bytesOut: out.Load()}
}

// countingConn counts the bytes each way.
type countingConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// packets counts the packets gdb sent in the trace.
func (r gdbRun) packets() int {
	return strings.Count(r.trace, "\n<- ") + btoi(strings.HasPrefix(r.trace, "<- "))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (r gdbRun) want(t *testing.T, substrings ...string) {
	t.Helper()
	for _, s := range substrings {
		if !strings.Contains(r.out, s) {
			t.Errorf("gdb output lacks %q; output:\n%s", s, r.out)
		}
	}
}

func hexAddr(a uint64) string { return fmt.Sprintf("%#x", a) }

func TestGDBRegistersAndMemory(t *testing.T) {
	m := newFakeMachine()
	m.regs.FSBase = 0x7f00_1234_5000
	m.regs.KernelGSBase = 0xFFFF_8880_0000_0000
	r := runGDB(t, m,
		"info registers rip",
		"x/4i $pc",
		"x/8xb "+hexAddr(fakeInput),
		"x/2gx "+hexAddr(fakeUnmapped),
		"p $cr0", "p $efer", "p/x $fs_base", "p/x $k_gs_base", "p $mxcsr", "p $eflags")
	r.want(t,
		"0xffffffff80000000 in ?? ()",
		"rip            0xffffffff80000000  0xffffffff80000000",
		"=> 0xffffffff80000000:\tmov    $0x1,%rax",
		"0xffffffff80000007:\tinc    %rax",
		"0xffffffff8000000a:\tmov    %rax,0xfffef(%rip)        # 0xffffffff80100000",
		"0xffffffff80000011:\tmov    0xffff0(%rip),%rcx        # 0xffffffff80100008",
		"0xffffffff80100008:\t0x88\t0x77\t0x66\t0x55\t0x44\t0x33\t0x22\t0x11",
		"Cannot access memory at address 0xffffffff80300000",
		"= [ PE ET PG ]", "= [ LME LMA NXE ]", "= 0x7f0012345000", "= 0xffff888000000000",
		"= [ IM DM ZM OM UM PM ]", "= [ ]",
		"[Inferior 1 (Remote target) detached]")
	if r.serveErr != nil {
		t.Errorf("Serve: %v", r.serveErr)
	}
}

func TestGDBBreakpointsAndStepping(t *testing.T) {
	m := newFakeMachine()
	r := runGDB(t, m,
		"break *"+hexAddr(fakeStore),
		"continue",
		"stepi",
		"info registers rip",
		"hbreak *"+hexAddr(fakeNop),
		"continue",
		"p $rax",
		"p/x $rcx",
		"delete",
		"stepi 3",
		"info registers rip")
	r.want(t,
		"Breakpoint 1 at 0xffffffff8000000a",
		"Breakpoint 1, 0xffffffff8000000a in ?? ()",
		"rip            0xffffffff80000011",
		"Hardware assisted breakpoint 2 at 0xffffffff80000018",
		"Breakpoint 2, 0xffffffff80000018 in ?? ()",
		"$1 = 2",
		"$2 = 0x1122334455667788",
		"rip            0xffffffff8000000a") // nop, jmp, inc: at the store again
	_, executed, _, detaches := m.state()
	if executed != 7 || detaches != 1 || m.leftAtDetach != 0 {
		t.Errorf("executed %d, detaches %d, breakpoints left %d; want 7, 1, 0", executed, detaches, m.leftAtDetach)
	}
}

func TestGDBWatchpoints(t *testing.T) {
	m := newFakeMachine()
	r := runGDB(t, m,
		"watch *(long*)"+hexAddr(fakeCounter),
		"continue",
		"continue",
		"delete",
		"rwatch *(long*)"+hexAddr(fakeInput),
		"continue",
		"delete",
		"awatch *(long*)"+hexAddr(fakeCounter),
		"continue",
		"delete",
		// Software watchpoint: gdb single-steps and compares.
		"set can-use-hw-watchpoints 0",
		"watch *(long*)"+hexAddr(fakeCounter),
		"continue")
	r.want(t,
		"Hardware watchpoint 1: *(long*)0xffffffff80100000",
		"Old value = 0\nNew value = 2",
		"Old value = 2\nNew value = 3",
		"Hardware read watchpoint 2: *(long*)0xffffffff80100008",
		"Value = 1234605616436508552",
		"Hardware access (read/write) watchpoint 3: *(long*)0xffffffff80100000",
		"Old value = 3\nNew value = 4",
		"Watchpoint 4: *(long*)0xffffffff80100000",
		"Old value = 4\nNew value = 5")
}

func TestGDBWritesRefused(t *testing.T) {
	m := newFakeMachine()
	r := runGDB(t, m,
		"set var $rax=1",
		"set {long}"+hexAddr(fakeInput)+" = 5",
		"monitor why",
		"x/gx "+hexAddr(fakeInput))
	r.want(t,
		`Could not write register "rax"; remote failure reply 'E.writing register rax refused: the backup is replaying its log; a write would make it diverge from the primary'`,
		"Cannot access memory at address 0xffffffff80100008",
		"writing 8 bytes of memory at 0xffffffff80100008 refused: the backup is replaying its log",
		"0xffffffff80100008:\t0x1122334455667788")
	if regs, _, _, _ := m.state(); regs.RAX != 0 {
		t.Errorf("rax = %#x", regs.RAX)
	}
}

func TestGDBWritesWhenLive(t *testing.T) {
	m := newFakeMachine()
	m.live = true
	r := runGDB(t, m,
		"set var $rax=0x1234",
		"set {long}"+hexAddr(fakeInput)+" = 5",
		"p/x $rax",
		"x/gx "+hexAddr(fakeInput))
	r.want(t, "$1 = 0x1234", "0xffffffff80100008:\t0x0000000000000005")
	if regs, _, _, _ := m.state(); regs.RAX != 0x1234 {
		t.Errorf("rax = %#x", regs.RAX)
	}
}

func TestGDBMonitor(t *testing.T) {
	m := newFakeMachine()
	r := runGDB(t, m, "monitor help", "stepi", "monitor info", "monitor bogus")
	r.want(t,
		"help     this list\ninfo     instructions executed and where the log ends\nwhy      explain",
		"executed 1 instructions; the log ends at",
		`monitor bogus: unknown command "bogus" (try monitor help)`)
}

func TestGDBReverse(t *testing.T) {
	m := newFakeMachine()
	m.reverse = true
	m.logEnd = 20
	r := runGDB(t, m,
		"stepi", "stepi", "stepi",
		"reverse-stepi",
		"info registers rip",
		"reverse-continue",
		"info registers rip",
		"break *"+hexAddr(fakeLoad),
		"continue", "continue",
		"reverse-continue",
		"info registers rax",
		"delete",
		"continue",
		"info registers rip")
	r.want(t,
		"rip            0xffffffff8000000a",
		"\nNo more reverse-execution history.\n0xffffffff80000000 in ?? ()",
		"Breakpoint 1, 0xffffffff80000011 in ?? ()",
		// Back at the first pass over the load, then forward to the end of the log.
		"rax            0x2 ",
		"\nNo more reverse-execution history.\n0xffffffff80000019 in ?? ()")
}

func TestGDBReplicaEnded(t *testing.T) {
	m := newFakeMachine()
	m.endAt = 4
	r := runGDB(t, m, "continue", "info registers rip")
	r.want(t, "the guest triple-faulted\n", "Program received signal SIGABRT, Aborted.", "rip            0xffffffff80000018")
}

func TestGDBKillDetaches(t *testing.T) {
	m := newFakeMachine()
	r := runGDB(t, m, "break *"+hexAddr(fakeStore), "continue", "kill")
	r.want(t, "[Inferior 1 (Remote target) killed]")
	if _, _, _, detaches := m.state(); detaches != 1 || m.leftAtDetach != 0 {
		t.Errorf("%d detaches, %d breakpoints left", detaches, m.leftAtDetach)
	}
	if r.serveErr != nil {
		t.Errorf("Serve: %v", r.serveErr)
	}
}

func TestGDBDetach(t *testing.T) {
	m := newFakeMachine()
	r := runGDB(t, m, "hbreak *"+hexAddr(fakeStore), "detach", "info registers rip")
	r.want(t, "[Inferior 1 (Remote target) detached]", "The program has no registers now.")
	if _, _, _, detaches := m.state(); detaches != 1 || m.leftAtDetach != 0 {
		t.Errorf("%d detaches, %d breakpoints left", detaches, m.leftAtDetach)
	}
}

// With acknowledgements kept on (as over a serial line, where gdb may
// be told not to trust the link), every packet is acked both ways.
func TestGDBAckMode(t *testing.T) {
	m := newFakeMachine()
	r := runGDBWith(t, m, gdbOptions{before: []string{"set remote noack-packet off"}},
		"break *"+hexAddr(fakeLoad), "continue", "stepi", "monitor help", "x/2i $pc")
	r.want(t, "Breakpoint 1, 0xffffffff80000011 in ?? ()", "0xffffffff80000018 in ?? ()", "why      explain",
		"=> 0xffffffff80000018:\tnop")
	if strings.Contains(r.trace, "<- QStartNoAckMode") {
		t.Error("gdb asked for no-ack mode")
	}
	if r.serveErr != nil {
		t.Errorf("Serve: %v", r.serveErr)
	}
}

// Ctrl-C: gdb turns SIGINT into 0x03 while the target runs.
func TestGDBInterrupt(t *testing.T) {
	m := newFakeMachine()
	m.resumeStarted = make(chan struct{}, 1)
	r := runGDBWith(t, m, gdbOptions{started: func(p *os.Process) {
		go func() {
			<-m.resumeStarted
			time.Sleep(50 * time.Millisecond)
			p.Signal(os.Interrupt)
		}()
	}}, "continue", "monitor info")
	r.want(t, "Program received signal SIGINT, Interrupt.")
	if _, executed, _, _ := m.state(); executed == 0 {
		t.Error("the target did not run")
	}
}

// TestGDBCosts measures what a session costs: connecting (gdb's start
// to its prompt after "target remote") and one stepi, in packets and
// bytes, and what that means on a 115200-baud serial line (11520 bytes/s).
// The packet bound guards the expedited registers in stop replies, which
// spare gdb a g packet (1216 hex digits) per step.
func TestGDBCosts(t *testing.T) {
	gdbPath, err := exec.LookPath("gdb")
	if err != nil {
		t.Skip("gdb is not installed (Debian: apt-get install gdb)")
	}
	start := time.Now()
	if out, err := exec.Command(gdbPath, "-batch", "-nx", "-ex", "echo").CombinedOutput(); err != nil {
		t.Fatalf("gdb alone: %v: %s", err, out)
	}
	alone := time.Since(start)

	connect := runGDB(t, newFakeMachine())
	// Two runs that differ only in the number of steps: their difference
	// is the cost of the steps alone, without gdb's first-resume queries.
	stepping := func(n int) gdbRun {
		var cmds []string
		for range n {
			cmds = append(cmds, "stepi")
		}
		return runGDB(t, newFakeMachine(), cmds...)
	}
	const few, many = 10, 210
	a, b := stepping(few), stepping(many)

	connectBytes := connect.bytesIn + connect.bytesOut
	perStep := float64(b.packets()-a.packets()) / (many - few)
	perStepBytes := float64(b.bytesIn+b.bytesOut-a.bytesIn-a.bytesOut) / (many - few)
	perStepTime := (b.elapsed - a.elapsed) / (many - few)
	const serialBytesPerSecond = 115200 / 10
	t.Logf("gdb alone %v; connect and detach %v (%d packets, %d bytes: %.2f s at 115200 baud)",
		alone.Round(time.Millisecond), connect.elapsed.Round(time.Millisecond), connect.packets(), connectBytes,
		float64(connectBytes)/serialBytesPerSecond)
	t.Logf("stepi: %.2f packets, %.0f bytes (%.0f ms at 115200 baud), %v over TCP",
		perStep, perStepBytes, 1000*perStepBytes/serialBytesPerSecond, perStepTime.Round(10*time.Microsecond))
	if perStep > 7 {
		t.Errorf("%.2f packets per stepi, want at most 7 (vCont, memory reads, thread list)", perStep)
	}
}
