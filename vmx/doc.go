// Package vmx is the host-testable core of hindsight's VT-x support: the
// architectural tables and pure decoding/checking logic that the machine layer
// (VMXON, VMPTRLD, VMREAD/VMWRITE, VMLAUNCH in assembly) builds on.
//
// Apart from insn.go/insn_amd64.s (the VMX instructions themselves) and the
// thin adapter in current.go, nothing here executes a VMX instruction, and all
// of it is tested on the host. The machine layer plugs in through two seams:
//
//   - DecodeCaps takes a func(msr uint32) uint64; the machine layer passes RDMSR,
//     tests pass a map (see the Bochs values in caps_test.go).
//   - The VMCS interface (Read/Write of a Field): CurrentVMCS implements it with
//     VMREAD/VMWRITE on the current VMCS, SoftVMCS in memory for tests and
//     simulated vCPUs. ReadGuestState, ReadHostState and ReadControls gather
//     whole areas through it; GuestState.Write etc. store them.
//
// Layout, one concept per file:
//
//	caps.go         capability MSRs (IA32_FEATURE_CONTROL, IA32_VMX_*), Caps, DecodeCaps
//	controls.go     VM-execution, VM-exit and VM-entry control bits, their SDM names, Adjust
//	fields.go       every VMCS field encoding of SDM Vol. 3D Appendix B, type Field
//	exitreason.go   basic exit reasons (Appendix C) and the exit-reason field's flag bits
//	qualification.go exit-qualification and interruption/IDT-vectoring decoders
//	errors.go       VM-instruction error numbers, VMfailInvalid
//	inject.go       VM-entry event injection (interruption-information encoding)
//	state.go        GuestState, HostState, Controls: whole VMCS areas as Go structs
//	vmcs.go         the VMCS access seam and SoftVMCS
//	current.go      CurrentVMCS and StatusError over insn.go's VMREAD/VMWRITE
//	insn.go, insn_amd64.s  the VMX instructions and Enter (machine layer)
//	check.go        Failure, Failures and helpers shared by the checks
//	controlcheck.go VM-entry checks on the VMX controls      (SDM Vol. 3C §27.2.1)
//	hostcheck.go    VM-entry checks on the host-state area   (SDM Vol. 3C §27.2.2-27.2.4)
//	guestcheck.go   VM-entry checks on the guest-state area  (SDM Vol. 3C §27.3.1)
//	dump.go         one-screen pretty printers for the above
//
// Section numbers follow the current Intel SDM (Vol. 3C chapter 25 "Virtual
// Machine Control Structures", 27 "VM Entries", 28 "VM Exits", 31 "VMX
// Instruction Reference"). Editions before 2023 number these chapters one lower
// (24, 26, 27, 30): §27.3.1.2 here is §26.3.1.2 there. Appendix letters (A
// capability MSRs, B field encodings, C exit reasons, in Vol. 3D) are unchanged.
//
// Hot-path rule: everything a VM-exit handler calls (Field methods, ExitReason
// methods, the Decode* functions, the Inject* constructors) returns small values
// and does not allocate; only String, Dump and the Check* diagnostics allocate,
// and they are meant for printing.
package vmx
