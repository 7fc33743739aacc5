// Command ifacetest is the test program of nocall's resolution of
// interface calls (TestInterfaceCalls). The roots call Device methods
// through the interface; which implementations exist depends on the build
// tags:
//
//	(none)  Quiet (value receiver; its itab holds (*Quiet).M wrappers) and
//	        Mirror (promotes the methods of an embedded Device)
//	alloc   adds Buffered, whose Out allocates
//	assert  adds Boxed, whose Out allocates and whose itab is only built at
//	        run time, by a type assertion
//
// Logger's one implementation allocates too, but no root calls Log.
package main

import "os"

type Device interface {
	In(port uint16) uint32
	Out(port uint16, v uint32)
}

type Logger interface{ Log(msg string) }

type Quiet struct{ regs [4]uint32 }

func (q Quiet) In(port uint16) uint32     { return q.regs[port&3] }
func (q Quiet) Out(port uint16, v uint32) {}

type Mirror struct{ Device }

type heapLogger struct{ lines []string }

func (h *heapLogger) Log(msg string) { h.lines = append(h.lines, msg) }

var (
	devices []Device
	logger  Logger = &heapLogger{}
)

// trapOut writes through the interface. The call spans two lines: the
// line table puts it on the method name's.
//
//go:noinline
func trapOut(i int, v uint32) {
	devices[i%len(devices)].
		Out(uint16(i), v)
}

// trapIn reads through a method value, whose wrapper Device.In-fm makes the
// interface call.
//
//go:noinline
func trapIn(i int) uint32 {
	in := devices[i%len(devices)].In
	return in(uint16(i))
}

func main() {
	devices = append(devices, Quiet{}, Mirror{Quiet{}})
	logger.Log("started")
	trapOut(len(os.Args), 1)
	println(trapIn(len(os.Args)))
}
