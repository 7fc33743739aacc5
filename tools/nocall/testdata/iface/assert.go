//go:build assert

package main

// Boxed is only ever converted to any; the Device itab for it is built by
// the type assertion in init.
type Boxed struct{ n, m uint32 }

var last *[2]uint32

func (b Boxed) In(port uint16) uint32 { return b.n }

func (b Boxed) Out(port uint16, v uint32) {
	last = &[2]uint32{b.m, v} // @assert
}

var boxed any = Boxed{1, 2}

func init() {
	if d, ok := boxed.(Device); ok {
		devices = append(devices, d)
	}
}
