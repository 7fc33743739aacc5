package dev

import (
	"testing"

	"hindsight/tools/imagetest"
)

// TestExitPathNoAllocNoWriteBarrier checks in machine code that nothing
// reachable from the calls the hypervisor makes in VM-exit context
// allocates or runs a write barrier (testdata/exitpath links them). The
// devices' In and Out are roots of their own: the Bus reaches them through
// an interface.
func TestExitPathNoAllocNoWriteBarrier(t *testing.T) {
	elf := imagetest.Build(t, "./testdata/exitpath")
	imagetest.NoAlloc(t, elf,
		`^hindsight/hv/dev\.\(\*PC\)\.(In|Out|Advance|NextEvent|Timed|Receive|CanReceive|TakeOutput|TakeUnclaimed|Digest)$`,
		`^hindsight/hv/dev\.\(\*(PIC|PIT|UART|RTC)\)\.(In|Out)$`,
		`^hindsight/hv/dev\.Absent\.(In|Out)$`,
		`^hindsight/hv/dev\.\(\*PIC\)\.(PendingVector|Acknowledge|RaiseIRQ|LowerIRQ|PulseIRQ)$`,
	)
}
