// Package hv is the hypervisor: VMs, their vCPU loops, exit handling and
// the devices guests see.
//
// The VM-exit path, by imports: a vCPU loop (VM.Run) enters the guest with
// vmx.Enter; at the exit it reads the basic exit reason from the VMCS and
// dispatches to one handler per reason (exit.go); port I/O goes to the PC
// device models of hv/dev. The handlers run in VM-exit context: they do not
// allocate and do not store pointers into heap objects, so a loop can run
// while the garbage collector works (checked by TestExitPathDoesNotAllocate).
//
// A vCPU is an explicit state machine:
//
//	Created -> Running <-> Halted
//	Running -> Stopped   the guest ended (exit port, triple fault, an exit
//	                     the hypervisor does not handle, EPT violation)
//	Running -> Failed    VM entry failed (invalid controls, host or guest
//	                     state): a hypervisor bug or an invalid guest setup
//
// A VM that stops or fails is reported with its guest state; the other VMs
// keep running.
package hv
