// Command hindsight is the hypervisor image: a Go program that boots on bare
// metal through package boot and, for now, reports the machine it found.
// With "selftest" on the command line it runs the ring-0 layer's self-test.
package main

import (
	"fmt"
	"os"
	"strings"

	"hindsight/boot"
	"hindsight/boot/selftest"
)

func main() {
	mainTSC := boot.TSC()
	args := strings.Fields(boot.CmdLine())
	for _, a := range args {
		switch {
		case a == "selftest":
			os.Exit(selftest.Run(os.Stdout))
		case strings.HasPrefix(a, "bench="):
			selftest.Bench(os.Stdout, mainTSC, strings.TrimPrefix(a, "bench="))
			return
		case strings.HasPrefix(a, "selftest="):
			selftest.Fail(strings.TrimPrefix(a, "selftest="))
		}
	}
	fmt.Printf("hv: hindsight: %d CPU(s) online (%s)\n", boot.NumCPU(), boot.CPUSource())
	fmt.Printf("hv: VT-x: %v\n", boot.HasVMX())
	fmt.Println("hv: nothing else to do yet; stopping")
}
