// Command serialfeed is the other end of an emulator's serial port (Bochs
// "com1: mode=socket-client"): it listens on a loopback TCP port, writes
// everything the machine sends to a log file, and types the bytes of an
// input file into it, starting once a marker has appeared in the output.
// With -stdin it also passes what is typed on its standard input (a
// person at the terminal) to the machine. It exits when the machine
// closes the connection, or after -timeout.
//
//	serialfeed -log serial.log [-input FILE -after MARKER] [-delay 20ms] [-stdin] -portfile PORTFILE
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"hindsight/tools/emu/machineport"
)

func main() {
	logPath := flag.String("log", "serial.log", "file receiving the machine's output")
	input := flag.String("input", "", "file whose bytes are typed into the machine")
	after := flag.String("after", "", "start typing once this text appears in the output")
	delay := flag.Duration("delay", 20*time.Millisecond, "pause between typed bytes")
	portFile := flag.String("portfile", "", "write the listening port here")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	stdin := flag.Bool("stdin", false, "also pass standard input to the machine")
	flag.Parse()
	if err := run(*logPath, *input, *after, *delay, *portFile, *timeout, *stdin); err != nil {
		fmt.Fprintln(os.Stderr, "serialfeed:", err)
		os.Exit(1)
	}
}

func run(logPath, input, after string, delay time.Duration, portFile string, timeout time.Duration, stdin bool) error {
	var typed []byte
	if input != "" {
		var err error
		if typed, err = os.ReadFile(input); err != nil {
			return err
		}
	}
	conn, err := machineport.Accept(portFile, time.Now().Add(timeout))
	if err != nil {
		return err
	}
	defer conn.Close()
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()

	var mu sync.Mutex
	var seen []byte // output so far, to find the marker
	start := make(chan struct{})
	started := false
	go func() {
		<-start
		for _, b := range typed {
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(delay)
		}
	}()
	if len(typed) > 0 && after == "" {
		close(start)
		started = true
	}
	if stdin {
		// Line by line as the terminal hands it over; the machine's own
		// echo shows what arrived.
		go io.Copy(conn, os.Stdin)
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			log.Write(buf[:n])
			if !started && len(typed) > 0 {
				mu.Lock()
				seen = append(seen, buf[:n]...)
				if bytes.Contains(seen, []byte(after)) {
					close(start)
					started = true
					seen = nil
				}
				mu.Unlock()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
