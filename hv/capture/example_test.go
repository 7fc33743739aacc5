package capture_test

import (
	"bytes"
	"fmt"

	"hindsight/hv"
	"hindsight/hv/capture"
	"hindsight/hv/replay"
)

// The header's clock numbers are hv's.
func ExampleClockName() {
	for _, k := range []hv.ClockKind{hv.ClockExit, hv.ClockSlice, hv.ClockBranch} {
		fmt.Println(capture.ClockName(uint8(k)) == k.String())
	}
	// Output:
	// true
	// true
	// true
}

// Writing a capture and restoring it into guest RAM.
func Example() {
	var line bytes.Buffer // the serial line
	h := &capture.Header{GuestRAM: 1 << 20, Records: 1, FailCause: replay.EndPanic}
	w := capture.NewWriter(&line, h)
	w.State([]byte("registers, VMCS, devices"))
	w.BeginMemory()
	var page [capture.PageSize]byte
	for pfn := uint64(0); pfn < 256; pfn++ {
		page[0] = byte(pfn % 2) // every other page is zero: left out
		w.Page(pfn, &page)
	}
	w.EndMemory()
	w.Record(&replay.Record{Kind: replay.KindEnd, Seq: 9, Value2: uint64(replay.EndPanic)})
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}

	ram := make([]byte, 1<<20)
	c, err := capture.Read(bytes.NewReader(line.Bytes()), func(pfn uint64, p *[capture.PageSize]byte) error {
		copy(ram[pfn*capture.PageSize:], p[:])
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d pages, state %q, %v\n", c.Stats.Pages, c.State, c.Record(0))
	// Output: 128 pages, state "registers, VMCS, devices", #9 rip=0x0 END cause=kernel panic status=0
}
