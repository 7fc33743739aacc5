package dev

import (
	"fmt"
	"reflect"
	"testing"
)

// plain checks that t holds only fixed-size integers, booleans, arrays and
// structs of them, with no padding anywhere: then its raw bytes are a
// complete, comparable state (PC.Digest) that holds no pointer (no write
// barrier can be needed to store it) and no byte the program never wrote.
func plain(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Bool, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return nil
	case reflect.Array:
		return plain(t.Elem())
	case reflect.Struct:
		var end uintptr
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Offset != end {
				return fmt.Errorf("%s: %d bytes of padding before %s", t, f.Offset-end, f.Name)
			}
			if err := plain(f.Type); err != nil {
				return fmt.Errorf("%s.%s: %v", t, f.Name, err)
			}
			end += f.Type.Size()
		}
		if end != t.Size() {
			return fmt.Errorf("%s: %d bytes of padding at the end", t, t.Size()-end)
		}
		return nil
	}
	return fmt.Errorf("%s is not a plain value", t)
}

func TestDeviceStateIsPlainBytes(t *testing.T) {
	for _, v := range []any{PIC{}, PIT{}, UART{}, RTC{}, pcLines{}, State{}} {
		if err := plain(reflect.TypeOf(v)); err != nil {
			t.Error(err)
		}
	}
	// The check itself catches what it must.
	type padded struct {
		a uint8
		b uint16
	}
	type pointer struct{ p *int }
	if plain(reflect.TypeOf(padded{})) == nil || plain(reflect.TypeOf(pointer{})) == nil {
		t.Fatal("plain accepted padding or a pointer")
	}
}

// A PC loaded from another's saved State goes on exactly as the other
// does: the snapshot of the devices is complete.
func TestSaveLoadGoesOnTheSame(t *testing.T) {
	var a, b PC
	a.Init(1_000_000_000)
	b.Init(2_000_000_000)
	drive := func(pc *PC, from uint64) {
		pc.Out(0x43, 1, 0x34) // PIT channel 0, rate generator
		pc.Out(0x40, 1, 0x10)
		pc.Out(0x40, 1, 0x00)
		pc.Out(0x21, 1, 0x00) // unmask everything
		pc.Out(0x3F9, 1, 0x01)
		pc.Receive('x')
		for t := from; t < from+50_000; t += 997 {
			pc.Advance(t)
			pc.In(0x40, 1)
		}
	}
	drive(&a, 0)
	if a.Digest(0) == b.Digest(0) {
		t.Fatal("two PCs with different histories have the same digest: the test shows nothing")
	}
	var s State
	a.Save(&s)
	b.Load(&s)
	if a.Digest(0) != b.Digest(0) {
		t.Fatal("the loaded PC's digest differs from the saved one's")
	}
	drive(&a, 50_000)
	drive(&b, 50_000)
	if a.Digest(0) != b.Digest(0) {
		t.Fatal("after the same calls the loaded PC differs from the original")
	}
}
