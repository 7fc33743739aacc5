package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// freePort returns a loopback port nothing listens on (now).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The machine connects once; debuggers come and go, each talking to it
// while connected; what the machine sends between them is dropped; the
// relay ends when the machine does.
func TestRelay(t *testing.T) {
	dport := freePort(t)
	pf := filepath.Join(t.TempDir(), "port")
	done := make(chan error, 1)
	go func() { done <- run(dport, pf, time.Minute) }()
	var mport []byte
	for i := 0; i < 100 && len(mport) == 0; i++ {
		time.Sleep(10 * time.Millisecond)
		mport, _ = os.ReadFile(pf)
	}
	m, err := net.Dial("tcp", "127.0.0.1:"+string(mport))
	if err != nil {
		t.Fatalf("machine: %v", err)
	}
	mr := bufio.NewReader(m)
	for round, word := range []string{"first", "second"} {
		d, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(dport))
		if err != nil {
			t.Fatalf("debugger %d: %v", round, err)
		}
		d.Write([]byte(word + "\n"))
		m.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := mr.ReadString('\n'); err != nil || got != word+"\n" {
			t.Fatalf("machine got %q %v", got, err)
		}
		time.Sleep(50 * time.Millisecond) // the relay has taken the debugger
		m.Write([]byte("reply " + word + "\n"))
		d.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := bufio.NewReader(d).ReadString('\n'); err != nil || got != "reply "+word+"\n" {
			t.Fatalf("debugger got %q %v", got, err)
		}
		d.Close()
		time.Sleep(50 * time.Millisecond)
		m.Write([]byte("to nobody\n")) // dropped: no debugger is there
		time.Sleep(50 * time.Millisecond)
	}
	m.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not end with the machine")
	}
}
