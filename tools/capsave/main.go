// Command capsave is the host end of hindsight's capture line (the image's
// capture=com3; in Bochs "com3: mode=socket-client"): it listens on a
// loopback TCP port, written to -portfile, and reads what the machine
// sends. A capture begins at the capture magic (hv/capture); anything
// before one is ignored. The first capture is saved to FILE, the next to
// FILE.2, FILE.3, ... ("monitor capture" can send several). Each is
// received into NAME.partial, checked with hv/capture's reader as it
// arrives, and renamed to NAME once complete and sound; capsave prints
// one line per capture:
//
//	capsave: FILE: N bytes, P pages, R records, failure: CAUSE at LANDMARK: TEXT
//
// or, for a corrupt or truncated one, the reader's error, leaving the
// bytes received in NAME.partial for inspection. capsave exits when the
// machine closes the connection, or after -timeout: status 0 if every
// capture arrived whole (or none came), 1 otherwise.
//
//	capsave [-portfile PORTFILE] [-timeout 10m] FILE
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"hindsight/hv/capture"
	"hindsight/hv/replay"
	"hindsight/tools/emu/machineport"
)

func main() {
	portFile := flag.String("portfile", "", "write the listening port here")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: capsave [-portfile PORTFILE] [-timeout 10m] FILE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *portFile, *timeout, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "capsave:", err)
		os.Exit(1)
	}
}

func run(file, portFile string, timeout time.Duration, out io.Writer) error {
	conn, err := machineport.Accept(portFile, time.Now().Add(timeout))
	if err != nil {
		return err
	}
	defer conn.Close()
	return receive(conn, file, out)
}

// receive saves every capture in the stream r (see the command's
// documentation). The error says how many captures were bad.
func receive(r io.Reader, file string, out io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	n, bad := 0, 0
	for {
		found, err := skipToMagic(br)
		if !found {
			if n == 0 {
				fmt.Fprintln(out, "capsave: no capture received")
			}
			switch {
			case err != nil && err != io.EOF:
				return fmt.Errorf("reading: %w", err)
			case bad > 0:
				return fmt.Errorf("%d of %d captures corrupt or truncated", bad, n)
			}
			return nil
		}
		n++
		name := file
		if n > 1 {
			name = file + "." + strconv.Itoa(n)
		}
		if err := save(br, name, out); err != nil {
			bad++
			fmt.Fprintf(out, "capsave: %s: %v\n", name, err)
		}
	}
}

// skipToMagic reads up to and including the next capture magic. The
// magic's first byte occurs in it once, so a mismatch restarts the match
// at that byte.
func skipToMagic(br *bufio.Reader) (bool, error) {
	m := 0
	for m < len(capture.Magic) {
		c, err := br.ReadByte()
		if err != nil {
			return false, err
		}
		switch {
		case c == capture.Magic[m]:
			m++
		case c == capture.Magic[0]:
			m = 1
		default:
			m = 0
		}
	}
	return true, nil
}

// save receives one capture, whose magic has just been read, into
// name.partial, and renames it to name if it is sound.
func save(br *bufio.Reader, name string, out io.Writer) error {
	partial := name + ".partial"
	f, err := os.Create(partial)
	if err != nil {
		return err
	}
	fw := bufio.NewWriter(f)
	cr := &countingReader{r: io.TeeReader(io.MultiReader(strings.NewReader(capture.Magic), br), fw)}
	c, rerr := capture.ReadNext(cr, nil)
	if err := fw.Flush(); err != nil && rerr == nil {
		rerr = err
	}
	if err := f.Close(); err != nil && rerr == nil {
		rerr = err
	}
	if rerr != nil {
		return fmt.Errorf("%v (the %d bytes received are in %s)", rerr, cr.n, partial)
	}
	if err := os.Rename(partial, name); err != nil {
		return err
	}
	h := c.Header
	fmt.Fprintf(out, "capsave: %s: %d bytes, %d pages, %d records, failure: %s\n", name, cr.n, c.Stats.Pages, c.Stats.Records, failure(h))
	return nil
}

func failure(h *capture.Header) string {
	s := h.FailCause.String()
	if h.FailCause == replay.EndExitPort {
		s += " status " + strconv.FormatUint(uint64(h.FailStatus), 10)
	}
	s += " at " + h.FailAt.String()
	if h.FailText != "" {
		s += ": " + h.FailText
	}
	return s
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
