// Command gdbrelay joins debuggers to an emulator's serial port. Bochs
// 2.7's "mode=socket-server" blocks the whole emulator in accept() until a
// client connects (iodev/serial.cc), and a second debugger could never
// connect after the first one left; so Bochs connects out instead
// ("com2: mode=socket-client") to the port gdbrelay writes to -portfile,
// and debuggers connect to -port, one at a time, whenever they like
// (gdb's "target remote localhost:PORT"). Bytes from the machine while no
// debugger is connected are dropped: the hypervisor's gdb stub starts each
// session afresh. gdbrelay exits when the machine closes its end, or after
// -timeout.
//
//	gdbrelay -port 1234 -portfile FILE [-timeout 10m]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"hindsight/tools/emu/machineport"
)

func main() {
	port := flag.Int("port", 1234, "port debuggers connect to (loopback)")
	portFile := flag.String("portfile", "", "write the port the machine connects to here")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(*port, *portFile, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "gdbrelay:", err)
		os.Exit(1)
	}
}

// relay is the machine's connection and the debugger's, if one is there.
type relay struct {
	machine net.Conn
	mu      sync.Mutex
	dbg     net.Conn
}

func run(port int, portFile string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	dln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("debuggers' port: %w", err)
	}
	defer dln.Close()
	mln, err := machineport.Listen(portFile, deadline)
	if err != nil {
		return err
	}
	defer mln.Close()
	m, err := mln.Accept()
	if err != nil {
		return fmt.Errorf("the machine did not connect: %w", err)
	}
	r := &relay{machine: m}
	go func() {
		time.Sleep(time.Until(deadline))
		m.Close()
		dln.Close()
	}()
	machineGone := make(chan struct{})
	go func() {
		r.fromMachine()
		close(machineGone)
		dln.Close()
	}()
	for {
		c, err := dln.Accept()
		if err != nil {
			select {
			case <-machineGone:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		r.mu.Lock()
		r.dbg = c
		r.mu.Unlock()
		io.Copy(m, c) // until the debugger leaves
		r.mu.Lock()
		r.dbg = nil
		r.mu.Unlock()
		c.Close()
	}
}

// fromMachine forwards what the machine sends to the debugger, if any.
func (r *relay) fromMachine() {
	buf := make([]byte, 4096)
	for {
		n, err := r.machine.Read(buf)
		if n > 0 {
			r.mu.Lock()
			if r.dbg != nil {
				r.dbg.Write(buf[:n])
			}
			r.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}
