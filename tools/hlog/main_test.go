package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"hindsight/hv/capture"
	"hindsight/hv/replay"
)

// writeCapture writes a capture of a 64-bit guest with 1 MiB of RAM:
// page tables at 0x1000-0x3fff identity-map the first 2 MiB with one
// large page, and the code page at 0x5000 holds
//
//	0x5000  mov eax, 1        b8 01 00 00 00
//	0x5005  out dx, al        ee
//	0x5006  hlt               f4
//
// Its records sit at those RIPs, and one at 0x40000000, which no entry
// maps.
func writeCapture(t *testing.T) (string, []replay.Record) {
	t.Helper()
	pages := map[uint64]*[capture.PageSize]byte{}
	page := func(pfn uint64) *[capture.PageSize]byte {
		if pages[pfn] == nil {
			pages[pfn] = new([capture.PageSize]byte)
		}
		return pages[pfn]
	}
	le := binary.LittleEndian
	le.PutUint64(page(1)[0:], 0x2000|3)   // PML4[0] -> PDPT
	le.PutUint64(page(2)[0:], 0x3000|3)   // PDPT[0] -> PD
	le.PutUint64(page(3)[0:], 0x0|1<<7|3) // PD[0]: 2 MiB page at 0
	copy(page(5)[:], []byte{0xb8, 1, 0, 0, 0, 0xee, 0xf4})
	recs := []replay.Record{
		{Kind: replay.KindRDTSC, Seq: 10, RIP: 0x5000, Value: 0x1234},
		{Kind: replay.KindPosition, Seq: 11, Count: 50, RIP: 0x5005, Value: 3, Value2: 0xabc},
		{Kind: replay.KindClock, Seq: 11, Count: 50, RIP: 0x5005, Value: 777, Value2: replay.VectorCode(0x20), Value3: replay.VectorCode(0x20)},
		{Kind: replay.KindSerialIn, Seq: 12, RIP: 0x5006, Value: 'x', Value2: replay.NoVector, Value3: replay.NoVector},
		{Kind: replay.KindDigest, Seq: 13, RIP: 0x40000000, Value: 1, Value2: 2, Value3: 3},
		{Kind: replay.KindEnd, Seq: 14, RIP: 0x5006, Value: 5, Value2: uint64(replay.EndExitPort)},
	}
	h := &capture.Header{
		GuestRAM: 1 << 20, Records: uint64(len(recs)), FirstRecord: 100, Clock: capture.ClockSlice,
		CPUID: []capture.CPUIDLeaf{{Leaf: 1, EAX: 0x706e5}, {Leaf: 0x80000008, EAX: 0x3027}},
		Snap:  replay.Landmark{Seq: 9, RIP: 0x5000},
		CR0:   0x80000011, CR3: 0x1000, CR4: 0x20, EFER: 0xd00,
		FailCause: replay.EndExitPort, FailStatus: 5, FailAt: replay.Landmark{Seq: 14, RIP: 0x5006},
		FailText: "exit status 5", KernelName: "testguest.elf", BuildID: "test",
	}
	var out bytes.Buffer
	w := capture.NewWriter(&out, h)
	must(t, w.State([]byte("state")))
	must(t, w.BeginMemory())
	for pfn := uint64(0); pfn < 256; pfn++ {
		p := pages[pfn]
		if p == nil {
			p = new([capture.PageSize]byte)
		}
		must(t, w.Page(pfn, p))
	}
	must(t, w.EndMemory())
	for i := range recs {
		must(t, w.Record(&recs[i]))
	}
	must(t, w.Close())
	name := filepath.Join(t.TempDir(), "crash.cap")
	must(t, os.WriteFile(name, out.Bytes(), 0o644))
	return name, recs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hlog(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatalf("hlog %v: %v", args, err)
	}
	return out.String()
}

func contains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
}

func TestSummary(t *testing.T) {
	name, _ := writeCapture(t)
	out := hlog(t, name)
	contains(t, out,
		"hindsight capture, format version 2",
		"guest:     testguest.elf, 1 MiB of RAM",
		"slice clock",
		"snapshot:  at #9 rip=0x5000",
		"             4-level paging: CR0=0x80000011",
		"failure:   exit port with status 5 at #14 rip=0x5006",
		`"exit status 5"`,
		"MEMORY 4 non-zero pages of 256",
		"LOG    6 records (384 bytes), ",
		"bytes compressed (ratio ",
		"log ordinals 100 to 105",
		"records:   6: RDTSC 1, CLOCK 1, SERIALIN 1, DIGEST 1, END 1, POSITION 1",
	)
}

func TestTimeline(t *testing.T) {
	name, recs := writeCapture(t)
	out := hlog(t, "-timeline", name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("%d lines for %d records:\n%s", len(lines), len(recs), out)
	}
	contains(t, lines[0], "100", "#10 ", "RDTSC", "rip=0x5000", "TSC 0x1234 returned to the guest")
	contains(t, lines[1], "101", "#11+50", "POSITION", "asynchronous stop, rcx=0x3")
	contains(t, lines[2], "CLOCK", "devices advanced to time 777", "interrupt requested vector 0x20, delivered vector 0x20")
	contains(t, lines[3], "SERIALIN", `COM1 received byte 0x78 'x'`)
	contains(t, lines[5], "105", "END", "the guest ended: exit port, exit status 5 (a failure)")
}

func TestDisas(t *testing.T) {
	name, _ := writeCapture(t)
	out := hlog(t, "-disas", name)
	contains(t, out,
		"4-level paging, CR3=0x1000), decoded as 64-bit code",
		"| mov eax, 0x1",
		"| out dx, al",
		"| hlt",
		"| rip 0x40000000 does not translate:",
	)
	if strings.Count(out, "| hlt") != 2 {
		t.Errorf("want hlt twice:\n%s", out)
	}
}

func TestStats(t *testing.T) {
	name, _ := writeCapture(t)
	out := hlog(t, "-stats", name)
	contains(t, out,
		"6 records",
		"RDTSC            1   16.7%",
		"landmarks: 5 with records (4 synchronous exits, 1 asynchronous stops), 1.20 records per landmark",
		"#10 to #14: 4 exits",
		"interrupts delivered: vector 0x20 1",
		"0x5006                    2   33.3%",
	)
}

func TestBareLogAndErrors(t *testing.T) {
	_, recs := writeCapture(t)
	var log []byte
	for i := range recs {
		var b [replay.RecordSize]byte
		recs[i].Encode(b[:])
		log = append(log, b[:]...)
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "primary.log")
	must(t, os.WriteFile(name, log, 0o644))
	contains(t, hlog(t, name), "a log of 6 records (384 bytes)", "6: RDTSC 1")
	contains(t, hlog(t, "-timeline", name), "       0  #10 ", "SERIALIN")
	if err := run([]string{"-disas", name}, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "a log, not a capture") {
		t.Errorf("-disas of a log: %v", err)
	}
	// A corrupt capture: the reader's message, with the file's name.
	capName, _ := writeCapture(t)
	b, _ := os.ReadFile(capName)
	b[len(b)-100] ^= 1
	must(t, os.WriteFile(capName, b, 0o644))
	err := run([]string{capName}, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "crash.cap: capture: LOG section") {
		t.Errorf("corrupt: %v", err)
	}
}

// bre turns a grep basic regular expression of debug-bochs.sh (no
// metacharacters but . * [ ] ^ and \{n\}) into a Go one.
func bre(p string) *regexp.Regexp {
	p = strings.NewReplacer("(", `\(`, ")", `\)`, `\{`, "{", `\}`, "}", "+", `\+`, "?", `\?`, "|", `\|`).Replace(p)
	return regexp.MustCompile(p)
}

// TestCapmangle spoils a capture with guest/dbgtest/capmangle.py as
// debug-bochs.sh's capture scenario does, and checks hlog's refusals
// against that scenario's patterns.
func TestCapmangle(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	script := filepath.Join("..", "..", "guest", "dbgtest", "capmangle.py")
	name, _ := writeCapture(t)
	dir := filepath.Dir(name)
	mangle := func(args ...string) string {
		out, err := exec.Command(py, append([]string{script}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("capmangle.py %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	t.Log(mangle("check", name))
	for _, c := range []struct {
		args []string
		out  string // hlog's refusal, a debug-bochs.sh pattern
	}{
		{[]string{"truncate"}, "capture: truncated in the .*"}, // in the header here: the capture is small
		{[]string{"flip", "log"}, "capture: LOG section at offset [0-9]*: chunk [0-9]* CRC mismatch (stored 0x[0-9a-f]\\{8\\}, computed 0x[0-9a-f]\\{8\\})"},
		{[]string{"flip", "mem"}, "capture: MEMORY section at offset [0-9]*: chunk [0-9]* CRC mismatch (stored 0x[0-9a-f]\\{8\\}, computed 0x[0-9a-f]\\{8\\})"},
	} {
		spoilt := filepath.Join(dir, strings.Join(c.args, "-")+".cap")
		t.Log(mangle(append([]string{c.args[0], name, spoilt}, c.args[1:]...)...))
		err := run([]string{spoilt}, new(bytes.Buffer))
		if err == nil {
			t.Errorf("%v: hlog read it", c.args)
			continue
		}
		line := "hlog: " + err.Error()
		t.Log(line)
		if re := bre("^hlog: " + spoilt + ": " + c.out + "$"); !re.MatchString(line) {
			t.Errorf("%v: %q does not match %q", c.args, line, re)
		}
	}
}
