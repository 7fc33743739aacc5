package hv

import "syscall"

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
}

func (w *lineWriter) init(tag string) {
	w.start = copy(w.buf[:], tag)
	w.start += copy(w.buf[w.start:], "| ")
	w.n = w.start
	w.hash = fnvOffset
}

func (w *lineWriter) putByte(b byte) {
	w.bytes++
	w.hash = (w.hash ^ uint64(b)) * fnvPrime
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
	w.buf[w.n] = '\n'
	if !w.mute {
		syscall.Write(1, w.buf[:w.n+1])
	}
	w.n = w.start
}
