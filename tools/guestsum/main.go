// Command guestsum prints the checksum the test guest's mode 0 must print
// (testguest.Checksum0) for the emulator tests: over the default iterations,
// or over the count given as its argument.
package main

import (
	"fmt"
	"os"
	"strconv"

	"hindsight/guest/testguest"
)

func main() {
	n := uint64(testguest.Mode0DefaultIterations)
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.ParseUint(os.Args[1], 0, 64); err != nil {
			fmt.Fprintf(os.Stderr, "guestsum: iterations %q: %v\n", os.Args[1], err)
			os.Exit(2)
		}
	}
	fmt.Printf("0x%016x\n", testguest.Checksum0(n))
}
