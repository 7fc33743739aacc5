package pmu

// DebugReg returns debug register DRi, i in 0-3 (MOV from DRi; CPL 0).
// A VM entry does not load DR0-DR3 and a VM exit does not save them
// (only DR7 is in the VMCS): the guest's breakpoint addresses are the
// processor's own registers, shared with the host.
func DebugReg(i int) uint64 {
	switch i {
	case 0:
		return readDR0()
	case 1:
		return readDR1()
	case 2:
		return readDR2()
	}
	return readDR3()
}

// SetDebugReg loads debug register DRi, i in 0-3 (MOV to DRi; CPL 0).
func SetDebugReg(i int, v uint64) {
	switch i {
	case 0:
		writeDR0(v)
	case 1:
		writeDR1(v)
	case 2:
		writeDR2(v)
	default:
		writeDR3(v)
	}
}

func readDR0() uint64
func readDR1() uint64
func readDR2() uint64
func readDR3() uint64
func writeDR0(v uint64)
func writeDR1(v uint64)
func writeDR2(v uint64)
func writeDR3(v uint64)

// DR6 reads the debug status register. Like DR0-DR3 it is the
// processor's own: a #DB VM exit leaves it unchanged (the exit
// qualification reports the conditions instead), so a hypervisor that
// reflects a #DB to its guest writes the guest's DR6 itself.
func DR6() uint64 { return readDR6() }

// SetDR6 loads the debug status register.
func SetDR6(v uint64) { writeDR6(v) }

func readDR6() uint64
func writeDR6(v uint64)
