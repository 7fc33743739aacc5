package boot

import (
	"testing"

	"hindsight/tools/imagetest"
)

// TestTrapPathsDoNotAllocate checks that nothing reachable from the trap,
// syscall and interrupt entry points calls an allocation or write-barrier
// routine: kernel code runs on a fake g with interrupts off, where either
// would corrupt the runtime.
func TestTrapPathsDoNotAllocate(t *testing.T) {
	elf := imagetest.Build(t, "..")
	imagetest.NoAlloc(t, elf,
		`^hindsight/boot\.(trap|syscallEntry|vectors|resume|nmiEntry|idleLoop|vdsoClockGettime)$`,
		`^hindsight/boot\.apMain$`)
}
