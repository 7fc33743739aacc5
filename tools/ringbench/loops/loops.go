// Package loops holds the timed loops of the ring benchmarks (tools/ringbench
// on the host, tools/ringbench/inimage inside the hypervisor image). Each
// takes everything as arguments so that it compiles to a tight loop.
package loops

import "hindsight/ringbuf"

// TryWriteN writes rec n times with TryWrite; false if the ring filled up.
func TryWriteN(r *ringbuf.Ring, rec []byte, n int) bool {
	for range n {
		if !r.TryWrite(rec) {
			return false
		}
	}
	return true
}

// TryReadN reads n records with TryRead; false if the ring ran empty.
func TryReadN(r *ringbuf.Ring, rec []byte, n int) bool {
	for range n {
		if !r.TryRead(rec) {
			return false
		}
	}
	return true
}

// PutN puts v n times through the typed view (publish with Flush).
func PutN[T any](t ringbuf.Typed[T], v *T, n int) bool {
	for range n {
		if !t.Put(v) {
			return false
		}
	}
	return true
}

// GetN gets n records through the typed view (release with Ack).
func GetN[T any](t ringbuf.Typed[T], v *T, n int) bool {
	for range n {
		if !t.Get(v) {
			return false
		}
	}
	return true
}
