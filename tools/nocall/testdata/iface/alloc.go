//go:build alloc

package main

type Buffered struct{ buf []byte }

func (b *Buffered) In(port uint16) uint32 { return uint32(len(b.buf)) }

func (b *Buffered) Out(port uint16, v uint32) {
	b.buf = append(b.buf, byte(v)) // @alloc
}

func init() { devices = append(devices, &Buffered{}) }
