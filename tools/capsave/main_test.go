package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hindsight/hv/capture"
	"hindsight/hv/replay"
)

// makeCapture writes a small capture with pages pages and one END record.
func makeCapture(t *testing.T, pages int, text string) []byte {
	t.Helper()
	h := &capture.Header{
		GuestRAM: 1 << 20, Records: 1,
		FailCause: replay.EndTripleFault, FailAt: replay.Landmark{Seq: 42, RIP: 0x1000}, FailText: text,
	}
	var out bytes.Buffer
	w := capture.NewWriter(&out, h)
	must(t, w.State([]byte("state")))
	must(t, w.BeginMemory())
	for pfn := range pages {
		var p [capture.PageSize]byte
		for i := range p {
			p[i] = byte(i*pfn + i>>5)
		}
		must(t, w.Page(uint64(pfn), &p))
	}
	must(t, w.EndMemory())
	must(t, w.Record(&replay.Record{Kind: replay.KindEnd, Seq: 42, RIP: 0x1000, Value2: uint64(replay.EndTripleFault)}))
	must(t, w.Close())
	return out.Bytes()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func fileIs(t *testing.T, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil {
		t.Error(err)
	} else if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes, want %d", name, len(got), len(want))
	}
}

func absent(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat(name); err == nil {
		t.Errorf("%s exists", name)
	}
}

// TestStream: console noise, a capture, noise, a second capture, a
// corrupt one, then a truncated one.
func TestStream(t *testing.T) {
	a, b := makeCapture(t, 20, "first"), makeCapture(t, 3, "second")
	bad := bytes.Clone(makeCapture(t, 5, "third"))
	bad[capture.HeaderSize+20] ^= 4 // in the STATE payload
	cut := makeCapture(t, 7, "fourth")
	var s []byte
	s = append(s, "boot: hello\r\n\x89HS almost a magic\r\n"...)
	s = append(s, a...)
	s = append(s, "\x89\x89more noise"...)
	s = append(s, b...)
	s = append(s, bad...)
	s = append(s, cut[:len(cut)-30]...)
	file := filepath.Join(t.TempDir(), "crash.cap")
	var out bytes.Buffer
	err := receive(bytes.NewReader(s), file, &out)
	if err == nil || err.Error() != "2 of 4 captures corrupt or truncated" {
		t.Errorf("receive: %v", err)
	}
	fileIs(t, file, a)
	fileIs(t, file+".2", b)
	fileIs(t, file+".4.partial", cut[:len(cut)-30])
	absent(t, file+".partial")
	absent(t, file+".3")
	absent(t, file+".4")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"capsave: " + file + ": " + itoa(len(a)) + " bytes, 20 pages, 1 records, failure: triple fault at #42 rip=0x1000: first",
		"capsave: " + file + ".2: " + itoa(len(b)) + " bytes, 3 pages, 1 records, failure: triple fault at #42 rip=0x1000: second",
		"capsave: " + file + ".3: capture: STATE section at offset 1040: CRC mismatch",
		"capsave: " + file + ".4: capture: truncated in the END section",
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: %q\nwant %q...", i, lines[i], want[i])
		}
	}
	if !strings.HasSuffix(lines[3], "(the "+itoa(len(cut)-30)+" bytes received are in "+file+".4.partial)") {
		t.Errorf("line 3: %q", lines[3])
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestNothing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "crash.cap")
	var out bytes.Buffer
	if err := receive(strings.NewReader("boot: exit status 0\r\n"), file, &out); err != nil {
		t.Error(err)
	}
	if out.String() != "capsave: no capture received\n" {
		t.Errorf("%q", out.String())
	}
	absent(t, file)
}

// TestTCP is the machine's side as Bochs does it: connect to the port in
// the port file, send, close.
func TestTCP(t *testing.T) {
	dir := t.TempDir()
	file, portFile := filepath.Join(dir, "crash.cap"), filepath.Join(dir, "port")
	a := makeCapture(t, 50, "over tcp")
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(file, portFile, 20*time.Second, &out) }()
	var port []byte
	for range 100 {
		if port, _ = os.ReadFile(portFile); len(port) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := net.Dial("tcp", "localhost:"+string(port))
	must(t, err)
	// In pieces, as a serial line delivers it.
	s := append([]byte("hv: writing the capture\r\n"), a...)
	for len(s) > 0 {
		k := min(len(s), 1000)
		if _, err := conn.Write(s[:k]); err != nil {
			t.Fatal(err)
		}
		s = s[k:]
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fileIs(t, file, a)
	if !strings.Contains(out.String(), "crash.cap: "+itoa(len(a))+" bytes, 50 pages, 1 records, failure: triple fault at #42 rip=0x1000: over tcp") {
		t.Errorf("%q", out.String())
	}
	if _, err := capture.Verify(bytes.NewReader(a)); err != nil {
		t.Error(err)
	}
}

func TestTimeout(t *testing.T) {
	dir := t.TempDir()
	err := run(filepath.Join(dir, "x"), filepath.Join(dir, "port"), 100*time.Millisecond, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no connection on port") {
		t.Errorf("%v", err)
	}
}
