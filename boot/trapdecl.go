package boot

// Declarations of the routines in trap_amd64.s.

func idleLoop()
func syscallEntry()
func nmiEntry()
func vectors()
func resume()
func haltForever()

func addrIdleLoop() uintptr
func addrSyscallEntry() uintptr
func addrVectors() uintptr
func addrNMIEntry() uintptr
func addrRuntimeEntry() uintptr

func raiseNMI()
func parkStopped()

// stopAll is set before an NMI broadcast that parks every other CPU;
// each CPU the NMI parked adds one to stoppedCPUs.
var stopAll, stoppedCPUs uint32

// vecSyscall marks a frame saved by syscallEntry.
const vecSyscall = 256

// Declarations of the routines in entry_amd64.s.
func multibootEntry()
func mbGetPC()
func start64()
func apEntry64()
func addrAPEntry64() uintptr
func addrMultibootEntry() uintptr

// imageEntry is the loader's entry point. The kernel is reached only from
// the loader and from assembly; this initializer is the reference that keeps
// the linker from discarding it (and with it kmain, trap and the rest).
var imageEntry = addrMultibootEntry()

// bootScratch holds the boot page tables and GDT built by multibootEntry;
// bootStack is the stack kmain runs on.
var (
	bootScratch [8 * 4096]byte
	bootStack   [32 << 10]byte
)
