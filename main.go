// Command hindsight is the hypervisor image: a Go program that boots on bare
// metal through package boot, probes VT-x, and runs guests on the cores.
//
// Command-line options (multiboot command line) are listed in README.md.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hindsight/boot"
	"hindsight/boot/selftest"
	"hindsight/guest/image"
	"hindsight/guest/testguest"
	"hindsight/hv"
	"hindsight/vmx"
)

func main() {
	mainTSC := boot.TSC()
	opts := map[string]string{}
	for _, a := range strings.Fields(boot.CmdLine()) {
		k, v, _ := strings.Cut(a, "=")
		opts[k] = v
	}
	switch {
	case opts["selftest"] != "":
		selftest.Fail(opts["selftest"])
	case hasOpt(opts, "selftest"):
		os.Exit(selftest.Run(os.Stdout))
	case opts["bench"] == "ring": // ring measurement CPU0 -> CPU1 (make bench-ring-image)
		if ringBench == nil {
			fmt.Println("hv: this image was built without the ring benchmark: make bench-ring-image builds one with it (-tags ringbench)")
			os.Exit(1)
		}
		if err := ringBench(os.Stdout, opts["platform"]); err != nil {
			fmt.Println(err)
		}
		return
	case opts["bench"] != "":
		selftest.Bench(os.Stdout, mainTSC, opts["bench"])
		return
	}
	os.Exit(run(opts))
}

// ringBench is the in-image ring benchmark, linked in only with the
// ringbench build tag (main_ringbench.go): the product image does not
// carry it.
var ringBench func(w io.Writer, platform string) error

func hasOpt(opts map[string]string, k string) bool {
	_, ok := opts[k]
	return ok
}

// run prints the banner and runs the test guest: by default as a primary
// with a lagging backup (pair.go); "vmtest=" picks one of the VMX test
// scenarios, which run two independent instances instead. It returns the
// image's exit status: for the pair, the verdict.
func run(opts map[string]string) int {
	fmt.Printf("hv: hindsight: %d CPU(s) online (from %s)\n", boot.NumCPU(), boot.CPUSource())
	m, err := hv.NewMachine()
	if err != nil {
		printErr(err)
		fmt.Println("hv: no guests can run on this machine; stopping")
		return 0
	}
	fmt.Printf("hv: VT-x: %s\n", m.Features())
	mem := boot.GuestMemory()
	if hasOpt(opts, "replay") {
		return runOffline(m, opts)
	}
	if boot.NumCPU() < 2 {
		fmt.Println("hv: one CPU: hindsight needs two (primary and backup)")
		return 1
	}
	switch opts["vmtest"] {
	case "", "replay":
		return runPair(m, opts)
	case "replaybench":
		return runReplayBench(m, opts)
	}
	if mem.Size/2 < testguest.MinRAM {
		fmt.Printf("hv: guest memory is %d MiB; two test guests need %d MiB: boot with guestmem=%dM\n",
			mem.Size>>20, 2*testguest.MinRAM>>20, 2*testguest.MinRAM>>20)
		return 1
	}
	half := mem.Size / 2 &^ (2<<20 - 1)
	ram0, ram1 := boot.GuestRegion{Base: mem.Base, Size: half}, boot.GuestRegion{Base: mem.Base + half, Size: half}
	test := func(mode, arg uint64) image.Spec {
		return image.Spec{Name: "test guest", Format: image.Flat64, Kernel: testguest.Image, Args: [2]uint64{mode, arg}}
	}
	cfgs := []hv.Config{
		{Name: "vm0", CPU: 0, RAM: ram0, Guest: test(testguest.ModeBringUp, 0)},
		{Name: "vm1", CPU: 1, RAM: ram1, Guest: test(testguest.ModeBringUp, 0)},
	}
	switch opts["vmtest"] {
	case "bringup":
	case "triplefault": // the VM on CPU1 triple-faults; the one on CPU0 must finish
		cfgs[1].Guest = test(testguest.ModeTripleFault, 0)
	case "halt": // the VM on CPU1 ends with CLI; HLT
		cfgs[1].Guest = test(testguest.ModeHalt, 0)
	case "badguest": // invalid guest state on CPU1: CS with L=1 and D=1
		cfgs[1].Corrupt = func(g *vmx.GuestState) { g.CS.AR |= vmx.ARDB }
	case "policy": // unmodelled port and MSR on CPU1; CPU0 runs the bring-up guest
		cfgs[1].Guest = test(testguest.ModePolicy, 0)
	case "hostexit": // the host ends on CPU0 while CPU1 runs a guest: the NMI that stops CPU1 arrives in the guest
		cfgs[1].Guest = test(testguest.ModeSpin, 0)
	case "nmi": // NMIs sent to CPU1 while its guest runs: each is the host's, and the guest goes on
		cfgs[1].Guest = test(testguest.ModeBringUp, 3_000_000) // ten times the default: long enough for CPU0 to send many (make vmtest-bochs: NMISUM)
		var done atomic.Bool
		defer done.Store(true)
		go func() {
			// A busy loop on CPU0 (shared with vm0): NMIs every 5 ms of
			// TSC, however the threads on CPU0 are scheduled.
			boot.Pin(0)
			period := boot.ReadStats().TSCHz / 200 // 5 ms
			for next := boot.TSC(); !done.Load(); {
				if boot.TSC() >= next {
					boot.SendNMI(1)
					next += period
				}
			}
		}()
	case "exitbench": // exit round-trip cost, on CPU0 alone; clock=slice with the slice clock's aligned entries
		clock := hv.ClockExit
		if opts["clock"] == "slice" {
			if p := m.ProbeClock(0, ram0); p.Slices != nil {
				printErr(fmt.Errorf("clock=slice: %w", p.Slices))
				return 1
			}
			clock = hv.ClockSlice
		}
		spec := image.Spec{Name: "exit benchmark", Format: image.Flat64, Kernel: hv.ExitBenchImage()}
		if hasOpt(opts, "record") {
			return runRecordedExitBench(m, clock, spec)
		}
		cfgs = []hv.Config{{Name: "bench", CPU: 0, RAM: ram0, TimeExits: true, Clock: clock, Guest: spec}}
	default:
		fmt.Printf("hv: unknown vmtest=%s (replay, replaybench, hostexit, nmi, bringup, triplefault, halt, badguest, policy, exitbench)\n", opts["vmtest"])
		return 1
	}
	var vms []*hv.VM
	for _, c := range cfgs {
		vm, err := m.NewVM(c)
		if err != nil {
			printErr(err)
			return 1
		}
		vms = append(vms, vm)
	}
	if opts["vmtest"] == "hostexit" {
		go exitWhileSpinning(vms[1])
	}
	fmt.Printf("hv: running the test guest on CPU0 (RAM at %#x) and CPU1 (RAM at %#x)\n", ram0.Base, ram1.Base)
	t0, t1 := boot.Ticks(0), boot.Ticks(1)
	runVMs(vms...)
	fmt.Printf("hv: host scheduler ticks during the run: CPU0 %d, CPU1 %d\n", boot.Ticks(0)-t0, boot.Ticks(1)-t1)
	for _, vm := range vms {
		s := vm.Stats()
		fmt.Printf("hv: %s: %s after %d VM exits (CPUID %d, I/O %d, HLT %d, RDTSC %d, external interrupts %d, preemption timer %d, NMI %d)\n",
			vm.Name(), vm.End().Reason, s.Exits, s.ExitsBy[vmx.ReasonCPUID], s.ExitsBy[vmx.ReasonIOInstruction],
			s.ExitsBy[vmx.ReasonHLT], s.ExitsBy[vmx.ReasonRDTSC], s.ExitsBy[vmx.ReasonExternalInterrupt],
			s.ExitsBy[vmx.ReasonPreemptionTimer], s.ExitsBy[vmx.ReasonExceptionOrNMI])
	}
	if opts["vmtest"] == "exitbench" {
		printExitCost(vms[0], cfgs[0].Clock)
	}
	fmt.Println("hv: all VMs ended")
	return 0
}

// printExitCost prints what the exit benchmark measured on vm.
func printExitCost(vm *hv.VM, clock hv.ClockKind) {
	c := vm.ExitCost()
	fmt.Printf("hv: exit cost (%s, %s clock): %d hypervisor instructions per CPUID round trip, %d per OUT to port 0x80, %d per RDTSC "+
		"(TSC ticks less the guest loop; in Bochs one tick is one instruction; goal <= 400)\n", vm.Name(), clock, c.CPUID, c.OUT, c.RDTSC)
}

// runRecordedExitBench runs the exit benchmark as a primary and its
// backup (vmtest=exitbench record): the cost of an exit recorded and
// replayed, against the same exits of a VM alone. A CPUID or an OUT to
// port 0x80 logs nothing, an RDTSC one record. The backup takes no
// snapshots here (each would add its copy to the exits around it).
func runRecordedExitBench(m *hv.Machine, clock hv.ClockKind, spec image.Spec) int {
	pair, err := m.NewPair(hv.PairConfig{Memory: boot.GuestMemory(), PrimaryCPU: 0, BackupCPU: 1, Guest: spec,
		Clock: clock, TimeExits: true, MutePrimary: true, Snapshots: hv.SnapConfig{Off: true}})
	if err != nil {
		printErr(err)
		return 1
	}
	verdict := pair.Run()
	for _, vm := range []*hv.VM{pair.Primary, pair.Backup} {
		printExitCost(vm, clock)
	}
	fmt.Printf("hv: verdict: %v: %s\n", verdict.Kind, verdict.Reason)
	return int(verdict.Kind)
}

// exitWhileSpinning ends the host from CPU0 once vm's guest spins (it
// made its last synchronous exit, the line saying so, and has made none
// for a while): unlike a panic, no signal pulls the other CPU out of its
// guest first.
func exitWhileSpinning(vm *hv.VM) {
	boot.Pin(0)
	var last uint64
	for still := 0; still < 5; {
		time.Sleep(50 * time.Millisecond)
		p := vm.Progress()
		if p.State == hv.Running && p.Seq != 0 && p.Seq == last {
			still++
		} else {
			still, last = 0, p.Seq
		}
	}
	fmt.Println("hv: vmtest: the host exits on CPU0 while CPU1 runs a guest")
	os.Exit(3)
}

// runVMs runs each VM's vCPU loop in its own goroutine (each pins itself to
// its CPU) and returns when all have ended.
func runVMs(vms ...*hv.VM) {
	var wg sync.WaitGroup
	for _, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm.Run()
		}()
	}
	wg.Wait()
}

// printErr puts an error on the console as a line from the hypervisor
// ("hv: ..."), without doubling the prefix errors of package hv carry.
func printErr(err error) {
	fmt.Println("hv:", strings.TrimPrefix(err.Error(), "hv: "))
}
