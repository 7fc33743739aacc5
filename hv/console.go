package hv

import (
	"bytes"
	"syscall"
	"unsafe"
)

// lineWriter collects a guest's serial output into lines and writes each to
// the host console prefixed with the VM's tag ("primary| ..."), one write
// per line so lines from different CPUs never interleave. It does not
// allocate: it runs in VM-exit context.
type lineWriter struct {
	buf   [256]byte
	n     int
	start int // length of the tag prefix in buf
	mute  bool
	bytes uint64
	hash  uint64 // FNV-1a of every byte: the replicas' outputs are compared by it
	mark  string // a text to watch for in the output (benchmarks)
	seen  bool   // a line with mark has been written

	// The first line that carried panicMarker (a Linux panic), as far as
	// it fits.
	panicked bool
	panicLen int
	panicBuf [160]byte
}

// panicMarker is what Linux prints when it panics (kernel/panic.c).
var panicMarker = []byte("Kernel panic - not syncing")

// panicText returns the line that carried panicMarker.
func (w *lineWriter) panicText() string { return string(w.panicBuf[:w.panicLen]) }

func (w *lineWriter) init(tag string) {
	w.start = copy(w.buf[:], tag)
	w.start += copy(w.buf[w.start:], "| ")
	w.n = w.start
	w.hash = fnvOffset
}

func (w *lineWriter) putByte(b byte) {
	w.bytes++
	w.hash = mix(w.hash, uint64(b))
	switch {
	case b == '\r':
		return
	case b == '\n':
		w.flush()
		return
	}
	w.buf[w.n] = b
	w.n++
	if w.n == len(w.buf)-1 {
		w.flush()
	}
}

func (w *lineWriter) flush() {
	if w.n == w.start {
		return
	}
	if !w.panicked && bytes.Contains(w.buf[w.start:w.n], panicMarker) {
		w.panicked = true
		w.panicLen = copy(w.panicBuf[:], w.buf[w.start:w.n])
	}
	if w.mark != "" && !w.seen && bytes.Contains(w.buf[w.start:w.n], unsafe.Slice(unsafe.StringData(w.mark), len(w.mark))) {
		w.seen = true
	}
	w.buf[w.n] = '\n'
	if !w.mute {
		consoleWrite(w.buf[:w.n+1])
	}
	w.n = w.start
}

// logLine formats one hypervisor log line in a fixed buffer, for VM-exit
// context (no allocation: what does not fit is cut).
type logLine struct {
	b [192]byte
	n int
}

func (l *logLine) str(s string) *logLine {
	l.n += copy(l.b[l.n:len(l.b)-1], s)
	return l
}

func (l *logLine) hex(x uint64) *logLine {
	var d [18]byte
	i := len(d)
	for {
		i--
		d[i] = "0123456789abcdef"[x&0xF]
		x >>= 4
		if x == 0 {
			break
		}
	}
	i--
	d[i] = 'x'
	i--
	d[i] = '0'
	l.n += copy(l.b[l.n:len(l.b)-1], d[i:])
	return l
}

func (l *logLine) dec(x uint64) *logLine {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + x%10)
		x /= 10
		if x == 0 {
			break
		}
	}
	l.n += copy(l.b[l.n:len(l.b)-1], d[i:])
	return l
}

// write ends the line and writes it to the host console in one system call.
func (l *logLine) write() {
	l.b[l.n] = '\n'
	consoleWrite(l.b[:l.n+1])
}

// consoleWrite writes b to the host console with a raw write system call:
// the ring-0 layer's console write never blocks, so the Go scheduler (which
// syscall.Write would enter) stays out of VM-exit context.
func consoleWrite(b []byte) {
	syscall.RawSyscall(syscall.SYS_WRITE, 1, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
}
