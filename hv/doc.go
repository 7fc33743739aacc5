// Package hv is the hypervisor: VMs, their vCPU loops, exit handling,
// the inputs they take from the outside world or from a log, and the
// primary/backup pair.
//
// # The VM-exit path
//
// A vCPU loop (VM.Run, vm.go) arms the VMX-preemption timer (the clock,
// clock.go), enters the guest with vmx.Enter, and hands the exit to
// handleExit (exit.go), one handler per reason. A handler that needs what
// the guest cannot compute itself (an RDTSC value, the device time before
// a timer port access, what woke a HLT) asks the VM's Inputs (inputs.go),
// chosen once when the VM is made:
//
//	live      (inputs.go)    a VM alone: the host's time and console
//	recorder  (recorder.go)  the primary: the same, each input also written to the log (hv/replay)
//	replayer  (replayer.go)  the backup: each input read from the log, at the same landmark
//
// After every landmark (a synchronous exit, or an asynchronous one where
// the clock is exact) the Inputs apply what is due there, then the same
// injection logic runs on every VM (inject.go) and the Inputs learn its
// outcome (the recorder logs it, the replayer checks it). The device
// models (hv/dev) are deterministic, so a VM's inputs are only the TSC
// values it reads, the device time and the bytes typed on its console.
// Digests of the whole state (digest.go) are compared at landmarks the
// primary picks.
//
// Exit handlers run in VM-exit context: they do not allocate and do not
// store pointers into heap objects, so a loop can run while the garbage
// collector works (TestExitPathDoesNotAllocate checks the linked image,
// following the calls through Inputs and the device interfaces).
//
// # A vCPU's states
//
//	Created -> Running -> Stopped   the guest ended (exit port, triple fault,
//	                                HLT that nothing can wake, an exit the
//	                                hypervisor does not handle), the host
//	                                stopped it, or (backup) the log says
//	                                it left the primary's path
//	Running -> Failed               VM entry failed (invalid controls, host
//	                                or guest state): a hypervisor bug or an
//	                                invalid guest setup
//	Running <-> Paused              (backup) its debugger stopped it at a
//	                                boundary between exits (debug.go)
//
// A VM that ends is reported with its landmark and guest state (report.go);
// the other VMs keep running. A primary's end always reaches its backup
// through the log (Inputs.finish), and a backup that stops lets its
// primary go on alone: no state of one replica can hang the other.
//
// # Debugging the backup
//
// A backup carries a debugger (debug.go): gdb's remote protocol on a
// serial line (debug_target.go, package hv/gdb) and a monitor on the
// hypervisor's console (monitor.go) stop it at a boundary between exits,
// read it on its own thread, step it (invisibly to the guest: tfstep.go,
// package hv/step) and let it replay on. When the primary fails
// (failure.go) the backup, still up to the lag before the failure, stops
// for a debugger or replays to just before the failure and compares its
// registers with the primary's final ones.
//
// # Going back
//
// A backup also takes snapshots of itself (snapshot.go: its state, and
// RAM by the pages written since the last, from EPT dirty flags) and keeps
// the log records they need (replay.History). From them gdb runs it
// backwards (debug_reverse.go: a reverse step or continue is a restore
// and a replay forward to the point wanted), it writes capture files
// (capturefile.go, format in hv/capture: its oldest snapshot and the log
// from there), and a capture replays offline on one CPU (offline.go).
//
// # The pair
//
// Pair (pair.go) owns what joins a primary and its backup: the split of
// guest memory, the clock both run (proven by a self-test on both CPUs,
// clock_probe.go), the log and the lag, one time base, their lifecycle,
// and the verdict, which is the image's exit status.
package hv
