package dev

// Device is an emulated device on the I/O port bus. size is the access width
// in bytes (1, 2 or 4). Devices registered with Bus.Register are 8-bit ISA
// devices and only ever see size 1; In returns the byte in bits 7:0. In and
// Out run in VM-exit context: they must not allocate.
type Device interface {
	In(port uint16, size int) uint32
	Out(port uint16, size int, v uint32)
}

// Policy says what the Bus does with an access to a port no device claims.
type Policy uint8

const (
	// Ignore: reads return all ones, writes are dropped, and the first
	// access to each distinct port is queued for TakeUnclaimed (once per
	// port for the Bus's lifetime).
	Ignore Policy = iota
	// Fault: the access is refused; the caller injects #GP(0) into the
	// guest instead of completing the instruction.
	Fault
	// Silent: like Ignore, but never queued.
	Silent
)

func (p Policy) String() string {
	switch p {
	case Ignore:
		return "ignore+report once"
	case Fault:
		return "#GP"
	case Silent:
		return "ignore"
	}
	return "policy?"
}

// UnclaimedAccess reports the first access to an unclaimed port under the
// Ignore policy: the port, whether it was a write, the size of the whole
// access (an access wider than a byte reports each unclaimed byte's port)
// and the value written (0 for reads).
type UnclaimedAccess struct {
	Port  uint16
	Write bool
	Size  uint8
	Value uint32
}

// Table sizes of the Bus (fixed: no allocation, no map). MaxDevices must be
// a power of two no larger than 255 (Bus.route holds 1 + a device index in a
// byte). UnclaimedQueueSize must be a power of two no larger than 256.
const (
	MaxDevices         = 32
	MaxPolicies        = 16
	UnclaimedQueueSize = 16
)

var _ = [1]struct{}{}[MaxDevices&(MaxDevices-1)]                 // MaxDevices is a power of two
var _ = [1]struct{}{}[MaxDevices/256]                            // and fits Bus.route
var _ = [1]struct{}{}[UnclaimedQueueSize&(UnclaimedQueueSize-1)] // UnclaimedQueueSize is a power of two
var _ = [1]struct{}{}[UnclaimedQueueSize/257]                    // and at most 256

type claim struct {
	dev    Device
	mask   uint32 // of a byte access's value: 0xFF, or all ones if wide
	lo, hi uint16 // inclusive
	wide   bool   // device takes 2- and 4-byte accesses whole
	absent bool   // dev is Absent: byte accesses need no call
}

// in and out perform a byte access to the claim's device (the Bus's fast
// path). An 8-bit device sees the low byte; a wide one the value as given.
func (c *claim) in(port uint16) uint32 {
	if c.absent {
		return 0xFF // what Absent.In returns
	}
	return c.dev.In(port, 1) & c.mask
}

func (c *claim) out(port uint16, v uint32) {
	if !c.absent {
		c.dev.Out(port, 1, v&c.mask)
	}
}

type policyRange struct {
	lo, hi uint16 // inclusive
	p      Policy
}

// Bus dispatches guest port I/O to devices: a 64K-entry table maps each port
// straight to the device claiming it, so a byte access to a claimed port is
// one table load and one call. An access wider than a byte to an 8-bit device is split,
// as the ISA bus does, into byte accesses to consecutive ports, each
// dispatched on its own and reassembled little-endian. Unclaimed ports follow
// the Policy of the last SetPolicy range covering them, else the default
// (Ignore).
//
// The zero Bus is ready to use (default policy Ignore).
type Bus struct {
	def      Policy
	devs     [MaxDevices]claim
	ndevs    int
	policies [MaxPolicies]policyRange
	npol     int
	logged   [65536 / 64]uint64 // ports already reported

	// Reports for TakeUnclaimed: a ring, oldest at unqHead; reports that
	// find it full are counted in unqDropped.
	unq        [UnclaimedQueueSize]UnclaimedAccess
	unqHead    uint8
	unqLen     uint16
	unqDropped uint64

	// route maps a port to 1 + the index in devs of the claim covering
	// it, or 0 if no device claims it (so the zero Bus routes nothing).
	route [65536]uint8
}

// Register claims ports lo..hi (inclusive) for an 8-bit device. It panics if
// the table is full or the range overlaps a claimed one (a setup bug).
func (b *Bus) Register(lo, hi uint16, d Device) { b.register(lo, hi, d, false) }

// RegisterWide is Register for a device that handles 2- and 4-byte accesses
// itself: it gets the whole access when the access's first port is in
// lo..hi (bytes of a wider access that start elsewhere reach it one by one).
func (b *Bus) RegisterWide(lo, hi uint16, d Device) { b.register(lo, hi, d, true) }

func (b *Bus) register(lo, hi uint16, d Device, wide bool) {
	if lo > hi || d == nil {
		panic("dev: bad port range")
	}
	if b.ndevs == len(b.devs) {
		panic("dev: bus device table full")
	}
	for _, c := range b.devs[:b.ndevs] {
		if lo <= c.hi && c.lo <= hi {
			panic("dev: port range already claimed")
		}
	}
	mask := uint32(0xFF)
	if wide {
		mask = 0xFFFFFFFF
	}
	absent := false
	switch d.(type) {
	case Absent, *Absent:
		absent = true
	}
	b.devs[b.ndevs] = claim{lo: lo, hi: hi, wide: wide, mask: mask, absent: absent, dev: d}
	b.ndevs++
	for p := int(lo); p <= int(hi); p++ {
		b.route[p] = uint8(b.ndevs)
	}
}

// SetDefault sets the policy for unclaimed ports outside every SetPolicy
// range.
func (b *Bus) SetDefault(p Policy) { b.def = p }

// SetPolicy sets the policy for unclaimed ports lo..hi; later calls take
// precedence where ranges overlap. It panics if the table is full.
func (b *Bus) SetPolicy(lo, hi uint16, p Policy) {
	if b.npol == len(b.policies) {
		panic("dev: bus policy table full")
	}
	b.policies[b.npol] = policyRange{lo, hi, p}
	b.npol++
}

// PolicyFor returns the policy that applies to port if no device claims it.
func (b *Bus) PolicyFor(port uint16) Policy {
	for i := b.npol - 1; i >= 0; i-- {
		if r := &b.policies[i]; r.lo <= port && port <= r.hi {
			return r.p
		}
	}
	return b.def
}

// Device returns the device claiming port, or nil.
func (b *Bus) Device(port uint16) Device {
	if c := b.find(port); c != nil {
		return c.dev
	}
	return nil
}

func (b *Bus) find(port uint16) *claim {
	if i := b.route[port]; i != 0 {
		return &b.devs[(i-1)%MaxDevices]
	}
	return nil
}

// byteClaim returns the claim that takes an access of size bytes to port in
// one piece if it is a byte access to a claimed port, else nil: the fast
// path, a table load. Every other access goes through inSlow or outSlow.
func (b *Bus) byteClaim(port uint16, size int) *claim {
	if i := b.route[port]; i != 0 && size == 1 {
		return &b.devs[(i-1)%MaxDevices] // MaxDevices is a power of two: no bounds check
	}
	return nil
}

// faults reports whether any byte of the access falls on an unclaimed port
// whose policy is Fault. Such an access is refused as a whole.
func (b *Bus) faults(port uint16, size int) bool {
	for i := 0; i < size; i++ {
		p := port + uint16(i)
		if b.find(p) == nil && b.PolicyFor(p) == Fault {
			return true
		}
	}
	return false
}

func validSize(size int) bool { return size == 1 || size == 2 || size == 4 }

// In performs a guest IN of size bytes (1, 2 or 4) from port. If fault is
// true nothing was done and the caller injects #GP(0).
func (b *Bus) In(port uint16, size int) (v uint32, fault bool) {
	if c := b.byteClaim(port, size); c != nil {
		return c.in(port), false
	}
	return b.inSlow(port, size)
}

func (b *Bus) inSlow(port uint16, size int) (v uint32, fault bool) {
	if !validSize(size) {
		return 0, true
	}
	if c := b.find(port); c != nil && c.wide {
		return c.dev.In(port, size), false
	}
	if b.faults(port, size) {
		return 0, true
	}
	for i := 0; i < size; i++ {
		p := port + uint16(i)
		x := uint32(0xFF)
		if c := b.find(p); c != nil {
			x = c.dev.In(p, 1) & 0xFF
		} else {
			b.unclaimed(p, false, size, 0)
		}
		v |= x << (8 * i)
	}
	return v, false
}

// Out performs a guest OUT of the low size bytes of v to port. If fault is
// true nothing was done and the caller injects #GP(0).
func (b *Bus) Out(port uint16, size int, v uint32) (fault bool) {
	if c := b.byteClaim(port, size); c != nil {
		c.out(port, v)
		return false
	}
	return b.outSlow(port, size, v)
}

func (b *Bus) outSlow(port uint16, size int, v uint32) (fault bool) {
	if !validSize(size) {
		return true
	}
	if c := b.find(port); c != nil && c.wide {
		c.dev.Out(port, size, v)
		return false
	}
	if b.faults(port, size) {
		return true
	}
	for i := 0; i < size; i++ {
		p := port + uint16(i)
		if c := b.find(p); c != nil {
			c.dev.Out(p, 1, v>>(8*i)&0xFF)
		} else {
			b.unclaimed(p, true, size, v)
		}
	}
	return false
}

func (b *Bus) unclaimed(port uint16, write bool, size int, v uint32) {
	if b.PolicyFor(port) != Ignore {
		return
	}
	w, bit := port/64, uint64(1)<<(port%64)
	if b.logged[w]&bit != 0 {
		return
	}
	b.logged[w] |= bit
	if b.unqLen == UnclaimedQueueSize {
		b.unqDropped++
		return
	}
	b.unq[(int(b.unqHead)+int(b.unqLen))%UnclaimedQueueSize] = UnclaimedAccess{Port: port, Write: write, Size: uint8(size), Value: v}
	b.unqLen++
}

// TakeUnclaimed returns the oldest queued report of a first access to an
// unclaimed port under the Ignore policy, or ok false if there is none.
func (b *Bus) TakeUnclaimed() (a UnclaimedAccess, ok bool) {
	if b.unqLen == 0 {
		return a, false
	}
	a = b.unq[b.unqHead%UnclaimedQueueSize]
	b.unqHead = uint8((int(b.unqHead) + 1) % UnclaimedQueueSize)
	b.unqLen--
	return a, true
}

// HasUnclaimed reports whether TakeUnclaimed has a report: one load, for
// the exit path to ask on every port I/O exit.
func (b *Bus) HasUnclaimed() bool { return b.unqLen != 0 }

// UnclaimedDropped returns how many reports were lost because the queue was
// full (TakeUnclaimed not called often enough).
func (b *Bus) UnclaimedDropped() uint64 { return b.unqDropped }
