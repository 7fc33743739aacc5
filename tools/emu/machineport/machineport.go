// Package machineport is the host end of an emulated serial line: Bochs
// connects a COM port to it as a TCP client (run-bochs.sh's
// "mode=socket-client"), so the host side listens first, on a loopback
// port the script learns from a file.
package machineport

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Listen listens on a free loopback port, writes its number to portFile
// (unless empty) for the script that starts the emulator, and makes
// Accept give up at deadline.
func Listen(portFile string, deadline time.Time) (*net.TCPListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tl := ln.(*net.TCPListener)
	if portFile != "" {
		if err := os.WriteFile(portFile, []byte(strconv.Itoa(tl.Addr().(*net.TCPAddr).Port)), 0o644); err != nil {
			ln.Close()
			return nil, err
		}
	}
	tl.SetDeadline(deadline)
	return tl, nil
}

// Accept waits for the emulator's one connection (Listen's port, written
// to portFile) until deadline, which then also bounds the connection.
func Accept(portFile string, deadline time.Time) (net.Conn, error) {
	ln, err := Listen(portFile, deadline)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	conn, err := ln.Accept()
	if err != nil {
		return nil, fmt.Errorf("no connection on port %d: %w", ln.Addr().(*net.TCPAddr).Port, err)
	}
	conn.SetDeadline(deadline)
	return conn, nil
}
