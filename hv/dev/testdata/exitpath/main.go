// Command exitpath links the hv/dev calls the hypervisor makes in VM-exit
// context, for TestExitPathNoAllocNoWriteBarrier to disassemble (a test
// binary carries no symbol table).
package main

import "hindsight/hv/dev"

func main() {
	pc := new(dev.PC)
	pc.Init(0)
	var b [16]byte
	var sum uint64
	for now := uint64(0); now < 10; now++ {
		if pc.Timed(dev.PortPIT0) {
			pc.Advance(now)
		}
		v, _ := pc.In(dev.PortPIT0, 1)
		pc.Out(dev.PortPITCtrl, 1, 0x34)
		pc.Receive('x')
		if pc.CanReceive() {
			sum++
		}
		sum += uint64(pc.TakeOutput(b[:]))
		if a, ok := pc.TakeUnclaimed(); ok {
			sum += uint64(a.Port)
		}
		sum += pc.NextEvent() + pc.Digest(sum) + uint64(v)
		if vec, ok := pc.PIC.PendingVector(); ok {
			sum += uint64(vec) + uint64(pc.PIC.Acknowledge())
		}
		pc.PIC.RaiseIRQ(3)
		pc.PIC.LowerIRQ(3)
		pc.PIC.PulseIRQ(3)
	}
	println(sum)
}
