package machineport

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListenWritesItsPort(t *testing.T) {
	f := filepath.Join(t.TempDir(), "port")
	ln, err := Listen(f, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+string(b))
	if err != nil {
		t.Fatalf("the port in the file (%q) does not answer: %v", b, err)
	}
	c.Close()
	if _, err := ln.Accept(); err != nil {
		t.Fatal(err)
	}
}

func TestListenGivesUpAtTheDeadline(t *testing.T) {
	ln, err := Listen("", time.Now().Add(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := ln.Accept(); err == nil {
		t.Fatal("Accept returned a connection nobody made")
	}
}

func TestAcceptSaysWhichPortNobodyCalled(t *testing.T) {
	_, err := Accept("", time.Now().Add(50*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "no connection on port") {
		t.Fatalf("Accept with nobody calling: %v", err)
	}
}
