package hv

import "encoding/binary"

// The exit-cost benchmark guest: benchExits CPUID exits, benchExits OUTs
// to port 0x80, benchExits RDTSCs (an input: a record each on a primary),
// then exit status 0. Hand-assembled (offsets left):
var exitBenchImage = [...]byte{
	0x49, 0xC7, 0xC0, 0, 0, 0, 0, // 00 mov r8, N (patched)
	0x31, 0xC0, // 07 loop1: xor eax, eax
	0x0F, 0xA2, // 09 cpuid
	0x49, 0xFF, 0xC8, // 0B dec r8
	0x75, 0xF7, // 0E jnz loop1
	0x49, 0xC7, 0xC0, 0, 0, 0, 0, // 10 mov r8, N (patched)
	0xE6, 0x80, // 17 loop2: out 0x80, al
	0x49, 0xFF, 0xC8, // 19 dec r8
	0x75, 0xF9, // 1C jnz loop2
	0x49, 0xC7, 0xC0, 0, 0, 0, 0, // 1E mov r8, N (patched)
	0x0F, 0x31, // 25 loop3: rdtsc
	0x49, 0xFF, 0xC8, // 27 dec r8
	0x75, 0xF9, // 2A jnz loop3
	0xBA, 0x01, 0x05, 0x00, 0x00, // 2C mov edx, 0x501
	0x31, 0xC0, // 31 xor eax, eax
	0xEF,       // 33 out dx, eax: exit status 0
	0xF4,       // 34 hlt
	0xEB, 0xFD, // 35 jmp hlt
}

const (
	benchExits      = 10000
	benchCPUIDGuest = 4 // guest instructions per CPUID round trip: xor, cpuid, dec, jnz
	benchOUTGuest   = 3 // out, dec, jnz
	benchRDTSCGuest = 3 // rdtsc, dec, jnz
)

// ExitBenchImage returns the benchmark guest.
func ExitBenchImage() []byte {
	img := exitBenchImage
	for _, at := range []int{3, 0x13, 0x21} {
		binary.LittleEndian.PutUint32(img[at:], benchExits)
	}
	return img[:]
}

// exitClock times consecutive exits of one kind by the host TSC. In Bochs
// the TSC advances once per instruction, guest and host alike, and the VM
// transitions themselves cost none, so (last-first)/(n-1) minus the guest's
// loop is the hypervisor's instructions per exit round trip.
type exitClock struct {
	n           uint64
	first, last uint64
}

func (c *exitClock) tick(tsc uint64) {
	if c.n == 0 {
		c.first = tsc
	}
	c.last = tsc
	c.n++
}

// perExit returns the TSC ticks per round trip less guestInstr.
func (c *exitClock) perExit(guestInstr uint64) uint64 {
	if c.n < 2 {
		return 0
	}
	return (c.last-c.first)/(c.n-1) - guestInstr
}

// ExitCosts are the hypervisor's TSC ticks (Bochs: instructions) per exit
// round trip of each kind ExitBenchImage makes.
type ExitCosts struct{ CPUID, OUT, RDTSC uint64 }

// ExitCost returns what was measured while the VM ran ExitBenchImage
// (with Config.TimeExits).
func (v *VM) ExitCost() ExitCosts {
	return ExitCosts{v.cpuidClock.perExit(benchCPUIDGuest), v.outClock.perExit(benchOUTGuest), v.rdtscClock.perExit(benchRDTSCGuest)}
}
